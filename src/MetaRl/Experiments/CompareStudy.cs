using System.Globalization;
using System.Text;
using MetaRl.Algorithms;
using MetaRl.Evaluation;

namespace MetaRl.Experiments;

/// <summary>
/// `metarl compare`: several meta-learners on one task distribution, the same seeds and the same meta-training budget
/// (environment steps, with a wall-time cap per run so that a slow learner cannot hold up the rest: the report says
/// which bound stopped each run), each evaluated by the one protocol (<see cref="MetaEvaluator"/>): return and success
/// on the train, held-out test and out-of-distribution tasks against episodes of experience of the task (a MAML
/// gradient step counts its fast-batch-size episodes, an RL2, PEARL, variBAD or in-context episode counts one), with
/// 95% CIs over seeds. Runs can also be loaded from run directories (trained by `metarl train`), which must be of the
/// family and seeds the comparison names.
/// </summary>
public static class CompareStudy
{
    /// <summary>
    /// A comparison: the family, the methods and seeds; EnvSteps, each run's meta-training budget in environment steps (it
    /// stops at the first iteration that reaches it); Minutes, each run's wall-time cap (0: none); AdaptEpisodes, the
    /// episodes of experience of each task at evaluation (a gradient-based learner takes as many steps as fit); Tasks per
    /// split; Values, config values of every run of a method (method -> key -> value); RunsRoot, where the runs are
    /// trained; RunDirectories, runs to load instead of training; EvalEvery, the interval in environment steps of the
    /// held-out evaluations during meta-training (0: none; <see cref="SampleEfficiency"/>); Target, the held-out return
    /// the sample-efficiency table counts steps to (null: its default).
    /// </summary>
    public sealed record Options(string Env, IReadOnlyList<string> Methods, IReadOnlyList<int> Seeds, long EnvSteps, double Minutes, int AdaptEpisodes, int Tasks,
        IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> Values, string RunsRoot, IReadOnlyList<string>? RunDirectories = null,
        long EvalEvery = 0, double? Target = null);

    /// <summary>One run of the comparison: its method, seed, directory, meta-training cost and why it stopped.</summary>
    public sealed record RunCost(string Method, int Seed, string Directory, int Iterations, long EnvSteps, double TrainingSeconds, string StoppedBy);

    public sealed record Result(Options Options, string EnvDescription, IReadOnlyList<AdaptationPoint> Points, IReadOnlyList<RunCost> Runs, double Seconds,
        IReadOnlyList<EfficiencyPoint> Efficiency);

    public static Result Run(Options o, TextWriter log)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var distribution = EnvRegistry.Create(o.Env);
        var runs = o.RunDirectories is { Count: > 0 } ? Load(o) : Train(o, log);
        var curves = new List<List<AdaptationPoint>>();
        var costs = new List<RunCost>();
        var efficiency = new List<EfficiencyPoint>();
        foreach (var (method, seed, dir, run, stoppedBy) in runs)
        {
            using (run)
            {
                if (run.Learner is not IMetaLearner learner)
                    throw new UsageException($"compare evaluates meta-learners; {dir.Path} holds a {run.Algorithm} run ({LearnerRegistry.Get(run.Algorithm).Family})");
                var splits = run.Distribution.Splits();
                var (budget, perStep) = AdaptationSteps(learner, splits, o.AdaptEpisodes, seed);
                log.WriteLine($"{method}, seed {seed}: evaluating {budget} step{(budget > 1 ? "s" : "")} of {perStep} episode{(perStep > 1 ? "s" : "")} on up to {o.Tasks} tasks per split ...");
                var curve = MetaEvaluator.Evaluate(method, learner, splits, budget, [Seeds.Evaluation(seed, 1), Seeds.Evaluation(seed, 2)], o.Tasks);
                File.WriteAllText(Path.Combine(dir.Path, "adaptation.csv"), MetaEvaluator.ToCsv(curve));
                curves.Add(curve);
                double seconds = (dir.SummaryNumber(Trainer.TrainingSecondsKey) ?? 0) - (dir.SummaryNumber(EfficiencySecondsKey) ?? 0);
                costs.Add(new RunCost(method, seed, dir.Path, run.Iteration, run.EnvSteps, seconds, stoppedBy));
                string efficiencyFile = Path.Combine(dir.Path, SampleEfficiency.FileName);
                if (File.Exists(efficiencyFile)) efficiency.AddRange(SampleEfficiency.Read(efficiencyFile).Select(p => p with { Method = method }));
            }
        }
        var points = o.Methods.SelectMany(m => MetaEvaluator.AcrossRuns(curves.Where(c => c.Count > 0 && c[0].Method == m).ToList())).ToList();
        return new Result(o, distribution.Description, points, costs, clock.Elapsed.TotalSeconds, efficiency);
    }

    /// <summary>The summary keys of the seconds a comparison's run spent in its held-out evaluations during meta-training, and of what stopped it.</summary>
    public const string EfficiencySecondsKey = "efficiency_seconds", StoppedByKey = "compare_stopped_by";

    /// <summary>The adaptation steps that fit <paramref name="episodes"/> episodes of experience, and the episodes per step: the method's own unit, read from a one-task probe.</summary>
    static (int Steps, int EpisodesPerStep) AdaptationSteps(IMetaLearner learner, TaskSplits<object> splits, int episodes, int seed)
    {
        int perStep = Math.Max(1, learner.AdaptTo(splits.Test.Take(1).ToList(), 0, new Rng(seed)).EpisodesPerStep);
        return (Math.Max(1, episodes / perStep), perStep);
    }

    /// <summary>Trains every method on every seed (or resumes a run of the same settings left by an interrupted comparison).</summary>
    static List<(string, int, RunDirectory, TrainingRun, string)> Train(Options o, TextWriter log)
    {
        var runs = new List<(string, int, RunDirectory, TrainingRun, string)>();
        foreach (string method in o.Methods)
            foreach (int seed in o.Seeds)
            {
                var values = new Dictionary<string, string>(o.Values.GetValueOrDefault(method) ?? new Dictionary<string, string>());
                // The step budget, not num-batches, ends the run; num-batches is only a ceiling (and a schedule's length).
                values.TryAdd("num-batches", "100000");
                var dir = RunDirectory.At(Path.Combine(o.RunsRoot, method, $"seed{seed}"));
                TrainingRun run;
                if (dir.HasCheckpoint)
                {
                    Reproduction.RefuseChangedSettings(method, dir, values, seed, $"{method} seed {seed}");
                    run = Trainer.Resume(dir, values);
                }
                else
                {
                    run = new TrainingRun(method, o.Env, values, seed);
                    dir.WriteConfig(run.ConfigYaml());
                    if (File.Exists(dir.ProgressPath)) File.Delete(dir.ProgressPath);
                }
                string stoppedBy = "environment steps";
                // Meta-training seconds so far: the run's training clock less its held-out evaluations (they are not training).
                double earlier = run.Iteration > 0 ? (dir.SummaryNumber(Trainer.TrainingSecondsKey) ?? 0) - (dir.SummaryNumber(EfficiencySecondsKey) ?? 0) : 0;
                double evaluatedEarlier = run.Iteration > 0 ? dir.SummaryNumber(EfficiencySecondsKey) ?? 0 : 0;
                var tracker = o.EvalEvery > 0
                    ? new SampleEfficiency.Tracker(method, seed, dir, o.EvalEvery, run, learner =>
                    {
                        var splits = run.Distribution.Splits();
                        var (steps, _) = AdaptationSteps(learner, splits, o.AdaptEpisodes, seed);
                        return SampleEfficiency.HeldOutReturn(learner, splits, steps, o.Tasks, Seeds.Evaluation(seed, 3));
                    })
                    : null;
                tracker?.AtIteration(run, log); // before the first iteration: the untrained learner's held-out return
                double outsideClock = tracker?.Seconds ?? 0; // that evaluation ran before the training's clock started
                double Evaluating() => evaluatedEarlier + (tracker?.Seconds ?? 0) - outsideClock;
                bool Done(TrainingRun r, TimeSpan elapsed)
                {
                    if (r.EnvSteps >= o.EnvSteps) { stoppedBy = "environment steps"; return true; }
                    if (o.Minutes > 0 && earlier + elapsed.TotalSeconds - (Evaluating() - evaluatedEarlier) >= o.Minutes * 60) { stoppedBy = "wall time"; return true; }
                    return false;
                }
                if (!Done(run, TimeSpan.Zero))
                {
                    log.WriteLine($"{method}, seed {seed}: meta-training to {o.EnvSteps:N0} environment steps{(o.Minutes > 0 ? FormattableString.Invariant($" or {o.Minutes:0.#} minutes") : "")} ...");
                    Trainer.Continue(run, dir, p =>
                    {
                        if (p.Result.Iteration % 10 == 0)
                            log.WriteLine(FormattableString.Invariant($"  {method}, seed {seed}: iteration {p.Result.Iteration}, {p.Result.EnvSteps:N0} steps, return {p.Result.MeanReturn:0.00}"));
                        tracker?.AtIteration(run, log);
                        if (tracker is not null) dir.AddToSummary(EfficiencySecondsKey, Evaluating());
                    }, Done);
                    // The training's final summary replaced the file: the evaluations' seconds again.
                    if (tracker is not null) dir.AddToSummary(EfficiencySecondsKey, Evaluating());
                }
                else stoppedBy = run.EnvSteps >= o.EnvSteps ? "environment steps" : "wall time";
                dir.AddToSummary(StoppedByKey, stoppedBy);
                runs.Add((method, seed, dir, run, stoppedBy));
            }
        return runs;
    }

    /// <summary>
    /// Loads runs from their directories. Each must be of the comparison's family and one of its methods and seeds, and
    /// every method must have a run for every seed: a comparison over other envs or seeds than it says is refused, naming the runs.
    /// </summary>
    static List<(string, int, RunDirectory, TrainingRun, string)> Load(Options o)
    {
        var read = o.RunDirectories!.Select(path => (Dir: RunDirectory.Open(path), Config: RunDirectory.Open(path).ReadConfig())).ToList();
        var wrongEnv = read.Where(r => r.Config.Env != o.Env).Select(r => $"{r.Dir.Path} ({r.Config.Env})").ToList();
        if (wrongEnv.Count > 0) throw new UsageException($"compare --env {o.Env}: these runs were trained on another env: {string.Join(", ", wrongEnv)}");
        var wrongSeed = read.Where(r => !o.Seeds.Contains(r.Config.Seed)).Select(r => $"{r.Dir.Path} (seed {r.Config.Seed})").ToList();
        if (wrongSeed.Count > 0) throw new UsageException($"compare --seeds {string.Join(",", o.Seeds)}: these runs were trained with other seeds: {string.Join(", ", wrongSeed)}");
        var wrongMethod = read.Where(r => !o.Methods.Contains(r.Config.Algorithm)).Select(r => $"{r.Dir.Path} ({r.Config.Algorithm})").ToList();
        if (wrongMethod.Count > 0) throw new UsageException($"compare --methods {string.Join(",", o.Methods)}: these runs are of another method: {string.Join(", ", wrongMethod)}");
        foreach (var g in read.GroupBy(r => (r.Config.Algorithm, r.Config.Seed)).Where(g => g.Count() > 1))
            throw new UsageException($"compare: two runs of {g.Key.Algorithm} with seed {g.Key.Seed}: {string.Join(", ", g.Select(r => r.Dir.Path))}");
        var missing = o.Methods.SelectMany(m => o.Seeds.Where(s => !read.Any(r => r.Config.Algorithm == m && r.Config.Seed == s)).Select(s => $"{m} seed {s}")).ToList();
        if (missing.Count > 0) throw new UsageException($"compare: no run given for {string.Join(", ", missing)} (every method needs a run for every seed)");
        return o.Methods.SelectMany(m => o.Seeds.Select(s => read.Single(r => r.Config.Algorithm == m && r.Config.Seed == s)))
            .Select(r => (r.Config.Algorithm, r.Config.Seed, r.Dir, Trainer.Load(r.Dir), r.Dir.SummaryText(StoppedByKey) ?? "its own num-batches"))
            .ToList();
    }

    /// <summary>The episodes at which the tables report every method (where a method has a point there).</summary>
    public static IReadOnlyList<int> TableEpisodes(IReadOnlyList<AdaptationPoint> points) =>
        new[] { 0, 1, 2, 3, 5, 10, 20, 40, 60, 100 }.Where(e => points.Any(p => p.Episodes == e)).Append(points.Max(p => p.Episodes)).Distinct().Order().ToList();

    /// <summary>Per method: the held-out test return and the out-of-distribution return after the most experience both have, and the drop (the overlap assumption made visible).</summary>
    public static IReadOnlyList<(string Method, int Episodes, double Test, double Ood, double Drop, double TestGain)> OodDrop(Result r) =>
        r.Options.Methods.Select(m =>
        {
            var test = r.Points.Where(p => p.Method == m && p.Split == "test").ToList();
            var ood = r.Points.Where(p => p.Method == m && p.Split == "ood").ToList();
            if (test.Count == 0 || ood.Count == 0) return (m, 0, double.NaN, double.NaN, double.NaN, double.NaN);
            int e = Math.Min(test.Max(p => p.Episodes), ood.Max(p => p.Episodes));
            double t = test.Single(p => p.Episodes == e).MeanReturn, d = ood.Single(p => p.Episodes == e).MeanReturn;
            return (m, e, t, d, t - d, t - test.Single(p => p.Episodes == 0).MeanReturn);
        }).ToList();

    public static string ToCsv(Result r) => MetaEvaluator.ToCsv(r.Points);

    public static string CostsCsv(Result r) =>
        "method,seed,iterations,env_steps,training_seconds,stopped_by,run\n" + string.Concat(r.Runs.Select(c =>
            FormattableString.Invariant($"{c.Method},{c.Seed},{c.Iterations},{c.EnvSteps},{c.TrainingSeconds:0.0},{c.StoppedBy},{c.Directory}\n")));

    /// <summary>
    /// The Markdown report; <paramref name="figures"/> are the file names of the per-split figures (relative to the report),
    /// and under "efficiency" the held-out return against meta-training steps.
    /// </summary>
    public static string Report(Result r, IReadOnlyDictionary<string, string> figures)
    {
        var o = r.Options;
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        string F(double x) => double.IsFinite(x) ? x.ToString("0.00", inv) : "n/a";
        sb.AppendLine($"# Comparison on {o.Env}");
        sb.AppendLine();
        string about = r.EnvDescription.Length > 0 ? char.ToUpperInvariant(r.EnvDescription[0]) + r.EnvDescription[1..] : o.Env;
        sb.AppendLine($"{about}. Methods: {string.Join(", ", o.Methods)}; seeds {string.Join(", ", o.Seeds)}. Meta-training budget per run: " +
            $"{o.EnvSteps.ToString("N0", inv)} environment steps{(o.Minutes > 0 ? $" or {o.Minutes.ToString("0.#", inv)} minutes of wall time, whichever came first" : "")}. " +
            $"Evaluation: {o.AdaptEpisodes} episodes of experience of each task, up to {o.Tasks} tasks per split, two evaluation seeds per run; " +
            "the 95% CI is over seeds (over tasks with one seed).");
        sb.AppendLine();
        sb.AppendLine("Adaptation effort is on one axis, episodes of experience of the task: a gradient-based learner's step counts its " +
            "fast-batch-size episodes, an episode of a recurrent, in-context or probabilistic-context learner counts one.");
        foreach (string split in MetaEvaluator.SplitNames)
        {
            var ofSplit = r.Points.Where(p => p.Split == split).ToList();
            if (ofSplit.Count == 0) continue;
            string title = split switch { "train" => "Meta-training tasks", "test" => "Held-out test tasks", _ => "Out-of-distribution tasks" };
            sb.AppendLine();
            sb.AppendLine($"## {title}");
            sb.AppendLine();
            var episodes = TableEpisodes(ofSplit);
            sb.AppendLine($"Mean return after e episodes of experience (± 95% CI), and the success rate at the last point.");
            sb.AppendLine();
            sb.AppendLine($"| method | {string.Join(" | ", episodes.Select(e => $"e = {e}"))} | success |");
            sb.AppendLine($"|---|{string.Concat(episodes.Select(_ => "---|"))}---|");
            foreach (string m in o.Methods)
            {
                var curve = ofSplit.Where(p => p.Method == m).ToList();
                if (curve.Count == 0) continue;
                var cells = episodes.Select(e => curve.FirstOrDefault(p => p.Episodes == e) is { } p ? $"{F(p.MeanReturn)} ± {F(p.Ci95)}" : "—");
                sb.AppendLine($"| {m} | {string.Join(" | ", cells)} | {curve.MaxBy(p => p.Episodes)!.SuccessRate.ToString("P0", inv)} |");
            }
            if (figures.TryGetValue(split, out var figure))
            {
                sb.AppendLine();
                sb.AppendLine($"![{title}]({figure})");
            }
        }
        sb.AppendLine();
        sb.AppendLine("## The overlap assumption: held-out against out-of-distribution tasks");
        sb.AppendLine();
        sb.AppendLine("Meta-RL assumes the test tasks come from the training distribution. The drop from held-out test tasks to tasks " +
            "outside it (the family's OOD split) shows how much each method relies on that; the gain is the test return's rise from e = 0.");
        sb.AppendLine();
        sb.AppendLine("| method | after e episodes | test | OOD | drop (test - OOD) | test gain from adapting |");
        sb.AppendLine("|---|---|---|---|---|---|");
        foreach (var d in OodDrop(r))
            sb.AppendLine($"| {d.Method} | {d.Episodes} | {F(d.Test)} | {F(d.Ood)} | {F(d.Drop)} | {F(d.TestGain)} |");
        if (r.Efficiency.Count > 0)
        {
            sb.AppendLine();
            sb.Append(SampleEfficiency.Section(r.Efficiency, o.Methods, o.Seeds, o.Target, figures.GetValueOrDefault("efficiency")));
        }
        sb.AppendLine();
        sb.AppendLine("## Meta-training cost");
        sb.AppendLine();
        sb.AppendLine("Wall time of meta-training alone (the held-out evaluations during it are not counted, nor against the cap).");
        sb.AppendLine();
        sb.AppendLine("| method | seed | iterations | environment steps | wall time (s) | stopped by |");
        sb.AppendLine("|---|---|---|---|---|---|");
        foreach (var c in r.Runs)
            sb.AppendLine($"| {c.Method} | {c.Seed} | {c.Iterations} | {c.EnvSteps.ToString("N0", inv)} | {c.TrainingSeconds.ToString("0", inv)} | {c.StoppedBy} |");
        sb.AppendLine();
        sb.AppendLine("## How this was produced");
        sb.AppendLine();
        sb.AppendLine($"`metarl compare --env {o.Env} --methods {string.Join(",", o.Methods)} --seeds {string.Join(",", o.Seeds)} --env-steps {o.EnvSteps.ToString(inv)}" +
            $"{(o.Minutes > 0 ? $" --minutes {o.Minutes.ToString(inv)}" : "")} --adapt-episodes {o.AdaptEpisodes} --tasks {o.Tasks} --eval-every {o.EvalEvery.ToString(inv)}" +
            (o.Target is { } target ? $" --target {target.ToString(inv)}" : "") +
            string.Concat(o.Values.SelectMany(m => m.Value.Select(kv => $" --set {m.Key}.{kv.Key}={kv.Value}"))) + "`, " +
            $"{r.Seconds.ToString("0", inv)} s in all on {Environment.ProcessorCount} cores. Each run's settings are in its config.yaml; the curves in compare.csv, the costs in costs.csv" +
            (r.Efficiency.Count > 0 ? ", the held-out returns during meta-training in efficiency.csv." : "."));
        return sb.ToString();
    }
}
