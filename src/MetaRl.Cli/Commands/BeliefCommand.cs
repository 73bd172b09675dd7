using MetaRl.Algorithms.SingleTask;

namespace MetaRl.Cli;

public static partial class Cli
{
    static Command BeliefCommand(TextWriter stdout)
    {
        var path = new Argument<string>("run-dir") { Description = "a trained RL2 run on a bandit env (bandit-k5, bandit-k10, bandit-k50), a variBAD run on gridworld, or a PEARL run on sparse-point-robot or 2d-navigation" };
        var probs = new Option<string?>("--probs") { Description = "the arms' probabilities, comma-separated (default: a held-out task)" };
        var trials = new Option<int>("--trials") { Description = "trials run on the task to estimate choice frequencies", DefaultValueFactory = _ => 500 };
        var goal = new Option<string?>("--goal") { Description = "variBAD: the goal cell x,y; PEARL: the goal point x,y (default: the first held-out task)" };
        var episodes = new Option<int>("--episodes") { Description = "variBAD: episodes of the trial to draw; PEARL: episodes of context (panels for 0 to this many)", DefaultValueFactory = _ => 2 };
        var samples = new Option<int>("--samples") { Description = "PEARL: samples of z drawn from each posterior", DefaultValueFactory = _ => 10 };
        var output = new Option<string?>("--out") { Description = "output file prefix (default: belief, or posterior for PEARL, in the run directory)" };
        var iteration = new Option<int?>("--iteration") { Description = "draw the agent as it was at the checkpoint kept at this iteration (keep-checkpoint-every), not its latest; the default prefix then ends in -iteration-N" };
        var cmd = new Command("belief", "Plot what a trained agent believes within a trial: RL2 on bandits, its arm choices at each pull against the arms' true probabilities (and how often it tries each arm at all, over 1000 tasks); variBAD on the grid world, its belief over the goal cell at every step; PEARL on a point robot, where posterior samples of z send it after 0, 1, 2, ... episodes of context") { path, probs, trials, goal, episodes, samples, output, iteration };
        cmd.SetAction(p =>
        {
            var dir = RunDirectory.At(p.GetValue(path)!);
            if (!dir.HasCheckpoint) throw new UsageException($"'{p.GetValue(path)}' is not a run directory with a checkpoint");
            if (p.GetValue(trials) < 1) throw new UsageException("--trials must be >= 1");
            double[]? arms = null;
            if (p.GetValue(probs) is { } text)
            {
                arms = text.Split(',').Select(x => double.TryParse(x, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v is >= 0 and <= 1 ? v
                    : throw new UsageException($"--probs takes comma-separated probabilities in [0, 1]; got '{text}'")).ToArray();
            }
            int? at = p.GetValue(iteration);
            string Prefix(string name) => p.GetValue(output) ?? Path.Combine(dir.Path, at is { } i ? $"{name}-iteration-{i}" : name);
            var run = Trainer.Load(dir, iteration: at);
            if (run.Learner is MetaRl.Algorithms.Pearl.Pearl)
            {
                if (p.GetValue(episodes) < 0) throw new UsageException("--episodes must be >= 0");
                if (p.GetValue(samples) < 1) throw new UsageException("--samples must be >= 1");
                MetaRl.Envs.Navigation.GoalTask? point = null;
                if (p.GetValue(goal) is { } g)
                {
                    var xy = g.Split(',');
                    if (xy.Length != 2 || !float.TryParse(xy[0], NumberStyles.Float, CultureInfo.InvariantCulture, out float gx) || !float.TryParse(xy[1], NumberStyles.Float, CultureInfo.InvariantCulture, out float gy))
                        throw new UsageException($"--goal takes a point x,y; got '{g}'");
                    point = new MetaRl.Envs.Navigation.GoalTask(gx, gy);
                }
                foreach (var f in PosteriorPlot.Write(run, point, p.GetValue(episodes), p.GetValue(samples), Prefix("posterior")))
                    stdout.WriteLine($"Plot: {f}");
                return Ok;
            }
            if (run.Learner is MetaRl.Algorithms.VariBad.VariBad)
            {
                if (p.GetValue(episodes) < 1) throw new UsageException("--episodes must be >= 1");
                MetaRl.Envs.GridWorld.GridTask? cell = null;
                if (p.GetValue(goal) is { } g)
                {
                    var xy = g.Split(',');
                    if (xy.Length != 2 || !int.TryParse(xy[0], out int gx) || !int.TryParse(xy[1], out int gy) || gx is < 0 or > 4 || gy is < 0 or > 4)
                        throw new UsageException($"--goal takes a cell x,y of the 5x5 grid (0 to 4 each); got '{g}'");
                    cell = new MetaRl.Envs.GridWorld.GridTask(gx, gy);
                }
                foreach (var f in GridBeliefPlot.Write(run, cell, p.GetValue(episodes), Prefix("belief")))
                    stdout.WriteLine($"Plot: {f}");
                return Ok;
            }
            foreach (var f in BeliefPlot.Write(run, arms, p.GetValue(trials), Prefix("belief")))
                stdout.WriteLine($"Plot: {f}");
            stdout.WriteLine(BeliefPlot.Coverage(run, 1000));
            return Ok;
        });
        return cmd;
    }
}
