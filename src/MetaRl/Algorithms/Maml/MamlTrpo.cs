using MetaRl.Algorithms.SingleTask;
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
public sealed class MamlTrpo : GradientMetaLearner
{
    public MamlTrpo(Sampler sampler, Policy policy, MamlConfig maml, TrpoConfig trpo, CommonConfig common, Rng rng)
        : base(sampler, policy, maml, common, rng)
    {
        Trpo = trpo;
    }

    public TrpoConfig Trpo { get; }

    /// <summary>One meta-iteration (lines 3-10).</summary>
    public override LearnerIteration Iterate()
    {
        using var guard = IterationGuard.Enter();
        using var scope = NewDisposeScope();
        var tasks = Adaptation.Tasks.SampleTasks(Maml.MetaBatchSize, RunRng);                                 // line 3
        var (train, trainData, adaptedO, valid, validData) = Adaptation.SamplePrePost(tasks, Maml.NumSteps, RunRng); // lines 5-8

        // Line 10: TRPO on the post-adaptation surrogate. The old policy is the adapted one at the current theta.
        IActionDistribution oldPi;
        Tensor oldLogp;
        using (no_grad())
        {
            oldPi = Policy.Distribution(validData.Observations, adaptedO).Detach();
            oldLogp = oldPi.LogProb(validData.Actions);
        }
        (Tensor Loss, Tensor Kl) Objective(bool firstOrder)
        {
            var theta = Adapt(Policy.Parameters, trainData, Maml.NumSteps, firstOrder);
            var pi = Policy.Distribution(validData.Observations, theta);
            var ratio = (pi.LogProb(validData.Actions) - oldLogp).exp();
            return (-validData.EpisodeMean(ratio * validData.Advantages), validData.EpisodeMean(pi.KlFrom(oldPi)));
        }
        (double, double) Evaluate()
        {
            using var inner = NewDisposeScope();
            var (l, k) = Objective(firstOrder: true); // the line search needs values only: first order suffices
            return (l.item<float>(), k.item<float>());
        }
        // With one inner step the KL's Hessian has a cheaper exact form (see KlHessianVectorProduct); it is
        // built on first use, after TrpoStep has taken the objective's gradient and freed its graph.
        Func<Tensor, Tensor>? product = null;
        var step = TrpoStep.Apply(Policy.Parameters, () => Objective(Maml.FirstOrder), Evaluate, Trpo,
            Maml.NumSteps == 1 ? v => (product ??= KlHessianVectorProduct(trainData, validData, oldPi, Maml.FirstOrder))(v) : null);

        return new LearnerIteration(valid.MeanReturn, valid.SuccessRate, train.Steps + valid.Steps, new Dictionary<string, double>
        {
            ["pre_return"] = train.MeanReturn, ["post_return"] = valid.MeanReturn,
            ["pre_success"] = train.SuccessRate, ["post_success"] = valid.SuccessRate,
            ["loss_before"] = step.LossBefore, ["loss_after"] = step.LossAfter, ["kl"] = step.Kl,
            ["ls_steps"] = step.LineSearchSteps, ["accepted"] = step.Accepted ? 1 : 0,
        });
    }

    /// <summary>
    /// v -> H v for the meta-objective's KL at the current (old) parameters, with one inner step. Since the
    /// KL is minimal there, its gradient with respect to the adapted parameters vanishes and the Hessian
    /// is exactly H = sum_k J_k^T F_k J_k, with J_k = I - alpha H_inner,k (identity for first order) and F_k
    /// the KL's Hessian at theta'_k. Three double-backward products of first-order graphs replace one
    /// product through the second-order adaptation graph, which costs about twice as much.
    /// </summary>
    public Func<Tensor, Tensor> KlHessianVectorProduct(TaskBatch train, TaskBatch valid, IActionDistribution oldPi, bool firstOrder)
    {
        int k = train.Tasks;
        var theta = Policy.Parameters;
        // Per-task copies as leaves; the inner gradient with its graph, for products with H_inner,k.
        var copies = theta.ReplicateLeaves(k);
        var logp = Policy.Distribution(train.Observations, copies).LogProb(train.Actions);
        var innerGrad = autograd.grad([GradientAdaptation.InnerLoss(logp, train)], copies.Values, create_graph: true, retain_graph: true);
        var adapted = copies.MapIndexed((i, v) => (v - Adaptation.FastLr * innerGrad[i]).detach().requires_grad_(true));
        var kl = valid.EpisodeMean(Policy.Distribution(valid.Observations, adapted).KlFrom(oldPi));
        var klGrad = autograd.grad([kl], adapted.Values, create_graph: true, retain_graph: true);

        Tensor[] Product(IList<Tensor> grads, ParameterSet at, Tensor[] v) =>
            autograd.grad([grads.Zip(v).Select(p => (p.First * p.Second).sum()).Aggregate((a, b) => a + b)], at.Values, retain_graph: true).ToArray();
        Tensor[] J(Tensor[] v) => firstOrder ? v : v.Zip(Product(innerGrad, copies, v)).Select(p => p.First - Adaptation.FastLr * p.Second).ToArray();

        return flat =>
        {
            var perTask = theta.Unflatten(flat.detach()).Values.Select(t => t.unsqueeze(0).expand([k, .. t.shape])).ToArray();
            var z = J(Product(klGrad, adapted, J(perTask)));
            return cat(z.Select(t => t.sum([0L]).reshape(-1)).ToList(), 0);
        };
    }

    /// <summary>The inner loop: theta'_i = theta - alpha grad L_Ti(theta) for all tasks at once.</summary>
    public ParameterSet Adapt(ParameterSet start, TaskBatch data, int steps, bool firstOrder) => Adaptation.Adapt(start, data, steps, firstOrder);
}
