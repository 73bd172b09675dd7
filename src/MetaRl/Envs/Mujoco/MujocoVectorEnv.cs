namespace MetaRl.Envs.Mujoco;

/// <summary>
/// MuJoCo envs stepped in parallel: the envs are split into one contiguous block per thread, the calling thread
/// steps the first block and persistent worker threads the others, meeting at a barrier (no allocation per step).
/// Each env steps only its own mjData with its own generator, so the results for a seed are the same whatever
/// the thread count. Threads default to the machine's cores (at most one per env); <c>METARL_MUJOCO_THREADS</c>
/// or the constructor sets them.
/// </summary>
public sealed class MujocoVectorEnv : IVectorEnv
{
    readonly IEnv[] _envs;
    readonly ITaskDistribution? _distribution;
    readonly float[] _obs, _actions, _rewards;
    readonly bool[] _done, _success, _terminated, _truncated;
    readonly Thread[] _workers;
    readonly Barrier? _barrier;
    readonly int[] _blockStart;
    volatile bool _stopping;
    Exception? _workerError;

    public MujocoVectorEnv(IReadOnlyList<IEnv> envs, ITaskDistribution? distribution = null, int? threads = null)
    {
        if (envs.Count == 0) throw new ArgumentException("a vector env needs at least one env", nameof(envs));
        _envs = envs.ToArray();
        _distribution = distribution;
        ObservationSpace = _envs[0].ObservationSpace;
        ActionSpace = _envs[0].ActionSpace;
        ObservationSize = ObservationSpace.FlatSize;
        ActionSize = ActionSpace.FlatSize;
        int n = _envs.Length;
        _obs = new float[n * ObservationSize];
        _actions = new float[n * ActionSize];
        _rewards = new float[n];
        _done = new bool[n]; _success = new bool[n]; _terminated = new bool[n]; _truncated = new bool[n];

        Threads = Math.Clamp(threads ?? DefaultThreads(), 1, n);
        _blockStart = new int[Threads + 1];
        for (int t = 0; t <= Threads; t++) _blockStart[t] = (int)((long)n * t / Threads);
        _workers = new Thread[Threads - 1];
        if (Threads > 1)
        {
            _barrier = new Barrier(Threads);
            for (int t = 1; t < Threads; t++)
            {
                int block = t;
                _workers[t - 1] = new Thread(() => WorkerLoop(block)) { IsBackground = true, Name = $"mujoco-{block}" };
                _workers[t - 1].Start();
            }
        }
    }

    /// <summary>The machine's cores, or METARL_MUJOCO_THREADS.</summary>
    public static int DefaultThreads() =>
        int.TryParse(Environment.GetEnvironmentVariable("METARL_MUJOCO_THREADS"), out int t) && t > 0 ? t : Environment.ProcessorCount;

    public int Threads { get; }
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

    public void Step(ReadOnlySpan<float> actions, Span<float> rewards, Span<bool> terminated, Span<bool> truncated)
    {
        if (actions.Length != _envs.Length * ActionSize)
            throw new ArgumentException($"expected {_envs.Length * ActionSize} action floats ({_envs.Length} envs x {ActionSize}), got {actions.Length}", nameof(actions));
        actions.CopyTo(_actions);
        if (_barrier is null) StepBlock(0);
        else
        {
            _barrier.SignalAndWait(); // start: the workers take their blocks
            StepBlock(0);
            _barrier.SignalAndWait(); // end: every block is done
            if (_workerError is { } e) { _workerError = null; throw new InvalidOperationException($"a MuJoCo env failed to step: {e.Message}", e); }
        }
        _rewards.CopyTo(rewards);
        _terminated.CopyTo(terminated);
        _truncated.CopyTo(truncated);
    }

    void StepBlock(int block)
    {
        for (int i = _blockStart[block]; i < _blockStart[block + 1]; i++)
        {
            if (_done[i]) { _rewards[i] = 0; _terminated[i] = false; _truncated[i] = false; _success[i] = false; continue; }
            var r = _envs[i].Step(_actions.AsSpan(i * ActionSize, ActionSize), _obs.AsSpan(i * ObservationSize, ObservationSize));
            _rewards[i] = r.Reward; _terminated[i] = r.Terminated; _truncated[i] = r.Truncated; _success[i] = r.Success;
            _done[i] = r.Done;
        }
    }

    void WorkerLoop(int block)
    {
        while (true)
        {
            _barrier!.SignalAndWait();
            if (_stopping) return;
            try { StepBlock(block); }
            catch (Exception e) { _workerError = e; }
            _barrier.SignalAndWait();
        }
    }

    public void Dispose()
    {
        if (_barrier is not null && !_stopping)
        {
            _stopping = true;
            _barrier.SignalAndWait(); // releases the workers, which see _stopping and leave
            foreach (var w in _workers) w.Join();
            _barrier.Dispose();
        }
        foreach (var e in _envs) e.Dispose();
    }
}
