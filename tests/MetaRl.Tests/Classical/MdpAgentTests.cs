using MetaRl.Algorithms.Classical;
using MetaRl.Envs.TabularMdp;

namespace MetaRl.Tests.Classical;

public class MdpAgentTests
{
    public static TheoryData<string> Learners => new() { "PSRL", "OPSRL(5)", "Greedy", "BEB(0.3)", "UCRL2(0.1)", "eps-Greedy(0.05)" };

    static MdpAgent Make(string name) => name switch
    {
        "PSRL" => new Psrl(),
        "OPSRL(5)" => new Opsrl(5),
        "Greedy" => new GreedyMdp(),
        "BEB(0.3)" => new Beb(0.3),
        "UCRL2(0.1)" => new Ucrl2(0.1),
        "eps-Greedy(0.05)" => new EpsilonGreedyMdp(0.05),
        _ => new RandomMdpAgent(),
    };

    /// <summary>A random 10x5 MDP whose action 2 pays 2.5 on average everywhere and the others 0: the optimum is 25 per episode.</summary>
    static MdpTask OneGoodAction(long seed)
    {
        var t = new RandomMdpDistribution().Sample(1, new Rng(seed))[0];
        var mu = new double[t.States * t.Actions];
        for (int s = 0; s < t.States; s++) mu[s * t.Actions + 2] = 2.5;
        return t with { RewardMeans = mu };
    }

    /// <summary>The return of each episode of one trial.</summary>
    static double[] EpisodeReturns(MdpAgent agent, MdpTask task, int episodes, long seed)
    {
        var rng = new Rng(seed);
        var env = new TabularMdpEnv(task, 10, rng.Split());
        var obs = new float[task.States];
        agent.Reset(task.States, task.Actions, 10, episodes);
        var returns = new double[episodes];
        for (int e = 0; e < episodes; e++)
        {
            env.Reset(null, obs);
            agent.BeginEpisode(rng);
            for (int t = 0; t < 10; t++)
            {
                int s = env.State, a = agent.Act(s, t, rng);
                double r = env.Step([a], obs).Reward;
                agent.Update(s, a, r, env.State);
                returns[e] += r;
            }
        }
        return returns;
    }

    [Fact]
    public void TheTestMdpsOptimumIs25()
    {
        var task = OneGoodAction(1);
        var q = TabularPlanner.Plan(task.States, task.Actions, 10, task.Transitions, task.RewardMeans);
        Assert.Equal(25, TabularPlanner.Value(q, task.States, task.Actions, 0, 0), 9);
    }

    [Theory]
    [MemberData(nameof(Learners))]
    public void LearnersReachMostOfTheOptimalValue(string name)
    {
        // After 20 episodes (200 steps) every learner should have found action 2 in the states it visits.
        var late = Enumerable.Range(0, 10).SelectMany(i => EpisodeReturns(Make(name), OneGoodAction(i), 30, 100 + i)[20..]).Average();
        Assert.True(late >= 0.9 * 25, $"{name}: {late:F2} per episode in episodes 21-30, optimum 25");
    }

    [Fact]
    public void RandomStaysFarFromTheOptimum()
    {
        // The check above must be able to fail: a uniform policy gets 2.5 / 5 per step.
        var late = Enumerable.Range(0, 10).SelectMany(i => EpisodeReturns(new RandomMdpAgent(), OneGoodAction(i), 30, 100 + i)[20..]).Average();
        Assert.InRange(late, 3.5, 6.5);
    }

    [Fact]
    public void GreedyFollowsItsPlan()
    {
        // After one observed reward of 3 for (0, 1) in a one-state MDP, the posterior mean of action 1 is (1 + 3) / 2 = 2,
        // above the prior mean 1 of the untried actions: greedy must pick it at every step.
        var g = new GreedyMdp();
        g.Reset(1, 3, 4, 1);
        g.Update(0, 1, 3.0, 0);
        g.BeginEpisode(new Rng(0));
        Assert.Equal(2 * 4, TabularPlanner.Value(g.Q.ToArray(), 1, 3, 0, 0), 9);
        for (int t = 0; t < 4; t++) Assert.Equal(1, g.Act(0, t, new Rng(t)));
    }

    [Fact]
    public void BebBonusShrinksWithVisits()
    {
        // BEB(beta) adds beta / (1 + n): with beta = 3 an untried action (1 + 3) beats one tried once at 1.5 ((1 + 2) / 2 + 1.5).
        var b = new Beb(3);
        b.Reset(1, 2, 1, 1);
        b.Update(0, 0, 2.0, 0);
        b.BeginEpisode(new Rng(0));
        Assert.Equal([1.5 + 1.5, 1 + 3], b.Q.ToArray(), new DoubleTolerance(1e-12));
        Assert.Equal(1, b.Act(0, 0, new Rng(0)));
    }

    [Fact]
    public void OpsrlIsTheEnvelopeOfItsSamplesPlans()
    {
        // Each sample's plan is a lower bound on the envelope; with more samples the plan can only rise.
        var task = new RandomMdpDistribution().Sample(1, new Rng(4))[0];
        var one = new Opsrl(1);
        var many = new Opsrl(8);
        foreach (var agent in new[] { one, many })
        {
            agent.Reset(10, 5, 10, 1);
            for (int i = 0; i < 30; i++) agent.Update(i % 10, i % 5, task.R(i % 10, i % 5), (i * 7) % 10);
        }
        double singleMean = 0, manyMean = 0;
        for (int k = 0; k < 50; k++)
        {
            one.BeginEpisode(new Rng(k)); many.BeginEpisode(new Rng(1000 + k));
            singleMean += TabularPlanner.Value(one.Q.ToArray(), 10, 5, 0, 0) / 50;
            manyMean += TabularPlanner.Value(many.Q.ToArray(), 10, 5, 0, 0) / 50;
        }
        Assert.True(manyMean > singleMean + 1, $"{manyMean} vs {singleMean}");
    }
}

public sealed class DoubleTolerance(double tolerance) : IEqualityComparer<double>
{
    public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance;
    public int GetHashCode(double obj) => 0;
}
