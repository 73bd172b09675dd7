using MetaRl.Algorithms.VariBad;
using MetaRl.Configuration;
using MetaRl.Envs.GridWorld;
using MetaRl.Experiments;
using MetaRl.Torch;
using static TorchSharp.torch;

namespace MetaRl.Tests.Algorithms;

public class VariBadTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("metarl-varibad-").FullName;

    public VariBadTests() => TorchNative.EnsureLoaded();

    public void Dispose() => Directory.Delete(_root, recursive: true);

    static double GaussianKl(double mu1, double var1, double mu0, double var0) =>
        0.5 * Math.Log(var0 / var1) + (var1 + (mu1 - mu0) * (mu1 - mu0)) / (2 * var0) - 0.5;

    [Fact]
    public void EachBeliefsKlIsToTheBeliefBeforeItAndTheFirstToThePrior()
    {
        using var scope = NewDisposeScope();
        // Two steps of a one-trajectory, two-dimensional belief.
        var mean = tensor(new float[] { 0.5f, -1, 1.5f, 0 }, [2, 1, 2]);
        var logVar = tensor(new float[] { -1, 0.5f, -2, 0 }, [2, 1, 2]);
        var kl = VariBad.BeliefKl(mean, logVar, toGaussPrior: false);
        double first = GaussianKl(0.5, Math.Exp(-1), 0, 1) + GaussianKl(-1, Math.Exp(0.5), 0, 1);
        double second = GaussianKl(1.5, Math.Exp(-2), 0.5, Math.Exp(-1)) + GaussianKl(0, 1, -1, Math.Exp(0.5));
        Assert.Equal(first, kl[0, 0].item<float>(), 4);
        Assert.Equal(second, kl[1, 0].item<float>(), 4);
        var toPrior = VariBad.BeliefKl(mean, logVar, toGaussPrior: true);
        Assert.Equal(GaussianKl(1.5, Math.Exp(-2), 0, 1) + GaussianKl(0, 1, 0, 1), toPrior[1, 0].item<float>(), 4);
    }

    static Dictionary<string, string> Small(int iterations) => new()
    {
        ["num-batches"] = $"{iterations}", ["checkpoint-every"] = "2", ["num-processes"] = "4", ["precollect-len"] = "240", ["vae-batch-num-trajs"] = "4",
    };

    [Fact]
    public void TheBeliefThePolicyActedOnIsTheOneTheVaeComputesFromTheSameTrial()
    {
        var run = new TrainingRun("varibad", "gridworld", Small(2), 1);
        run.RunIteration(); // some training, so the encoder is not at its initial weights
        var varibad = (VariBad)run.Learner;
        var trials = varibad.Collect(run.Distribution.SampleTasks(3, new Rng(4)), new Rng(5), deterministic: false, toBuffer: false);
        var b = trials.Batch;
        using var scope = NewDisposeScope();
        // The transitions (a, s' with its done flag, r) of the trials, [T, B, ...], run through the encoder from the prior.
        var actions = b.ActionsTensor();
        var states = tensor(trials.NextStates, [b.Length, b.Trials, 3]);
        var rewards = tensor(b.Rewards, [b.Length, b.Trials]);
        var (mean, logVar) = varibad.Encoder.Belief(varibad.Encoder.Hiddens(actions, states, rewards));
        // The policy's recorded inputs at step t hold the belief after t transitions (across the trial's episodes).
        var inputs = b.InputsTensor();
        Assert.True(allclose(inputs.narrow(2, 2, 5), mean.narrow(0, 0, b.Length), rtol: 1e-4, atol: 1e-5));
        Assert.True(allclose(inputs.narrow(2, 7, 5), logVar.narrow(0, 0, b.Length), rtol: 1e-4, atol: 1e-5));
        // The done flag marks the last step of each of the 4 episodes.
        for (int t = 0; t < b.Length; t++) Assert.Equal((t + 1) % 15 == 0 ? 1f : 0f, trials.NextStates[(t * b.Trials) * 3 + 2]);
    }

    [Fact]
    public void AnInterruptedVariBadRunResumesExactly()
    {
        ResumeCheck.ResumesExactly("varibad", "gridworld", Small(4), _root);
    }

    /// <summary>
    /// The official MuJoCo configs subsample the ELBO (E prefixes, D decoded steps each, with replacement). Averaged terms:
    /// the subsampled loss is an unbiased estimate of the full one; summed terms: of E / (T + 1) times the full KL and
    /// E D / ((T + 1) T) times the full reconstruction. Checked over many draws on one fixed batch of trials (the
    /// regression decoder of a continuous family, and the grid world's multi-head one), and a run with both resumes exactly.
    /// </summary>
    [Theory]
    [InlineData("2d-navigation")]
    [InlineData("gridworld")]
    public void ASubsampledElboEstimatesTheFullOneAndResumesExactly(string env)
    {
        const int draws = 200, elbos = 6, decodes = 5;
        // No VAE update in the iteration that fills the buffer: every configuration below scores the same weights.
        var common = new Dictionary<string, string>(Small(1)) { ["max-rollouts-per-task"] = "2", ["num-vae-updates"] = "0" };
        (double Reward, double Kl) Mean(Dictionary<string, string> values, out double rewardSe)
        {
            using var run = new TrainingRun("varibad", env, values, 1);
            run.RunIteration(); // fills the VAE buffer with trials of the family (valid cells on the grid)
            var varibad = (VariBad)run.Learner;
            var data = varibad.VaeBufferSample(3, new Rng(5));
            var rewards = new List<double>();
            double kl = 0;
            for (int i = 0; i < draws; i++)
            {
                using var scope = NewDisposeScope();
                var (r, k) = varibad.VaeLoss(data, 3);
                rewards.Add(r.item<float>());
                kl += k.item<float>() / draws;
            }
            var (mean, ci) = MetaRl.Evaluation.Statistics.MeanAndCi95(rewards);
            rewardSe = ci / 1.96;
            return (mean, kl);
        }
        var full = Mean(new(common) { ["vae-avg-elbo-terms"] = "true", ["vae-avg-reconstruction-terms"] = "true" }, out var fullSe);
        var sub = Mean(new(common) { ["vae-avg-elbo-terms"] = "true", ["vae-avg-reconstruction-terms"] = "true",
            ["vae-subsample-elbos"] = $"{elbos}", ["vae-subsample-decodes"] = $"{decodes}" }, out var subSe);
        Assert.True(Math.Abs(full.Reward - sub.Reward) < 4 * Math.Sqrt(fullSe * fullSe + subSe * subSe) + 1e-6, $"reward {full.Reward} against {sub.Reward} (se {fullSe}, {subSe})");
        Assert.True(subSe > 2 * fullSe, "the subsampled loss varies with the draw of its terms");
        Assert.Equal(full.Kl, sub.Kl, 0.15 * Math.Abs(full.Kl) + 1e-6);

        var summed = Mean(common, out var summedSe);
        var summedSub = Mean(new(common) { ["vae-subsample-elbos"] = $"{elbos}", ["vae-subsample-decodes"] = $"{decodes}" }, out var summedSubSe);
        int T = 2 * MetaRl.Envs.EnvRegistry.Create(env).MaxEpisodeSteps;
        double scale = elbos * decodes / ((T + 1.0) * T);
        Assert.True(Math.Abs(summed.Reward * scale - summedSub.Reward) < 4 * Math.Sqrt(summedSe * summedSe * scale * scale + summedSubSe * summedSubSe) + 1e-6,
            $"summed reward {summed.Reward} x {scale} against {summedSub.Reward}");
        Assert.Equal(summed.Kl * elbos / (T + 1.0), summedSub.Kl, 0.15 * Math.Abs(summed.Kl * elbos / (T + 1.0)) + 1e-6);

        ResumeCheck.ResumesExactly("varibad", env, new Dictionary<string, string>(Small(4)) { ["vae-subsample-elbos"] = "4", ["vae-subsample-decodes"] = "3" }, _root);
    }

    [Fact]
    public void TheGaussianPolicyStartsAtInitStd()
    {
        // init-std was listed in variBAD's config but not read (the policy always started at 1).
        foreach (var (std, values) in new[] { (1.0, Small(1)), (0.25, new Dictionary<string, string>(Small(1)) { ["init-std"] = "0.25" }) })
        {
            using var run = new TrainingRun("varibad", "2d-navigation", values, 1);
            var logStd = ((VariBad)run.Learner).Policy.Parameters["log_std"].data<float>().ToArray();
            Assert.Equal(2, logStd.Length);
            Assert.All(logStd, v => Assert.Equal(Math.Log(std), v, 5));
        }
    }

    [Fact]
    public void AdaptingRunsOneTrialOfTheBudgetsEpisodesAndASeedFixesIt()
    {
        var run = new TrainingRun("varibad", "gridworld", Small(1), 1);
        var varibad = (VariBad)run.Learner;
        var tasks = run.Distribution.Splits().Test.Take(5).ToList();
        var a = varibad.AdaptTo(tasks, 3, new Rng(7));
        var b = varibad.AdaptTo(tasks, 3, new Rng(7));
        Assert.Equal(4, a.Returns.Length);
        Assert.All(a.Returns, row => Assert.Equal(5, row.Length));
        Assert.Equal(a.Returns.SelectMany(r => r), b.Returns.SelectMany(r => r));
        // Every episode's return is that of 15 grid steps: between all -0.1 and all +1.
        Assert.All(a.Returns.SelectMany(r => r), r => Assert.InRange(r, -1.5 - 1e-6, 15 + 1e-6));
    }

    [Fact]
    public void ATracedTrialShowsTheBeliefAtEveryStepAndPlotsIt()
    {
        var run = new TrainingRun("varibad", "gridworld", Small(1), 1);
        var varibad = (VariBad)run.Learner;
        var trace = varibad.TraceBelief(new GridTask(3, 2), 2, new Rng(3));
        Assert.Equal(2 * 16, trace.Count); // the start and 15 steps per episode
        Assert.All(trace.Where(s => s.Step == 0), s => Assert.Equal(new float[] { 0, 0 }, s.Observation));
        Assert.All(trace, s => Assert.Equal(49, s.CellProbabilities.Length));
        Assert.All(trace.SelectMany(s => s.CellProbabilities), p => Assert.InRange(p, 0, 1));
        Assert.All(trace.Where(s => s.Step > 0), s => Assert.True(s.Reward is 1 or -0.1f));
        // Deterministic actions: a seed gives the same trial.
        var again = varibad.TraceBelief(new GridTask(3, 2), 2, new Rng(3));
        Assert.Equal(trace.SelectMany(s => s.CellProbabilities), again.SelectMany(s => s.CellProbabilities));

        string dir = Path.Combine(_root, "run");
        var runDir = Trainer.Start(run, dir);
        var o = new StringWriter(); var e = new StringWriter();
        int code = MetaRl.Cli.Cli.Run(["belief", runDir.Path, "--goal", "3,2", "--out", Path.Combine(_root, "belief")], o, e);
        Assert.True(code == 0, e.ToString());
        Assert.True(new FileInfo(Path.Combine(_root, "belief.png")).Length > 1000);
        Assert.Contains("<svg", File.ReadAllText(Path.Combine(_root, "belief.svg")));
        Assert.NotEqual(0, MetaRl.Cli.Cli.Run(["belief", runDir.Path, "--goal", "7,1"], o, e));
        Assert.Contains("--goal", e.ToString());
    }

    [Fact]
    public void OnMujocoFamiliesVariBadTakesTheOfficialMujocoConfigsNotTheGridWorlds()
    {
        // The grid world's defaults on an ant trial (4 x 200 steps) decode every reward from every prefix of 25 trials:
        // its first iteration passed 11 GB. The official ant-goal config: 2 episodes a trial, 10 trials a VAE update, the
        // whole ELBO (its own choice), 5 VAE updates, a 10-dimensional latent, clip 0.05, gamma 0.97.
        using var goal = new TrainingRun("varibad", "ant-goal", new Dictionary<string, string>(), seed: 1);
        var c = goal.Get<VariBadConfig>();
        Assert.Equal((2, 10, 0, 0, 5, 10, 0.05, false), (c.MaxRolloutsPerTask, c.VaeBatchNumTrajs, c.VaeSubsampleElbos, c.VaeSubsampleDecodes, c.NumVaeUpdates, c.LatentDim, c.PpoClipParam, c.NormLatentForPolicy));
        Assert.Equal(0.97, goal.Common.Gamma);
        using (var given = new TrainingRun("varibad", "ant-goal", new Dictionary<string, string> { ["latent-dim"] = "3" }, 1))
            Assert.Equal(3, given.Get<VariBadConfig>().LatentDim); // the values given win

        // Half-cheetah velocity: `--preset mujoco` is its official config, so the two differ only in the run's length.
        static string[] Lines(TrainingRun run) => run.ConfigYaml().ReplaceLineEndings("\n").Split('\n').Where(l => !l.StartsWith("num-batches:", StringComparison.Ordinal)).ToArray();
        using var vel = new TrainingRun("varibad", "halfcheetah-vel", new Dictionary<string, string>(), 1);
        using var preset = new TrainingRun("varibad", "halfcheetah-vel", new Dictionary<string, string> { ["preset"] = "mujoco" }, 1);
        Assert.Equal(Lines(preset), Lines(vel));
        Assert.Equal((2, 50, 50), (vel.Get<VariBadConfig>().MaxRolloutsPerTask, vel.Get<VariBadConfig>().VaeSubsampleElbos, vel.Get<VariBadConfig>().VaeSubsampleDecodes));
        using (var dir = new TrainingRun("varibad", "halfcheetah-dir", new Dictionary<string, string>(), 1))
            Assert.Equal(16, dir.Get<VariBadConfig>().PpoNumEpochs);

        // The grid world keeps its own official config.
        using var gridRun = new TrainingRun("varibad", "gridworld", new Dictionary<string, string>(), 1);
        var grid = gridRun.Get<VariBadConfig>();
        Assert.Equal((4, 25, 0), (grid.MaxRolloutsPerTask, grid.VaeBatchNumTrajs, grid.VaeSubsampleElbos));
    }

    [Fact]
    public void VariBadRefusesBadKeys()
    {
        var c = Assert.Throws<ConfigException>(() => new TrainingRun("varibad", "gridworld", new Dictionary<string, string> { ["kl-weight"] = "-1" }, 1));
        Assert.Equal("kl-weight", c.Key);
        c = Assert.Throws<ConfigException>(() => new TrainingRun("varibad", "gridworld", new Dictionary<string, string> { ["latent-dim"] = "0" }, 1));
        Assert.Equal("latent-dim", c.Key);
    }
}
