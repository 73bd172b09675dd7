using MetaRl.Algorithms.Classical;

namespace MetaRl.Tests.Classical;

public class TabularPlanningTests
{
    [Fact]
    public void ValueIterationMatchesAHandSolvedTwoStateMdp()
    {
        // State 0: a0 pays 1 and stays; a1 pays 0 and moves to 1.
        // State 1: a0 pays 2 and moves to 0 or 1 with probability 1/2 each; a1 pays 0.5 and stays.
        // One step left:   Q(0) = (1, 0),        V(0) = 1;  Q(1) = (2, 0.5),  V(1) = 2.
        // Two steps left:  Q(0) = (1+1, 0+2),    V(0) = 2;  Q(1) = (2 + (2+1)/2, 0.5+2) = (3.5, 2.5), V(1) = 3.5.
        // Three steps left: Q(0) = (1+2, 0+3.5), V(0) = 3.5; Q(1) = (2 + (3.5+2)/2, 0.5+3.5) = (4.75, 4).
        double[] p = [1, 0, 0, 1, 0.5, 0.5, 0, 1];
        double[] r = [1, 0, 2, 0.5];
        var q = TabularPlanner.Plan(2, 2, 3, p, r);
        Assert.Equal([3, 3.5, 4.75, 4, 2, 2, 3.5, 2.5, 1, 0, 2, 0.5], q);
        Assert.Equal(3.5, TabularPlanner.Value(q, 2, 2, 0, 0));
        Assert.Equal(4.75, TabularPlanner.Value(q, 2, 2, 0, 1));
        Assert.Equal(1, TabularPlanner.Value(q, 2, 2, 2, 0));
    }

    [Fact]
    public void OptimisticExpectationMovesMassFromTheWorstToTheBestState()
    {
        double[] pHat = [0.5, 0.3, 0.2], v = [1, 3, 2];
        // Radius 0: the plain expectation 0.5 + 0.9 + 0.4.
        Assert.Equal(1.8, Ucrl2.OptimisticExpectation(pHat, 0, v), 12);
        // Radius 0.4: 0.2 more on state 1, taken from state 0 (the worst): (0.3, 0.5, 0.2) -> 0.3 + 1.5 + 0.4.
        Assert.Equal(2.2, Ucrl2.OptimisticExpectation(pHat, 0.4, v), 12);
        // Radius 1.2: 0.6 onto state 1, 0.5 from state 0 then 0.1 from state 2: (0, 0.9, 0.1).
        Assert.Equal(2.9, Ucrl2.OptimisticExpectation(pHat, 1.2, v), 12);
        // A radius of 2 or more allows any distribution: all mass on the best state.
        Assert.Equal(3, Ucrl2.OptimisticExpectation(pHat, 5, v), 12);
    }

    [Fact]
    public void ThePosteriorIsConjugate()
    {
        var post = new MdpPosterior(3, 2);
        Assert.Equal(1.0, post.MeanReward(1, 1));
        Assert.Equal(1.0 / 3, post.MeanTransition(1, 1, 2), 12);
        post.Observe(1, 1, 2.5, 2);
        post.Observe(1, 1, -0.5, 2);
        post.Observe(1, 1, 1.0, 0);
        // Prior N(1, 1), noise variance 1, three rewards summing to 3: N((1 + 3) / 4, 1 / 4).
        Assert.Equal(1.0, post.MeanReward(1, 1), 12);
        Assert.Equal(0.5, post.RewardStd(1, 1), 12);
        // Dirichlet(1, 1, 1) plus counts (1, 0, 2): mean (2, 1, 3) / 6.
        Assert.Equal(2.0 / 6, post.MeanTransition(1, 1, 0), 12);
        Assert.Equal(3.0 / 6, post.MeanTransition(1, 1, 2), 12);
        // RL2's agents kept a N(0, 1) prior: rewards (1, 0, 0, 0) then give (0 + 1) / (1 + 4).
        var zero = new MdpPosterior(1, 1, priorRewardMean: 0);
        foreach (var reward in new[] { 1.0, 0, 0, 0 }) zero.Observe(0, 0, reward, 0);
        Assert.Equal(0.2, zero.MeanReward(0, 0), 12);
    }

    [Fact]
    public void PosteriorSamplesHaveThePosteriorMoments()
    {
        var post = new MdpPosterior(3, 1);
        for (int i = 0; i < 3; i++) post.Observe(0, 0, 2.0, i == 0 ? 0 : 2);
        var rng = new Rng(5);
        var p = new double[9];
        var r = new double[3];
        int n = 20000;
        double sumR = 0, sumR2 = 0, sumP0 = 0;
        for (int i = 0; i < n; i++)
        {
            post.SampleModel(rng, p, r);
            Assert.Equal(1.0, p[0] + p[1] + p[2], 12);
            sumR += r[0]; sumR2 += r[0] * r[0]; sumP0 += p[0];
        }
        // Reward mean (1 + 6) / 4 = 1.75 with variance 1/4; P(0 | 0, 0) mean (1 + 1) / (3 + 3) = 1/3.
        Assert.Equal(1.75, sumR / n, 0.015);
        Assert.Equal(0.25, sumR2 / n - (sumR / n) * (sumR / n), 0.01);
        Assert.Equal(1.0 / 3, sumP0 / n, 0.005);
    }
}
