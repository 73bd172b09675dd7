using System.Diagnostics;

namespace MetaRl.Envs.Mujoco;

/// <summary>
/// MuJoCo envs stepped in parallel: the calling thread and persistent worker threads take envs one at a time
/// from a shared counter until all are stepped (an env's cost depends on its contacts, so a fixed split would leave
/// a thread idle), with no allocation per step. Between steps the workers spin for up to a millisecond before
/// they sleep: the policy's forward pass between two steps is shorter than that, and a sleeping thread takes
/// longer to wake than a step of its share takes. Each env steps only its own mjData with its own generator, so
/// the results for a seed are the same whatever the thread count and whichever thread steps it. Threads default
/// to the machine's cores (at most one per env); <c>METARL_MUJOCO_THREADS</c> or the constructor sets them.
/// </summary>
public sealed class MujocoVectorEnv : VectorEnv
{
    readonly float[] _actions, _rewards;
    readonly bool[] _terminated, _truncated;
    readonly Thread[] _workers;
    readonly object _gate = new(); // Monitor.Wait/PulseAll need a monitor, not a Lock
    static readonly long SpinTicks = Stopwatch.Frequency / 1000; // 1 ms
    long _generation; // incremented by each step (and by Dispose): the workers' signal to go
    int _pending;     // workers not finished with the current step
    int _next;        // the next env to step
    volatile bool _stopping;
    Exception? _workerError;

    public MujocoVectorEnv(IReadOnlyList<IEnv> envs, ITaskDistribution? distribution = null, int? threads = null) : base(envs, distribution)
    {
        _actions = new float[NumEnvs * ActionSize];
        _rewards = new float[NumEnvs];
        _terminated = new bool[NumEnvs];
        _truncated = new bool[NumEnvs];
        Threads = Math.Clamp(threads ?? DefaultThreads(), 1, NumEnvs);
        _workers = new Thread[Threads - 1];
        for (int t = 1; t < Threads; t++)
        {
            _workers[t - 1] = new Thread(WorkerLoop) { IsBackground = true, Name = $"mujoco-{t}" };
            _workers[t - 1].Start();
        }
    }

    /// <summary>The machine's cores, or METARL_MUJOCO_THREADS.</summary>
    public static int DefaultThreads() =>
        int.TryParse(Environment.GetEnvironmentVariable("METARL_MUJOCO_THREADS"), out int t) && t > 0 ? t : Environment.ProcessorCount;

    public int Threads { get; }

    public override void Step(ReadOnlySpan<float> actions, Span<float> rewards, Span<bool> terminated, Span<bool> truncated)
    {
        CheckActions(actions);
        actions.CopyTo(_actions); // the workers read the step's actions from here
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
        while ((i = Interlocked.Increment(ref _next) - 1) < NumEnvs) StepEnv(i, _actions, _rewards, _terminated, _truncated);
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

    public override void Dispose()
    {
        if (Threads > 1 && !_stopping)
        {
            _stopping = true;
            Go(); // the workers wake, see _stopping and leave
            foreach (var w in _workers) w.Join();
        }
        base.Dispose();
    }
}
