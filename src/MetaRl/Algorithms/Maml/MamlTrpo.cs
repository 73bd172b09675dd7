using MetaRl.Algorithms.SingleTask;
using MetaRl.Envs;
using MetaRl.Experiments;
using MetaRl.Policies;
using MetaRl.Sampling;
using MetaRl.Torch;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.Maml;

/// <summary>MAML's settings; names and defaults are pytorch-maml-rl's (configs/maml/2d-navigation.yaml).</summary>
public sealed class MamlConfig
{
    [Key("fast-lr", "alpha: step size of the inner (adaptation) gradient step", Min = 0, MinExclusive = true)] public double FastLr { get; set; } = 0.1;
    [Key("num-steps", "inner gradient steps per task", Min = 1)] public int NumSteps { get; set; } = 1;
    [Key("fast-batch-size", "episodes per task for each inner step (and for the post-adaptation batch)", Min = 1)] public int FastBatchSize { get; set; } = 20;
    [Key("meta-batch-size", "tasks per meta-update", Min = 1)] public int MetaBatchSize { get; set; } = 20;
    [Key("first-order", "drop the second-order term (FOMAML)")] public bool FirstOrder { get; set; }
}

/// <summary>
/// MAML for RL with a TRPO meta-update (Finn, Abbeel, Levine 2017, Algorithm 3; pytorch-maml-rl):
///   3: sample a batch of tasks T_i ~ p(T)
///   5: sample K trajectories D_i with f_theta in each T_i
///  6-7: theta'_i = theta - alpha grad L_Ti(f_theta) on D_i (VPG loss, linear feature baseline)
///   8: sample trajectories D'_i with f_theta'_i in T_i
///  10: update theta by TRPO on sum_i L_Ti(f_theta'_i) over D'_i, differentiating through step 7
///      (second order; with first-order: true the inner gradient is a constant: FOMAML).
/// All tasks run together: the inner gradients of the meta-batch come from one backward pass through
/// per-task copies of theta (<see cref="ParameterSet.Replicate"/>), and every forward is one batched
/// matrix product over tasks.
/// </summary>
public sealed class MamlTrpo : IMetaLearner
{
    readonly ITaskDistribution _tasks;
    readonly Sampler _sampler;
    readonly Rng _rng;

    public MamlTrpo(ITaskDistribution tasks, Policy policy, MamlConfig maml, TrpoConfig trpo, CommonConfig common, Rng rng)
    {
        _tasks = tasks; Policy = policy; Maml = maml; Trpo = trpo; Common = common; _rng = rng;
        _sampler = new Sampler(tasks);
    }

    public Policy Policy { get; }
    public MamlConfig Maml { get; }
    public TrpoConfig Trpo { get; }
    public CommonConfig Common { get; }

    /// <summary>One meta-iteration (lines 3-10).</summary>
    public LearnerIteration Iterate()
    {
        using var scope = NewDisposeScope();
        var tasks = _tasks.SampleTasks(Maml.MetaBatchSize, _rng);
        var train = _sampler.Sample(Policy, tasks, Maml.FastBatchSize, _rng);                     // line 5
        var trainData = new TaskBatch(train, tasks.Count, Advantages.PerTask(train, Common.Gamma, Common.GaeLambda));
        var adapted = Adapt(Policy.Parameters, trainData, Maml.NumSteps, firstOrder: true);       // lines 6-7 (for sampling)
        var valid = _sampler.Sample(Policy, tasks, Maml.FastBatchSize, _rng, adapted.Map((_, v) => v.detach())); // line 8
        var validData = new TaskBatch(valid, tasks.Count, Advantages.PerTask(valid, Common.Gamma, Common.GaeLambda));

        // Line 10: TRPO on the post-adaptation surrogate. The old policy is the adapted one at the current theta.
        IActionDistribution? oldPi = null;
        Tensor? oldLogp = null;
        (Tensor Loss, Tensor Kl) Objective(bool firstOrder)
        {
            var theta = Adapt(Policy.Parameters, trainData, Maml.NumSteps, firstOrder);
            var pi = Policy.Distribution(validData.Observations, theta);
            var logp = pi.LogProb(validData.Actions);
            oldPi ??= pi.Detach();
            oldLogp ??= logp.detach();
            var ratio = (logp - oldLogp).exp();
            return (-validData.EpisodeMean(ratio * validData.Advantages), validData.EpisodeMean(pi.KlFrom(oldPi)));
        }
        (double, double) Evaluate()
        {
            using var inner = NewDisposeScope();
            var (l, k) = Objective(firstOrder: true); // the line search needs values only: first order suffices
            return (l.item<float>(), k.item<float>());
        }
        var step = TrpoStep.Apply(Policy.Parameters, () => Objective(Maml.FirstOrder), Evaluate, Trpo);

        return new LearnerIteration(valid.MeanReturn, valid.SuccessRate, train.Steps + valid.Steps, new Dictionary<string, double>
        {
            ["pre_return"] = train.MeanReturn, ["post_return"] = valid.MeanReturn,
            ["pre_success"] = train.SuccessRate, ["post_success"] = valid.SuccessRate,
            ["loss_before"] = step.LossBefore, ["loss_after"] = step.LossAfter, ["kl"] = step.Kl,
            ["ls_steps"] = step.LineSearchSteps, ["accepted"] = step.Accepted ? 1 : 0,
        });
    }

    /// <summary>
    /// theta'_i = theta - alpha grad L_Ti(theta), for every task at once, <paramref name="steps"/> times on
    /// the same episodes. <paramref name="start"/> is shared (the policy's leaves) or already per task.
    /// </summary>
    public ParameterSet Adapt(ParameterSet start, TaskBatch data, int steps, bool firstOrder)
    {
        var theta = start.TaskCount is null ? start.Replicate(data.Tasks) : start;
        for (int s = 0; s < steps; s++)
        {
            var logp = Policy.Distribution(data.Observations, theta).LogProb(data.Actions);
            // Sum over tasks of each task's REINFORCE loss: its gradient with respect to the per-task copies is every task's own gradient.
            var loss = -data.EpisodeMeanPerTask(logp * data.Advantages).sum();
            theta = theta.Adapt(loss, Maml.FastLr, firstOrder);
        }
        return theta;
    }

    /// <summary>Adaptation as evaluated in the MAML paper: sample with the current parameters, record the return, take an inner step on those episodes; repeat.</summary>
    public AdaptationResult AdaptTo(IReadOnlyList<object> tasks, int budget, Rng rng)
    {
        using var scope = NewDisposeScope();
        var returns = new double[budget + 1][];
        var success = new double[budget + 1][];
        ParameterSet theta = Policy.Parameters.DetachedClone().Replicate(tasks.Count);
        for (int step = 0; ; step++)
        {
            var batch = _sampler.Sample(Policy, tasks, Maml.FastBatchSize, rng, theta);
            (returns[step], success[step]) = PerTaskMeans(batch, tasks.Count);
            if (step == budget) break;
            var data = new TaskBatch(batch, tasks.Count, Advantages.PerTask(batch, Common.Gamma, Common.GaeLambda));
            using var _ = enable_grad();
            var leaves = theta.Map((_, v) => v.detach().requires_grad_(true));
            theta = Adapt(leaves, data, 1, firstOrder: true).Map((_, v) => v.detach());
        }
        return new AdaptationResult(returns, success);
    }

    internal static (double[] Returns, double[] Success) PerTaskMeans(EpisodeBatch batch, int tasks)
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

    public void SaveState(BinaryWriter w) => Policy.Parameters.Save(w);
    public void LoadState(BinaryReader r) => Policy.Parameters.Load(r);
}

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

    /// <summary>The same data in another precision (double for gradient checks).</summary>
    public TaskBatch To(ScalarType type) => new(Tasks, Observations.to(type), Actions.to(type), Mask.to(type), Advantages.to(type));

    public int Tasks { get; }
    public Tensor Observations { get; }
    public Tensor Actions { get; }
    public Tensor Mask { get; }
    public Tensor Advantages { get; }
    public Tensor Lengths { get; }

    /// <summary>[T, K*E, ...] -> [K, T, E, ...] (episodes are task-major in a sampler batch).</summary>
    public static Tensor ByTask(Tensor x, int tasks)
    {
        var s = x.shape;
        return x.view([s[0], (long)tasks, s[1] / tasks, .. s[2..]]).transpose(0, 1);
    }

    /// <summary>pytorch-maml-rl's weighted mean: each episode's mean over its steps, then the mean over a task's episodes: [K].</summary>
    public Tensor EpisodeMeanPerTask(Tensor x) => ((x * Mask).sum([1L]) / Lengths).mean([1]);

    /// <summary>The mean over tasks of <see cref="EpisodeMeanPerTask"/>.</summary>
    public Tensor EpisodeMean(Tensor x) => EpisodeMeanPerTask(x).mean();
}
