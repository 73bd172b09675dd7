using System.Globalization;
using System.Text;
using MetaRl.Algorithms.MultiTask;
using MetaRl.Envs.Suites;
using MetaRl.Evaluation;

namespace MetaRl.Experiments;

/// <summary>
/// `metarl reproduce mt-point-conflict`: MT-PPO with the plain summed gradient, PCGrad and GradNorm on a suite built
/// to conflict, the same seeds and budget for each: success and return per task (most likely actions), the cosines of
/// the tasks' gradients early and late in training, and how far the gradient norms stay from GradNorm's targets
/// (measured with equal weights too). Runs live in fixed directories and are resumed.
/// </summary>
public static class GradientStudy
{
    public const string Name = "mt-point-conflict";
    public const string Suite = "point-conflict";
    public const int DefaultIterations = 100;
    static readonly string[] Modes = ["sum", "pcgrad", "gradnorm"];

    /// <summary>Seeds, iterations per run, and <c>Values</c>: config keys for every run (a width, say), named in the report and the output directory.</summary>
    public sealed record Options(IReadOnlyList<int> Seeds, int Iterations, bool Quick, string OutRoot, IReadOnlyDictionary<string, string>? Values = null);

    /// <summary>A gradient combination's results: each seed's success and return (in the order of the seeds), and what the report derives from them.</summary>
    public sealed record ModeResult(string Mode, IReadOnlyList<double> SeedSuccess, IReadOnlyList<double> SeedReturn, IReadOnlyList<double> TaskSuccess,
        double EarlyCosine, double LateCosine, double EarlyConflict, double LateConflict, double Spread, double Projections, double SecondsPerRun)
    {
        /// <summary>Mean success over seeds and its 95% CI.</summary>
        public (double Mean, double HalfWidth) Success => Statistics.MeanAndCi95(SeedSuccess);
        /// <summary>Mean return over seeds and its 95% CI.</summary>
        public (double Mean, double HalfWidth) Return => Statistics.MeanAndCi95(SeedReturn);
    }

    public static string Run(Options o, TextWriter log)
    {
        var extra = o.Values ?? new Dictionary<string, string>();
        string suffix = string.Concat(extra.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"-{kv.Key}-{kv.Value.Replace(',', 'x')}"));
        string root = Path.Combine(o.OutRoot, $"reproduce-{Name}{suffix}{(o.Quick ? "-quick" : "")}");
        var suite = SuiteRegistry.Create(Suite);
        var results = new List<ModeResult>();
        foreach (var mode in Modes)
        {
            var success = new List<double>();
            var returns = new List<double>();
            var taskSuccess = new double[suite.TaskCount];
            var progress = new List<List<Dictionary<string, double>>>();
            double seconds = 0;
            foreach (int seed in o.Seeds)
            {
                var values = new Dictionary<string, string>(extra) { ["gradient"] = mode, ["num-batches"] = $"{o.Iterations}" };
                if (o.Quick) { values["episodes-per-task"] = "2"; values["epochs"] = "2"; }
                var trained = Reproduction.TrainOrResume("mt-ppo", Suite, values, seed, Path.Combine(root, $"{mode}-seed{seed}"), $"mt-ppo {mode}", log);
                seconds += trained.TrainingSeconds;
                var scores = ((IMultiTaskLearner)trained.Run.Learner).Evaluate(1, new Rng(Seeds.Evaluation(seed, 1)));
                success.Add(scores.Average(s => s.SuccessRate));
                returns.Add(scores.Average(s => s.MeanReturn));
                for (int k = 0; k < scores.Count; k++) taskSuccess[k] += scores[k].SuccessRate / o.Seeds.Count;
                progress.Add(ReadProgress(Path.Combine(root, $"{mode}-seed{seed}", RunDirectory.ProgressFile)));
            }
            double Phase(string column, bool late) => progress.Average(rows =>
            {
                int third = Math.Max(1, rows.Count / 3);
                var part = late ? rows.Skip(rows.Count - third) : rows.Take(third);
                return part.Average(x => x.GetValueOrDefault(column, double.NaN));
            });
            results.Add(new ModeResult(mode, success, returns, taskSuccess, Phase("conflict_mean_cosine", false), Phase("conflict_mean_cosine", true),
                Phase("conflict_fraction", false), Phase("conflict_fraction", true),
                progress.Average(rows => rows.Average(x => x.GetValueOrDefault("gradnorm_spread", double.NaN))),
                mode == "pcgrad" ? progress.Average(rows => rows.Average(x => x.GetValueOrDefault("pcgrad_projections", double.NaN))) : double.NaN,
                seconds / o.Seeds.Count));
        }
        string report = Report(results, suite, o);
        File.WriteAllText(Path.Combine(root, "report.md"), report);
        log.WriteLine(report);
        log.WriteLine($"Results: {root} (report.md and one run directory per gradient and seed; 'metarl plot <run> --conflict' draws a run's conflict)");
        return root;
    }

    static List<Dictionary<string, double>> ReadProgress(string csv)
    {
        var lines = File.ReadAllLines(csv);
        var header = lines[0].Split(',');
        return lines.Skip(1).Select(l => l.Split(',').Select((v, i) => (header[i], double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture))).ToDictionary(x => x.Item1, x => x.Item2)).ToList();
    }

    static string Report(List<ModeResult> results, TaskSuite suite, Options o)
    {
        string F(double x) => double.IsNaN(x) ? "-" : x.ToString("0.00", CultureInfo.InvariantCulture);
        string P(double x) => double.IsNaN(x) ? "-" : (100 * x).ToString("0", CultureInfo.InvariantCulture) + "%";
        var sb = new StringBuilder();
        sb.AppendLine($"# MT-PPO's gradient combinations on {suite.Name}{(o.Quick ? " (quick mode: not the study's budget)" : "")}");
        sb.AppendLine();
        var extra = o.Values ?? new Dictionary<string, string>();
        sb.AppendLine($"{suite.Description}. {o.Iterations} iterations of MT-PPO (10 episodes of every task each, one-hot task id, 64x64 tanh networks{string.Concat(extra.Select(kv => $"; {kv.Key} {kv.Value}"))}), seeds {string.Join(", ", o.Seeds)}; the same for every combination.");
        sb.AppendLine("Success and return: one episode of every task with the most likely actions after training, mean over tasks; 95% CI over seeds. Cosine: mean pairwise cosine of the tasks' gradients of the shared weights (first minibatch of every iteration, or every minibatch where PCGrad or GradNorm needs them), in the first and last third of training; conflict: the fraction of pairs with a negative cosine. GradNorm spread: mean over tasks of |log(G_i / target_i)| at the last shared layer, lower is closer to GradNorm's targets (measured with equal weights for sum and PCGrad).");
        sb.AppendLine();
        sb.AppendLine("| gradient | success | return | cosine first / last third | conflict first / last third | GradNorm spread | PCGrad projections per minibatch | minutes per run |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var r in results)
            sb.AppendLine($"| {r.Mode} | {P(r.Success.Mean)} ± {P(r.Success.HalfWidth)} | {F(r.Return.Mean)} ± {F(r.Return.HalfWidth)} | {F(r.EarlyCosine)} / {F(r.LateCosine)} | {P(r.EarlyConflict)} / {P(r.LateConflict)} | {F(r.Spread)} | {F(r.Projections)} | {F(r.SecondsPerRun / 60)} |");
        sb.AppendLine();
        // Seeds vary far more than the combinations differ; the difference on each seed, with a CI over seeds, is the sharper test.
        var sum = results.Single(r => r.Mode == "sum");
        sb.AppendLine("Paired by seed: each combination's success and return minus the plain sum's on the same seed, mean and 95% CI over seeds (a CI that excludes 0 is a difference the seeds resolve):");
        sb.AppendLine();
        sb.Append(PairedBySeed.Table("gradient", "sum", results.Where(r => r != sum).Select(r => (r.Mode, r.SeedSuccess, r.SeedReturn)), sum.SeedSuccess, sum.SeedReturn, P, F));
        sb.AppendLine();
        sb.AppendLine("Success per task (mean over seeds):");
        sb.AppendLine();
        sb.AppendLine("| gradient | " + string.Join(" | ", suite.Tasks.Select(t => t.Name)) + " |");
        sb.AppendLine("|---|" + string.Concat(suite.Tasks.Select(_ => "---|")));
        foreach (var r in results) sb.AppendLine($"| {r.Mode} | " + string.Join(" | ", r.TaskSuccess.Select(P)) + " |");
        return sb.ToString();
    }
}
