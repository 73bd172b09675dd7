namespace MetaRl.Cli;

public static partial class Cli
{
    static Command RenderCommand(TextWriter stdout)
    {
        var path = new Argument<string>("run-dir") { Description = "a trained run of the gradient-based family (maml, fomaml, promp, reptile, pretrain) on a MuJoCo family or 2d-navigation" };
        var task = new Option<int>("--task") { Description = "index of the task in the split", DefaultValueFactory = _ => 0 };
        var split = new Option<string>("--split") { Description = "train, test or ood", DefaultValueFactory = _ => "test" };
        var steps = new Option<int>("--steps") { Description = "adaptation steps to draw after the unadapted policy", DefaultValueFactory = _ => 1 };
        var frames = new Option<int>("--frames") { Description = "MuJoCo families: pictures per episode from MuJoCo's offscreen renderer (0: the trajectory plot only)", DefaultValueFactory = _ => 6 };
        var output = new Option<string?>("--out") { Description = "output file prefix (default: render-<split>-task<K> in the run directory)" };
        var cmd = new Command("render", "Draw what a policy does on one task before and after adaptation: frames from MuJoCo's offscreen renderer (PNG), and velocity or distance against time, or the path in the plane with the goal (PNG and SVG)") { path, task, split, steps, frames, output };
        cmd.SetAction(p =>
        {
            var dir = RunDirectory.At(p.GetValue(path)!);
            if (!dir.HasCheckpoint) throw new UsageException($"'{p.GetValue(path)}' is not a run directory with a checkpoint");
            using var run = Trainer.Load(dir);
            string prefix = p.GetValue(output) ?? Path.Combine(dir.Path, $"render-{p.GetValue(split)}-task{p.GetValue(task)}");
            foreach (var f in RenderPlot.Write(run, p.GetValue(split)!, p.GetValue(task), p.GetValue(steps), p.GetValue(frames), prefix, stdout))
                stdout.WriteLine($"Plot: {f}");
            return Ok;
        });
        return cmd;
    }
}
