namespace MetaRl.Cli;

public static partial class Cli
{
    static Command CompareCommand(TextWriter stdout)
    {
        var env = new Option<string>("--env") { Description = $"the task family ({string.Join(", ", EnvRegistry.Names)})", DefaultValueFactory = _ => TrainingRun.DefaultEnv };
        var methods = new Option<string>("--methods") { Description = "comma-separated meta-learners (maml, fomaml, promp, reptile, rl2, icl, pearl, varibad, or your own)", DefaultValueFactory = _ => "maml,rl2,pearl,icl" };
        var seeds = new Option<string>("--seeds") { Description = "comma-separated seeds, the same for every method (CI over seeds)", DefaultValueFactory = _ => "1,2,3" };
        var envSteps = new Option<long>("--env-steps") { Description = "each run's meta-training budget in environment steps", DefaultValueFactory = _ => 2_000_000 };
        var minutes = new Option<double>("--minutes") { Description = "each run's wall-time cap in minutes (0: none); the report says which bound stopped each run", DefaultValueFactory = _ => 30 };
        var adaptEpisodes = new Option<int>("--adapt-episodes") { Description = "episodes of experience of each task at evaluation (a gradient-based learner takes as many steps as fit)", DefaultValueFactory = _ => 40 };
        var tasks = new Option<int>("--tasks") { Description = "tasks per split at evaluation (at most the split's)", DefaultValueFactory = _ => 40 };
        var quick = new Option<bool>("--quick") { Description = "a reduced budget for a first look: 200,000 steps or 3 minutes per run, 2 seeds, 20 episodes on 20 tasks per split, 4 evaluations during meta-training (flags given explicitly win)" };
        var evalEvery = new Option<long?>("--eval-every") { Description = "held-out evaluations during meta-training every this many environment steps, for the sample-efficiency table (default: a tenth of --env-steps, a quarter with --quick; 0: none)" };
        var target = new Option<double?>("--target") { Description = "the held-out return the sample-efficiency table counts environment steps to (default: the highest return every method reached)" };
        var runs = new Option<string[]>("--runs") { Description = "compare these run directories (of 'metarl train' or an earlier comparison) instead of training; they must match --env, --methods and --seeds", AllowMultipleArgumentsPerToken = true };
        var set = new Option<string[]>("--set") { Description = "a config key of one method's runs: method.key=value (e.g. rl2.episodes-per-trial=4)" };
        var outDir = new Option<string?>("--out") { Description = "output directory (default: runs/compare-<env>); its runs/ holds the trained runs, so an interrupted comparison resumes" };
        var cmd = new Command("compare", "Compare meta-learners on one task family: the same seeds and budget, adaptation curves on the train, held-out and out-of-distribution tasks on one axis of episodes, meta-training cost, the drop to OOD tasks (Markdown, CSV, PNG/SVG and one self-contained HTML report)")
            { env, methods, seeds, envSteps, minutes, adaptEpisodes, tasks, evalEvery, target, quick, runs, set, outDir };
        cmd.SetAction(p =>
        {
            SetThreads(1);
            string envName = p.GetValue(env)!;
            if (!EnvRegistry.Names.Contains(envName)) throw new UsageException($"unknown env '{envName}'; valid envs: {string.Join(", ", EnvRegistry.Names)}");
            var methodList = p.GetValue(methods)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
            if (methodList.Count == 0) throw new UsageException("--methods needs at least one meta-learner");
            foreach (string m in methodList)
            {
                var family = LearnerRegistry.Get(m).Family;
                if (family is "single-task" or "multi-task" or "baseline")
                    throw new UsageException($"--methods: {m} is a {family} learner; compare takes meta-learners ({string.Join(", ", LearnerRegistry.All.Where(s => s.Family is not ("single-task" or "multi-task" or "baseline")).Select(s => s.Name))})");
            }
            if (methodList.Distinct().Count() != methodList.Count) throw new UsageException("--methods names a method twice");
            bool q = p.GetValue(quick);
            T Pick<T>(Option<T> option, T quickValue) => q && p.GetResult(option) is null ? quickValue : p.GetValue(option)!;
            var seedList = ParseInts(Pick(seeds, "1,2"), "--seeds");
            long steps = Pick(envSteps, 200_000L);
            double cap = Pick(minutes, 3.0);
            int episodes = Pick(adaptEpisodes, 20), taskCount = Pick(tasks, 20);
            if (steps < 1) throw new UsageException("--env-steps must be >= 1");
            if (cap < 0) throw new UsageException("--minutes must be >= 0");
            if (episodes < 1) throw new UsageException("--adapt-episodes must be >= 1");
            if (taskCount < 1) throw new UsageException("--tasks must be >= 1");
            long every = p.GetValue(evalEvery) ?? steps / (q ? 4 : 10); // a first look: fewer evaluations
            if (every < 0) throw new UsageException($"--eval-every must be >= 0 (0: no evaluations during meta-training); got {every}");
            if (p.GetValue(target) is { } t && !double.IsFinite(t)) throw new UsageException($"--target must be a finite return; got {t}");
            var values = new Dictionary<string, IReadOnlyDictionary<string, string>>();
            foreach (string item in p.GetValue(set) ?? [])
            {
                int dot = item.IndexOf('.'), eq = item.IndexOf('=');
                if (dot <= 0 || eq < dot) throw new UsageException($"--set takes method.key=value (e.g. rl2.episodes-per-trial=4); got '{item}'");
                string m = item[..dot];
                if (!methodList.Contains(m)) throw new UsageException($"--set {item}: {m} is not one of --methods ({string.Join(", ", methodList)})");
                var own = (Dictionary<string, string>)(values.GetValueOrDefault(m) ?? (values[m] = new Dictionary<string, string>()));
                foreach (var (k, v) in Config.ParseOverrides([item[(dot + 1)..]])) own[k] = v;
            }
            string dir = p.GetValue(outDir) ?? Path.Combine("runs", $"compare-{envName}");
            Directory.CreateDirectory(dir);

            var result = CompareStudy.Run(new CompareStudy.Options(envName, methodList, seedList, steps, cap, episodes, taskCount, values, Path.Combine(dir, "runs"),
                p.GetValue(runs), every, p.GetValue(target)), stdout);
            var written = Write(result, dir);
            stdout.WriteLine(File.ReadAllText(Path.Combine(dir, "report.md")));
            foreach (var f in written) stdout.WriteLine($"Written: {f}");
            return Ok;
        });
        return cmd;
    }

    /// <summary>The comparison's files: compare.csv, costs.csv, a figure per split (PNG and SVG), the sample-efficiency CSV and figure, report.md and report.html (figures inline).</summary>
    internal static List<string> Write(CompareStudy.Result result, string dir)
    {
        var written = new List<string> { Path.Combine(dir, "compare.csv"), Path.Combine(dir, "costs.csv") };
        File.WriteAllText(written[0], CompareStudy.ToCsv(result));
        File.WriteAllText(written[1], CompareStudy.CostsCsv(result));
        var figures = AdaptationPlot.Write(result.Points, Path.Combine(dir, "compare"));
        written.AddRange(figures);
        var bySplit = MetaEvaluator.SplitNames.Where(s => File.Exists(Path.Combine(dir, $"compare-{s}.png"))).ToDictionary(s => s, s => $"compare-{s}.png");
        if (result.Efficiency.Count > 0)
        {
            string csv = Path.Combine(dir, SampleEfficiency.FileName);
            File.WriteAllText(csv, SampleEfficiency.ToCsv(result.Efficiency));
            written.Add(csv);
            written.AddRange(EfficiencyPlot.Write(SampleEfficiency.Curves(result.Efficiency), result.Options.Target ?? SampleEfficiency.DefaultTarget(result.Efficiency),
                Path.Combine(dir, "efficiency")));
            bySplit["efficiency"] = "efficiency.png";
        }
        string markdown = CompareStudy.Report(result, bySplit) + Reproduction.Notes(dir); // notes.md in the output directory: what the report cannot know
        File.WriteAllText(Path.Combine(dir, "report.md"), markdown);
        File.WriteAllText(Path.Combine(dir, "report.html"), HtmlReport.FromMarkdown(markdown, $"Comparison on {result.Options.Env}", dir));
        written.Add(Path.Combine(dir, "report.md"));
        written.Add(Path.Combine(dir, "report.html"));
        return written;
    }
}
