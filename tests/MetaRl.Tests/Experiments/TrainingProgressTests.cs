using MetaRl.Experiments;

namespace MetaRl.Tests.Experiments;

public class TrainingProgressTests
{
    static IterationResult At(int iteration) => new(iteration, 0, 0, 0, 0, new Dictionary<string, double>());

    [Fact]
    public void TimeLeftOfAResumedRunIsPacedByTheIterationsOfThisProcessOnly()
    {
        // Resumed at 110 of 900; three iterations in 60 s: 20 s each, 787 left.
        var resumed = new TrainingProgress(At(113), 900, 0, TimeSpan.FromSeconds(60), StartIteration: 110);
        Assert.Equal(787 * 20.0, resumed.Remaining.TotalSeconds, 6);

        var fresh = new TrainingProgress(At(4), 10, 0, TimeSpan.FromSeconds(8));
        Assert.Equal(12.0, fresh.Remaining.TotalSeconds, 6);
    }
}
