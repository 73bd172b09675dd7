using System.Runtime.InteropServices;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MetaRl.Torch;
using static TorchSharp.torch;

namespace MetaRl.Policies;

/// <summary>
/// G layer-normalised GRUs (<see cref="GruCell.LayerNorm"/>) run over a sequence from zero states, for PPO's
/// passes of backpropagation through time: each step's elementwise work is one pass over the rows in C#
/// (8-float vectors), its backward pass is written out below, and only the matrix products go to libtorch.
/// Op by op (<see cref="GruPolicy.LayerNormHiddens"/>) a step records about thirty autograd nodes whose
/// kernels are each a few microseconds of work on tensors of a few thousand floats; here a step is one product
/// forward and one backward, and the recurrent weights' gradient is a single product over all steps at the end.
///
/// Per cell and row, with g = W_hh h split into its [zr; n] parts and LN without gain (the cells' gains differ):
///   x_zr = LN(g_zr),  [z; r] = sigma(gi_zr + w_zr * x_zr)      (gi_zr = LN(W_x,zr x) + b_zr - [ForgetBias; 0])
///   x_n = LN(g_n),  a = w_n * x_n + b_n,  n = relu(gi_n + r * a),  h' = h + z (n - h)
/// Backward from dh (the loss's gradient of h' plus what flows back from step t + 1):
///   dz = dh (n - h),  dn = dh z,  dh_direct = dh (1 - z),  dn' = dn [n > 0],  dgi_n = dn',
///   dr = dn' a,  da = dn' r,  db_n += da,  dw_n += da x_n,  dg_n = LN'(da w_n),
///   d[z; r]' = d[z; r] sigma (1 - sigma),  dgi_zr = d[z; r]',  dw_zr += d[z; r]' x_zr,  dg_zr = LN'(d[z; r]' w_zr),
///   dh_prev = dh_direct + W_hh^T [dg_zr; dg_n],  dW_hh = sum over steps of [dg_zr; dg_n] h^T,
/// where LN'(dy) = rstd (dy - mean(dy) - x mean(dy x)) is layer norm's backward at its output x.
/// The input side (gi_zr, gi_n) stays in autograd: <see cref="Backward"/> hands it dgi and the recurrent
/// parameters their gradients through one surrogate backward pass.
/// </summary>
public sealed class FusedLayerNormGru
{
    const int V = 8; // floats per Vector256

    /// <summary>
    /// Whether the fused recurrence can run these cells: float32 on the CPU with 8-float vectors, a hidden size that
    /// is a multiple of 8, AVX2 and FMA, zero initial states, and buffers each under 2 GB (spans over tensor memory). Otherwise
    /// callers run <see cref="GruPolicy.LayerNormHiddens"/>.
    /// </summary>
    public static bool Supports(Tensor inputs, int cells, int hiddenSize)
    {
        if (!Avx2.IsSupported || !Fma.IsSupported || hiddenSize % V != 0) return false;
        if (inputs.dtype != ScalarType.Float32 || inputs.device_type != TorchSharp.DeviceType.CPU) return false;
        long steps = inputs.shape[0], rows = cells * inputs.shape[1];
        return steps * rows * TapeWidth(hiddenSize) * sizeof(float) < int.MaxValue;
    }

    /// <summary>Floats saved per row and step for the backward pass: x_zr, [z; r], x_n, a, n.</summary>
    static long TapeWidth(int h) => 7L * h;

    /// <summary>
    /// The recurrence's buffers, kept from one sequence to the next of the same shape: PPO runs the same shapes
    /// every minibatch, and fresh buffers of this size (tens of megabytes) cost more in first-touch page faults
    /// than the recurrence's own arithmetic. A sequence's <see cref="Hiddens"/> stay valid until the workspace
    /// runs another sequence of the same shape.
    /// </summary>
    public sealed class Workspace : IDisposable
    {
        readonly Dictionary<(int G, int T, int B, int H), Tensor[]> _buffers = new();

        /// <summary>states [G, T + 1, B, H], tape [G, T, B, 7H], rstd [G, T, B, 2], dGh [G, T, B, 3H], dZr [T, G, B, 2H], dN [T, G, B, H].</summary>
        internal Tensor[] For(int g, int t, int b, int h)
        {
            if (_buffers.TryGetValue((g, t, b, h), out var found)) return found;
            var made = Allocate(g, t, b, h);
            foreach (var m in made) m.DetachFromDisposeScope();
            _buffers[(g, t, b, h)] = made;
            return made;
        }

        internal static Tensor[] Allocate(int g, int t, int b, int h) =>
        [
            empty(g, t + 1, b, h), empty(g, t, b, TapeWidth(h)), empty(g, t, b, 2),
            empty(g, t, b, 3 * h), empty(t, g, b, 2 * h), empty(t, g, b, h),
        ];

        public void Dispose()
        {
            foreach (var set in _buffers.Values) foreach (var m in set) m.Dispose();
            _buffers.Clear();
        }
    }

    readonly IReadOnlyList<ParameterSet> _cells;
    readonly int _g, _t, _b, _h;
    readonly Tensor _giZr, _giN;        // [T, G, B, 2H] and [T, G, B, H], with autograd's graph to the input side
    readonly Tensor _w;                  // [G, 3H, H], detached
    readonly Tensor _states;             // [G, T + 1, B, H]: h0 = 0, then every step's state
    readonly Tensor _tape, _rstd;        // [G, T, B, 7H] and [G, T, B, 2]
    readonly Tensor _dGh, _dZrIn, _dNIn; // the backward's gradients of every step's W_hh h, gi_zr and gi_n
    readonly float[] _wZr, _wN, _bN;     // the recurrent layer norms' gains and bias, [G * 2H], [G * H], [G * H]

    /// <summary>
    /// The hidden states [G, T, B, H] (a view of the recurrence's buffer). Under autograd it is a leaf that requires
    /// grad: the loss's backward stops there, and <see cref="Backward"/> carries its gradient on to the cells' parameters.
    /// </summary>
    public Tensor Hiddens { get; }

    /// <summary>
    /// Runs G cells (parameter sets as <see cref="GruPolicy"/>'s layer-norm cell) over inputs [T, B, in] from zero
    /// states, in <paramref name="workspace"/>'s buffers (fresh ones without it).
    /// </summary>
    public FusedLayerNormGru(IReadOnlyList<ParameterSet> cells, Tensor inputs, int hiddenSize, Workspace? workspace = null)
    {
        if (!Supports(inputs, cells.Count, hiddenSize)) throw new ArgumentException("the fused recurrence does not support these inputs; see Supports", nameof(inputs));
        _cells = cells;
        _g = cells.Count; _t = (int)inputs.shape[0]; _b = (int)inputs.shape[1]; _h = hiddenSize;
        (_giZr, _giN) = GruPolicy.LayerNormInputGates(cells, inputs, hiddenSize);
        using (no_grad())
        {
            _w = stack(cells.Select(p => p["gru.weight_hh"]), 0).detach().contiguous();
            _wZr = Floats(cells, "gru.ln_hh_zr.weight");
            _wN = Floats(cells, "gru.ln_hh_n.weight");
            _bN = Floats(cells, "gru.ln_hh_n.bias");
            var buffers = workspace?.For(_g, _t, _b, _h) ?? Workspace.Allocate(_g, _t, _b, _h); // the latter in the caller's scope
            (_states, _tape, _rstd, _dGh, _dZrIn, _dNIn) = (buffers[0], buffers[1], buffers[2], buffers[3], buffers[4], buffers[5]);
            _states.select(1, 0).zero_();
            Forward(_giZr.detach().contiguous(), _giN.detach().contiguous());
        }
        var hiddens = _states.narrow(1, 1, _t);
        Hiddens = is_grad_enabled() ? hiddens.detach().requires_grad_(true) : hiddens;
    }

    static float[] Floats(IReadOnlyList<ParameterSet> cells, string name) =>
        cells.SelectMany(p => p[name].detach().cpu().data<float>().ToArray()).ToArray();

    static Span<float> Floats(Tensor t) => MemoryMarshal.Cast<byte, float>(t.bytes);

    void Forward(Tensor giZr, Tensor giN)
    {
        int h = _h, h2 = 2 * _h, h3 = 3 * _h;
        var wT = _w.transpose(1, 2).contiguous(); // [G, H, 3H]: g = h W_hh^T for every cell in one product
        var zrIn = Floats(giZr); var nIn = Floats(giN);
        var states = Floats(_states); var tape = Floats(_tape); var rstd = Floats(_rstd);
        for (int t = 0; t < _t; t++)
        {
            using var step = NewDisposeScope();
            var gh = bmm(_states.select(1, t), wT); // [G, B, 3H]
            var ghs = Floats(gh);
            for (int g = 0; g < _g; g++)
                for (int b = 0; b < _b; b++)
                {
                    int row = (t * _g + g) * _b + b;                // [T, G, B] order of the input gates
                    long cur = ((long)g * _t + t) * _b + b;             // [G, T, B] order of tape and hiddens
                    long prev = ((long)g * (_t + 1) + t) * _b + b, next = prev + _b;
                    var gRow = ghs.Slice((g * _b + b) * h3, h3);
                    var tp = tape.Slice((int)(cur * 7 * h), 7 * h);
                    var xZr = tp[..h2]; var zr = tp.Slice(h2, h2); var xN = tp.Slice(4 * h, h); var a = tp.Slice(5 * h, h); var n = tp.Slice(6 * h, h);
                    rstd[(int)(cur * 2)] = Normalize(gRow[..h2], xZr);
                    rstd[(int)(cur * 2) + 1] = Normalize(gRow.Slice(h2, h), xN);
                    GatesForward(zrIn.Slice(row * h2, h2), _wZr.AsSpan(g * h2, h2), xZr, zr);
                    CandidateForward(nIn.Slice(row * h, h), _wN.AsSpan(g * h, h), _bN.AsSpan(g * h, h), xN, zr[h..], a, n);
                    Lerp(states.Slice((int)(prev * h), h), n, zr[..h], states.Slice((int)(next * h), h));
                }
        }
    }

    /// <summary>
    /// Carries the gradient of <see cref="Hiddens"/> (left there by the loss's backward) back through time, and
    /// accumulates the cells' parameter gradients (.grad, as a backward pass would).
    /// </summary>
    public void Backward()
    {
        var grad = Hiddens.grad ?? throw new InvalidOperationException("Hiddens has no gradient: run the loss's backward first");
        int h = _h, h2 = 2 * _h, h3 = 3 * _h;
        var dHiddens = grad.contiguous();
        var (dGh, dZrIn, dNIn) = (_dGh, _dZrIn, _dNIn); // every entry is written below
        var dwZr = new float[_g * h2]; var dwN = new float[_g * h]; var dbN = new float[_g * h];
        var dh = new float[h]; var dzr = new float[h2]; var dxN = new float[h]; var dxZr = new float[h2];
        var carry = zeros(_g, _b, h);          // what flows into h_t from step t + 1
        using (no_grad())
        {
            var dOut = Floats(dHiddens); var states = Floats(_states); var tape = Floats(_tape); var rstd = Floats(_rstd);
            var dGhs = Floats(dGh); var dZr = Floats(dZrIn); var dN = Floats(dNIn);
            for (int t = _t - 1; t >= 0; t--)
            {
                using var step = NewDisposeScope();
                var direct = empty(_g, _b, h);
                var carries = Floats(carry); var directs = Floats(direct);
                for (int g = 0; g < _g; g++)
                    for (int b = 0; b < _b; b++)
                    {
                        int row = (t * _g + g) * _b + b;
                        long cur = ((long)g * _t + t) * _b + b;
                        long prev = ((long)g * (_t + 1) + t) * _b + b;
                        var tp = tape.Slice((int)(cur * 7 * h), 7 * h);
                        var xZr = tp[..h2]; var zr = tp.Slice(h2, h2); var xN = tp.Slice(4 * h, h); var a = tp.Slice(5 * h, h); var n = tp.Slice(6 * h, h);
                        Add(dOut.Slice((int)(cur * h), h), carries.Slice((g * _b + b) * h, h), dh);
                        var dGhRow = dGhs.Slice((int)(cur * h3), h3);
                        // h' = h + z (n - h): dz, dn, and the direct path to h
                        LerpBackward(dh, states.Slice((int)(prev * h), h), n, zr[..h], dzr.AsSpan(0, h), directs.Slice((g * _b + b) * h, h));
                        // n = relu(gi_n + r a), a = w_n x_n + b_n: dgi_n, dr (into dzr's r half), and dx_n
                        CandidateBackward(dh, zr[h..], a, n, xN, _wN.AsSpan(g * h, h), dN.Slice(row * h, h), dzr.AsSpan(h, h),
                            dwN.AsSpan(g * h, h), dbN.AsSpan(g * h, h), dxN);
                        NormalizeBackward(dxN, xN, rstd[(int)(cur * 2) + 1], dGhRow.Slice(h2, h));
                        // [z; r] = sigma(gi_zr + w_zr x_zr): dgi_zr and dx_zr
                        GatesBackward(dzr, zr, xZr, _wZr.AsSpan(g * h2, h2), dZr.Slice(row * h2, h2), dwZr.AsSpan(g * h2, h2), dxZr);
                        NormalizeBackward(dxZr, xZr, rstd[(int)(cur * 2)], dGhRow[..h2]);
                    }
                // dh_{t-1} = direct + W_hh^T dg for every cell in one product.
                var next = bmm(dGh.select(1, t), _w).add_(direct).MoveToOuterDisposeScope();
                carry.Dispose();
                carry = next;
            }
        }
        // dW_hh = sum over steps and rows of dg h^T: one product per cell over all of them.
        Tensor dW;
        using (no_grad())
            dW = bmm(dGh.view(_g, (long)_t * _b, h3).transpose(1, 2), _states.narrow(1, 0, _t).reshape(_g, (long)_t * _b, h));
        // One backward pass of a surrogate whose gradient is what was computed above: the input side through
        // autograd's graph, the recurrent parameters as constants times themselves.
        var surrogate = (_giZr * dZrIn).sum() + (_giN * dNIn).sum();
        for (int g = 0; g < _g; g++)
        {
            var p = _cells[g];
            surrogate = surrogate + (p["gru.weight_hh"] * dW[g]).sum()
                + (p["gru.ln_hh_zr.weight"] * tensor(dwZr.AsSpan(g * h2, h2).ToArray())).sum()
                + (p["gru.ln_hh_n.weight"] * tensor(dwN.AsSpan(g * h, h).ToArray())).sum()
                + (p["gru.ln_hh_n.bias"] * tensor(dbN.AsSpan(g * h, h).ToArray())).sum();
        }
        surrogate.backward();
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

    /// <summary>Through [z; r] = sigma(pre), pre = gi + w x: dgi = d[z; r] sigma (1 - sigma), dw += dgi x, dx = dgi w.</summary>
    static void GatesBackward(ReadOnlySpan<float> dzr, ReadOnlySpan<float> zr, ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> dgi, Span<float> dw, Span<float> dx)
    {
        var dv = Vec(dzr); var zv = Vec(zr); var xv = Vec(x); var wv = Vec(w); var dgv = Vec(dgi); var dwv = Vec(dw); var dxv = Vec(dx);
        for (int i = 0; i < dv.Length; i++)
        {
            var d = dv[i] * zv[i] * (Vector256<float>.One - zv[i]);
            dgv[i] = d; dwv[i] += d * xv[i]; dxv[i] = d * wv[i];
        }
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
