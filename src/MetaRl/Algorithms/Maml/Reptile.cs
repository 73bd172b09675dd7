using MetaRl.Configuration;
using MetaRl.Algorithms.SingleTask;
using MetaRl.Envs;
using MetaRl.Policies;
using MetaRl.Sampling;
using MetaRl.Torch;
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
public sealed class Reptile : IMetaLearner
{
    readonly ITaskDistribution _tasks;
    readonly Sampler _sampler;
    readonly MamlConfig _maml;
    readonly ReptileConfig _reptile;
    readonly CommonConfig _common;
    readonly Rng _rng;
    int _iteration;

    public Reptile(Sampler sampler, Policy policy, MamlConfig maml, ReptileConfig reptile, CommonConfig common, Rng rng)
    {
        _tasks = sampler.Distribution; Policy = policy; _maml = maml; _reptile = reptile; _common = common; _rng = rng;
        _sampler = sampler;
        Adaptation = new GradientAdaptation(policy, _sampler, maml.FastLr, maml.FastBatchSize, common);
    }

    public Policy Policy { get; }
    public ParameterSet Parameters => Policy.Parameters;
    public GradientAdaptation Adaptation { get; }

    public LearnerIteration Iterate()
    {
        using var guard = IterationGuard.Enter();
        using var scope = NewDisposeScope();
        var tasks = _tasks.SampleTasks(_maml.MetaBatchSize, _rng);
        var phi = Policy.Parameters.DetachedClone().Replicate(tasks.Count);
        EpisodeBatch? first = null, last = null;
        int steps = 0;
        for (int k = 0; k < _reptile.InnerSteps; k++)
        {
            last = _sampler.Sample(Policy, tasks, _maml.FastBatchSize, _rng, phi);
            first ??= last;
            steps += last.Steps;
            var data = Adaptation.Prepare(last, tasks.Count);
            phi = _reptile.InnerOptimizer == ReptileInnerOptimizer.Ppo ? PpoSteps(phi, data) : VpgStep(phi, data);
        }
        double epsilon = _reptile.Anneal ? Schedules.LinearDecay(_reptile.MetaLr, _iteration, 0, _common.NumBatches) : _reptile.MetaLr;
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
            phi = leaves.Adapt(loss, _maml.FastLr, firstOrder: true).Map((_, v) => v.detach().MoveToOuterDisposeScope());
        }
        return phi;
    }

    /// <summary>fast-batch-size: each inner step learns from that many fresh episodes per task.</summary>
    public int EpisodesPerAdaptationStep => Adaptation.FastBatchSize;

    public AdaptationResult AdaptTo(IReadOnlyList<object> tasks, int budget, Rng rng) => Adaptation.AdaptTo(tasks, budget, rng);

    public void SaveState(BinaryWriter w) { Policy.Parameters.Save(w); w.Write(_iteration); }
    public void LoadState(BinaryReader r) { Policy.Parameters.Load(r); _iteration = r.ReadInt32(); }

    public void Dispose() => Adaptation.Sampler.Dispose();
}
