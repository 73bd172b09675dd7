using static TorchSharp.torch;

namespace MetaRl.Policies;

/// <summary>
/// A stochastic policy over flat observations. <see cref="Distribution"/> is differentiable and runs with
/// the policy's own parameters or with an explicit (e.g. adapted) <see cref="ParameterSet"/>;
/// <see cref="Act"/> is the sampler's fast path: no graph, noise from the caller's generator.
/// </summary>
public abstract class Policy
{
    protected Policy(int observationSize, Space actionSpace, ParameterSet parameters)
    {
        ObservationSize = observationSize;
        ActionSpace = actionSpace;
        Parameters = parameters;
    }

    public int ObservationSize { get; }
    public Space ActionSpace { get; }
    /// <summary>Floats per action: 1 for a discrete action (its index), the dimension for a box.</summary>
    public int ActionSize => ActionSpace is Discrete ? 1 : ActionSpace.FlatSize;
    /// <summary>The policy's own leaf parameters.</summary>
    public ParameterSet Parameters { get; }

    public abstract IActionDistribution Distribution(Tensor observations, ParameterSet? parameters = null);

    /// <summary>Chooses actions for <paramref name="count"/> observations [count * ObservationSize] into actions [count * ActionSize].</summary>
    public abstract void Act(float[] observations, int count, float[] actions, Rng rng, ParameterSet? parameters = null, bool deterministic = false);

    /// <summary>Observations as [count, obs], or [K, count / K, obs] for per-task parameters (envs are task-major).</summary>
    protected Tensor Observe(float[] observations, int count, int? taskCount = null)
    {
        var data = observations.Length == count * ObservationSize ? observations : observations.AsSpan(0, count * ObservationSize).ToArray();
        if (taskCount is not { } k) return tensor(data, [count, ObservationSize]);
        if (count % k != 0) throw new ArgumentException($"{count} envs cannot be split evenly over {k} tasks' parameters");
        return tensor(data, [k, count / k, ObservationSize]);
    }
}

/// <summary>Gaussian MLP policy with a state-independent log-std (pytorch-maml-rl's NormalMLPPolicy).</summary>
public sealed class GaussianMlpPolicy : Policy
{
    readonly Activation _activation;
    readonly int _layers;

    public GaussianMlpPolicy(int observationSize, Box actionSpace, IReadOnlyList<int> hiddenSizes, Rng rng, Activation activation = Activation.Tanh, double initStd = 1.0)
        : base(observationSize, actionSpace, ParameterSet.Leaves(
            [.. Mlp.Init("mean.", [observationSize, .. hiddenSizes, actionSpace.Dim], rng), ("log_std", full(actionSpace.Dim, Math.Log(initStd)))]))
    {
        _activation = activation;
        _layers = hiddenSizes.Count + 1;
    }

    public override IActionDistribution Distribution(Tensor observations, ParameterSet? parameters = null)
    {
        var p = parameters ?? Parameters;
        var mean = Mlp.Forward(observations, p, "mean.", _layers, _activation);
        var logStd = p["log_std"];
        if (p.TaskCount is { } k) // per-task log-std [K, A] against means [K, ..., A]
            logStd = logStd.reshape([k, .. Enumerable.Repeat(1L, (int)mean.dim() - 2), logStd.shape[^1]]);
        return new DiagGaussian(mean, logStd);
    }

    public override void Act(float[] observations, int count, float[] actions, Rng rng, ParameterSet? parameters = null, bool deterministic = false)
    {
        int a = ActionSize;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var p = parameters ?? Parameters;
        var mean = Mlp.Forward(Observe(observations, count, p.TaskCount), p, "mean.", _layers, _activation);
        mean.data<float>().CopyTo(actions.AsSpan(0, count * a));
        if (deterministic) return;
        // Shared: std [A]; per task: std [K, A], and env i belongs to task i / (count / K).
        var std = p["log_std"].exp().data<float>().ToArray();
        int perTask = count / (p.TaskCount ?? 1);
        for (int i = 0; i < count; i++)
        {
            int offset = p.TaskCount is null ? 0 : i / perTask * a;
            for (int j = 0; j < a; j++)
                actions[i * a + j] += std[offset + j] * (float)rng.Normal();
        }
    }
}

/// <summary>Categorical MLP policy over a discrete action space.</summary>
public sealed class CategoricalMlpPolicy : Policy
{
    readonly Activation _activation;
    readonly int _layers;
    float[] _probs = [];

    public CategoricalMlpPolicy(int observationSize, Discrete actionSpace, IReadOnlyList<int> hiddenSizes, Rng rng, Activation activation = Activation.Tanh)
        : base(observationSize, actionSpace, ParameterSet.Leaves(Mlp.Init("logits.", [observationSize, .. hiddenSizes, actionSpace.N], rng, lastLayerScale: 0.01)))
    {
        _activation = activation;
        _layers = hiddenSizes.Count + 1;
    }

    public override IActionDistribution Distribution(Tensor observations, ParameterSet? parameters = null) =>
        new Categorical(Mlp.Forward(observations, parameters ?? Parameters, "logits.", _layers, _activation));

    public override void Act(float[] observations, int count, float[] actions, Rng rng, ParameterSet? parameters = null, bool deterministic = false)
    {
        int k = ((Discrete)ActionSpace).N;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var p = parameters ?? Parameters;
        var logits = Mlp.Forward(Observe(observations, count, p.TaskCount), p, "logits.", _layers, _activation);
        if (_probs.Length < count * k) _probs = new float[count * k];
        logits.softmax(-1).data<float>().CopyTo(_probs.AsSpan(0, count * k));
        for (int i = 0; i < count; i++)
        {
            var row = _probs.AsSpan(i * k, k);
            actions[i] = deterministic ? ArgMax(row) : rng.Categorical(row);
        }
    }

    static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}

public static class PolicyFactory
{
    /// <summary>A Gaussian MLP for box actions, a categorical MLP for discrete ones.</summary>
    public static Policy ForSpaces(Space observationSpace, Space actionSpace, IReadOnlyList<int> hiddenSizes, Rng rng, Activation activation = Activation.Tanh, double initStd = 1.0) =>
        actionSpace switch
        {
            Box box => new GaussianMlpPolicy(observationSpace.FlatSize, box, hiddenSizes, rng, activation, initStd),
            Discrete d => new CategoricalMlpPolicy(observationSpace.FlatSize, d, hiddenSizes, rng, activation),
            _ => throw new ArgumentException($"no policy for action space {actionSpace}", nameof(actionSpace)),
        };
}
