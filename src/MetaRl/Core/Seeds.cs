namespace MetaRl.Core;

/// <summary>
/// The fixed seeds of the evaluation protocol, by name: every run and every method sees the same tasks and the same
/// evaluation episodes, apart from the streams a run trains with. Changing one changes published numbers.
/// </summary>
public static class Seeds
{
    /// <summary>The default train / test / out-of-distribution task splits of every family.</summary>
    public const int TrainSplit = 1001, TestSplit = 2002, OodSplit = 3003;

    /// <summary>The bandit tasks `metarl belief` measures an agent's arm coverage on.</summary>
    public const int CoverageTasks = 4004;

    /// <summary>The episodes `metarl eval` runs a single-task policy for on each split.</summary>
    public const int SingleTaskEvaluation = 12345;

    /// <summary>Meta-learner evaluation <paramref name="k"/> (1, 2, ...) of a run trained with <paramref name="runSeed"/>.</summary>
    public static int Evaluation(int runSeed, int k) => runSeed * 1000 + k;

    /// <summary>The trials of a belief plot's coverage line, for a run trained with <paramref name="runSeed"/>.</summary>
    public static long BeliefTrials(int runSeed) => runSeed * 7919L + 29;

    /// <summary>`metarl render`: the adaptation and the drawn episodes of task k of a run.</summary>
    public static long Render(int runSeed, int task) => runSeed * 7919L + 31 + 1000L * task;

    /// <summary>RL2 tables: the tasks a setting's classical baselines are tuned on (n episodes per trial, k arms; 0 for MDPs).</summary>
    public static int TableTuningTasks(int episodes, int arms) => 800_000 + episodes * 100 + arms;

    /// <summary>RL2 tables: a setting's held-out tasks, from a generator no training run uses.</summary>
    public static int TableHeldOutTasks(int episodes, int arms) => 900_000 + episodes * 100 + arms;

    /// <summary>RL2 tables, for a table trained with <paramref name="seed"/>: the classical baselines' trials, RL2's trials and RL2's arm coverage.</summary>
    public static int TableClassicalTrials(int seed) => seed + 1;
    public static int TableRl2Trials(int seed) => seed + 2;
    public static int TableCoverage(int seed) => seed + 3;
}
