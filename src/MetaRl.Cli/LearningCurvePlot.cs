namespace MetaRl.Cli;

/// <summary>What the learning plot's horizontal axis counts.</summary>
internal enum LearningAxis { Iterations, EnvSteps }

/// <summary>
/// `metarl plot --learning`: return against meta-iterations (or environment steps) from runs' progress.csv, mean over
/// the runs of a group (the seeds of one configuration) with their range as a band, one line per group (an ablation,
/// or several algorithms: the groups' labels name what they differ in). A meta-learner draws its pre- and
/// post-adaptation returns (on each iteration's meta-batch of fresh training tasks), any other learner its mean return.
/// Against environment steps, learners that spend very different amounts of experience per iteration (MAML's
/// 160,000 against PEARL's 5,000 on the half-cheetah) share one axis: what a sample-efficiency comparison needs.
/// </summary>
internal static class LearningCurvePlot
{
    public static IReadOnlyList<string> Write(IReadOnlyList<string> progressFiles, string title, string outputPrefix, int window = 10) =>
        Write([("", progressFiles)], title, outputPrefix, window);

    public static IReadOnlyList<string> Write(IReadOnlyList<(string Label, IReadOnlyList<string> ProgressFiles)> groups, string title, string outputPrefix, int window = 10,
        LearningAxis axis = LearningAxis.Iterations, bool logX = false)
    {
        var all = groups.Select(g => (g.Label, Runs: g.ProgressFiles.Select(Read).ToList(), g.ProgressFiles)).ToList();
        var plot = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        int colour = 0;
        double xMin = double.PositiveInfinity, xMax = double.NegativeInfinity;
        foreach (var (label, runs, files) in all)
        {
            // each group its own columns: MAML's before and after adaptation beside PEARL's mean return
            string[] columns = runs.All(r => r.ContainsKey("post_return") && r.ContainsKey("pre_return")) ? ["post_return", "pre_return"] : ["mean_return"];
            if (axis == LearningAxis.EnvSteps && runs.Any(r => !r.ContainsKey("env_steps")))
                throw new UsageException($"no env_steps column in {string.Join(", ", files)}; plot against iterations (--x iterations)");
            foreach (var column in columns)
            {
                if (runs.Any(r => !r.ContainsKey(column)))
                    throw new UsageException($"no {column} column in {string.Join(", ", files)}");
                int n = runs.Min(r => r[column].Length);
                if (n == 0) throw new UsageException($"no iterations in {string.Join(", ", files)}");
                // each run smoothed over a trailing window, then mean and range over runs
                var smoothed = runs.Select(r => Smooth(r[column], n, window)).ToList();
                double[] x = axis == LearningAxis.EnvSteps
                    ? Enumerable.Range(0, n).Select(i => runs.Average(r => r["env_steps"][i])).ToArray()
                    : Enumerable.Range(1, n).Select(i => (double)i).ToArray();
                if (logX)
                {
                    if (x.Any(v => !(v > 0))) throw new UsageException($"a logarithmic axis needs positive {(axis == LearningAxis.EnvSteps ? "env_steps" : "iterations")} in {string.Join(", ", files)}");
                    x = x.Select(Math.Log10).ToArray();
                }
                xMin = Math.Min(xMin, x[0]); xMax = Math.Max(xMax, x[^1]);
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
                line.LegendText = (label.Length > 0 ? label + ": " : "") + column switch
                {
                    "post_return" => "after adaptation (1 inner step)",
                    "pre_return" => "before adaptation",
                    // RL2's and icl's statistic is a trial's return, all its episodes summed: say so beside per-episode learners
                    _ when runs.All(r => r.ContainsKey("first_episode_return")) => "mean return of a trial (its episodes summed)",
                    // PEARL's is of the episodes with z from the posterior (its prior episodes explore, logged as return_prior)
                    _ when runs.All(r => r.ContainsKey("return_prior")) => "return of its posterior-sampling episodes",
                    _ => "mean return",
                } + (runs.Count > 1 ? $": mean of {runs.Count} runs, band: their range" : "");
            }
        }
        string unit = axis == LearningAxis.EnvSteps ? "environment steps" : "meta-iteration";
        if (logX)
        {
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(LogTicks(xMin, xMax).ToArray());
            unit += " (log scale)";
        }
        plot.Title(title);
        plot.XLabel(unit);
        plot.YLabel($"return (trailing mean of {window} iterations)");
        plot.ShowLegend(ScottPlot.Alignment.LowerRight);
        string png = outputPrefix + ".png", svg = outputPrefix + ".svg";
        plot.SavePng(png, 1000, 600);
        plot.SaveSvg(svg, 1000, 600);
        return [png, svg];
    }

    /// <summary>Ticks at 1, 2 and 5 times the powers of ten between two log10 positions, labelled 20k, 1M, ...</summary>
    internal static IEnumerable<ScottPlot.Tick> LogTicks(double log10Min, double log10Max)
    {
        for (int power = (int)Math.Floor(log10Min); power <= (int)Math.Ceiling(log10Max); power++)
            foreach (int m in new[] { 1, 2, 5 })
            {
                double value = m * Math.Pow(10, power), at = Math.Log10(value);
                if (at >= log10Min - 1e-9 && at <= log10Max + 1e-9) yield return new ScottPlot.Tick(at, Short(value));
            }
    }

    static string Short(double v) => v switch
    {
        >= 1e9 => string.Create(CultureInfo.InvariantCulture, $"{v / 1e9:0.##}G"),
        >= 1e6 => string.Create(CultureInfo.InvariantCulture, $"{v / 1e6:0.##}M"),
        >= 1e3 => string.Create(CultureInfo.InvariantCulture, $"{v / 1e3:0.##}k"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{v:0.##}"),
    };

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
