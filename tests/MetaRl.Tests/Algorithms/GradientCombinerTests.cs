using MetaRl.Algorithms;
using MetaRl.Algorithms.Maml;
using MetaRl.Algorithms.SingleTask;
using MetaRl.Experiments;
using static TorchSharp.torch;

namespace MetaRl.Tests.Algorithms;

/// <summary>The gradient seam: the combiner runs between backward and step, and the per-task losses it may ask for add up to the update's loss.</summary>
public class GradientCombinerTests
{
    /// <summary>Checks the split and then steps along nothing: zero gradients.</summary>
    sealed class ZeroGradients : IGradientCombiner
    {
        public int Calls, Tasks;
        public double Total, SumOfTasks;

        public void Backward(UpdateLosses losses, IReadOnlyList<Tensor> parameters)
        {
            Calls++;
            var perTask = losses.PerTask();
            Tasks = perTask.Count;
            Total = losses.Total.item<float>();
            SumOfTasks = perTask.Sum(l => (double)l.item<float>());
            foreach (var p in parameters) p.grad = zeros_like(p);
        }
    }

    static Dictionary<string, string> Small(string algorithm) => algorithm == "promp"
        ? new() { ["hidden-sizes"] = "8,8", ["fast-batch-size"] = "3", ["meta-batch-size"] = "4" }
        : new() { ["hidden-sizes"] = "8,8", ["batch-size"] = "4" };

    static float[] Flat(TrainingRun run) => run.Learner.Parameters.Flatten().detach().data<float>().ToArray();

    [Theory]
    [InlineData("promp", 4)]
    [InlineData("vpg", 1)]
    [InlineData("ppo", 1)]
    public void TheCombinerDecidesTheGradientAndItsTasksAddUpToTheLoss(string algorithm, int tasks)
    {
        using var plain = new TrainingRun(algorithm, "2d-navigation", Small(algorithm), seed: 3);
        using var zeroed = new TrainingRun(algorithm, "2d-navigation", Small(algorithm), seed: 3);
        var combiner = new ZeroGradients();
        if (zeroed.Learner is ProMp promp) promp.Combiner = combiner;
        else ((SingleTaskLearner)zeroed.Learner).Optimizer.Combiner = combiner;
        var start = Flat(zeroed);
        plain.RunIteration();
        zeroed.RunIteration();

        Assert.True(combiner.Calls > 0);
        Assert.Equal(tasks, combiner.Tasks);
        Assert.Equal(combiner.Total, combiner.SumOfTasks, 5);
        Assert.Equal(start, Flat(zeroed)); // Adam on zero gradients does not move
        Assert.NotEqual(start, Flat(plain)); // the plain backward does
    }
}
