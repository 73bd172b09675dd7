using MetaRl.Algorithms.Classical;
using MetaRl.Envs.Bandits;
using MetaRl.Envs.TabularMdp;

namespace MetaRl.Tests.Classical;

public class ClassicalTrialsTests
{
    static readonly IReadOnlyList<BanditTask> Bandits = new BernoulliBanditDistribution(5).Sample(60, new Rng(1));
    static readonly IReadOnlyList<MdpTask> Mdps = new RandomMdpDistribution().Sample(30, new Rng(2));

    [Fact]
    public void SameSeedSameTotals()
    {
        // Each trial's generator comes from (seed, task index), so a seed fixes every total whatever the threads did.
        foreach (var b in ClassicalBaselines.Bandits)
        {
            var make = () => (BanditAgent)b.Make(b.Grid.Count > 0 ? b.Grid[2] : 0);
            Assert.Equal(ClassicalTrials.RunBandit(make, Bandits, 30, 7), ClassicalTrials.RunBandit(make, Bandits, 30, 7));
        }
        foreach (var b in ClassicalBaselines.Mdps)
        {
            var make = () => (MdpAgent)b.Make(b.Grid.Count > 0 ? b.Grid[1] : 0);
            Assert.Equal(ClassicalTrials.RunMdp(make, Mdps, 3, 10, 7), ClassicalTrials.RunMdp(make, Mdps, 3, 10, 7));
        }
        Assert.NotEqual(ClassicalTrials.RunBandit(() => new ThompsonSampling(), Bandits, 30, 7), ClassicalTrials.RunBandit(() => new ThompsonSampling(), Bandits, 30, 8));
    }

    [Fact]
    public void ATrialDependsOnlyOnTheSeedAndItsIndex()
    {
        var all = ClassicalTrials.RunMdp(() => new Psrl(), Mdps, 3, 10, 11);
        var firstTen = ClassicalTrials.RunMdp(() => new Psrl(), Mdps.Take(10).ToList(), 3, 10, 11);
        Assert.Equal(all[..10], firstTen);
    }

    [Fact]
    public void ZeroConstantsReduceToTheGreedyAgentsDrawForDraw()
    {
        // eps = 0 draws no coin, BEB(0) adds nothing, OPSRL(1) is one posterior sample: identical totals for a seed.
        Assert.Equal(ClassicalTrials.RunBandit(() => new GreedyBandit(), Bandits, 40, 3), ClassicalTrials.RunBandit(() => new EpsilonGreedyBandit(0), Bandits, 40, 3));
        var greedy = ClassicalTrials.RunMdp(() => new GreedyMdp(), Mdps, 4, 10, 3);
        Assert.Equal(greedy, ClassicalTrials.RunMdp(() => new Beb(0), Mdps, 4, 10, 3));
        Assert.Equal(greedy, ClassicalTrials.RunMdp(() => new EpsilonGreedyMdp(0), Mdps, 4, 10, 3));
        Assert.Equal(ClassicalTrials.RunMdp(() => new Psrl(), Mdps, 4, 10, 3), ClassicalTrials.RunMdp(() => new Opsrl(1), Mdps, 4, 10, 3));
        Assert.NotEqual(greedy, ClassicalTrials.RunMdp(() => new Beb(1), Mdps, 4, 10, 3));
    }

    [Fact]
    public void TotalsAreTheRewardsOfOurEnvs()
    {
        // Certain arms: every pull pays, or none does.
        Assert.All(ClassicalTrials.RunBandit(() => new RandomBandit(), [new BanditTask([1.0, 1.0]), new BanditTask([0.0, 0.0])], 25, 0).Zip([25.0, 0.0]),
            x => Assert.Equal(x.Second, x.First));
        // One state, noiseless rewards 2 and -1: a uniform agent's total is (2 - 1) / 2 per step on average, and
        // the greedy planner takes 2 every step from the second episode on (it plans once per episode, and in the
        // first both actions tie at the prior, so it may pay -1 up to 10 times).
        var task = new MdpTask(1, 2, [1.0, 1.0], [2.0, -1.0], RewardStd: 0);
        var random = ClassicalTrials.RunMdp(() => new RandomMdpAgent(), Enumerable.Repeat(task, 200).ToList(), 5, 10, 0);
        Assert.Equal(0.5 * 50, random.Average(), 2.5);
        var greedy = ClassicalTrials.RunMdp(() => new GreedyMdp(), [task], 50, 10, 0)[0];
        Assert.InRange(greedy, 2 * 490 - 10, 2 * 500);
    }

    [Fact]
    public void TuningPicksTheBestGridValueOnTheTrainingTasks()
    {
        var ucb = ClassicalBaselines.Bandits.Single(b => b.Name == "UCB1");
        var (chosen, scores) = ClassicalBaselines.TuneBandit(ucb, Bandits, 50, 5);
        Assert.Equal(ucb.Grid, scores.Select(s => s.Value));
        Assert.Equal(scores.MaxBy(s => s.Mean).Value, chosen);
        Assert.Equal(ClassicalTrials.RunBandit(() => new Ucb1(ucb.Grid[3]), Bandits, 50, 5).Average(), scores[3].Mean);

        var beb = ClassicalBaselines.Mdps.Single(b => b.Name == "BEB");
        var (bebChosen, bebScores) = ClassicalBaselines.TuneMdp(beb, Mdps, 3, 10, 5);
        Assert.Equal(bebScores.MaxBy(s => s.Mean).Value, bebChosen);
        // A huge bonus keeps the agent exploring for its own sake: beta = 10 must lose to the chosen one.
        Assert.True(bebScores[^1].Mean < bebScores.Max(s => s.Mean));

        var (none, noScores) = ClassicalBaselines.TuneBandit(ClassicalBaselines.Bandits[1], Bandits, 10, 5);
        Assert.True(double.IsNaN(none));
        Assert.Empty(noScores);
    }

    [Fact]
    public void TheBaselinesAreTheTablesColumnsInOrder()
    {
        Assert.Equal(["Random", "Gittins", "TS", "OTS", "UCB1", "UCB1 (RL2 code)", "eps-Greedy", "Greedy"], ClassicalBaselines.Bandits.Select(b => b.Name));
        Assert.Equal(ClassicalBaselines.BanditColumns, ClassicalBaselines.Bandits.Select(b => b.Column).Distinct());
        Assert.Equal(["Random", "PSRL", "OPSRL", "UCRL2", "BEB", "eps-Greedy", "Greedy"], ClassicalBaselines.Mdps.Select(b => b.Name));
        Assert.Equal(ClassicalBaselines.MdpColumns, ClassicalBaselines.Mdps.Select(b => b.Column));
        Assert.All(ClassicalBaselines.Bandits, b => Assert.IsAssignableFrom<BanditAgent>(b.Make(b.Grid.Count > 0 ? b.Grid[0] : double.NaN)));
        Assert.All(ClassicalBaselines.Mdps, b => Assert.IsAssignableFrom<MdpAgent>(b.Make(b.Grid.Count > 0 ? b.Grid[0] : double.NaN)));
        Assert.All(ClassicalBaselines.Bandits.Concat(ClassicalBaselines.Mdps), b => Assert.Equal(b.Constant is null, b.Grid.Count == 0));
    }

    [Fact]
    public void TheMdpBaselinesTakeTheRewardPriorTheyAreGiven()
    {
        // Every agent that plans on a posterior starts it at the prior asked for: the tasks' N(1, 1) by default,
        // the paper's N(0, 1) for the report's second set of columns.
        foreach (var (baselines, prior) in new[] { (ClassicalBaselines.Mdps, 1.0), (ClassicalBaselines.MdpsWithPrior(0), 0.0) })
        {
            Assert.Equal(ClassicalBaselines.MdpColumns, baselines.Select(b => b.Column));
            var planners = baselines.Select(b => b.Make(b.Grid.Count > 0 ? b.Grid[0] : double.NaN)).OfType<PlanningMdpAgent>().ToList();
            Assert.Equal(6, planners.Count);
            Assert.All(planners, a => Assert.Equal(prior, a.PriorRewardMean));
        }
        // The prior changes what an agent does: on the same tasks and seed, greedy with the paper's prior explores less.
        var greedyPaper = ClassicalBaselines.MdpsWithPrior(0).Single(b => b.Name == "Greedy");
        var greedyTasks = ClassicalBaselines.Mdps.Single(b => b.Name == "Greedy");
        double paper = ClassicalTrials.RunMdp(() => (MdpAgent)greedyPaper.Make(0), Mdps, 10, 10, 3).Average();
        double tasks = ClassicalTrials.RunMdp(() => (MdpAgent)greedyTasks.Make(0), Mdps, 10, 10, 3).Average();
        Assert.NotEqual(paper, tasks);
    }

    [Fact]
    public void BebIsGreedyWithAPriorRaisedByBeta()
    {
        // BEB's bonus beta / (1 + n) on the posterior mean (m + sum) / (1 + n) gives (m + beta + sum) / (1 + n): the
        // posterior mean under the prior N(m + beta, 1). So BEB(beta = 1) with the paper's prior 0 makes exactly the
        // choices of Greedy with the tasks' prior 1, task by task: why our Greedy scores near the paper's BEB.
        double[] beb = ClassicalTrials.RunMdp(() => new Beb(1) { PriorRewardMean = 0 }, Mdps, 10, 10, 4);
        double[] greedy = ClassicalTrials.RunMdp(() => new GreedyMdp(), Mdps, 10, 10, 4);
        Assert.Equal(greedy, beb);
        Assert.NotEqual(greedy, ClassicalTrials.RunMdp(() => new Beb(0.5) { PriorRewardMean = 0 }, Mdps, 10, 10, 4));
    }
}
