using MetaRl.Algorithms.Classical;

namespace MetaRl.Tests.Classical;

public class GittinsIndexTests
{
    [Theory]
    [InlineData(0, 0)]
    [InlineData(3, 1)]
    [InlineData(0, 7)]
    [InlineData(12, 30)]
    public void WithOnePullLeftTheIndexIsThePosteriorMean(int s, int f)
    {
        // Nothing can be learned for later: pulling is worth exactly the posterior mean.
        Assert.Equal((s + 1.0) / (s + f + 2.0), GittinsIndex.Exact(s, f, 1), 12);
        Assert.Equal((s + 1.0) / (s + f + 2.0), GittinsIndex.Compute(s, f, 1), 6);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(2, 1)]
    [InlineData(1, 4)]
    [InlineData(10, 10)]
    public void TheIndexExceedsTheMeanAndGrowsWithThePullsLeft(int s, int f)
    {
        // More pulls left make what a pull teaches worth more.
        double mean = GittinsIndex.PosteriorMean(s, f), previous = mean;
        for (int m = 2; m <= 40; m++)
        {
            double index = GittinsIndex.Exact(s, f, m);
            Assert.True(index > mean + 1e-4, $"index({s},{f},{m}) = {index} should exceed the mean {mean}");
            Assert.True(index >= previous - 2 * GittinsIndex.Tolerance, $"index({s},{f},{m}) = {index} < index at {m - 1} = {previous}");
            previous = index;
        }
        Assert.True(GittinsIndex.Exact(s, f, 40) > GittinsIndex.Exact(s, f, 2) + 0.01);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 0)]
    [InlineData(0, 1)]
    [InlineData(4, 2)]
    [InlineData(1, 9)]
    public void TwoPullsLeftMatchesTheClosedForm(int s, int f)
    {
        // With p = (s+1)/(n+2) and p+ = (s+2)/(n+3) the mean after a success: pulling now gives p, then the better
        // of lambda and the new mean on the last pull. The index lies in [p, p+], so after a success the arm is kept
        // and after a failure one retires: p + p p+ + (1 - p) lambda = 2 lambda, i.e. lambda = p (1 + p+) / (1 + p).
        // For (0, 0): (1/2)(5/3)/(3/2) = 5/9.
        double p = (s + 1.0) / (s + f + 2.0), pUp = (s + 2.0) / (s + f + 3.0);
        Assert.Equal(p * (1 + pUp) / (1 + p), GittinsIndex.Exact(s, f, 2), 6);
        if (s == 0 && f == 0) Assert.Equal(5.0 / 9.0, GittinsIndex.Exact(0, 0, 2), 6);
    }

    [Fact]
    public void TheIndexIsTheIndifferencePoint()
    {
        // Just below the index pulling is strictly better than retiring, just above it is worse.
        foreach (var (s, f, m) in new[] { (0, 0, 10), (3, 5, 25), (7, 1, 60) })
        {
            double index = GittinsIndex.Exact(s, f, m);
            Assert.True(GittinsIndex.PullAdvantage(s, f, m, index - 1e-5) > 0);
            Assert.True(GittinsIndex.PullAdvantage(s, f, m, index + 1e-5) < 0);
        }
    }

    [Fact]
    public void LessKnownArmsOfTheSameMeanHaveHigherIndices()
    {
        // Same posterior mean 1/2, less evidence: more to learn, a higher index.
        double fresh = GittinsIndex.Exact(0, 0, 20), some = GittinsIndex.Exact(2, 2, 20), much = GittinsIndex.Exact(20, 20, 20);
        Assert.True(fresh > some && some > much, $"{fresh} > {some} > {much}");
    }

    [Fact]
    public void BeyondTheCapTheIndexUsesTheCappedLookahead()
    {
        Assert.Equal(GittinsIndex.Exact(3, 2, GittinsIndex.DefaultLookaheadCap), GittinsIndex.Index(3, 2, 400));
        Assert.Equal(GittinsIndex.Exact(3, 2, 50), GittinsIndex.Index(3, 2, 50));
        Assert.Equal(GittinsIndex.Exact(3, 2, 7), GittinsIndex.Index(3, 2, 400, lookaheadCap: 7));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(8)]
    public void OnTwoArmsTheGittinsPolicyIsBayesOptimalForShortHorizons(int horizon)
    {
        // Exhaustive DP over the posterior states of a 2-armed Bernoulli bandit from the uniform prior. For these
        // horizons the finite-horizon index policy loses nothing (we measured the first gap at horizon 10, 2.6e-4).
        Assert.Equal(BayesOptimalValue(0, 0, 0, 0, horizon), GittinsPolicyValue(0, 0, 0, 0, horizon), 9);
    }

    [Fact]
    public void OnLongerHorizonsTheGittinsPolicyIsNearlyButNotExactlyBayesOptimal()
    {
        // Finite-horizon Gittins is a heuristic: it stays within 1e-3 of the Bayes-optimal 7.2924 at horizon 12.
        double optimal = BayesOptimalValue(0, 0, 0, 0, 12), gittins = GittinsPolicyValue(0, 0, 0, 0, 12);
        Assert.InRange(optimal - gittins, 0, 2e-3);
        Assert.Equal(7.292408, optimal, 5);
    }

    static double P(int s, int f) => (s + 1.0) / (s + f + 2.0);

    static double PullValue(int s1, int f1, int s2, int f2, int left, int arm, Func<int, int, int, int, int, double> v) => arm == 0
        ? P(s1, f1) * (1 + v(s1 + 1, f1, s2, f2, left - 1)) + (1 - P(s1, f1)) * v(s1, f1 + 1, s2, f2, left - 1)
        : P(s2, f2) * (1 + v(s1, f1, s2 + 1, f2, left - 1)) + (1 - P(s2, f2)) * v(s1, f1, s2, f2 + 1, left - 1);

    static double BayesOptimalValue(int s1, int f1, int s2, int f2, int left) => left == 0 ? 0 :
        Math.Max(PullValue(s1, f1, s2, f2, left, 0, BayesOptimalValue), PullValue(s1, f1, s2, f2, left, 1, BayesOptimalValue));

    /// <summary>Expected total of the index policy; tied indices split the choice evenly, as random tie-breaking does.</summary>
    static double GittinsPolicyValue(int s1, int f1, int s2, int f2, int left)
    {
        if (left == 0) return 0;
        double i1 = GittinsIndex.Exact(s1, f1, left), i2 = GittinsIndex.Exact(s2, f2, left);
        double a = PullValue(s1, f1, s2, f2, left, 0, GittinsPolicyValue), b = PullValue(s1, f1, s2, f2, left, 1, GittinsPolicyValue);
        return i1 > i2 ? a : i2 > i1 ? b : 0.5 * (a + b);
    }
}
