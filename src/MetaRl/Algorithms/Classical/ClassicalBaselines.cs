using MetaRl.Envs.Bandits;
using MetaRl.Envs.TabularMdp;

namespace MetaRl.Algorithms.Classical;

/// <summary>
/// A baseline of a table: its name, its tunable constant (null if none) with the grid it is tuned over
/// (empty if none), a factory from the constant's value to a fresh agent (a <see cref="BanditAgent"/>
/// or an <see cref="MdpAgent"/>; baselines without a constant ignore the value), and the column of RL2's
/// table it is compared with (its name unless given).
/// </summary>
public sealed record ClassicalBaseline(string Name, string? Constant, IReadOnlyList<double> Grid, Func<double, object> Make, string? PaperColumn = null)
{
    public string Column => PaperColumn ?? Name;
}

/// <summary>The columns of RL2's Tables 1 (bandits) and 2 (MDPs), and the tuning of their constants on training tasks.</summary>
public static class ClassicalBaselines
{
    static readonly double[] None = [];

    /// <summary>
    /// Random, Gittins, TS, OTS, UCB1, eps-Greedy, Greedy (Table 1's columns), and beside the textbook UCB1 the
    /// variant RL2's code ran under that name (<see cref="Rl2Ucb1"/>).
    /// </summary>
    public static IReadOnlyList<ClassicalBaseline> Bandits { get; } =
    [
        new("Random", null, None, _ => new RandomBandit()),
        new("Gittins", null, None, _ => new GittinsBandit()),
        new("TS", null, None, _ => new ThompsonSampling()),
        new("OTS", null, None, _ => new OptimisticThompsonSampling()),
        new("UCB1", "c", [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0], c => new Ucb1(c)),
        new("UCB1 (RL2 code)", "c", [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0], c => new Rl2Ucb1(c), "UCB1"),
        new("eps-Greedy", "epsilon", [0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3], e => new EpsilonGreedyBandit(e)),
        new("Greedy", null, None, _ => new GreedyBandit()),
    ];

    /// <summary>Table 1's columns, as the paper prints them.</summary>
    public static IReadOnlyList<string> BanditColumns { get; } = ["Random", "Gittins", "TS", "OTS", "UCB1", "eps-Greedy", "Greedy"];

    /// <summary>Table 2's columns, as the paper prints them.</summary>
    public static IReadOnlyList<string> MdpColumns { get; } = ["Random", "PSRL", "OPSRL", "UCRL2", "BEB", "eps-Greedy", "Greedy"];

    /// <summary>Random, PSRL, OPSRL, UCRL2, BEB, eps-Greedy, Greedy (Table 2's columns), with the tasks' reward prior N(1, 1).</summary>
    public static IReadOnlyList<ClassicalBaseline> Mdps { get; } = MdpsWithPrior(MdpPosterior.DefaultPriorRewardMean);

    /// <summary>
    /// Table 2's baselines whose posterior starts every mean reward at N(<paramref name="priorRewardMean"/>, 1).
    /// 0 is the default of Osband's TabulaRL agents, which RL2's table ran: an untried action then looks worse
    /// than the tasks' N(1, 1) makes it, and the planners explore less (docs/algorithms/classical.md).
    /// </summary>
    public static IReadOnlyList<ClassicalBaseline> MdpsWithPrior(double priorRewardMean) =>
    [
        new("Random", null, None, _ => new RandomMdpAgent()),
        new("PSRL", null, None, _ => new Psrl { PriorRewardMean = priorRewardMean }),
        new("OPSRL", "samples", [1, 2, 5, 10, 20], j => new Opsrl(checked((int)j)) { PriorRewardMean = priorRewardMean }),
        new("UCRL2", "scale", [0.01, 0.03, 0.1, 0.3, 1], c => new Ucrl2(c) { PriorRewardMean = priorRewardMean }),
        new("BEB", "beta", [0, 0.1, 0.3, 1, 3, 10], b => new Beb(b) { PriorRewardMean = priorRewardMean }),
        new("eps-Greedy", "epsilon", [0, 0.01, 0.05, 0.1, 0.2, 0.3], e => new EpsilonGreedyMdp(e) { PriorRewardMean = priorRewardMean }),
        new("Greedy", null, None, _ => new GreedyMdp { PriorRewardMean = priorRewardMean }),
    ];

    /// <summary>
    /// Picks the grid value with the highest mean total reward on the given (training) tasks, the first
    /// on ties; every grid value is run with the same seed (common random numbers). A baseline without a
    /// constant runs nothing and returns (NaN, []): its factory ignores the value.
    /// </summary>
    public static (double Chosen, IReadOnlyList<(double Value, double Mean)> Scores) TuneBandit(ClassicalBaseline b, IReadOnlyList<BanditTask> trainTasks, int pulls, long seed) =>
        Tune(b, v => ClassicalTrials.RunBandit(() => (BanditAgent)b.Make(v), trainTasks, pulls, seed));

    /// <summary>As <see cref="TuneBandit"/>, for the MDP baselines.</summary>
    public static (double Chosen, IReadOnlyList<(double Value, double Mean)> Scores) TuneMdp(ClassicalBaseline b, IReadOnlyList<MdpTask> trainTasks, int episodes, int episodeLength, long seed) =>
        Tune(b, v => ClassicalTrials.RunMdp(() => (MdpAgent)b.Make(v), trainTasks, episodes, episodeLength, seed));

    static (double, IReadOnlyList<(double, double)>) Tune(ClassicalBaseline b, Func<double, double[]> run)
    {
        if (b.Constant is null || b.Grid.Count == 0) return (double.NaN, []);
        var scores = new List<(double, double)>();
        double chosen = double.NaN, best = double.NegativeInfinity;
        foreach (var v in b.Grid)
        {
            double mean = run(v).Average();
            scores.Add((v, mean));
            if (mean > best) (chosen, best) = (v, mean);
        }
        return (chosen, scores);
    }
}
