using BenchmarkDotNet.Attributes;
using MetaRl.Core;
using MetaRl.Envs;
using MetaRl.Policies;
using MetaRl.Torch;
using static TorchSharp.torch;

namespace MetaRl.Benchmarks;

/// <summary>
/// Backpropagation through time for RL2's GRU, one minibatch of a bandit reproduction (T = 100 pulls, B
/// trials, 128 units, 5 arms): libtorch's GRU module (the policy's own parameters) against the same
/// equations issued op by op from .NET (any other parameter set). The ratio is what the native path buys.
/// Run: dotnet run -c Release --project bench/MetaRl.Benchmarks -- --filter '*Gru*'
/// </summary>
public class GruBenchmarks
{
    GruPolicy _policy = null!;
    ParameterSet _opByOp = null!;
    Tensor _inputs = null!, _h0 = null!;

    [Params(50, 200)] public int Trials;

    [GlobalSetup]
    public void Setup()
    {
        TorchNative.EnsureLoaded();
        set_num_threads(1);
        _policy = new GruPolicy(8, new Discrete(5), 128, new Rng(1));
        _opByOp = _policy.Parameters.Map((_, v) => v); // the same leaves, not the policy's own set
        _inputs = randn(100, Trials, 8);
        _h0 = zeros(Trials, 128);
    }

    [Benchmark(Baseline = true, Description = "op by op: forward + backward through 100 steps")]
    public void OpByOp() => ForwardBackward(_opByOp);

    [Benchmark(Description = "libtorch GRU: forward + backward through 100 steps")]
    public void Native() => ForwardBackward(null);

    void ForwardBackward(ParameterSet? parameters)
    {
        using var scope = NewDisposeScope();
        _policy.Hiddens(_inputs, _h0, parameters).pow(2).sum().backward();
        foreach (var p in _policy.Parameters.Values) p.grad?.zero_();
    }
}
