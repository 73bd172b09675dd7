using MetaRl.Algorithms;
using MetaRl.Experiments;
using MetaRl.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace MetaRl.Tests.Torch;

/// <summary>
/// TorchSharp reads a tensor argument's native handle and then no longer holds the tensor: a temporary
/// (tensor(data).view(shape) passed to copy_) can be collected and finalised while the native call still
/// uses it, and libtorch then touches freed memory (a segfault that ends the process, not an exception).
/// Inside a dispose scope the scope holds every tensor made in it, so the library runs its tensor work in
/// scopes. The first test builds agents and round-trips checkpoints while another thread allocates without
/// pause, so collections happen during native calls: before the scopes were added it crashed the test host
/// in 4 runs of 4. The second checks the same thing without depending on when collections run: outside
/// construction, no tensor is made outside a scope (TorchSharp's per-thread count).
/// </summary>
public sealed class CollectionPressureTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("metarl-gc-").FullName;

    public CollectionPressureTests() => TorchNative.EnsureLoaded();
    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>A thread that allocates short-lived garbage until disposed: a collection every few milliseconds.</summary>
    sealed class AllocationPressure : IDisposable
    {
        volatile bool _stop;
        readonly Thread _thread;
        public int Collections => GC.CollectionCount(0) - _start;
        readonly int _start = GC.CollectionCount(0);

        public AllocationPressure()
        {
            _thread = new Thread(() =>
            {
                while (!_stop) GC.KeepAlive(new byte[4096]);
            }) { IsBackground = true };
            _thread.Start();
        }

        public void Dispose() { _stop = true; _thread.Join(); }
    }

    /// <summary>A small configuration of <paramref name="algorithm"/>: RL2 with the given cell and a separate value GRU.</summary>
    static Dictionary<string, string> SmallRun(string algorithm, string? cell, int hiddenSize) => algorithm switch
    {
        "rl2" => new() { ["hidden-size"] = $"{hiddenSize}", ["gru-cell"] = cell!, ["value-network"] = "separate", ["batch-size"] = "100", ["episodes-per-trial"] = "5", ["optimizer"] = "ppo" },
        "ppo" => new() { ["batch-size"] = "4" },
        _ => new() { ["meta-batch-size"] = "2", ["fast-batch-size"] = "2" },
    };

    [Theory]
    [InlineData("rl2", "bandit-k10", "standard")]
    [InlineData("rl2", "bandit-k10", "layer-norm")]
    [InlineData("maml", "2d-navigation", null)]
    [Trait(Category.Name, Category.Slow)]
    public void CheckpointsRoundTripWhileCollectionsRun(string algorithm, string env, string? cell)
    {
        var values = SmallRun(algorithm, cell, hiddenSize: 64);
        using var pressure = new AllocationPressure();
        for (int round = 0; round < 40; round++)
        {
            string path = Path.Combine(_root, $"{algorithm}-{cell}-{round}.bin");
            var saved = new TrainingRun(algorithm, env, values, seed: round);
            saved.SaveCheckpoint(path);
            var loaded = new TrainingRun(algorithm, env, values, seed: 100 + round);
            loaded.LoadCheckpoint(path);
            for (int again = 0; again < 20; again++) loaded.LoadCheckpoint(path); // loading is where the crash was seen
            using var scope = NewDisposeScope();
            foreach (var (a, b) in saved.Learner.Parameters.Values.Zip(loaded.Learner.Parameters.Values))
                Assert.True(a.eq(b).all().item<bool>(), $"round {round}: a loaded parameter differs from the saved one");
        }
        Assert.True(pressure.Collections > 40, $"only {pressure.Collections} collections ran: the test exercised nothing");
    }

    /// <summary>
    /// After construction (whose tensors outside a scope are parameters, optimiser state, and initial values a
    /// list holds while they are copied), saving, loading, a training iteration and evaluation make every
    /// tensor inside a dispose scope: none is left for a finaliser to free under a native call.
    /// </summary>
    [Theory]
    [InlineData("rl2", "bandit-k10", "standard")]
    [InlineData("rl2", "bandit-k10", "layer-norm")]
    [InlineData("rl2", "tabular-mdp", "standard")]
    [InlineData("maml", "2d-navigation", null)]
    [InlineData("reptile", "2d-navigation", null)]
    [InlineData("promp", "2d-navigation", null)]
    [InlineData("ppo", "2d-navigation", null)]
    public void AfterConstructionNoTensorIsMadeOutsideADisposeScope(string algorithm, string env, string? cell)
    {
        var values = SmallRun(algorithm, cell, hiddenSize: 16);
        var run = new TrainingRun(algorithm, env, values, seed: 3);
        string path = Path.Combine(_root, "checkpoint.bin");
        var tasks = run.Distribution.SampleTasks(3, new Rng(5));
        var stats = DisposeScopeManager.Statistics;
        long Outside(Action a) { stats.Reset(); a(); return stats.CreatedOutsideScopeCount; }

        Assert.Equal(0, Outside(() => run.SaveCheckpoint(path)));
        Assert.Equal(0, Outside(() => run.LoadCheckpoint(path)));
        Assert.Equal(0, Outside(() => run.RunIteration()));
        Assert.Equal(0, Outside(() =>
        {
            if (run.Learner is IMetaLearner meta) meta.AdaptTo(tasks, 1, new Rng(7));
            else run.Evaluate(tasks, 1, seed: 7);
        }));
        Assert.Equal(1, Outside(() => zeros(1))); // the count sees a tensor made outside a scope: the zeros above mean something
    }
}
