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
        var found = ExplorationSplit(pearl, splits.Test.Take(maxTasks).ToList(), exploration, seeds);
        string report = Report(points, found, run, trained.TrainingSeconds, exploration, o) + Reproduction.Notes(root);
        File.WriteAllText(Path.Combine(root, "report.md"), report);
        log.WriteLine(report);
        log.WriteLine($"Results: {root} (report.md, adaptation.csv, the run directory)");
        return root;
    }

    /// <summary>
    /// Success after exploration split on whether an exploration episode reached the goal, so that the context holds a
    /// sparse reward: over goal-seed pairs, how many reached it and how many of those succeeded in the first posterior
    /// episode, and the same for the others. The same episodes as the main table's (same seeds, same draws).
    /// </summary>
    public static (int Reached, int SuccessWhereReached, int Missed, int SuccessWhereMissed) ExplorationSplit(Pearl pearl, IReadOnlyList<object> tasks, int exploration, IReadOnlyList<int> seeds)
    {
        int reached = 0, successReached = 0, missed = 0, successMissed = 0;
        foreach (int seed in seeds)
        {
            var r = pearl.AdaptTo(tasks, exploration, new Rng(seed));
            for (int k = 0; k < tasks.Count; k++)
            {
                int after = r.SuccessRates[exploration][k] > 0 ? 1 : 0;
                if (Enumerable.Range(0, exploration).Any(j => r.SuccessRates[j][k] > 0)) { reached++; successReached += after; }
                else { missed++; successMissed += after; }
            }
        }
        return (reached, successReached, missed, successMissed);
    }

    static string Report(List<AdaptationPoint> points, (int Reached, int SuccessWhereReached, int Missed, int SuccessWhereMissed) found, TrainingRun run, double seconds, int exploration, Options o)
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
            sb.AppendLine();
            // With sparse rewards a context without any reward says only where the goal is not.
            string Share(int n, int of) => of == 0 ? "-" : $"{n} of {of} ({P((double)n / of)})";
            sb.AppendLine($"Where exploration found the goal: on {Share(found.Reached, found.Reached + found.Missed)} held-out goal-seed pairs an exploration episode reached it; "
                + $"episode {exploration + 1} succeeded on {Share(found.SuccessWhereReached, found.Reached)} of those and on {Share(found.SuccessWhereMissed, found.Missed)} of the others.");
        }
        return sb.ToString();
    }
}
