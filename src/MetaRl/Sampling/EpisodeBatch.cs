using System.Runtime.CompilerServices;
using static TorchSharp.torch;

namespace MetaRl.Sampling;

/// <summary>
/// Episodes collected side by side, time-major: element (t, e) of a [T, N] array is at t * N + e.
/// Mask(t, e) = 1 where episode e took step t. Episodes are grouped by task: episode e belongs to
/// task TaskIndex[e]. Arrays are plain floats; the tensor views are made on demand (the caller's
/// dispose scope owns them).
/// </summary>
public sealed class EpisodeBatch : IRolloutSink
{
    public EpisodeBatch(int horizon, int episodes, int observationSize, int actionSize, int[] taskIndex)
    {
        Horizon = horizon; Episodes = episodes; ObservationSize = observationSize; ActionSize = actionSize;
        TaskIndex = taskIndex;
        Observations = new float[horizon * episodes * observationSize];
        Actions = new float[horizon * episodes * actionSize];
        Rewards = new float[horizon * episodes];
        Mask = new float[horizon * episodes];
        Lengths = new int[episodes];
        Success = new bool[episodes];
        Truncated = new bool[episodes];
        FinalObservations = new float[episodes * observationSize];
    }

    IVectorEnv? _envs; // the envs of the step being recorded (to read their dense rewards)

    public int Horizon { get; }
    public int Episodes { get; }
    public int ObservationSize { get; }
    public int ActionSize { get; }
    public int[] TaskIndex { get; }
    public float[] Observations { get; }
    public float[] Actions { get; }
    public float[] Rewards { get; }
    public float[] Mask { get; }
    public int[] Lengths { get; }
    /// <summary>Whether the episode reached its task's success condition at some step.</summary>
    public bool[] Success { get; }

    /// <summary>
    /// Whether episode e ended at the time limit rather than in a terminal state. A learner that bootstraps at
    /// truncation adds gamma V(s_T) of its <see cref="FinalObservations"/> there (<see cref="Advantages.Gae(EpisodeBatch, float[], double, double, float[])"/>);
    /// the reference implementations MetaRl reproduces treat it as terminal (V = 0 after the last step).
    /// </summary>
    public bool[] Truncated { get; }
    /// <summary>The observation s_T after each truncated episode's last step, [N, obs] (zeros for the others).</summary>
    public float[] FinalObservations { get; }

    /// <summary>
    /// Where the envs also know a dense reward (<see cref="IDenseReward"/>), it for every step, [T, N] like
    /// <see cref="Rewards"/>; null otherwise.
    /// </summary>
    public float[]? DenseRewards { get; private set; }

    public int Steps => Lengths.Sum();

    /// <summary>Undiscounted return of each episode.</summary>
    public double[] EpisodeReturns()
    {
        var g = new double[Episodes];
        for (int t = 0; t < Horizon; t++)
            for (int e = 0; e < Episodes; e++) g[e] += Rewards[t * Episodes + e];
        return g;
    }

    public double MeanReturn => EpisodeReturns().Average();
    public double SuccessRate => Success.Count(s => s) / (double)Episodes;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // the collector's hot path (see Collector.RunEpisodes)
    void IRolloutSink.Begin(int t, ReadOnlySpan<bool> alive)
    {
        for (int e = 0; e < Episodes; e++)
            if (alive[e]) { Mask[t * Episodes + e] = 1; Lengths[e]++; }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // the collector's hot path (see Collector.RunEpisodes)
    void IRolloutSink.Acted(int t, ReadOnlySpan<float> records, ReadOnlySpan<float> actions, IVectorEnv envs, ReadOnlySpan<bool> alive)
    {
        _envs = envs;
        if (t == 0 && envs[0] is IDenseReward) DenseRewards ??= new float[Horizon * Episodes];
        records.CopyTo(Observations.AsSpan(t * Episodes * ObservationSize, Episodes * ObservationSize));
        actions.CopyTo(Actions.AsSpan(t * Episodes * ActionSize, Episodes * ActionSize));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // the collector's hot path (see Collector.RunEpisodes)
    void IRolloutSink.Stepped(int t, in StepOutcome outcome)
    {
        // Envs whose episode is over get reward 0 from the vector env: the row is copied whole.
        outcome.Rewards.CopyTo(Rewards.AsSpan(t * Episodes, Episodes));
        if (DenseRewards is { } dense)
            for (int e = 0; e < Episodes; e++)
                if (outcome.Alive[e]) dense[t * Episodes + e] = ((IDenseReward)_envs![e]).DenseReward;
        for (int e = 0; e < Episodes; e++)
        {
            if (!outcome.Alive[e]) continue;
            Success[e] |= outcome.Success[e];
            if (!outcome.Truncated[e]) continue;
            Truncated[e] = true;
            outcome.Observations.Slice(e * ObservationSize, ObservationSize).CopyTo(FinalObservations.AsSpan(e * ObservationSize, ObservationSize));
        }
    }

    public Tensor ObservationsTensor() => tensor(Observations, [Horizon, Episodes, ObservationSize]);
    public Tensor ActionsTensor() => tensor(Actions, [Horizon, Episodes, ActionSize]);
    public Tensor MaskTensor() => tensor(Mask, [Horizon, Episodes]);
    public static Tensor AsTensor(float[] perStep, EpisodeBatch b) => tensor(perStep, [b.Horizon, b.Episodes]);
}
