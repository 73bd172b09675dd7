using MetaRl.Algorithms.Classical;
using MetaRl.Envs.Bandits;

namespace MetaRl.Tests.Classical;

public class BanditAgentTests
{
    // UCB1 with the original c = 1 is left out: its bonus grows with ln t, so it keeps revisiting the other arms.
    public static TheoryData<string> Learners => new() { "Gittins", "TS", "OTS", "UCB1(0.2)", "UCB1-RL2(0.2)", "eps-Greedy(0)", "Greedy" };

    static BanditAgent Make(string name) => name switch
    {
        "Random" => new RandomBandit(),
        "Gittins" => new GittinsBandit(),
        "TS" => new ThompsonSampling(),
        "OTS" => new OptimisticThompsonSampling(),
        "UCB1(0.2)" => new Ucb1(0.2),
        "UCB1-RL2(0.2)" => new Rl2Ucb1(0.2),
        "eps-Greedy(0)" => new EpsilonGreedyBandit(0),
        _ => new GreedyBandit(),
    };

    /// <summary>The arms pulled in one trial on our env.</summary>
    static int[] Pulls(BanditAgent agent, double[] probs, int horizon, long seed)
    {
        var rng = new Rng(seed);
        var env = new BernoulliBanditEnv(new BanditTask(probs), rng.Split());
        var obs = new float[1];
        agent.Reset(probs.Length, horizon);
        var arms = new int[horizon];
        for (int t = 0; t < horizon; t++)
        {
            env.Reset(null, obs);
            arms[t] = agent.SelectArm(t, rng);
            agent.Update(arms[t], env.Step([arms[t]], obs).Reward);
        }
        return arms;
    }

    [Theory]
    [MemberData(nameof(Learners))]
    public void FindsAndKeepsTheOnlyPayingArm(string name)
    {
        // probs {0, 0, 1, 0}: one success identifies the arm for good, so every learner should settle on it.
        for (int seed = 0; seed < 20; seed++)
        {
            var arms = Pulls(Make(name), [0, 0, 1, 0], 50, seed);
            Assert.True(arms.Count(a => a == 2) >= 30, $"{name}, seed {seed}: only {arms.Count(a => a == 2)} of 50 pulls on the paying arm");
            Assert.All(arms[^15..], a => Assert.Equal(2, a));
        }
    }

    [Fact]
    public void RandomDoesNotSettle()
    {
        // The check above must be able to fail: a uniform agent spreads its pulls.
        var arms = Enumerable.Range(0, 20).SelectMany(seed => Pulls(new RandomBandit(), [0, 0, 1, 0], 50, seed)).ToArray();
        Assert.InRange(arms.Count(a => a == 2) / (double)arms.Length, 0.2, 0.3);
    }

    [Fact]
    public void Ucb1PullsEveryArmOnceFirst()
    {
        for (int seed = 0; seed < 10; seed++)
        {
            var arms = Pulls(new Ucb1(0.3), [0.9, 0.1, 0.5, 0.2, 0.7], 20, seed);
            Assert.Equal([0, 1, 2, 3, 4], arms[..5].Order());
        }
    }

    [Fact]
    public void Rl2sUcb1IsGreedyAtZeroAndItsBonusFavoursTheLessPulledArm()
    {
        // c = 0 leaves the posterior mean alone: the same pulls as Greedy, draw for draw.
        for (int seed = 0; seed < 10; seed++)
            Assert.Equal(Pulls(new GreedyBandit(), [0.3, 0.6, 0.5], 30, seed), Pulls(new Rl2Ucb1(0), [0.3, 0.6, 0.5], 30, seed));

        // Arm 0: 6 of 10 (mean 7/12 = 0.583), arm 1: 1 of 2 (mean 2/4 = 0.5); t = 12, bonus sqrt(2 ln 12 / (n + 2)):
        // 0.644 and 1.115. At c = 0.1 the scores are 0.648 and 0.611 (arm 0); at c = 0.3, 0.777 and 0.834 (arm 1).
        foreach (var (c, expected) in new[] { (0.1, 0), (0.3, 1) })
        {
            var agent = new Rl2Ucb1(c);
            agent.Reset(2, 100);
            for (int i = 0; i < 10; i++) agent.Update(0, i < 6 ? 1 : 0);
            agent.Update(1, 1); agent.Update(1, 0);
            Assert.Equal(expected, agent.SelectArm(12, new Rng(1)));
        }
    }

    [Fact]
    public void EpsilonGreedyExploresAtItsRate()
    {
        // Once the paying arm is known, the other arms are pulled only by the epsilon coin: eps * 3/4 of the time.
        var arms = Enumerable.Range(0, 40).SelectMany(seed => Pulls(new EpsilonGreedyBandit(0.2), [0, 0, 1, 0], 200, seed)[50..]).ToArray();
        Assert.InRange(arms.Count(a => a != 2) / (double)arms.Length, 0.15 - 0.02, 0.15 + 0.02);
    }

    [Fact]
    public void ThompsonSamplingPicksEachArmWithItsPosteriorProbabilityOfBeingBest()
    {
        // Arm 0 after one success is Beta(2, 1), arm 1 untouched is Beta(1, 1): P(X0 > X1) = E[X0] = 2/3.
        var ts = new ThompsonSampling();
        ts.Reset(2, 100);
        ts.Update(0, 1);
        var rng = new Rng(3);
        double share = Enumerable.Range(0, 20000).Count(_ => ts.SelectArm(0, rng) == 0) / 20000.0;
        Assert.Equal(2.0 / 3.0, share, 0.015);
    }

    [Fact]
    public void OptimisticThompsonSamplingNeverScoresBelowTheMean()
    {
        // max(X0, 2/3) against max(X1, 1/2): arm 0 wins whenever X1 <= 2/3 (prob 2/3), and otherwise when X0 > X1,
        // which adds the integral of (1 - x^2) over [2/3, 1] = 8/81; in all 62/81 = 0.765 (plain TS: 2/3).
        var ots = new OptimisticThompsonSampling();
        ots.Reset(2, 100);
        ots.Update(0, 1);
        var rng = new Rng(4);
        double share = Enumerable.Range(0, 20000).Count(_ => ots.SelectArm(0, rng) == 0) / 20000.0;
        Assert.Equal(62.0 / 81.0, share, 0.015);
    }

    [Fact]
    public void GittinsPrefersTheLessKnownArmOfEqualMeanWhilePullsRemain()
    {
        // Arm 0: 5 successes, 5 failures; arm 1: 1 and 1. Same mean, but with many pulls left learning about arm 1 pays.
        var g = new GittinsBandit();
        g.Reset(2, 30);
        for (int i = 0; i < 5; i++) { g.Update(0, 1); g.Update(0, 0); }
        g.Update(1, 1); g.Update(1, 0);
        Assert.Equal(1, g.SelectArm(12, new Rng(0)));
        // On the last pull only the mean counts, and the means are equal: either arm, at random.
        var picks = Enumerable.Range(0, 400).Select(i => g.SelectArm(29, new Rng(i))).ToArray();
        Assert.InRange(picks.Count(a => a == 1), 150, 250);
    }

    [Fact]
    public void TiesAreBrokenUniformly()
    {
        var rng = new Rng(8);
        var counts = new int[4];
        for (int i = 0; i < 40000; i++) counts[RandomTies.ArgMax([1.0, 3.0, 3.0, 3.0], rng)]++;
        Assert.Equal(0, counts[0]);
        Assert.All(counts[1..], c => Assert.InRange(c, 13333 - 400, 13333 + 400));
    }

    [Fact]
    public void BernoulliAgentsRejectNonBinaryRewards()
    {
        var agent = new GreedyBandit();
        agent.Reset(2, 5);
        Assert.Throws<ArgumentOutOfRangeException>(() => agent.Update(0, 0.5));
    }
}
