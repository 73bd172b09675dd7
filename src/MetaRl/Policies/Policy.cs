using MetaRl.Envs;
using MetaRl.Torch;
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

    protected Tensor Observe(float[] observations, int count) =>
        tensor(observations.AsSpan(0, count * ObservationSize).ToArray(), [count, ObservationSize]);
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
        return new DiagGaussian(Mlp.Forward(observations, p, "mean.", _layers, _activation), p["log_std"]);
    }

    public override void Act(float[] observations, int count, float[] actions, Rng rng, ParameterSet? parameters = null, bool deterministic = false)
    {
        int a = ActionSize;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var p = parameters ?? Parameters;
        var mean = Mlp.Forward(Observe(observations, count), p, "mean.", _layers, _activation);
        mean.data<float>().CopyTo(actions.AsSpan(0, count * a));
        if (deterministic) return;
        var std = p["log_std"].exp().data<float>().ToArray();
        for (int i = 0; i < count; i++)
            for (int j = 0; j < a; j++)
                actions[i * a + j] += std[j] * (float)rng.Normal();
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
        var logits = Mlp.Forward(Observe(observations, count), parameters ?? Parameters, "logits.", _layers, _activation);
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
