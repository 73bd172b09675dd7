using MetaRl.Core;

namespace MetaRl.Tests.Envs;

public class RngTests
{
    [Fact]
    public void SameSeedSameStreamAndStateRestores()
    {
        var a = new Rng(42); var b = new Rng(42);
        for (int i = 0; i < 100; i++) Assert.Equal(a.NextULong(), b.NextULong());
        a.Normal(); // leaves a spare normal in the state
        var saved = a.State;
        var x = Enumerable.Range(0, 10).Select(_ => a.Normal()).ToArray();
        var c = new Rng(0); c.Restore(saved);
        Assert.Equal(x, Enumerable.Range(0, 10).Select(_ => c.Normal()).ToArray());
        Assert.NotEqual(new Rng(1).NextULong(), new Rng(2).NextULong());
    }

    [Fact]
    public void DistributionsHaveTheRightMoments()
    {
        var rng = new Rng(7);
        var n = Enumerable.Range(0, 50000).Select(_ => rng.Normal()).ToArray();
        Assert.Equal(0, n.Average(), 1);
        Assert.Equal(1, n.Select(v => v * v).Average(), 1);
        var g = Enumerable.Range(0, 50000).Select(_ => rng.Gamma(0.5)).ToArray();
        Assert.Equal(0.5, g.Average(), 1);  // mean = shape
        Assert.Equal(0.5, g.Select(v => (v - 0.5) * (v - 0.5)).Average(), 1); // variance = shape
        var ints = new int[5];
        for (int i = 0; i < 50000; i++) ints[rng.NextInt(5)]++;
        Assert.All(ints, k => Assert.InRange(k, 9500, 10500));
        Assert.Equal(2, rng.Categorical([0f, 0f, 1f]));
    }
}
