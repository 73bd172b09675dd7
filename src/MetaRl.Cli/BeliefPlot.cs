using MetaRl.Algorithms.Rl2;
using MetaRl.Envs.Bandits;

namespace MetaRl.Cli;

/// <summary>
/// `metarl belief`: for a trained RL2 bandit agent, how often it pulls each arm at each step of a trial
/// (over many trials on one bandit), one line per arm labelled with its true probability, beside the
/// best arm's probability. The agent's hidden state is its belief; this is that belief acted out.
/// </summary>
internal static class BeliefPlot
{
    public static IReadOnlyList<string> Write(TrainingRun run, double[]? probs, int trials, string outputPrefix)
    {
        var (learner, bandits) = BanditRl2(run);
        var task = probs is null ? (BanditTask)bandits.Splits().Test[0] : new BanditTask(probs);
        if (task.Probs.Length != bandits.Arms)
            throw new UsageException($"--probs gives {task.Probs.Length} arms; the run's bandit has {bandits.Arms}");
        int pulls = learner.EpisodesPerTrial;
        var (frequency, reward) = Rl2Belief.ArmChoices(learner, task, pulls, trials, new Rng(run.Seed * 7919L + 17));

        var plot = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        double[] xs = Enumerable.Range(1, pulls).Select(t => (double)t).ToArray();
        var order = Enumerable.Range(0, task.Probs.Length).OrderByDescending(a => task.Probs[a]).ToList();
        for (int i = 0; i < order.Count; i++)
        {
            int arm = order[i];
            var line = plot.Add.Scatter(xs, Enumerable.Range(0, pulls).Select(t => frequency[t, arm]).ToArray());
            line.Color = palette.GetColor(i % 10);
            line.LineWidth = arm == task.BestArm ? 3 : 1.5f;
            line.MarkerSize = pulls <= 20 ? 5 : 0;
            line.LegendText = string.Create(CultureInfo.InvariantCulture, $"arm {arm}: p = {task.Probs[arm]:0.00}");
        }
        var paid = plot.Add.Scatter(xs, reward);
        paid.Color = ScottPlot.Colors.Black;
        paid.LinePattern = ScottPlot.LinePattern.Dashed;
        paid.MarkerSize = 0;
        paid.LegendText = "mean reward of the pull";
        var best = plot.Add.HorizontalLine(task.Probs.Max());
        best.Color = ScottPlot.Colors.Gray;
        best.LinePattern = ScottPlot.LinePattern.Dotted;
        best.LegendText = "best arm's p";
        plot.Title($"RL2 on {bandits.Name}: arm choices within a trial ({trials} trials on one bandit)");
        plot.XLabel("pull");
        plot.YLabel("fraction of trials pulling the arm");
        plot.Axes.SetLimitsY(0, 1.02);
        if (pulls <= 20) plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(1);
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        string png = outputPrefix + ".png", svg = outputPrefix + ".svg";
        plot.SavePng(png, 900, 550);
        plot.SaveSvg(svg, 900, 550);
        return [png, svg];
    }

    static (Rl2 Learner, BernoulliBanditDistribution Bandits) BanditRl2(TrainingRun run) =>
        run.Learner is Rl2 learner && run.Distribution is BernoulliBanditDistribution bandits ? (learner, bandits)
            : throw new UsageException($"a belief plot needs an RL2 run on a bandit env; this run is {run.Algorithm} on {run.Distribution.Name}");

    /// <summary>
    /// One line: the share of trials (one per task) in which each arm, and the task's best arm, is pulled at
    /// least once, over <paramref name="tasks"/> tasks drawn from the run's distribution by a fixed generator.
    /// </summary>
    public static string Coverage(TrainingRun run, int tasks)
    {
        var (learner, bandits) = BanditRl2(run);
        var (tried, best) = Rl2Belief.ArmCoverage(learner, bandits.Sample(tasks, new Rng(Seeds.CoverageTasks)), learner.EpisodesPerTrial, new Rng(Seeds.BeliefTrials(run.Seed)));
        var arms = string.Join(", ", tried.Select((f, a) => string.Create(CultureInfo.InvariantCulture, $"{a}: {100 * f:0.#}%")));
        return string.Create(CultureInfo.InvariantCulture,
            $"Arms pulled at least once in a trial ({tasks} tasks, {learner.EpisodesPerTrial} pulls each): {arms}; the task's best arm: {100 * best:0.#}%");
    }
}
