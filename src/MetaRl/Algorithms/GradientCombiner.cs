using static TorchSharp.torch;

namespace MetaRl.Algorithms;

/// <summary>
/// The losses of one gradient update: the total a plain backward differentiates and, where the learner can split
/// it, each task's share (their sum is the total), made only when a combiner asks, since a split costs a backward
/// pass per task.
/// </summary>
public sealed class UpdateLosses(Tensor total, Func<IReadOnlyList<Tensor>>? perTask = null)
{
    public Tensor Total => total;
    /// <summary>Whether the learner can give each task's share.</summary>
    public bool HasTasks => perTask is not null;
    /// <summary>Each task's share of <see cref="Total"/>, with its graph.</summary>
    public IReadOnlyList<Tensor> PerTask() => (perTask ?? throw new InvalidOperationException("this update's loss is not split by task")).Invoke();
}

/// <summary>
/// The seam between backward and step: how an update's losses become the gradient its optimizer steps along. The
/// sum of the tasks' gradients is the plain backward; the gradient surgeries of multi-task RL (PCGrad's projections
/// of conflicting task gradients, GradNorm's task weights) are other combiners over the per-task losses.
/// </summary>
public interface IGradientCombiner
{
    /// <summary>Leaves in each parameter's <c>.grad</c> the gradient to step along (zeroed before, as an optimizer's zero_grad leaves it).</summary>
    void Backward(UpdateLosses losses, IReadOnlyList<Tensor> parameters);
}

/// <summary>The plain gradient of the total loss: the sum of the tasks' gradients.</summary>
public sealed class SumOfGradients : IGradientCombiner
{
    public static readonly SumOfGradients Instance = new();

    public void Backward(UpdateLosses losses, IReadOnlyList<Tensor> parameters) => losses.Total.backward();
}
