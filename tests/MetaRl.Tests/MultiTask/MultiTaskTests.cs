using MetaRl.Algorithms;
using MetaRl.Algorithms.MultiTask;
using MetaRl.Envs;
using MetaRl.Algorithms.SingleTask;
using MetaRl.Envs.Suites;
using MetaRl.Envs.Mujoco;
using MetaRl.Experiments;
using MetaRl.Tests.Algorithms;
using static TorchSharp.torch;

namespace MetaRl.Tests.MultiTask;

public class MultiTaskTests : IDisposable
{
    readonly string _root = Path.Combine(Path.GetTempPath(), "metarl-mt-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    static Tensor Rows(params double[][] g) => tensor(g.SelectMany(r => r).ToArray(), [g.Length, g[0].Length], dtype: float64);

    static double[] Row(Tensor t, int i) => t[i].to(float64).data<double>().ToArray();

    [Fact]
    public void PcGradProjectsEachConflictingPairOntoTheNormalPlaneOfTheOther()
    {
        // Two tasks, g1 = (1, 0), g2 = (-1, 1): g1.g2 = -1 < 0.
        // g1^PC = g1 - (-1 / |g2|^2) g2 = (0.5, 0.5);  g2^PC = g2 - (-1 / |g1|^2) g1 = (0, 1).
        using var scope = NewDisposeScope();
        var projected = PcGrad.Project(Rows([1, 0], [-1, 1]), i => [1 - i], out int projections);
        Assert.Equal(2, projections);
        Assert.Equal(new[] { 0.5, 0.5 }, Row(projected, 0), new ToleranceComparer(1e-12));
        Assert.Equal(new[] { 0.0, 1.0 }, Row(projected, 1), new ToleranceComparer(1e-12));
        // Agreeing gradients are left alone.
        var agreeing = PcGrad.Project(Rows([1, 0], [1, 1]), i => [1 - i], out int none);
        Assert.Equal(0, none);
        Assert.Equal(new[] { 1.0, 1.0 }, Row(agreeing, 1), new ToleranceComparer(1e-12));
    }

    [Fact]
    public void PcGradWithThreeTasksProjectsAgainstTheOriginalGradientsInTheGivenOrder()
    {
        // g1 = (1, 0), g2 = (0, 1), g3 = (-1, -1).
        // Task 1 visiting 2 then 3: g1.g2 = 0 (kept), then g1.g3 = -1: g1 + 0.5 g3 = (0.5, -0.5).
        // Task 1 visiting 3 then 2: (0.5, -0.5), then .g2 = -0.5: + 0.5 g2 = (0.5, 0).
        // Task 3 visiting 1 then 2: g3.g1 = -1: g3 + g1 = (0, -1); .g2 = -1: + g2 = (0, 0).
        using var scope = NewDisposeScope();
        var g = Rows([1, 0], [0, 1], [-1, -1]);
        var inOrder = PcGrad.Project(g, i => i == 0 ? [1, 2] : i == 1 ? [0, 2] : [0, 1], out _);
        Assert.Equal(new[] { 0.5, -0.5 }, Row(inOrder, 0), new ToleranceComparer(1e-12));
        Assert.Equal(new[] { 0.0, 0.0 }, Row(inOrder, 2), new ToleranceComparer(1e-12));
        var reversed = PcGrad.Project(g, i => i == 0 ? [2, 1] : i == 1 ? [2, 0] : [1, 0], out _);
        Assert.Equal(new[] { 0.5, 0.0 }, Row(reversed, 0), new ToleranceComparer(1e-12));

        // The Gram-matrix form agrees with projecting the vectors themselves, on random gradients.
        var rng = new Rng(4);
        var random = Enumerable.Range(0, 5).Select(_ => Enumerable.Range(0, 40).Select(_ => rng.Normal()).ToArray()).ToArray();
        var orders = Enumerable.Range(0, 5).Select(i => { var o = Enumerable.Range(0, 5).Where(j => j != i).ToArray(); rng.Shuffle(o.AsSpan()); return o; }).ToArray();
        var fast = PcGrad.Project(Rows(random), i => orders[i], out _);
        for (int i = 0; i < 5; i++)
        {
            var gi = (double[])random[i].Clone();
            foreach (int j in orders[i])
            {
                double dot = gi.Zip(random[j]).Sum(x => x.First * x.Second), norm2 = random[j].Sum(x => x * x);
                if (dot < 0) for (int p = 0; p < gi.Length; p++) gi[p] -= dot / norm2 * random[j][p];
            }
            Assert.Equal(gi, Row(fast, i), new ToleranceComparer(1e-9));
        }
    }

    [Fact]
    public void GradNormStepsEachWeightAgainstTheSignOfItsNormsDistanceFromTheTargetAndRenormalises()
    {
        // |grad_W L_i| = (2, 1), w = (1, 1). First step: L(0) = L, so r = (1, 1) and both targets are mean(G) = 1.5;
        // G = (2, 1): dL/dw = (+2, -1); Adam's first step is lr * sign: w = (0.975, 1.025), already summing to 2.
        var gn = new GradNorm(2, alpha: 1.5, lr: 0.025);
        gn.Step([2, 1], [1, 1]);
        Assert.Equal(new[] { 0.975, 1.025 }, gn.Weights, new ToleranceComparer(1e-9));
        Assert.Equal(new[] { 1.5, 1.5 }, gn.Targets, new ToleranceComparer(1e-9));

        // Second step, L = (0.5, 1): L~ = (0.5, 1), r = (2/3, 4/3); G = (1.95, 1.025), mean 1.4875;
        // targets 1.4875 r^1.5; still (+, -), and Adam's bias-corrected step is again lr * sign.
        gn.Step([2, 1], [0.5, 1]);
        Assert.Equal(new[] { 1.4875 * Math.Pow(2.0 / 3, 1.5), 1.4875 * Math.Pow(4.0 / 3, 1.5) }, gn.Targets, new ToleranceComparer(1e-9));
        Assert.Equal(new[] { 0.95, 1.05 }, gn.Weights, new ToleranceComparer(1e-6));

        // Three tasks, two above their targets: (0.975, 0.975, 1.025) renormalised to sum 3.
        var three = new GradNorm(3, alpha: 1.5, lr: 0.025);
        three.Step([3, 3, 1], [1, 1, 1]);
        double s = 0.975 + 0.975 + 1.025;
        Assert.Equal(new[] { 0.975 * 3 / s, 0.975 * 3 / s, 1.025 * 3 / s }, three.Weights, new ToleranceComparer(1e-9));
    }

    [Fact]
    public void TaskSamplingWeighsTasksByDataShareLossOrLackOfProgress()
    {
        var state = new TaskSamplingState(3, window: 4);
        double[] shares = [1, 1, 0.1];
        Assert.Equal(new[] { 1.0, 1.0, 1.0 }, state.Weights(TaskSampling.Uniform, shares));
        Assert.Equal(shares, state.Weights(TaskSampling.Proportional, shares));
        Assert.Equal(new[] { 1.0, 1.0, 1.0 }, state.Weights(TaskSampling.Loss, shares)); // nothing recorded yet

        // Value losses relative to their first: (1, 0.5, 0.25) / mean 7/12.
        state.Record([0, 0, 0], [2, 4, 8]);
        state.Record([0, 0, 0], [2, 2, 2]);
        Assert.Equal(new[] { 12.0 / 7, 6.0 / 7, 3.0 / 7 }, state.Weights(TaskSampling.Loss, shares), new ToleranceComparer(1e-12));

        // Progress over the last 4 iterations: mean of the last 2 returns less the mean of the 2 before.
        // Task 0 rose by 4 (the most: weight 0.1), task 1 by 2 (1 - 2/4 = 0.5), task 2 fell (no gain: 1); over their mean 1.6/3.
        Assert.Equal(new[] { 1.0, 1.0, 1.0 }, state.Weights(TaskSampling.Progress, shares)); // fewer than 4 iterations
        state.Record([4, 2, -1], [1, 1, 1]);
        state.Record([4, 2, -1], [1, 1, 1]);
        double mean = (0.1 + 0.5 + 1) / 3;
        Assert.Equal(new[] { 0.1 / mean, 0.5 / mean, 1 / mean }, state.Weights(TaskSampling.Progress, shares), new ToleranceComparer(1e-12));
    }


    [Fact]
    public void AdvantagesAreNormalisedOverEachTasksRowsOrOverTheWholeMinibatch()
    {
        // Task 0's rows (1, 3), task 1's (10, 30) and a padding row (mask 0) that must not count.
        using var scope = NewDisposeScope();
        var a = Rows([1, 3, 0], [10, 30, 99]);
        var mask = Rows([1, 1, 0], [1, 1, 0]);
        // Per task: each task's rows to -1, 1 whatever its scale.
        var perTask = MtPpo.NormaliseAdvantages(a, mask, AdvantageNormalization.Task);
        Assert.Equal(new[] { -1.0, 1.0 }, Row(perTask, 0)[..2], new ToleranceComparer(1e-6));
        Assert.Equal(new[] { -1.0, 1.0 }, Row(perTask, 1)[..2], new ToleranceComparer(1e-6));
        // Over the minibatch: mean 11, std sqrt((100 + 64 + 1 + 361) / 4) = sqrt(131.5); task 1's rows keep 10x the spread.
        var batch = MtPpo.NormaliseAdvantages(a, mask, AdvantageNormalization.Batch);
        double s = Math.Sqrt(131.5);
        Assert.Equal(new[] { -10 / s, -8 / s }, Row(batch, 0)[..2], new ToleranceComparer(1e-6));
        Assert.Equal(new[] { -1 / s, 19 / s }, Row(batch, 1)[..2], new ToleranceComparer(1e-6));
    }
    [Fact]
    public void OneBackwardPassThroughTheTaskViewGivesEveryTasksOwnGradientOfTheSharedWeights()
    {
        using var scope = NewDisposeScope();
        var suite = PointSuites.Goals();
        foreach (var conditioning in new[] { Conditioning.OneHot, Conditioning.MultiHead })
        {
            var policy = new MultiTaskPolicy(suite, conditioning, 4, new CommonConfig { HiddenSizes = [8, 8] }, new Rng(5));
            var obs = randn(4, 6, 2, generator: new Generator(1));
            var actions = randn(4, 6, 2, generator: new Generator(2));
            var view = policy.Parameters.View();
            var perTask = policy.Distribution(obs, view).LogProb(actions).sum(1); // [T]
            var shared = policy.Parameters.SharedNames.Select(n => view[n]).ToList();
            var batched = autograd.grad([perTask.sum()], shared);

            for (int t = 0; t < 4; t++)
            {
                // Task t alone, through its own network (ForTask) on 2-D rows, with a plain backward.
                foreach (var p in policy.Leaves()) p.grad = null;
                var input = policy.Input.Append(obs)[t];
                policy.Network.Distribution(input, policy.Parameters.ForTask(t)).LogProb(actions[t]).sum().backward();
                for (int i = 0; i < shared.Count; i++)
                {
                    var leafGrad = policy.Parameters.Leaves[policy.Parameters.SharedNames[i]].grad!;
                    Assert.True(allclose(batched[i][t], leafGrad, rtol: 1e-4, atol: 1e-6), $"{conditioning}: task {t}, {policy.Parameters.SharedNames[i]}");
                }
            }
            if (conditioning == Conditioning.MultiHead)
            {
                Assert.DoesNotContain("mean.2.weight", policy.Parameters.SharedNames); // the heads are per task
                Assert.Contains("task.mean.2.weight", policy.Parameters.Leaves.Names);
                Assert.Equal(new long[] { 4, 2, 8 }, policy.Parameters.Leaves["task.mean.2.weight"].shape);
            }
        }
    }

    [Fact]
    public void PointTasksRewardAndSucceedAsStated()
    {
        var obs = new float[2];
        var along = new PointTaskEnv(new MoveAlong(-1, 0));
        along.Reset(null, obs);
        StepResult r = default;
        for (int i = 0; i < 20; i++) r = along.Step([-0.3f, 0.05f], obs); // clipped to -0.1: 10 x 0.1 = 1 a step
        Assert.Equal(1f, r.Reward, 5);
        Assert.Equal(-2f, obs[0], 4);
        Assert.True(r.Success); // 2 along the direction
        Assert.False(r.Truncated);
        for (int i = 0; i < 10; i++) r = along.Step([0.1f, 0], obs);
        Assert.Equal(-1f, r.Reward, 5);
        Assert.True(r.Truncated); // 30 steps

        var reach = new PointTaskEnv(new ReachGoal(0, 1));
        reach.Reset(null, obs);
        for (int i = 0; i < 8; i++) r = reach.Step([0, 0.1f], obs);
        Assert.Equal(-0.2f, r.Reward, 4);
        r = reach.Step([0, 0.1f], obs);
        Assert.Equal(-0.1f, r.Reward, 4);
        r = reach.Step([0, 0.1f], obs);
        Assert.Equal(0f, r.Reward, 4);
        Assert.False(r.Success); // on the goal, but success is where the episode ends
        for (int i = 0; i < 20; i++) r = reach.Step([0, 0], obs);
        Assert.True(r.Truncated);
        Assert.True(r.Success);

        // The imbalanced suite's goal-0 pays 10x its family's reward.
        var suite = PointSuites.Imbalanced();
        using var env = suite.CreateEnv(suite.Tasks[0], new Rng(1));
        env.Reset(null, obs);
        Assert.Equal(-10 * (1 - 0.1f), env.Step([0.1f, 0], obs).Reward, 4);
        Assert.Equal(0.1, suite.Tasks[3].DataShare);
        // The same through the suite's vector env (the family's own, rewards scaled per env), and after switching tasks.
        using var envs = suite.CreateVectorEnv([suite.Tasks[0], suite.Tasks[1]]);
        var rewards = new float[2];
        var flags = new bool[2];
        envs.Reset();
        envs.Step([0.1f, 0, 0.1f, 0], rewards, flags, new bool[2]);
        Assert.Equal(-10 * 0.9f, rewards[0], 4);
        Assert.Equal(-0.9148, rewards[1], 3); // goal-30, unscaled: |(0.1, 0) - (cos 30, sin 30)|
        envs.SetTask(1, suite.Tasks[0]);
        envs.Reset();
        envs.Step([0.1f, 0, 0.1f, 0], rewards, flags, new bool[2]);
        Assert.Equal(rewards[0], rewards[1]);
    }

    [Fact]
    public void CheetahSkillsRewardAndSucceedAsStated()
    {
        var obs = new float[20];
        var zero = new float[6];
        StepResult Run(CheetahTask task, Action<HalfCheetahSkillEnv, int>? before = null)
        {
            using var env = new HalfCheetahSkillEnv(task, new Rng(1));
            env.Reset(1, obs);
            StepResult r = default;
            bool success = false;
            for (int t = 0; t < env.MaxEpisodeSteps; t++)
            {
                before?.Invoke(env, t);
                r = env.Step(zero, obs);
                success |= r.Success;
            }
            return r with { Success = success };
        }
        // Standing still: no skill succeeds, and the jump's reward (no control cost at zero action) is about 0.
        foreach (var skill in new[] { CheetahSkill.Forward, CheetahSkill.Backward, CheetahSkill.Jump })
            Assert.False(Run(new CheetahTask(skill)).Success, $"{skill} standing still");
        Assert.False(Run(new CheetahTask(CheetahSkill.Velocity, 1)).Success);
        // Moved by hand (the torso's slide joints are qpos[0], x, and qpos[1], height above 0.7 m).
        Assert.True(Run(new CheetahTask(CheetahSkill.Forward), (env, t) => { if (t == 50) env.Simulation.Qpos[0] = 5.2; }).Success);
        Assert.True(Run(new CheetahTask(CheetahSkill.Backward), (env, t) => { if (t == 50) env.Simulation.Qpos[0] = -3.2; }).Success);
        Assert.True(Run(new CheetahTask(CheetahSkill.Jump), (env, t) => { if (t == 50) env.Simulation.Qpos[1] = 0.45; }).Success);
        // Mean speed over the episode (100 steps of 0.05 s): 1 m/s means 5 m at the end; judged at the last step only.
        Assert.True(Run(new CheetahTask(CheetahSkill.Velocity, 1), (env, t) => { if (t == 99) env.Simulation.Qpos[0] = 5.0; }).Success);
        Assert.False(Run(new CheetahTask(CheetahSkill.Velocity, 1), (env, t) => { if (t == 50) env.Simulation.Qpos[0] = 2.5; if (t == 60) env.Simulation.Qpos[0] = 0; }).Success);

        var suite = SuiteRegistry.Create("cheetah-locomotion");
        Assert.Equal(["forward", "backward", "speed-0.5", "speed-1.0", "speed-1.5", "speed-2.0", "speed-2.5", "jump"], suite.Tasks.Select(t => t.Name));
        var run = new TrainingRun("mt-sac", suite, new Dictionary<string, string> { ["hidden-sizes"] = "16,16", ["learning-starts"] = "100", ["batch-size"] = "8" }, 1);
        var it = run.RunIteration(); // collection of every task and a gradient step on all eight, through the suite's MuJoCo envs
        Assert.True(double.IsFinite(it.MeanReturn));
        run.Dispose();
    }

    [Fact]
    public void ASuiteOfTwoBodiesPadsObservationsPassesEachBodyItsActionsAndSwitchesBodies()
    {
        var suite = SuiteRegistry.Create("locomotion-10");
        Assert.Equal(10, suite.TaskCount);
        Assert.Equal(125, suite.ObservationSpace.FlatSize); // the ant's
        var box = (Box)suite.ActionSpace;
        Assert.Equal(8, box.Dim);
        Assert.All(box.Low, x => Assert.Equal(-10f, x));

        using var envs = suite.CreateVectorEnv([suite.Tasks[0], suite.Tasks[8]]); // cheetah forward, ant forward
        envs.Reset(seed: 1);
        var obs = envs.Observations.ToArray();
        Assert.All(obs.AsSpan(20, 105).ToArray(), x => Assert.Equal(0f, x)); // the cheetah's 20, then zeros
        Assert.Contains(obs.AsSpan(125 + 20, 105).ToArray(), x => x != 0);  // the ant's own 125
        var rewards = new float[2];
        envs.Step(new float[16], rewards, new bool[2], new bool[2]);          // 8 floats each; the cheetah reads 6
        Assert.All(rewards, r => Assert.True(float.IsFinite(r)));

        envs.SetTask(0, suite.Tasks[9]); // the cheetah's env becomes an ant's (ant backward)
        envs.Reset(seed: 1);
        Assert.Contains(envs.Observations.ToArray().AsSpan(20, 105).ToArray(), x => x != 0);

        var run = new TrainingRun("mt-ppo", suite, new Dictionary<string, string> { ["hidden-sizes"] = "8,8", ["episodes-per-task"] = "1", ["epochs"] = "1" }, 1);
        Assert.True(double.IsFinite(run.RunIteration().MeanReturn));
        run.Dispose();
    }

    static Dictionary<string, string> Quick(int iterations, params (string, string)[] extra)
    {
        var v = new Dictionary<string, string> { ["num-batches"] = $"{iterations}", ["checkpoint-every"] = "2", ["episodes-per-task"] = "4", ["epochs"] = "2", ["hidden-sizes"] = "16,16" };
        foreach (var (k, x) in extra) v[k] = x;
        return v;
    }

    [Fact]
    [Trait(Category.Name, Category.Slow)]
    public void MtPpoLearnsEveryGoalOfTheNavigationSuite()
    {
        set_num_threads(1);
        var run = new TrainingRun("mt-ppo", "point-goals", new Dictionary<string, string> { ["num-batches"] = "60" }, 1);
        for (int i = 0; i < 60; i++) run.RunIteration();
        var scores = ((IMultiTaskLearner)run.Learner).Evaluate(2, new Rng(9));
        // Untrained: -30 (standing still 1 from the goal); going straight to the goal and holding it: about -5.
        Assert.All(scores, s => Assert.True(s.MeanReturn > -7, $"{s.Task}: return {s.MeanReturn:0.00}"));
        Assert.True(scores.Average(s => s.SuccessRate) >= 0.75, string.Join(", ", scores.Select(s => $"{s.Task} {s.SuccessRate:P0}")));
    }

    [Theory]
    [InlineData("sum", "one-hot")]
    [InlineData("pcgrad", "embedding")]
    [InlineData("gradnorm", "multi-head")]
    public void MtPpoResumesExactly(string gradient, string conditioning) =>
        ResumeCheck.ResumesExactly("mt-ppo", "point-conflict", Quick(4, ("gradient", gradient), ("conditioning", conditioning), ("task-sampling", "progress"), ("progress-window", "2")), Path.Combine(_root, gradient));

    [Fact]
    [Trait(Category.Name, Category.Slow)]
    public void MtSacLearnsEveryGoalOfTheNavigationSuite()
    {
        set_num_threads(1);
        var run = new TrainingRun("mt-sac", "point-goals", new Dictionary<string, string> { ["hidden-sizes"] = "64,64", ["learning-starts"] = "300", ["gradient"] = "pcgrad" }, 1);
        for (int i = 0; i < 150; i++) run.RunIteration();
        var scores = ((IMultiTaskLearner)run.Learner).Evaluate(1, new Rng(9));
        // Untrained: -30 (standing still 1 from the goal); going straight to the goal and holding it: about -5.
        Assert.All(scores, s => Assert.True(s.MeanReturn > -8, $"{s.Task}: return {s.MeanReturn:0.00}"));
        Assert.True(scores.Average(s => s.SuccessRate) >= 0.75, string.Join(", ", scores.Select(s => $"{s.Task} {s.SuccessRate:P0}")));
        Assert.All(((MtSac)run.Learner).Alphas, a => Assert.InRange(a, 1e-4, 1)); // one temperature per task, tuned down from 1
    }

    [Theory]
    [InlineData("sum", "one-hot")]
    [InlineData("pcgrad", "embedding")]
    [InlineData("pcgrad", "multi-head")]
    public void MtSacResumesExactly(string gradient, string conditioning) =>
        ResumeCheck.ResumesExactly("mt-sac", "point-conflict", new Dictionary<string, string>
        {
            ["num-batches"] = "4", ["checkpoint-every"] = "2", ["hidden-sizes"] = "16,16", ["learning-starts"] = "60", ["batch-size"] = "16",
            ["gradient"] = gradient, ["conditioning"] = conditioning, ["task-sampling"] = "loss",
        }, Path.Combine(_root, "sac-" + gradient + conditioning));

    [Theory]
    [InlineData("gradient", "gradnorm", "sum or pcgrad")]
    [InlineData("task-index", "2", "task-index")]
    [InlineData("episodes-per-iteration", "3", "episodes-per-task")]
    public void MtSacRefusesSingleTaskAndPpoOnlySettings(string key, string value, string expected)
    {
        var e = Assert.ThrowsAny<Exception>(() => new TrainingRun("mt-sac", "point-goals", new Dictionary<string, string> { [key] = value }, 1));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ProgressLogsEveryTasksFiguresAndTheirGradientConflict()
    {
        var dir = Trainer.Start(new TrainingRun("mt-ppo", "point-conflict", Quick(2, ("gradient", "gradnorm")), 1), _root);
        var header = File.ReadLines(dir.ProgressPath).First().Split(',');
        foreach (var task in PointSuites.Conflict().Tasks)
            foreach (var column in new[] { "return", "success", "loss", "value_loss", "entropy", "grad_norm", "episodes", "weight" })
                Assert.Contains($"{column}/{task.Name}", header);
        Assert.Contains("cos/right/left", header);
        Assert.Contains("gradnorm_spread", header);
        var row = File.ReadLines(dir.ProgressPath).Skip(1).First().Split(',');
        double cos = double.Parse(row[Array.IndexOf(header, "cos/right/left")], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(cos, -1, 1);
    }

    [Theory]
    [InlineData("task-weights", "1,2", "one weight per task")]
    [InlineData("task-weights", "1,1,1,1,1,-1", "task-weights")]
    [InlineData("gradnorm-alpha", "3.5", "gradnorm-alpha")]
    [InlineData("task-sampling", "greedy", "uniform, proportional, loss, progress")]
    [InlineData("gradient", "cagrad", "sum, pcgrad, gradnorm")]
    public void BadMultiTaskSettingsAreRefusedNamingTheKey(string key, string value, string expected)
    {
        var e = Assert.ThrowsAny<Exception>(() => new TrainingRun("mt-ppo", "point-conflict", new Dictionary<string, string> { [key] = value }, 1));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ASuiteOfOnesOwnTrainsResumesAndEvaluatesByName()
    {
        // docs/algorithms/multitask.md's example.
        var family = new PointTaskFamily();
        var suite = new TaskSuite("my-suite-test", "two goals, one paying double", family,
            [new SuiteTask("left", new ReachGoal(-1, 0)), new SuiteTask("right", new ReachGoal(1, 0), RewardScale: 2)]);
        SuiteRegistry.Register("my-suite-test", () => suite);
        using var run = new TrainingRun("mt-ppo", suite, new Dictionary<string, string> { ["gradient"] = "pcgrad", ["num-batches"] = "2", ["checkpoint-every"] = "1" }, seed: 1);
        var dir = Trainer.Start(run, _root);
        var scores = ((IMultiTaskLearner)run.Learner).Evaluate(episodesPerTask: 5, new Rng(1));
        Assert.Equal(["left", "right"], scores.Select(x => x.Task));
        using var resumed = Trainer.Resume(dir);
        Assert.Equal("my-suite-test", resumed.Distribution.Name);
        Assert.Equal(2, resumed.Iteration);
    }

    [Fact]
    public void MultiTaskLearnersTrainOnSuitesOnly()
    {
        var e = Assert.Throws<UsageException>(() => new TrainingRun("mt-ppo", "2d-navigation", new Dictionary<string, string>(), 1));
        Assert.Contains("point-goals", e.Message);
        Assert.Contains("valid suites", Assert.Throws<UsageException>(() => SuiteRegistry.Create("mt10")).Message);
        var independent = Assert.ThrowsAny<Exception>(() => new TrainingRun("mt-ppo", "point-goals", new Dictionary<string, string> { ["conditioning"] = "independent", ["gradient"] = "pcgrad" }, 1));
        Assert.Contains("gradient", independent.Message);
    }

    /// <summary>A family whose task "broken" pays NaN: the run stops naming that task.</summary>
    sealed class BrokenFamily : TaskDistribution<PointTask>
    {
        public override string Name => "broken-points";
        public override string Description => "";
        public override Space ObservationSpace { get; } = Box.Uniform(2, float.NegativeInfinity, float.PositiveInfinity);
        public override Space ActionSpace { get; } = Box.Uniform(2, -0.1f, 0.1f);
        public override int MaxEpisodeSteps => 5;
        public override IReadOnlyList<PointTask> Sample(int n, Rng rng) => [];
        public override IReadOnlyList<PointTask> SampleOutOfDistribution(int n, Rng rng) => [];
        public override ITaskEnv<PointTask> CreateEnv(PointTask task, Rng rng) => new NanEnv(task);

        sealed class NanEnv(PointTask task) : ITaskEnv<PointTask>
        {
            readonly PointTaskEnv _inner = new(task);
            public PointTask Task { get => _inner.Task; set => _inner.Task = value; }
            public Space ObservationSpace => _inner.ObservationSpace;
            public Space ActionSpace => _inner.ActionSpace;
            public int MaxEpisodeSteps => 5;
            public void Reset(int? seed, Span<float> observation) => _inner.Reset(seed, observation);
            public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
            {
                var r = _inner.Step(action, observation);
                return r with { Reward = Task is MoveAlong { Dx: < 0 } ? float.NaN : r.Reward };
            }
        }
    }

    [Fact]
    public void ATaskWhoseLossGoesNanStopsTheRunNamingTheTask()
    {
        var suite = new TaskSuite("nan-suite", "", new BrokenFamily(), [new("fine", new MoveAlong(1, 0)), new("broken", new MoveAlong(-1, 0))]);
        var run = new TrainingRun("mt-ppo", suite, new Dictionary<string, string> { ["episodes-per-task"] = "2" }, 1);
        var e = Assert.Throws<NonFiniteException>(() => run.RunIteration());
        Assert.Contains("task broken", e.Message);
    }

    /// <summary>
    /// `metarl reproduce mt-point-conflict --quick` with two seeds: every combination in the main table, and the paired
    /// table's mean differences equal the differences of the main table's means (a mean of differences is a difference
    /// of means), each with a CI over the seeds.
    /// </summary>
    [Fact]
    public void TheGradientStudyPairsEachCombinationWithThePlainSumSeedBySeed()
    {
        set_num_threads(1);
        string root = GradientStudy.Run(new GradientStudy.Options([1, 2], 2, Quick: true, _root), TextWriter.Null);
        var lines = File.ReadAllLines(Path.Combine(root, "report.md"));
        double Percent(string cell) => double.Parse(cell.Split(' ')[0].TrimEnd('%'), System.Globalization.CultureInfo.InvariantCulture);
        string[] Cells(string line) => line.Split('|', StringSplitOptions.TrimEntries)[1..^1];
        var main = lines.Where(l => l.StartsWith("| sum |") || l.StartsWith("| pcgrad |") || l.StartsWith("| gradnorm |")).Take(3).Select(Cells).ToDictionary(c => c[0]);
        Assert.Equal(["sum", "pcgrad", "gradnorm"], main.Keys);
        int paired = Array.FindIndex(lines, l => l.StartsWith("| gradient | success minus sum's |"));
        Assert.True(paired > 0, "no paired table");
        foreach (var row in lines.Skip(paired + 2).TakeWhile(l => l.StartsWith('|')).Select(Cells))
        {
            Assert.Contains(row[0], new[] { "pcgrad", "gradnorm" });
            // Both tables round (percentages to whole points, returns to 0.01): three roundings of half a unit each apart at most.
            Assert.InRange(Percent(row[1]) - (Percent(main[row[0]][1]) - Percent(main["sum"][1])), -1.5, 1.5);
            Assert.InRange(Percent(row[2]) - (Percent(main[row[0]][2]) - Percent(main["sum"][2])), -0.0151, 0.0151);
            Assert.Contains(" ± ", row[1]);
            Assert.Contains(" ± ", row[2]);
        }
        Assert.Equal(2, lines.Skip(paired + 2).TakeWhile(l => l.StartsWith('|')).Count());
    }

    /// <summary>
    /// `metarl reproduce mt-locomotion --quick` with two seeds: the three methods in the main table; the paired table's
    /// means equal the differences of the main table's (one SAC per task the baseline); results.csv holds every method,
    /// seed and task; a second invocation resumes the finished runs and writes the same report; and a --set of the key
    /// the study varies is refused.
    /// </summary>
    [Fact]
    public void TheLocomotionStudyPairsEachMultiTaskMethodWithOneSacPerTaskAndResumesItsRuns()
    {
        set_num_threads(1);
        var options = new LocomotionStudy.Options([1, 2], 2, Quick: true, _root);
        string root = LocomotionStudy.Run(options, TextWriter.Null);
        string report = File.ReadAllText(Path.Combine(root, "report.md"));
        var lines = report.Split('\n');
        double Percent(string cell) => double.Parse(cell.Split(' ')[0].TrimEnd('%'), System.Globalization.CultureInfo.InvariantCulture);
        double Number(string cell) => double.Parse(cell.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        string[] Cells(string line) => line.Split('|', StringSplitOptions.TrimEntries)[1..^1];
        int header = Array.FindIndex(lines, l => l.StartsWith("| method | success | return |"));
        var main = lines.Skip(header + 2).TakeWhile(l => l.StartsWith('|')).Select(Cells).ToDictionary(c => c[0]);
        Assert.Equal(["one SAC per task", "MT-SAC", "MT-SAC + PCGrad"], main.Keys);
        int paired = Array.FindIndex(lines, l => l.StartsWith("| method | success minus one SAC per task's |"));
        Assert.True(paired > 0, "no paired table");
        var rows = lines.Skip(paired + 2).TakeWhile(l => l.StartsWith('|')).Select(Cells).ToList();
        Assert.Equal(["MT-SAC", "MT-SAC + PCGrad"], rows.Select(r => r[0]));
        foreach (var row in rows)
        {
            // Both tables round (percentages to whole points, returns to 0.1): three roundings of half a unit each apart at most.
            Assert.InRange(Percent(row[1]) - (Percent(main[row[0]][1]) - Percent(main["one SAC per task"][1])), -1.5, 1.5);
            Assert.InRange(Number(row[2]) - (Number(main[row[0]][2]) - Number(main["one SAC per task"][2])), -0.151, 0.151);
        }
        var csv = File.ReadAllLines(Path.Combine(root, "results.csv"));
        Assert.Equal(1 + 3 * 2 * 10, csv.Length);
        Assert.Equal(10, csv.Skip(1).Select(l => l.Split(',')[2]).Distinct().Count());

        // The runs are finished: the second invocation loads their checkpoints and evaluates them again, the same.
        Assert.Equal(report, File.ReadAllText(Path.Combine(LocomotionStudy.Run(options, TextWriter.Null), "report.md")));
        var e = Assert.Throws<UsageException>(() => LocomotionStudy.Run(options with { Values = new Dictionary<string, string> { ["gradient"] = "pcgrad" } }, TextWriter.Null));
        Assert.Contains("gradient", e.Message);
    }
}

/// <summary>Compares doubles to within an absolute tolerance.</summary>
internal sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
{
    public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance;
    public int GetHashCode(double x) => 0;
}
