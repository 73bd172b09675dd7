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
}
