using System.Globalization;
using MetaRl.Algorithms.Classical;

namespace MetaRl.Experiments;

/// <summary>The rows of RL2's Tables 1 and 2: the paper's numbers and the settings our RL2 trains with, as data.</summary>
public static partial class Rl2Reproduction
{
    /// <summary>A row of a table: n episodes per trial, k arms (0 for MDPs), the paper's baselines in column order, its RL2, and our RL2 training settings.</summary>
    public sealed record Setting(string Label, int Episodes, int Arms, double[] Paper, double PaperRl2, bool InDefaultSubset, IReadOnlyDictionary<string, string> Training);

    static Dictionary<string, string> Rl2(int episodes, int hidden, int batch, double lr, int iterations, double entCoef = 0.01, string valueNetwork = "shared", string cell = "standard") => new()
    {
        ["optimizer"] = "ppo", ["episodes-per-trial"] = $"{episodes}", ["hidden-size"] = $"{hidden}", ["batch-size"] = $"{batch}",
        ["lr"] = lr.ToString(CultureInfo.InvariantCulture), ["num-batches"] = $"{iterations}", ["checkpoint-every"] = "10", ["anneal-lr"] = "true",
        ["ent-coef"] = entCoef.ToString(CultureInfo.InvariantCulture), ["value-network"] = valueNetwork, ["gru-cell"] = cell,
    };

    // Long trials and MDPs: pytorch_rl2's layer-normalised GRU, a separate value GRU, a stronger entropy bonus
    // and, for bandits, a lower learning rate. With PyTorch's GRU every n = 100, k = 5 run plateaued at 70-75 (below Greedy)
    // however it was tuned (docs/algorithms/rl2.md); the layer-normalised cell passed 75 within 50 updates of
    // 20,000 steps and reached 78 by update 400. With the shared GRU, ent-coef 0.01 and lr 3e-3 the policy
    // turned deterministic within ~100 updates and stalled; ent-coef 0.01 with the layer-norm cell still fell
    // to entropy 0.07 by update 75 (74 against 75 with 0.05). The MDPs of the bars train with lr 3e-3: at
    // n = 10 it learned faster and ended 2 higher (128.2 against 126.1 over the last 25 updates), where nothing
    // else tried moved the plateau (docs/algorithms/rl2.md, fourth round); held at that rate for 6,520 updates and then
    // annealed over 1,000 more it reached 145.20 (seventh round), and no longer run of it did better. The MDPs also
    // train with task-coef 0.5 (a deviation from the paper's objective: the memory is supervised with the task's
    // mean rewards during meta-training, Humplik et al. 2019), which got further in 2,340 updates than the run
    // without it in 7,520 (fourteenth round). n = 25 uses the paper's 256 units and gamma 1 (the undiscounted total
    // the table scores), held for 1,200 updates and decayed over 750: training return 437.9, above the 128-unit
    // agent's 437.6 after 7,980 updates, in a quarter of the steps (eighteenth round); a warm restart at 1e-3,
    // decayed over 600 more, took it to 440.2, and n = 10 from 154.5 to 155.1 (nineteenth round).
    // n = 100, k = 10 uses the paper's 256 units and uniform-coef 0.001 (a deviation from the paper's objective) because its agent dropped an arm for
    // good with 128 units (81.88) and in one 256-unit run (81.92): the entropy bonus's gradient vanishes with an arm's probability,
    // KL(uniform || pi)'s does not (docs/algorithms/rl2.md, "Dropped arms" and the twelfth round). At k = 5, 128
    // units already try every arm. n = 100, k = 10 also trains with task-coef 0.5: it learned faster early and
    // scored 82.70 against 82.27, level with the RL2 code's UCB1 where that run had been below, a difference
    // within the spread of this setting's draws (81.92-82.89; fifteenth round).
    // k = 5 trains 600 annealed updates and k = 10 900 so that the full table fits the 3 hours on the
    // slower of our machines (at most 1.80 h there; 78.10 at k = 5 took 2,360 updates, 2.5 h of one core alone).
    static Dictionary<string, string> Rl2LayerNorm(int episodes, int batch, int iterations, double lr = 1e-3, int hidden = 128, int annealFrom = 0,
        double uniformCoef = 0, double taskCoef = 0, double? gamma = null, int restartAt = 0, double restartLr = 0)
    {
        var values = Rl2(episodes, hidden, batch, lr, iterations, 0.05, "separate", "layer-norm");
        if (annealFrom > 0) values["anneal-from"] = $"{annealFrom}";
        if (restartAt > 0) { values["restart-at"] = $"{restartAt}"; values["restart-lr"] = restartLr.ToString(CultureInfo.InvariantCulture); }
        if (uniformCoef > 0) values["uniform-coef"] = uniformCoef.ToString(CultureInfo.InvariantCulture);
        if (taskCoef > 0) values["task-coef"] = taskCoef.ToString(CultureInfo.InvariantCulture);
        if (gamma is { } g) values["gamma"] = g.ToString(CultureInfo.InvariantCulture); // else the config's default
        return values;
    }

    /// <summary>Table 1 (values as tabulated in shared/reference/rl2.md), in the order of <see cref="ClassicalBaselines.BanditColumns"/>.</summary>
    public static readonly Setting[] BanditTable =
    [
        new("n=10, k=5", 10, 5, [5.0, 6.6, 5.7, 6.5, 6.7, 6.6, 6.6], 6.7, true, Rl2(10, 128, 10_000, 3e-3, 300)),
        new("n=10, k=10", 10, 10, [5.0, 6.6, 5.5, 6.2, 6.7, 6.6, 6.6], 6.7, true, Rl2(10, 128, 10_000, 3e-3, 300)),
        new("n=10, k=50", 10, 50, [5.1, 6.5, 5.2, 5.5, 6.6, 6.5, 6.5], 6.8, false, Rl2(10, 128, 10_000, 3e-3, 300)),
        new("n=100, k=5", 100, 5, [49.9, 78.3, 74.7, 77.9, 78.0, 75.4, 74.8], 78.7, true, Rl2LayerNorm(100, 20_000, 600)),
        new("n=100, k=10", 100, 10, [49.9, 82.8, 76.7, 81.4, 82.4, 77.4, 77.1], 83.5, true, Rl2LayerNorm(100, 20_000, 900, hidden: 256, uniformCoef: 0.001, taskCoef: 0.5)),
        new("n=100, k=50", 100, 50, [49.8, 85.2, 64.5, 67.7, 84.3, 78.3, 78.0], 84.9, false, Rl2LayerNorm(100, 20_000, 600)),
        new("n=500, k=5", 500, 5, [249.8, 405.8, 402.0, 406.7, 405.8, 388.2, 380.6], 401.6, false, Rl2LayerNorm(500, 50_000, 200)),
        new("n=500, k=10", 500, 10, [249.0, 437.8, 429.5, 438.9, 437.1, 408.0, 395.0], 432.5, false, Rl2LayerNorm(500, 50_000, 200)),
        new("n=500, k=50", 500, 50, [249.6, 463.7, 427.2, 437.6, 457.6, 413.6, 402.8], 438.9, false, Rl2LayerNorm(500, 50_000, 200)),
    ];

    /// <summary>Table 2, in the order of <see cref="ClassicalBaselines.MdpColumns"/>.</summary>
    public static readonly Setting[] MdpTable =
    [
        new("n=10", 10, 0, [100.1, 138.1, 144.1, 146.6, 150.2, 132.8, 134.8], 156.2, true, Rl2LayerNorm(10, 20_000, 3340, lr: 3e-3, annealFrom: 2340, taskCoef: 0.5, restartAt: 2740, restartLr: 1e-3)),
        new("n=25", 25, 0, [250.2, 408.8, 425.2, 424.1, 427.8, 377.3, 368.8], 445.7, true, Rl2LayerNorm(25, 25_000, 2550, lr: 3e-3, hidden: 256, annealFrom: 1200, taskCoef: 0.5, gamma: 1, restartAt: 1950, restartLr: 1e-3)),
        new("n=50", 50, 0, [499.7, 904.4, 930.7, 918.9, 917.8, 823.3, 769.3], 936.1, false, Rl2LayerNorm(50, 25_000, 400, taskCoef: 0.5)),
        new("n=75", 75, 0, [749.9, 1417.1, 1449.2, 1427.6, 1422.6, 1293.9, 1172.9], 1428.8, false, Rl2LayerNorm(75, 30_000, 300, taskCoef: 0.5)),
        new("n=100", 100, 0, [999.4, 1939.5, 1973.9, 1942.1, 1935.1, 1778.2, 1578.5], 1913.7, false, Rl2LayerNorm(100, 40_000, 300, taskCoef: 0.5)),
    ];
}
