using System.Runtime.CompilerServices;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.Rl2;

/// <summary>
/// Trials side by side, time-major: column b is one trial (one task, several episodes run back to back),
/// element (t, b) of a [T, B] array is at t * B + b. A trial's steps are contiguous from t = 0; when its
/// episodes are shorter than the env's limit the rest of the column is padding (Mask = 0).
/// </summary>
public sealed class TrialBatch
{
    public TrialBatch(int length, int trials, int episodesPerTrial, int inputSize, int actionSize)
    {
        Length = length; Trials = trials; EpisodesPerTrial = episodesPerTrial; InputSize = inputSize; ActionSize = actionSize;
        Inputs = new float[length * trials * inputSize];
        Actions = new float[length * trials * actionSize];
        Rewards = new float[length * trials];
        MeanRewards = new float[length * trials];
        Mask = new float[length * trials];
        EpisodeReturns = new double[trials, episodesPerTrial];
        EpisodeSuccess = new bool[trials, episodesPerTrial];
    }

    public int Length { get; }
    public int Trials { get; }
    public int EpisodesPerTrial { get; }
    public int InputSize { get; }
    public int ActionSize { get; }
    /// <summary>The agent's inputs x_t [T, B, in].</summary>
    public float[] Inputs { get; }
    public float[] Actions { get; }
    public float[] Rewards { get; }
    /// <summary>E[r | task, state, action] at each step, when the sampler was asked for it (zeros otherwise).</summary>
    public float[] MeanRewards { get; }
    public float[] Mask { get; }
    /// <summary>Undiscounted return of episode i of trial b.</summary>
    public double[,] EpisodeReturns { get; }
    public bool[,] EpisodeSuccess { get; }

    public int Steps => (int)Mask.Sum();

    /// <summary>Total reward of each trial (the score of RL2's tables).</summary>
    public double[] TrialReturns()
    {
        var g = new double[Trials];
        for (int b = 0; b < Trials; b++)
            for (int i = 0; i < EpisodesPerTrial; i++) g[b] += EpisodeReturns[b, i];
        return g;
    }

    /// <summary>Mean return of episode i over the trials: how the agent improves within a trial.</summary>
    public double MeanEpisodeReturn(int episode) => Enumerable.Range(0, Trials).Average(b => EpisodeReturns[b, episode]);

    public Tensor InputsTensor() => tensor(Inputs, [Length, Trials, InputSize]);
    public Tensor ActionsTensor() => tensor(Actions, [Length, Trials, ActionSize]);
    public Tensor MaskTensor() => tensor(Mask, [Length, Trials]);
}

/// <summary>
/// Runs RL2 trials through the <see cref="Collector"/>: one env per trial, each set to its task, n episodes back to
/// back; all trials advance together, one agent step (a GRU step, a transformer step) per time step. The agent's
/// state (a hidden state, a key-value cache) is kept across a trial's episodes and starts afresh for each trial.
/// </summary>
public sealed class TrialSampler(ITaskDistribution distribution) : IDisposable
{
    readonly Collector _collector = new();
    IVectorEnv? _envs;

    public ITaskDistribution Distribution => distribution;

    /// <summary>
    /// Runs one trial of <paramref name="episodesPerTrial"/> episodes per task. <paramref name="onStep"/>, if
    /// given, sees each step as (trial, t, episode, action, reward), e.g. for the belief plot. With
    /// <paramref name="meanRewards"/> the batch also records each step's mean reward (the env must know it).
    /// </summary>
    public TrialBatch Sample(ITrialAgent agent, IReadOnlyList<object> tasks, int episodesPerTrial, Rng rng, bool deterministic = false,
        Action<int, int, int, float, float>? onStep = null, bool meanRewards = false)
    {
        if (tasks.Count == 0) throw new ArgumentException("need at least one task", nameof(tasks));
        if (episodesPerTrial < 1) throw new ArgumentOutOfRangeException(nameof(episodesPerTrial), episodesPerTrial, "must be >= 1");
        int trials = tasks.Count, length = episodesPerTrial * distribution.MaxEpisodeSteps;
        _envs = VectorEnvs.For(distribution, tasks, _envs);
        if (meanRewards && _envs[0] is not IMeanReward)
            throw new ConfigException("reward-signal", $"reward-signal: mean needs an env that knows its mean reward (bandits, tabular MDPs); {distribution.Name} does not");
        if (agent.ObservationSize != _envs.ObservationSize || agent.ActionSize != _envs.ActionSize)
            throw new ArgumentException($"agent takes {agent.ObservationSize} observation floats and gives {agent.ActionSize} action floats; env {distribution.Name} has {_envs.ObservationSize} and {_envs.ActionSize}");

        var batch = new TrialBatch(length, trials, episodesPerTrial, agent.InputSize, agent.ActionSize);
        _collector.RunEpisodes(_envs, agent.Rollout(deterministic), episodesPerTrial, length, rng, new TrialSink(batch, meanRewards, onStep));
        return batch;
    }

    public void Dispose() => _envs?.Dispose();

    /// <summary>Writes a trial run into a <see cref="TrialBatch"/> (and its mean rewards and the caller's step callback).</summary>
    sealed class TrialSink(TrialBatch batch, bool meanRewards, Action<int, int, int, float, float>? onStep) : IRolloutSink
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)] // the collector's hot path (see Collector.RunEpisodes)
        public void Begin(int t, ReadOnlySpan<bool> alive)
        {
            for (int b = 0; b < batch.Trials; b++)
                if (alive[b]) batch.Mask[t * batch.Trials + b] = 1;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)] // the collector's hot path (see Collector.RunEpisodes)
        public void Acted(int t, ReadOnlySpan<float> records, ReadOnlySpan<float> actions, IVectorEnv envs, ReadOnlySpan<bool> alive)
        {
            records.CopyTo(batch.Inputs.AsSpan(t * batch.Trials * batch.InputSize));
            if (!meanRewards) return;
            for (int b = 0; b < batch.Trials; b++)
                if (alive[b])
                    batch.MeanRewards[t * batch.Trials + b] = (float)((IMeanReward)envs[b]).MeanReward(actions.Slice(b * batch.ActionSize, batch.ActionSize));
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)] // the collector's hot path (see Collector.RunEpisodes)
        public void Stepped(int t, in StepOutcome outcome)
        {
            int size = batch.ActionSize;
            for (int b = 0; b < batch.Trials; b++)
            {
                if (!outcome.Alive[b]) continue;
                int i = t * batch.Trials + b, episode = outcome.Episode[b];
                float reward = outcome.Rewards[b];
                outcome.Actions.Slice(b * size, size).CopyTo(batch.Actions.AsSpan(i * size, size));
                batch.Rewards[i] = reward;
                batch.EpisodeReturns[b, episode] += reward;
                batch.EpisodeSuccess[b, episode] |= outcome.Success[b];
                onStep?.Invoke(b, t, episode, outcome.Actions[b * size], reward);
            }
        }
    }
}
