using System.Globalization;
using System.Text;
using MetaRl.Algorithms;
using MetaRl.Algorithms.Maml;
using MetaRl.Evaluation;

namespace MetaRl.Experiments;

/// <summary>
/// `metarl reproduce maml-2d-navigation`: MAML-TRPO with the reference settings on 2D navigation over
/// several seeds, beside the paper's baselines (a jointly pre-trained policy fine-tuned, a policy adapted
/// from scratch, the oracle that knows the goal), evaluated after 0-3 adaptation steps on the train,
/// held-out test and out-of-distribution splits, with the reference implementation's numbers. Runs live
/// in fixed directories and are resumed, so an interrupted reproduction continues where it stopped.
/// </summary>
public static class MamlReproduction
{
    public const string Name = "maml-2d-navigation";

    /// <summary>
    /// pytorch-maml-rl at commit 21d4ba1, default config, seed 1, timed on this machine (shared/reference/peers.md):
    /// mean post- and pre-adaptation return on each meta-batch, per window of iterations.
    /// </summary>
    public static readonly (int From, int To, double Post, double Pre)[] ReferenceCurve =
    [
        (0, 24, -35.87, -54.74), (25, 49, -16.90, -39.90), (50, 74, -16.10, -38.16), (75, 99, -15.56, -39.32),
        (100, 124, -16.05, -38.73), (125, 149, -15.52, -38.30), (150, 174, -15.32, -38.95), (175, 199, -13.64, -38.49), (200, 219, -14.23, -39.23),
    ];

    /// <summary>Oracle return measured over 100,000 goals (shared/reference/maml.md).</summary>
    public const double ReferenceOracle = -0.51;

    public sealed record Options(IReadOnlyList<int> Seeds, int Iterations, bool Quick, string OutRoot, int Budget = 3);

    public static string Run(Options o, TextWriter log)
    {
        string root = Path.Combine(o.OutRoot, $"reproduce-{Name}{(o.Quick ? "-quick" : "")}");
        var quick = o.Quick ? new Dictionary<string, string> { ["meta-batch-size"] = "10", ["fast-batch-size"] = "10" } : [];
        var splits = new Envs.Navigation.Navigation2DDistribution().Splits();
        int maxTasks = o.Quick ? 10 : 40;
        var curves = new List<List<AdaptationPoint>>();
        var progress = new List<(int Seed, string Csv)>();
        foreach (int seed in o.Seeds)
        {
            int[] evalSeeds = [Seeds.Evaluation(seed, 1), Seeds.Evaluation(seed, 2)];
            foreach (var method in new[] { "maml", "pretrain" })
            {
                var values = new Dictionary<string, string>(quick) { ["num-batches"] = $"{o.Iterations}" };
                var run = Reproduction.TrainOrResume(method, "2d-navigation", values, seed, Path.Combine(root, $"{method}-seed{seed}"), $"{method} seed {seed}", log).Run;
                var learner = (IMetaLearner)run.Learner;
                log.WriteLine($"evaluating {method} seed {seed} ...");
                curves.Add(MetaEvaluator.Evaluate(method, learner, splits, o.Budget, evalSeeds, maxTasks));
                if (method == "maml") progress.Add((seed, Path.Combine(root, $"{method}-seed{seed}", RunDirectory.ProgressFile)));
            }
            // From scratch: a fresh policy of the same architecture (a pretraining run before its first
            // iteration), adapted by the same inner steps.
            using var scratch = new TrainingRun("pretrain", "2d-navigation", quick, seed);
            curves.Add(MetaEvaluator.Evaluate("scratch", scratch.Learner as IMetaLearner ?? throw new InvalidOperationException(), splits, o.Budget, evalSeeds, maxTasks));
        }
        int episodesPerStep = quick.TryGetValue("fast-batch-size", out var fast) ? int.Parse(fast) : new MamlConfig().FastBatchSize; // the oracle's points beside MAML's
        curves.Add(MetaEvaluator.Evaluate("oracle", (tasks, _) => Oracles.Navigation(tasks, o.Budget, episodesPerStep), splits, o.Budget, [0], maxTasks));

        var points = MetaEvaluator.AcrossRuns(curves);
        File.WriteAllText(Path.Combine(root, "adaptation.csv"), MetaEvaluator.ToCsv(points));
        string report = Report(points, progress, o);
        File.WriteAllText(Path.Combine(root, "report.md"), report);
        log.WriteLine(report);
        log.WriteLine($"Results: {root} (report.md, adaptation.csv, one run directory per method and seed)");
        return root;
    }

    static string Report(List<AdaptationPoint> points, List<(int Seed, string Csv)> progress, Options o)
    {
        var sb = new StringBuilder();
        string F(double x) => x.ToString("0.00", CultureInfo.InvariantCulture);
        sb.AppendLine($"# MAML-TRPO on 2D navigation: reproduction{(o.Quick ? " (quick mode: not the reference settings)" : "")}");
        sb.AppendLine();
        sb.AppendLine($"Seeds {string.Join(", ", o.Seeds)}; {o.Iterations} meta-iterations; evaluation on up to {(o.Quick ? 10 : 40)} tasks per split, 2 evaluation seeds per run, fast-batch-size episodes per step; 95% CI over seeds (over tasks where one seed).");
        sb.AppendLine();
        sb.AppendLine("## Return after k adaptation steps");
        sb.AppendLine();
        sb.AppendLine("| method | split | step 0 | step 1 | step 2 | step 3 | success after 3 |");
        sb.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var g in points.GroupBy(p => (p.Method, p.Split)))
        {
            var steps = g.OrderBy(p => p.Step).ToList();
            sb.AppendLine($"| {g.Key.Method} | {g.Key.Split} | {string.Join(" | ", steps.Select(p => $"{F(p.MeanReturn)} ± {F(p.Ci95)}"))} | {steps[^1].SuccessRate:P0} |");
        }
        sb.AppendLine();
        sb.AppendLine("## Meta-training curve against pytorch-maml-rl (post-adaptation return on each meta-batch)");
        sb.AppendLine();
        sb.AppendLine("| iterations | pytorch-maml-rl post | ours post (mean over seeds) | pytorch-maml-rl pre | ours pre |");
        sb.AppendLine("|---|---|---|---|---|");
        var rows = progress.SelectMany(p => ReadProgress(p.Csv)).ToList();
        foreach (var (from, to, post, pre) in ReferenceCurve)
        {
            var window = rows.Where(r => r.Iteration - 1 >= from && r.Iteration - 1 <= to).ToList();
            if (window.Count == 0) continue;
            sb.AppendLine($"| {from}-{to} | {F(post)} | {F(window.Average(r => r.Post))} | {F(pre)} | {F(window.Average(r => r.Pre))} |");
        }
        var last = rows.Where(r => r.Iteration > o.Iterations - 20).ToList();
        if (last.Count > 0)
            sb.AppendLine($"| last 20 ({o.Iterations - 19}-{o.Iterations}) | n/a | {F(last.Average(r => r.Post))} | n/a | {F(last.Average(r => r.Pre))} |");
        sb.AppendLine();
        sb.AppendLine($"Oracle (goal known): {F(points.Where(p => p.Method == "oracle" && p.Split == "test").Select(p => p.MeanReturn).FirstOrDefault())} here; reference {F(ReferenceOracle)}.");
        return sb.ToString();
    }

    static IEnumerable<(int Iteration, double Post, double Pre)> ReadProgress(string csv)
    {
        if (!File.Exists(csv)) yield break;
        var lines = File.ReadAllLines(csv);
        var header = lines[0].Split(',');
        int it = Array.IndexOf(header, "iteration"), post = Array.IndexOf(header, "post_return"), pre = Array.IndexOf(header, "pre_return");
        foreach (var l in lines.Skip(1))
        {
            var c = l.Split(',');
            yield return (int.Parse(c[it], CultureInfo.InvariantCulture), double.Parse(c[post], CultureInfo.InvariantCulture), double.Parse(c[pre], CultureInfo.InvariantCulture));
        }
    }
}
