using static TorchSharp.torch;

namespace MetaRl.Policies;

/// <summary>
/// A recurrent policy for agents whose hidden state is their task belief (RL2, L2RL): a GRU over the
/// per-step input, then a linear head to a Gaussian mean (state-independent log-std) or to categorical
/// logits. Functional like the MLP policies: every call may take an explicit <see cref="ParameterSet"/>.
/// The GRU is PyTorch's (Cho et al. 2014):
///   r = sigma(W_ir x + b_ir + W_hr h + b_hr),  z = sigma(W_iz x + b_iz + W_hz h + b_hz),
///   n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h' = (1 - z) * n + z * h.
/// With its own parameters the policy runs the recurrence in libtorch's GRU (one native call per sequence,
/// 4-9% faster than the same equations op by op: bench/MetaRl.Benchmarks GruBenchmarks); with other
/// parameters (adapted, per-task) it runs the equations op by op.
///
/// <see cref="GruCell.LayerNorm"/> is the cell of the pytorch_rl2 reproduction of RL2 (rl2/agents/architectures/gru.py):
/// each projection is layer-normalised, the candidate is a ReLU, and the update gate is biased to keep the state:
///   [z; r] = LN(W_x,zr x) + LN(W_h,zr h),  z = sigma(z - 1),  r = sigma(r),
///   n = relu(LN(W_x,n x) + r * LN(W_h,n h)),  h' = (1 - z) * h + z * n.
/// A ReLU state is unbounded, so it can count (pulls, successes) where tanh saturates; it always runs op by op.
/// </summary>
public sealed class GruPolicy
{
    public GruPolicy(int inputSize, Space actionSpace, int hiddenSize, Rng rng, double initStd = 1.0, GruCell cell = GruCell.Standard)
    {
        if (hiddenSize < 1) throw new ArgumentOutOfRangeException(nameof(hiddenSize), hiddenSize, "must be >= 1");
        InputSize = inputSize;
        HiddenSize = hiddenSize;
        ActionSpace = actionSpace;
        CellKind = cell;
        int outputs = actionSpace is Discrete d ? d.N : actionSpace.FlatSize;
        // The initial values are temporaries handed to copy_ and cat: a scope holds them until the end (see ParameterSet).
        using var scope = NewDisposeScope();
        List<(string, Tensor)> Head()
        {
            // A small head starts the policy near uniform (discrete) or its Gaussian mean near 0, inside the action
            // range: a mean far outside a clipped range (2D navigation clips to +-0.1) saturates every action, and
            // clipped actions carry no signal about which way to move the mean.
            var head = new List<(string, Tensor)>(Mlp.Init("head.", [hiddenSize, outputs], rng, lastLayerScale: 0.01));
            if (actionSpace is Box box) head.Add(("log_std", full(box.Dim, Math.Log(initStd))));
            return head;
        }
        if (cell == GruCell.LayerNorm)
        {
            var head = Head(); // drawn before the cell's weights, as the runs made with this cell were
            Parameters = ParameterSet.Leaves([.. LayerNormInit(inputSize, hiddenSize, rng), .. head]);
            return;
        }
        // PyTorch's GRU init: U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias.
        double k = 1 / Math.Sqrt(hiddenSize);
        Tensor U(params long[] shape)
        {
            var data = new float[shape.Aggregate(1L, (a, b) => a * b)];
            for (int i = 0; i < data.Length; i++) data[i] = (float)rng.Uniform(-k, k);
            return tensor(data, shape);
        }
        // The GRU's weights are the native module's own parameters (the optimiser and checkpoints update them in
        // place); drawn from our generator so that a seed fixes them.
        _gru = nn.GRU(inputSize, hiddenSize);
        var native = _gru.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter.DetachFromDisposeScope());
        var items = new List<(string, Tensor)>
        {
            ("gru.weight_ih", native["weight_ih_l0"]), ("gru.weight_hh", native["weight_hh_l0"]),
            ("gru.bias_ih", native["bias_ih_l0"]), ("gru.bias_hh", native["bias_hh_l0"]),
        };
        using (no_grad())
        {
            items[0].Item2.copy_(U(3 * hiddenSize, inputSize)); items[1].Item2.copy_(U(3 * hiddenSize, hiddenSize));
            items[2].Item2.copy_(U(3 * hiddenSize)); items[3].Item2.copy_(U(3 * hiddenSize));
        }
        // The head is drawn after the GRU, as before the layer-norm cell existed: a seed gives the same run as then.
        var headLeaves = ParameterSet.Leaves(Head());
        Parameters = new ParameterSet([.. items, .. headLeaves.Names.Zip(headLeaves.Values)]);
    }

    /// <summary>
    /// The layer-normalised cell's parameters, initialised as pytorch_rl2's: Xavier-normal input weights and
    /// update/reset weights, an orthogonal candidate weight, no projection biases (the layer norms' biases
    /// play that part), layer-norm gains 1 and biases 0.
    /// </summary>
    static List<(string, Tensor)> LayerNormInit(int inputSize, int hiddenSize, Rng rng)
    {
        int h = hiddenSize;
        Tensor XavierNormal(int rows, int cols)
        {
            double std = Math.Sqrt(2.0 / (rows + cols));
            var data = new float[rows * cols];
            for (int i = 0; i < data.Length; i++) data[i] = (float)(std * rng.Normal());
            return tensor(data, [rows, cols]);
        }
        Tensor Orthogonal(int size)
        {
            var (q, r) = linalg.qr(XavierNormal(size, size));
            return q * r.diagonal().sign(); // the sign fix makes Q unique (uniform over orthogonal matrices)
        }
        return
        [
            ("gru.weight_ih", cat([XavierNormal(2 * h, inputSize), XavierNormal(h, inputSize)], 0)),
            ("gru.weight_hh", cat([XavierNormal(2 * h, h), Orthogonal(h)], 0)),
            ("gru.ln_ih_zr.weight", ones(2 * h)), ("gru.ln_ih_zr.bias", zeros(2 * h)),
            ("gru.ln_hh_zr.weight", ones(2 * h)), ("gru.ln_hh_zr.bias", zeros(2 * h)),
            ("gru.ln_ih_n.weight", ones(h)), ("gru.ln_ih_n.bias", zeros(h)),
            ("gru.ln_hh_n.weight", ones(h)), ("gru.ln_hh_n.bias", zeros(h)),
        ];
    }

    /// <summary>The layer-normalised cell's update gate is sigma(. - ForgetBias): it starts out mostly keeping the state.</summary>
    internal const double ForgetBias = 1.0;

    readonly TorchSharp.Modules.GRU? _gru;

    /// <summary>Whether libtorch's GRU module can run <paramref name="parameters"/>: the standard cell with this policy's own.</summary>
    bool Native(ParameterSet? parameters) => _gru is not null && (parameters is null || ReferenceEquals(parameters, Parameters));

    /// <summary>
    /// Hidden states [G, T, B, H] of G layer-normalised GRUs of hidden size <paramref name="hiddenSize"/>, one per
    /// parameter set in <paramref name="cells"/>, run over the same inputs [T, B, in] from h0 [G, B, H]. The G
    /// cells advance together, one batched product per layer norm and one of each elementwise op per step for
    /// all of them: an RL2 agent's policy and value GRUs take the ops of one. What runs per step is kept to the few ops the
    /// recurrence needs; everything that depends only on the inputs (their projections, layer norms, the
    /// recurrent layer norm's zr bias and the update gate's ForgetBias) is done once for all steps before the loop.
    /// The equations are the class summary's. A 12-update run of the MDP table's n = 25 setting takes 0.83 of the
    /// wall time it took with the two GRUs run one after the other, each step op by op as the summary writes it.
    /// </summary>
    public static Tensor LayerNormHiddens(IReadOnlyList<ParameterSet> cells, Tensor inputs, Tensor h0, int hiddenSize)
    {
        int hs = hiddenSize;
        long steps = inputs.shape[0];
        // LN(W_x,zr x) + b_h,zr - [ForgetBias (z), 0 (r)] and LN(W_x,n x), for every step and cell at once: [T, G, B, .].
        var shift = cat([full(hs, ForgetBias, dtype: inputs.dtype), zeros(hs, dtype: inputs.dtype)]);
        var zrIn = new List<Tensor>(cells.Count);
        var nIn = new List<Tensor>(cells.Count);
        foreach (var p in cells)
        {
            // A product per layer norm, not one split in two: layer norm copies a split's strided half first.
            var (wZrIn, wNIn) = ZrAndN(p["gru.weight_ih"], hs);
            zrIn.Add(LayerNorm(nn.functional.linear(inputs, wZrIn), p, "gru.ln_ih_zr") + (p["gru.ln_hh_zr.bias"] - shift));
            nIn.Add(LayerNorm(nn.functional.linear(inputs, wNIn), p, "gru.ln_ih_n"));
        }
        // unbind, not [t]: the backward of T selects would add T full-size gradients (quadratic in T).
        var giZr = stack(zrIn, 1).unbind(0);
        var giN = stack(nIn, 1).unbind(0);
        Tensor Stacked(string name) => stack(cells.Select(p => p[name]), 0).unsqueeze(1); // [G, 1, size]
        // [G, H, 2H] and [G, H, H] as views of the stacked [G, 2H, H] and [G, H, H] weights: the backward's products
        // with their transposes then read contiguous memory. Stacked as [G, H, 3H] instead, that product went
        // through a transposed copy: 230 us a step against 77 (2 x 50 trials, 128 units), a tenth of the
        // recurrence's forward and backward. Two products, as above, so that each layer norm reads contiguous memory.
        var whh = cells.Select(p => ZrAndN(p["gru.weight_hh"], hs)).ToList();
        var whhZr = stack(whh.Select(w => w.Zr), 0).transpose(1, 2);
        var whhN = stack(whh.Select(w => w.N), 0).transpose(1, 2);
        var wZr = Stacked("gru.ln_hh_zr.weight");
        var wN = Stacked("gru.ln_hh_n.weight");
        var bN = Stacked("gru.ln_hh_n.bias");
        long[] zrShape = [2L * hs], nShape = [hs];
        var h = h0;
        var hiddens = new List<Tensor>((int)steps);
        for (int t = 0; t < steps; t++)
        {
            // Each step's intermediates go as soon as it is done (autograd keeps what the backward pass needs):
            // held to the end of the caller's scope they took about 20 GB at 250,000 steps with 256 units.
            using var step = NewDisposeScope();
            var zr = addcmul(giZr[t], nn.functional.layer_norm(bmm(h, whhZr), zrShape, eps: 1e-5), wZr, 1).sigmoid().chunk(2, -1);
            var n = addcmul(giN[t], zr[1], addcmul(bN, nn.functional.layer_norm(bmm(h, whhN), nShape, eps: 1e-5), wN, 1), 1).relu();
            hiddens.Add(h = h.lerp(n, zr[0]).MoveToOuterDisposeScope()); // (1 - z) h + z n
        }
        return stack(hiddens, 1);
    }

    /// <summary>
    /// One step of the layer-normalised cell (the sampler's): the class summary's equations for a single step,
    /// without <see cref="LayerNormHiddens"/>'s set-up for a sequence, which costs more ops than a step.
    /// </summary>
    Tensor LayerNormCell(Tensor x, Tensor h, ParameterSet p)
    {
        var gi = nn.functional.linear(x, p["gru.weight_ih"]).split([2L * HiddenSize, HiddenSize], -1);
        var gh = nn.functional.linear(h, p["gru.weight_hh"]).split([2L * HiddenSize, HiddenSize], -1);
        var zr = (LayerNorm(gi[0], p, "gru.ln_ih_zr") + LayerNorm(gh[0], p, "gru.ln_hh_zr")).chunk(2, -1);
        var z = (zr[0] - ForgetBias).sigmoid();
        var n = addcmul(LayerNorm(gi[1], p, "gru.ln_ih_n"), zr[1].sigmoid(), LayerNorm(gh[1], p, "gru.ln_hh_n"), 1).relu();
        return h.lerp(n, z); // (1 - z) h + z n
    }

    /// <summary>The rows of a [3H, in] GRU weight that feed the update and reset gates ([2H, in]) and the candidate ([H, in]).</summary>
    static (Tensor Zr, Tensor N) ZrAndN(Tensor weight, int hiddenSize) =>
        (weight.narrow(0, 0, 2L * hiddenSize), weight.narrow(0, 2L * hiddenSize, hiddenSize));

    /// <summary>Layer norm over the last dimension with the gain and bias <paramref name="name"/>.weight and .bias.</summary>
    static Tensor LayerNorm(Tensor x, ParameterSet p, string name) =>
        nn.functional.layer_norm(x, [x.shape[^1]], p[name + ".weight"], p[name + ".bias"], 1e-5);

    public int InputSize { get; }
    public int HiddenSize { get; }
    public GruCell CellKind { get; }
    public Space ActionSpace { get; }
    public ParameterSet Parameters { get; }

    public Tensor InitialState(int batch) => zeros(batch, HiddenSize);

    /// <summary>One GRU step: the next hidden state [B, H] from inputs [B, in] and hidden [B, H].</summary>
    public Tensor Cell(Tensor x, Tensor h, ParameterSet? parameters = null)
    {
        if (Native(parameters)) return _gru!.forward(x.unsqueeze(0), h.unsqueeze(0)).Item2.squeeze(0);
        var p = parameters ?? Parameters;
        if (CellKind == GruCell.LayerNorm) return LayerNormCell(x, h, p);
        var gi = nn.functional.linear(x, p["gru.weight_ih"], p["gru.bias_ih"]).chunk(3, -1);
        var gh = nn.functional.linear(h, p["gru.weight_hh"], p["gru.bias_hh"]).chunk(3, -1);
        var r = (gi[0] + gh[0]).sigmoid();
        var z = (gi[1] + gh[1]).sigmoid();
        var n = (gi[2] + r * gh[2]).tanh();
        return (1 - z) * n + z * h;
    }

    /// <summary>The action distribution read from hidden states [..., H].</summary>
    public IActionDistribution Head(Tensor hidden, ParameterSet? parameters = null)
    {
        var p = parameters ?? Parameters;
        var o = Mlp.Forward(hidden, p, "head.", 1, Activation.Tanh);
        return ActionSpace is Discrete ? new Categorical(o) : new DiagGaussian(o, p["log_std"]);
    }

    /// <summary>
    /// The hidden states [T, B, H] of the GRU run over inputs [T, B, in] from h0 [B, H] (with the graph, for
    /// backpropagation through time). Op by op (other parameters), the input projection W_i x + b_i is one
    /// matrix product over all steps, as in cuDNN's and ATen's GRU; only the recurrent product remains per step.
    /// Each step's intermediates are released as soon as the step is done (autograd keeps its own reference to
    /// what the backward pass needs): held to the end of the caller's scope, they took about 20 GB at the
    /// paper's 250,000 steps per update with 256 units.
    /// </summary>
    public Tensor Hiddens(Tensor inputs, Tensor h0, ParameterSet? parameters = null)
    {
        if (Native(parameters)) return _gru!.forward(inputs, h0.unsqueeze(0)).Item1;
        var p = parameters ?? Parameters;
        if (CellKind == GruCell.LayerNorm) return LayerNormHiddens([p], inputs, h0.unsqueeze(0), HiddenSize)[0];
        long steps = inputs.shape[0];
        var h = h0;
        var hiddens = new List<Tensor>((int)steps);
        // unbind, not gi[t]: the backward of T selects would add T full-size gradients of gi (quadratic in T).
        var gi = nn.functional.linear(inputs, p["gru.weight_ih"], p["gru.bias_ih"]).unbind(0);
        for (long t = 0; t < steps; t++)
        {
            using var step = NewDisposeScope();
            var git = gi[t].chunk(3, -1);
            var gh = nn.functional.linear(h, p["gru.weight_hh"], p["gru.bias_hh"]).chunk(3, -1);
            var r = (git[0] + gh[0]).sigmoid();
            var z = (git[1] + gh[1]).sigmoid();
            var n = (git[2] + r * gh[2]).tanh();
            h = (n + z * (h - n)).MoveToOuterDisposeScope(); // = (1 - z) n + z h
            hiddens.Add(h);
        }
        return stack(hiddens, 0);
    }

    /// <summary>
    /// Runs the GRU over a whole sequence of inputs [T, B, in] from h0 [B, H] and returns the action
    /// distributions [T, B] (for the policy-gradient loss, backpropagating through time) and the last state.
    /// Where <paramref name="resetBefore"/>[t, b] is 1 the hidden state is zeroed before step t (a new trial).
    /// </summary>
    public (IActionDistribution Distribution, Tensor LastHidden) Sequence(Tensor inputs, Tensor h0, Tensor? resetBefore = null, ParameterSet? parameters = null)
    {
        long steps = inputs.shape[0];
        var h = h0;
        var hiddens = new List<Tensor>((int)steps);
        for (long t = 0; t < steps; t++)
        {
            using var step = NewDisposeScope();
            if (resetBefore is not null) h = h * (1 - resetBefore[t]).unsqueeze(-1);
            h = Cell(inputs[t], h, parameters).MoveToOuterDisposeScope();
            hiddens.Add(h);
        }
        return (Head(stack(hiddens, 0), parameters), h);
    }

    /// <summary>The sampler's fast path: one step for <paramref name="count"/> inputs; returns the next hidden state (no graph).</summary>
    public Tensor Act(float[] inputs, int count, Tensor hidden, float[] actions, Rng rng, ParameterSet? parameters = null, bool deterministic = false)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope(); // the step's intermediates go when it returns, not at the end of the caller's whole rollout
        var x = tensor(inputs.AsSpan(0, count * InputSize).ToArray(), [count, InputSize]);
        var next = Cell(x, hidden, parameters).DetachFromDisposeScope();
        ActionSampling.Write(Head(next, parameters), ActionSpace, count, actions, rng, deterministic);
        return next;
    }
}

/// <summary>The recurrent cell of a <see cref="GruPolicy"/>.</summary>
public enum GruCell
{
    /// <summary>PyTorch's GRU (Cho et al. 2014): tanh candidate, unnormalised.</summary>
    Standard,
    /// <summary>pytorch_rl2's: layer-normalised projections, ReLU candidate, update gate biased to keep the state.</summary>
    LayerNorm,
}
