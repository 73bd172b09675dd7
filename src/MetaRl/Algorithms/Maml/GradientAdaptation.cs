using MetaRl.Algorithms.SingleTask;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.Maml;

/// <summary>
/// Adaptation by gradient steps, as in MAML and its baselines (a pre-trained policy fine-tuned, a policy
/// trained from scratch): theta'_i = theta - alpha grad L_Ti(theta) with L the REINFORCE loss and the
/// linear feature baseline, for all tasks of a batch at once through per-task copies of theta.
/// </summary>
public sealed class GradientAdaptation(Policy policy, Sampler sampler, double fastLr, int fastBatchSize, CommonConfig common)
{
    public double FastLr => fastLr;
    /// <summary>The sampler of the inner loop and of test-time adaptation (the learner's; it disposes it).</summary>
    public Sampler Sampler => sampler;
    /// <summary>The task family the sampler draws from.</summary>
    public ITaskDistribution Tasks => sampler.Distribution;
    public int FastBatchSize => fastBatchSize;

    /// <summary>
    /// <paramref name="steps"/> inner steps on the same episodes, from <paramref name="start"/> (shared,
    /// e.g. the policy's leaves, or already per task). Second order keeps the graph for the meta-gradient.
    /// With <paramref name="lowVarianceCurvature"/> the inner objective is ProMP's LVC estimator,
    /// E[pi_theta / stop_gradient(pi_theta_o) A]: the same gradient, a Hessian without the high-variance term.
    /// </summary>
    public ParameterSet Adapt(ParameterSet start, TaskBatch data, int steps, bool firstOrder, bool lowVarianceCurvature = false)
    {
        var theta = start.TaskCount is null ? start.Replicate(data.Tasks) : start;
        Tensor? samplingLogp = null;
        for (int s = 0; s < steps; s++)
        {
            var logp = policy.Distribution(data.Observations, theta).LogProb(data.Actions);
            Tensor loss;
            if (lowVarianceCurvature)
            {
                samplingLogp ??= logp.detach();
                loss = -data.EpisodeMeanPerTask((logp - samplingLogp).exp() * data.Advantages).sum();
            }
            else loss = InnerLoss(logp, data);
            theta = theta.Adapt(loss, fastLr, firstOrder);
        }
        return theta;
    }

    /// <summary>
    /// The sum over tasks of each task's REINFORCE loss -E[log pi(a|s) A] (pytorch-maml-rl's weighted mean):
    /// differentiated with respect to per-task copies of the parameters it gives every task's own gradient.
    /// </summary>
    public static Tensor InnerLoss(Tensor logProbs, TaskBatch data) => -data.EpisodeMeanPerTask(logProbs * data.Advantages).sum();

    /// <summary>
    /// The data of one meta-batch as MAML and ProMP collect it: episodes of every task with theta (pre-update),
    /// the inner step on them, and episodes with the adapted parameters (post-update).
    /// </summary>
    public PrePostBatch SamplePrePost(IReadOnlyList<object> tasks, int innerSteps, Rng rng)
    {
        var pre = sampler.Sample(policy, tasks, fastBatchSize, rng);
        var preData = Prepare(pre, tasks.Count);
        var adapted = Adapt(policy.Parameters, preData, innerSteps, firstOrder: true).Map((_, v) => v.detach());
        var post = sampler.Sample(policy, tasks, fastBatchSize, rng, adapted);
        return new PrePostBatch(pre, preData, adapted, post, Prepare(post, tasks.Count));
    }

    /// <summary>Per-task advantages of a sampled batch in task layout.</summary>
    public TaskBatch Prepare(EpisodeBatch batch, int tasks) =>
        new(batch, tasks, Advantages.PerTask(batch, common.Gamma, common.GaeLambda));

    /// <summary>
    /// Test-time adaptation as the MAML paper evaluates it: sample fast-batch-size episodes per task with
    /// the current parameters and record their return; take one inner step on them; repeat budget times.
    /// Starts from the policy's own parameters.
    /// </summary>
    public AdaptationResult AdaptTo(IReadOnlyList<object> tasks, int budget, Rng rng)
    {
        using var scope = NewDisposeScope();
        var returns = new double[budget + 1][];
        var success = new double[budget + 1][];
        var theta = policy.Parameters.DetachedClone().Replicate(tasks.Count);
        for (int step = 0; ; step++)
        {
            var batch = sampler.Sample(policy, tasks, fastBatchSize, rng, theta);
            (returns[step], success[step]) = PerTaskMeans(batch, tasks.Count);
            if (step == budget) break;
            using var _ = enable_grad();
            var leaves = theta.Map((_, v) => v.detach().requires_grad_(true));
            theta = Adapt(leaves, Prepare(batch, tasks.Count), 1, firstOrder: true).Map((_, v) => v.detach());
        }
        return new AdaptationResult(returns, success, fastBatchSize);
    }

    /// <summary>
    /// The parameters of <see cref="AdaptTo"/>'s procedure on one task, before adapting and after each of
    /// <paramref name="budget"/> inner steps (each on fast-batch-size fresh episodes): what `metarl render` draws.
    /// The returned sets are outside any dispose scope.
    /// </summary>
    public IReadOnlyList<ParameterSet> AdaptationPath(object task, int budget, Rng rng)
    {
        var path = new List<ParameterSet>();
        using var scope = NewDisposeScope();
        var theta = policy.Parameters.DetachedClone().Replicate(1);
        for (int step = 0; ; step++)
        {
            path.Add(theta.Map((_, v) => v.detach().clone().MoveToOuterDisposeScope()));
            if (step == budget) break;
            var batch = sampler.Sample(policy, [task], fastBatchSize, rng, theta);
            using var _ = enable_grad();
            var leaves = theta.Map((_, v) => v.detach().requires_grad_(true));
            theta = Adapt(leaves, Prepare(batch, 1), 1, firstOrder: true).Map((_, v) => v.detach());
        }
        return path;
    }

    /// <summary>Mean return and success rate of each task's episodes.</summary>
    public static (double[] Returns, double[] Success) PerTaskMeans(EpisodeBatch batch, int tasks)
    {
        var episodeReturns = batch.EpisodeReturns();
        var r = new double[tasks];
        var s = new double[tasks];
        var n = new int[tasks];
        for (int e = 0; e < batch.Episodes; e++)
        {
            int k = batch.TaskIndex[e];
            r[k] += episodeReturns[e]; s[k] += batch.Success[e] ? 1 : 0; n[k]++;
        }
        for (int k = 0; k < tasks; k++) { r[k] /= n[k]; s[k] /= n[k]; }
        return (r, s);
    }
}

/// <summary>Pre-update episodes, the adapted parameters (no graph) and the post-update episodes of a meta-batch.</summary>
public sealed record PrePostBatch(EpisodeBatch Pre, TaskBatch PreData, ParameterSet Adapted, EpisodeBatch Post, TaskBatch PostData);

/// <summary>
/// A multi-task batch as tensors in task layout: [K, T, E, ...] for K tasks of E episodes (the sampler's
/// [T, K*E] split by task), with advantages and the per-episode masks and lengths.
/// </summary>
public sealed class TaskBatch
{
    public TaskBatch(EpisodeBatch batch, int tasks, float[] advantages)
        : this(tasks, ByTask(batch.ObservationsTensor(), tasks), ByTask(batch.ActionsTensor(), tasks),
               ByTask(batch.MaskTensor(), tasks), ByTask(EpisodeBatch.AsTensor(advantages, batch), tasks))
    {
    }

    TaskBatch(int tasks, Tensor observations, Tensor actions, Tensor mask, Tensor advantages)
    {
        Tasks = tasks;
        Observations = observations; Actions = actions; Mask = mask; Advantages = advantages;
        Lengths = Mask.sum([1L]).clamp_min(1); // [K, E]
    }

    public int Tasks { get; }
    public Tensor Observations { get; }
    public Tensor Actions { get; }
    public Tensor Mask { get; }
    public Tensor Advantages { get; }
    public Tensor Lengths { get; }

    /// <summary>The same data in another precision (double for gradient checks).</summary>
    public TaskBatch To(ScalarType type) => new(Tasks, Observations.to(type), Actions.to(type), Mask.to(type), Advantages.to(type));

    /// <summary>[T, K*E, ...] -> [K, T, E, ...] (episodes are task-major in a sampler batch).</summary>
    public static Tensor ByTask(Tensor x, int tasks)
    {
        var s = x.shape;
        return x.view([s[0], (long)tasks, s[1] / tasks, .. s[2..]]).transpose(0, 1);
    }

    /// <summary>pytorch-maml-rl's weighted mean: each episode's mean over its steps, then the mean over a task's episodes: [K].</summary>
    public Tensor EpisodeMeanPerTask(Tensor x) => ((x * Mask).sum([1L]) / Lengths).mean([1L]);

    /// <summary>The mean over tasks of <see cref="EpisodeMeanPerTask"/>.</summary>
    public Tensor EpisodeMean(Tensor x) => EpisodeMeanPerTask(x).mean();
}
