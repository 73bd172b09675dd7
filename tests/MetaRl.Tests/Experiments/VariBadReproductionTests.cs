using MetaRl.Experiments;

namespace MetaRl.Tests.Experiments;

public class VariBadReproductionTests
{
    // The verdict on the variBAD paper's episode-1 claim reads each method's expected episode-1 return as the report
    // shows it (to 0.01) against the Bayes-optimal one: nearer wins, equal when rounded is level.
    [Theory]
    [InlineData(4.00, 3.95, "ours agrees.")]
    [InlineData(3.53, 3.95, "ours does not agree: RL2 is nearer.")]
    [InlineData(4.001, 3.998, "here they are level.")]
    [InlineData(3.90, 4.10, "here they are level.")] // as far above as below: equally near
    public void EpisodeOneVerdictComparesTheExpectedReturnsDistanceFromBayesOptimal(double varibad, double rl2, string verdict)
    {
        string line = VariBadReproduction.EpisodeOneVerdict([("varibad", varibad), ("rl2", rl2)], 4.0);
        Assert.EndsWith(verdict, line);
        Assert.StartsWith(FormattableString.Invariant($"Episode 1 in expectation over the goals: varibad {varibad:0.00}, rl2 {rl2:0.00}, Bayes-optimal 4.00."), line);
    }

    [Fact]
    public void EpisodeOneVerdictWithOneMethodSaysSo()
        => Assert.EndsWith("this reproduction ran one of them.", VariBadReproduction.EpisodeOneVerdict([("rl2", 3.95)], 4.0));
}
