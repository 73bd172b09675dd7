using MetaRl.Algorithms.Classical;
using MetaRl.Envs.Bandits;
using MetaRl.Envs.TabularMdp;

namespace MetaRl.Tests.Classical;

/// <summary>
/// Our baselines against the figures of RL2's Tables 1 and 2 (Duan et al. 2016), where the definitions agree.
/// The paper's figures are means of 1000 trials, printed to 0.1: the tolerance is 3 standard errors of the
/// difference (ours and theirs, assuming their spread equals ours) plus the rounding.
/// Known, explained mismatches are not asserted here: the paper's OTS is a different algorithm (its UCB1 is too: see <see cref="Rl2Ucb1"/>, asserted below), and its
/// MDP agents used a N(0, 1) reward prior (see the classes' documentation).
/// </summary>
public class PaperTableTests
{
    static void AssertMatches(double paper, double[] totals, string what)
    {
        double mean = totals.Average();
        double sd = Math.Sqrt(totals.Sum(x => (x - mean) * (x - mean)) / (totals.Length - 1));
        double tolerance = 3 * Math.Sqrt(sd * sd / totals.Length + sd * sd / 1000) + 0.05;
        Assert.True(Math.Abs(mean - paper) <= tolerance, $"{what}: {mean:F3} (standard error {sd / Math.Sqrt(totals.Length):F3}), paper {paper}, tolerance {tolerance:F3}");
    }

    static BanditAgent MakeBandit(string name) => name switch
    {
        "Random" => new RandomBandit(),
        "Gittins" => new GittinsBandit(),
        "TS" => new ThompsonSampling(),
        _ => new GreedyBandit(),
    };

    [Theory]
    [InlineData("Random", 10, 5.0)]
    [InlineData("Gittins", 10, 6.6)]
    [InlineData("TS", 10, 5.7)]
    [InlineData("Greedy", 10, 6.6)]
    [InlineData("Random", 100, 49.9)]
    [InlineData("Gittins", 100, 78.3)]
    [InlineData("TS", 100, 74.7)]
    [InlineData("Greedy", 100, 74.8)]
    [Trait(Category.Name, Category.Slow)]
    public void FixedBanditBaselinesMatchTable1(string name, int pulls, double paper)
    {
        var tasks = new BernoulliBanditDistribution(5).Sample(2000, new Rng(2016));
        AssertMatches(paper, ClassicalTrials.RunBandit(() => MakeBandit(name), tasks, pulls, 1), $"{name}, n = {pulls}, k = 5");
    }

    [Theory]
    [InlineData("UCB1", 78.0)]
    [InlineData("UCB1 (RL2 code)", 78.0)]
    [InlineData("eps-Greedy", 75.4)]
    public void TunedBanditBaselinesMatchTable1AtAHundredPulls(string name, double paper)
    {
        // Tuned on training tasks, evaluated on others. (At n = 10 our UCB1 cannot match: pulling each of the 5 arms
        // once first leaves 5 pulls, and even an oracle would then average at most 2.5 + 5 * 5/6 = 6.67.)
        var d = new BernoulliBanditDistribution(5);
        var b = ClassicalBaselines.Bandits.Single(x => x.Name == name);
        var (chosen, _) = ClassicalBaselines.TuneBandit(b, d.Sample(500, new Rng(7)), 100, 2);
        AssertMatches(paper, ClassicalTrials.RunBandit(() => (BanditAgent)b.Make(chosen), d.Sample(2000, new Rng(2016)), 100, 1), $"{name}({chosen}), n = 100, k = 5");
    }

    [Fact]
    public void Rl2sOwnUcb1MatchesTable1AtTenPulls()
    {
        // Where the textbook UCB1 cannot (see above), the variant RL2's code ran reaches the paper's 6.7.
        var d = new BernoulliBanditDistribution(5);
        var b = ClassicalBaselines.Bandits.Single(x => x.Name == "UCB1 (RL2 code)");
        var (chosen, _) = ClassicalBaselines.TuneBandit(b, d.Sample(1000, new Rng(7)), 10, 2);
        AssertMatches(6.7, ClassicalTrials.RunBandit(() => (BanditAgent)b.Make(chosen), d.Sample(4000, new Rng(2016)), 10, 1), $"UCB1 (RL2 code)({chosen}), n = 10, k = 5");
    }

    [Fact]
    public void RandomMatchesTable2()
    {
        var tasks = new RandomMdpDistribution().Sample(2000, new Rng(2016));
        AssertMatches(100.1, ClassicalTrials.RunMdp(() => new RandomMdpAgent(), tasks, 10, 10, 1), "Random, 10 episodes");
    }

    [Theory]
    [InlineData("PSRL", 138.1)]
    [InlineData("Greedy", 134.8)]
    [Trait(Category.Name, Category.Slow)]
    public void WithRl2sRewardPriorPsrlAndGreedyMatchTable2(string name, double paper)
    {
        // RL2 ran Osband's TabulaRL agents with their default reward prior N(0, 1) rather than the tasks' N(1, 1);
        // with that prior our agents reproduce the paper's columns. (With the tasks' prior, greedy scores ~154.)
        var tasks = new RandomMdpDistribution().Sample(2000, new Rng(2016));
        Func<MdpAgent> make = name == "PSRL" ? () => new Psrl { PriorRewardMean = 0 } : () => new GreedyMdp { PriorRewardMean = 0 };
        AssertMatches(paper, ClassicalTrials.RunMdp(make, tasks, 10, 10, 1), $"{name} with prior mean 0, 10 episodes");
    }
}
