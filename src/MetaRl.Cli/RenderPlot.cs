using MetaRl.Algorithms.Maml;
using MetaRl.Envs.Mujoco;
using MetaRl.Envs.Navigation;
using MetaRl.Evaluation;

namespace MetaRl.Cli;

/// <summary>
/// `metarl render`: what a meta-trained policy does on one task before and after adaptation. On a MuJoCo family, a
/// strip of frames from MuJoCo's offscreen renderer (<see cref="FrameStrip"/>), and always a plot of the body's
/// trajectory: a velocity task shows the forward velocity against time beside the target; a direction or parameter
/// task the distance run against time; a task in the plane (a goal, a direction) the path seen from above.
/// </summary>
internal static class RenderPlot
{
    public static IReadOnlyList<string> Write(TrainingRun run, string split, int taskIndex, int steps, int frames, string outputPrefix, TextWriter stdout)
    {
        if (run.Learner is not GradientMetaLearner learner)
            throw new UsageException($"render draws the gradient-based family's adaptation (maml, fomaml, promp, reptile, pretrain); this run is {run.Algorithm}");
        var splits = run.Distribution.Splits();
        var tasks = split switch { "train" => splits.Train, "test" => splits.Test, "ood" => splits.OutOfDistribution, _ => throw new UsageException($"--split must be train, test or ood; got '{split}'") };
        if (tasks.Count == 0) throw new UsageException($"{run.Distribution.Name} has no {split} tasks");
        if (taskIndex < 0 || taskIndex >= tasks.Count) throw new UsageException($"--task must be in [0, {tasks.Count - 1}] for the {split} split of {run.Distribution.Name}; got {taskIndex}");
        if (steps < 1) throw new UsageException($"--steps must be >= 1; got {steps}");
        if (frames is < 0 or > 12) throw new UsageException($"--frames must be in [0, 12]; got {frames}");
        var task = tasks[taskIndex];
        var written = new List<string>();
        IReadOnlyList<EpisodeTrace> traces;
        bool pictures = frames > 0 && run.Distribution is IMujocoTaskDistribution;
        try { traces = Behaviour.GradientAdaptation(learner, run.Distribution, task, steps, new Rng(Seeds.Render(run.Seed, taskIndex)), pictures ? frames : 0); }
        catch (MujocoRenderException e)
        {
            stdout.WriteLine($"No MuJoCo pictures ({e.Message}); drawing the trajectories only.");
            pictures = false;
            traces = Behaviour.GradientAdaptation(learner, run.Distribution, task, steps, new Rng(Seeds.Render(run.Seed, taskIndex)));
        }
        if (pictures)
            written.Add(FrameStrip.Write(traces, $"{run.Algorithm} on {run.Distribution.Name}, {split} task {taskIndex} ({task})", outputPrefix + "-frames.png"));
        foreach (var t in traces) stdout.WriteLine(FormattableString.Invariant($"{t.Label}: return {t.Return:0.00}, {t.X.Length - 1} steps, moved {t.X[^1] - t.X[0]:+0.00;-0.00} m forward"));

        var plot = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        bool planar = task is GoalTask || task is Direction2DTask;
        for (int i = 0; i < traces.Count; i++)
        {
            var tr = traces[i];
            double[] time = Enumerable.Range(0, tr.X.Length).Select(k => k * tr.Dt).ToArray();
            var (xs, ys) = planar ? (tr.X, tr.Y)
                : task is VelocityTask ? (time[1..], Velocity(tr.X, tr.Dt))
                : (time, tr.X);
            var line = plot.Add.Scatter(xs, ys);
            line.Color = palette.GetColor(i % 10);
            line.LineWidth = i == 0 ? 1.5f : 2.5f;
            line.MarkerSize = 0;
            if (i == 0) line.LinePattern = ScottPlot.LinePattern.Dashed;
            line.LegendText = FormattableString.Invariant($"{tr.Label}: return {tr.Return:0.0}");
        }
        switch (task)
        {
            case VelocityTask v:
                var target = plot.Add.HorizontalLine(v.Velocity);
                target.Color = ScottPlot.Colors.Black; target.LinePattern = ScottPlot.LinePattern.Dotted;
                target.LegendText = FormattableString.Invariant($"target velocity {v.Velocity:0.00} m/s");
                plot.XLabel("time (s)"); plot.YLabel("forward velocity (m/s, mean over 5 steps)");
                break;
            case GoalTask g:
                var goal = plot.Add.Marker(g.GoalX, g.GoalY);
                goal.Size = 14; goal.Color = ScottPlot.Colors.Black; goal.Shape = ScottPlot.MarkerShape.FilledDiamond;
                goal.LegendText = "goal";
                var start = plot.Add.Marker(traces[0].X[0], traces[0].Y[0]);
                start.Size = 8; start.Color = ScottPlot.Colors.Gray; start.LegendText = "start";
                plot.XLabel("x (m)"); plot.YLabel("y (m)");
                plot.Axes.SquareUnits();
                break;
            case Direction2DTask d:
                double reach = traces.Max(t => t.X.Zip(t.Y, (a, b) => Math.Sqrt(a * a + b * b)).Max());
                var arrow = plot.Add.Arrow(new ScottPlot.Coordinates(0, 0), new ScottPlot.Coordinates(reach * Math.Cos(d.Angle), reach * Math.Sin(d.Angle)));
                arrow.ArrowLineColor = ScottPlot.Colors.Black; arrow.LegendText = "target direction";
                plot.XLabel("x (m)"); plot.YLabel("y (m)");
                plot.Axes.SquareUnits();
                break;
            default:
                plot.XLabel("time (s)"); plot.YLabel("torso x (m, forward)");
                break;
        }
        plot.Title($"{run.Algorithm} on {run.Distribution.Name}, {split} task {taskIndex} ({task}): before and after adaptation");
        plot.ShowLegend(ScottPlot.Alignment.UpperLeft);
        string png = outputPrefix + ".png", svg = outputPrefix + ".svg";
        plot.SavePng(png, 1000, 600);
        plot.SaveSvg(svg, 1000, 600);
        return [.. written, png, svg];
    }

    /// <summary>Forward velocity per step, averaged over a window of 5 steps (one step's velocity is noisy with the gait).</summary>
    static double[] Velocity(double[] x, double dt)
    {
        const int window = 5;
        var v = new double[x.Length - 1];
        for (int t = 1; t < x.Length; t++)
        {
            int from = Math.Max(0, t - window);
            v[t - 1] = (x[t] - x[from]) / ((t - from) * dt);
        }
        return v;
    }
}
