using MetaRl.Algorithms.SingleTask;

namespace MetaRl.Cli;

public static partial class Cli
{
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
}
