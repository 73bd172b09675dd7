using MetaRl.Algorithms.SingleTask;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.Maml;

/// <summary>ProMP's settings (Rothfuss et al. 2018 and their code's run scripts); task batch sizes as MAML's.</summary>
public sealed class ProMpConfig
{
    [Key("meta-lr", "beta: Adam step size of the meta-update", Min = 0, MinExclusive = true)] public double MetaLr { get; set; } = 1e-3;
    [Key("promp-steps", "N: optimisation steps of the clipped objective per meta-batch", Min = 1)] public int ProMpSteps { get; set; } = 5;
    [Key("clip", "epsilon: clipping range of the likelihood ratio", Min = 0, MinExclusive = true)] public double Clip { get; set; } = 0.3;
    [Key("inner-kl-penalty", "eta: weight of the KL between the pre-update policies", Min = 0)] public double InnerKlPenalty { get; set; } = 5e-4;
}

/// <summary>
/// ProMP, "Proximal Meta-Policy Search" (Rothfuss et al. 2018), Algorithm 1:
///   3: sample a batch of tasks T_i
///  6-10 (n = 0): theta_o = theta; sample D_i with pi_theta; theta'_o,i = theta + alpha grad J_LR(theta);
///       sample D'_i with pi_theta'_o,i
///  11: theta'_i = theta + alpha grad J_LVC(theta) on D_i (low-variance curvature inner objective)
///  12: theta += beta grad [ sum_i J_CLIP(theta'_i) on D'_i - eta KL(pi_theta_o || pi_theta) on D_i ]   (N times, Adam)
/// J_CLIP is PPO's clipped surrogate with the ratio pi_theta'_i / pi_theta'_o,i.
/// </summary>
public sealed class ProMp : GradientMetaLearner
{
    readonly ProMpConfig _promp;
    readonly optim.Optimizer _optimizer;

    public ProMp(Sampler sampler, Policy policy, MamlConfig maml, ProMpConfig promp, CommonConfig common, Rng rng)
        : base(sampler, policy, maml, common, rng)
    {
        _promp = promp;
        _optimizer = optim.Adam(policy.Parameters.AsParameters(), promp.MetaLr);
    }

    /// <summary>How the meta-batch's per-task losses become the meta-gradient (their sum by default; see <see cref="IGradientCombiner"/>).</summary>
    public IGradientCombiner Combiner { get; set; } = SumOfGradients.Instance;

    public override LearnerIteration Iterate()
    {
        using var guard = IterationGuard.Enter();
        using var scope = NewDisposeScope();
        var tasks = Adaptation.Tasks.SampleTasks(Maml.MetaBatchSize, RunRng);                                     // line 3
        var (train, trainData, adaptedO, valid, validData) = Adaptation.SamplePrePost(tasks, Maml.NumSteps, RunRng); // lines 6-10
        Tensor oldLogp;
        IActionDistribution prePolicyO;
        using (no_grad())
        {
            oldLogp = Policy.Distribution(validData.Observations, adaptedO).LogProb(validData.Actions);
            prePolicyO = Policy.Distribution(trainData.Observations, Policy.Parameters.Replicate(tasks.Count)).Detach();
        }

        double objective = 0, innerKl = 0;
        for (int n = 0; n < _promp.ProMpSteps; n++)
        {
            using var inner = NewDisposeScope();
            var adapted = Adaptation.Adapt(Policy.Parameters, trainData, Maml.NumSteps, firstOrder: Maml.FirstOrder, lowVarianceCurvature: true); // line 11
            var ratio = (Policy.Distribution(validData.Observations, adapted).LogProb(validData.Actions) - oldLogp).exp();
            var a = validData.Advantages;
            var clippedPerTask = validData.EpisodeMeanPerTask(Losses.ClippedSurrogate(ratio, a, _promp.Clip));
            var klPerTask = trainData.EpisodeMeanPerTask(Policy.Distribution(trainData.Observations, Policy.Parameters.Replicate(tasks.Count)).KlFrom(prePolicyO));
            var clipped = clippedPerTask.mean();
            var kl = klPerTask.mean();
            var loss = -clipped + _promp.InnerKlPenalty * kl;                                           // line 12
            objective = Losses.Finite(clipped.item<float>(), "the ProMP objective"); innerKl = kl.item<float>();
            _optimizer.zero_grad();
            var perTask = (-clippedPerTask + _promp.InnerKlPenalty * klPerTask) / tasks.Count; // task k's share of the mean
            Combiner.Backward(new UpdateLosses(loss, () => Enumerable.Range(0, tasks.Count).Select(k => perTask[k]).ToList()), Policy.Parameters.Values);
            _optimizer.step();
        }
        return new LearnerIteration(valid.MeanReturn, valid.SuccessRate, train.Steps + valid.Steps, new Dictionary<string, double>
        {
            ["pre_return"] = train.MeanReturn, ["post_return"] = valid.MeanReturn,
            ["pre_success"] = train.SuccessRate, ["post_success"] = valid.SuccessRate,
            ["clip_objective"] = objective, ["inner_kl"] = innerKl,
        });
    }

    public override void SaveState(BinaryWriter w) { Policy.Parameters.Save(w); ((OptimizerHelper)_optimizer).save_state_dict(w); }
    public override void LoadState(BinaryReader r) { Policy.Parameters.Load(r); ((OptimizerHelper)_optimizer).load_state_dict(r); }
}
