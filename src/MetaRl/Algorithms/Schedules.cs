namespace MetaRl.Algorithms;

/// <summary>The step-size schedules of the learners, in one place.</summary>
public static class Schedules
{
    /// <summary>
    /// <paramref name="initial"/> held until update <paramref name="start"/>, then linearly to 0 at update
    /// <paramref name="end"/> (and 0 after): PPO's anneal-lr (with a hold and warm restarts for RL2), Reptile's annealed epsilon.
    /// </summary>
    public static double LinearDecay(double initial, int iteration, int start, int end) =>
        initial * Math.Clamp(1 - (double)(iteration - start) / (end - start), 0, 1);
}
