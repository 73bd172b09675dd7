using System.Runtime;
using MetaRl.Experiments;
using MetaRl.Torch;

namespace MetaRl.Tests.Torch;

public class NativeCallGuardTests
{
    [Fact]
    [Trait(Category.Name, Category.Slow)]
    public void NoCollectionRunsDuringAReferenceSizeMetaIteration()
    {
        var run = new TrainingRun("maml", "2d-navigation", new Dictionary<string, string>(), seed: 4);
        run.RunIteration(); // warm-up
        using (NativeCallGuard.Enter())
        {
            Assert.Equal(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
            int before = GC.CollectionCount(0);
            run.Learner.Iterate();
            Assert.Equal(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode); // the budget was not exhausted
            Assert.Equal(before, GC.CollectionCount(0));
        }
        Assert.NotEqual(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
    }

    [Fact]
    public void Rl2TableTrialsRunInANoGcRegion()
    {
        // The reproductions' evaluation (RunTrials) makes the same implicit Scalars as training: no collection may
        // run while a step's native calls are in flight, and the region ends with the trials.
        var run = new TrainingRun("rl2", "bandit-k5", new Dictionary<string, string> { ["hidden-size"] = "8", ["optimizer"] = "ppo" }, seed: 4);
        var learner = (MetaRl.Algorithms.Rl2.Rl2)run.Learner;
        var tasks = new MetaRl.Envs.Bandits.BernoulliBanditDistribution(5).Sample(50, new Rng(5)).Cast<object>().ToList();
        var modes = new List<GCLatencyMode>();
        learner.RunTrials(tasks, 10, new Rng(6), (_, _, _, _, _) => modes.Add(GCSettings.LatencyMode));
        Assert.Equal(50 * 10, modes.Count);
        Assert.All(modes, m => Assert.Equal(GCLatencyMode.NoGCRegion, m));
        Assert.NotEqual(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
    }

    /// <summary>
    /// An off-policy learner's gradient steps that allocate 5 MB each (MT-SAC's locomotion-10 minibatches take about 3):
    /// every step still runs inside a no-GC region (with 50 steps per stretch, the old rule, the region's 200 MB ran
    /// out mid-stretch and a collection could free a Scalar under a native call), and every step is taken.
    /// </summary>
    [Fact]
    public void OffPolicyGradientStepsThatAllocateMuchStayInsideNoGcRegions()
    {
        var learner = new AllocatingLearner(steps: 120, bytesPerStep: 5 << 20);
        learner.Iterate();
        Assert.Equal(120, learner.Modes.Count);
        Assert.All(learner.Modes, m => Assert.Equal(GCLatencyMode.NoGCRegion, m));
        Assert.Equal(120, learner.GradientStepsTaken);
    }

    sealed class AllocatingLearner(int steps, int bytesPerStep) : MetaRl.Algorithms.OffPolicyLearner
    {
        public List<GCLatencyMode> Modes { get; } = [];
        public byte[]? Last;
        public override ParameterSet Parameters => throw new NotSupportedException();
        protected override MetaRl.Algorithms.Collection Collect() => new(0, 0, 1, steps);

        protected override IReadOnlyDictionary<string, double> GradientStep()
        {
            Last = new byte[bytesPerStep];
            Last[^1] = 1; // touched, so the allocation is real
            Modes.Add(GCSettings.LatencyMode);
            return new Dictionary<string, double>();
        }

        protected override void Save(BinaryWriter w) { }
        protected override void Load(BinaryReader r) { }
    }

    [Fact]
    public void ACollectionRunsWhenAGuardedStretchEnds()
    {
        // A loop that allocates nothing between stretches must not keep every stretch's garbage (and the native
        // memory of its undisposed tensors) until some unrelated allocation triggers a collection.
        int inside;
        using (NativeCallGuard.Enter())
        {
            _ = new byte[1000];
            inside = GC.CollectionCount(1);
        }
        Assert.True(GC.CollectionCount(1) > inside);
    }
}
