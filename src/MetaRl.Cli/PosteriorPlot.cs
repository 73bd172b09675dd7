using MetaRl.Algorithms.Pearl;
using MetaRl.Envs.Navigation;
using SkiaSharp;

namespace MetaRl.Cli;

/// <summary>
/// `metarl belief` on a PEARL point-robot run: where samples of z from the posterior send the agent after 0, 1, 2, ...
/// episodes of context on one task (the PEARL paper's point-robot figure). One panel per amount of context: the
/// sampled agents' paths (blue), the context episode the agent then adds (black), the goal and its reward radius (red)
/// and the arc the training goals lie on (grey). PNG and SVG.
/// </summary>
internal static class PosteriorPlot
{
    const int Panel = 320, Header = 62;

    public static IReadOnlyList<string> Write(TrainingRun run, GoalTask? goal, int contextEpisodes, int samples, string outputPrefix)
    {
        if (run.Learner is not Pearl pearl || run.Distribution.ObservationSpace.FlatSize != 2)
            throw new UsageException($"a posterior picture needs a PEARL run on a point-robot family (sparse-point-robot, 2d-navigation); this run is {run.Algorithm} on {run.Distribution.Name}");
        var task = goal ?? (GoalTask)run.Distribution.Splits().Test[0];
        var rollouts = pearl.SamplePosterior(task, contextEpisodes, samples, new Rng(Seeds.Evaluation(run.Seed, 1)));
        bool sparse = run.Distribution is SparsePointRobotDistribution;
        float radius = sparse ? 0.2f : 0.01f, extent = sparse ? 1.3f : 0.7f; // the plane shown: [-extent, extent]^2
        int width = rollouts.Count * Panel, height = Header + Panel + 24;

        void Draw(SKCanvas canvas)
        {
            canvas.Clear(SKColors.White);
            using var font = new SKFont(SKTypeface.Default, 12);
            using var bold = new SKFont(SKTypeface.FromFamilyName(null, SKFontStyle.Bold), 13);
            using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            using var arc = new SKPaint { Color = new SKColor(180, 180, 180), IsStroke = true, StrokeWidth = 2, IsAntialias = true };
            using var red = new SKPaint { Color = new SKColor(220, 30, 30), IsStroke = true, StrokeWidth = 2, IsAntialias = true };
            using var blue = new SKPaint { Color = new SKColor(40, 90, 220, 150), IsStroke = true, StrokeWidth = 1.5f, IsAntialias = true };
            using var own = new SKPaint { Color = SKColors.Black, IsStroke = true, StrokeWidth = 2, IsAntialias = true, PathEffect = SKPathEffect.CreateDash([6, 4], 0) };
            canvas.DrawText(FormattableString.Invariant($"PEARL on {run.Distribution.Name}, goal ({task.GoalX:0.00}, {task.GoalY:0.00}), iteration {run.Iteration}: where {samples} samples of z send the agent"), 8, 18, bold, ink);
            canvas.DrawText("blue: an episode of each sampled z (most likely actions); black dashed: the context episode collected next;", 8, 36, font, ink);
            canvas.DrawText("red: the goal (its reward radius); grey: where the training goals lie", 8, 52, font, ink);
            for (int k = 0; k < rollouts.Count; k++)
            {
                var r = rollouts[k];
                float left = k * Panel, top = Header;
                SKPoint P(float x, float y) => new(left + (x + extent) / (2 * extent) * Panel, top + (extent - y) / (2 * extent) * Panel);
                using var frame = new SKPaint { Color = new SKColor(210, 210, 210), IsStroke = true };
                canvas.DrawRect(left + 2, top, Panel - 4, Panel, frame);
                using (var path = new SKPath())
                {
                    if (run.Distribution is SparsePointRobotDistribution) // goals on the upper half of the unit circle
                        for (int i = 0; i <= 60; i++) { var p = P(MathF.Cos(MathF.PI * i / 60), MathF.Sin(MathF.PI * i / 60)); if (i == 0) path.MoveTo(p); else path.LineTo(p); }
                    else path.AddRect(new SKRect(P(-0.5f, 0.5f).X, P(-0.5f, 0.5f).Y, P(0.5f, -0.5f).X, P(0.5f, -0.5f).Y)); // 2D navigation: the square
                    canvas.DrawPath(path, arc);
                }
                var g = P(task.GoalX, task.GoalY);
                canvas.DrawCircle(g, radius / (2 * extent) * Panel, red);
                void Line(float[][] points, SKPaint paint)
                {
                    using var path = new SKPath();
                    path.MoveTo(P(points[0][0], points[0][1]));
                    foreach (var q in points.Skip(1)) path.LineTo(P(q[0], q[1]));
                    canvas.DrawPath(path, paint);
                    using var end = new SKPaint { Color = paint.Color, IsAntialias = true };
                    canvas.DrawCircle(P(points[^1][0], points[^1][1]), 2.5f, end);
                }
                foreach (var s in r.Samples) Line(s, blue);
                Line(r.ContextEpisode, own);
                canvas.DrawText(FormattableString.Invariant($"{r.ContextEpisodes} episode{(r.ContextEpisodes == 1 ? "" : "s")} of context: success {100 * r.SuccessRate:0}%, return {r.MeanReturn:0.0}"),
                    left + 8, top + Panel + 16, font, ink);
            }
        }

        return SkiaPicture.WritePngAndSvg(width, height, Draw, outputPrefix);
    }
}
