using MetaRl.Algorithms;
using MetaRl.Algorithms.SingleTask;
using MetaRl.Baselines;
using MetaRl.Configuration;
using MetaRl.Envs;
using MetaRl.Envs.Navigation;
using MetaRl.Experiments;
using MetaRl.Policies;
using MetaRl.Sampling;
using MetaRl.Torch;
using static TorchSharp.torch;

namespace MetaRl.Tests.Algorithms;

public class SacTests : IDisposable
{
    readonly Xunit.Abstractions.ITestOutputHelper _out;
    readonly string _root = Directory.CreateTempSubdirectory("metarl-sac-").FullName;

    public SacTests(Xunit.Abstractions.ITestOutputHelper output)
    {
        _out = output;
        TorchNative.EnsureLoaded();
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void TheSquashedGaussianIsADensityOverTheBoxAndItsSamplesAgreeWithIt()
    {
        using var scope = NewDisposeScope();
        var policy = new TanhGaussianPolicy(3, Box.Uniform(1, -0.1f, 0.1f), [8], new Rng(1));
        var s = tensor(new float[] { 0.3f, -1.2f, 0.7f }, [1, 3]);

        // The log-density is of the normalised action y = a / 0.1 in [-1, 1]: it integrates to 1 over y.
        const int n = 200_000;
        var y = linspace(-1 + 1.0 / n, 1 - 1.0 / n, n, dtype: float64);
        var logp = policy.Distribution(s.expand(n, 3)).LogProb((0.1 * y).to(float32).unsqueeze(1)).to(float64);
        double integral = (logp.exp().sum() * (2.0 / n)).item<double>();
        Assert.InRange(integral, 0.995, 1.005);

        // A sample's log-density (computed through u) equals the density of its action (computed back through atanh),
        // and the hand-computed change of variables: log N(u; mu, sigma) - log(1 - tanh(u)^2).
        var (mean, logStd) = policy.Gaussian(s);
        var noise = tensor(new float[] { 0.8f }, [1, 1]);
        var (action, sampleLogp) = policy.Sample(s, noise);
        double mu = mean.item<float>(), sigma = Math.Exp(logStd.item<float>()), u = mu + sigma * 0.8;
        double expected = -0.5 * 0.8 * 0.8 - Math.Log(sigma) - 0.5 * Math.Log(2 * Math.PI) - Math.Log(1 - Math.Tanh(u) * Math.Tanh(u));
        Assert.Equal(0.1 * Math.Tanh(u), action.item<float>(), 6);
        Assert.Equal(Math.Tanh(u), policy.Normalise(action).item<float>(), 5); // what the critics read
        Assert.Equal(expected, sampleLogp.item<float>(), 4);
        Assert.Equal(expected, policy.Distribution(s).LogProb(action).item<float>(), 3);

        // Act draws from the same distribution, inside the box; deterministic is the squashed mean.
        var actions = new float[1000];
        policy.Act(Enumerable.Repeat(new[] { 0.3f, -1.2f, 0.7f }, 1000).SelectMany(x => x).ToArray(), 1000, actions, new Rng(2));
        Assert.All(actions, a => Assert.InRange(a, -0.1f, 0.1f));
        var det = new float[1];
        policy.Act([0.3f, -1.2f, 0.7f], 1, det, new Rng(3), deterministic: true);
        Assert.Equal(0.1 * Math.Tanh(mu), det[0], 6);
    }

    [Fact]
    public void CriticsOfTheEnsembleAreIndependentNetworksAndTargetsFollowByPolyakAveraging()
    {
        using var scope = NewDisposeScope();
        var critics = new CriticEnsemble(2, 4, [5, 3], new Rng(7));
        var x = randn(6, 4);
        var q = critics.Forward(x);
        Assert.Equal(new long[] { 2, 6 }, q.shape);
        for (int k = 0; k < 2; k++)
        {
            // Member k as a plain MLP: relu(W0 x + b0) -> relu(W1 h + b1) -> W2 h + b2.
            var p = critics.Parameters.ForTask(k);
            var h = nn.functional.linear(x, p["q.0.weight"], p["q.0.bias"]).relu();
            h = nn.functional.linear(h, p["q.1.weight"], p["q.1.bias"]).relu();
            var expected = nn.functional.linear(h, p["q.2.weight"], p["q.2.bias"]).squeeze(-1);
            Assert.True(allclose(q[k], expected, rtol: 1e-5, atol: 1e-6));
        }
        Assert.False(allclose(q[0], q[1])); // two initialisations, not one shared

        var target = critics.Parameters.DetachedClone();
        var before = target.Flatten().clone();
        using (no_grad()) foreach (var v in critics.Parameters.Values) v.add_(1.0);
        target.SoftUpdateFrom(critics.Parameters, 0.25);
        Assert.True(allclose(target.Flatten(), 0.75 * before + 0.25 * critics.Parameters.Flatten(), rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void TheReplayBufferKeepsEpisodesTransitionsAsTheyHappenedAndRoundTripsThroughACheckpoint()
    {
        // Two one-dimensional episodes of lengths 3 (terminated) and 2 (truncated by the time limit).
        var batch = new EpisodeBatch(3, 2, 1, 1, [0, 0]);
        for (int t = 0; t < 3; t++)
            for (int e = 0; e < 2; e++)
            {
                if (t >= 3 - e) continue;
                batch.Observations[t * 2 + e] = 10 * e + t; batch.Actions[t * 2 + e] = -t; batch.Rewards[t * 2 + e] = 100 + t; batch.Mask[t * 2 + e] = 1;
            }
        batch.Lengths[0] = 3; batch.Lengths[1] = 2; batch.Truncated[1] = true; batch.FinalObservations[1] = 99;
        var buffer = new ReplayBuffer(4, 1, 1);
        buffer.AddEpisode(batch, 0);
        buffer.AddEpisode(batch, 1);
        Assert.Equal(4, buffer.Count); // 5 transitions in a ring of 4: the first is overwritten

        var rows = new HashSet<(float, float, float, float, float)>();
        var (o, a, r, o2, d) = (new float[64], new float[64], new float[64], new float[64], new float[64]);
        buffer.SampleInto(64, new Rng(1), 0, o, a, r, o2, d);
        for (int i = 0; i < 64; i++) rows.Add((o[i], a[i], r[i], o2[i], d[i]));
        // (s, a, r, s', terminated): the terminated episode's last step ends it; the truncated one bootstraps from s_T.
        Assert.Equal(new HashSet<(float, float, float, float, float)> { (1, -1, 101, 2, 0), (2, -2, 102, 0, 1), (10, 0, 100, 11, 0), (11, -1, 101, 99, 0) }, rows);

        using var stream = new MemoryStream();
        buffer.Save(new BinaryWriter(stream));
        var copy = new ReplayBuffer(4, 1, 1);
        stream.Position = 0;
        copy.Load(new BinaryReader(stream));
        var (x, y) = (new float[32], new float[32]);
        buffer.SampleInto(32, new Rng(5), 0, x, new float[32], new float[32], new float[32], new float[32]);
        copy.SampleInto(32, new Rng(5), 0, y, new float[32], new float[32], new float[32], new float[32]);
        Assert.Equal(x, y);
        stream.Position = 0;
        Assert.Throws<InvalidDataException>(() => new ReplayBuffer(8, 1, 1).Load(new BinaryReader(stream)));
    }

    static Dictionary<string, string> Small(int iterations) => new()
    {
        ["num-batches"] = $"{iterations}", ["hidden-sizes"] = "64,64", ["learning-starts"] = "500",
    };

    [Fact]
    [Trait(Category.Name, Category.Slow)]
    public void SacLearnsAFixedGoalNavigationTask()
    {
        // 2D navigation, one goal, 100-step episodes, reward -distance: the initial policy wanders (-40 to -130 per episode).
        var run = new TrainingRun("sac", "2d-navigation", Small(30), seed: 3);
        var returns = Enumerable.Range(0, 30).Select(_ => run.RunIteration().MeanReturn).ToList();
        double first = returns.Take(3).Average(), last = returns.TakeLast(5).Average();
        // The learned mean action goes to the goal and stops there.
        using var sampler = new Sampler(run.Distribution);
        double greedy = sampler.Sample(run.Policy!, [run.Task!], 5, new Rng(9), deterministic: true).MeanReturn;
        _out.WriteLine($"{string.Join(" ", returns.Select(r => r.ToString("0.0")))}; deterministic {greedy:0.0}");
        Assert.True(last > first + 30, $"SAC's mean return went from {first:0.0} to {last:0.0}");
        Assert.True(greedy > -5, $"the deterministic policy returns {greedy:0.0} (going straight to the goal: about -2)");
    }

    [Fact]
    public void AnInterruptedSacRunResumesExactly()
    {
        var values = new Dictionary<string, string>
        {
            ["num-batches"] = "4", ["checkpoint-every"] = "2", ["hidden-sizes"] = "16", ["learning-starts"] = "150", ["batch-size"] = "32", ["updates-per-step"] = "0.2",
        };
        ResumeCheck.ResumesExactly("sac", "2d-navigation", values, _root);
    }

    [Fact]
    public void SacRefusesDiscreteActionsAndBadKeysAndStopsOnANonFiniteCritic()
    {
        var e = Assert.Throws<UsageException>(() => new TrainingRun("sac", "bandit-k5", new Dictionary<string, string>(), 1));
        Assert.Contains("continuous", e.Message);
        var c = Assert.Throws<ConfigException>(() => new TrainingRun("sac", "2d-navigation", new Dictionary<string, string> { ["tau"] = "2" }, 1));
        Assert.Equal("tau", c.Key);

        var run = new TrainingRun("sac", "2d-navigation", new Dictionary<string, string> { ["hidden-sizes"] = "8", ["learning-starts"] = "0" }, 1);
        var sac = (Sac)run.Learner;
        using (no_grad()) sac.Critics.Parameters.Values[0].fill_(float.NaN);
        var nan = Assert.Throws<NonFiniteException>(() => run.RunIteration());
        Assert.Contains("critic", nan.Message);
    }
}
