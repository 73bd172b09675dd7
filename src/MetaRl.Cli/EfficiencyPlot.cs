namespace MetaRl.Cli;

/// <summary>`metarl compare`'s sample-efficiency figure: held-out return against environment steps of meta-training, a line per method (95% CI over seeds), the target as a dashed line.</summary>
internal static class EfficiencyPlot
{
    public static IReadOnlyList<string> Write(IReadOnlyList<EfficiencyCurvePoint> curves, double target, string outputPrefix)
    {
        var plot = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        int i = 0;
        foreach (var method in curves.Select(c => c.Method).Distinct())
        {
            var curve = curves.Where(c => c.Method == method).OrderBy(c => c.EnvSteps).ToList();
            double[] xs = curve.Select(c => (double)c.EnvSteps).ToArray();
            var color = palette.GetColor(i++);
            if (curve.All(c => double.IsFinite(c.Ci95)))
            {
                var band = plot.Add.FillY(xs, curve.Select(c => c.Return - c.Ci95).ToArray(), curve.Select(c => c.Return + c.Ci95).ToArray());
                band.FillStyle.Color = color.WithAlpha(0.2);
                band.LineStyle.Width = 0;
            }
            var line = plot.Add.Scatter(xs, curve.Select(c => c.Return).ToArray());
            line.Color = color;
            line.LineWidth = 2;
            line.MarkerSize = 5;
            line.LegendText = method;
        }
        var goal = plot.Add.HorizontalLine(target);
        goal.LinePattern = ScottPlot.LinePattern.Dashed;
        goal.Color = ScottPlot.Colors.Gray;
        goal.LegendText = "target";
        plot.Title("Held-out return during meta-training");
        plot.XLabel("environment steps of meta-training");
        plot.YLabel("held-out return after adapting");
        plot.ShowLegend(ScottPlot.Alignment.LowerRight);
        string png = outputPrefix + ".png", svg = outputPrefix + ".svg";
        plot.SavePng(png, 800, 500);
        plot.SaveSvg(svg, 800, 500);
        return [png, svg];
    }
}
