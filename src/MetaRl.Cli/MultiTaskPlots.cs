using MetaRl.Algorithms.MultiTask;

namespace MetaRl.Cli;

/// <summary>The multi-task diagnostics drawn: task-by-task matrices (transfer, gradient cosines per phase of training) and the transfer or capacity plot.</summary>
internal static class MultiTaskPlots
{
    /// <summary>One matrix as coloured cells with their values: blue above <paramref name="centre"/>, red below.</summary>
    public static IReadOnlyList<string> Matrix(double[,] m, IReadOnlyList<string> names, string title, string what, string prefix, double centre) =>
        Matrices([(m, "")], names, title, what, prefix, centre, spread: MaxDistance(m, centre));

    /// <summary>
    /// `metarl plot --conflict`: the pairwise cosine of the tasks' gradients of the shared weights, averaged over the
    /// first, middle and last third of training, from progress.csv's cos/&lt;i&gt;/&lt;j&gt; columns.
    /// </summary>
    public static IReadOnlyList<string> Conflict(string progressCsv, string title, string prefix, IReadOnlyList<string>? taskOrder = null)
    {
        var lines = File.ReadAllLines(progressCsv);
        var header = lines[0].Split(',');
        var pairs = header.Select((h, i) => (h, i)).Where(x => x.h.StartsWith("cos/", StringComparison.Ordinal)).ToList();
        if (pairs.Count == 0) throw new UsageException($"{progressCsv} has no gradient cosines (cos/<task>/<task> columns): train mt-ppo with conflict-every above 0");
        var names = new List<string>();
        foreach (var (h, _) in pairs)
            foreach (var n in h.Split('/')[1..])
                if (!names.Contains(n)) names.Add(n);
        if (taskOrder is not null && names.All(taskOrder.Contains)) names = taskOrder.Where(names.Contains).ToList();
        var rows = lines.Skip(1).Select(l => l.Split(',')).ToList();
        int third = Math.Max(1, rows.Count / 3);
        var phases = new List<(double[,], string)>();
        foreach (var (label, from, to) in new[] { ("first third", 0, third), ("middle third", third, Math.Min(rows.Count, 2 * third)), ("last third", Math.Min(rows.Count, 2 * third), rows.Count) })
        {
            if (to <= from) continue;
            var m = new double[names.Count, names.Count];
            for (int i = 0; i < names.Count; i++) m[i, i] = 1;
            foreach (var (h, col) in pairs)
            {
                var parts = h.Split('/');
                int i = names.IndexOf(parts[1]), j = names.IndexOf(parts[2]);
                double mean = rows.Skip(from).Take(to - from).Average(r => double.Parse(r[col], NumberStyles.Float, CultureInfo.InvariantCulture));
                m[i, j] = m[j, i] = mean;
            }
            phases.Add((m, $"{label} (iterations {from + 1}-{to})"));
        }
        return Matrices(phases, names, title, "cosine", prefix, centre: 0, spread: 1);
    }

    static double MaxDistance(double[,] m, double centre)
    {
        double d = 0;
        foreach (double x in m) if (double.IsFinite(x)) d = Math.Max(d, Math.Abs(x - centre));
        return Math.Max(d, 1e-9);
    }

    static IReadOnlyList<string> Matrices(IReadOnlyList<(double[,] M, string Label)> panels, IReadOnlyList<string> names, string title, string what, string prefix, double centre, double spread)
    {
        int t = names.Count;
        var plot = new ScottPlot.Plot();
        double gap = 1.5;
        for (int p = 0; p < panels.Count; p++)
        {
            double x0 = p * (t + gap);
            for (int i = 0; i < t; i++)
                for (int j = 0; j < t; j++)
                {
                    double v = panels[p].M[i, j];
                    // Row i from the top: y = t - 1 - i.
                    var cell = plot.Add.Rectangle(x0 + j, x0 + j + 1, t - 1 - i, t - i);
                    cell.FillColor = Colour(v, centre, spread);
                    cell.LineColor = ScottPlot.Colors.White;
                    var text = plot.Add.Text(double.IsFinite(v) ? v.ToString("0.00", CultureInfo.InvariantCulture) : "-", x0 + j + 0.5, t - i - 0.5);
                    text.LabelAlignment = ScottPlot.Alignment.MiddleCenter;
                    text.LabelFontSize = 12;
                }
            if (panels[p].Label.Length > 0)
            {
                var label = plot.Add.Text(panels[p].Label, x0 + t / 2.0, t + 0.4);
                label.LabelAlignment = ScottPlot.Alignment.LowerCenter;
                label.LabelFontSize = 13;
            }
        }
        var bottom = new List<ScottPlot.Tick>();
        for (int p = 0; p < panels.Count; p++)
            for (int j = 0; j < t; j++) bottom.Add(new ScottPlot.Tick(p * (t + gap) + j + 0.5, names[j]));
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(bottom.ToArray());
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(names.Select((n, i) => new ScottPlot.Tick(t - i - 0.5, n)).ToArray());
        plot.Axes.SetLimits(-0.2, panels.Count * (t + gap) - gap + 0.2, -0.2, t + 1.2);
        plot.Title(title);
        plot.XLabel($"blue: {what} above {centre.ToString(CultureInfo.InvariantCulture)}, red: below");
        string png = prefix + ".png", svg = prefix + ".svg";
        int width = Math.Max(600, 140 + panels.Count * (t * 70 + 60));
        plot.SavePng(png, width, 160 + t * 60);
        plot.SaveSvg(svg, width, 160 + t * 60);
        return [png, svg];
    }

    static ScottPlot.Color Colour(double v, double centre, double spread)
    {
        if (!double.IsFinite(v)) return ScottPlot.Colors.LightGray;
        double a = Math.Clamp((v - centre) / spread, -1, 1);
        // white at the centre, to blue (above) or red (below)
        byte Mix(double full) => (byte)Math.Round(255 + (full - 255) * Math.Abs(a));
        return a >= 0 ? new ScottPlot.Color(Mix(33), Mix(102), Mix(172)) : new ScottPlot.Color(Mix(178), Mix(24), Mix(43));
    }

    /// <summary>
    /// One width: each task's transfer, a line at 1. Several widths (the capacity sweep): each task's transfer
    /// against the multi-task network's parameters (the returns themselves are in transfer.csv).
    /// </summary>
    public static IReadOnlyList<string> Transfer(TransferStudy.Result r, string prefix) =>
        Transfer(r.Tasks, r.Suite.Tasks.Select(t => t.Name).ToList(), $"{r.Suite.Name}, {r.Options.Seeds.Count} seed{(r.Options.Seeds.Count == 1 ? "" : "s")}", prefix);

    /// <summary>The same from transfer.csv's rows (`metarl plot --transfer` redraws a study): <paramref name="about"/> ends the title (the suite, the seeds).</summary>
    public static IReadOnlyList<string> Transfer(IReadOnlyList<TransferStudy.TaskTransfer> all, IReadOnlyList<string> tasks, string about, string prefix)
    {
        var plot = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var widths = all.Select(x => x.Width).Distinct().OrderBy(w => w).ToList();
        if (widths.Count == 1)
        {
            var rows = tasks.Select(t => all.Single(x => x.Task == t)).ToList();
            for (int k = 0; k < rows.Count; k++)
            {
                if (!double.IsFinite(rows[k].Transfer)) continue; // no single-task gain to compare with
                var bar = plot.Add.Bar(k, rows[k].Transfer);
                bar.Color = rows[k].Transfer >= 1 ? new ScottPlot.Color(33, 102, 172) : new ScottPlot.Color(178, 24, 43);
            }
            var one = plot.Add.HorizontalLine(1);
            one.LinePattern = ScottPlot.LinePattern.Dashed;
            one.Color = ScottPlot.Colors.Gray;
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(tasks.Select((n, i) => new ScottPlot.Tick(i, n)).ToArray());
            plot.YLabel("transfer: multi-task gain / single-task gain (1: no effect)");
            plot.Title($"Transfer per task, width {widths[0]}: {about}");
        }
        else
        {
            for (int k = 0; k < tasks.Count; k++)
            {
                var rows = all.Where(x => x.Task == tasks[k] && double.IsFinite(x.Transfer)).OrderBy(x => x.Width).ToList();
                if (rows.Count == 0) continue;
                // x: the multi-task network's parameters at each width; y: the task's transfer there (1: as well as alone).
                var line = plot.Add.Scatter(rows.Select(x => Math.Log10(x.MultiTaskParameters)).ToArray(), rows.Select(x => x.Transfer).ToArray());
                line.Color = palette.GetColor(k); line.LineWidth = 2; line.MarkerSize = 7; line.LegendText = tasks[k];
            }
            var neutral = plot.Add.HorizontalLine(1);
            neutral.LinePattern = ScottPlot.LinePattern.Dashed;
            neutral.Color = ScottPlot.Colors.Gray;
            plot.XLabel("parameters of the multi-task network (log10; widths " + string.Join(", ", widths) + ")");
            plot.YLabel("transfer: multi-task gain / single-task gain (1: no effect)");
            plot.Title($"Capacity sweep: {about}");
            plot.ShowLegend(ScottPlot.Alignment.LowerRight);
        }
        string png = prefix + ".png", svg = prefix + ".svg";
        plot.SavePng(png, 1000, 600);
        plot.SaveSvg(svg, 1000, 600);
        return [png, svg];
    }
}
