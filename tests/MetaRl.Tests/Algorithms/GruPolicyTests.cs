using MetaRl.Envs;
using MetaRl.Policies;
using MetaRl.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace MetaRl.Tests.Algorithms;

public class GruPolicyTests
{
    public GruPolicyTests() => TorchNative.EnsureLoaded();

    [Fact]
    public void CellMatchesTorchSharpsGruCell()
    {
        using var scope = NewDisposeScope();
        var policy = new GruPolicy(3, new Discrete(4), 5, new Rng(2));
        var reference = nn.GRUCell(3, 5);
        using (no_grad())
        {
            reference.weight_ih!.copy_(policy.Parameters["gru.weight_ih"]);
            reference.weight_hh!.copy_(policy.Parameters["gru.weight_hh"]);
            reference.bias_ih!.copy_(policy.Parameters["gru.bias_ih"]);
            reference.bias_hh!.copy_(policy.Parameters["gru.bias_hh"]);
        }
        var gen = new Generator(1);
        var x = randn(new long[] { 7, 3 }, generator: gen);
        var h = randn(new long[] { 7, 5 }, generator: gen);
        var theirs = reference.forward(x, h);
        // Both paths: libtorch's GRU module (own parameters) and the op-by-op equations (any other parameter set).
        Assert.True((policy.Cell(x, h) - theirs).abs().max().item<float>() < 1e-5);
        Assert.True((policy.Cell(x, h, policy.Parameters.Map((_, v) => v)) - theirs).abs().max().item<float>() < 1e-5);
    }

    [Fact]
    public void OpByOpHiddensMatchTheNativeGruInValuesAndGradients()
    {
        using var scope = NewDisposeScope();
        var policy = new GruPolicy(3, new Discrete(2), 6, new Rng(7));
        var same = policy.Parameters.Map((_, v) => v); // the same leaves, but not the policy's own set: op by op
        var gen = new Generator(8);
        var xs = randn(new long[] { 9, 4, 3 }, generator: gen);
        var h0 = randn(new long[] { 4, 6 }, generator: gen);
        var weights = randn(new long[] { 9, 4, 6 }, generator: gen);
        var native = policy.Hiddens(xs, h0);
        var opByOp = policy.Hiddens(xs, h0, same);
        Assert.True((native - opByOp).abs().max().item<float>() < 1e-5);
        var leaves = policy.Parameters.Values.Take(4).ToArray();
        var gNative = autograd.grad([(native * weights).sum()], leaves);
        var gOpByOp = autograd.grad([(opByOp * weights).sum()], leaves);
        for (int i = 0; i < leaves.Length; i++)
        {
            Assert.True(gNative[i].abs().sum().item<float>() > 0);
            Assert.True((gNative[i] - gOpByOp[i]).abs().max().item<float>() < 1e-4, policy.Parameters.Names[i]);
        }
    }

    [Fact]
    public void SequenceResetsTheHiddenStateWhereAskedAndBackpropagatesThroughTime()
    {
        using var scope = NewDisposeScope();
        var policy = new GruPolicy(2, Box.Uniform(1, -1, 1), 4, new Rng(3));
        var gen = new Generator(4);
        var xs = randn(new long[] { 3, 2, 2 }, generator: gen);
        var reset = zeros(3, 2); reset[2, 1] = tensor(1f);
        var (dist, _) = policy.Sequence(xs, policy.InitialState(2), reset);
        // Episode 1 restarts at t = 2: its output equals a fresh run on that input alone.
        var (fresh, _) = policy.Sequence(xs[TensorIndex.Slice(2, 3), TensorIndex.Slice(1, 2)], policy.InitialState(1));
        var m = ((DiagGaussian)dist).Mean;
        Assert.True((m[2, 1] - ((DiagGaussian)fresh).Mean[0, 0]).abs().max().item<float>() < 1e-6);
        Assert.False((m[2, 0] - ((DiagGaussian)policy.Sequence(xs[TensorIndex.Slice(2, 3), TensorIndex.Slice(0, 1)], policy.InitialState(1)).Distribution).Mean[0, 0]).abs().max().item<float>() < 1e-6);
        // The loss at the last step reaches the input weights through earlier steps.
        var loss = m[2, 0].sum();
        var g = autograd.grad([loss], [policy.Parameters["gru.weight_hh"]])[0];
        Assert.True(g.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void ActCarriesTheHiddenStateAndSamplesValidActions()
    {
        var policy = new GruPolicy(1, new Discrete(3), 8, new Rng(5));
        var h = policy.InitialState(4);
        var actions = new float[4];
        var rng = new Rng(6);
        for (int t = 0; t < 5; t++)
        {
            var next = policy.Act([1f, 0f, 1f, 0f], 4, h, actions, rng);
            Assert.All(actions, a => Assert.InRange(a, 0, 2));
            Assert.True((next - h).abs().sum().item<float>() > 0);
            h.Dispose();
            h = next;
        }
    }

    /// <summary>pytorch_rl2's layer-normalised GRU step (rl2/agents/architectures/gru.py), written out with explicit means and variances.</summary>
    static Tensor ReferenceLayerNormStep(Tensor x, Tensor h, ParameterSet p, int size)
    {
        Tensor Ln(Tensor v, string name)
        {
            var mu = v.mean([-1L], keepdim: true);
            var variance = (v - mu).pow(2).mean([-1L], keepdim: true);
            return (v - mu) / (variance + 1e-5).sqrt() * p[name + ".weight"] + p[name + ".bias"];
        }
        var wi = p["gru.weight_ih"]; var wh = p["gru.weight_hh"];
        var zrFromX = Ln(x.matmul(wi[TensorIndex.Slice(0, 2 * size)].t()), "gru.ln_ih_zr");
        var zrFromH = Ln(h.matmul(wh[TensorIndex.Slice(0, 2 * size)].t()), "gru.ln_hh_zr");
        var zr = zrFromX + zrFromH;
        var z = (zr[TensorIndex.Colon, TensorIndex.Slice(0, size)] - 1.0).sigmoid();
        var r = zr[TensorIndex.Colon, TensorIndex.Slice(size, null)].sigmoid();
        var hhat = (Ln(x.matmul(wi[TensorIndex.Slice(2 * size, null)].t()), "gru.ln_ih_n") + r * Ln(h.matmul(wh[TensorIndex.Slice(2 * size, null)].t()), "gru.ln_hh_n")).relu();
        return (1 - z) * h + z * hhat;
    }

    static ParameterSet Perturbed(ParameterSet p, Generator gen) =>
        // Gains and biases away from 1 and 0, so that a wrong layer-norm parameter shows.
        p.Map((name, v) => name.StartsWith("gru.ln_") ? v + 0.3 * randn(v.shape, generator: gen) : v);

    [Fact]
    public void LayerNormCellFollowsPytorchRl2sEquationsStepByStepAndOverASequence()
    {
        using var scope = NewDisposeScope();
        const int size = 6;
        var policy = new GruPolicy(3, new Discrete(4), size, new Rng(2), cell: GruCell.LayerNorm);
        Assert.Equal([18L, 3L], policy.Parameters["gru.weight_ih"].shape);
        Assert.Equal([18L, 6L], policy.Parameters["gru.weight_hh"].shape);
        // The candidate weight starts orthogonal.
        var wn = policy.Parameters["gru.weight_hh"][TensorIndex.Slice(12, null)];
        Assert.True((wn.matmul(wn.t()) - eye(size)).abs().max().item<float>() < 1e-5);
        var gen = new Generator(1);
        var p = Perturbed(policy.Parameters, gen);
        var xs = randn(new long[] { 5, 7, 3 }, generator: gen);
        var h = randn(new long[] { 7, size }, generator: gen).abs(); // a ReLU cell's states are >= 0
        var h0 = h;
        var all = policy.Hiddens(xs, h0, p);
        for (int t = 0; t < 5; t++)
        {
            var expected = ReferenceLayerNormStep(xs[t], h, p, size);
            Assert.True((policy.Cell(xs[t], h, p) - expected).abs().max().item<float>() < 1e-5, $"step {t}");
            Assert.True((all[t] - expected).abs().max().item<float>() < 1e-5, $"sequence step {t}");
            h = expected;
        }
        // Its own parameters take the same path (there is no native layer-normalised GRU).
        Assert.True((policy.Hiddens(xs, h0) - policy.Hiddens(xs, h0, policy.Parameters.Map((_, v) => v))).abs().max().item<float>() == 0);
    }

    [Fact]
    public void LayerNormCellGradientsMatchFiniteDifferences()
    {
        using var scope = NewDisposeScope();
        var policy = new GruPolicy(3, new Discrete(2), 4, new Rng(9), cell: GruCell.LayerNorm);
        var gen = new Generator(3);
        var p = Perturbed(policy.Parameters, gen).Map((_, v) => v.detach().to(float64).requires_grad_(true));
        var xs = randn(new long[] { 6, 2, 3 }, dtype: float64, generator: gen);
        var weights = randn(new long[] { 6, 2, 4 }, dtype: float64, generator: gen);
        Tensor Loss(ParameterSet q) => (policy.Hiddens(xs, zeros(new long[] { 2, 4 }, dtype: float64), q) * weights).sum();
        foreach (var name in new[] { "gru.weight_ih", "gru.weight_hh", "gru.ln_hh_zr.weight", "gru.ln_ih_n.bias", "gru.ln_hh_n.weight" })
        {
            var analytic = autograd.grad([Loss(p)], [p[name]])[0].flatten();
            for (long i = 0; i < analytic.shape[0]; i += 5)
            {
                double Shifted(double eps)
                {
                    using var _ = no_grad();
                    var q = p.Map((n, v) => n == name ? v.flatten().index_add(0, tensor(new[] { i }), tensor(new[] { eps }, dtype: float64), 1.0).reshape(v.shape) : v);
                    return Loss(q).item<double>();
                }
                double numeric = (Shifted(1e-6) - Shifted(-1e-6)) / 2e-6;
                Assert.True(Math.Abs(numeric - analytic[i].item<double>()) < 1e-6 * (1 + Math.Abs(numeric)), $"{name}[{i}]: {analytic[i].item<double>()} vs {numeric}");
            }
        }
    }
}
