using MetaRl.Algorithms.SingleTask;

namespace MetaRl.Cli;

public static partial class Cli
{
    static Command DemoCommand(TextWriter stdout, bool interactive)
    {
        var outDir = new Option<string>("--out") { Description = "root directory of runs", DefaultValueFactory = _ => "runs" };
        var iterations = new Option<int>("--iterations") { Description = "meta-iterations", DefaultValueFactory = _ => 15 };
        var cmd = new Command("demo", "A short meta-training demo: MAML-TRPO on 2D navigation for 15 meta-iterations, then the adaptation table on train / test / OOD tasks") { outDir, iterations };
        cmd.SetAction(p =>
        {
            string outRoot = p.GetValue(outDir)!;
            if (p.GetValue(iterations) < 1) throw new UsageException("--iterations must be >= 1");
            int code = Run(["train", "maml", "--env", "2d-navigation", "--iterations", $"{p.GetValue(iterations)}", "--threads", "2", "--out", outRoot], stdout, stdout, interactive);
            if (code != Ok) return code;
            var latest = new DirectoryInfo(Path.Combine(outRoot, "maml-2d-navigation")).GetDirectories().OrderBy(d => d.Name, StringComparer.Ordinal).Last();
            code = Run(["eval", latest.FullName], stdout, stdout, interactive);
            stdout.WriteLine($"Results (config.yaml, progress.csv with pre/post-adaptation returns, tb/, checkpoint.bin, summary.json, adaptation.csv): {latest.FullName}");
            return code;
        });
        return cmd;
    }
}
