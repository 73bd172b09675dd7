using MetaRl.Algorithms.SingleTask;

namespace MetaRl.Cli;

public static partial class Cli
{
    static Command ReproduceCommand(TextWriter stdout)
    {
        var name = new Argument<string>("experiment") { Description = $"{MamlReproduction.Name}, {Rl2Reproduction.Bandits} (RL2 Table 1), {Rl2Reproduction.Mdps} (RL2 Table 2), {VariBadReproduction.Name} (variBAD and RL2 beside the Bayes-optimal returns) {PearlReproduction.Name} (PEARL's posterior sampling on the sparse point robot) {GradientStudy.Name} (MT-PPO's summed gradient, PCGrad and GradNorm on a suite built to conflict), {LocomotionStudy.Name} (MT-SAC, MT-SAC + PCGrad and one SAC per task on locomotion-10), {InContextStudy.Bandits} (the in-context learner against RL2 on 10-armed bandits, n = 100) or {InContextStudy.Context} (the in-context learner's return against its context length)" };
        name.AcceptOnlyFromAmong(MamlReproduction.Name, Rl2Reproduction.Bandits, Rl2Reproduction.Mdps, VariBadReproduction.Name, PearlReproduction.Name, GradientStudy.Name, LocomotionStudy.Name,
            InContextStudy.Bandits, InContextStudy.Context);
        var seeds = new Option<string>("--seeds") { Description = $"comma-separated seeds (RL2 tables: the first is used; {PearlReproduction.Name}: one seed, 1 unless given)", DefaultValueFactory = _ => "1,2,3" };
        var iterations = new Option<int?>("--iterations") { Description = "training iterations per run (default: the experiment's)" };
        var quick = new Option<bool>("--quick") { Description = "a few minutes: tiny training, one seed (a smoke test, not the reference settings)" };
        var full = new Option<bool>("--full") { Description = "RL2 tables: every setting (default: the settings the bars name)" };
        var setting = new Option<string[]>("--setting") { Description = "RL2 tables: run only these settings (e.g. n10-k5, n100-k10, n25); repeatable", AllowMultipleArgumentsPerToken = true };
        var testTrials = new Option<int?>("--test-trials") { Description = "RL2 tables: held-out tasks per setting (default 1000 bandits, 500 MDPs)" };
        var outDir = new Option<string>("--out") { Description = "root directory of runs", DefaultValueFactory = _ => "runs" };
        var threads = new Option<int>("--threads") { Description = "libtorch threads", DefaultValueFactory = _ => 2 };
        var jobs = new Option<int>("--jobs") { Description = "RL2 tables: settings trained side by side, one worker process (one libtorch thread) each; 2 uses both cores of a 2-core machine", DefaultValueFactory = _ => 1 };
        var set = new Option<string[]>("--set") { Description = "RL2 tables, mt-point-conflict and mt-locomotion: set a config key for every run (mt-point-conflict, mt-locomotion: e.g. hidden-sizes=8,8, in the report and the output directory's name); RL2 tables: set an RL2 config key for every setting, e.g. --set batch-size=240000 (repeatable; the keys of docs/algorithms/rl2.md); the report lists it", AllowMultipleArgumentsPerToken = false };
        var method = new Option<string[]>("--method") { Description = $"{VariBadReproduction.Name}: train and evaluate only this method, {string.Join(" or ", VariBadReproduction.Methods)} (repeatable; default both)" };
        var preset = new Option<string?>("--preset") { Description = $"{VariBadReproduction.Name}: {VariBadReproduction.Official2020}, the official grid-world configs as they were on 2020-09-28 (1e8 frames, entropy 0.1, KL weight 1, state embedding 32, Adam eps 1e-5; RL2 with entropy 0.1 on the same frames); default: today's. {PearlReproduction.Name}: {PearlReproduction.Reduced}, the scale of this project's reports (3 x 128 networks, context batch 256, 500 gradient steps per iteration: about 35 s an iteration, 5 minutes at oyster's); default: oyster's" };
        var numEvals = new Option<int?>("--num-evals") { Description = $"{PearlReproduction.Name}: independent evaluations of each held-out goal (oyster's num_evals) [default: {PearlReproduction.OysterNumEvals}]; more narrow the readings' standard error" };
        var trainOnly = new Option<bool>("--train-only") { Description = "RL2 tables: train the settings' RL2 runs and stop (what a --jobs worker runs)", Hidden = true };
        var cmd = new Command("reproduce", "Reproduce a paper's experiment beside the reference numbers (resumes what already exists)") { name, seeds, iterations, quick, full, setting, testTrials, outDir, threads, jobs, set, method, preset, numEvals, trainOnly };
        cmd.SetAction(p =>
        {
            SetThreads(p.GetValue(threads));
            bool isQuick = p.GetValue(quick);
            var seedList = ParseSeeds(isQuick ? "1" : p.GetValue(seeds)!);
            int? its = p.GetValue(iterations);
            if (its < 1) throw new UsageException("--iterations must be >= 1");
            string experiment = p.GetValue(name)!;
            string[] methods = p.GetValue(method) ?? [];
            if (methods.Length > 0 && experiment != VariBadReproduction.Name)
                throw new UsageException($"--method applies to {VariBadReproduction.Name}");
            if (methods.FirstOrDefault(m => !VariBadReproduction.Methods.Contains(m)) is { } unknown)
                throw new UsageException($"--method must be one of: {string.Join(", ", VariBadReproduction.Methods)} (got '{unknown}')");
            string? presetName = p.GetValue(preset);
            if (presetName is not null)
            {
                string allowed = experiment switch
                {
                    VariBadReproduction.Name => VariBadReproduction.Official2020,
                    PearlReproduction.Name => PearlReproduction.Reduced,
                    _ => throw new UsageException($"--preset applies to {VariBadReproduction.Name} and {PearlReproduction.Name}"),
                };
                if (presetName != allowed) throw new UsageException($"--preset must be {allowed} for {experiment} (got '{presetName}')");
            }
            int? evals = p.GetValue(numEvals);
            if (evals is not null && experiment != PearlReproduction.Name)
                throw new UsageException($"--num-evals applies to {PearlReproduction.Name}");
            if (evals < 1) throw new UsageException($"--num-evals must be >= 1 (got {evals})");
            if (experiment == GradientStudy.Name)
            {
                if (p.GetValue(jobs) != 1) throw new UsageException($"--jobs applies to the RL2 tables; {GradientStudy.Name} runs in one process");
                GradientStudy.Run(new GradientStudy.Options(seedList, its ?? (isQuick ? 2 : GradientStudy.DefaultIterations), isQuick, p.GetValue(outDir)!,
                    Config.ParseOverrides(p.GetValue(set) ?? []).ToDictionary(kv => kv.Key, kv => kv.Value)), stdout);
                return Ok;
            }
            if (experiment == LocomotionStudy.Name)
            {
                if (p.GetValue(jobs) != 1) throw new UsageException($"--jobs applies to the RL2 tables; {LocomotionStudy.Name} runs in one process");
                LocomotionStudy.Run(new LocomotionStudy.Options(seedList, its ?? (isQuick ? 2 : LocomotionStudy.DefaultIterations), isQuick, p.GetValue(outDir)!,
                    Config.ParseOverrides(p.GetValue(set) ?? []).ToDictionary(kv => kv.Key, kv => kv.Value)), stdout);
                return Ok;
            }
            if (experiment is InContextStudy.Bandits or InContextStudy.Context)
            {
                if (p.GetValue(jobs) != 1 || (p.GetValue(set) ?? []).Length > 0)
                    throw new UsageException($"--jobs and --set apply to the RL2 tables; {experiment} trains its own settings");
                var iclOptions = new InContextStudy.Options(seedList[0], isQuick, p.GetValue(outDir)!, its);
                if (experiment == InContextStudy.Bandits) { InContextStudy.RunBandits(iclOptions, stdout); return Ok; }
                var (contextRoot, rows) = InContextStudy.RunContext(iclOptions, stdout);
                foreach (var f in InContextPlots.Context(rows, contextRoot)) stdout.WriteLine($"Plot: {f}");
                stdout.WriteLine(File.ReadAllText(Path.Combine(contextRoot, "report.md")));
                return Ok;
            }
            if (experiment == PearlReproduction.Name)
            {
                if (p.GetValue(jobs) != 1 || (p.GetValue(set) ?? []).Length > 0)
                    throw new UsageException($"--jobs and --set apply to the RL2 tables; {PearlReproduction.Name} trains oyster's settings (or --preset {PearlReproduction.Reduced})");
                // One seed's run, report and plots fill the directory: a second seed would overwrite the first's report.
                if (seedList.Length > 1 && p.GetResult(seeds) is { Implicit: false })
                    throw new UsageException($"--seeds takes one seed for {PearlReproduction.Name} (got '{p.GetValue(seeds)}'); run it once per seed, each with its own --out");
                string pearlRoot = PearlReproduction.Run(new PearlReproduction.Options(seedList[0], isQuick, p.GetValue(outDir)!, its, evals ?? PearlReproduction.OysterNumEvals, presetName), stdout);
                foreach (var f in AdaptationPlot.Write(MetaEvaluator.FromCsv(Path.Combine(pearlRoot, "adaptation.csv")), Path.Combine(pearlRoot, "adaptation")))
                    stdout.WriteLine($"Plot: {f}");
                var pearlRun = Trainer.Load(RunDirectory.At(Path.Combine(pearlRoot, $"pearl-seed{seedList[0]}")));
                foreach (var f in PosteriorPlot.Write(pearlRun, null, pearlRun.Get<MetaRl.Algorithms.Pearl.PearlConfig>().NumExpTrajEval, 10, Path.Combine(pearlRoot, "posterior")))
                    stdout.WriteLine($"Plot: {f}");
                return Ok;
            }
            if (experiment == VariBadReproduction.Name)
            {
                if (p.GetValue(jobs) != 1 || (p.GetValue(set) ?? []).Length > 0)
                    throw new UsageException($"--jobs and --set apply to the RL2 tables; {VariBadReproduction.Name} trains the official settings");
                string vbRoot = VariBadReproduction.Run(new VariBadReproduction.Options(seedList[0], isQuick, p.GetValue(outDir)!, its, methods.Length > 0 ? methods : null, presetName), stdout);
                foreach (var f in AdaptationPlot.Write(MetaEvaluator.FromCsv(Path.Combine(vbRoot, "adaptation.csv")), Path.Combine(vbRoot, "adaptation")))
                    stdout.WriteLine($"Plot: {f}");
                if (methods.Length > 0 && !methods.Contains("varibad")) return Ok;
                var vbRun = Trainer.Load(RunDirectory.At(Path.Combine(vbRoot, $"varibad-seed{seedList[0]}")));
                foreach (var f in GridBeliefPlot.Write(vbRun, null, 2, Path.Combine(vbRoot, "belief")))
                    stdout.WriteLine($"Plot: {f}");
                return Ok;
            }
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

    static int[] ParseSeeds(string text) => ParseInts(text, "--seeds");
}
