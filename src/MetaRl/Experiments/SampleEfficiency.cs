using System.Globalization;
using System.Text;
using MetaRl.Algorithms;
using MetaRl.Evaluation;

namespace MetaRl.Experiments;

/// <summary>One evaluation during meta-training: the held-out return after the comparison's budget of experience, at a milestone of environment steps.</summary>
public sealed record EfficiencyPoint(string Method, int Seed, int Milestone, long Every, int Iteration, long EnvSteps, double Return, double Success);

/// <summary>The seeds' mean at one milestone of a method's meta-training (95% CI over seeds; NaN with one seed).</summary>
public sealed record EfficiencyCurvePoint(string Method, long EnvSteps, double Return, double Ci95, int Seeds);

/// <summary>How many meta-training steps a method needed to reach the target held-out return: per seed (null: not reached), and its best.</summary>
public sealed record StepsToTarget(string Method, IReadOnlyList<long?> PerSeed, double BestReturn, long BestAt, long Budget)
{
    public IReadOnlyList<long> Reached => PerSeed.OfType<long>().ToList();
    public double? Mean => Reached.Count > 0 ? Reached.Average(s => (double)s) : null;
}

/// <summary>
/// The sample efficiency of meta-training, the axis of PEARL's claim (its Figure 2: held-out return against environment
/// steps of meta-training). While a comparison's run meta-trains, at every multiple of `every` environment steps (and
/// before the first iteration) the learner adapts to the held-out test tasks with the comparison's budget of experience,
/// and the return after it is recorded in the run's efficiency.csv. The table reads, per method, the environment steps
/// its runs needed to first reach one held-out return: the same target for every method.
/// </summary>
public static class SampleEfficiency
{
    public const string FileName = "efficiency.csv";
    const string Header = "method,seed,milestone,every,iteration,env_steps,return,success";

    /// <summary>
    /// One run's evaluations. Created before the run continues: points after its checkpoint's iteration are forgotten (those
    /// iterations run again, exactly), and a run evaluated at another interval is refused (its milestones would not line up).
    /// </summary>
    public sealed class Tracker
    {
        readonly string _method, _path;
        readonly int _seed;
        readonly long _every;
        readonly Func<IMetaLearner, (double Return, double Success)> _evaluate;
        readonly List<EfficiencyPoint> _points;

        public Tracker(string method, int seed, RunDirectory dir, long every, TrainingRun run, Func<IMetaLearner, (double Return, double Success)> evaluate)
        {
            if (every < 1) throw new ArgumentOutOfRangeException(nameof(every), every, "an interval of at least one environment step");
            (_method, _seed, _every, _evaluate, _path) = (method, seed, every, evaluate, Path.Combine(dir.Path, FileName));
            _points = File.Exists(_path) ? Read(_path).Where(p => p.Iteration <= run.Iteration).ToList() : [];
            if (_points.FirstOrDefault(p => p.Every != every) is { } other)
                throw new UsageException($"{dir.Path} was evaluated every {other.Every:N0} environment steps (--eval-every {other.Every}); resume it with that interval, or start a new --out");
            Write();
        }

        public IReadOnlyList<EfficiencyPoint> Points => _points;

        /// <summary>Seconds this process spent evaluating (not meta-training: a wall-time budget and the costs leave them out).</summary>
        public double Seconds { get; private set; }

        /// <summary>Evaluates the learner if the run has reached the next milestone (milestone 0: before meta-training).</summary>
        public void AtIteration(TrainingRun run, TextWriter log)
        {
            int milestone = (int)(run.EnvSteps / _every);
            if (_points.Count > 0 && milestone <= _points[^1].Milestone) return;
            if (run.Learner is not IMetaLearner learner) return;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var (ret, success) = _evaluate(learner);
            Seconds += clock.Elapsed.TotalSeconds;
            _points.Add(new EfficiencyPoint(_method, _seed, milestone, _every, run.Iteration, run.EnvSteps, ret, success));
            Write();
            log.WriteLine(FormattableString.Invariant($"  {_method}, seed {_seed}: held-out return {ret:0.00} after {run.EnvSteps:N0} steps of meta-training"));
        }

        void Write() => File.WriteAllText(_path, ToCsv(_points));
    }

    /// <summary>
    /// The evaluation at a milestone: the test split (its first <paramref name="tasks"/> tasks), <paramref name="steps"/>
    /// adaptation steps, one evaluation seed (the comparison's own evaluation uses two others); the return after the last step.
    /// </summary>
    public static (double Return, double Success) HeldOutReturn(IMetaLearner learner, TaskSplits<object> splits, int steps, int tasks, int evaluationSeed)
    {
        var points = MetaEvaluator.Evaluate("", learner, new TaskSplits<object>([], splits.Test, []), steps, [evaluationSeed], tasks);
        var last = points.MaxBy(p => p.Step)!;
        return (last.MeanReturn, last.SuccessRate);
    }

    public static string ToCsv(IEnumerable<EfficiencyPoint> points) =>
        Header + "\n" + string.Concat(points.Select(p =>
            FormattableString.Invariant($"{p.Method},{p.Seed},{p.Milestone},{p.Every},{p.Iteration},{p.EnvSteps},{p.Return:R},{p.Success:R}\n")));

    public static List<EfficiencyPoint> Read(string path)
    {
        var lines = File.ReadAllLines(path).Where(l => l.Length > 0).ToList();
        if (lines.Count == 0 || lines[0] != Header) throw new UsageException($"{path} is not an efficiency file (its first line must be '{Header}')");
        var inv = CultureInfo.InvariantCulture;
        return lines.Skip(1).Select(l => l.Split(',')).Select(c => new EfficiencyPoint(c[0], int.Parse(c[1], inv), int.Parse(c[2], inv), long.Parse(c[3], inv),
            int.Parse(c[4], inv), long.Parse(c[5], inv), double.Parse(c[6], inv), double.Parse(c[7], inv))).ToList();
    }

    /// <summary>Per method, the mean over seeds at each milestone that every seed reached (x: the seeds' mean steps there).</summary>
    public static List<EfficiencyCurvePoint> Curves(IReadOnlyList<EfficiencyPoint> points) =>
        points.GroupBy(p => p.Method).SelectMany(method =>
        {
            int seeds = method.Select(p => p.Seed).Distinct().Count();
            return method.GroupBy(p => p.Milestone).Where(g => g.Select(p => p.Seed).Distinct().Count() == seeds).OrderBy(g => g.Key).Select(g =>
            {
                var returns = g.Select(p => p.Return).ToList();
                var (mean, ci) = returns.Count > 1 ? Statistics.MeanAndCi95(returns) : (returns[0], double.NaN);
                return new EfficiencyCurvePoint(method.Key, (long)g.Average(p => p.EnvSteps), mean, ci, returns.Count);
            });
        }).ToList();

    /// <summary>
    /// The default target: the highest held-out return every method reached (the lowest of the methods' best means over
    /// seeds), so that every method has a number of steps to it and the table compares how fast each got there.
    /// </summary>
    public static double DefaultTarget(IReadOnlyList<EfficiencyPoint> points)
    {
        var curves = Curves(points);
        // (A method whose seeds' milestones never coincide has no curve: its points alone then.)
        return points.Select(p => p.Method).Distinct().Min(m =>
            curves.Where(c => c.Method == m).Select(c => c.Return).DefaultIfEmpty(points.Where(p => p.Method == m).Max(p => p.Return)).Max());
    }

    /// <summary>Per method and seed: the environment steps of the first evaluation at or above <paramref name="target"/>.</summary>
    public static List<StepsToTarget> ToReach(IReadOnlyList<EfficiencyPoint> points, IReadOnlyList<string> methods, IReadOnlyList<int> seeds, double target)
    {
        var curves = Curves(points);
        return methods.Where(m => points.Any(p => p.Method == m)).Select(m =>
        {
            var perSeed = seeds.Select(s => points.Where(p => p.Method == m && p.Seed == s).OrderBy(p => p.Milestone)
                .FirstOrDefault(p => p.Return >= target)?.EnvSteps).ToList();
            var best = curves.Where(c => c.Method == m).MaxBy(c => c.Return)
                ?? points.Where(p => p.Method == m).Select(p => new EfficiencyCurvePoint(m, p.EnvSteps, p.Return, double.NaN, 1)).MaxBy(c => c.Return)!;
            return new StepsToTarget(m, perSeed, best.Return, best.EnvSteps, points.Where(p => p.Method == m).Max(p => p.EnvSteps));
        }).ToList();
    }

    /// <summary>The report's section: the table of steps to the target, and the figure (<paramref name="figure"/>, relative to the report) if drawn.</summary>
    public static string Section(IReadOnlyList<EfficiencyPoint> points, IReadOnlyList<string> methods, IReadOnlyList<int> seeds, double? target, string? figure)
    {
        var inv = CultureInfo.InvariantCulture;
        string N(double x) => x.ToString("N0", inv);
        double goal = target ?? DefaultTarget(points);
        var rows = ToReach(points, methods, seeds, goal);
        var sb = new StringBuilder();
        sb.AppendLine("## Sample efficiency: meta-training steps to one held-out return");
        sb.AppendLine();
        long every = points[0].Every;
        sb.AppendLine($"Every {N(every)} environment steps of meta-training (and before the first iteration) each run adapted to the held-out test " +
            "tasks with the evaluation's budget of experience (one evaluation seed); the runs' points are in their efficiency.csv. Target: a held-out return of " +
            $"**{goal.ToString("0.00", inv)}** ({(target is null ? "the highest return every method reached, the lowest of their best; `--target` sets another" : "--target")}). " +
            "Steps are those of the first evaluation at or above it, so they are known to within the interval.");
        sb.AppendLine();
        var fastest = rows.Where(r => r.Reached.Count == seeds.Count).Select(r => r.Mean!.Value).DefaultIfEmpty(double.NaN).Min();
        sb.AppendLine("| method | seeds that reached it | environment steps to reach it (mean over those; min - max) | against the fastest | best held-out return (at steps) |");
        sb.AppendLine("|---|---|---|---|---|");
        foreach (var r in rows)
        {
            string steps = r.Mean is { } mean ? $"{N(mean)} ({N(r.Reached.Min())} - {N(r.Reached.Max())})" : $"not within {N(r.Budget)}";
            string ratio = r.Reached.Count == seeds.Count && double.IsFinite(fastest) && fastest > 0 ? $"{(r.Mean!.Value / fastest).ToString("0.0", inv)}x" : "—";
            sb.AppendLine($"| {r.Method} | {r.Reached.Count} of {seeds.Count} | {steps} | {ratio} | {r.BestReturn.ToString("0.00", inv)} (at {N(r.BestAt)}) |");
        }
        if (figure is not null)
        {
            sb.AppendLine();
            sb.AppendLine($"![Held-out return against meta-training steps]({figure})");
        }
        return sb.ToString();
    }
}
