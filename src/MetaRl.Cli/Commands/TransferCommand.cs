using MetaRl.Envs.Suites;

namespace MetaRl.Cli;

public static partial class Cli
{
    static Command TransferCommand(TextWriter stdout)
    {
        var suite = new Option<string>("--suite") { Description = $"the suite ({string.Join(", ", SuiteRegistry.Names)})", Required = true };
        var algorithm = new Option<string>("--algorithm") { Description = "the multi-task learner: mt-ppo or mt-sac", DefaultValueFactory = _ => "mt-ppo" };
        algorithm.AcceptOnlyFromAmong("mt-ppo", "mt-sac");
        var iterations = new Option<int>("--iterations") { Description = "iterations of every run (the per-task budget with episodes-per-task)", DefaultValueFactory = _ => 40 };
        var seeds = new Option<string>("--seeds") { Description = "comma-separated seeds (CI of the transfer over seeds)", DefaultValueFactory = _ => "1,2,3" };
        var pairwise = new Option<bool>("--pairwise") { Description = "also train every pair of tasks together: the pairwise transfer matrix" };
        var widths = new Option<string>("--widths") { Description = "hidden widths (two layers) to compare at: several make the capacity sweep", DefaultValueFactory = _ => "64" };
        var set = new Option<string[]>("--set") { Description = "a config key for every run (e.g. episodes-per-task=4; gradient=pcgrad applies to the multi-task networks only)", AllowMultipleArgumentsPerToken = false };
        var outDir = new Option<string?>("--out") { Description = "output directory (default: runs/transfer-<suite>)" };
        var cmd = new Command("transfer", "Transfer between a suite's tasks: multi-task against single-task networks on the same per-task budget, per task; pairwise with --pairwise; a capacity sweep with several --widths (CSV, Markdown, PNG and SVG)")
            { suite, algorithm, iterations, seeds, pairwise, widths, set, outDir };
        cmd.SetAction(p =>
        {
            SetThreads(1);
            string name = p.GetValue(suite)!;
            if (!SuiteRegistry.Contains(name)) throw new UsageException($"unknown suite '{name}'; valid suites: {string.Join(", ", SuiteRegistry.Names)}");
            int n = p.GetValue(iterations);
            if (n < 1) throw new UsageException("--iterations must be >= 1");
            var seedList = ParseInts(p.GetValue(seeds)!, "--seeds");
            var widthList = ParseInts(p.GetValue(widths)!, "--widths");
            if (widthList.Any(w => w < 1)) throw new UsageException("--widths must be positive integers");
            var values = Config.ParseOverrides(p.GetValue(set) ?? []).ToDictionary(kv => kv.Key, kv => kv.Value);
            string dir = p.GetValue(outDir) ?? Path.Combine("runs", $"transfer-{name}");
            Directory.CreateDirectory(dir);

            var result = TransferStudy.Run(new TransferStudy.Options(name, n, seedList, p.GetValue(pairwise), widthList, values, Algorithm: p.GetValue(algorithm)!), stdout);
            File.WriteAllText(Path.Combine(dir, "transfer.csv"), TransferStudy.ToCsv(result));
            var written = new List<string> { Path.Combine(dir, "transfer.csv"), Path.Combine(dir, "report.md") };
            if (result.Pairwise is not null)
            {
                File.WriteAllText(Path.Combine(dir, "pairwise.csv"), TransferStudy.PairwiseCsv(result));
                written.Add(Path.Combine(dir, "pairwise.csv"));
                written.AddRange(MultiTaskPlots.Matrix(result.Pairwise, result.Suite.Tasks.Select(t => t.Name).ToList(),
                    $"{name}: row task's transfer beside the column task", "transfer", Path.Combine(dir, "pairwise"), centre: 1));
            }
            written.AddRange(MultiTaskPlots.Transfer(result, Path.Combine(dir, widthList.Length > 1 ? "capacity" : "transfer")));
            string report = TransferStudy.Report(result);
            File.WriteAllText(Path.Combine(dir, "report.md"), report);
            stdout.WriteLine(report);
            foreach (var f in written) stdout.WriteLine($"Written: {f}");
            return Ok;
        });
        return cmd;
    }

    static int[] ParseInts(string text, string option)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var xs = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out xs[i]))
                throw new UsageException($"{option} takes comma-separated integers; got '{text}'");
        if (xs.Length == 0) throw new UsageException($"{option} needs at least one value");
        return xs;
    }
}
