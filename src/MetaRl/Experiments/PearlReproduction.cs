using System.Globalization;
using System.Text;
using MetaRl.Algorithms;
using MetaRl.Algorithms.Pearl;
using MetaRl.Envs.Navigation;
using MetaRl.Evaluation;

namespace MetaRl.Experiments;

/// <summary>
/// `metarl reproduce pearl-point-robot`: PEARL with oyster's sparse-point-robot config (the critic on dense rewards,
/// the context on sparse ones), evaluated as oyster does (num-exp-traj-eval episodes with z from the prior, then
/// posterior sampling, most likely actions) on held-out goals, episode by episode, beside the goal-known return.
/// The run lives in a fixed directory and is resumed, so it can be trained over several invocations.
/// </summary>
public static class PearlReproduction
{
    public const string Name = "pearl-point-robot";

    /// <summary>oyster's num_iterations.</summary>
    public const int PaperIterations = 500;

    /// <summary>Episodes of context the curve goes to beyond the exploration episodes.</summary>
    const int ExtraEpisodes = 3;

    public sealed record Options(int Seed, bool Quick, string OutRoot, int? Iterations = null);

    public static Dictionary<string, string> Values(Options o)
    {
        var v = new Dictionary<string, string> { ["num-batches"] = $"{o.Iterations ?? (o.Quick ? 3 : PaperIterations)}" };
        if (o.Quick)
            foreach (var (k, x) in new[] { ("hidden-sizes", "32,32"), ("encoder-hidden-sizes", "32,32"), ("num-train-steps-per-itr", "20"), ("meta-batch", "4"),
                ("batch-size", "32"), ("embedding-batch-size", "64"), ("num-tasks-sample", "2"), ("num-steps-posterior", "100") })
                v[k] = x;
        return v;
    }

    public static string Run(Options o, TextWriter log)
    {
        string root = Path.Combine(o.OutRoot, $"reproduce-{Name}{(o.Quick ? "-quick" : "")}");
        var trained = Reproduction.TrainOrResume("pearl", "sparse-point-robot", Values(o), o.Seed, Path.Combine(root, $"pearl-seed{o.Seed}"), "pearl", log);
        var run = trained.Run;
        var pearl = (Pearl)run.Learner;
        int exploration = run.Get<PearlConfig>().NumExpTrajEval, budget = exploration + ExtraEpisodes - 1;
        var splits = run.Distribution.Splits();
        int maxTasks = o.Quick ? 10 : 40;
        int[] seeds = [Seeds.Evaluation(o.Seed, 1), Seeds.Evaluation(o.Seed, 2)];
        log.WriteLine("evaluating pearl ...");
        var curves = new List<List<AdaptationPoint>>
        {
            MetaEvaluator.Evaluate("pearl", pearl, splits, budget, seeds, maxTasks),
            MetaEvaluator.Evaluate("goal known", (tasks, _) => Oracles.SparsePointRobot(tasks, budget), splits, budget, [0], maxTasks),
        };
        var points = MetaEvaluator.AcrossRuns(curves);
        File.WriteAllText(Path.Combine(root, "adaptation.csv"), MetaEvaluator.ToCsv(points));
        string report = Report(points, run, trained.TrainingSeconds, exploration, o) + Reproduction.Notes(root);
        File.WriteAllText(Path.Combine(root, "report.md"), report);
        log.WriteLine(report);
        log.WriteLine($"Results: {root} (report.md, adaptation.csv, the run directory)");
        return root;
    }

    static string Report(List<AdaptationPoint> points, TrainingRun run, double seconds, int exploration, Options o)
    {
        string F(double x) => x.ToString("0.00", CultureInfo.InvariantCulture);
        string P(double x) => (100 * x).ToString("0", CultureInfo.InvariantCulture) + "%";
        var c = run.Get<PearlConfig>();
        var sb = new StringBuilder();
        sb.AppendLine($"# PEARL on the sparse point robot: reproduction{(o.Quick ? " (quick mode: not the official settings)" : "")}");
        sb.AppendLine();
        sb.AppendLine(FormattableString.Invariant($"Seed {o.Seed}; {run.Iteration} iterations of {c.NumTrainStepsPerItr} gradient steps, {run.EnvSteps:N0} env steps, {seconds / 60:0} min of training ({seconds / Math.Max(1, run.Iteration):0.0} s per iteration)."));
        sb.AppendLine(FormattableString.Invariant($"Settings: oyster's configs/sparse-point-robot.json (meta-batch {c.MetaBatch}, context batch {c.EmbeddingBatchSize}, reward scale {c.RewardScale}, kl-lambda {c.KlLambda}, gamma {run.Common.Gamma}, {c.NumTrainTasks} training tasks){(o.Quick ? " shrunk for the quick mode" : "")}."));
        sb.AppendLine();
        sb.AppendLine($"Evaluation as oyster: on each held-out goal, episodes with the most likely actions; the first {exploration} with z from the prior, each later one with z from the posterior of every transition seen so far (sparse rewards in the context). Success: within 0.2 of the goal at some step. Mean over up to {(o.Quick ? 10 : 40)} goals per split and 2 evaluation seeds; CI over goals.");
        sb.AppendLine();
        foreach (var split in new[] { "test", "train", "ood" })
        {
            var rows = points.Where(p => p.Split == split).ToList();
            if (rows.Count == 0) continue;
            int steps = rows.Max(p => p.Step) + 1;
            sb.AppendLine($"## {(split == "ood" ? "out of distribution (goals on the lower half circle)" : split == "test" ? "held-out goals" : "training goals")}");
            sb.AppendLine();
            sb.AppendLine($"| method | {string.Join(" | ", Enumerable.Range(1, steps).Select(e => $"episode {e}"))} |");
            sb.AppendLine($"|---|{string.Join("", Enumerable.Range(0, steps).Select(_ => "---|"))}");
            foreach (var g in rows.GroupBy(p => p.Method))
            {
                var ordered = g.OrderBy(p => p.Step).ToList();
                sb.AppendLine($"| {g.Key} return | {string.Join(" | ", ordered.Select(p => $"{F(p.MeanReturn)} ± {F(p.Ci95)}"))} |");
                sb.AppendLine($"| {g.Key} success | {string.Join(" | ", ordered.Select(p => P(p.SuccessRate)))} |");
            }
            sb.AppendLine();
        }
        var test = points.Where(p => p.Split == "test" && p.Method == "pearl").OrderBy(p => p.Step).ToList();
        var after = test.Where(p => p.Step >= exploration).ToList();
        if (after.Count > 0)
        {
            bool rising = test[exploration].SuccessRate > test.Take(exploration).Max(p => p.SuccessRate);
            sb.AppendLine("## The bar");
            sb.AppendLine();
            sb.AppendLine($"Success after the {exploration} exploration episodes at least 70% and rising with context: episode {exploration + 1} {P(after[0].SuccessRate)} "
                + $"({(after[0].SuccessRate >= 0.7 ? "at least 70%" : "below 70%")}; {(rising ? "above" : "not above")} every exploration episode's "
                + $"{P(test.Take(exploration).Max(p => p.SuccessRate))}), later episodes {string.Join(", ", after.Skip(1).Select(p => P(p.SuccessRate)))}.");
        }
        return sb.ToString();
    }
}
