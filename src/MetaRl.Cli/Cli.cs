using System.CommandLine;
using System.Globalization;
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
                foreach (var (name, d) in TrainingRun.Algorithms) t.AddRow(name, Markup.Escape(d));
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
        ["demo"] = "PPO on one 2D-navigation goal for 30 iterations (the README's first command), then an evaluation",
    };

    static Command TrainCommand(TextWriter stdout, bool interactive)
    {
        var algorithm = new Argument<string?>("algorithm") { Description = $"one of: {string.Join(", ", TrainingRun.Algorithms.Keys)}", Arity = ArgumentArity.ZeroOrOne };
        var env = new Option<string>("--env") { Description = "task distribution (see 'metarl list envs')", DefaultValueFactory = _ => "2d-navigation" };
        var config = new Option<string?>("--config") { Description = "YAML file of config keys (same names as the reference implementations)" };
        var set = new Option<string[]>("--set") { Description = "override a config key: --set max-kl=0.02 (repeatable)", AllowMultipleArgumentsPerToken = false };
        var seed = new Option<int>("--seed") { Description = "the one seed that fixes the whole run", DefaultValueFactory = _ => 1 };
        var iterations = new Option<int?>("--iterations") { Description = "number of policy updates (config key num-batches)" };
        var outDir = new Option<string>("--out") { Description = "root directory of runs", DefaultValueFactory = _ => "runs" };
        var resume = new Option<string?>("--resume") { Description = "continue the run in this directory from its last checkpoint" };
        var threads = new Option<int>("--threads") { Description = "libtorch threads (1 gives bit-identical runs per seed)", DefaultValueFactory = _ => 1 };
        var cmd = new Command("train", "Train an algorithm on a task distribution; writes runs/<experiment>/<time>-seed<k>/")
            { algorithm, env, config, set, seed, iterations, outDir, resume, threads };
        cmd.SetAction(p =>
        {
            SetThreads(p.GetValue(threads));
            var values = new Dictionary<string, string>(StringComparer.Ordinal);
            if (p.GetValue(config) is { } file) foreach (var (k, v) in Config.ReadYaml(file)) values[k] = v;
            foreach (var (k, v) in Config.ParseOverrides(p.GetValue(set) ?? [])) values[k] = v;
            if (p.GetValue(iterations) is { } n) values["num-batches"] = n.ToString(CultureInfo.InvariantCulture);

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
            string algo = p.GetValue(algorithm) ?? throw new UsageException($"name an algorithm ({string.Join(", ", TrainingRun.Algorithms.Keys)}) or give --resume <run-dir>");
            var newRun = new TrainingRun(algo, p.GetValue(env)!, values, p.GetValue(seed));
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
        var runDir = new Argument<string>("run-dir") { Description = "a run directory written by 'metarl train'" };
        var episodes = new Option<int>("--episodes") { Description = "episodes per task", DefaultValueFactory = _ => 10 };
        var cmd = new Command("eval", "Evaluate a run's last checkpoint on its task and on the train / test / out-of-distribution splits") { runDir, episodes };
        cmd.SetAction(p =>
        {
            var dir = RunDirectory.Open(p.GetValue(runDir)!);
            int eps = p.GetValue(episodes);
            if (eps < 1) throw new UsageException("--episodes must be >= 1");
            SetThreads(1);
            var run = Trainer.Load(dir);
            var splits = run.Distribution.Splits();
            var rows = new List<(string Split, int Tasks, double Mean, double Ci, double Success)>();
            void Add(string name, IReadOnlyList<object> tasks)
            {
                var (_, success, returns) = run.Evaluate(tasks, eps, seed: 12345);
                var (mean, ci) = Statistics.MeanAndCi95(returns);
                rows.Add((name, tasks.Count, mean, ci, success));
            }
            if (run.Task is { } task) Add("trained task", [task]);
            Add("train split", splits.Train);
            Add("test split", splits.Test);
            Add("out-of-distribution", splits.OutOfDistribution);
            var table = new Table().Title($"{run.Algorithm} on {run.Distribution.Name}, iteration {run.Iteration}")
                .AddColumn("tasks").AddColumn("n").AddColumn("mean return").AddColumn("95% CI").AddColumn("success");
            foreach (var r in rows) table.AddRow(r.Split, $"{r.Tasks}", $"{r.Mean:0.00}", $"±{r.Ci:0.00}", $"{r.Success:P0}");
            ConsoleFor(stdout).Write(table);
            dir.WriteEvaluation(rows.Select(r => new EvaluationRow(r.Split, r.Tasks, eps, r.Mean, r.Ci, r.Success)).ToList());
            return Ok;
        });
        return cmd;
    }

    static Command BenchCommand(TextWriter stdout)
    {
        var which = new Argument<string>("benchmark") { Description = "sampler or memory" };
        which.AcceptOnlyFromAmong("sampler", "memory");
        var iterations = new Option<int>("--iterations") { Description = "memory: PPO iterations", DefaultValueFactory = _ => 300 };
        var cmd = new Command("bench", "Throughput and memory benchmarks (one thread)") { which, iterations };
        cmd.SetAction(p =>
        {
            SetThreads(1);
            if (p.GetValue(which) == "sampler") Bench.Sampler(stdout);
            else Bench.Memory(stdout, p.GetValue(iterations));
            return Ok;
        });
        return cmd;
    }

    static Command DemoCommand(TextWriter stdout, bool interactive)
    {
        var outDir = new Option<string>("--out") { Description = "root directory of runs", DefaultValueFactory = _ => "runs" };
        var cmd = new Command("demo", "A short training demo: PPO on a 2D-navigation goal, then its evaluation table") { outDir };
        cmd.SetAction(p =>
        {
            string outRoot = p.GetValue(outDir)!;
            int code = Run(["train", "ppo", "--env", "2d-navigation", "--iterations", "30", "--out", outRoot], stdout, stdout, interactive);
            if (code != Ok) return code;
            var latest = new DirectoryInfo(Path.Combine(outRoot, "ppo-2d-navigation")).GetDirectories().OrderBy(d => d.Name, StringComparer.Ordinal).Last();
            code = Run(["eval", latest.FullName], stdout, stdout, interactive);
            stdout.WriteLine($"Results (config.yaml, progress.csv, tb/, checkpoint.bin, summary.json, evaluation.csv): {latest.FullName}");
            return code;
        });
        return cmd;
    }

    static void WithProgress(TextWriter stdout, bool interactive, TrainingRun run, Action<Action<TrainingProgress>> train)
    {
        if (!interactive)
        {
            train(p => stdout.WriteLine(FormattableString.Invariant(
                $"iter {p.Result.Iteration}/{p.TotalIterations}  mean return {p.Result.MeanReturn:0.00}  success {p.Result.SuccessRate:P0}  {p.EnvStepsPerSecond:0} env steps/s  ETA {Eta(p)}")));
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
                        $"iter {p.Result.Iteration}/{p.TotalIterations} return {p.Result.MeanReturn:0.00} {p.EnvStepsPerSecond:0} steps/s"));
                    task.Value = p.Result.Iteration;
                });
            });
    }

    static string Eta(TrainingProgress p)
    {
        int done = Math.Max(1, p.Result.Iteration);
        var remaining = TimeSpan.FromSeconds(p.Elapsed.TotalSeconds / done * (p.TotalIterations - p.Result.Iteration));
        return remaining.ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture);
    }

    internal static void SetThreads(int threads)
    {
        if (threads < 1) throw new UsageException($"--threads must be >= 1; got {threads}");
        TorchNative.EnsureLoaded();
        TorchSharp.torch.set_num_threads(threads);
    }

    static IAnsiConsole ConsoleFor(TextWriter writer) =>
        AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
}
