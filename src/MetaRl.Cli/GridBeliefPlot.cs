using MetaRl.Algorithms.VariBad;
using MetaRl.Envs.GridWorld;
using SkiaSharp;

namespace MetaRl.Cli;

/// <summary>
/// `metarl belief` on a variBAD grid-world run: the belief over the goal's cell at every step of the first episodes of
/// a trial on one goal, as the variBAD paper's grid-world figure. One row per episode, one 5x5 panel per step: each
/// cell shaded by the probability the reward decoder gives it of being the goal (normalised over the grid), the agent
/// a black dot, the true goal outlined in red. PNG and SVG.
/// </summary>
internal static class GridBeliefPlot
{
    const int Cell = 14, Gap = 10, Label = 92, Header = 46;

    public static IReadOnlyList<string> Write(TrainingRun run, GridTask? goal, int episodes, string outputPrefix)
    {
        if (run.Learner is not VariBad varibad || run.Distribution is not GridWorldDistribution grid)
            throw new UsageException($"a grid belief picture needs a variBAD run on gridworld; this run is {run.Algorithm} on {run.Distribution.Name}");
        var task = goal ?? (GridTask)grid.Splits().Test[0];
        var trace = varibad.TraceBelief(task, episodes, new Rng(Seeds.Evaluation(run.Seed, 1)));
        int size = task.Size, panel = size * Cell;
        int columns = trace.GroupBy(s => s.Episode).Max(g => g.Count());
        int width = Label + columns * (panel + Gap), height = Header + episodes * (panel + 2 * Gap + 14);

        void Draw(SKCanvas canvas)
        {
            canvas.Clear(SKColors.White);
            using var font = new SKFont(SKTypeface.Default, 11);
            using var bold = new SKFont(SKTypeface.FromFamilyName(null, SKFontStyle.Bold), 13);
            using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            using var grey = new SKPaint { Color = new SKColor(190, 190, 190), IsStroke = true, StrokeWidth = 1 };
            using var red = new SKPaint { Color = new SKColor(220, 30, 30), IsStroke = true, StrokeWidth = 2, IsAntialias = true };
            canvas.DrawText($"variBAD's belief over the goal cell, goal ({task.GoalX}, {task.GoalY}), iteration {run.Iteration}: darker = more probable", 8, 18, bold, ink);
            canvas.DrawText("each panel: the belief after that step (p of each cell being the goal, from the reward decoder at the belief's mean); dot: the agent", 8, 36, font, ink);
            foreach (var episode in trace.GroupBy(s => s.Episode))
            {
                int top = Header + episode.Key * (panel + 2 * Gap + 14);
                double ret = episode.Sum(s => s.Reward);
                canvas.DrawText($"episode {episode.Key + 1}", 8, top + 20, bold, ink);
                canvas.DrawText(FormattableString.Invariant($"return {ret:0.0}"), 8, top + 38, font, ink);
                foreach (var step in episode)
                {
                    int left = Label + step.Step * (panel + Gap);
                    canvas.DrawText($"t={step.Step}", left, top + 10, font, ink);
                    int y0 = top + 14;
                    // The grid's cells only (the decoder also has heads for the 7x7 grid of the OOD split), normalised.
                    var p = new double[size, size];
                    double total = 0;
                    for (int x = 0; x < size; x++)
                        for (int y = 0; y < size; y++) total += p[x, y] = step.CellProbabilities[grid.CellIndex([x, y])];
                    for (int x = 0; x < size; x++)
                        for (int y = 0; y < size; y++)
                        {
                            double shade = Math.Sqrt(Math.Min(1, p[x, y] / Math.Max(total, 1e-12)));
                            byte c = (byte)(255 - 215 * shade);
                            using var fill = new SKPaint { Color = new SKColor(c, c, 255) };
                            var rect = SKRect.Create(left + x * Cell, y0 + (size - 1 - y) * Cell, Cell, Cell); // y up, as the grid's
                            canvas.DrawRect(rect, fill);
                            canvas.DrawRect(rect, grey);
                        }
                    canvas.DrawRect(SKRect.Create(left + task.GoalX * Cell + 1, y0 + (size - 1 - task.GoalY) * Cell + 1, Cell - 2, Cell - 2), red);
                    float ax = left + (step.Observation[0] + 0.5f) * Cell, ay = y0 + (size - 1 - step.Observation[1] + 0.5f) * Cell;
                    canvas.DrawCircle(ax, ay, Cell / 4f, ink);
                }
            }
        }

        return SkiaPicture.WritePngAndSvg(width, height, Draw, outputPrefix);
    }
}
