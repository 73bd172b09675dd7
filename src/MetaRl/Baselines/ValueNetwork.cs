using static TorchSharp.torch;

namespace MetaRl.Baselines;

/// <summary>A state-value MLP V(s) trained by regression on returns (PPO's critic).</summary>
public sealed class ValueNetwork
{
    readonly int _layers;
    readonly Activation _activation;

    public ValueNetwork(int observationSize, IReadOnlyList<int> hiddenSizes, Rng rng, Activation activation = Activation.Tanh)
    {
        Parameters = ParameterSet.Leaves(Mlp.Init(Prefix, [observationSize, .. hiddenSizes, 1], rng));
        _layers = hiddenSizes.Count + 1;
        _activation = activation;
    }

    public ParameterSet Parameters { get; }

    /// <summary>V for observations [..., obs], shape [...]; with per-task parameters (TaskCount K) observations are [K, ..., obs].</summary>
    public Tensor Forward(Tensor observations, ParameterSet? parameters = null) => Mlp.Forward(observations, parameters ?? Parameters, Prefix, _layers, _activation).squeeze(-1);

    /// <summary>The parameters' name prefix ("value.").</summary>
    public const string Prefix = "value.";

    /// <summary>Values of every step of a batch, [T, N] flattened (zero where masked).</summary>
    public float[] Predict(EpisodeBatch b)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return (Forward(b.ObservationsTensor()) * b.MaskTensor()).data<float>().ToArray();
    }

    /// <summary>V(s_T) of each episode's final observation [N], for bootstrapping where an episode was truncated.</summary>
    public float[] PredictFinal(EpisodeBatch b)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return Forward(tensor(b.FinalObservations, [b.Episodes, b.ObservationSize])).data<float>().ToArray();
    }
}
