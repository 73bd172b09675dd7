using MetaRl.Algorithms;
using System.Diagnostics;
using System.Globalization;
using MetaRl.Algorithms.Classical;
using MetaRl.Envs.Bandits;
using MetaRl.Envs.TabularMdp;

namespace MetaRl.Experiments;

/// <summary>
/// `metarl reproduce rl2-bandits` and `rl2-mdps`: RL2's Tables 1 and 2 (Duan et al. 2016). For each setting
/// of a table, RL2 is trained (a resumable run), the classical algorithms' constants are tuned on training
/// tasks, and every method runs one trial on each of the same held-out tasks. The table shows the paper's
/// number beside ours (mean ± standard error over trials), as Markdown and CSV.
/// </summary>
public static partial class Rl2Reproduction
{
    public const string Bandits = "rl2-bandits", Mdps = "rl2-mdps";

    /// <summary>
    /// What to run: <c>Full</c> runs every setting of the table (default: the settings the bars name);
    /// <c>Only</c> names settings by their short name (e.g. "n10-k5", "n25") and overrides it; <c>TestTrials</c>
    /// is the number of held-out tasks (one trial each) per setting; the reference asks for at least 1000
    /// (bandits) and 500 (MDPs). RL2 is trained with <c>Seed</c>. <c>TrainOnly</c> trains (or resumes) the
    /// settings' RL2 runs and stops: what a worker process of <see cref="TrainInWorkers"/> does.
    /// <c>TrainedByWorkers</c> names the settings a worker trained (not complete before this invocation), and
    /// <c>WorkerPhaseSeconds</c> the wall time of that phase (Jobs workers side by side). <c>Overrides</c> are RL2
    /// config keys set for every selected setting (`--set batch-size=240000`: the paper's scale on a bigger machine).
    /// </summary>
    public sealed record Options(string Experiment, bool Quick, bool Full, IReadOnlyList<string>? Only, int Seed, string OutRoot, int? Iterations = null, int? TestTrials = null,
        bool TrainOnly = false, IReadOnlySet<string>? TrainedByWorkers = null, int Jobs = 1, double WorkerPhaseSeconds = 0,
        IReadOnlyDictionary<string, string>? Overrides = null);

    /// <summary>The RL2 config of a setting in this invocation: the table's values, shrunk by --quick, then --iterations and --set.</summary>
    public static Dictionary<string, string> TrainingValues(Options o, Setting s)
    {
        var values = new Dictionary<string, string>(s.Training);
        // --quick is a smoke test of the pipeline: a tiny run, annealed over all of it.
        if (o.Quick) { values["hidden-size"] = "32"; values["batch-size"] = "5000"; values["num-batches"] = "60"; values.Remove("anneal-from"); values.Remove("restart-at"); values.Remove("restart-lr"); }
        if (o.Iterations is { } it)
        {
            values["num-batches"] = $"{it}";
            // A schedule update the shorter run never reaches is refused, unless --set moves it too.
            foreach (var (key, schedule, wayOut) in new[]
            {
                ("anneal-from", "holds the learning rate to update {0} and then anneals it to 0", $"--set anneal-from=N with N below {it} (0: anneal over the whole run)"),
                ("restart-at", "restarts the learning rate at update {0} and anneals it to 0 again", "--set restart-at=0 --set restart-lr=0 (no restart)"),
            })
                if (values.TryGetValue(key, out var at) && int.Parse(at, CultureInfo.InvariantCulture) >= it && o.Overrides?.ContainsKey(key) != true)
                    throw new UsageException($"--iterations {it}: {s.Label} {string.Format(CultureInfo.InvariantCulture, schedule, at)}; give more than {at} iterations, or {wayOut}");
        }
        foreach (var (key, value) in o.Overrides ?? new Dictionary<string, string>())
        {
            // n defines the row of the table; the trial length is not a training choice.
            if (key == "episodes-per-trial")
                throw new UsageException("--set episodes-per-trial: n is fixed by each setting of the table; choose settings with --setting");
            values[key] = value;
        }
        // A misspelt key or a value out of range is refused here, before any training (or worker process) starts.
        var configs = LearnerRegistry.Get("rl2").NewConfigs();
        Config.Bind(values, configs);
        configs.OfType<Algorithms.Rl2.Rl2Config>().Single().CheckSchedule(configs.OfType<Algorithms.SingleTask.CommonConfig>().Single().NumBatches);
        return values;
    }

    /// <summary>One cell of our table.</summary>
    public sealed record Cell(string Setting, string Method, double Mean, double StandardError, int Trials, double Paper, string? Constant, double? Chosen);

    /// <summary>
    /// RL2's return minus a baseline's, task by task over the same held-out tasks, with the standard error of
    /// that paired difference: "at least as good as UCB1 on the same tasks" asks about this difference, and
    /// pairing removes the share of each method's spread that comes from the tasks (how good their best arm is).
    /// </summary>
    public sealed record Paired(string Setting, string Against, double Difference, double StandardError);

    /// <summary>
    /// The suffix of the MDP baselines run a second time with the reward prior of the paper's agents, N(0, 1)
    /// (Osband's TabulaRL defaults) rather than the tasks' N(1, 1): with it they land on the paper's columns, so
    /// the bars on PSRL/OPSRL/UCRL2/BEB and "RL2 above Greedy" can be read against the agents the paper ran.
    /// </summary>
    public const string PaperPrior = " (N(0, 1) prior)";

    /// <summary>The baselines RL2 is compared with task by task: the bars' (UCB1; random and greedy, with either prior) and the bandits' near-optimal Gittins.</summary>
    static readonly string[] BanditRivals = ["Gittins", "UCB1", "UCB1 (RL2 code)"], MdpRivals = ["Random", "Greedy", "Greedy" + PaperPrior];

    /// <summary>
    /// The bars of shared/reference/rl2.md: RL2 within 2% (bandits) or 3% (MDPs) of the paper's RL2, or above
    /// it; a classical baseline within that share or two standard errors, whichever is wider.
    /// </summary>
    public static string AgainstPaper(bool bandits, string method, double mean, double standardError, double paper)
    {
        double share = bandits ? 0.02 : 0.03;
        double tolerance = Math.Max(method.StartsWith("RL2", StringComparison.Ordinal) ? 0 : 2 * standardError, share * Math.Abs(paper));
        double diff = mean - paper;
        return Math.Abs(diff) <= tolerance ? "yes" : diff > 0 ? "above" : "no";
    }

    /// <summary>The settings an invocation runs, in table order.</summary>
    public static List<Setting> Select(Options o)
    {
        var table = o.Experiment == Bandits ? BanditTable : MdpTable;
        var settings = o.Only is { Count: > 0 } only
            ? only.Select(l => table.FirstOrDefault(s => Slug(s.Label) == l)
                ?? throw new UsageException($"unknown setting '{l}'; settings of {o.Experiment}: {string.Join(", ", table.Select(s => Slug(s.Label)))}")).ToList()
            : table.Where(s => o.Full || s.InDefaultSubset).ToList();
        return o.Quick && o.Only is not { Count: > 0 } ? [table[0]] : settings;
    }

    static string Root(Options o) => Path.Combine(o.OutRoot, $"reproduce-{o.Experiment}{(o.Quick ? "-quick" : "")}");

    /// <summary>
    /// The selected settings, the most training first: env steps (updates x steps per update) x GRU units x GRUs
    /// (two with a separate value network), a proxy for the time a run takes. The longest runs start first so
    /// that the short ones fill in beside them at the end: ordered by trial length, the bandit table's 256-unit
    /// n = 100, k = 10 run (then a third of the table's training) started after the three n = 500 runs and, by
    /// the measured per-update times, would have trained alone for its last half hour.
    /// </summary>
    public static IReadOnlyList<Setting> TrainingOrder(Options o) =>
        Select(o).OrderByDescending(s =>
        {
            var v = TrainingValues(o, s);
            double Number(string key) => double.Parse(v[key], CultureInfo.InvariantCulture);
            return Number("num-batches") * Number("batch-size") * Number("hidden-size") * (v["value-network"] == "separate" ? 2 : 1);
        }).ToList();

    /// <summary>
    /// Trains the settings' RL2 runs in worker processes, at most <c>o.Jobs</c> at a time, in
    /// <see cref="TrainingOrder"/> (a process each, not a thread each: libtorch's threads and the no-GC regions
    /// around each iteration are per process). <paramref name="worker"/> makes the command line of the worker for a setting
    /// (this tool's `reproduce ... --setting S --train-only`); each worker's output goes to &lt;setting&gt;.log beside
    /// the runs. Returns the settings whose worker trained (a complete run is left out).
    /// </summary>
    public static HashSet<string> TrainInWorkers(Options o, Func<string, ProcessStartInfo> worker, TextWriter log)
    {
        if (o.Jobs < 1) throw new UsageException("--jobs must be >= 1");
        // A bad --set is one clear error here, not one failed worker per setting. TrainingOrder does not stand in for
        // this: sorting a single setting never reads its values.
        foreach (var s in Select(o)) TrainingValues(o, s);
        var runs = TrainingOrder(o).Select(s => (Slug(s.Label), s.Label)).ToList();
        var trained = Reproduction.TrainInWorkers(runs, o.Jobs, Root(o), worker, log);
        return Select(o).Where(s => trained.Contains(Slug(s.Label))).Select(s => s.Label).ToHashSet();
    }

    public static string Run(Options o, TextWriter log)
    {
        bool bandits = o.Experiment == Bandits;
        var table = bandits ? BanditTable : MdpTable;
        var settings = Select(o);
        string root = Root(o);
        Directory.CreateDirectory(root);
        var wall = Stopwatch.StartNew();
        int testTrials = o.TestTrials ?? (o.Quick ? 200 : bandits ? 1000 : 500);
        int tuneTrials = o.Quick ? 100 : bandits ? 1000 : 300;

        var cells = new List<Cell>();
        var timings = new List<(string Setting, double TrainSeconds, double EvalSeconds, int Iterations, bool Earlier)>();
        var trainedWith = new List<(string Setting, Dictionary<string, string> Values)>();
        var coverage = new List<(string Setting, double[] Tried, double BestTried)>();
        var paired = new List<Paired>();
        string notes = Reproduction.Notes(root);
        foreach (var s in settings)
        {
            var values = TrainingValues(o, s);
            trainedWith.Add((s.Label, values));
            string env = bandits ? $"bandit-k{s.Arms}" : "tabular-mdp";
            string dir = Path.Combine(root, Slug(s.Label));
            var (run, trainSeconds, complete) = Reproduction.TrainOrResume("rl2", env, values, o.Seed, dir, s.Label, log);
            if (o.TrainOnly) continue;
            // A run a worker of this invocation trained was complete when this process came to it, but is not "earlier".
            bool earlier = complete && o.TrainedByWorkers?.Contains(s.Label) != true;
            var clock = Stopwatch.StartNew();
            var learner = (Algorithms.Rl2.Rl2)run.Learner;
            var (settingCells, settingPaired) = Evaluate(s, learner, run.Distribution, testTrials, tuneTrials, o.Seed, log);
            cells.AddRange(settingCells);
            paired.AddRange(settingPaired);
            if (bandits)
            {
                var (tried, best) = Algorithms.Rl2.Rl2Belief.ArmCoverage(learner, HeldOutTasks(s, run.Distribution, testTrials).Cast<BanditTask>().ToList(), s.Episodes, new Rng(Seeds.TableCoverage(o.Seed)));
                coverage.Add((s.Label, tried, best));
            }
            timings.Add((s.Label, trainSeconds, clock.Elapsed.TotalSeconds, run.Iteration, earlier));
            string report = Report(o, table == BanditTable ? "Table 1: multi-armed bandits" : "Table 2: random tabular MDPs", cells, paired, coverage, timings, trainedWith, testTrials,
                o.WorkerPhaseSeconds + wall.Elapsed.TotalSeconds) + notes;
            File.WriteAllText(Path.Combine(root, "report.md"), report);
            File.WriteAllText(Path.Combine(root, "results.csv"), Csv(cells));
            File.WriteAllText(Path.Combine(root, "paired.csv"), Csv(paired));
        }
        if (o.TrainOnly) return root;
        log.WriteLine(File.ReadAllText(Path.Combine(root, "report.md")));
        log.WriteLine($"Results: {root} (report.md, results.csv, paired.csv, one RL2 run directory per setting)");
        return root;
    }

    /// <summary>A setting's short name, as its run directory and the --setting option spell it: "n=10, k=5" is "n10-k5".</summary>
    public static string Slug(string label) => label.Replace(" ", "").Replace(",", "-").Replace("=", "");

    /// <summary>A setting's held-out tasks: from a generator no training run uses (tuning tasks come from another).</summary>
    static IReadOnlyList<object> HeldOutTasks(Setting s, ITaskDistribution distribution, int testTrials) =>
        distribution.SampleTasks(testTrials, new Rng(Seeds.TableHeldOutTasks(s.Episodes, s.Arms)));

    /// <summary>
    /// Tunes each classical method on training tasks, then runs every method once on each held-out task; also
    /// returns RL2's paired differences with its rivals on those tasks.
    /// </summary>
    static (List<Cell> Cells, List<Paired> Paired) Evaluate(Setting s, Algorithms.Rl2.Rl2 learner, ITaskDistribution distribution, int testTrials, int tuneTrials, int seed, TextWriter log)
    {
        var test = HeldOutTasks(s, distribution, testTrials);
        var tune = distribution.SampleTasks(tuneTrials, new Rng(Seeds.TableTuningTasks(s.Episodes, s.Arms)));
        // The MDP baselines run with the tasks' prior and again with the paper's (PaperPrior); Random has no prior.
        (string Suffix, IReadOnlyList<ClassicalBaseline> Baselines)[] groups = s.Arms > 0
            ? [("", ClassicalBaselines.Bandits)]
            : [("", ClassicalBaselines.Mdps), (PaperPrior, ClassicalBaselines.MdpsWithPrior(0).Where(b => b.Name != "Random").ToList())];
        // The paper's figures are in the order of its columns; a baseline is compared with the column it names.
        var columns = (s.Arms > 0 ? ClassicalBaselines.BanditColumns : ClassicalBaselines.MdpColumns).ToList();
        var cells = new List<Cell>();
        var totalsOf = new Dictionary<string, double[]>();
        foreach (var (suffix, b) in groups.SelectMany(g => g.Baselines.Select(b => (g.Suffix, b))))
        {
            string name = b.Name + suffix;
            double chosen = b.Grid.Count > 0 ? b.Grid[0] : 0;
            if (b.Constant is not null && b.Grid.Count > 1)
                chosen = s.Arms > 0
                    ? ClassicalBaselines.TuneBandit(b, tune.Cast<BanditTask>().ToList(), s.Episodes, seed).Chosen
                    : ClassicalBaselines.TuneMdp(b, tune.Cast<MdpTask>().ToList(), s.Episodes, distribution.MaxEpisodeSteps, seed).Chosen;
            double[] totals = s.Arms > 0
                ? ClassicalTrials.RunBandit(() => (BanditAgent)b.Make(chosen), test.Cast<BanditTask>().ToList(), s.Episodes, Seeds.TableClassicalTrials(seed))
                : ClassicalTrials.RunMdp(() => (MdpAgent)b.Make(chosen), test.Cast<MdpTask>().ToList(), s.Episodes, distribution.MaxEpisodeSteps, Seeds.TableClassicalTrials(seed));
            var cell = Summarise(s.Label, name, totals, s.Paper[columns.IndexOf(b.Column)], b.Constant, b.Constant is null ? null : chosen);
            log.WriteLine(FormattableString.Invariant($"{s.Label}: {name}{(b.Constant is null ? "" : $" ({b.Constant} = {chosen})")} {cell.Mean:0.00} ± {cell.StandardError:0.00} (paper {cell.Paper})"));
            cells.Add(cell);
            totalsOf[name] = totals;
        }
        // RL2's score samples actions as in training; the most likely action is shown beside it (no paper figure).
        foreach (var (method, mostLikely) in new[] { ("RL2", false), ("RL2 (most likely action)", true) })
        {
            var rl2 = learner.RunTrials(test, s.Episodes, new Rng(Seeds.TableRl2Trials(seed)), mostLikely: mostLikely).TrialReturns();
            var ours = Summarise(s.Label, method, rl2, s.PaperRl2, null, null);
            log.WriteLine(FormattableString.Invariant($"{s.Label}: {method} {ours.Mean:0.00} ± {ours.StandardError:0.00} (paper RL2 {ours.Paper})"));
            cells.Add(ours);
            totalsOf[method] = rl2;
        }
        var paired = (s.Arms > 0 ? BanditRivals : MdpRivals).Select(rival => PairedDifference(s.Label, rival, totalsOf["RL2"], totalsOf[rival])).ToList();
        return (cells, paired);
    }

    /// <summary>The mean of ours[i] - theirs[i] over the same tasks and its standard error.</summary>
    public static Paired PairedDifference(string setting, string against, double[] ours, double[] theirs)
    {
        if (ours.Length != theirs.Length) throw new ArgumentException($"{ours.Length} trials against {theirs.Length}: a paired difference needs the same tasks");
        var (mean, se) = MeanAndStandardError(ours.Zip(theirs, (a, b) => a - b).ToArray());
        return new Paired(setting, against, mean, se);
    }

    static Cell Summarise(string setting, string method, double[] totals, double paper, string? constant, double? chosen)
    {
        var (mean, se) = MeanAndStandardError(totals);
        return new Cell(setting, method, mean, se, totals.Length, paper, constant, chosen);
    }

    static (double Mean, double StandardError) MeanAndStandardError(double[] x)
    {
        double mean = x.Average();
        double sd = Math.Sqrt(x.Sum(v => (v - mean) * (v - mean)) / Math.Max(1, x.Length - 1));
        return (mean, sd / Math.Sqrt(x.Length));
    }

    static string Verdict(Paired p) => Math.Abs(p.Difference) <= 2 * p.StandardError ? "level" : p.Difference > 0 ? "above" : "below";

    static string F(double x) => x.ToString("0.0", CultureInfo.InvariantCulture);
    static string F2(double x) => x.ToString("0.00", CultureInfo.InvariantCulture);
}
