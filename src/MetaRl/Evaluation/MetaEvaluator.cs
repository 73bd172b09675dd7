using MetaRl.Algorithms;

namespace MetaRl.Evaluation;

/// <summary>One point of an adaptation curve: mean return (95% CI half-width) and success rate after a number of adaptation steps.</summary>
/// <summary>Episodes is the experience of the task behind the point (Step times the method's episodes per step; -1 where a file from before it was recorded lacks it).</summary>
public sealed record AdaptationPoint(string Method, string Split, int Step, int Episodes, double MeanReturn, double Ci95, double SuccessRate, int Samples);

/// <summary>
/// The evaluation protocol shared by every method (Meta-World's split, MAML's adaptation curve): adapt to
/// the tasks of each split (train, held-out test, out of distribution) with the method's own notion of an
/// adaptation step, and record the return before adapting and after each step. Each evaluation seed
/// draws new episodes; the confidence interval is over tasks (one run) or over runs (several).
/// </summary>
public static class MetaEvaluator
{
    public static readonly string[] SplitNames = ["train", "test", "ood"];

    /// <summary>Adaptation curves of one learner on the default splits (at most <paramref name="maxTasks"/> tasks each).</summary>
    public static List<AdaptationPoint> Evaluate(string method, IMetaLearner learner, TaskSplits<object> splits, int budget, IReadOnlyList<int> seeds, int maxTasks = 40) =>
        Evaluate(method, (tasks, rng) => learner.AdaptTo(tasks, budget, rng), splits, budget, seeds, maxTasks);

    /// <summary>The same for any adaptation procedure (baselines such as an oracle or a from-scratch policy).</summary>
    public static List<AdaptationPoint> Evaluate(string method, Func<IReadOnlyList<object>, Rng, AdaptationResult> adapt, TaskSplits<object> splits, int budget, IReadOnlyList<int> seeds, int maxTasks = 40)
    {
        var points = new List<AdaptationPoint>();
        foreach (var (name, all) in new[] { ("train", splits.Train), ("test", splits.Test), ("ood", splits.OutOfDistribution) })
        {
            var tasks = all.Take(maxTasks).ToList();
            if (tasks.Count == 0) continue; // a family with no tasks in a split (two-direction families have no OOD tasks)
            var perTask = new double[budget + 1][];
            var success = new double[budget + 1];
            int episodesPerStep = -1;
            for (int s = 0; s <= budget; s++) perTask[s] = new double[tasks.Count];
            foreach (int seed in seeds)
            {
                AdaptationResult r;
                using (Torch.NativeCallGuard.Enter()) r = adapt(tasks, new Rng(seed));
                episodesPerStep = r.EpisodesPerStep;
                for (int s = 0; s <= budget; s++)
                    for (int k = 0; k < tasks.Count; k++)
                    {
                        perTask[s][k] += r.Returns[s][k] / seeds.Count;
                        success[s] += r.SuccessRates[s][k] / (seeds.Count * tasks.Count);
                    }
            }
            for (int s = 0; s <= budget; s++)
            {
                var (mean, ci) = Statistics.MeanAndCi95(perTask[s]);
                points.Add(new AdaptationPoint(method, name, s, s * episodesPerStep, mean, ci, success[s], tasks.Count));
            }
        }
        return points;
    }

    /// <summary>Combines the curves of several runs of the same method: mean over runs, CI over runs.</summary>
    public static List<AdaptationPoint> AcrossRuns(IReadOnlyList<List<AdaptationPoint>> runs) =>
        runs.SelectMany(r => r)
            .GroupBy(p => (p.Method, p.Split, p.Step, p.Episodes))
            .Select(g =>
            {
                var means = g.Select(p => p.MeanReturn).ToList();
                var (mean, ci) = means.Count > 1 ? Statistics.MeanAndCi95(means) : (means[0], g.First().Ci95);
                return new AdaptationPoint(g.Key.Method, g.Key.Split, g.Key.Step, g.Key.Episodes, mean, ci, g.Average(p => p.SuccessRate), means.Count > 1 ? means.Count : g.First().Samples);
            })
            .OrderBy(p => p.Method, StringComparer.Ordinal).ThenBy(p => Array.IndexOf(SplitNames, p.Split)).ThenBy(p => p.Step)
            .ToList();

    public static string ToCsv(IEnumerable<AdaptationPoint> points) =>
        "method,split,step,episodes,mean_return,ci95,success_rate,n\n" + string.Join("", points.Select(p =>
            FormattableString.Invariant($"{p.Method},{p.Split},{p.Step},{p.Episodes},{p.MeanReturn:R},{p.Ci95:R},{p.SuccessRate:R},{p.Samples}\n")));

    /// <summary>Reads <see cref="ToCsv"/>'s file, and the files of before the episodes column (their Episodes read -1).</summary>
    public static List<AdaptationPoint> FromCsv(string path)
    {
        var lines = File.ReadLines(path).Where(l => l.Length > 0).ToList();
        bool hasEpisodes = lines.Count > 0 && lines[0].Split(',').Contains("episodes");
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        return lines.Skip(1).Select(l =>
        {
            var c = l.Split(',').ToList();
            if (!hasEpisodes) c.Insert(3, "-1");
            double D(int i) => double.Parse(c[i], inv);
            int I(int i) => int.Parse(c[i], inv);
            return new AdaptationPoint(c[0], c[1], I(2), I(3), D(4), D(5), D(6), I(7));
        }).ToList();
    }
}
