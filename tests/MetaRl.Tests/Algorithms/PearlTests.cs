using MetaRl.Algorithms;
using MetaRl.Algorithms.Pearl;
using MetaRl.Configuration;
using MetaRl.Envs;
using MetaRl.Envs.Navigation;
using MetaRl.Experiments;
using MetaRl.Policies;
using MetaRl.Sampling;
using MetaRl.Torch;
using static TorchSharp.torch;

namespace MetaRl.Tests.Algorithms;

public class PearlTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("metarl-pearl-").FullName;

    public PearlTests() => TorchNative.EnsureLoaded();

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void ThePosteriorIsTheProductOfEachTransitionsGaussianFactor()
    {
        using var scope = NewDisposeScope();
        var encoder = new ContextEncoder(3, 2, [4], informationBottleneck: true, new Rng(5));
        var context = randn(1, 6, 3, generator: new Generator(1));
        var (mean, variance) = encoder.Posterior(context);

        // Each transition's factor through a plain MLP, then the product of Gaussians in double precision.
        var p = encoder.Parameters;
        var h = nn.functional.linear(nn.functional.linear(context[0], p["encoder.0.weight"], p["encoder.0.bias"]).relu(), p["encoder.1.weight"], p["encoder.1.bias"]);
        var mu = h.narrow(1, 0, 2).to(float64).data<double>().ToArray();
        var sigma2 = nn.functional.softplus(h.narrow(1, 2, 2)).to(float64).data<double>().ToArray();
        for (int d = 0; d < 2; d++)
        {
            double precision = 0, weighted = 0;
            for (int n = 0; n < 6; n++) { precision += 1 / sigma2[n * 2 + d]; weighted += mu[n * 2 + d] / sigma2[n * 2 + d]; }
            Assert.Equal(1 / precision, variance[0, d].item<float>(), 5);
            Assert.Equal(weighted / precision, mean[0, d].item<float>(), 4);
        }

        // The order of the context does not matter; every transition sharpens the posterior; no context is the prior.
        var shuffled = context.index_select(1, tensor(new long[] { 3, 0, 5, 1, 4, 2 }));
        Assert.True(allclose(encoder.Posterior(shuffled).Mean, mean, rtol: 1e-5, atol: 1e-6));
        var fewer = encoder.Posterior(context.narrow(1, 0, 3)).Variance;
        Assert.True((fewer > variance).all().item<bool>());
        var (priorMean, priorVariance) = encoder.Posterior(zeros(2, 0, 3));
        Assert.True(allclose(priorMean, zeros(2, 2)) && allclose(priorVariance, ones(2, 2)));

        // KL(N(1, 0.5) || N(0, 1)) = 0.5 (0.5 + 1 - 1 - ln 0.5) per dimension.
        var kl = ContextEncoder.KlFromPrior(ones(1, 2), full(1, 2, 0.5));
        Assert.Equal(2 * 0.5 * (0.5 - Math.Log(0.5)), kl.item<float>(), 5);
    }

    [Fact]
    public void TheSparsePointRobotsBatchesCarryTheDenseRewardBesideTheSparseOne()
    {
        var dist = new SparsePointRobotDistribution();
        var policy = new TanhGaussianPolicy(2, (Box)dist.ActionSpace, [8], new Rng(1));
        using var sampler = new Sampler(dist);
        var batch = sampler.Sample(policy, [new GoalTask(0.1f, 0.1f)], 2, new Rng(2));
        Assert.NotNull(batch.DenseRewards);
        for (int t = 0; t < batch.Horizon; t++)
            for (int e = 0; e < 2; e++)
            {
                // The observation after step t is the next row's (or the final one).
                float x = t + 1 < batch.Horizon ? batch.Observations[((t + 1) * 2 + e) * 2] : float.NaN;
                float y = t + 1 < batch.Horizon ? batch.Observations[((t + 1) * 2 + e) * 2 + 1] : float.NaN;
                float dense = batch.DenseRewards![t * 2 + e];
                if (t + 1 < batch.Horizon) Assert.Equal(-MathF.Sqrt((x - 0.1f) * (x - 0.1f) + (y - 0.1f) * (y - 0.1f)), dense, 5);
                float sparse = batch.Rewards[t * 2 + e];
                Assert.Equal(dense >= -0.2f ? 1 + dense : 0, sparse, 5);
            }
        // A family without a dense reward records none.
        var nav = new Navigation2DDistribution();
        using var navSampler = new Sampler(nav);
        Assert.Null(navSampler.Sample(new TanhGaussianPolicy(2, (Box)nav.ActionSpace, [8], new Rng(1)), [new GoalTask(0.1f, 0.1f)], 1, new Rng(2)).DenseRewards);
    }

    static Dictionary<string, string> Tiny(int iterations) => new()
    {
        ["num-batches"] = $"{iterations}", ["checkpoint-every"] = "2", ["hidden-sizes"] = "16", ["encoder-hidden-sizes"] = "16", ["num-train-tasks"] = "6",
        ["num-initial-steps"] = "40", ["num-tasks-sample"] = "2", ["num-steps-prior"] = "20", ["num-steps-posterior"] = "40", ["num-extra-rl-steps-posterior"] = "20",
        ["num-train-steps-per-itr"] = "5", ["meta-batch"] = "3", ["batch-size"] = "16", ["embedding-batch-size"] = "16",
    };

    [Fact]
    public void AnInterruptedPearlRunResumesExactly()
    {
        ResumeCheck.ResumesExactly("pearl", "sparse-point-robot", Tiny(4), _root);
    }

    [Fact]
    public void AdaptingRunsPriorEpisodesThenPosteriorOnesAndASeedFixesThem()
    {
        var values = Tiny(1);
        values["num-exp-traj-eval"] = "2";
        var run = new TrainingRun("pearl", "sparse-point-robot", values, 1);
        run.RunIteration();
        var pearl = (Pearl)run.Learner;
        var tasks = run.Distribution.Splits().Test.Take(3).ToList();
        var a = pearl.AdaptTo(tasks, 4, new Rng(7));
        var b = pearl.AdaptTo(tasks, 4, new Rng(7));
        Assert.Equal(5, a.Returns.Length);
        Assert.All(a.Returns, row => Assert.Equal(3, row.Length));
        Assert.Equal(1, a.EpisodesPerStep);
        Assert.Equal(a.Returns.SelectMany(r => r), b.Returns.SelectMany(r => r));
        Assert.Equal(a.SuccessRates.SelectMany(r => r), b.SuccessRates.SelectMany(r => r));
    }

    [Fact]
    public void PosteriorSamplesAreDrawnAfterEachAmountOfContextAndPictured()
    {
        var run = new TrainingRun("pearl", "sparse-point-robot", new Dictionary<string, string>(Tiny(1)) { ["keep-checkpoint-every"] = "1" }, 1);
        var pearl = (Pearl)run.Learner;
        var goal = new GoalTask(0.6f, 0.8f);
        var rollouts = pearl.SamplePosterior(goal, 2, 4, new Rng(5));
        Assert.Equal([0, 1, 2], rollouts.Select(r => r.ContextEpisodes));
        foreach (var r in rollouts)
        {
            Assert.Equal(4, r.Samples.Count);
            // Each path: the start, then one point per step (20 steps), every step at most 0.1 per axis.
            Assert.All(r.Samples.Append(r.ContextEpisode), path =>
            {
                Assert.Equal(21, path.Length);
                Assert.Equal(new float[] { 0, 0 }, path[0]);
                for (int t = 1; t < path.Length; t++) Assert.True(MathF.Abs(path[t][0] - path[t - 1][0]) <= 0.1f + 1e-6f && MathF.Abs(path[t][1] - path[t - 1][1]) <= 0.1f + 1e-6f);
            });
        }
        var again = pearl.SamplePosterior(goal, 2, 4, new Rng(5));
        Assert.Equal(rollouts.SelectMany(r => r.Samples).SelectMany(p => p).SelectMany(x => x), again.SelectMany(r => r.Samples).SelectMany(p => p).SelectMany(x => x));

        var dir = Trainer.Start(run, Path.Combine(_root, "run"));
        var o = new StringWriter(); var e = new StringWriter();
        Assert.True(MetaRl.Cli.Cli.Run(["belief", dir.Path, "--goal", "0.6,0.8", "--samples", "3", "--out", Path.Combine(_root, "posterior")], o, e) == 0, e.ToString());
        Assert.True(new FileInfo(Path.Combine(_root, "posterior.png")).Length > 1000);
        Assert.Contains("<svg", File.ReadAllText(Path.Combine(_root, "posterior.svg")));
        // the agent as it was at a kept checkpoint, drawn beside the run's own files under a name that says so
        Assert.True(MetaRl.Cli.Cli.Run(["belief", dir.Path, "--iteration", "1", "--samples", "3"], o, e) == 0, e.ToString());
        Assert.True(new FileInfo(Path.Combine(dir.Path, "posterior-iteration-1.png")).Length > 1000);
    }

    [Fact]
    public void AReproductionNamesTheSettingsARunChangedFromTheReferences()
    {
        var reference = ReferenceSettings.For("pearl", "sparse-point-robot")!.Values;
        Assert.Empty(Reproduction.DifferencesFromReference("pearl", "sparse-point-robot", new Dictionary<string, string>(reference) { ["num-batches"] = "100" }));
        var reduced = new Dictionary<string, string>(reference) { ["hidden-sizes"] = "128,128,128", ["embedding-batch-size"] = "256", ["kl-lambda"] = "1" };
        var changed = Reproduction.DifferencesFromReference("pearl", "sparse-point-robot", reduced);
        Assert.Equal(["embedding-batch-size", "hidden-sizes"], changed.Select(d => d.Key)); // kl-lambda 1 is oyster's 1.0
        Assert.Equal(("256", "1024"), (changed[0].Run, changed[0].Reference));
        Assert.Contains("300", changed[1].Reference);
    }

    [Fact]
    public void PearlRefusesDiscreteActionsAndBadKeysAndStopsOnANonFiniteEncoder()
    {
        var e = Assert.Throws<UsageException>(() => new TrainingRun("pearl", "gridworld", new Dictionary<string, string>(), 1));
        Assert.Contains("continuous", e.Message);
        var c = Assert.Throws<ConfigException>(() => new TrainingRun("pearl", "sparse-point-robot", new Dictionary<string, string> { ["kl-lambda"] = "-1" }, 1));
        Assert.Equal("kl-lambda", c.Key);

        var run = new TrainingRun("pearl", "sparse-point-robot", Tiny(1), 1);
        using (no_grad()) ((Pearl)run.Learner).Encoder.Parameters.Values[0].fill_(float.NaN);
        var nan = Assert.Throws<NonFiniteException>(() => run.RunIteration());
        Assert.Contains("PEARL", nan.Message);
    }
}
