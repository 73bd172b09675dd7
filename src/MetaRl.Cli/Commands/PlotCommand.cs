using MetaRl.Algorithms.SingleTask;
using MetaRl.Envs.Suites;

namespace MetaRl.Cli;

public static partial class Cli
{
    static Command PlotCommand(TextWriter stdout)
    {
        var paths = new Argument<string[]>("path") { Description = "run directories or reproductions (anything holding an adaptation.csv; run 'metarl eval' first for a run)", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string?>("--out") { Description = "output file prefix (default: adaptation, or learning with --learning, beside the first path)" };
        var learning = new Option<bool>("--learning") { Description = "plot the learning curve instead: return (before and after adaptation for a meta-learner) against iterations, from the runs' progress.csv" };
        var conflict = new Option<bool>("--conflict") { Description = "multi-task runs: heat maps of the tasks' gradient cosines in the first, middle and last third of training, from progress.csv" };
        var xAxis = new Option<string>("--x") { Description = "with --learning: what the horizontal axis counts, iterations or env-steps (environment steps: compares learners that spend different experience per iteration)", DefaultValueFactory = _ => "iterations" };
        xAxis.AcceptOnlyFromAmong("iterations", "env-steps");
        var logX = new Option<bool>("--log-x") { Description = "with --learning: a logarithmic horizontal axis" };
        var transfer = new Option<bool>("--transfer") { Description = "'metarl transfer' outputs: redraw the transfer bars (one width) or the capacity sweep (several) from transfer.csv, and the pairwise heat map from pairwise.csv" };
        var cmd = new Command("plot", "Plot return against adaptation steps with 95% CI bands, for every method in the runs given; or, with --learning, return against training iterations or environment steps; or, with --conflict, a multi-task run's gradient conflict; or, with --transfer, a transfer study's figures (PNG and SVG)") { paths, output, learning, xAxis, logX, conflict, transfer };
        cmd.SetAction(p =>
        {
            if (!p.GetValue(learning) && (p.GetResult(xAxis) is { Implicit: false } || p.GetValue(logX)))
                throw new UsageException("--x and --log-x belong to --learning (the learning curve)");
            if (p.GetValue(conflict))
            {
                foreach (var path in p.GetValue(paths)!)
                {
                    string csv = File.Exists(path) ? path : Path.Combine(path, RunDirectory.ProgressFile);
                    if (!File.Exists(csv)) throw new UsageException($"no {RunDirectory.ProgressFile} at '{csv}'; give run directories written by 'metarl train mt-ppo'");
                    string dir = Path.GetDirectoryName(Path.GetFullPath(csv))!;
                    var c = RunDirectory.At(dir).ReadConfig();
                    foreach (var f in MultiTaskPlots.Conflict(csv, $"{c.Algorithm} on {c.Env}: cosine of the tasks' gradients (shared weights)", p.GetValue(output) ?? Path.Combine(dir, "conflict"),
                        SuiteRegistry.Contains(c.Env) ? SuiteRegistry.Create(c.Env).Tasks.Select(t => t.Name).ToList() : null))
                        stdout.WriteLine($"Plot: {f}");
                }
                return Ok;
            }
            if (p.GetValue(transfer))
            {
                foreach (var path in p.GetValue(paths)!)
                {
                    string dir = Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(path))!;
                    string csv = Path.Combine(dir, "transfer.csv");
                    if (!File.Exists(csv)) throw new UsageException($"no transfer.csv in '{dir}'; give output directories of 'metarl transfer'");
                    var rows = TransferStudy.FromCsv(csv);
                    // The suite's name and the seeds from the study's report (its title and its "seeds 1, 2, 3;"), else the directory's name.
                    string report = Path.Combine(dir, "report.md");
                    string text = File.Exists(report) ? File.ReadAllText(report) : "";
                    var title = System.Text.RegularExpressions.Regex.Match(text, @"^# Transfer on suite (\S+)");
                    var seeds = System.Text.RegularExpressions.Regex.Match(text, @"seeds (\d+(?:, \d+)*);");
                    string suite = title.Success ? title.Groups[1].Value : Path.GetFileName(Path.GetFullPath(dir));
                    string about = suite + (seeds.Success ? $", {seeds.Groups[1].Value.Split(", ").Length} seed{(seeds.Groups[1].Value.Contains(',') ? "s" : "")}" : "");
                    bool sweep = rows.Select(r => r.Width).Distinct().Count() > 1;
                    string figure = p.GetValue(output) ?? Path.Combine(dir, sweep ? "capacity" : "transfer");
                    foreach (var f in MultiTaskPlots.Transfer(rows, rows.Select(r => r.Task).Distinct().ToList(), about, figure)) stdout.WriteLine($"Plot: {f}");
                    string pairwise = Path.Combine(dir, "pairwise.csv");
                    if (File.Exists(pairwise))
                    {
                        var (names, matrix) = TransferStudy.PairwiseFromCsv(pairwise);
                        foreach (var f in MultiTaskPlots.Matrix(matrix, names, $"{suite}: row task's transfer beside the column task", "transfer", p.GetValue(output) is { } o ? o + "-pairwise" : Path.Combine(dir, "pairwise"), centre: 1))
                            stdout.WriteLine($"Plot: {f}");
                    }
                }
                return Ok;
            }
            if (p.GetValue(learning))
            {
                var progress = p.GetValue(paths)!.Select(path => File.Exists(path) ? path : Path.Combine(path, RunDirectory.ProgressFile)).ToList();
                foreach (var csv in progress)
                    if (!File.Exists(csv)) throw new UsageException($"no {RunDirectory.ProgressFile} at '{csv}'; give run directories written by 'metarl train'");
                // The title: "maml, pearl on halfcheetah-vel" (the algorithms of each env)
                var configs = p.GetValue(paths)!.Where(Directory.Exists).Select(d => RunDirectory.At(d).ReadConfig()).GroupBy(c => c.Env)
                    .Select(e => $"{string.Join(", ", e.Select(c => c.Algorithm).Distinct())} on {e.Key}").ToList();
                string learningPrefix = p.GetValue(output) ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(progress[0]))!, "learning");
                var axis = p.GetValue(xAxis) == "env-steps" ? LearningAxis.EnvSteps : LearningAxis.Iterations;
                foreach (var f in LearningCurvePlot.Write(LearningGroups(progress), $"{string.Join("; ", configs)}: learning curve", learningPrefix, axis: axis, logX: p.GetValue(logX)))
                    stdout.WriteLine($"Plot: {f}");
                return Ok;
            }
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

    /// <summary>
    /// The learning plot's lines: runs of one configuration but for the seed (and the checkpoint cadence) are one line,
    /// their mean over seeds; runs of several configurations (an ablation) are a line each, labelled by the settings that
    /// differ among them (a key missing from an older run's config.yaml read as its default). A progress.csv without a config.yaml beside it is a line of its own, labelled by its path.
    /// </summary>
    static IReadOnlyList<(string Label, IReadOnlyList<string> ProgressFiles)> LearningGroups(IReadOnlyList<string> progressFiles)
    {
        var settings = progressFiles.Select(csv =>
        {
            string dir = Path.GetDirectoryName(Path.GetFullPath(csv))!;
            if (!File.Exists(Path.Combine(dir, "config.yaml"))) return null;
            var (algorithm, env, _, values) = RunDirectory.At(dir).ReadConfig();
            // A key added after a run was trained is absent from its config.yaml: the run had the key's default.
            if (LearnerRegistry.Names.Contains(algorithm))
                foreach (var (key, value) in Reproduction.Defaults(algorithm)) values.TryAdd(key, value);
            values["algorithm"] = algorithm;
            values["env"] = env;
            foreach (var key in CommonConfig.BookkeepingKeys) values.Remove(key);
            return values;
        }).ToList();
        string Key(int i) => settings[i] is { } v ? string.Join("\n", v.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}")) : "file:" + progressFiles[i];
        var groups = Enumerable.Range(0, progressFiles.Count).GroupBy(Key).ToList();
        if (groups.Count == 1) return [("", progressFiles)];
        // Labels name what the lines differ in: the algorithm and env where those differ, then the settings that differ
        // among runs of the same algorithm (another algorithm's keys are not a difference).
        var configured = settings.OfType<Dictionary<string, string>>().ToList();
        bool Several(string key) => configured.Select(v => v[key]).Distinct().Count() > 1;
        var differing = configured.GroupBy(v => v["algorithm"]).ToDictionary(a => a.Key, a => a.SelectMany(v => v.Keys).Distinct()
            .Where(k => k is not "algorithm" and not "env" && a.Select(v => v.GetValueOrDefault(k, "(unset)")).Distinct().Count() > 1).OrderBy(k => k, StringComparer.Ordinal).ToList());
        return groups.Select(g =>
        {
            var v = settings[g.First()];
            string label = v is null ? progressFiles[g.First()] : string.Join(", ",
                (Several("algorithm") ? [v["algorithm"]] : Array.Empty<string>())
                .Concat(Several("env") ? [v["env"]] : [])
                .Concat(differing[v["algorithm"]].Select(k => $"{k}={v.GetValueOrDefault(k, "(unset)")}")));
            return (label, (IReadOnlyList<string>)g.Select(i => progressFiles[i]).ToList());
        }).ToList();
    }
}
