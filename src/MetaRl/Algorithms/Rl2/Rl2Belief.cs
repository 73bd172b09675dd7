using MetaRl.Envs.Bandits;

namespace MetaRl.Algorithms.Rl2;

/// <summary>
/// What a trained RL2 bandit agent has learned, step by step: over many trials on one bandit (the hidden
/// state reset before each), how often it pulls each arm at each step. Set beside the arms' true
/// probabilities it shows exploration giving way to exploitation of the best arm.
/// </summary>
public static class Rl2Belief
{
    /// <summary>Choice frequencies [pull, arm] over <paramref name="trials"/> trials of <paramref name="pulls"/> pulls, and the mean reward per pull.</summary>
    public static (double[,] ChoiceFrequency, double[] MeanReward) ArmChoices(Rl2 learner, BanditTask task, int pulls, int trials, Rng rng)
    {
        if (trials < 1) throw new ArgumentOutOfRangeException(nameof(trials), trials, "must be >= 1");
        int arms = task.Probs.Length;
        var counts = new double[pulls, arms];
        var reward = new double[pulls];
        learner.RunTrials(Enumerable.Repeat<object>(task, trials).ToList(), pulls, rng, (_, t, _, action, r) =>
        {
            counts[t, (int)action] += 1.0 / trials;
            reward[t] += r / trials;
        });
        return (counts, reward);
    }

    /// <summary>
    /// Whether the agent tries every arm: over one trial of <paramref name="pulls"/> pulls on each task, the
    /// fraction of trials in which each arm is pulled at least once, and the fraction in which the task's best
    /// arm is. An arm that is never tried (its logit driven down in every context during training) costs the
    /// agent its whole advantage on the tasks where that arm is the best; the return cannot show which arm.
    /// </summary>
    public static (double[] Tried, double BestTried) ArmCoverage(Rl2 learner, IReadOnlyList<BanditTask> tasks, int pulls, Rng rng)
    {
        if (tasks.Count == 0) throw new ArgumentException("needs at least one task", nameof(tasks));
        int arms = tasks[0].Probs.Length;
        var tried = new bool[tasks.Count, arms];
        learner.RunTrials(tasks.Cast<object>().ToList(), pulls, rng, (trial, _, _, action, _) => tried[trial, (int)action] = true);
        var fraction = new double[arms];
        double best = 0;
        for (int b = 0; b < tasks.Count; b++)
        {
            for (int a = 0; a < arms; a++) if (tried[b, a]) fraction[a] += 1.0 / tasks.Count;
            if (tried[b, tasks[b].BestArm]) best += 1.0 / tasks.Count;
        }
        return (fraction, best);
    }
}
