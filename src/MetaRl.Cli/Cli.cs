using MetaRl.Configuration;
using System.CommandLine;
using System.Globalization;
using MetaRl.Algorithms;
using MetaRl.Algorithms.SingleTask;
using MetaRl.Core;
using MetaRl.Envs;
using MetaRl.Evaluation;
using MetaRl.Experiments;
using MetaRl.Torch;
using Spectre.Console;

namespace MetaRl.Cli;

/// <summary>
/// The `metarl` command line. Exit codes: 0 success, 1 a run failed (e.g. a non-finite loss), 2 a usage
/// error (unknown name, bad value, bad arguments). User mistakes print one line, never a stack trace.
/// </summary>
public static class Cli
{
    public const int Ok = 0, RunFailed = 1, UsageError = 2;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, bool interactive = false)
    {
        var root = BuildCommands(stdout, interactive);
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var e in parsed.Errors) stderr.WriteLine($"metarl: {e.Message}");
            stderr.WriteLine("Run 'metarl --help' for usage.");
            return UsageError;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (UsageException e) { stderr.WriteLine($"metarl: {e.Message}"); return UsageError; }
        catch (NativeLibraryException e) { stderr.WriteLine($"metarl: {e.Message}"); return RunFailed; }
        catch (NonFiniteException e)
        {
            stderr.WriteLine($"metarl: training stopped: {e.Message}. The last good checkpoint is kept; lower the learning rate or max-kl and resume with --resume.");
            return RunFailed;
        }
    }

    static RootCommand BuildCommands(TextWriter stdout, bool interactive)
    {
        var root = new RootCommand("MetaRl: multi-task and meta reinforcement learning for .NET");
        root.Add(ListCommand(stdout));
        root.Add(TrainCommand(stdout, interactive));
        root.Add(EvalCommand(stdout));
        root.Add(BenchCommand(stdout));
        root.Add(DemoCommand(stdout, interactive));
        root.Add(ReproduceCommand(stdout));
        root.Add(PlotCommand(stdout));
        root.Add(BeliefCommand(stdout));
        return root;
    }

    static Command ListCommand(TextWriter stdout)
    {
        var what = new Argument<string>("what") { Description = "envs, algorithms or experiments (all if omitted)", DefaultValueFactory = _ => "all" };
        what.AcceptOnlyFromAmong("all", "envs", "algorithms", "experiments");
        var cmd = new Command("list", "List the envs, algorithms and experiments, each with a one-line description") { what };
        cmd.SetAction(p =>
        {
            string w = p.GetValue(what)!;
            var console = ConsoleFor(stdout);
            if (w is "all" or "envs")
            {
                var t = new Table().Title("envs").AddColumn("name").AddColumn("description");
                foreach (var name in EnvRegistry.Names) t.AddRow(name, Markup.Escape(EnvRegistry.Create(name).Description));
                console.Write(t);
            }
            if (w is "all" or "algorithms")
            {
                var t = new Table().Title("algorithms").AddColumn("name").AddColumn("description");
                foreach (var spec in LearnerRegistry.All) t.AddRow(spec.Name, Markup.Escape(spec.Description));
                console.Write(t);
            }
            if (w is "all" or "experiments")
            {
                var t = new Table().Title("experiments").AddColumn("name").AddColumn("description");
                foreach (var (name, d) in Experiments) t.AddRow(name, Markup.Escape(d));
                console.Write(t);
            }
            return Ok;
        });
        return cmd;
    }

    static readonly Dictionary<string, string> Experiments = new()
    {
        ["demo"] = "MAML-TRPO on 2D navigation for 15 meta-iterations, then the adaptation table (the README's first command)",
        [MamlReproduction.Name] = "MAML-TRPO vs pretrained, scratch and oracle on 2D navigation, 3 seeds x 500 iterations, beside pytorch-maml-rl's numbers",
        [Rl2Reproduction.Bandits] = "RL2's Table 1: RL2 against Gittins, Thompson sampling, UCB1, epsilon-greedy and greedy on Bernoulli bandits, beside the paper's numbers",
        [Rl2Reproduction.Mdps] = "RL2's Table 2: RL2 against PSRL, OPSRL, UCRL2, BEB, random and greedy on random tabular MDPs, beside the paper's numbers",
    };

    static Command TrainCommand(TextWriter stdout, bool interactive)
    {
        var algorithm = new Argument<string?>("algorithm") { Description = $"one of: {string.Join(", ", LearnerRegistry.Names)}", Arity = ArgumentArity.ZeroOrOne };
        var env = new Option<string?>("--env") { Description = $"task distribution (see 'metarl list envs'); default: the config's env-name, else {TrainingRun.DefaultEnv}" };
        var config = new Option<string?>("--config") { Description = "YAML file of config keys (same names as the reference implementations)" };
        var set = new Option<string[]>("--set") { Description = "override a config key: --set max-kl=0.02 (repeatable)", AllowMultipleArgumentsPerToken = false };
        var seed = new Option<int>("--seed") { Description = "the one seed that fixes the whole run", DefaultValueFactory = _ => 1 };
        var preset = new Option<string?>("--preset") { Description = "a named set of config values, under --config and --set (rl2: paper, the paper's scale: TRPO, 250,000 steps per update, 256 units)" };
        var iterations = new Option<int?>("--iterations") { Description = "number of policy updates (config key num-batches)" };
        var outDir = new Option<string>("--out") { Description = "root directory of runs", DefaultValueFactory = _ => "runs" };
        var resume = new Option<string?>("--resume") { Description = "continue the run in this directory from its last checkpoint" };
        var threads = new Option<int>("--threads") { Description = "libtorch threads (1 gives bit-identical runs per seed)", DefaultValueFactory = _ => 1 };
        var cmd = new Command("train", "Train an algorithm on a task distribution; writes runs/<experiment>/<time>-seed<k>/")
            { algorithm, env, config, set, seed, preset, iterations, outDir, resume, threads };
        cmd.SetAction(p =>
        {
            SetThreads(p.GetValue(threads));
            var values = new ConfigValues();
            if (p.GetValue(preset) is { } presetName) values.Set(TrainingRun.PresetKey, presetName, "--preset");
            if (p.GetValue(config) is { } file) values.Merge(Config.ReadYaml(file));
            values.Merge(Config.ParseOverrides(p.GetValue(set) ?? []));
            if (p.GetValue(iterations) is { } n) values.Set("num-batches", n.ToString(CultureInfo.InvariantCulture), "--iterations");

            if (p.GetValue(resume) is { } runPath)
            {
                var dir = RunDirectory.Open(runPath);
                var run = Trainer.Resume(dir, values);
                if (p.GetValue(algorithm) is { } a && a != run.Algorithm)
                    throw new UsageException($"run '{runPath}' is a {run.Algorithm} run, not {a}");
                stdout.WriteLine($"Resuming {run.Algorithm} on {run.Distribution.Name} at iteration {run.Iteration} of {run.Common.NumBatches}");
                WithProgress(stdout, interactive, run, report => Trainer.Continue(run, dir, report));
                stdout.WriteLine($"Results: {dir.Path}");
                return Ok;
            }
            string algo = p.GetValue(algorithm) ?? throw new UsageException($"name an algorithm ({string.Join(", ", LearnerRegistry.Names)}) or give --resume <run-dir>");
            var newRun = new TrainingRun(algo, p.GetValue(env), values, p.GetValue(seed));
            RunDirectory? created = null;
            stdout.WriteLine($"Training {newRun.Algorithm} on {newRun.Distribution.Name}{(newRun.Task is { } t ? $", task {t}" : "")}, seed {newRun.Seed}, {newRun.Common.NumBatches} iterations");
            WithProgress(stdout, interactive, newRun, report => created = Trainer.Start(newRun, p.GetValue(outDir)!, report));
            stdout.WriteLine($"Results: {created!.Path}");
            return Ok;
        });
        return cmd;
    }

    static Command EvalCommand(TextWriter stdout)
    {
        var runDirs = new Argument<string[]>("run-dir") { Description = "run directories written by 'metarl train' (several runs of a meta-learner are combined, CI over runs)", Arity = ArgumentArity.OneOrMore };
        var episodes = new Option<int>("--episodes") { Description = "single-task runs: episodes per task", DefaultValueFactory = _ => 10 };
        var steps = new Option<int>("--steps") { Description = "meta-learners: adaptation steps to evaluate", DefaultValueFactory = _ => 3 };
        var cmd = new Command("eval", "Evaluate runs: single-task policies on their task and the splits; meta-learners after 0..k adaptation steps on the train / test / out-of-distribution splits") { runDirs, episodes, steps };
        cmd.SetAction(p =>
        {
            SetThreads(1);
            var dirs = p.GetValue(runDirs)!.Select(RunDirectory.Open).ToList();
            int eps = p.GetValue(episodes), budget = p.GetValue(steps);
            if (eps < 1) throw new UsageException("--episodes must be >= 1");
            if (budget < 0) throw new UsageException("--steps must be >= 0");
            var runs = dirs.Select(d => (Dir: d, Run: Trainer.Load(d))).ToList();
            if (runs.All(r => r.Run.Learner is IMetaLearner))
            {
                var curves = new List<List<AdaptationPoint>>();
                foreach (var (dir, run) in runs)
                {
                    var curve = MetaEvaluator.Evaluate(run.Algorithm, (IMetaLearner)run.Learner, run.Distribution.Splits(), budget, [run.Seed * 1000 + 1, run.Seed * 1000 + 2]);
                    File.WriteAllText(Path.Combine(dir.Path, "adaptation.csv"), MetaEvaluator.ToCsv(curve));
                    dir.AddToSummary("adaptation", curve);
                    curves.Add(curve);
                }
                var points = MetaEvaluator.AcrossRuns(curves);
                var table = new Table().Title($"return after k adaptation steps ({runs.Count} run{(runs.Count > 1 ? "s, CI over runs" : ", CI over tasks")})")
                    .AddColumn("method").AddColumn("split");
                for (int k = 0; k <= budget; k++) table.AddColumn($"step {k}");
                table.AddColumn("success");
                foreach (var g in points.GroupBy(x => (x.Method, x.Split)))
                {
                    var row = new List<string> { g.Key.Method, g.Key.Split };
                    row.AddRange(g.OrderBy(x => x.Step).Select(x => FormattableString.Invariant($"{x.MeanReturn:0.00} ±{x.Ci95:0.00}")));
                    row.Add($"{g.OrderBy(x => x.Step).Last().SuccessRate:P0}");
                    table.AddRow(row.ToArray());
                }
                ConsoleFor(stdout).Write(table);
                stdout.WriteLine($"Written: adaptation.csv in each run directory; plot with 'metarl plot {string.Join(" ", dirs.Select(d => d.Path))}'");
                return Ok;
            }
            if (runs.Count > 1) throw new UsageException("several run directories can be combined only for meta-learners");
            var (single, singleRun) = runs[0];
            var splits = singleRun.Distribution.Splits();
            var rows = new List<(string Split, int Tasks, double Mean, double Ci, double Success)>();
            void Add(string name, IReadOnlyList<object> tasks)
            {
                var (_, success, returns) = singleRun.Evaluate(tasks, eps, seed: 12345);
                var (mean, ci) = Statistics.MeanAndCi95(returns);
                rows.Add((name, tasks.Count, mean, ci, success));
            }
            if (singleRun.Task is { } task) Add("trained task", [task]);
            Add("train split", splits.Train);
            Add("test split", splits.Test);
            Add("out-of-distribution", splits.OutOfDistribution);
            var t = new Table().Title($"{singleRun.Algorithm} on {singleRun.Distribution.Name}, iteration {singleRun.Iteration}")
                .AddColumn("tasks").AddColumn("n").AddColumn("mean return").AddColumn("95% CI").AddColumn("success");
            foreach (var r in rows) t.AddRow(r.Split, $"{r.Tasks}", $"{r.Mean:0.00}", $"±{r.Ci:0.00}", $"{r.Success:P0}");
            ConsoleFor(stdout).Write(t);
            single.WriteEvaluation(rows.Select(r => new EvaluationRow(r.Split, r.Tasks, eps, r.Mean, r.Ci, r.Success)).ToList());
            return Ok;
        });
        return cmd;
    }

    static Command ReproduceCommand(TextWriter stdout)
    {
        var name = new Argument<string>("experiment") { Description = $"{MamlReproduction.Name}, {Rl2Reproduction.Bandits} (RL2 Table 1) or {Rl2Reproduction.Mdps} (RL2 Table 2)" };
        name.AcceptOnlyFromAmong(MamlReproduction.Name, Rl2Reproduction.Bandits, Rl2Reproduction.Mdps);
        var seeds = new Option<string>("--seeds") { Description = "comma-separated seeds (RL2 tables: the first is used)", DefaultValueFactory = _ => "1,2,3" };
        var iterations = new Option<int?>("--iterations") { Description = "training iterations per run (default: the experiment's)" };
        var quick = new Option<bool>("--quick") { Description = "a few minutes: tiny training, one seed (a smoke test, not the reference settings)" };
        var full = new Option<bool>("--full") { Description = "RL2 tables: every setting (default: the settings the bars name)" };
        var setting = new Option<string[]>("--setting") { Description = "RL2 tables: run only these settings (e.g. n10-k5, n100-k10, n25); repeatable", AllowMultipleArgumentsPerToken = true };
        var testTrials = new Option<int?>("--test-trials") { Description = "RL2 tables: held-out tasks per setting (default 1000 bandits, 500 MDPs)" };
        var outDir = new Option<string>("--out") { Description = "root directory of runs", DefaultValueFactory = _ => "runs" };
        var threads = new Option<int>("--threads") { Description = "libtorch threads", DefaultValueFactory = _ => 2 };
        var jobs = new Option<int>("--jobs") { Description = "RL2 tables: settings trained side by side, one worker process (one libtorch thread) each; 2 uses both cores of a 2-core machine", DefaultValueFactory = _ => 1 };
        var set = new Option<string[]>("--set") { Description = "RL2 tables: set an RL2 config key for every setting, e.g. --set batch-size=240000 (repeatable; the keys of docs/algorithms/rl2.md); the report lists it", AllowMultipleArgumentsPerToken = false };
        var trainOnly = new Option<bool>("--train-only") { Description = "RL2 tables: train the settings' RL2 runs and stop (what a --jobs worker runs)", Hidden = true };
        var cmd = new Command("reproduce", "Reproduce a paper's experiment beside the reference numbers (resumes what already exists)") { name, seeds, iterations, quick, full, setting, testTrials, outDir, threads, jobs, set, trainOnly };
        cmd.SetAction(p =>
        {
            SetThreads(p.GetValue(threads));
            bool isQuick = p.GetValue(quick);
            var seedList = ParseSeeds(isQuick ? "1" : p.GetValue(seeds)!);
            int? its = p.GetValue(iterations);
            if (its < 1) throw new UsageException("--iterations must be >= 1");
            string experiment = p.GetValue(name)!;
            if (experiment == MamlReproduction.Name && p.GetValue(jobs) != 1)
                throw new UsageException($"--jobs applies to the RL2 tables ({Rl2Reproduction.Bandits}, {Rl2Reproduction.Mdps}); {MamlReproduction.Name} runs its seeds in one process");
            string[] sets = p.GetValue(set) ?? [];
            if (experiment == MamlReproduction.Name && sets.Length > 0)
                throw new UsageException($"--set applies to the RL2 tables ({Rl2Reproduction.Bandits}, {Rl2Reproduction.Mdps}); {MamlReproduction.Name} trains the paper's settings");
            var overrides = Config.ParseOverrides(sets);
            if (experiment != MamlReproduction.Name)
            {
                if (p.GetValue(testTrials) is < 1) throw new UsageException("--test-trials must be >= 1");
                var options = new Rl2Reproduction.Options(experiment, isQuick, p.GetValue(full), p.GetValue(setting), seedList[0],
                    p.GetValue(outDir)!, its, p.GetValue(testTrials), TrainOnly: p.GetValue(trainOnly), Jobs: p.GetValue(jobs), Overrides: overrides);
                if (options.Jobs != 1 && !options.TrainOnly)
                {
                    var clock = System.Diagnostics.Stopwatch.StartNew();
                    var trained = Rl2Reproduction.TrainInWorkers(options, slug => SelfInvocation(
                        ["reproduce", experiment, "--setting", slug, "--train-only", "--threads", "1", "--seeds", $"{seedList[0]}", "--out", options.OutRoot,
                         .. its is { } n ? new[] { "--iterations", $"{n}" } : [], .. isQuick ? new[] { "--quick" } : [],
                         .. sets.SelectMany(kv => new[] { "--set", kv })]), stdout);
                    options = options with { TrainedByWorkers = trained, WorkerPhaseSeconds = clock.Elapsed.TotalSeconds };
                }
                string rl2Root = Rl2Reproduction.Run(options, stdout);
                if (options.TrainOnly) return Ok;
                if (experiment == Rl2Reproduction.Bandits)
                    foreach (var dir in Directory.GetDirectories(rl2Root).Order())
                        if (RunDirectory.At(dir).HasCheckpoint)
                            foreach (var f in BeliefPlot.Write(Trainer.Load(RunDirectory.At(dir)), null, 500, Path.Combine(dir, "belief")))
                                stdout.WriteLine($"Plot: {f}");
                return Ok;
            }
            string root = MamlReproduction.Run(new MamlReproduction.Options(seedList, its ?? (isQuick ? 3 : 500), isQuick, p.GetValue(outDir)!), stdout);
            foreach (var f in AdaptationPlot.Write(MetaEvaluator.FromCsv(Path.Combine(root, "adaptation.csv")), Path.Combine(root, "adaptation")))
                stdout.WriteLine($"Plot: {f}");
            return Ok;
        });
        return cmd;
    }

    /// <summary>A command line that runs this tool again with <paramref name="args"/> (through dotnet when it was started as dotnet MetaRl.Cli.dll).</summary>
    static System.Diagnostics.ProcessStartInfo SelfInvocation(IEnumerable<string> args)
    {
        string host = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell this process's executable");
        var start = new System.Diagnostics.ProcessStartInfo(host);
        if (Path.GetFileNameWithoutExtension(host) == "dotnet") start.ArgumentList.Add(typeof(Cli).Assembly.Location);
        foreach (var a in args) start.ArgumentList.Add(a);
        return start;
    }

    static Command BeliefCommand(TextWriter stdout)
    {
        var path = new Argument<string>("run-dir") { Description = "a trained RL2 run on a bandit env (bandit-k5, bandit-k10, bandit-k50)" };
        var probs = new Option<string?>("--probs") { Description = "the arms' probabilities, comma-separated (default: a held-out task)" };
        var trials = new Option<int>("--trials") { Description = "trials run on the task to estimate choice frequencies", DefaultValueFactory = _ => 500 };
        var output = new Option<string?>("--out") { Description = "output file prefix (default: belief in the run directory)" };
        var cmd = new Command("belief", "Plot what a trained RL2 bandit agent learns within a trial: its arm choices at each pull against the arms' true probabilities; and print how often it tries each arm at all (1000 tasks)") { path, probs, trials, output };
        cmd.SetAction(p =>
        {
            var dir = RunDirectory.At(p.GetValue(path)!);
            if (!dir.HasCheckpoint) throw new UsageException($"'{p.GetValue(path)}' is not a run directory with a checkpoint");
            if (p.GetValue(trials) < 1) throw new UsageException("--trials must be >= 1");
            double[]? arms = null;
            if (p.GetValue(probs) is { } text)
            {
                arms = text.Split(',').Select(x => double.TryParse(x, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v is >= 0 and <= 1 ? v
                    : throw new UsageException($"--probs takes comma-separated probabilities in [0, 1]; got '{text}'")).ToArray();
            }
            var run = Trainer.Load(dir);
            foreach (var f in BeliefPlot.Write(run, arms, p.GetValue(trials), p.GetValue(output) ?? Path.Combine(dir.Path, "belief")))
                stdout.WriteLine($"Plot: {f}");
            stdout.WriteLine(BeliefPlot.Coverage(run, 1000));
            return Ok;
        });
        return cmd;
    }

    static int[] ParseSeeds(string text)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var seeds = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out seeds[i]))
                throw new UsageException($"--seeds takes comma-separated integers; got '{text}'");
        return seeds.Length > 0 ? seeds : throw new UsageException("--seeds needs at least one seed");
    }

    static Command PlotCommand(TextWriter stdout)
    {
        var paths = new Argument<string[]>("path") { Description = "run directories or reproductions (anything holding an adaptation.csv; run 'metarl eval' first for a run)", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string?>("--out") { Description = "output file prefix (default: adaptation beside the first path)" };
        var cmd = new Command("plot", "Plot return against adaptation steps with 95% CI bands, for every method in the runs given (PNG and SVG)") { paths, output };
        cmd.SetAction(p =>
        {
            var csvs = p.GetValue(paths)!.Select(path => File.Exists(path) ? path : Path.Combine(path, "adaptation.csv")).ToList();
            foreach (var csv in csvs)
                if (!File.Exists(csv)) throw new UsageException($"no adaptation.csv at '{csv}'; run 'metarl eval <run-dir>' first");
            var points = MetaEvaluator.AcrossRuns(csvs.Select(MetaEvaluator.FromCsv).ToList());
            string prefix = p.GetValue(output) ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(csvs[0]))!, "adaptation");
            foreach (var f in AdaptationPlot.Write(points, prefix)) stdout.WriteLine($"Plot: {f}");
            return Ok;
        });
        return cmd;
    }

    static Command BenchCommand(TextWriter stdout)
    {
        var which = new Argument<string>("benchmark") { Description = "sampler, memory, maml, maml-memory or rl2" };
        which.AcceptOnlyFromAmong("sampler", "memory", "maml", "maml-memory", "rl2");
        var iterations = new Option<int?>("--iterations") { Description = "memory: iterations (default 300 PPO, 500 MAML); maml: timed meta-iterations (default 6); rl2: timed updates of each path (default 4)" };
        var threads = new Option<int>("--threads") { Description = "libtorch threads (sampler and memory: 1)", DefaultValueFactory = _ => 1 };
        var cmd = new Command("bench", "Throughput and memory benchmarks") { which, iterations, threads };
        cmd.SetAction(p =>
        {
            SetThreads(p.GetValue(threads));
            switch (p.GetValue(which))
            {
                case "sampler": Bench.Sampler(stdout); break;
                case "memory": Bench.Memory(stdout, "ppo", p.GetValue(iterations) ?? 300); break;
                case "maml-memory": Bench.Memory(stdout, "maml", p.GetValue(iterations) ?? 500); break;
                case "rl2": Bench.Rl2(stdout, p.GetValue(iterations) ?? 4, p.GetValue(threads)); break;
                default: Bench.Maml(stdout, p.GetValue(iterations) ?? 6, p.GetValue(threads)); break;
            }
            return Ok;
        });
        return cmd;
    }

    static Command DemoCommand(TextWriter stdout, bool interactive)
    {
        var outDir = new Option<string>("--out") { Description = "root directory of runs", DefaultValueFactory = _ => "runs" };
        var cmd = new Command("demo", "A short meta-training demo: MAML-TRPO on 2D navigation for 15 meta-iterations, then the adaptation table on train / test / OOD tasks") { outDir };
        cmd.SetAction(p =>
        {
            string outRoot = p.GetValue(outDir)!;
            int code = Run(["train", "maml", "--env", "2d-navigation", "--iterations", "15", "--threads", "2", "--out", outRoot], stdout, stdout, interactive);
            if (code != Ok) return code;
            var latest = new DirectoryInfo(Path.Combine(outRoot, "maml-2d-navigation")).GetDirectories().OrderBy(d => d.Name, StringComparer.Ordinal).Last();
            code = Run(["eval", latest.FullName], stdout, stdout, interactive);
            stdout.WriteLine($"Results (config.yaml, progress.csv with pre/post-adaptation returns, tb/, checkpoint.bin, summary.json, adaptation.csv): {latest.FullName}");
            return code;
        });
        return cmd;
    }

    static void WithProgress(TextWriter stdout, bool interactive, TrainingRun run, Action<Action<TrainingProgress>> train)
    {
        if (!interactive)
        {
            train(p => stdout.WriteLine(FormattableString.Invariant(
                $"iter {p.Result.Iteration}/{p.TotalIterations}  {Returns(p.Result)}  success {p.Result.SuccessRate:P0}  {p.EnvStepsPerSecond:0} env steps/s  ETA {Eta(p)}")));
            return;
        }
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("training", maxValue: run.Common.NumBatches);
                task.Value = run.Iteration;
                train(p =>
                {
                    task.Description = Markup.Escape(FormattableString.Invariant(
                        $"iter {p.Result.Iteration}/{p.TotalIterations} {Returns(p.Result)} {p.EnvStepsPerSecond:0} steps/s"));
                    task.Value = p.Result.Iteration;
                });
            });
    }

    /// <summary>"mean return x", or for a meta-learner the return before and after adaptation.</summary>
    static string Returns(IterationResult r) =>
        r.Stats.TryGetValue("pre_return", out var pre) && r.Stats.TryGetValue("post_return", out var post)
            ? FormattableString.Invariant($"return pre {pre:0.00} post {post:0.00}")
            : FormattableString.Invariant($"mean return {r.MeanReturn:0.00}");

    static string Eta(TrainingProgress p)
    {
        int done = Math.Max(1, p.Result.Iteration);
        return Duration(TimeSpan.FromSeconds(p.Elapsed.TotalSeconds / done * (p.TotalIterations - p.Result.Iteration)));
    }

    /// <summary>hh:mm:ss, with the days in front when there are any (a paper-scale run's ETA runs to days).</summary>
    internal static string Duration(TimeSpan t) =>
        (t.Days > 0 ? $"{t.Days}d " : "") + t.ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture);

    internal static void SetThreads(int threads)
    {
        if (threads < 1) throw new UsageException($"--threads must be >= 1; got {threads}");
        TorchNative.EnsureLoaded();
        TorchSharp.torch.set_num_threads(threads);
    }

    static IAnsiConsole ConsoleFor(TextWriter writer) =>
        AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
}
