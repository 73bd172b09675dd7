using System.Globalization;
using System.Text;
using MetaRl.Algorithms.MultiTask;
using MetaRl.Envs.Suites;
using MetaRl.Evaluation;

namespace MetaRl.Experiments;

/// <summary>
/// `metarl transfer`: whether a suite's tasks help or hurt each other. On the same per-task budget (iterations x
/// episodes per task) and seeds, a multi-task learner (MT-PPO, or MT-SAC) trains one network on every task (one-hot conditioning) and, as the
/// single-task baseline, one network per task (conditioning: independent, trained side by side). Each task's
/// transfer is
/// <code>
///   transfer_t = (R_t(multi-task) - R_t(untrained)) / (R_t(single-task) - R_t(untrained))
/// </code>
/// with R the return of the most likely actions, each a mean over seeds: above 1 positive transfer, below 1 negative. Returns are measured
/// from the untrained policy's, so the ratio means the same for negative rewards (-distance). The pairwise version
/// trains every pair (i, j) together: entry (i, j) is task i's transfer when trained beside j alone. The capacity
/// sweep repeats the comparison at several widths: where the multi-task network falls behind at small widths and
/// catches up at large ones, interference is a capacity problem.
/// </summary>
public static class TransferStudy
{
    public sealed record Options(string Suite, int Iterations, IReadOnlyList<int> Seeds, bool Pairwise, IReadOnlyList<int> Widths, IReadOnlyDictionary<string, string> Values,
        int EvalEpisodes = 2, string Algorithm = "mt-ppo");

    /// <summary>One task's figures at one width, over seeds.</summary>
    public sealed record TaskTransfer(string Task, int Width, long MultiTaskParameters, long SingleTaskParameters, double Untrained, double SingleTask, double MultiTask,
        double Transfer, double DifferenceCi95, double SingleTaskSuccess, double MultiTaskSuccess);

    public sealed record Result(TaskSuite Suite, Options Options, IReadOnlyList<TaskTransfer> Tasks, double[,]? Pairwise, double Seconds, int EpisodesPerTask);

    public static Result Run(Options o, TextWriter log)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var suite = SuiteRegistry.Create(o.Suite);
        int t = suite.TaskCount;
        var rows = new List<TaskTransfer>();
        foreach (int width in o.Widths)
        {
            var untrained = new double[o.Seeds.Count][];
            var single = new (double[] Return, double[] Success)[o.Seeds.Count];
            var multi = new (double[] Return, double[] Success)[o.Seeds.Count];
            long stParams = 0, mtParams = 0;
            for (int s = 0; s < o.Seeds.Count; s++)
            {
                int seed = o.Seeds[s];
                log.WriteLine($"width {width}, seed {seed}: single-task networks ...");
                (single[s], untrained[s], stParams) = Train(o, suite, Values(o, width, "independent"), seed);
                log.WriteLine($"width {width}, seed {seed}: one multi-task network ...");
                (multi[s], _, mtParams) = Train(o, suite, Values(o, width, "one-hot"), seed);
            }
            for (int k = 0; k < t; k++)
            {
                // The ratio of the means over seeds (a seed's own ratio explodes where its single-task gain is near 0); the
                // CI is of the return difference multi - single over seeds.
                var (_, ci) = Statistics.MeanAndCi95(Enumerable.Range(0, o.Seeds.Count).Select(s => multi[s].Return[k] - single[s].Return[k]).ToList());
                double u = untrained.Average(x => x[k]), st = single.Average(x => x.Return[k]), mt = multi.Average(x => x.Return[k]);
                rows.Add(new TaskTransfer(suite.Tasks[k].Name, width, mtParams, stParams, u, st, mt, Ratio(mt, st, u), o.Seeds.Count > 1 ? ci : double.NaN,
                    single.Average(x => x.Success[k]), multi.Average(x => x.Success[k])));
            }
        }

        double[,]? pairwise = null;
        if (o.Pairwise)
        {
            // Entry (i, j): task i's transfer when trained beside task j alone, at the first width.
            int width = o.Widths[0];
            pairwise = new double[t, t];
            var baseline = rows.Where(r => r.Width == width).ToList();
            for (int i = 0; i < t; i++) pairwise[i, i] = 1;
            for (int i = 0; i < t; i++)
                for (int j = i + 1; j < t; j++)
                {
                    var pair = new TaskSuite($"{suite.Name}:{suite.Tasks[i].Name}+{suite.Tasks[j].Name}", "a pair of the suite's tasks", suite.Family, [suite.Tasks[i], suite.Tasks[j]]);
                    log.WriteLine($"pair {suite.Tasks[i].Name} + {suite.Tasks[j].Name} ...");
                    var returns = o.Seeds.Select(seed => Train(o, pair, Values(o, width, "one-hot"), seed).Scores.Return).ToList();
                    pairwise[i, j] = Ratio(returns.Average(r => r[0]), baseline[i].SingleTask, baseline[i].Untrained);
                    pairwise[j, i] = Ratio(returns.Average(r => r[1]), baseline[j].SingleTask, baseline[j].Untrained);
                }
        }
        using var probe = new TrainingRun(o.Algorithm, suite, Values(o, o.Widths[0], "one-hot"), o.Seeds[0]);
        return new Result(suite, o, rows, pairwise, clock.Elapsed.TotalSeconds, probe.Get<MultiTaskConfig>().EpisodesPerTask);
    }

    /// <summary>The transfer ratio; undefined (NaN) where the single-task networks did not improve on the untrained policy, so there is no gain to compare with.</summary>
    static double Ratio(double multi, double single, double untrained)
    {
        double gain = single - untrained;
        return gain <= 1e-9 ? double.NaN : (multi - untrained) / gain;
    }

    /// <summary>The runs' values at a width: independent networks take the plain summed gradient (they share nothing to combine).</summary>
    static Dictionary<string, string> Values(Options o, int width, string conditioning)
    {
        var v = new Dictionary<string, string>(o.Values) { ["conditioning"] = conditioning, ["num-batches"] = $"{o.Iterations}", ["hidden-sizes"] = $"{width},{width}" };
        if (conditioning == "independent") v["gradient"] = "sum";
        return v;
    }

    /// <summary>Trains the multi-task learner on the suite; returns the per-task scores after training, the untrained policy's returns and the policy's parameters.</summary>
    static ((double[] Return, double[] Success) Scores, double[] Untrained, long Parameters) Train(Options o, TaskSuite suite, Dictionary<string, string> values, int seed)
    {
        using var run = new TrainingRun(o.Algorithm, suite, values, seed);
        var learner = run.Learner as IMultiTaskLearner ?? throw new UsageException($"{o.Algorithm} is not a multi-task learner (mt-ppo, mt-sac)");
        var before = learner.Evaluate(o.EvalEpisodes, new Rng(Seeds.Evaluation(seed, 1)));
        for (int i = 0; i < o.Iterations; i++) run.RunIteration();
        var after = learner.Evaluate(o.EvalEpisodes, new Rng(Seeds.Evaluation(seed, 1)));
        long parameters = learner.Policy.Parameters.NumScalars + (learner.Policy.Input.Embedding?.numel() ?? 0);
        return ((after.Select(x => x.MeanReturn).ToArray(), after.Select(x => x.SuccessRate).ToArray()), before.Select(x => x.MeanReturn).ToArray(), parameters);
    }

    public static string ToCsv(Result r)
    {
        var sb = new StringBuilder("task,width,multi_task_parameters,single_task_parameters,untrained_return,single_task_return,multi_task_return,transfer,difference_ci95,single_task_success,multi_task_success\n");
        foreach (var x in r.Tasks)
            sb.AppendLine(string.Join(",", x.Task, I(x.Width), I(x.MultiTaskParameters), I(x.SingleTaskParameters), D(x.Untrained), D(x.SingleTask), D(x.MultiTask), D(x.Transfer), D(x.DifferenceCi95), D(x.SingleTaskSuccess), D(x.MultiTaskSuccess)));
        return sb.ToString();
    }

    /// <summary>Reads <see cref="ToCsv"/>'s file back (rows in the file's order).</summary>
    public static List<TaskTransfer> FromCsv(string path)
    {
        var lines = File.ReadAllLines(path).Where(l => l.Length > 0).ToList();
        if (lines.Count < 2 || !lines[0].StartsWith("task,width,multi_task_parameters,", StringComparison.Ordinal))
            throw new UsageException($"{path} is not a transfer.csv of 'metarl transfer' (no rows, or another header)");
        var inv = CultureInfo.InvariantCulture;
        double D(string v) => double.Parse(v, inv);
        return lines.Skip(1).Select(l => l.Split(',')).Select(c => new TaskTransfer(c[0], int.Parse(c[1], inv), long.Parse(c[2], inv), long.Parse(c[3], inv),
            D(c[4]), D(c[5]), D(c[6]), D(c[7]), D(c[8]), D(c[9]), D(c[10]))).ToList();
    }

    /// <summary>Reads <see cref="PairwiseCsv"/>'s file back: the task names and the matrix.</summary>
    public static (List<string> Names, double[,] Matrix) PairwiseFromCsv(string path)
    {
        var rows = File.ReadAllLines(path).Where(l => l.Length > 0).Skip(1).Select(l => l.Split(',')).ToList();
        var names = rows.Select(r => r[0]).ToList();
        var m = new double[names.Count, names.Count];
        for (int i = 0; i < names.Count; i++)
            for (int j = 0; j < names.Count; j++)
                m[i, j] = double.Parse(rows[i][j + 1], CultureInfo.InvariantCulture);
        return (names, m);
    }

    public static string PairwiseCsv(Result r)
    {
        var names = r.Suite.Tasks.Select(t => t.Name).ToList();
        var sb = new StringBuilder("task," + string.Join(",", names.Select(n => "with_" + n)) + "\n");
        for (int i = 0; i < names.Count; i++)
            sb.AppendLine(names[i] + "," + string.Join(",", Enumerable.Range(0, names.Count).Select(j => D(r.Pairwise![i, j]))));
        return sb.ToString();
    }

    public static string Report(Result r)
    {
        var o = r.Options;
        var sb = new StringBuilder();
        sb.AppendLine($"# Transfer on suite {r.Suite.Name}");
        sb.AppendLine();
        sb.AppendLine($"{r.Suite.Description}.");
        sb.AppendLine();
        sb.AppendLine(FormattableString.Invariant($"{o.Algorithm}, {o.Iterations} iterations ({r.EpisodesPerTask} episode{(r.EpisodesPerTask == 1 ? "" : "s")} of every task each), seeds {string.Join(", ", o.Seeds)}; {r.Seconds / 60:0.0} min on this machine. "));
        sb.AppendLine("Multi-task: one network, one-hot task id. Single-task: one network per task (conditioning: independent), the same per-task budget. Returns: most likely actions, after training; transfer = (multi-task - untrained) / (single-task - untrained): above 1 the other tasks helped, below 1 they hurt.");
        sb.AppendLine();
        foreach (var g in r.Tasks.GroupBy(x => x.Width))
        {
            sb.AppendLine(FormattableString.Invariant($"## Width {g.Key} (two hidden layers; multi-task network {g.First().MultiTaskParameters:N0} parameters, single-task networks {g.First().SingleTaskParameters:N0} in all)"));
            sb.AppendLine();
            sb.AppendLine("| task | untrained | single-task | multi-task | multi - single (95% CI over seeds) | transfer | success single / multi |");
            sb.AppendLine("|---|---|---|---|---|---|---|");
            foreach (var x in g)
                sb.AppendLine(FormattableString.Invariant($"| {x.Task} | {x.Untrained:0.00} | {x.SingleTask:0.00} | {x.MultiTask:0.00} | {x.MultiTask - x.SingleTask:+0.00;-0.00}{(double.IsNaN(x.DifferenceCi95) ? "" : $" ± {x.DifferenceCi95:0.00}")} | {Transfer(x.Transfer)} | {x.SingleTaskSuccess:P0} / {x.MultiTaskSuccess:P0} |"));
            var defined = g.Where(x => double.IsFinite(x.Transfer)).ToList();
            sb.AppendLine(FormattableString.Invariant($"| **mean** | | {g.Average(x => x.SingleTask):0.00} | {g.Average(x => x.MultiTask):0.00} | | **{(defined.Count > 0 ? defined.Average(x => x.Transfer).ToString("0.00", CultureInfo.InvariantCulture) : "n/a")}** | {g.Average(x => x.SingleTaskSuccess):P0} / {g.Average(x => x.MultiTaskSuccess):P0} |"));
            if (defined.Count < g.Count()) sb.AppendLine("\nn/a: the single-task networks did not improve on the untrained policy at this budget, so there is no gain to compare with.");
            sb.AppendLine();
        }
        if (r.Pairwise is { } m)
        {
            var names = r.Suite.Tasks.Select(t => t.Name).ToList();
            sb.AppendLine(FormattableString.Invariant($"## Pairwise (width {o.Widths[0]}): row task's transfer when trained beside the column task alone"));
            sb.AppendLine();
            sb.AppendLine("| | " + string.Join(" | ", names) + " |");
            sb.AppendLine("|---|" + string.Concat(names.Select(_ => "---|")));
            for (int i = 0; i < names.Count; i++)
                sb.AppendLine($"| {names[i]} | " + string.Join(" | ", Enumerable.Range(0, names.Count).Select(j => i == j ? "1" : Transfer(m[i, j]))) + " |");
            sb.AppendLine();
        }
        return sb.ToString();
    }

    static string Transfer(double x) => double.IsFinite(x) ? x.ToString("0.00", CultureInfo.InvariantCulture) : "n/a";

    static string I(long x) => x.ToString(CultureInfo.InvariantCulture);
    static string D(double x) => x.ToString("R", CultureInfo.InvariantCulture);
}
