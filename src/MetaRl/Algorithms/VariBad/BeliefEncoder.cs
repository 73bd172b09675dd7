using static TorchSharp.torch;

namespace MetaRl.Algorithms.VariBad;

/// <summary>
/// variBAD's encoder q_phi(m | tau_:t) (Zintgraf et al. 2020, Section 4; the official RNNEncoder): each transition
/// (a_t, r_t, s_t+1) is embedded (a ReLU layer per part; an embedding size of 0 leaves a part out), a GRU runs over
/// them, and two linear heads read the Gaussian belief's mean and log-variance from its hidden state. The belief
/// before any transition (hidden state 0) is the prior, q(m | tau_:0).
/// </summary>
public sealed class BeliefEncoder
{
    readonly TorchSharp.Modules.GRU _gru;
    readonly int _actionEmbed, _stateEmbed, _rewardEmbed;

    public BeliefEncoder(int actionSize, int stateSize, int actionEmbed, int stateEmbed, int rewardEmbed, int hiddenSize, int latentSize, Rng rng)
    {
        ActionSize = actionSize; StateSize = stateSize; HiddenSize = hiddenSize; LatentSize = latentSize;
        (_actionEmbed, _stateEmbed, _rewardEmbed) = (actionEmbed, stateEmbed, rewardEmbed);
        int input = actionEmbed + stateEmbed + rewardEmbed;
        if (input == 0) throw new ArgumentException("the encoder needs at least one of the action, state and reward embeddings");
        using var scope = NewDisposeScope();
        var items = new List<(string, Tensor)>();
        if (actionEmbed > 0) items.AddRange(Mlp.Init("embed_action.", [actionSize, actionEmbed], rng));
        if (stateEmbed > 0) items.AddRange(Mlp.Init("embed_state.", [stateSize, stateEmbed], rng));
        if (rewardEmbed > 0) items.AddRange(Mlp.Init("embed_reward.", [1, rewardEmbed], rng));
        items.AddRange(Mlp.Init("mu.", [hiddenSize, latentSize], rng));
        items.AddRange(Mlp.Init("logvar.", [hiddenSize, latentSize], rng));
        var heads = ParameterSet.Leaves(items);
        // The GRU is libtorch's own (one native call per sequence); its weights orthogonal and biases 0 as the official
        // code, drawn from our generator so a seed fixes them.
        _gru = nn.GRU(input, hiddenSize);
        var native = _gru.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter.DetachFromDisposeScope());
        using (no_grad())
        {
            native["weight_ih_l0"].copy_(Orthogonal(3 * hiddenSize, input, rng));
            native["weight_hh_l0"].copy_(Orthogonal(3 * hiddenSize, hiddenSize, rng));
            native["bias_ih_l0"].zero_(); native["bias_hh_l0"].zero_();
        }
        Parameters = new ParameterSet([.. heads.Names.Zip(heads.Values),
            ("gru.weight_ih", native["weight_ih_l0"]), ("gru.weight_hh", native["weight_hh_l0"]), ("gru.bias_ih", native["bias_ih_l0"]), ("gru.bias_hh", native["bias_hh_l0"])]);
    }

    public int ActionSize { get; }
    public int StateSize { get; }
    public int HiddenSize { get; }
    public int LatentSize { get; }
    public ParameterSet Parameters { get; }

    /// <summary>A matrix with orthonormal rows or columns (QR of a Gaussian matrix, signs fixed), as torch.nn.init.orthogonal_.</summary>
    static Tensor Orthogonal(int rows, int cols, Rng rng)
    {
        int n = Math.Max(rows, cols), m = Math.Min(rows, cols);
        var g = new float[n * m];
        for (int i = 0; i < g.Length; i++) g[i] = (float)rng.Normal();
        var (q, r) = linalg.qr(tensor(g, [n, m]));
        q = q * r.diagonal().sign().unsqueeze(0);
        return rows >= cols ? q : q.t();
    }

    /// <summary>The embedded transition inputs [..., in] from actions [..., A], next states [..., S] and rewards [...].</summary>
    Tensor Embed(Tensor actions, Tensor states, Tensor rewards)
    {
        var parts = new List<Tensor>();
        if (_actionEmbed > 0) parts.Add(Mlp.Forward(actions, Parameters, "embed_action.", 1, Activation.Relu).relu());
        if (_stateEmbed > 0) parts.Add(Mlp.Forward(states, Parameters, "embed_state.", 1, Activation.Relu).relu());
        if (_rewardEmbed > 0) parts.Add(Mlp.Forward(rewards.unsqueeze(-1), Parameters, "embed_reward.", 1, Activation.Relu).relu());
        return cat(parts, -1);
    }

    /// <summary>The belief's mean and log-variance read from hidden states [..., H].</summary>
    public (Tensor Mean, Tensor LogVar) Belief(Tensor hidden) =>
        (Mlp.Forward(hidden, Parameters, "mu.", 1, Activation.Relu), Mlp.Forward(hidden, Parameters, "logvar.", 1, Activation.Relu));

    /// <summary>One transition for every env: the next hidden state [N, H] from hidden [N, H].</summary>
    public Tensor Step(Tensor hidden, Tensor actions, Tensor states, Tensor rewards) =>
        _gru.forward(Embed(actions, states, rewards).unsqueeze(0), hidden.unsqueeze(0)).Item2.squeeze(0);

    /// <summary>
    /// The hidden states over whole trajectories [T, B, ...] from the prior: [T + 1, B, H], row 0 the prior's (zeros),
    /// row t the state after t transitions. With the graph, for the ELBO.
    /// </summary>
    public Tensor Hiddens(Tensor actions, Tensor states, Tensor rewards)
    {
        var h0 = zeros(1, actions.shape[1], HiddenSize);
        var output = _gru.forward(Embed(actions, states, rewards), h0).Item1;
        return cat([h0, output], 0);
    }
}
