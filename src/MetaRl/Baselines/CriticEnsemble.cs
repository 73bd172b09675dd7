using static TorchSharp.torch;

namespace MetaRl.Baselines;

/// <summary>
/// K critics of one shape (SAC's twin Q-functions Q1, Q2; a single V), each its own MLP, evaluated together as one
/// batched matrix product per layer: their weights are stacked on a leading dimension ([K, out, in]), as MAML's
/// per-task parameters are. Inputs are whatever the critic reads: (s, a) for Q, (s, z) or (s, a, z) in PEARL.
/// </summary>
public sealed class CriticEnsemble
{
    readonly int _layers;
    readonly Activation _activation;

    public CriticEnsemble(int count, int inputSize, IReadOnlyList<int> hiddenSizes, Rng rng, Activation activation = Activation.Relu)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "need at least one critic");
        // Each critic is initialised on its own, then the K copies are stacked.
        var members = Enumerable.Range(0, count).Select(_ => Mlp.Init("q.", [inputSize, .. hiddenSizes, 1], rng)).ToList();
        using var scope = NewDisposeScope();
        Parameters = ParameterSet.Leaves(members[0].Select((item, i) => (item.Item1, stack(members.Select(m => m[i].Item2).ToList()))).ToList(), taskCount: count);
        foreach (var m in members) foreach (var (_, t) in m) t.Dispose();
        Count = count;
        InputSize = inputSize;
        _layers = hiddenSizes.Count + 1;
        _activation = activation;
    }

    public int Count { get; }
    public int InputSize { get; }
    public ParameterSet Parameters { get; }

    /// <summary>Every critic's value of inputs [B, in]: [K, B]. With <paramref name="parameters"/>: a target copy, or these detached.</summary>
    public Tensor Forward(Tensor inputs, ParameterSet? parameters = null)
    {
        var x = inputs.unsqueeze(0).expand([Count, .. inputs.shape]);
        return Mlp.Forward(x, parameters ?? Parameters, "q.", _layers, _activation).squeeze(-1);
    }
}
