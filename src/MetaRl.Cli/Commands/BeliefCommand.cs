using MetaRl.Algorithms.SingleTask;

namespace MetaRl.Cli;

public static partial class Cli
{
    static Command BeliefCommand(TextWriter stdout)
    {
        var path = new Argument<string>("run-dir") { Description = "a trained RL2 run on a bandit env (bandit-k5, bandit-k10, bandit-k50)" };
        var probs = new Option<string?>("--probs") { Description = "the arms' probabilities, comma-separated (default: a held-out task)" };
        var trials = new Option<int>("--trials") { Description = "trials run on the task to estimate choice frequencies", DefaultValueFactory = _ => 500 };
        var output = new Option<string?>("--out") { Description = "output file prefix (default: belief in the run directory)" };
        var cmd = new Command("belief", "Plot what a trained RL2 bandit agent learns within a trial: its arm choices at each pull against the arms' true probabilities; and print how often it tries each arm at all (1000 tasks)") { path, probs, trials, output };
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
            var run = Trainer.Load(dir);
            foreach (var f in BeliefPlot.Write(run, arms, p.GetValue(trials), p.GetValue(output) ?? Path.Combine(dir.Path, "belief")))
                stdout.WriteLine($"Plot: {f}");
            stdout.WriteLine(BeliefPlot.Coverage(run, 1000));
            return Ok;
        });
        return cmd;
    }
}
