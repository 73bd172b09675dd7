using MetaRl.Algorithms.SingleTask;
using MetaRl.Envs.Suites;

namespace MetaRl.Cli;

public static partial class Cli
{
    static Command TrainCommand(TextWriter stdout, bool interactive)
    {
        var algorithm = new Argument<string?>("algorithm") { Description = $"one of: {string.Join(", ", LearnerRegistry.Names)}", Arity = ArgumentArity.ZeroOrOne };
        var env = new Option<string?>("--env") { Description = $"task distribution (see 'metarl list envs'); default: the config's env-name, else {TrainingRun.DefaultEnv}" };
        var suite = new Option<string?>("--suite") { Description = "a multi-task suite to train on (mt-ppo; see 'metarl list suites'), instead of --env" };
        var config = new Option<string?>("--config") { Description = "YAML file of config keys (same names as the reference implementations)" };
        var set = new Option<string[]>("--set") { Description = "override a config key: --set max-kl=0.02 (repeatable)", AllowMultipleArgumentsPerToken = false };
        var seed = new Option<int>("--seed") { Description = "the one seed that fixes the whole run", DefaultValueFactory = _ => 1 };
        var preset = new Option<string?>("--preset") { Description = "a named set of config values, under --config and --set (rl2: paper, the paper's scale: TRPO, 250,000 steps per update, 256 units; varibad: paper, the official grid-world config's 2e7 frames; official-2020, that config as of 2020-09-28: 1e8 frames, entropy 0.1, KL weight 1, state embedding 32, Adam eps 1e-5; mujoco, the official cheetah-vel config; pearl: reduced, the scale of this project's reports: 3 x 128 networks, context batch 256, 500 gradient steps per iteration)" };
        var iterations = new Option<int?>("--iterations") { Description = "number of policy updates (config key num-batches)" };
        var outDir = new Option<string>("--out") { Description = "root directory of runs", DefaultValueFactory = _ => "runs" };
        var resume = new Option<string?>("--resume") { Description = "continue the run in this directory from its last checkpoint" };
        var threads = new Option<int>("--threads") { Description = "libtorch threads (1 gives bit-identical runs per seed)", DefaultValueFactory = _ => 1 };
        var cmd = new Command("train", "Train an algorithm on a task distribution; writes runs/<experiment>/<time>-seed<k>/")
            { algorithm, env, suite, config, set, seed, preset, iterations, outDir, resume, threads };
        cmd.SetAction(p =>
        {
            SetThreads(p.GetValue(threads));
            var values = new ConfigValues();
            if (p.GetValue(preset) is { } presetName) values.Set(TrainingRun.PresetKey, presetName, "--preset");
            // A run's own config.yaml names its algorithm, env and seed beside the keys: given as --config it reruns that
            // run, the command line winning where it names them too (an algorithm it names must be the file's).
            string? fileAlgorithm = null, fileEnv = null;
            int? fileSeed = null;
            if (p.GetValue(config) is { } file)
            {
                var fromFile = Config.ReadYaml(file);
                fromFile.Remove("algorithm", out fileAlgorithm);
                fromFile.Remove("env", out fileEnv);
                if (fromFile.Remove("seed", out var s))
                    fileSeed = int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int k) ? k : throw new UsageException($"'seed' in {file} must be an integer, not '{s}'");
                if (fileAlgorithm is not null && p.GetValue(algorithm) is { } named && named != fileAlgorithm)
                    throw new UsageException($"{file} is a {fileAlgorithm} run's config ('algorithm: {fileAlgorithm}'), not {named}'s");
                values.Merge(fromFile);
            }
            values.Merge(Config.ParseOverrides(p.GetValue(set) ?? []));
            if (p.GetValue(iterations) is { } n) values.Set("num-batches", n.ToString(CultureInfo.InvariantCulture), "--iterations");

            if (p.GetValue(resume) is { } runPath)
            {
                var dir = RunDirectory.Open(runPath);
                using var run = Trainer.Resume(dir, values);
                if (p.GetValue(algorithm) is { } a && a != run.Algorithm)
                    throw new UsageException($"run '{runPath}' is a {run.Algorithm} run, not {a}");
                stdout.WriteLine($"Resuming {run.Algorithm} on {run.Distribution.Name} at iteration {run.Iteration} of {run.Common.NumBatches}");
                WithProgress(stdout, interactive, run, report => Trainer.Continue(run, dir, report));
                stdout.WriteLine($"Results: {dir.Path}");
                return Ok;
            }
            string algo = p.GetValue(algorithm) ?? fileAlgorithm ?? throw new UsageException($"name an algorithm ({string.Join(", ", LearnerRegistry.Names)}) or give --resume <run-dir>");
            string? family = p.GetValue(env) ?? (p.GetValue(suite) is null ? fileEnv : null);
            if (p.GetValue(suite) is { } suiteName)
            {
                if (family is not null) throw new UsageException("give --env or --suite, not both");
                if (!SuiteRegistry.Contains(suiteName)) throw new UsageException($"unknown suite '{suiteName}'; valid suites: {string.Join(", ", SuiteRegistry.Names)}");
                family = suiteName;
            }
            int runSeed = p.GetResult(seed) is { Implicit: false } || fileSeed is null ? p.GetValue(seed) : fileSeed.Value;
            using var newRun = new TrainingRun(algo, family, values, runSeed);
            RunDirectory? created = null;
            stdout.WriteLine($"Training {newRun.Algorithm} on {newRun.Distribution.Name}{(newRun.Task is { } t ? $", task {t}" : "")}, seed {newRun.Seed}, {newRun.Common.NumBatches} iterations");
            WithProgress(stdout, interactive, newRun, report => created = Trainer.Start(newRun, p.GetValue(outDir)!, report));
            stdout.WriteLine($"Results: {created!.Path}");
            return Ok;
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

    static string Eta(TrainingProgress p) => Duration(p.Remaining);
}
