namespace MetaRl.Cli;

/// <summary>`metarl reproduce icl-context`'s figures: per family, the mean return of each episode of the trial, one line per context length.</summary>
internal static class InContextPlots
{
    public static IReadOnlyList<string> Context(IReadOnlyList<InContextStudy.ContextRow> rows, string root)
    {
        var files = new List<string>();
        var palette = new ScottPlot.Palettes.Category10();
        foreach (var g in rows.GroupBy(r => r.Env))
        {
            var plot = new ScottPlot.Plot();
            int i = 0;
            foreach (var r in g)
            {
                double[] xs = Enumerable.Range(1, r.Episodes).Select(e => (double)e).ToArray();
                var color = palette.GetColor(i++);
                var band = plot.Add.FillY(xs, r.EpisodeReturns.Zip(r.EpisodeCi95, (m, c) => m - c).ToArray(), r.EpisodeReturns.Zip(r.EpisodeCi95, (m, c) => m + c).ToArray());
                band.FillStyle.Color = color.WithAlpha(0.15);
                band.LineStyle.Width = 0;
                var line = plot.Add.Scatter(xs, r.EpisodeReturns);
                line.Color = color;
                line.LineWidth = 2;
                line.LegendText = r.ContextEpisodes < 0 ? "context: all" : $"context: {r.ContextEpisodes} past episode{(r.ContextEpisodes == 1 ? "" : "s")}";
            }
            plot.Title($"In-context learner on {g.Key}: return of each episode of a trial");
            plot.XLabel("episode of the trial");
            plot.YLabel("mean return (held-out tasks)");
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(1);
            plot.ShowLegend(ScottPlot.Alignment.LowerRight);
            string png = Path.Combine(root, $"context-{g.Key}.png"), svg = Path.Combine(root, $"context-{g.Key}.svg");
            plot.SavePng(png, 800, 500);
            plot.SaveSvg(svg, 800, 500);
            files.Add(png); files.Add(svg);
        }
        return files;
    }
}
