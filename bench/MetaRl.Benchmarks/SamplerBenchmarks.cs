using BenchmarkDotNet.Attributes;
using MetaRl.Core;
using MetaRl.Envs;
using MetaRl.Envs.Navigation;
using MetaRl.Policies;
using MetaRl.Sampling;
using MetaRl.Torch;

namespace MetaRl.Benchmarks;

/// <summary>
/// The sampler's pieces on MAML's 2D-navigation meta-batch (20 tasks x 20 episodes x 100 steps): the whole
/// batch with the 2x100 tanh policy in the loop, the envs alone, and one batched policy step, so a ratio
/// shows where the time goes. `metarl bench sampler` gives the headline figure.
/// Run: dotnet run -c Release --project bench/MetaRl.Benchmarks -- --filter '*Sampler*'
/// </summary>
[MemoryDiagnoser]
public class SamplerBenchmarks
{
    Navigation2DDistribution _dist = null!;
    GaussianMlpPolicy _policy = null!;
    Sampler _sampler = null!;
    List<object> _tasks = null!;
    VectorEnv _envs = null!;
    float[] _obs = null!, _actions = null!, _rewards = null!;
    bool[] _terminated = null!, _truncated = null!;
    Rng _rng = null!;

    [GlobalSetup]
    public void Setup()
    {
        TorchNative.EnsureLoaded();
        TorchSharp.torch.set_num_threads(1);
        _dist = new Navigation2DDistribution();
        _rng = new Rng(0);
        _policy = new GaussianMlpPolicy(2, (Box)_dist.ActionSpace, [100, 100], _rng.Split());
        _sampler = new Sampler(_dist);
        _tasks = _dist.Sample(20, _rng).Cast<object>().ToList();
        _envs = new VectorEnv(Enumerable.Range(0, 400).Select(i => (IEnv)_dist.CreateEnv(_tasks[i / 20], new Rng(i))).ToList());
        _obs = new float[800]; _actions = new float[800]; _rewards = new float[400];
        _terminated = new bool[400]; _truncated = new bool[400];
    }

    [Benchmark(Description = "meta-batch 20x20x100, policy in the loop")]
    public int SampleMetaBatch() => _sampler.Sample(_policy, _tasks, 20, _rng).Steps;

    [Benchmark(Description = "400 envs x 100 steps, zero actions")]
    public void StepEnvsOnly()
    {
        _envs.Reset();
        for (int t = 0; t < 100; t++) _envs.Step(_actions, _rewards, _terminated, _truncated);
    }

    [Benchmark(Description = "one policy step for 400 observations")]
    public void PolicyStep() => _policy.Act(_obs, 400, _actions, _rng);
}
