using MetaRl.Algorithms.SingleTask;
using MetaRl.Envs;
using MetaRl.Envs.Navigation;
using MetaRl.Experiments;
using MetaRl.Policies;
using MetaRl.Sampling;
using MetaRl.Torch;

namespace MetaRl.Tests.Algorithms;

public class SingleTaskLearningTests
{
    readonly Xunit.Abstractions.ITestOutputHelper _out;

    public SingleTaskLearningTests(Xunit.Abstractions.ITestOutputHelper output)
    {
        _out = output;
        TorchNative.EnsureLoaded();
    }

    [Fact]
    public void TrpoStepStaysInTheTrustRegionAndImprovesTheSurrogate()
    {
        var dist = new Navigation2DDistribution();
        var rng = new Rng(4);
        var policy = new GaussianMlpPolicy(2, (Box)dist.ActionSpace, [32, 32], rng.Split());
        var common = new CommonConfig();
        var config = new TrpoConfig { MaxKl = 0.01 };
        var trpo = new Trpo(policy, config, common);
        var batch = new Sampler(dist).Sample(policy, [new GoalTask(0.3f, -0.2f)], 20, rng);
        var before = policy.Parameters.Flatten().detach().clone();
        var stats = trpo.Update(batch);
        Assert.Equal(1, stats["accepted"]);
        Assert.InRange(stats["kl"], 1e-6, config.MaxKl);
        Assert.True(stats["loss_after"] < stats["loss_before"], $"surrogate loss {stats["loss_before"]} -> {stats["loss_after"]}");
        Assert.True((policy.Parameters.Flatten() - before).abs().max().item<float>() > 0);
    }

    (double First, double Last) Learn(string algorithm, int iterations, params (string, string)[] extra)
    {
        var values = new Dictionary<string, string> { ["num-batches"] = $"{iterations}", ["hidden-sizes"] = "32,32" };
        foreach (var (k, v) in extra) values[k] = v;
        var run = new TrainingRun(algorithm, "2d-navigation", values, seed: 3);
        var returns = Enumerable.Range(0, iterations).Select(_ => run.RunIteration().MeanReturn).ToList();
        _out.WriteLine($"{algorithm}: {string.Join(" ", returns.Select(r => r.ToString("0.0")))}");
        return (returns.Take(3).Average(), returns.TakeLast(3).Average());
    }

    [Fact]
    [Trait(Category.Name, Category.Slow)]
    public void PpoLearnsAFixedGoalNavigationTask()
    {
        var (first, last) = Learn("ppo", 25);
        Assert.True(last > first + 30, $"PPO mean return went from {first:0.0} to {last:0.0}");
    }

    [Fact]
    [Trait(Category.Name, Category.Slow)]
    public void TrpoLearnsAFixedGoalNavigationTask()
    {
        var (first, last) = Learn("trpo", 25);
        Assert.True(last > first + 30, $"TRPO mean return went from {first:0.0} to {last:0.0}");
    }

    [Fact]
    public void VpgLearnsAFixedGoalNavigationTask()
    {
        var (first, last) = Learn("vpg", 25);
        Assert.True(last > first + 30, $"VPG mean return went from {first:0.0} to {last:0.0}");
    }
}
