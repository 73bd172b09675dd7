using MetaRl.Torch;
using MetaRl.Algorithms.SingleTask;
using MetaRl.Envs;
using MetaRl.Policies;
using MetaRl.Sampling;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.Maml;

/// <summary>
/// The MAML paper's "pretrained" baseline: one policy trained by TRPO on episodes of many tasks pooled
/// together (no task identity, no adaptation in training), then fine-tuned at test time by the same
/// gradient steps as MAML. It shows what meta-learning the initialisation adds over multi-task training.
/// </summary>
public sealed class JointPretraining : IMetaLearner
{
    readonly ITaskDistribution _tasks;
    readonly Sampler _sampler;
    readonly MamlConfig _maml;
    readonly TrpoConfig _trpo;
    readonly Rng _rng;

    public JointPretraining(Sampler sampler, Policy policy, MamlConfig maml, TrpoConfig trpo, CommonConfig common, Rng rng)
    {
        _tasks = sampler.Distribution; Policy = policy; _maml = maml; _trpo = trpo; _rng = rng;
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
        var batch = _sampler.Sample(Policy, tasks, _maml.FastBatchSize, _rng);
        var data = Adaptation.Prepare(batch, tasks.Count);
        IActionDistribution oldPi;
        Tensor oldLogp;
        using (no_grad())
        {
            oldPi = Policy.Distribution(data.Observations).Detach();
            oldLogp = oldPi.LogProb(data.Actions);
        }
        (Tensor Loss, Tensor Kl) Objective()
        {
            var pi = Policy.Distribution(data.Observations);
            var ratio = (pi.LogProb(data.Actions) - oldLogp).exp();
            return (-data.EpisodeMean(ratio * data.Advantages), data.EpisodeMean(pi.KlFrom(oldPi)));
        }
        var step = TrpoStep.Apply(Policy.Parameters, Objective, evaluate: null, _trpo);
        return new LearnerIteration(batch.MeanReturn, batch.SuccessRate, batch.Steps, new Dictionary<string, double>
        {
            ["loss_before"] = step.LossBefore, ["loss_after"] = step.LossAfter, ["kl"] = step.Kl, ["accepted"] = step.Accepted ? 1 : 0,
        });
    }

    /// <summary>fast-batch-size: each inner step learns from that many fresh episodes per task.</summary>
    public int EpisodesPerAdaptationStep => Adaptation.FastBatchSize;

    public AdaptationResult AdaptTo(IReadOnlyList<object> tasks, int budget, Rng rng) => Adaptation.AdaptTo(tasks, budget, rng);
    public void SaveState(BinaryWriter w) => Policy.Parameters.Save(w);
    public void LoadState(BinaryReader r) => Policy.Parameters.Load(r);

    public void Dispose() => Adaptation.Sampler.Dispose();
}
