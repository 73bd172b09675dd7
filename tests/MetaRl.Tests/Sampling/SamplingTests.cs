using MetaRl.Baselines;
using MetaRl.Envs;
using MetaRl.Envs.Navigation;
using MetaRl.Policies;
using MetaRl.Sampling;
using MetaRl.Torch;

namespace MetaRl.Tests.Sampling;

public class SamplingTests
{
    static EpisodeBatch Batch(float[,] rewards, int[] lengths)
    {
        int t = rewards.GetLength(0), n = rewards.GetLength(1);
        var b = new EpisodeBatch(t, n, 1, 1, new int[n]);
        for (int e = 0; e < n; e++)
        {
            b.Lengths[e] = lengths[e];
            for (int s = 0; s < lengths[e]; s++) { b.Rewards[s * n + e] = rewards[s, e]; b.Mask[s * n + e] = 1; }
        }
        return b;
    }

    [Fact]
    public void DiscountedReturnsStopAtTheEpisodeEnd()
    {
        var b = Batch(new float[,] { { 1, 2 }, { 1, 0 }, { 1, 0 } }, [3, 1]);
        var g = Advantages.DiscountedReturns(b, 0.5);
        Assert.Equal([1.75f, 2f, 1.5f, 0f, 1f, 0f], g);
    }

    [Fact]
    public void GaeMatchesTheHandComputedRecursion()
    {
        var b = Batch(new float[,] { { 1 }, { 2 } }, [2]);
        var values = new float[] { 0.5f, 1.0f };
        // delta1 = 2 - 1 = 1; delta0 = 1 + 0.9 * 1 - 0.5 = 1.4; A0 = 1.4 + 0.9 * 0.8 * 1 = 2.12
        var adv = Advantages.Gae(b, values, gamma: 0.9, lambda: 0.8);
        Assert.Equal(2.12f, adv[0], 5);
        Assert.Equal(1f, adv[1], 5);
        // lambda = 1: advantages are returns minus values.
        var mc = Advantages.Gae(b, values, 0.9, 1.0);
        var g = Advantages.DiscountedReturns(b, 0.9);
        Assert.Equal(g[0] - values[0], mc[0], 5);
    }

    [Fact]
    public void NormalizeUsesOnlyMaskedSteps()
    {
        var x = new float[] { 1, 3, 100 };
        Advantages.Normalize(x, [1, 1, 0]);
        Assert.Equal([-1f, 1f, 0f], x, new Envs.FloatTolerance(1e-5f));
    }

    [Fact]
    public void LinearBaselineFitsReturnsThatAreLinearInItsFeatures()
    {
        // Returns = 2 s - s^2 + 3 (t/100) + 0.5: exactly representable, so the fit is exact (up to the ridge term).
        var b = new EpisodeBatch(5, 3, 1, 1, new int[3]);
        var returns = new float[15];
        var rng = new Rng(1);
        for (int e = 0; e < 3; e++)
        {
            b.Lengths[e] = 5;
            for (int t = 0; t < 5; t++)
            {
                int i = t * 3 + e;
                float s = (float)rng.Uniform(-1, 1);
                b.Observations[i] = s; b.Mask[i] = 1;
                returns[i] = 2 * s - s * s + 3 * (t / 100f) + 0.5f;
            }
        }
        var fitted = LinearFeatureBaseline.FitPredict(b, returns);
        for (int i = 0; i < 15; i++) Assert.InRange(fitted[i] - returns[i], -1e-3f, 1e-3f);
    }

    [Fact]
    public void SamplerCollectsTasksTimesEpisodesWithMasksAndIsDeterministic()
    {
        TorchNative.EnsureLoaded();
        var dist = new Navigation2DDistribution();
        var policy = new GaussianMlpPolicy(2, (Box)dist.ActionSpace, [16], new Rng(0));
        // A goal at the origin's corner is reached early by no one; a goal next to the origin is reached by the deterministic policy? Use a reachable one:
        var tasks = dist.Sample(3, new Rng(5)).Cast<object>().ToList();
        var sampler = new Sampler(dist);
        var a = sampler.Sample(policy, tasks, 4, new Rng(9));
        var b = new Sampler(dist).Sample(policy, tasks, 4, new Rng(9));
        Assert.Equal(12, a.Episodes);
        Assert.Equal(100, a.Horizon);
        Assert.Equal([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2], a.TaskIndex);
        Assert.Equal(a.Observations, b.Observations);
        Assert.Equal(a.Actions, b.Actions);
        Assert.Equal(a.Rewards, b.Rewards);
        Assert.Equal(a.Mask.Sum(), a.Steps);
        Assert.NotEqual(a.Rewards, new Sampler(dist).Sample(policy, tasks, 4, new Rng(10)).Rewards);
        // Rewards match the env's definition: minus the distance from the next position to the episode's goal.
        int n = a.Episodes;
        for (int e = 0; e < n; e++)
        {
            var goal = (GoalTask)tasks[a.TaskIndex[e]];
            float x = Math.Clamp(a.Actions[e * 2], -0.1f, 0.1f), y = Math.Clamp(a.Actions[e * 2 + 1], -0.1f, 0.1f);
            Assert.Equal(-MathF.Sqrt((x - goal.GoalX) * (x - goal.GoalX) + (y - goal.GoalY) * (y - goal.GoalY)), a.Rewards[e], 5);
        }
    }

    [Fact]
    public void SamplerMasksEpisodesThatEndEarly()
    {
        TorchNative.EnsureLoaded();
        var dist = new Navigation2DDistribution();
        var policy = new GaussianMlpPolicy(2, (Box)dist.ActionSpace, [8], new Rng(0));
        // Zero the policy so its mean action is 0: with a goal at the origin the episode ends at the first step
        // only if the noisy action lands within 0.01; use the deterministic mode for an exact case.
        foreach (var p in policy.Parameters.Values) { using var _ = TorchSharp.torch.no_grad(); p.zero_(); }
        var batch = new Sampler(dist).Sample(policy, [new GoalTask(0.005f, 0.005f), new GoalTask(0.3f, 0.3f)], 1, new Rng(1), deterministic: true);
        Assert.Equal([1, 100], batch.Lengths);
        Assert.Equal([true, false], batch.Success);
        Assert.Equal(0f, batch.Mask[1 * 2 + 0]);
        Assert.Equal(1f, batch.Mask[1 * 2 + 1]);
    }
}
