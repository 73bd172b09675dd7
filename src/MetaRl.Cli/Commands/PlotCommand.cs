using MetaRl.Algorithms.SingleTask;

namespace MetaRl.Cli;

public static partial class Cli
{
    static Command PlotCommand(TextWriter stdout)
    {
        var paths = new Argument<string[]>("path") { Description = "run directories or reproductions (anything holding an adaptation.csv; run 'metarl eval' first for a run)", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string?>("--out") { Description = "output file prefix (default: adaptation, or learning with --learning, beside the first path)" };
        var learning = new Option<bool>("--learning") { Description = "plot the learning curve instead: return (before and after adaptation for a meta-learner) against iterations, from the runs' progress.csv" };
        var cmd = new Command("plot", "Plot return against adaptation steps with 95% CI bands, for every method in the runs given; or, with --learning, return against training iterations (PNG and SVG)") { paths, output, learning };
        cmd.SetAction(p =>
        {
            if (p.GetValue(learning))
            {
                var progress = p.GetValue(paths)!.Select(path => File.Exists(path) ? path : Path.Combine(path, RunDirectory.ProgressFile)).ToList();
                foreach (var csv in progress)
                    if (!File.Exists(csv)) throw new UsageException($"no {RunDirectory.ProgressFile} at '{csv}'; give run directories written by 'metarl train'");
                var configs = p.GetValue(paths)!.Where(Directory.Exists).Select(d => RunDirectory.At(d).ReadConfig()).Select(c => $"{c.Algorithm} on {c.Env}").Distinct().ToList();
                string learningPrefix = p.GetValue(output) ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(progress[0]))!, "learning");
                foreach (var f in LearningCurvePlot.Write(progress, $"{string.Join(", ", configs)}: learning curve", learningPrefix)) stdout.WriteLine($"Plot: {f}");
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
}
