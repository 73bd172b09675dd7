using BenchmarkDotNet.Attributes;
using MetaRl.Algorithms.Rl2;
using MetaRl.Core;
using MetaRl.Envs;
using MetaRl.Policies;
using MetaRl.Torch;
using static TorchSharp.torch;

namespace MetaRl.Benchmarks;

/// <summary>
/// Backpropagation through time for RL2's GRU, one minibatch of a bandit reproduction (T = 100 pulls, B
/// trials, 128 units, 5 arms): libtorch's GRU module (the policy's own parameters) against the same
/// equations issued op by op from .NET (any other parameter set), for backpropagation through a whole
/// minibatch and for one step of the sampler; the layer-normalised cell (gru-cell: layer-norm), which
/// always runs op by op; and an RL2 agent with that cell and a separate value GRU, whose two GRUs run as one
/// recurrence, against the same two GRUs run one after the other and against the fused recurrence PPO runs.
/// Run: dotnet run -c Release --project bench/MetaRl.Benchmarks -- --filter '*Gru*'
/// </summary>
public class GruBenchmarks
{
    GruPolicy _policy = null!, _layerNorm = null!;
    Rl2Agent _agent = null!;
    readonly FusedLayerNormGru.Workspace _workspace = new();
    ParameterSet _opByOp = null!;
    Tensor _inputs = null!, _h0 = null!, _step = null!, _agentInputs = null!;

    [Params(50, 200)] public int Trials;

    [GlobalSetup]
    public void Setup()
    {
        TorchNative.EnsureLoaded();
        set_num_threads(1);
        _policy = new GruPolicy(8, new Discrete(5), 128, new Rng(1));
        _layerNorm = new GruPolicy(8, new Discrete(5), 128, new Rng(1), cell: GruCell.LayerNorm);
        _opByOp = _policy.Parameters.Map((_, v) => v); // the same leaves, not the policy's own set
        _inputs = randn(100, Trials, 8);
        _h0 = zeros(Trials, 128);
        _step = randn(Trials, 8);
        _agent = new Rl2Agent(1, new Discrete(5), 128, new Rng(1), separateValueGru: true, cell: GruCell.LayerNorm);
        _agentInputs = randn(100, Trials, _agent.InputSize);
    }

    [Benchmark(Baseline = true, Description = "op by op: forward + backward through 100 steps")]
    public void OpByOp() => ForwardBackward(_opByOp);

    [Benchmark(Description = "libtorch GRU: forward + backward through 100 steps")]
    public void Native() => ForwardBackward(null);

    [Benchmark(Description = "op by op: one sampler step (no graph)")]
    public void StepOpByOp() => Step(_opByOp);

    [Benchmark(Description = "libtorch GRU: one sampler step (no graph)")]
    public void StepNative() => Step(null);

    [Benchmark(Description = "layer-norm cell: forward + backward through 100 steps")]
    public void LayerNorm() => ForwardBackward(null, _layerNorm);

    [Benchmark(Description = "layer-norm cell: one sampler step (no graph)")]
    public void StepLayerNorm() => Step(null, _layerNorm);

    [Benchmark(Description = "RL2 agent, layer-norm policy and value GRUs as one recurrence: forward + backward through 100 steps")]
    public void AgentJoint()
    {
        using var scope = NewDisposeScope();
        var (pi, values) = _agent.Forward(_agentInputs);
        AgentBackward(pi, values);
    }

    [Benchmark(Description = "RL2 agent, the two GRUs fused (PPO's path: FusedLayerNormGru): forward + backward through 100 steps")]
    public void AgentFused()
    {
        using var scope = NewDisposeScope();
        var (pi, values, _) = _agent.ForwardFused(_agentInputs, _workspace);
        (pi.Entropy().sum() + values.pow(2).sum()).backward();
        foreach (var p in _agent.Parameters.Values) p.grad?.zero_();
    }

    [Benchmark(Description = "RL2 agent, the same two GRUs one after the other: forward + backward through 100 steps")]
    public void AgentApart()
    {
        using var scope = NewDisposeScope();
        var pi = _agent.Policy.Head(_agent.Policy.Hiddens(_agentInputs, _agent.Policy.InitialState(Trials)));
        var values = _agent.Values(_agent.ValueHiddens(_agentInputs));
        AgentBackward(pi, values);
    }

    void AgentBackward(IActionDistribution pi, Tensor values)
    {
        (pi.Entropy().sum() + values.pow(2).sum()).backward();
        foreach (var p in _agent.Parameters.Values) p.grad?.zero_();
    }

    void Step(ParameterSet? parameters, GruPolicy? policy = null)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        (policy ?? _policy).Cell(_step, _h0, parameters);
    }

    void ForwardBackward(ParameterSet? parameters, GruPolicy? policy = null)
    {
        using var scope = NewDisposeScope();
        policy ??= _policy;
        policy.Hiddens(_inputs, _h0, parameters).pow(2).sum().backward();
        foreach (var p in policy.Parameters.Values) p.grad?.zero_();
    }
}
