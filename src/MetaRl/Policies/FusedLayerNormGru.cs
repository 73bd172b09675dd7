using System.Runtime.InteropServices;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static TorchSharp.torch;

namespace MetaRl.Policies;

/// <summary>
/// G layer-normalised GRUs (<see cref="GruCell.LayerNorm"/>) run over a sequence from zero states, for PPO's
/// passes of backpropagation through time: each step's elementwise work is one pass over the rows in C#
/// (8-float AVX2 vectors), the backward pass is written out below, and only the matrix products go to libtorch.
/// Op by op (<see cref="GruPolicy.LayerNormHiddens"/>) a step records about thirty autograd nodes whose
/// kernels are each a few microseconds of work on tensors of a few thousand floats; here a step is one product
/// forward and one backward, and the weights' gradients are one product each over all steps at the end.
///
/// Per cell and row, with u = W_ih x and g = W_hh h split into their [zr; n] parts, and LN without gain:
///   gi_zr = w_ih,zr * LN(u_zr) + b_ih,zr + b_hh,zr - [ForgetBias; 0],   gi_n = w_ih,n * LN(u_n) + b_ih,n
///   x_zr = LN(g_zr),  [z; r] = sigma(gi_zr + w_hh,zr * x_zr)
///   x_n = LN(g_n),  a = w_hh,n * x_n + b_hh,n,  n = relu(gi_n + r * a),  h' = h + z (n - h)
/// (GruPolicy's equations, with the layer norms' gains and biases written out). Backward from dh (the loss's
/// gradient of h' plus what flows back from step t + 1):
///   dz = dh (n - h),  dn = dh z,  dh_direct = dh (1 - z),  dgi_n = dn [n > 0],
///   dr = dgi_n a,  da = dgi_n r,  db_hh,n += da,  dw_hh,n += da x_n,  dg_n = LN'(da w_hh,n),
///   dgi_zr = d[z; r] sigma (1 - sigma),  dw_hh,zr += dgi_zr x_zr,  dg_zr = LN'(dgi_zr w_hh,zr),
///   db_ih,zr = db_hh,zr += dgi_zr,  dw_ih,zr += dgi_zr LN(u_zr),  du_zr = LN'(dgi_zr w_ih,zr),  and so for n,
///   dh_prev = dh_direct + W_hh^T [dg_zr; dg_n],  dW_hh = sum of [dg_zr; dg_n] h^T,  dW_ih = sum of du x^T,
/// where LN'(dy) = rstd (dy - mean(dy) - y mean(dy y)) is layer norm's backward at its output y. The weights'
/// sums run over every step and row. Under autograd the recurrence is one node of the graph (an autograd
/// function): the loss's backward reaches it with the hidden states' gradient and it returns the cells'
/// parameter gradients, so the recurrence differentiates like any other op (and gradient combiners see it).
/// </summary>
public sealed class FusedLayerNormGru
{
    const int V = 8; // floats per Vector256

    /// <summary>
    /// Whether the fused recurrence can run these cells: float32 on the CPU, AVX2 and FMA, a hidden size that is a
    /// multiple of 8, and buffers each under 2 GB (spans over tensor memory). Otherwise callers run
    /// <see cref="GruPolicy.LayerNormHiddens"/>.
    /// </summary>
    public static bool Supports(Tensor inputs, int cells, int hiddenSize)
    {
        if (!Avx2.IsSupported || !Fma.IsSupported || hiddenSize % V != 0) return false;
        if (inputs.dtype != ScalarType.Float32 || inputs.device_type != TorchSharp.DeviceType.CPU) return false;
        long steps = inputs.shape[0], rows = cells * inputs.shape[1];
        return steps * rows * TapeWidth(hiddenSize) * sizeof(float) < int.MaxValue;
    }

    /// <summary>Floats saved per row and step for the backward pass: x_zr, [z; r], x_n, a, n, LN(u_zr), LN(u_n).</summary>
    static int TapeWidth(int h) => 10 * h;

    /// <summary>The layer norms' reciprocal standard deviations saved per row and step: of g_zr, g_n, u_zr, u_n.</summary>
    const int Rstds = 4;

    /// <summary>
    /// The recurrence's buffers, kept from one sequence to the next of the same shape: PPO runs the same shapes
    /// every minibatch, and fresh buffers of this size (tens of megabytes) cost more in first-touch page faults
    /// than the recurrence's own arithmetic. A sequence's <see cref="Hiddens"/> stay valid until the workspace
    /// runs another sequence of the same shape.
    /// </summary>
    public sealed class Workspace : IDisposable
    {
        readonly Dictionary<(int G, int T, int B, int H), Tensor[]> _buffers = new();

        internal Tensor[] For(int g, int t, int b, int h)
        {
            if (_buffers.TryGetValue((g, t, b, h), out var found)) return found;
            var made = Allocate(g, t, b, h);
            foreach (var m in made) m.DetachFromDisposeScope();
            _buffers[(g, t, b, h)] = made;
            return made;
        }

        /// <summary>states [G, T + 1, B, H], tape [G, T, B, 10H], rstd [G, T, B, 4], dGh [G, T, B, 3H], dU [T, B, G * 3H].</summary>
        internal static Tensor[] Allocate(int g, int t, int b, int h) =>
            [empty(g, t + 1, b, h), empty(g, t, b, TapeWidth(h)), empty(g, t, b, Rstds), empty(g, t, b, 3 * h), empty(t, b, g * 3 * h)];

        public void Dispose()
        {
            foreach (var set in _buffers.Values) foreach (var m in set) m.Dispose();
            _buffers.Clear();
        }
    }

    /// <summary>One cell's gains and biases, as float arrays for the row kernels.</summary>
    sealed class Cell(ParameterSet p, int h)
    {
        public readonly float[] WIhZr = Copy(p["gru.ln_ih_zr.weight"]), WIhN = Copy(p["gru.ln_ih_n.weight"]), BIhN = Copy(p["gru.ln_ih_n.bias"]);
        public readonly float[] WZr = Copy(p["gru.ln_hh_zr.weight"]), WN = Copy(p["gru.ln_hh_n.weight"]), BN = Copy(p["gru.ln_hh_n.bias"]);
        /// <summary>b_ih,zr + b_hh,zr - [ForgetBias; 0]: the gates' constant term.</summary>
        public readonly float[] BZr = Copy(p["gru.ln_ih_zr.bias"] + p["gru.ln_hh_zr.bias"]
            - cat([full(h, GruPolicy.ForgetBias), zeros(h)]));
        static float[] Copy(Tensor t) => t.detach().cpu().data<float>().ToArray();
    }

    readonly Cell[] _cellValues;
    readonly int _g, _t, _b, _h;
    readonly Tensor _inputs;          // [T, B, in]
    readonly Tensor _w;               // [G, 3H, H]: every cell's W_hh
    readonly Tensor _states;          // [G, T + 1, B, H]: h0 = 0, then every step's state
    readonly Tensor _tape, _rstd;     // [G, T, B, 10H] and [G, T, B, 4]
    readonly Tensor _dGh, _dU;        // the backward's gradients of every step's W_hh h ([G, T, B, 3H]) and W_ih x ([T, B, G * 3H])

    /// <summary>
    /// The hidden states [G, T, B, H] (a view of the recurrence's buffer). Under autograd they are the output of the
    /// recurrence's node (<see cref="Recurrence"/>), whose backward carries their gradient on to the cells' parameters.
    /// </summary>
    public Tensor Hiddens { get; }

    /// <summary>
    /// Runs G cells (parameter sets as <see cref="GruPolicy"/>'s layer-norm cell) over inputs [T, B, in] from zero
    /// states, in <paramref name="workspace"/>'s buffers (fresh ones without it).
    /// </summary>
    public FusedLayerNormGru(IReadOnlyList<ParameterSet> cells, Tensor inputs, int hiddenSize, Workspace? workspace = null)
    {
        if (!Supports(inputs, cells.Count, hiddenSize)) throw new ArgumentException("the fused recurrence does not support these inputs; see Supports", nameof(inputs));
        _g = cells.Count; _t = (int)inputs.shape[0]; _b = (int)inputs.shape[1]; _h = hiddenSize;
        bool forBackward = is_grad_enabled();
        using (no_grad())
        {
            _cellValues = cells.Select(p => new Cell(p, hiddenSize)).ToArray();
            _inputs = inputs.detach().contiguous();
            _w = stack(cells.Select(p => p["gru.weight_hh"]), 0).contiguous();
            var buffers = workspace?.For(_g, _t, _b, _h) ?? Workspace.Allocate(_g, _t, _b, _h); // the latter in the caller's scope
            (_states, _tape, _rstd, _dGh, _dU) = (buffers[0], buffers[1], buffers[2], buffers[3], buffers[4]);
            _states.select(1, 0).zero_();
            // u = W_ih x for every step, row and cell in one product: [T, B, G * 3H].
            var u = nn.functional.linear(_inputs, cat(cells.Select(p => p["gru.weight_ih"]).ToList(), 0));
            Forward(u, forBackward);
        }
        var hiddens = _states.narrow(1, 1, _t);
        Hiddens = forBackward ? Recurrence.apply([this, .. cells.SelectMany(c => GradientNames.Select(name => c[name]))]) : hiddens;
    }

    /// <summary>The cells' parameters the recurrence differentiates, in the order <see cref="Recurrence"/> takes and returns them.</summary>
    static readonly string[] GradientNames =
    [
        "gru.weight_ih", "gru.weight_hh", "gru.ln_ih_zr.weight", "gru.ln_ih_zr.bias", "gru.ln_hh_zr.weight", "gru.ln_hh_zr.bias",
        "gru.ln_ih_n.weight", "gru.ln_ih_n.bias", "gru.ln_hh_n.weight", "gru.ln_hh_n.bias",
    ];

    /// <summary>
    /// The recurrence as one autograd node: its input is the fused recurrence (already run) and every cell's
    /// parameters, its output the hidden states [G, T, B, H]; backward carries their gradient through time.
    /// </summary>
    sealed class Recurrence : autograd.SingleTensorFunction<Recurrence>
    {
        public override string Name => nameof(FusedLayerNormGru);

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var fused = (FusedLayerNormGru)vars[0];
            ctx.save_data(nameof(FusedLayerNormGru), fused);
            return fused._states.narrow(1, 1, fused._t);
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput) =>
            [null!, .. ((FusedLayerNormGru)ctx.get_data(nameof(FusedLayerNormGru))).ParameterGradients(gradOutput)];
    }

    static Span<float> Floats(Tensor t) => MemoryMarshal.Cast<byte, float>(t.bytes);

    /// <summary>A row's saved values, named, over its 10H floats of the tape.</summary>
    readonly ref struct Saved
    {
        public readonly Span<float> XZr, Zr, XN, A, N, XiZr, XiN; // x_zr, [z; r], x_n, a, n, LN(u_zr), LN(u_n)
        public Saved(Span<float> tape, int h)
        {
            XZr = tape[..(2 * h)]; Zr = tape.Slice(2 * h, 2 * h); XN = tape.Slice(4 * h, h); A = tape.Slice(5 * h, h);
            N = tape.Slice(6 * h, h); XiZr = tape.Slice(7 * h, 2 * h); XiN = tape.Slice(9 * h, h);
        }
    }

    /// <summary>Offsets of row (t, g, b): in [G, T, B] (tape, rstd, dGh), in [G, T + 1, B] (states: h before the step), in [T, B, G] (u, dU).</summary>
    (int Cur, int Prev, int U) Rows(int t, int g, int b) => ((g * _t + t) * _b + b, (g * (_t + 1) + t) * _b + b, (t * _b + b) * _g + g);

    /// <summary>The recurrence; <paramref name="save"/>: keep every row's values for the backward pass (else one row's scratch serves them all).</summary>
    void Forward(Tensor u, bool save)
    {
        int h = _h, h2 = 2 * h, h3 = 3 * h, width = TapeWidth(h);
        var wT = _w.transpose(1, 2).contiguous(); // [G, H, 3H]: g = h W_hh^T for every cell in one product
        var us = Floats(u); var states = Floats(_states); var tape = Floats(_tape); var rstd = Floats(_rstd);
        var giZr = new float[h2]; var giN = new float[h];
        var scratch = new float[width]; var scratchRstd = new float[Rstds]; // PPO's no-grad pass over the whole batch saves nothing
        for (int t = 0; t < _t; t++)
        {
            using var step = NewDisposeScope();
            var gh = bmm(_states.select(1, t), wT); // [G, B, 3H]
            var ghs = Floats(gh);
            for (int g = 0; g < _g; g++)
            {
                var c = _cellValues[g];
                for (int b = 0; b < _b; b++)
                {
                    var (cur, prev, ur) = Rows(t, g, b);
                    var uRow = us.Slice(ur * h3, h3);
                    var gRow = ghs.Slice((g * _b + b) * h3, h3);
                    var sv = new Saved(save ? tape.Slice(cur * width, width) : scratch, h);
                    var rs = save ? rstd.Slice(cur * Rstds, Rstds) : scratchRstd;
                    rs[2] = Normalize(uRow[..h2], sv.XiZr);
                    Affine(sv.XiZr, c.WIhZr, c.BZr, giZr);
                    rs[3] = Normalize(uRow[h2..], sv.XiN);
                    Affine(sv.XiN, c.WIhN, c.BIhN, giN);
                    rs[0] = Normalize(gRow[..h2], sv.XZr);
                    rs[1] = Normalize(gRow[h2..], sv.XN);
                    GatesForward(giZr, c.WZr, sv.XZr, sv.Zr);
                    CandidateForward(giN, c.WN, c.BN, sv.XN, sv.Zr[h..], sv.A, sv.N);
                    Lerp(states.Slice(prev * h, h), sv.N, sv.Zr[..h], states.Slice((prev + _b) * h, h));
                }
            }
        }
    }

    /// <summary>
    /// Carries the hidden states' gradient <paramref name="grad"/> [G, T, B, H] back through time; returns every
    /// cell's parameter gradients in <see cref="GradientNames"/>' order.
    /// </summary>
    List<Tensor> ParameterGradients(Tensor grad)
    {
        int h = _h, h2 = 2 * h, h3 = 3 * h, width = TapeWidth(h);
        // Per cell: dw_ih,zr, db_zr (b_ih,zr's and b_hh,zr's), dw_hh,zr, dw_ih,n, db_ih,n, dw_hh,n, db_hh,n.
        var dWIhZr = new float[_g * h2]; var dBZr = new float[_g * h2]; var dWZr = new float[_g * h2];
        var dWIhN = new float[_g * h]; var dBIhN = new float[_g * h]; var dWN = new float[_g * h]; var dBN = new float[_g * h];
        var dh = new float[h]; var dzr = new float[h2]; var dgiN = new float[h]; var dx = new float[h2];
        var carry = zeros(_g, _b, h); // what flows into h_t from step t + 1
        using (no_grad())
        {
            var dOut = Floats(grad.contiguous()); var states = Floats(_states); var tape = Floats(_tape); var rstd = Floats(_rstd);
            var dGh = Floats(_dGh); var dU = Floats(_dU);
            for (int t = _t - 1; t >= 0; t--)
            {
                using var step = NewDisposeScope();
                var direct = empty(_g, _b, h);
                var carries = Floats(carry); var directs = Floats(direct);
                for (int g = 0; g < _g; g++)
                {
                    var c = _cellValues[g];
                    int o = g * h, o2 = g * h2;
                    for (int b = 0; b < _b; b++)
                    {
                        var (cur, prev, ur) = Rows(t, g, b);
                        var sv = new Saved(tape.Slice(cur * width, width), h);
                        var rs = rstd.Slice(cur * Rstds, Rstds);
                        var dGhRow = dGh.Slice(cur * h3, h3);
                        var dURow = dU.Slice(ur * h3, h3);
                        Add(dOut.Slice(cur * h, h), carries.Slice((g * _b + b) * h, h), dh);
                        // h' = h + z (n - h): dz (into dzr's z half), dn (over dh), and the direct path to h
                        LerpBackward(dh, states.Slice(prev * h, h), sv.N, sv.Zr[..h], dzr.AsSpan(0, h), directs.Slice((g * _b + b) * h, h));
                        // n = relu(gi_n + r a), a = w_hh,n x_n + b_hh,n: dgi_n, dr (into dzr's r half), dx_n, then dg_n
                        CandidateBackward(dh, sv.Zr[h..], sv.A, sv.N, sv.XN, c.WN, dgiN, dzr.AsSpan(h, h), dWN.AsSpan(o, h), dBN.AsSpan(o, h), dx.AsSpan(0, h));
                        NormalizeBackward(dx.AsSpan(0, h), sv.XN, rs[1], dGhRow[h2..]);
                        // gi_n = w_ih,n LN(u_n) + b_ih,n: du_n
                        AffineBackward(dgiN, sv.XiN, c.WIhN, dWIhN.AsSpan(o, h), dBIhN.AsSpan(o, h), dx.AsSpan(0, h));
                        NormalizeBackward(dx.AsSpan(0, h), sv.XiN, rs[3], dURow[h2..]);
                        // [z; r] = sigma(gi_zr + w_hh,zr x_zr): dgi_zr (over dzr), dx_zr, then dg_zr
                        GatesBackward(dzr, sv.Zr, sv.XZr, c.WZr, dWZr.AsSpan(o2, h2), dx);
                        NormalizeBackward(dx, sv.XZr, rs[0], dGhRow[..h2]);
                        // gi_zr = w_ih,zr LN(u_zr) + b_zr: du_zr
                        AffineBackward(dzr, sv.XiZr, c.WIhZr, dWIhZr.AsSpan(o2, h2), dBZr.AsSpan(o2, h2), dx);
                        NormalizeBackward(dx, sv.XiZr, rs[2], dURow[..h2]);
                    }
                }
                // dh_{t-1} = direct + W_hh^T dg for every cell in one product.
                var next = bmm(_dGh.select(1, t), _w).add_(direct).MoveToOuterDisposeScope();
                carry.Dispose();
                carry = next;
            }
        }
        Tensor dWhh, dWih;
        using (no_grad())
        {
            long rows = (long)_t * _b;
            // dW_hh = sum of dg h^T, dW_ih = sum of du x^T: one product each over every step and row.
            dWhh = bmm(_dGh.view(_g, rows, h3).transpose(1, 2), _states.narrow(1, 0, _t).reshape(_g, rows, h));
            dWih = _dU.view(rows, _g * h3).t().mm(_inputs.view(rows, -1));
        }
        Tensor Grad(float[] d, int offset, int size) => tensor(d.AsSpan(offset, size).ToArray());
        var grads = new List<Tensor>();
        for (int g = 0; g < _g; g++)
            grads.AddRange( // in GradientNames' order
            [
                dWih.narrow(0, g * h3, h3), dWhh[g], Grad(dWIhZr, g * h2, h2), Grad(dBZr, g * h2, h2), Grad(dWZr, g * h2, h2),
                Grad(dBZr, g * h2, h2), Grad(dWIhN, g * h, h), Grad(dBIhN, g * h, h), Grad(dWN, g * h, h), Grad(dBN, g * h, h),
            ]);
        return grads;
    }

    // ---- the row kernels (every span's length is a multiple of 8) ----

    static Span<Vector256<float>> Vec(Span<float> s) => MemoryMarshal.Cast<float, Vector256<float>>(s);
    static ReadOnlySpan<Vector256<float>> Vec(ReadOnlySpan<float> s) => MemoryMarshal.Cast<float, Vector256<float>>(s);

    const float Eps = 1e-5f; // libtorch's layer norm default, as GruPolicy uses

    /// <summary>x = (g - mean) / sqrt(var + eps) over the row (biased variance, as layer norm); returns 1 / sqrt(var + eps).</summary>
    static float Normalize(ReadOnlySpan<float> g, Span<float> x)
    {
        var gv = Vec(g); var xv = Vec(x);
        var sum = Vector256<float>.Zero;
        foreach (var v in gv) sum += v;
        var mean = Vector256.Create(Vector256.Sum(sum) / g.Length);
        var sq = Vector256<float>.Zero;
        foreach (var v in gv) { var d = v - mean; sq += d * d; }
        float rstd = 1f / MathF.Sqrt(Vector256.Sum(sq) / g.Length + Eps);
        var r = Vector256.Create(rstd);
        for (int i = 0; i < gv.Length; i++) xv[i] = (gv[i] - mean) * r;
        return rstd;
    }

    /// <summary>Layer norm's backward at its output x: dg = rstd (dx - mean(dx) - x mean(dx x)).</summary>
    static void NormalizeBackward(ReadOnlySpan<float> dx, ReadOnlySpan<float> x, float rstd, Span<float> dg)
    {
        var dxv = Vec(dx); var xv = Vec(x); var dgv = Vec(dg);
        Vector256<float> s1 = Vector256<float>.Zero, s2 = Vector256<float>.Zero;
        for (int i = 0; i < dxv.Length; i++) { s1 += dxv[i]; s2 += dxv[i] * xv[i]; }
        var m1 = Vector256.Create(Vector256.Sum(s1) / dx.Length);
        var m2 = Vector256.Create(Vector256.Sum(s2) / dx.Length);
        var r = Vector256.Create(rstd);
        for (int i = 0; i < dxv.Length; i++) dgv[i] = r * (dxv[i] - m1 - xv[i] * m2);
    }

    /// <summary>[z; r] = sigma(gi + w x).</summary>
    static void GatesForward(ReadOnlySpan<float> gi, ReadOnlySpan<float> w, ReadOnlySpan<float> x, Span<float> zr)
    {
        var giv = Vec(gi); var wv = Vec(w); var xv = Vec(x); var zv = Vec(zr);
        for (int i = 0; i < zv.Length; i++) zv[i] = Vector256<float>.One / (Vector256<float>.One + Exp(-(giv[i] + wv[i] * xv[i])));
    }

    /// <summary>
    /// e^x, 8 at a time: x = k ln 2 + r with |r| &lt;= ln 2 / 2, e^r by Cephes' single-precision polynomial, 2^k
    /// written into the exponent bits (relative error below 2e-7 over [-87, 88]; clamped outside). Twice as fast
    /// as Vector256.Exp here, which made the gates the costliest part of a step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Exp(Vector256<float> x)
    {
        x = Avx.Min(Avx.Max(x, Vector256.Create(-87.3f)), Vector256.Create(88.3f));
        var k = Avx.RoundToNearestInteger(Avx.Multiply(x, Vector256.Create(1.44269504088896341f))); // x / ln 2
        var r = Fma.MultiplyAddNegated(k, Vector256.Create(0.693359375f), x);                    // x - k ln 2, in two parts
        r = Fma.MultiplyAddNegated(k, Vector256.Create(-2.12194440e-4f), r);
        var p = Vector256.Create(1.9875691500e-4f);
        p = Fma.MultiplyAdd(p, r, Vector256.Create(1.3981999507e-3f));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(8.3334519073e-3f));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(4.1665795894e-2f));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(1.6666665459e-1f));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(5.0000001201e-1f));
        p = Fma.MultiplyAdd(p, Avx.Multiply(r, r), Avx.Add(r, Vector256<float>.One));
        var twoToK = Avx2.ShiftLeftLogical(Avx2.Add(Avx.ConvertToVector256Int32(k), Vector256.Create(127)), 23).AsSingle();
        return Avx.Multiply(p, twoToK);
    }

    /// <summary>Through [z; r] = sigma(pre), pre = gi + w x: dpre = d[z; r] sigma (1 - sigma) over d, dw += dpre x, dx = dpre w.</summary>
    static void GatesBackward(Span<float> d, ReadOnlySpan<float> zr, ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> dw, Span<float> dx)
    {
        var dv = Vec(d); var zv = Vec(zr); var xv = Vec(x); var wv = Vec(w); var dwv = Vec(dw); var dxv = Vec(dx);
        for (int i = 0; i < dv.Length; i++)
        {
            var dp = dv[i] * zv[i] * (Vector256<float>.One - zv[i]);
            dv[i] = dp; dwv[i] += dp * xv[i]; dxv[i] = dp * wv[i];
        }
    }

    /// <summary>y = w x + b.</summary>
    static void Affine(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y)
    {
        var xv = Vec(x); var wv = Vec(w); var bv = Vec(bias); var yv = Vec(y);
        for (int i = 0; i < yv.Length; i++) yv[i] = wv[i] * xv[i] + bv[i];
    }

    /// <summary>Through y = w x + b: db += dy, dw += dy x, dx = dy w.</summary>
    static void AffineBackward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> dw, Span<float> db, Span<float> dx)
    {
        var dyv = Vec(dy); var xv = Vec(x); var wv = Vec(w); var dwv = Vec(dw); var dbv = Vec(db); var dxv = Vec(dx);
        for (int i = 0; i < dyv.Length; i++) { dbv[i] += dyv[i]; dwv[i] += dyv[i] * xv[i]; dxv[i] = dyv[i] * wv[i]; }
    }

    /// <summary>a = w x + b, n = relu(gi + r a).</summary>
    static void CandidateForward(ReadOnlySpan<float> gi, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, ReadOnlySpan<float> x, ReadOnlySpan<float> r, Span<float> a, Span<float> n)
    {
        var giv = Vec(gi); var wv = Vec(w); var bv = Vec(bias); var xv = Vec(x); var rv = Vec(r); var av = Vec(a); var nv = Vec(n);
        for (int i = 0; i < av.Length; i++)
        {
            av[i] = wv[i] * xv[i] + bv[i];
            nv[i] = Vector256.Max(giv[i] + rv[i] * av[i], Vector256<float>.Zero);
        }
    }

    /// <summary>Through n = relu(gi + r a), a = w x + b: dgi = dn [n > 0], dr = dgi a, db += dgi r, dw += dgi r x, dx = dgi r w.</summary>
    static void CandidateBackward(ReadOnlySpan<float> dhz, ReadOnlySpan<float> r, ReadOnlySpan<float> a, ReadOnlySpan<float> n, ReadOnlySpan<float> x, ReadOnlySpan<float> w,
        Span<float> dgi, Span<float> dr, Span<float> dw, Span<float> db, Span<float> dx)
    {
        // dhz holds dn = dh z (written by LerpBackward)
        var dnv = Vec(dhz); var rv = Vec(r); var av = Vec(a); var nv = Vec(n); var xv = Vec(x); var wv = Vec(w);
        var dgv = Vec(dgi); var drv = Vec(dr); var dwv = Vec(dw); var dbv = Vec(db); var dxv = Vec(dx);
        for (int i = 0; i < dnv.Length; i++)
        {
            var d = Vector256.ConditionalSelect(Vector256.GreaterThan(nv[i], Vector256<float>.Zero), dnv[i], Vector256<float>.Zero);
            dgv[i] = d;
            drv[i] = d * av[i];
            var da = d * rv[i];
            dbv[i] += da; dwv[i] += da * xv[i]; dxv[i] = da * wv[i];
        }
    }

    /// <summary>h' = h + z (n - h).</summary>
    static void Lerp(ReadOnlySpan<float> h, ReadOnlySpan<float> n, ReadOnlySpan<float> z, Span<float> next)
    {
        var hv = Vec(h); var nv = Vec(n); var zv = Vec(z); var ov = Vec(next);
        for (int i = 0; i < ov.Length; i++) ov[i] = hv[i] + zv[i] * (nv[i] - hv[i]);
    }

    /// <summary>Through h' = h + z (n - h): dz = dh (n - h) into dz, dh z (= dn) over dh, dh (1 - z) into direct.</summary>
    static void LerpBackward(Span<float> dh, ReadOnlySpan<float> h, ReadOnlySpan<float> n, ReadOnlySpan<float> z, Span<float> dz, Span<float> direct)
    {
        var dv = Vec(dh); var hv = Vec(h); var nv = Vec(n); var zv = Vec(z); var dzv = Vec(dz); var ov = Vec(direct);
        for (int i = 0; i < dv.Length; i++)
        {
            dzv[i] = dv[i] * (nv[i] - hv[i]);
            ov[i] = dv[i] * (Vector256<float>.One - zv[i]);
            dv[i] *= zv[i];
        }
    }

    static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> sum)
    {
        var av = Vec(a); var bv = Vec(b); var sv = Vec(sum);
        for (int i = 0; i < sv.Length; i++) sv[i] = av[i] + bv[i];
    }
}
