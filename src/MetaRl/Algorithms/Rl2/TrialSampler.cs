using MetaRl.Core;
using MetaRl.Envs;
using MetaRl.Torch;
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
/// Runs RL2 trials: one env per trial, each set to its task; all trials advance together with one GRU
/// step per time step. The hidden state is kept across a trial's episodes and starts at zero for each trial.
/// </summary>
public sealed class TrialSampler(ITaskDistribution distribution)
{
    VectorEnv? _envs;

    public ITaskDistribution Distribution => distribution;

    /// <summary>
    /// Runs one trial of <paramref name="episodesPerTrial"/> episodes per task. <paramref name="onStep"/>, if
    /// given, sees each step as (trial, t, episode, action, reward), e.g. for the belief plot. With
    /// <paramref name="meanRewards"/> the batch also records each step's mean reward (the env must know it).
    /// </summary>
    public TrialBatch Sample(Rl2Agent agent, IReadOnlyList<object> tasks, int episodesPerTrial, Rng rng, bool deterministic = false,
        Action<int, int, int, float, float>? onStep = null, bool meanRewards = false)
    {
        if (tasks.Count == 0) throw new ArgumentException("need at least one task", nameof(tasks));
        if (episodesPerTrial < 1) throw new ArgumentOutOfRangeException(nameof(episodesPerTrial), episodesPerTrial, "must be >= 1");
        int trials = tasks.Count, horizon = distribution.MaxEpisodeSteps, length = episodesPerTrial * horizon;
        var venv = EnvsFor(tasks);
        int obsSize = venv.ObservationSize, actSize = venv.ActionSize, inSize = agent.InputSize;
        if (meanRewards && venv[0] is not IMeanReward)
            throw new UsageException($"reward-signal: mean needs an env that knows its mean reward (bandits, tabular MDPs); {distribution.Name} does not");
        if (agent.ObservationSize != obsSize || agent.ActionSize != actSize)
            throw new ArgumentException($"agent takes {agent.ObservationSize} observation floats and gives {agent.ActionSize} action floats; env {distribution.Name} has {obsSize} and {actSize}");

        var batch = new TrialBatch(length, trials, episodesPerTrial, inSize, actSize);
        var episode = new int[trials];
        var previousAction = new float[trials * actSize];
        var previousReward = new float[trials];
        var previousDone = new bool[trials];
        var inputs = new float[trials * inSize];
        var actions = new float[trials * actSize];
        var rewards = new float[trials];
        var terminated = new bool[trials];
        var truncated = new bool[trials];
        for (int b = 0; b < trials; b++) venv.ResetEnv(b, rng.NextInt(int.MaxValue));

        var hidden = agent.Policy.InitialState(trials);
        try
        {
            for (int t = 0; t < length; t++)
            {
                bool any = false;
                for (int b = 0; b < trials; b++)
                {
                    if (episode[b] >= episodesPerTrial) continue;
                    any = true;
                    batch.Mask[t * trials + b] = 1;
                    agent.Encode(venv.Observations.Slice(b * obsSize, obsSize), previousAction.AsSpan(b * actSize, actSize),
                        previousReward[b], previousDone[b], firstStep: t == 0, inputs.AsSpan(b * inSize, inSize));
                }
                if (!any) break;
                inputs.CopyTo(batch.Inputs.AsSpan(t * trials * inSize));
                var next = agent.Policy.Act(inputs, trials, hidden, actions, rng, deterministic: deterministic);
                hidden.Dispose();
                hidden = next;
                if (meanRewards)
                    for (int b = 0; b < trials; b++)
                        if (batch.Mask[t * trials + b] != 0)
                            batch.MeanRewards[t * trials + b] = (float)((IMeanReward)venv[b]).MeanReward(actions.AsSpan(b * actSize, actSize));
                venv.Step(actions, rewards, terminated, truncated);
                for (int b = 0; b < trials; b++)
                {
                    if (batch.Mask[t * trials + b] == 0) continue;
                    int i = t * trials + b;
                    actions.AsSpan(b * actSize, actSize).CopyTo(batch.Actions.AsSpan(i * actSize, actSize));
                    batch.Rewards[i] = rewards[b];
                    batch.EpisodeReturns[b, episode[b]] += rewards[b];
                    batch.EpisodeSuccess[b, episode[b]] |= venv.LastSuccess[b];
                    onStep?.Invoke(b, t, episode[b], actions[b * actSize], rewards[b]);
                    actions.AsSpan(b * actSize, actSize).CopyTo(previousAction.AsSpan(b * actSize, actSize));
                    previousReward[b] = rewards[b];
                    previousDone[b] = venv.IsDone(b);
                    if (venv.IsDone(b) && ++episode[b] < episodesPerTrial) venv.ResetEnv(b, rng.NextInt(int.MaxValue));
                }
            }
        }
        finally
        {
            hidden.Dispose();
        }
        return batch;
    }

    VectorEnv EnvsFor(IReadOnlyList<object> tasks)
    {
        if (_envs is null || _envs.NumEnvs != tasks.Count)
            _envs = new VectorEnv(tasks.Select((task, b) => distribution.CreateEnv(task, new Rng(b))).ToList());
        else
            for (int b = 0; b < tasks.Count; b++) distribution.SetTask(_envs[b], tasks[b]);
        return _envs;
    }
}
