using static TorchSharp.torch;

namespace MetaRl.Algorithms.VariBad;

/// <summary>
/// variBAD's actor-critic pi(a | s, q(m | tau_:t)): the state and the belief (mean and log-variance of the latent) are
/// each normalised by running statistics and embedded by a tanh layer; actor and critic are separate MLPs over the
/// two embeddings (the official Policy). Inputs are rows [state | belief mean | belief log-variance], as recorded
/// during a rollout: the belief is an input, so no policy gradient reaches the encoder (the paper's default).
/// </summary>
public sealed class BeliefPolicy
{
    readonly int _layers;
    readonly Activation _activation;
    float[] _probs = [];

    /// <summary>A policy whose Gaussian (continuous actions) starts with standard deviation <paramref name="initStd"/> (the official policy_init_std).</summary>
    public BeliefPolicy(int stateSize, int latentSize, Space actionSpace, int stateEmbed, int latentEmbed, IReadOnlyList<int> hiddenSizes, Activation activation, Rng rng, double initStd = 1.0)
    {
        StateSize = stateSize; LatentSize = latentSize; ActionSpace = actionSpace;
        _layers = hiddenSizes.Count;
        _activation = activation;
        int outputs = actionSpace is Discrete d ? d.N : actionSpace.FlatSize;
        int last = hiddenSizes[^1];
        var items = new List<(string, Tensor)>();
        items.AddRange(Mlp.Init("embed_state.", [stateSize, stateEmbed], rng));
        items.AddRange(Mlp.Init("embed_latent.", [2 * latentSize, latentEmbed], rng));
        items.AddRange(Mlp.Init("actor.", [stateEmbed + latentEmbed, .. hiddenSizes], rng));
        items.AddRange(Mlp.Init("critic.", [stateEmbed + latentEmbed, .. hiddenSizes], rng));
        items.AddRange(Mlp.Init("head.", [last, outputs], rng, lastLayerScale: 0.01)); // near-uniform first actions
        items.AddRange(Mlp.Init("value.", [last, 1], rng));
        if (actionSpace is Box box) items.Add(("log_std", full(box.Dim, (float)Math.Log(initStd))));
        Parameters = ParameterSet.Leaves(items);
        StateStats = new RunningMeanStd(stateSize);
        LatentStats = new RunningMeanStd(2 * latentSize);
    }

    public int StateSize { get; }
    public int LatentSize { get; }
    public int InputSize => StateSize + 2 * LatentSize;
    public Space ActionSpace { get; }
    public int ActionSize => ActionSpace is Discrete ? 1 : ActionSpace.FlatSize;
    public ParameterSet Parameters { get; }
    /// <summary>Running statistics that normalise the policy's state and belief inputs (updated after each update).</summary>
    public RunningMeanStd StateStats { get; }
    public RunningMeanStd LatentStats { get; }
    /// <summary>Whether inputs are normalised (norm-state-for-policy, norm-latent-for-policy).</summary>
    public bool NormaliseState { get; init; } = true;
    public bool NormaliseLatent { get; init; } = true;

    static Tensor Normalise(Tensor x, RunningMeanStd stats) =>
        (x - tensor(stats.Mean.ToArray().Select(v => (float)v).ToArray())) / tensor(stats.Variance.ToArray().Select(v => (float)Math.Sqrt(v + 1e-8)).ToArray());

    /// <summary>The action distribution and the value V(s, belief) of inputs [..., InputSize].</summary>
    public (IActionDistribution Distribution, Tensor Value) Forward(Tensor inputs)
    {
        var p = Parameters;
        var state = inputs.narrow(-1, 0, StateSize);
        var belief = inputs.narrow(-1, StateSize, 2 * LatentSize);
        if (NormaliseState) state = Normalise(state, StateStats);
        if (NormaliseLatent) belief = Normalise(belief, LatentStats);
        var h = cat([Act(Mlp.Forward(state, p, "embed_state.", 1, _activation)), Act(Mlp.Forward(belief, p, "embed_latent.", 1, _activation))], -1);
        var actor = Act(Mlp.Forward(h, p, "actor.", _layers, _activation));
        var critic = Act(Mlp.Forward(h, p, "critic.", _layers, _activation));
        var output = Mlp.Forward(actor, p, "head.", 1, _activation);
        IActionDistribution pi = ActionSpace is Discrete ? new Categorical(output) : new DiagGaussian(output, p["log_std"]);
        return (pi, Mlp.Forward(critic, p, "value.", 1, _activation).squeeze(-1));
    }

    Tensor Act(Tensor x) => _activation == Activation.Tanh ? x.tanh() : x.relu();

    /// <summary>Actions for <paramref name="count"/> input rows (sampled, or the most likely / the mean).</summary>
    public void ActOn(float[] inputs, int count, float[] actions, Rng rng, bool deterministic)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (pi, _) = Forward(tensor(inputs.AsSpan(0, count * InputSize).ToArray(), [count, InputSize]));
        if (pi is Categorical c)
        {
            int k = ((Discrete)ActionSpace).N;
            if (_probs.Length < count * k) _probs = new float[count * k];
            c.LogProbs.exp().data<float>().CopyTo(_probs.AsSpan(0, count * k));
            for (int i = 0; i < count; i++)
            {
                var row = _probs.AsSpan(i * k, k);
                int best = 0;
                for (int j = 1; j < k; j++) if (row[j] > row[best]) best = j;
                actions[i] = deterministic ? best : rng.Categorical(row);
            }
            return;
        }
        var g = (DiagGaussian)pi;
        int a = ActionSize;
        g.Mean.data<float>().CopyTo(actions.AsSpan(0, count * a));
        if (deterministic) return;
        var std = g.LogStd.exp().data<float>().ToArray();
        for (int i = 0; i < count * a; i++) actions[i] += std[i % a] * (float)rng.Normal();
    }
}
