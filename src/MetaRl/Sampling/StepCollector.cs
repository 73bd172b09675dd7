
namespace MetaRl.Sampling;

/// <summary>Where collected transitions go (a replay buffer, a task's context): one call per env step.</summary>
public interface ITransitionSink
{
    /// <summary>
    /// One transition of env <paramref name="env"/> (and so of its task); <paramref name="nextObservation"/> is the one after
    /// the step: the episode's final one when it ended (to bootstrap from when truncated, never when terminated).
    /// </summary>
    void Add(int env, ReadOnlySpan<float> observation, ReadOnlySpan<float> action, float reward, ReadOnlySpan<float> nextObservation, bool terminated, bool truncated);
}

/// <summary>
/// Collection by a step budget, as off-policy learners (SAC, PEARL) need: each call steps every env a given number
/// of times and hands each transition to a sink; an episode that has not ended carries over to the next call, and
/// one that ends is reset at once from the collector's generator. The agent's per-env state runs across
/// <c>episodesPerRun</c> episodes (1: a fresh state each episode; RL2-style agents keep it over a trial).
/// </summary>
public sealed class StepCollector : IDisposable
{
    readonly IVectorEnv _envs;
    readonly IRolloutAgent _agent;
    readonly Rng _rng;
    readonly int _episodesPerRun;
    readonly float[] _records, _actions, _rewards, _observations, _previousActions, _previousRewards, _returns;
    readonly bool[] _terminated, _truncated, _previousDone, _firstStep, _alive;
    readonly int[] _episode;
    readonly List<double> _finished = [];
    object? _state;

    public StepCollector(IVectorEnv envs, IRolloutAgent agent, Rng rng, int episodesPerRun = 1)
    {
        if (episodesPerRun < 1) throw new ArgumentOutOfRangeException(nameof(episodesPerRun), episodesPerRun, "must be >= 1");
        if (agent.ObservationSize != envs.ObservationSize || agent.ActionSize != envs.ActionSize)
            throw new ArgumentException($"the agent takes {agent.ObservationSize} observation floats and gives {agent.ActionSize} action floats; the envs have {envs.ObservationSize} and {envs.ActionSize}");
        _envs = envs; _agent = agent; _rng = rng; _episodesPerRun = episodesPerRun;
        int n = envs.NumEnvs;
        _records = new float[n * agent.RecordSize];
        _actions = new float[n * envs.ActionSize];
        _previousActions = new float[n * envs.ActionSize];
        _observations = new float[n * envs.ObservationSize];
        _rewards = new float[n]; _previousRewards = new float[n]; _returns = new float[n];
        _terminated = new bool[n]; _truncated = new bool[n]; _previousDone = new bool[n]; _firstStep = new bool[n]; _alive = new bool[n];
        _episode = new int[n];
        Array.Fill(_alive, true);
        Array.Fill(_firstStep, true);
        for (int e = 0; e < n; e++) envs.ResetEnv(e, rng.NextInt(int.MaxValue));
        _state = agent.InitialState(n);
    }

    public IVectorEnv Envs => _envs;

    /// <summary>Env steps taken over all calls.</summary>
    public long Steps { get; private set; }

    /// <summary>Undiscounted returns of the episodes that ended since the last call of <see cref="TakeFinishedReturns"/>.</summary>
    public IReadOnlyList<double> TakeFinishedReturns()
    {
        var r = _finished.ToList();
        _finished.Clear();
        return r;
    }

    /// <summary>Switches env <paramref name="env"/> to another task: its episode and the agent's run there start afresh.</summary>
    public void SetTask(int env, object task)
    {
        _envs.SetTask(env, task);
        StartRun(env);
    }

    /// <summary>Steps every env <paramref name="steps"/> times, handing each transition to <paramref name="sink"/>.</summary>
    public void Collect(int steps, ITransitionSink sink)
    {
        int n = _envs.NumEnvs, obsSize = _envs.ObservationSize, actSize = _envs.ActionSize;
        for (int s = 0; s < steps; s++)
        {
            _envs.Observations.CopyTo(_observations);
            var view = new StepView(_observations, _previousActions, _previousRewards, _previousDone, _firstStep, _alive);
            _state = _agent.Act(view, _records, _actions, _state, _rng);
            _envs.Step(_actions, _rewards, _terminated, _truncated);
            var next = _envs.Observations;
            for (int e = 0; e < n; e++)
            {
                var action = _actions.AsSpan(e * actSize, actSize);
                sink.Add(e, _observations.AsSpan(e * obsSize, obsSize), action, _rewards[e], next.Slice(e * obsSize, obsSize), _terminated[e], _truncated[e]);
                _returns[e] += _rewards[e];
                action.CopyTo(_previousActions.AsSpan(e * actSize, actSize));
                _previousRewards[e] = _rewards[e];
                _previousDone[e] = _envs.IsDone(e);
                _firstStep[e] = false;
                if (!_envs.IsDone(e)) continue;
                _finished.Add(_returns[e]);
                _returns[e] = 0;
                if (++_episode[e] >= _episodesPerRun) StartRun(e);
                else _envs.ResetEnv(e, _rng.NextInt(int.MaxValue));
            }
            Steps += n;
        }
    }

    void StartRun(int env)
    {
        _envs.ResetEnv(env, _rng.NextInt(int.MaxValue));
        _agent.ResetState(_state, env);
        _episode[env] = 0;
        _returns[env] = 0;
        _firstStep[env] = true;
        _previousDone[env] = false;
        _previousRewards[env] = 0;
        _previousActions.AsSpan(env * _envs.ActionSize, _envs.ActionSize).Clear();
    }

    /// <summary>Releases the agent's state; the vector env stays the caller's.</summary>
    public void Dispose() => _agent.Release(_state);
}
