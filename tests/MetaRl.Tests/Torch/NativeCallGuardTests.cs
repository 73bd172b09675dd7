using System.Runtime;
using MetaRl.Experiments;
using MetaRl.Torch;

namespace MetaRl.Tests.Torch;

public class NativeCallGuardTests
{
    [Fact]
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
