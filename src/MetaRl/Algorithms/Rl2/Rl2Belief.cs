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
}
