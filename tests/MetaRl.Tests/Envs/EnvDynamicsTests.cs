using MetaRl.Core;
using MetaRl.Envs;
using MetaRl.Envs.Bandits;
using MetaRl.Envs.GridWorld;
using MetaRl.Envs.Navigation;
using MetaRl.Envs.TabularMdp;

namespace MetaRl.Tests.Envs;

public class EnvDynamicsTests
{
    [Fact]
    public void NavigationClipsMovesRewardsMinusDistanceAndEndsAtTheGoal()
    {
        var env = new Navigation2DEnv(new GoalTask(0.3f, -0.4f));
        var obs = new float[2];
        env.Reset(null, obs);
        var r = env.Step([0.5f, -0.05f], obs); // x clipped to 0.1
        Assert.Equal([0.1f, -0.05f], obs);
        Assert.Equal(-MathF.Sqrt(0.2f * 0.2f + 0.35f * 0.35f), r.Reward, 5);
        Assert.False(r.Done);
        env.Step([0.1f, -0.1f], obs);           // (0.2, -0.15)
        env.Step([0.1f, -0.1f], obs);           // (0.3, -0.25)
        env.Step([0f, -0.1f], obs);             // (0.3, -0.35)
        r = env.Step([0.005f, -0.045f], obs);   // (0.305, -0.395): within 0.01 on both axes
        Assert.True(r.Terminated);
        Assert.True(r.Success);
        Assert.Equal(-MathF.Sqrt(0.005f * 0.005f + 0.005f * 0.005f), r.Reward, 4);
    }

    [Fact]
    public void NavigationTruncatesAfter100Steps()
    {
        var env = new Navigation2DEnv(new GoalTask(0.5f, 0.5f));
        var obs = new float[2];
        env.Reset(null, obs);
        StepResult r = default;
        for (int t = 0; t < 100; t++) { Assert.False(r.Done); r = env.Step([0f, 0f], obs); }
        Assert.True(r.Truncated);
        Assert.False(r.Terminated);
        Assert.Equal(-MathF.Sqrt(0.5f), r.Reward, 5);
    }

    [Fact]
    public void NavigationSplits()
    {
        var d = new Navigation2DDistribution();
        var splits = d.DefaultSplits();
        Assert.All(splits.Train.Concat(splits.Test), g => Assert.True(Math.Abs(g.GoalX) <= 0.5f && Math.Abs(g.GoalY) <= 0.5f));
        Assert.All(splits.OutOfDistribution, g => Assert.True(Math.Abs(g.GoalX) > 0.5f || Math.Abs(g.GoalY) > 0.5f));
        Assert.All(splits.OutOfDistribution, g => Assert.True(Math.Abs(g.GoalX) <= 1f && Math.Abs(g.GoalY) <= 1f));
        Assert.Empty(splits.Train.Intersect(splits.Test));
        Assert.Equal(splits.Test, d.DefaultSplits().Test); // fixed seeds: every run sees the same sets
    }

    [Fact]
    public void SparsePointRobotPaysOnlyInsideTheRadius()
    {
        var env = new SparsePointRobotEnv(new GoalTask(0f, 1f));
        var obs = new float[2];
        env.Reset(null, obs);
        var r = env.Step([0f, 0.1f], obs);
        Assert.Equal(0f, r.Reward);
        Assert.Equal(-0.9f, env.DenseReward, 5);
        for (int i = 0; i < 7; i++) r = env.Step([0.2f, 0.1f], obs); // x clipped to 0.1 each step
        Assert.Equal([0.7f, 0.8f], obs, new FloatTolerance(1e-5f));
        Assert.Equal(0f, r.Reward); // distance sqrt(0.49+0.04) > 0.2
        for (int i = 0; i < 7; i++) r = env.Step([-0.1f, 0.02f], obs); // (0, 0.94)
        Assert.Equal(1 - 0.06f, r.Reward, 4);
        Assert.True(r.Success);
        Assert.Equal(-0.06f, env.DenseReward, 4);
        for (int i = 0; i < 4; i++) { r = env.Step([0f, 0f], obs); Assert.False(r.Truncated); }
        Assert.True(env.Step([0f, 0f], obs).Truncated); // the 20th step
    }

    [Theory]
    // Heading for a goal at angle phi ends on the circle at phi; the path comes nearest the goal at theta there, at the
    // chord 2 sin(|phi - theta| / 2), within 0.2 for |phi - theta| <= 2 asin(0.1) = 0.20034: an arc of 0.40067 of the
    // half-circle's pi around a goal at the top, half that at an end of the half-circle.
    [InlineData(Math.PI / 2, 2 * 0.2003348423231196 / Math.PI)]
    [InlineData(0.0, 0.2003348423231196 / Math.PI)]
    public void ASampledGoalIsReachedOnTheArcWhoseChordIsTheRadius(double angle, double expected)
    {
        var goal = new GoalTask((float)Math.Cos(angle), (float)Math.Sin(angle));
        Assert.Equal(expected, MetaRl.Evaluation.Oracles.SparsePointRobotSampledGoalReach(goal, hypotheses: 10_000), 3);
        Assert.True(MetaRl.Evaluation.Oracles.SparsePointRobotHeadingFor(goal, goal).Success);
    }

    [Fact]
    public void PosteriorSamplingAtItsBestExploresFromThePriorThenRulesOutWhatItSaw()
    {
        var top = new GoalTask(0f, 1f);
        double reach = MetaRl.Evaluation.Oracles.SparsePointRobotSampledGoalReach(top); // 0.1275, see above
        var success = MetaRl.Evaluation.Oracles.SparsePointRobotPosteriorSampling([top], exploration: 5, episodes: 20, trials: 2000, new Rng(3));
        // Exploration episodes are independent draws from the prior: each finds the goal with the single-episode reach.
        for (int e = 0; e < 5; e++) Assert.InRange(success[e], reach - 0.03, reach + 0.03);
        // After exploration the found goal is kept and the rest of the half-circle searched without repeats: above the
        // chance that 5 prior draws found it, never falling, and every goal found well before the 20th episode.
        Assert.True(success[5] > 1 - Math.Pow(1 - reach, 5) + 0.05, $"{success[5]}");
        for (int e = 6; e < 20; e++) Assert.True(success[e] >= success[e - 1], $"episode {e + 1}");
        Assert.Equal(1.0, success[19]);
        Assert.Equal(success, MetaRl.Evaluation.Oracles.SparsePointRobotPosteriorSampling([top], 5, 20, 2000, new Rng(3)));
    }

    [Fact]
    public void SparsePointRobotGoalsLieOnTheirHalfCircles()
    {
        var splits = new SparsePointRobotDistribution().DefaultSplits();
        Assert.All(splits.Train, g => { Assert.Equal(1f, MathF.Sqrt(g.GoalX * g.GoalX + g.GoalY * g.GoalY), 4); Assert.True(g.GoalY >= 0); });
        Assert.All(splits.OutOfDistribution, g => Assert.True(g.GoalY <= 0));
    }

    [Fact]
    public void GridWorldMovesClipsAndRewards()
    {
        var env = new GridWorldEnv(new GridTask(2, 1));
        var obs = new float[2];
        env.Reset(null, obs);
        Assert.Equal(-0.1f, env.Step([GridWorldEnv.Left], obs).Reward); // clipped at the wall
        Assert.Equal([0f, 0f], obs);
        Assert.Equal(-0.1f, env.Step([GridWorldEnv.Down], obs).Reward);
        env.Step([GridWorldEnv.Right], obs);
        env.Step([GridWorldEnv.Right], obs);
        var r = env.Step([GridWorldEnv.Up], obs);
        Assert.Equal([2f, 1f], obs);
        Assert.Equal(1f, r.Reward);
        Assert.Equal(1f, env.Step([GridWorldEnv.Stay], obs).Reward); // staying on the goal keeps paying
        for (int i = 0; i < 4; i++) env.Step([GridWorldEnv.Up], obs);
        Assert.Equal([2f, 4f], obs); // clipped at the top wall
        StepResult last = default;
        for (int i = 0; i < 5; i++) last = env.Step([GridWorldEnv.Stay], obs);
        Assert.True(last.Truncated); // 15 steps
        Assert.Throws<ArgumentOutOfRangeException>(() => env.Step([7f], obs));
    }

    [Fact]
    public void GridWorldGoalsExcludeTheStartAndItsNeighbours()
    {
        Assert.Equal(21, GridWorldDistribution.TrainGoals.Count);
        Assert.DoesNotContain(new GridTask(0, 0), GridWorldDistribution.TrainGoals);
        Assert.DoesNotContain(new GridTask(1, 1), GridWorldDistribution.TrainGoals);
        var sampled = new GridWorldDistribution().Sample(2000, new Rng(3)).Distinct().Count();
        Assert.Equal(21, sampled);
        Assert.All(new GridWorldDistribution().SampleOutOfDistribution(50, new Rng(1)), g => Assert.True(g.GoalX >= 5 || g.GoalY >= 5));
    }

    [Fact]
    public void BanditPaysWithTheArmsProbability()
    {
        var env = new BernoulliBanditEnv(new BanditTask([0.0, 1.0, 0.3]), new Rng(5));
        var obs = new float[1];
        env.Reset(null, obs);
        Assert.Equal(0f, env.Step([0f], obs).Reward);
        env.Reset(null, obs);
        var r = env.Step([1f], obs);
        Assert.Equal(1f, r.Reward);
        Assert.True(r.Truncated); // one pull per episode
        Assert.True(r.Success);
        double total = 0;
        for (int i = 0; i < 20000; i++) { env.Reset(null, obs); total += env.Step([2f], obs).Reward; }
        Assert.Equal(0.3, total / 20000, 2);
    }

    [Fact]
    public void BanditTasksAreUniformAndOodIsUShaped()
    {
        var d = new BernoulliBanditDistribution(5);
        var probs = d.Sample(2000, new Rng(1)).SelectMany(t => t.Probs).ToArray();
        Assert.Equal(0.5, probs.Average(), 1);
        Assert.Equal(1.0 / 12, probs.Select(p => (p - 0.5) * (p - 0.5)).Average(), 2); // variance of U[0,1]
        var ood = d.SampleOutOfDistribution(2000, new Rng(1)).SelectMany(t => t.Probs).ToArray();
        Assert.InRange(ood.Select(p => (p - 0.5) * (p - 0.5)).Average(), 0.121, 0.129); // variance of Beta(0.5,0.5) is 0.125; 4 standard errors
    }

    [Fact]
    public void TabularMdpFollowsItsTransitionsAndRewards()
    {
        // Two states, one action: from state 0 always to state 1, from 1 always to 0; deterministic rewards.
        var task = new MdpTask(2, 1, [0, 1, 1, 0], [2.0, -1.0], RewardStd: 0);
        var env = new TabularMdpEnv(task, 3, new Rng(0));
        var obs = new float[2];
        env.Reset(null, obs);
        Assert.Equal([1f, 0f], obs);
        var r = env.Step([0f], obs);
        Assert.Equal(2f, r.Reward);
        Assert.Equal([0f, 1f], obs);
        Assert.Equal(-1f, env.Step([0f], obs).Reward);
        r = env.Step([0f], obs);
        Assert.True(r.Truncated);
    }

    [Fact]
    public void RandomMdpsHaveDirichletTransitionsAndNormalMeans()
    {
        var d = new RandomMdpDistribution();
        var tasks = d.Sample(200, new Rng(2));
        foreach (var t in tasks.Take(5))
            for (int sa = 0; sa < 50; sa++)
                Assert.Equal(1.0, t.Transitions.Skip(sa * 10).Take(10).Sum(), 9);
        var means = tasks.SelectMany(t => t.RewardMeans).ToArray();
        Assert.Equal(1.0, means.Average(), 1);
        Assert.Equal(1.0, Math.Sqrt(means.Select(m => (m - 1) * (m - 1)).Average()), 1);
        // Dirichlet(1) over 10 states: each probability has mean 0.1 and variance 0.9/110.
        var p = tasks.SelectMany(t => t.Transitions).ToArray();
        Assert.Equal(0.9 / 110, p.Select(x => (x - 0.1) * (x - 0.1)).Average(), 3);
    }

    [Fact]
    public void MoreTasksFromTheSameSeedStartWithTheFewer()
    {
        // `reproduce --test-trials 2000` evaluates on the default 500 held-out tasks and 1,500 more: the first
        // tasks of a longer draw are the shorter draw's, for MDPs and bandits alike.
        var mdps = new RandomMdpDistribution();
        var few = mdps.Sample(5, new Rng(11));
        var more = mdps.Sample(20, new Rng(11));
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(few[i].Transitions, more[i].Transitions);
            Assert.Equal(few[i].RewardMeans, more[i].RewardMeans);
        }
        Assert.NotEqual(more[5].RewardMeans, more[0].RewardMeans);
        var bandits = new BernoulliBanditDistribution(10);
        var fewArms = bandits.Sample(5, new Rng(12));
        var moreArms = bandits.Sample(20, new Rng(12));
        for (int i = 0; i < 5; i++) Assert.Equal(fewArms[i].Probs, moreArms[i].Probs);
    }

    [Fact]
    public void EmpiricalTransitionsMatchTheTask()
    {
        var task = new RandomMdpDistribution(states: 3, actions: 1, episodeLength: 1).Sample(1, new Rng(9))[0];
        var env = new TabularMdpEnv(task, 1, new Rng(4));
        var obs = new float[3];
        var counts = new int[3];
        for (int i = 0; i < 30000; i++) { env.Reset(null, obs); env.Step([0f], obs); counts[env.State]++; }
        for (int s = 0; s < 3; s++) Assert.InRange(counts[s] / 30000.0 - task.P(0, 0, s), -0.012, 0.012); // 4 standard errors
    }

    [Fact]
    public void VectorEnvStepsEachEnvWithItsOwnTaskAndStopsFinishedOnes()
    {
        var d = new Navigation2DDistribution(maxEpisodeSteps: 2);
        var tasks = new[] { new GoalTask(0.1f, 0f), new GoalTask(-0.1f, 0f) };
        var venv = new VectorEnv(tasks.Select(t => (IEnv)d.CreateEnv(t, new Rng(0))).ToList());
        venv.Reset();
        var rewards = new float[2]; var term = new bool[2]; var trunc = new bool[2];
        venv.Step([0.1f, 0f, 0.1f, 0f], rewards, term, trunc);
        Assert.Equal([0f, -0.2f], rewards, new FloatTolerance(1e-6f));
        Assert.Equal([true, false], term);
        Assert.True(venv.IsDone(0));
        venv.Step([0.1f, 0f, 0.1f, 0f], rewards, term, trunc);
        Assert.Equal(0f, rewards[0]); // finished env is not stepped
        Assert.Equal([0.1f, 0f, 0.2f, 0f], venv.Observations.ToArray(), new FloatTolerance(1e-6f));
        Assert.True(trunc[1]);
        Assert.Throws<ArgumentException>(() => venv.Step([0f], rewards, term, trunc));
    }

    [Fact]
    public void RegistryNamesTheValidEnvs()
    {
        var e = Assert.Throws<UsageException>(() => EnvRegistry.Create("2d-nav"));
        Assert.Contains("2d-navigation", e.Message);
        foreach (var name in EnvRegistry.Names) Assert.Equal(name.StartsWith("bandit") ? name : name, EnvRegistry.Create(name).Name);
    }
}

public sealed class FloatTolerance(float tolerance) : IEqualityComparer<float>
{
    public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;
    public int GetHashCode(float obj) => 0;
}
