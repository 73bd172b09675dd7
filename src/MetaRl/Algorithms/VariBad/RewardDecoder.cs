using static TorchSharp.torch;

namespace MetaRl.Algorithms.VariBad;

/// <summary>
/// variBAD's reward decoder p_theta(r | s', m). Multi-head (grid worlds, where states are cells): from the latent alone,
/// one output per cell, the probability that the reward at that cell is the goal's (Bernoulli, as the official
/// grid-world config); otherwise (MuJoCo) a regression of the reward from the latent and the embedded next state.
/// </summary>
public sealed class RewardDecoder
{
    readonly int _layers, _stateEmbed;

    /// <summary>A multi-head decoder over <c>cells</c> cells, or (cells 0) a regression over states of <c>stateSize</c> floats embedded to <c>stateEmbed</c>.</summary>
    public RewardDecoder(int latentSize, int cells, int stateSize, int stateEmbed, IReadOnlyList<int> hiddenSizes, Rng rng)
    {
        Cells = cells;
        _stateEmbed = cells > 0 ? 0 : stateEmbed;
        _layers = hiddenSizes.Count + 1;
        var items = new List<(string, Tensor)>();
        if (_stateEmbed > 0) items.AddRange(Mlp.Init("embed_state.", [stateSize, _stateEmbed], rng));
        items.AddRange(Mlp.Init("reward.", [latentSize + _stateEmbed, .. hiddenSizes, cells > 0 ? cells : 1], rng));
        Parameters = ParameterSet.Leaves(items);
    }

    public int Cells { get; }
    public bool MultiHead => Cells > 0;
    public ParameterSet Parameters { get; }

    /// <summary>Multi-head: logits of p(r = goal's | cell) for every cell, [..., cells].</summary>
    public Tensor CellLogits(Tensor latent) => Mlp.Forward(latent, Parameters, "reward.", _layers, Activation.Relu);

    /// <summary>Regression: the predicted reward [...] at next states [..., S] under latents [..., L].</summary>
    public Tensor Reward(Tensor latent, Tensor nextStates)
    {
        var s = Mlp.Forward(nextStates, Parameters, "embed_state.", 1, Activation.Relu).relu();
        return Mlp.Forward(cat([latent, s], -1), Parameters, "reward.", _layers, Activation.Relu).squeeze(-1);
    }
}
