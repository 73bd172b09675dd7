namespace MetaRl.Cli;

/// <summary>
/// `metarl plot --learning`: return against meta-iterations from runs' progress.csv, mean over the runs of a group
/// (the seeds of one configuration) with their range as a band, one line per group (an ablation: the groups' labels
/// name the settings they differ in). A meta-learner draws its pre- and post-adaptation returns (on each iteration's
/// meta-batch of fresh training tasks), any other learner its mean return.
/// </summary>
internal static class LearningCurvePlot
{
    public static IReadOnlyList<string> Write(IReadOnlyList<string> progressFiles, string title, string outputPrefix, int window = 10) =>
        Write([("", progressFiles)], title, outputPrefix, window);

    public static IReadOnlyList<string> Write(IReadOnlyList<(string Label, IReadOnlyList<string> ProgressFiles)> groups, string title, string outputPrefix, int window = 10)
    {
        var all = groups.Select(g => (g.Label, Runs: g.ProgressFiles.Select(Read).ToList(), g.ProgressFiles)).ToList();
        string[] columns = all.All(g => g.Runs.All(r => r.ContainsKey("post_return") && r.ContainsKey("pre_return"))) ? ["post_return", "pre_return"] : ["mean_return"];
        var plot = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        int colour = 0;
        foreach (var (label, runs, files) in all)
        for (int c = 0; c < columns.Length; c++)
        {
            int n = runs.Min(r => r[columns[c]].Length);
            if (n == 0) throw new UsageException($"no iterations in {string.Join(", ", files)}");
            // each run smoothed over a trailing window, then mean and range over runs
            var smoothed = runs.Select(r => Smooth(r[columns[c]], n, window)).ToList();
            double[] x = Enumerable.Range(1, n).Select(i => (double)i).ToArray();
            double[] mean = Enumerable.Range(0, n).Select(i => smoothed.Average(s => s[i])).ToArray();
            var color = palette.GetColor(colour++);
            if (runs.Count > 1)
            {
                var band = plot.Add.FillY(x, Enumerable.Range(0, n).Select(i => smoothed.Min(s => s[i])).ToArray(), Enumerable.Range(0, n).Select(i => smoothed.Max(s => s[i])).ToArray());
                band.FillColor = color.WithAlpha(0.2);
                band.LineWidth = 0;
            }
            var line = plot.Add.Scatter(x, mean);
            line.Color = color; line.MarkerSize = 0; line.LineWidth = 2;
            line.LegendText = (label.Length > 0 ? label + ": " : "") + columns[c] switch
            {
                "post_return" => "after adaptation (1 inner step)",
                "pre_return" => "before adaptation",
                _ => "mean return",
            } + (runs.Count > 1 ? $": mean of {runs.Count} runs, band: their range" : "");
        }
        plot.Title(title);
        plot.XLabel("meta-iteration");
        plot.YLabel($"return (trailing mean of {window} iterations)");
        plot.ShowLegend(ScottPlot.Alignment.LowerRight);
        string png = outputPrefix + ".png", svg = outputPrefix + ".svg";
        plot.SavePng(png, 1000, 600);
        plot.SaveSvg(svg, 1000, 600);
        return [png, svg];
    }

    static Dictionary<string, double[]> Read(string csv)
    {
        var lines = File.ReadAllLines(csv);
        if (lines.Length == 0) throw new UsageException($"{csv} is empty");
        var header = lines[0].Split(',');
        var rows = lines.Skip(1).Select(l => l.Split(',')).ToList();
        return header.Select((name, i) => (name, i)).ToDictionary(h => h.name,
            h => rows.Select(r => double.TryParse(r[h.i], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : double.NaN).ToArray());
    }

    static double[] Smooth(double[] values, int n, int window) =>
        Enumerable.Range(0, n).Select(i => values[Math.Max(0, i - window + 1)..(i + 1)].Average()).ToArray();
}
