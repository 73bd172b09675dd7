using MetaRl.Algorithms.SingleTask;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.Maml;

public enum ReptileInnerOptimizer { Vpg, Ppo }

public sealed class ReptileConfig
{
    [Key("inner-steps", "k: inner optimiser steps per task, each on freshly sampled episodes", Min = 1)] public int InnerSteps { get; set; } = 3;
    [Key("inner-optimizer", "vpg: one REINFORCE gradient step; ppo: inner-epochs gradient steps on PPO's clipped objective")] public ReptileInnerOptimizer InnerOptimizer { get; set; } = ReptileInnerOptimizer.Vpg;
    [Key("inner-epochs", "ppo inner optimiser: full-batch gradient steps on each batch", Min = 1)] public int InnerEpochs { get; set; } = 4;
    [Key("inner-clip", "ppo inner optimiser: clipping range of the probability ratio", Min = 0, MinExclusive = true)] public double InnerClip { get; set; } = 0.2;
    [Key("meta-lr", "epsilon: outer step size toward the adapted parameters", Min = 0, MinExclusive = true)] public double MetaLr { get; set; } = 1.0;
    [Key("anneal", "anneal epsilon linearly to 0 over num-batches (as Nichol et al.)")] public bool Anneal { get; set; }
}

/// <summary>
/// Reptile for RL (Nichol, Achiam, Schulman 2018, Algorithm 2, batched): for a batch of tasks, run k steps
/// of the inner optimiser on fresh episodes sampled with the current task parameters (VPG: one gradient
/// step of size fast-lr; PPO: inner-epochs gradient steps of size fast-lr on the clipped objective of
/// that batch) to get phi_i, then theta &lt;- theta + epsilon * mean_i (phi_i - theta).
/// No second-order terms and no outer surrogate; all tasks step together through per-task parameters.
/// </summary>
public sealed class Reptile : GradientMetaLearner
{
    readonly ReptileConfig _reptile;
    int _iteration;

    public Reptile(Sampler sampler, Policy policy, MamlConfig maml, ReptileConfig reptile, CommonConfig common, Rng rng)
        : base(sampler, policy, maml, common, rng)
    {
        _reptile = reptile;
    }

    public override LearnerIteration Iterate()
    {
        using var guard = IterationGuard.Enter();
        using var scope = NewDisposeScope();
        var tasks = Adaptation.Tasks.SampleTasks(Maml.MetaBatchSize, RunRng);
        var phi = Policy.Parameters.DetachedClone().Replicate(tasks.Count);
        EpisodeBatch? first = null, last = null;
        int steps = 0;
        for (int k = 0; k < _reptile.InnerSteps; k++)
        {
            last = Adaptation.Sampler.Sample(Policy, tasks, Maml.FastBatchSize, RunRng, phi);
            first ??= last;
            steps += last.Steps;
            var data = Adaptation.Prepare(last, tasks.Count);
            phi = _reptile.InnerOptimizer == ReptileInnerOptimizer.Ppo ? PpoSteps(phi, data) : VpgStep(phi, data);
        }
        double epsilon = _reptile.Anneal ? Schedules.LinearDecay(_reptile.MetaLr, _iteration, 0, Common.NumBatches) : _reptile.MetaLr;
        using (no_grad())
        {
            var theta = Policy.Parameters;
            for (int i = 0; i < theta.Count; i++)
                theta.Values[i].add_(epsilon * (phi.Values[i].mean([0L]) - theta.Values[i]));
        }
        _iteration++;
        return new LearnerIteration(last!.MeanReturn, last.SuccessRate, steps, new Dictionary<string, double>
        {
            ["pre_return"] = first!.MeanReturn, ["post_return"] = last.MeanReturn, ["epsilon"] = epsilon,
        });
    }

    ParameterSet VpgStep(ParameterSet phi, TaskBatch data) =>
        Adaptation.Adapt(phi.Map((_, v) => v.detach().requires_grad_(true)), data, 1, firstOrder: true).Map((_, v) => v.detach());

    /// <summary>PPO's clipped objective, maximised by plain gradient steps on every task's copy at once.</summary>
    ParameterSet PpoSteps(ParameterSet phi, TaskBatch data)
    {
        Tensor oldLogp;
        using (no_grad()) oldLogp = Policy.Distribution(data.Observations, phi).LogProb(data.Actions);
        for (int epoch = 0; epoch < _reptile.InnerEpochs; epoch++)
        {
            using var inner = NewDisposeScope();
            var leaves = phi.Map((_, v) => v.detach().requires_grad_(true));
            var ratio = (Policy.Distribution(data.Observations, leaves).LogProb(data.Actions) - oldLogp).exp();
            var a = data.Advantages;
            var loss = -data.EpisodeMeanPerTask(Losses.ClippedSurrogate(ratio, a, _reptile.InnerClip)).sum();
            phi = leaves.Adapt(loss, Maml.FastLr, firstOrder: true).Map((_, v) => v.detach().MoveToOuterDisposeScope());
        }
        return phi;
    }

    public override void SaveState(BinaryWriter w) { Policy.Parameters.Save(w); w.Write(_iteration); }
    public override void LoadState(BinaryReader r) { Policy.Parameters.Load(r); _iteration = r.ReadInt32(); }
}
