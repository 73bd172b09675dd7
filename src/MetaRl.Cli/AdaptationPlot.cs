namespace MetaRl.Cli;

/// <summary>`metarl plot`: return against adaptation steps with 95% CI bands, one line per method, one figure per split (ScottPlot).</summary>
internal static class AdaptationPlot
{
    public static IReadOnlyList<string> Write(IReadOnlyList<AdaptationPoint> points, string outputPrefix)
    {
        var files = new List<string>();
        var palette = new ScottPlot.Palettes.Category10();
        foreach (var split in MetaEvaluator.SplitNames)
        {
            var ofSplit = points.Where(p => p.Split == split).ToList();
            if (ofSplit.Count == 0) continue;
            // One axis for every family: episodes of the task's experience (files from before it was recorded: steps).
            bool byEpisodes = ofSplit.All(p => p.Episodes >= 0);
            var plot = new ScottPlot.Plot();
            int i = 0;
            foreach (var method in ofSplit.Select(p => p.Method).Distinct())
            {
                var curve = ofSplit.Where(p => p.Method == method).OrderBy(p => p.Step).ToList();
                double[] xs = curve.Select(p => (double)(byEpisodes ? p.Episodes : p.Step)).ToArray();
                double[] ys = curve.Select(p => p.MeanReturn).ToArray();
                var color = palette.GetColor(i++);
                if (curve.All(p => double.IsFinite(p.Ci95)))
                {
                    var band = plot.Add.FillY(xs, curve.Select(p => p.MeanReturn - p.Ci95).ToArray(), curve.Select(p => p.MeanReturn + p.Ci95).ToArray());
                    band.FillStyle.Color = color.WithAlpha(0.2);
                    band.LineStyle.Width = 0;
                }
                var line = plot.Add.Scatter(xs, ys);
                line.Color = color;
                line.LineWidth = 2;
                line.MarkerSize = 6;
                line.LegendText = method;
            }
            plot.Title($"Adaptation on {split} tasks");
            plot.XLabel(byEpisodes ? "episodes of experience of the task" : "adaptation steps");
            plot.YLabel("mean return");
            if (!byEpisodes) plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(1);
            plot.ShowLegend(ScottPlot.Alignment.LowerRight);
            string png = $"{outputPrefix}-{split}.png", svg = $"{outputPrefix}-{split}.svg";
            plot.SavePng(png, 800, 500);
            plot.SaveSvg(svg, 800, 500);
            files.Add(png); files.Add(svg);
        }
        return files;
    }
}
