namespace MetaRl.Envs;

/// <summary>
/// Many envs stepped in one call over flat arrays (struct of arrays): observations [envs * obsSize],
/// actions [envs * actionSize]. There is no auto-reset: an env that is done stays done, its observation the
/// episode's final one, until it is reset, so a collector can record final observations (to bootstrap at
/// truncation) and collect fixed-length episodes with masks. Disposing it disposes its envs.
/// </summary>
public interface IVectorEnv : IDisposable
{
    int NumEnvs { get; }
    int ObservationSize { get; }
    int ActionSize { get; }
    Space ObservationSpace { get; }
    Space ActionSpace { get; }
    /// <summary>The current observation of every env, [NumEnvs * ObservationSize]; a done env's is its episode's final observation.</summary>
    ReadOnlySpan<float> Observations { get; }
    /// <summary>Whether env i has finished its episode.</summary>
    bool IsDone(int i);
    /// <summary>Whether each env's last step met its task's success condition.</summary>
    ReadOnlySpan<bool> LastSuccess { get; }
    /// <summary>Env i itself (to ask what it knows, such as <see cref="IMeanReward"/>).</summary>
    IEnv this[int i] { get; }
    /// <summary>Switches env i to another task of its family (takes effect at its next reset).</summary>
    void SetTask(int i, object task);
    /// <summary>Resets every env; env i is seeded with seed + i when a seed is given.</summary>
    void Reset(int? seed = null);
    void ResetEnv(int i, int? seed = null);
    /// <summary>Steps every env that is not done; done envs get reward 0 and keep their observation. Terminated: the task ended (no value after it); truncated: the time limit.</summary>
    void Step(ReadOnlySpan<float> actions, Span<float> rewards, Span<bool> terminated, Span<bool> truncated);
}

/// <summary>
/// Vectorises any <see cref="IEnv"/> (each with its own task and generator) without allocating per step, stepping
/// them one after the other; a subclass may step them otherwise (<see cref="Mujoco.MujocoVectorEnv"/>: in parallel).
/// </summary>
public class VectorEnv : IVectorEnv
{
    readonly IEnv[] _envs;
    readonly float[] _obs;
    readonly bool[] _done, _success;
    readonly ITaskDistribution? _distribution;

    /// <summary>One env of <paramref name="distribution"/> per task. Envs get a placeholder generator: collectors reseed every episode from their own.</summary>
    public VectorEnv(ITaskDistribution distribution, IReadOnlyList<object> tasks)
        : this(tasks.Select((task, i) => distribution.CreateEnv(task, new Rng(i))).ToList(), distribution)
    {
    }

    /// <summary>These envs; with <paramref name="distribution"/> (the family that made them) it can also switch their tasks.</summary>
    public VectorEnv(IReadOnlyList<IEnv> envs, ITaskDistribution? distribution = null)
    {
        _distribution = distribution;
        if (envs.Count == 0) throw new ArgumentException("a vector env needs at least one env", nameof(envs));
        _envs = envs.ToArray();
        ObservationSpace = _envs[0].ObservationSpace;
        ActionSpace = _envs[0].ActionSpace;
        ObservationSize = ObservationSpace.FlatSize;
        ActionSize = ActionSpace is Discrete ? 1 : ActionSpace.FlatSize;
        foreach (var e in _envs)
            if (e.ObservationSpace.FlatSize != ObservationSize || e.ActionSpace.FlatSize != ActionSpace.FlatSize)
                throw new ArgumentException("all envs of a vector env must share their spaces", nameof(envs));
        _obs = new float[_envs.Length * ObservationSize];
        _done = new bool[_envs.Length];
        _success = new bool[_envs.Length];
    }

    public int NumEnvs => _envs.Length;
    public int ObservationSize { get; }
    public int ActionSize { get; }
    public Space ObservationSpace { get; }
    public Space ActionSpace { get; }
    public ReadOnlySpan<float> Observations => _obs;
    public IEnv this[int i] => _envs[i];
    public bool IsDone(int i) => _done[i];
    public ReadOnlySpan<bool> LastSuccess => _success;

    public void SetTask(int i, object task) =>
        (_distribution ?? throw new InvalidOperationException("this vector env was built from envs, not from a task distribution: it cannot set tasks")).SetTask(_envs[i], task);

    public void Reset(int? seed = null)
    {
        for (int i = 0; i < _envs.Length; i++) ResetEnv(i, seed is { } s ? s + i : null);
    }

    public void ResetEnv(int i, int? seed = null)
    {
        _envs[i].Reset(seed, _obs.AsSpan(i * ObservationSize, ObservationSize));
        _done[i] = false;
    }

    public virtual void Step(ReadOnlySpan<float> actions, Span<float> rewards, Span<bool> terminated, Span<bool> truncated)
    {
        CheckActions(actions);
        for (int i = 0; i < _envs.Length; i++) StepEnv(i, actions, rewards, terminated, truncated);
    }

    protected void CheckActions(ReadOnlySpan<float> actions)
    {
        if (actions.Length != _envs.Length * ActionSize)
            throw new ArgumentException($"expected {_envs.Length * ActionSize} action floats ({_envs.Length} envs x {ActionSize}), got {actions.Length}", nameof(actions));
    }

    /// <summary>Steps env i if it is not done (a done env gets reward 0 and keeps its observation); safe to call for different envs from different threads.</summary>
    protected void StepEnv(int i, ReadOnlySpan<float> actions, Span<float> rewards, Span<bool> terminated, Span<bool> truncated)
    {
        if (_done[i]) { rewards[i] = 0; terminated[i] = false; truncated[i] = false; _success[i] = false; return; }
        var r = _envs[i].Step(actions.Slice(i * ActionSize, ActionSize), _obs.AsSpan(i * ObservationSize, ObservationSize));
        rewards[i] = r.Reward; terminated[i] = r.Terminated; truncated[i] = r.Truncated; _success[i] = r.Success;
        _done[i] = r.Done;
    }

    public virtual void Dispose()
    {
        foreach (var e in _envs) e.Dispose();
    }
}
