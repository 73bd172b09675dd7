using System.Globalization;
using System.Text;
using MetaRl.Algorithms.MultiTask;
using MetaRl.Envs.Suites;
using MetaRl.Evaluation;

namespace MetaRl.Experiments;

/// <summary>
/// `metarl reproduce mt-locomotion`: MT-SAC, MT-SAC + PCGrad and one SAC per task (mt-sac with independent networks:
/// each task's actor, critics and temperature see only its own data, one gradient step per own env step, as
/// single-task SAC) on the ten locomotion tasks, the same seeds and per-task budget for each. Success and return per
/// task with the most likely actions; the multi-task methods paired with one SAC per task seed by seed. The
/// question the MT10 papers ask: does sharing one network across tasks help or hurt at this budget? Runs live in
/// fixed directories and are resumed.
/// </summary>
public static class LocomotionStudy
{
    public const string Name = "mt-locomotion";
    public const string Suite = "locomotion-10";
    public const int DefaultIterations = 200;
    public const int EvaluationEpisodes = 5;

    /// <summary>The compared methods: a directory name, a label, and the config keys that make it.</summary>
    public static readonly IReadOnlyList<(string Mode, string Label, string Key, string Value)> Methods =
    [
        ("single", "one SAC per task", "conditioning", "independent"),
        ("sum", "MT-SAC", "gradient", "sum"),
        ("pcgrad", "MT-SAC + PCGrad", "gradient", "pcgrad"),
    ];

    /// <summary>The study's network width (2 x 128, ReLU: what fits a session of 2 cores), unless --set gives another.</summary>
    static readonly Dictionary<string, string> StudyValues = new() { ["hidden-sizes"] = "128,128" };

    /// <summary>Seeds, iterations per run, and <c>Values</c>: config keys for every run, named in the report and the output directory.</summary>
    public sealed record Options(IReadOnlyList<int> Seeds, int Iterations, bool Quick, string OutRoot, IReadOnlyDictionary<string, string>? Values = null);

    /// <summary>A method's results: per seed (in the order of the seeds) and per task, success and return.</summary>
    public sealed record MethodResult(string Mode, string Label, double[][] Success, double[][] Return, double SecondsPerRun)
    {
        public IReadOnlyList<double> SeedSuccess => Success.Select(s => s.Average()).ToList();
        public IReadOnlyList<double> SeedReturn => Return.Select(r => r.Average()).ToList();
        public double TaskSuccess(int task) => Success.Average(s => s[task]);
        public double TaskReturn(int task) => Return.Average(r => r[task]);
    }

    public static string Run(Options o, TextWriter log)
    {
        var extra = o.Values ?? new Dictionary<string, string>();
        foreach (var (_, _, key, _) in Methods)
            if (extra.ContainsKey(key)) throw new UsageException($"--set {key} is what {Name} varies between its methods; set another key");
        string suffix = string.Concat(extra.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"-{kv.Key}-{kv.Value.Replace(',', 'x')}"));
        string root = Path.Combine(o.OutRoot, $"reproduce-{Name}{suffix}{(o.Quick ? "-quick" : "")}");
        var suite = SuiteRegistry.Create(Suite);
        var results = new List<MethodResult>();
        foreach (var (mode, label, key, value) in Methods)
        {
            var success = new List<double[]>();
            var returns = new List<double[]>();
            double seconds = 0;
            foreach (int seed in o.Seeds)
            {
                var values = new Dictionary<string, string>(RunValues(o)) { [key] = value, ["num-batches"] = $"{o.Iterations}" };
                var trained = Reproduction.TrainOrResume("mt-sac", Suite, values, seed, Path.Combine(root, $"{mode}-seed{seed}"), label, log);
                seconds += trained.TrainingSeconds;
                using var run = trained.Run; // its replay buffers and env threads go with it
                var scores = ((IMultiTaskLearner)run.Learner).Evaluate(o.Quick ? 1 : EvaluationEpisodes, new Rng(Seeds.Evaluation(seed, 1)));
                success.Add(scores.Select(s => s.SuccessRate).ToArray());
                returns.Add(scores.Select(s => s.MeanReturn).ToArray());
            }
            results.Add(new MethodResult(mode, label, success.ToArray(), returns.ToArray(), seconds / o.Seeds.Count));
        }
        File.WriteAllText(Path.Combine(root, "results.csv"), Csv(results, suite, o.Seeds));
        string report = Report(results, suite, o);
        File.WriteAllText(Path.Combine(root, "report.md"), report);
        log.WriteLine(report);
        log.WriteLine($"Results: {root} (report.md, results.csv and one run directory per method and seed; 'metarl plot <runs> --learning' draws their curves)");
        return root;
    }

    /// <summary>The config keys every run of the study gets: the study's width, --set's keys, and quick mode's small sizes.</summary>
    static Dictionary<string, string> RunValues(Options o)
    {
        var values = new Dictionary<string, string>(StudyValues);
        foreach (var (k, v) in o.Values ?? new Dictionary<string, string>()) values[k] = v;
        if (o.Quick) { values["learning-starts"] = "100"; values["batch-size"] = "16"; values["hidden-sizes"] = "16,16"; }
        return values;
    }

    static string Csv(List<MethodResult> results, TaskSuite suite, IReadOnlyList<int> seeds)
    {
        var sb = new StringBuilder("method,seed,task,success,return\n");
        foreach (var r in results)
            for (int s = 0; s < seeds.Count; s++)
                for (int k = 0; k < suite.TaskCount; k++)
                    sb.AppendLine(FormattableString.Invariant($"{r.Mode},{seeds[s]},{suite.Tasks[k].Name},{r.Success[s][k]},{r.Return[s][k]}"));
        return sb.ToString();
    }

    static string Report(List<MethodResult> results, TaskSuite suite, Options o)
    {
        // One seed has no CI: "-".
        string F(double x) => double.IsNaN(x) ? "-" : x.ToString("0.0", CultureInfo.InvariantCulture);
        string P(double x) => double.IsNaN(x) ? "-" : (100 * x).ToString("0", CultureInfo.InvariantCulture) + "%";
        var values = RunValues(o);
        int episodes = o.Quick ? 1 : EvaluationEpisodes;
        var sb = new StringBuilder();
        sb.AppendLine($"# MT-SAC, MT-SAC + PCGrad and one SAC per task on {suite.Name}{(o.Quick ? " (quick mode: not the study's budget)" : "")}");
        sb.AppendLine();
        sb.AppendLine($"{suite.Description}. {o.Iterations} iterations of mt-sac: one {suite.MaxEpisodeSteps}-step episode of every task each, after learning-starts steps of every task by the initial policy; one gradient step per env step of each task, on batch-size transitions of every task (SAC's settings otherwise; {string.Join("; ", values.Select(kv => $"{kv.Key} {kv.Value}"))}), seeds {string.Join(", ", o.Seeds)}; the same per-task budget for every method. One SAC per task is mt-sac with conditioning: independent (each task's networks and temperature see only its own data).");
        sb.AppendLine($"Success and return: {episodes} episode{(episodes > 1 ? "s" : "")} of every task with the most likely actions after training, mean over tasks; 95% CI over seeds.");
        sb.AppendLine();
        sb.AppendLine("| method | success | return | minutes per run |");
        sb.AppendLine("|---|---|---|---|");
        foreach (var r in results)
        {
            var (s, sCi) = Statistics.MeanAndCi95(r.SeedSuccess);
            var (ret, rCi) = Statistics.MeanAndCi95(r.SeedReturn);
            sb.AppendLine($"| {r.Label} | {P(s)} ± {P(sCi)} | {F(ret)} ± {F(rCi)} | {F(r.SecondsPerRun / 60)} |");
        }
        sb.AppendLine();
        var single = results[0];
        sb.AppendLine($"Paired by seed: each multi-task method's success and return minus {single.Label}'s on the same seed, mean and 95% CI over seeds (a CI that excludes 0 is a difference the seeds resolve):");
        sb.AppendLine();
        sb.Append(PairedBySeed.Table("method", single.Label, results.Skip(1).Select(r => (r.Label, r.SeedSuccess, r.SeedReturn)), single.SeedSuccess, single.SeedReturn, P, F));
        sb.AppendLine();
        sb.AppendLine("Per task (mean over seeds): success, and return in brackets:");
        sb.AppendLine();
        sb.AppendLine("| task | " + string.Join(" | ", results.Select(r => r.Label)) + " |");
        sb.AppendLine("|---|" + string.Concat(results.Select(_ => "---|")));
        for (int k = 0; k < suite.TaskCount; k++)
            sb.AppendLine($"| {suite.Tasks[k].Name} | " + string.Join(" | ", results.Select(r => $"{P(r.TaskSuccess(k))} ({F(r.TaskReturn(k))})")) + " |");
        sb.AppendLine();
        sb.AppendLine("For scale, not comparable (Meta-World's MT10 manipulation tasks, 2 M steps per task, mtrl's protocol, 10 seeds; ../shared/reference/multitask-numbers.md): MT-SAC 0.49 ± 0.07, PCGrad 0.72 ± 0.02, one SAC per task 0.90 ± 0.03.");
        return sb.ToString();
    }
}

/// <summary>A table of differences against a baseline on the same seeds: mean and 95% CI over seeds of success and return.</summary>
internal static class PairedBySeed
{
    public static string Table(string header, string baseline, IEnumerable<(string Name, IReadOnlyList<double> Success, IReadOnlyList<double> Return)> rows,
        IReadOnlyList<double> baseSuccess, IReadOnlyList<double> baseReturn, Func<double, string> percent, Func<double, string> number)
    {
        string Signed(double x, Func<double, string> f) => (x > 0 ? "+" : "") + f(x);
        var sb = new StringBuilder();
        sb.AppendLine($"| {header} | success minus {baseline}'s | return minus {baseline}'s |");
        sb.AppendLine("|---|---|---|");
        foreach (var (name, success, returns) in rows)
        {
            var (ds, dsCi) = Statistics.MeanAndCi95(success.Zip(baseSuccess, (a, b) => a - b).ToList());
            var (dr, drCi) = Statistics.MeanAndCi95(returns.Zip(baseReturn, (a, b) => a - b).ToList());
            sb.AppendLine($"| {name} | {Signed(ds, percent)} ± {percent(dsCi)} | {Signed(dr, number)} ± {number(drCi)} |");
        }
        return sb.ToString();
    }
}
