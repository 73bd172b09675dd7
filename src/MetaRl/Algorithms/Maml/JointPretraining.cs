using MetaRl.Algorithms.SingleTask;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.Maml;

/// <summary>
/// The MAML paper's "pretrained" baseline: one policy trained by TRPO on episodes of many tasks pooled
/// together (no task identity, no adaptation in training), then fine-tuned at test time by the same
/// gradient steps as MAML. It shows what meta-learning the initialisation adds over multi-task training.
/// </summary>
public sealed class JointPretraining : GradientMetaLearner
{
    readonly TrpoConfig _trpo;

    public JointPretraining(Sampler sampler, Policy policy, MamlConfig maml, TrpoConfig trpo, CommonConfig common, Rng rng)
        : base(sampler, policy, maml, common, rng)
    {
        _trpo = trpo;
    }

    public override LearnerIteration Iterate()
    {
        using var guard = IterationGuard.Enter();
        using var scope = NewDisposeScope();
        var tasks = Adaptation.Tasks.SampleTasks(Maml.MetaBatchSize, RunRng);
        var batch = Adaptation.Sampler.Sample(Policy, tasks, Maml.FastBatchSize, RunRng);
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
}
