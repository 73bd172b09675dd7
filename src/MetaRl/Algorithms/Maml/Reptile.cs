using MetaRl.Algorithms.SingleTask;
using MetaRl.Envs;
using MetaRl.Experiments;
using MetaRl.Policies;
using MetaRl.Sampling;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.Maml;

public sealed class ReptileConfig
{
    [Key("inner-steps", "k: inner VPG steps per task, each on freshly sampled episodes", Min = 1)] public int InnerSteps { get; set; } = 3;
    [Key("meta-lr", "epsilon: outer step size toward the adapted parameters", Min = 0, MinExclusive = true)] public double MetaLr { get; set; } = 1.0;
    [Key("anneal", "anneal epsilon linearly to 0 over num-batches (as Nichol et al.)")] public bool Anneal { get; set; }
}

/// <summary>
/// Reptile for RL (Nichol, Achiam, Schulman 2018, Algorithm 2, batched): for a batch of tasks, run k steps
/// of the inner optimiser (VPG with step size fast-lr, sampling fresh episodes with the current task
/// parameters before each step) to get phi_i, then theta &lt;- theta + epsilon * mean_i (phi_i - theta).
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

    public Reptile(ITaskDistribution tasks, Policy policy, MamlConfig maml, ReptileConfig reptile, CommonConfig common, Rng rng)
    {
        _tasks = tasks; Policy = policy; _maml = maml; _reptile = reptile; _common = common; _rng = rng;
        _sampler = new Sampler(tasks);
        Adaptation = new GradientAdaptation(policy, _sampler, maml.FastLr, maml.FastBatchSize, common);
    }

    public Policy Policy { get; }
    public GradientAdaptation Adaptation { get; }

    public LearnerIteration Iterate()
    {
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
            var leaves = phi.Map((_, v) => v.detach().requires_grad_(true));
            phi = Adaptation.Adapt(leaves, Adaptation.Prepare(last, tasks.Count), 1, firstOrder: true).Map((_, v) => v.detach());
        }
        double epsilon = _reptile.Anneal ? _reptile.MetaLr * (1 - (double)_iteration / _common.NumBatches) : _reptile.MetaLr;
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

    public AdaptationResult AdaptTo(IReadOnlyList<object> tasks, int budget, Rng rng) => Adaptation.AdaptTo(tasks, budget, rng);

    public void SaveState(BinaryWriter w) { Policy.Parameters.Save(w); w.Write(_iteration); }
    public void LoadState(BinaryReader r) { Policy.Parameters.Load(r); _iteration = r.ReadInt32(); }
}
