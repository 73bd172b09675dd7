using System.Runtime.CompilerServices;

namespace MetaRl.Sampling;

/// <summary>
/// What the collector hands an agent at each step: every env's current observation, what its previous step gave
/// (action, reward, whether it ended an episode), whether this is the first step of the env's run (a trial's
/// start) and whether the env takes this step at all.
/// </summary>
public readonly ref struct StepView(ReadOnlySpan<float> observations, ReadOnlySpan<float> previousActions, ReadOnlySpan<float> previousRewards,
    ReadOnlySpan<bool> previousDone, ReadOnlySpan<bool> firstStep, ReadOnlySpan<bool> alive)
{
    public ReadOnlySpan<float> Observations { get; } = observations;
    public ReadOnlySpan<float> PreviousActions { get; } = previousActions;
    public ReadOnlySpan<float> PreviousRewards { get; } = previousRewards;
    public ReadOnlySpan<bool> PreviousDone { get; } = previousDone;
    public ReadOnlySpan<bool> FirstStep { get; } = firstStep;
    public ReadOnlySpan<bool> Alive { get; } = alive;
    public int Count => Alive.Length;
}

/// <summary>
/// An agent the collector drives: one batched step for all envs at a time, with an opaque per-env state it owns
/// (none for an MLP policy, the GRU's hidden state for RL2; a transformer's key-value cache or PEARL's latent z
/// fit the same slot).
/// </summary>
public interface IRolloutAgent
{
    int ObservationSize { get; }
    int ActionSize { get; }
    /// <summary>Floats per env of what a batch records at each step for the learner to replay: the observation, or an agent's encoded input.</summary>
    int RecordSize { get; }
    /// <summary>The state at the start of a run over <paramref name="envs"/> envs; null for a memoryless policy.</summary>
    object? InitialState(int envs);
    /// <summary>
    /// One step for every env: writes the record rows (at least the alive envs'; the others may keep what they
    /// held) and every env's action, and returns the next state (the previous one is the agent's to release).
    /// </summary>
    object? Act(in StepView step, float[] records, float[] actions, object? state, Rng rng);
    /// <summary>Starts env <paramref name="env"/>'s state afresh (its next run), keeping the others'.</summary>
    void ResetState(object? state, int env) { }
    /// <summary>Frees a state that is no longer needed (a tensor's native memory).</summary>
    void Release(object? state) { }
}

/// <summary>
/// What the envs' step t gave, for every env (read the rows of the alive ones): each env's episode index within its
/// run, the actions taken, rewards, terminated / truncated flags, success, and the observations after the step
/// (an episode's final one where it ended).
/// </summary>
public readonly ref struct StepOutcome(ReadOnlySpan<bool> alive, ReadOnlySpan<int> episode, ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards,
    ReadOnlySpan<bool> terminated, ReadOnlySpan<bool> truncated, ReadOnlySpan<bool> success, ReadOnlySpan<float> observations)
{
    public ReadOnlySpan<bool> Alive { get; } = alive;
    public ReadOnlySpan<int> Episode { get; } = episode;
    public ReadOnlySpan<float> Actions { get; } = actions;
    public ReadOnlySpan<float> Rewards { get; } = rewards;
    public ReadOnlySpan<bool> Terminated { get; } = terminated;
    public ReadOnlySpan<bool> Truncated { get; } = truncated;
    public ReadOnlySpan<bool> Success { get; } = success;
    public ReadOnlySpan<float> Observations { get; } = observations;
}

/// <summary>Where a run of episodes goes, step by step (one call per step, not per env: the sampler's hot path): an episode batch, RL2's trial batch.</summary>
public interface IRolloutSink
{
    /// <summary>Step <paramref name="t"/> begins for the alive envs.</summary>
    void Begin(int t, ReadOnlySpan<bool> alive);
    /// <summary>The agent's record rows and actions of step t, for every env.</summary>
    void Acted(int t, ReadOnlySpan<float> records, ReadOnlySpan<float> actions, IVectorEnv envs, ReadOnlySpan<bool> alive);
    /// <summary>What step t gave the alive envs.</summary>
    void Stepped(int t, in StepOutcome outcome);
}

/// <summary>
/// The one rollout loop of every learner. <see cref="RunEpisodes"/> runs each env of a vector env for a fixed
/// number of episodes back to back (one episode per env for MAML's batches, a trial of n for RL2), one batched
/// agent step per time step, a finished episode's env reset at once from the caller's generator; an env whose run
/// is over stays masked until every env is done. For collection by a step budget, where episodes carry over from
/// one call to the next (off-policy learners), see <see cref="StepCollector"/>.
/// </summary>
public sealed class Collector
{
    float[] _records = [], _actions = [], _rewards = [], _previousActions = [], _previousRewards = [];
    bool[] _terminated = [], _truncated = [], _previousDone = [], _firstStep = [], _alive = [];
    int[] _episode = [];

    /// <returns>The number of time steps taken (the longest run).</returns>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // optimised from the first call, not after tiering: a short run samples few batches
    public int RunEpisodes(IVectorEnv envs, IRolloutAgent agent, int episodesPerEnv, int maxSteps, Rng rng, IRolloutSink sink)
    {
        if (episodesPerEnv < 1) throw new ArgumentOutOfRangeException(nameof(episodesPerEnv), episodesPerEnv, "must be >= 1");
        int n = envs.NumEnvs, obsSize = envs.ObservationSize, actSize = envs.ActionSize;
        if (agent.ObservationSize != obsSize || agent.ActionSize != actSize)
            throw new ArgumentException($"the agent takes {agent.ObservationSize} observation floats and gives {agent.ActionSize} action floats; the envs have {obsSize} and {actSize}");
        Buffers(n, agent.RecordSize, actSize);
        for (int e = 0; e < n; e++) envs.ResetEnv(e, rng.NextInt(int.MaxValue));

        var state = agent.InitialState(n);
        int t = 0;
        try
        {
            for (; t < maxSteps; t++)
            {
                bool any = false;
                for (int e = 0; e < n; e++) any |= _alive[e] = _episode[e] < episodesPerEnv;
                if (!any) break; // every run has ended: the rest of the batch stays masked
                sink.Begin(t, _alive);
                if (t <= 1) Array.Fill(_firstStep, t == 0);
                var view = new StepView(envs.Observations, _previousActions, _previousRewards, _previousDone, _firstStep, _alive);
                state = agent.Act(view, _records, _actions, state, rng);
                sink.Acted(t, _records, _actions, envs, _alive);
                envs.Step(_actions, _rewards, _terminated, _truncated);
                sink.Stepped(t, new StepOutcome(_alive, _episode, _actions, _rewards, _terminated, _truncated, envs.LastSuccess, envs.Observations));
                // What the next step's agent sees of this one (rows of envs whose run is over are never read again).
                _actions.CopyTo(_previousActions);
                _rewards.CopyTo(_previousRewards);
                for (int e = 0; e < n; e++)
                {
                    if (!_alive[e]) continue;
                    bool done = _previousDone[e] = _terminated[e] || _truncated[e]; // an env that took the step is done exactly when it ended there
                    if (done && ++_episode[e] < episodesPerEnv) envs.ResetEnv(e, rng.NextInt(int.MaxValue));
                }
            }
        }
        finally
        {
            agent.Release(state);
        }
        return t;
    }

    void Buffers(int n, int recordSize, int actSize)
    {
        if (_alive.Length != n || _records.Length != n * recordSize || _actions.Length != n * actSize)
        {
            _records = new float[n * recordSize];
            _actions = new float[n * actSize];
            _previousActions = new float[n * actSize];
            _rewards = new float[n];
            _previousRewards = new float[n];
            _terminated = new bool[n];
            _truncated = new bool[n];
            _previousDone = new bool[n];
            _firstStep = new bool[n];
            _alive = new bool[n];
            _episode = new int[n];
        }
        else
        {
            Array.Clear(_records); Array.Clear(_previousActions); Array.Clear(_previousRewards); Array.Clear(_previousDone); Array.Clear(_episode);
        }
    }
}
