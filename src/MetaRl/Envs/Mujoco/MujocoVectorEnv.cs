using System.Diagnostics;

namespace MetaRl.Envs.Mujoco;

/// <summary>
/// MuJoCo envs stepped in parallel: the calling thread and persistent worker threads take envs one at a time
/// from a shared counter until all are stepped (an env's cost depends on its contacts, so a fixed split would leave
/// a thread idle), with no allocation per step. Between steps the
/// workers spin for up to a millisecond before they sleep: the policy's forward pass between two steps is
/// shorter than that, and a sleeping thread takes longer to wake than a step of its share takes.
/// Each env steps only its own mjData with its own generator, so the results for a seed are the same whatever
/// the thread count and whichever thread steps it. Threads default to the machine's cores (at most one per env); <c>METARL_MUJOCO_THREADS</c>
/// or the constructor sets them.
/// </summary>
public sealed class MujocoVectorEnv : IVectorEnv
{
    readonly IEnv[] _envs;
    readonly ITaskDistribution? _distribution;
    readonly float[] _obs, _actions, _rewards;
    readonly bool[] _done, _success, _terminated, _truncated;
    readonly Thread[] _workers;
    readonly object _gate = new(); // Monitor.Wait/PulseAll need a monitor, not a Lock
    static readonly long SpinTicks = Stopwatch.Frequency / 1000; // 1 ms
    long _generation; // incremented by each step (and by Dispose): the workers' signal to go
    int _pending;     // workers not finished with the current step
    int _next;        // the next env to step
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
        _workers = new Thread[Threads - 1];
        if (Threads > 1)
        {
            for (int t = 1; t < Threads; t++)
            {
                _workers[t - 1] = new Thread(WorkerLoop) { IsBackground = true, Name = $"mujoco-{t}" };
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
        Volatile.Write(ref _next, 0);
        if (Threads == 1) StepShare();
        else
        {
            Volatile.Write(ref _pending, Threads - 1);
            Go();
            StepShare();
            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) > 0) spin.SpinOnce(sleep1Threshold: -1); // the workers are running: never sleep
            if (_workerError is { } e) { _workerError = null; throw new InvalidOperationException($"a MuJoCo env failed to step: {e.Message}", e); }
        }
        _rewards.CopyTo(rewards);
        _terminated.CopyTo(terminated);
        _truncated.CopyTo(truncated);
    }

    /// <summary>Steps envs taken from the shared counter until none is left.</summary>
    void StepShare()
    {
        int i;
        while ((i = Interlocked.Increment(ref _next) - 1) < _envs.Length)
        {
            if (_done[i]) { _rewards[i] = 0; _terminated[i] = false; _truncated[i] = false; _success[i] = false; continue; }
            var r = _envs[i].Step(_actions.AsSpan(i * ActionSize, ActionSize), _obs.AsSpan(i * ObservationSize, ObservationSize));
            _rewards[i] = r.Reward; _terminated[i] = r.Terminated; _truncated[i] = r.Truncated; _success[i] = r.Success;
            _done[i] = r.Done;
        }
    }

    /// <summary>Starts the next generation: spinning workers see the counter, sleeping ones are woken.</summary>
    void Go()
    {
        lock (_gate)
        {
            _generation++;
            Monitor.PulseAll(_gate);
        }
    }

    void WorkerLoop()
    {
        long seen = 0;
        while (true)
        {
            long start = Stopwatch.GetTimestamp();
            while (Volatile.Read(ref _generation) == seen)
            {
                if (Stopwatch.GetTimestamp() - start < SpinTicks) { Thread.SpinWait(20); continue; }
                lock (_gate)
                    while (Volatile.Read(ref _generation) == seen) Monitor.Wait(_gate);
            }
            seen = Volatile.Read(ref _generation);
            if (_stopping) return;
            try { StepShare(); }
            catch (Exception e) { _workerError = e; }
            Interlocked.Decrement(ref _pending);
        }
    }

    public void Dispose()
    {
        if (Threads > 1 && !_stopping)
        {
            _stopping = true;
            Go(); // the workers wake, see _stopping and leave
            foreach (var w in _workers) w.Join();
        }
        foreach (var e in _envs) e.Dispose();
    }
}
