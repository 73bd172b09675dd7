
namespace MetaRl.Envs;

/// <summary>What one step returned (Gymnasium's reward, terminated, truncated); the observation is written into the caller's span.</summary>
public readonly record struct StepResult(float Reward, bool Terminated, bool Truncated, bool Success = false)
{
    public bool Done => Terminated || Truncated;
}

/// <summary>
/// Gymnasium's environment contract in C#, without allocation per step: observations are written into
/// a span the caller owns. Observations are flat floats (a Discrete observation is one-hot); actions are
/// flat floats (a Discrete action is one float holding the index). Each env owns its random generator. An env
/// is disposable: whoever makes one disposes it (a vector env disposes its envs).
/// </summary>
public interface IEnv : IDisposable
{
    Space ObservationSpace { get; }
    Space ActionSpace { get; }
    /// <summary>Steps after which an episode is truncated.</summary>
    int MaxEpisodeSteps { get; }
    /// <summary>Starts an episode; a seed reseeds the env's own generator.</summary>
    void Reset(int? seed, Span<float> observation);
    StepResult Step(ReadOnlySpan<float> action, Span<float> observation);

    /// <summary>Frees what the env holds outside the managed heap (a native MuJoCo model and data); nothing for a managed env.</summary>
    void IDisposable.Dispose() { }
}

/// <summary>
/// An env that knows the mean of the reward an action would get now, E[r | task, state, action]. During
/// meta-training the task is known, so a learner may train on this mean instead of the noisy sampled reward:
/// the expected return, and so the policy gradient's expectation, is the same, with less variance.
/// </summary>
public interface IMeanReward
{
    double MeanReward(ReadOnlySpan<float> action);
}

/// <summary>
/// An env whose reward is sparse but which also knows a dense one (the sparse point robot: -distance to the goal).
/// oyster's PEARL trains its critic on the dense reward and infers the task from the sparse one; a collector records
/// both (<see cref="Sampling.EpisodeBatch.DenseRewards"/>).
/// </summary>
public interface IDenseReward
{
    /// <summary>The dense reward of the last step.</summary>
    float DenseReward { get; }
}

/// <summary>An env that can say where its body is (the point robot, a MuJoCo torso): what pictures of behaviour draw.</summary>
public interface ITrackedEnv
{
    /// <summary>x forward, y left, z up (z = 0 for a planar point).</summary>
    (double X, double Y, double Z) BodyPosition { get; }
}

/// <summary>An env that can be switched to another task of its family without being rebuilt.</summary>
public interface ITaskEnv<TTask> : IEnv
{
    TTask Task { get; set; }
}

internal static class EnvChecks
{
    public static int DiscreteAction(ReadOnlySpan<float> action, int n)
    {
        if (action.Length != 1) throw new ArgumentException($"a Discrete({n}) action is one float holding the index; got {action.Length} floats", nameof(action));
        int a = (int)action[0];
        if (a < 0 || a >= n || a != action[0]) throw new ArgumentOutOfRangeException(nameof(action), action[0], $"action must be an integer in [0, {n - 1}]");
        return a;
    }

    public static void Length(ReadOnlySpan<float> action, int n)
    {
        if (action.Length != n) throw new ArgumentException($"expected an action of {n} floats, got {action.Length}", nameof(action));
    }

    public static Rng Seeded(Rng rng, int? seed) => seed is { } s ? new Rng(s) : rng;
}
