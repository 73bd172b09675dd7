using MetaRl.Algorithms.SingleTask;

namespace MetaRl.Algorithms.Maml;

/// <summary>
/// What the gradient-based meta-learners share (MAML-TRPO, ProMP, Reptile, the pretrained baseline): an MLP
/// policy, MAML's inner loop (<see cref="GradientAdaptation"/>, which owns the sampler), the meta-batch settings
/// and the run's generator. Adapting to a new task is inner gradient steps on fresh episodes, each on
/// fast-batch-size of them; a checkpoint holds the policy and whatever a learner adds.
/// </summary>
public abstract class GradientMetaLearner : IMetaLearner
{
    protected GradientMetaLearner(Sampler sampler, Policy policy, MamlConfig maml, CommonConfig common, Rng rng)
    {
        Policy = policy; Maml = maml; Common = common; RunRng = rng;
        Adaptation = new GradientAdaptation(policy, sampler, maml.FastLr, maml.FastBatchSize, common);
    }

    public Policy Policy { get; }
    public ParameterSet Parameters => Policy.Parameters;
    public MamlConfig Maml { get; }
    public CommonConfig Common { get; }
    /// <summary>The inner loop and the test-time adaptation.</summary>
    public GradientAdaptation Adaptation { get; }
    /// <summary>The run's one generator (tasks, episodes, minibatch order).</summary>
    protected Rng RunRng { get; }

    public abstract LearnerIteration Iterate();

    /// <summary>Adaptation as evaluated in the MAML paper: return before adapting, and after each inner step on fresh episodes.</summary>
    public AdaptationResult AdaptTo(IReadOnlyList<object> tasks, int budget, Rng rng) => Adaptation.AdaptTo(tasks, budget, rng);

    public virtual void SaveState(BinaryWriter w) => Policy.Parameters.Save(w);
    public virtual void LoadState(BinaryReader r) => Policy.Parameters.Load(r);

    public void Dispose() => Adaptation.Sampler.Dispose();
}
