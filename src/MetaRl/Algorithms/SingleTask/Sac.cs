using MetaRl.Baselines;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.SingleTask;

public sealed class SacConfig
{
    [Key("task-index", "which task of the training split the run learns", Min = 0)] public int TaskIndex { get; set; }
    [Key("episodes-per-iteration", "episodes collected per iteration, run side by side (MuJoCo envs step in parallel)", Min = 1)] public int EpisodesPerIteration { get; set; } = 1;
    [Key("updates-per-step", "gradient steps per env step collected (SAC: 1)", Min = 0, MinExclusive = true)] public double UpdatesPerStep { get; set; } = 1;
    [Key("learning-starts", "env steps collected by the initial policy before the first gradient step (SAC: 1000)", Min = 0)] public int LearningStarts { get; set; } = 1000;
    [Key("buffer-size", "replay buffer capacity in transitions (SAC: 1e6)", Min = 1)] public int BufferSize { get; set; } = 1_000_000;
    [Key("batch-size", "transitions per minibatch (SAC: 256)", Min = 1)] public int BatchSize { get; set; } = 256;
    [Key("lr", "Adam learning rate of the actor, the critics and the temperature (SAC: 3e-4)", Min = 0, MinExclusive = true)] public double Lr { get; set; } = 3e-4;
    [Key("tau", "target smoothing coefficient: theta_target += tau (theta - theta_target) each step (SAC: 0.005)", Min = 0, MinExclusive = true, Max = 1)] public double Tau { get; set; } = 0.005;
    [Key("reward-scale", "rewards are multiplied by this in the critics' targets", Min = 0, MinExclusive = true)] public double RewardScale { get; set; } = 1;
    [Key("alpha", "entropy temperature: its start value with autotune, else fixed", Min = 0, MinExclusive = true)] public double Alpha { get; set; } = 1;
    [Key("autotune", "tune alpha so that the policy's entropy tracks the target (SAC's second version)")] public bool Autotune { get; set; } = true;
    [Key("target-entropy-per-dim", "target entropy per action dimension (SAC: -1, so -dim(A) in all)")] public double TargetEntropyPerDim { get; set; } = -1;
}

/// <summary>
/// Soft Actor-Critic (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications", Algorithm 1): a
/// tanh-squashed Gaussian actor, twin Q-functions with Polyak-averaged targets (the minimum of the two against
/// overestimation), and an entropy temperature alpha tuned to a target entropy. Per iteration: collect episodes into
/// the replay buffer D, then for each gradient step, on a minibatch from D,
/// <code>
///   y        = r + gamma (1 - d) (min_i Q_target_i(s', a') - alpha log pi(a'|s')),  a' ~ pi(.|s')
///   J_Q      = sum_i 1/2 E[(Q_i(s, a) - y)^2]
///   J_pi     = E[alpha log pi(a~|s) - min_i Q_i(s, a~)],  a~ ~ pi(.|s) reparameterised
///   J_alpha  = E[-log alpha (log pi(a~|s) + target entropy)]
///   theta_target_i += tau (theta_i - theta_target_i)
/// </code>
/// </summary>
public sealed class Sac : OffPolicyLearner, ISingleTaskLearner
{
    readonly SacConfig _config;
    readonly CommonConfig _common;
    readonly Sampler _sampler;
    readonly Rng _rng;
    readonly object _task;
    readonly ReplayBuffer _replay;
    readonly optim.Optimizer _actorOptimizer, _criticOptimizer, _alphaOptimizer;
    readonly ParameterSet _logAlpha; // log alpha, one scalar: the temperature stays positive
    readonly double _targetEntropy;
    // Noise of the reparameterised samples: a generator reseeded from the run's at every step, so a seed fixes it.
    readonly Generator _noise = new(0);

    public Sac(Sampler sampler, TanhGaussianPolicy policy, object task, SacConfig config, CommonConfig common, Rng rng)
    {
        _sampler = sampler; Policy = policy; _task = task; _config = config; _common = common; _rng = rng;
        int obs = policy.ObservationSize, act = policy.ActionSize;
        Critics = new CriticEnsemble(2, obs + act, common.HiddenSizes, rng.Split(), common.Nonlinearity);
        Targets = ParameterSet.Leaves(Critics.Parameters.Names.Zip(Critics.Parameters.Values).ToList(), Critics.Count);
        foreach (var t in Targets.Values) t.requires_grad_(false);
        _replay = new ReplayBuffer(config.BufferSize, obs, act);
        _logAlpha = ParameterSet.Leaves([("log_alpha", tensor((float)Math.Log(config.Alpha)))]);
        _targetEntropy = config.TargetEntropyPerDim * act;
        _actorOptimizer = optim.Adam(policy.Parameters.AsParameters(), config.Lr);
        _criticOptimizer = optim.Adam(Critics.Parameters.AsParameters(), config.Lr);
        _alphaOptimizer = optim.Adam(_logAlpha.AsParameters(), config.Lr);
    }

    public TanhGaussianPolicy Policy { get; }
    /// <summary>Q1 and Q2, one batched network.</summary>
    public CriticEnsemble Critics { get; }
    /// <summary>Their targets (plain tensors, updated by Polyak averaging).</summary>
    public ParameterSet Targets { get; }
    public ReplayBuffer Replay => _replay;
    public object Task => _task;
    public double Alpha => Math.Exp(_logAlpha.Values[0].item<float>());
    public override ParameterSet Parameters => Policy.Parameters;

    protected override Collection Collect()
    {
        // The first iteration also runs the initial policy for learning-starts steps (no gradient steps for those).
        int warmup = _replay.Count == 0 ? Episodes(_config.LearningStarts) : 0;
        var batch = _sampler.Sample(Policy, Enumerable.Repeat(_task, warmup + _config.EpisodesPerIteration).ToList(), 1, _rng);
        for (int e = 0; e < batch.Episodes; e++) _replay.AddEpisode(batch, e);
        int trained = Enumerable.Range(warmup, _config.EpisodesPerIteration).Sum(e => batch.Lengths[e]);
        return new Collection(batch.MeanReturn, batch.SuccessRate, batch.Steps, Math.Max(1, (int)Math.Round(trained * _config.UpdatesPerStep)));
    }

    /// <summary>Episodes that hold at least <paramref name="steps"/> steps of the family's episode length.</summary>
    int Episodes(int steps) => (steps + _sampler.Distribution.MaxEpisodeSteps - 1) / _sampler.Distribution.MaxEpisodeSteps;

    protected override IReadOnlyDictionary<string, double> GradientStep()
    {
        using var scope = NewDisposeScope();
        var (s, a, r, s2, d) = _replay.Sample(_config.BatchSize, _rng);
        _noise.manual_seed(unchecked((long)_rng.NextULong()));
        var alpha = _logAlpha.Values[0].detach().exp();

        // Critics: regress both Q_i(s, a) on the soft Bellman target.
        Tensor y;
        using (no_grad())
        {
            var (a2, logp2) = Policy.Sample(s2, Noise());
            var q2 = Critics.Forward(cat([s2, Policy.Normalise(a2)], 1), Targets).min(0).values;
            y = _config.RewardScale * r + _common.Gamma * (1 - d) * (q2 - alpha * logp2);
        }
        var q = Critics.Forward(cat([s, Policy.Normalise(a)], 1)); // actions in [-1, 1] (TanhGaussianPolicy.Normalise)
        var criticLoss = 0.5 * (q - y).pow(2).mean([1]).sum();
        _criticOptimizer.zero_grad();
        criticLoss.backward();
        _criticOptimizer.step();

        // Actor: through the reparameterised action into the critics (whose weights this loss does not train).
        var (aNew, logp) = Policy.Sample(s, Noise());
        var qNew = Critics.Forward(cat([s, Policy.Normalise(aNew)], 1), Critics.Parameters.Detached()).min(0).values;
        var actorLoss = (alpha * logp - qNew).mean();
        _actorOptimizer.zero_grad();
        actorLoss.backward();
        _actorOptimizer.step();

        // Temperature: raise alpha while the entropy (-log pi) is below the target, lower it above.
        double alphaLoss = 0;
        if (_config.Autotune)
        {
            var loss = -(_logAlpha.Values[0] * (logp.detach() + _targetEntropy)).mean();
            _alphaOptimizer.zero_grad();
            loss.backward();
            _alphaOptimizer.step();
            alphaLoss = loss.item<float>();
        }

        Targets.SoftUpdateFrom(Critics.Parameters, _config.Tau);

        double criticValue = criticLoss.item<float>(), actorValue = actorLoss.item<float>();
        Losses.Finite(criticValue, "the SAC critic loss");
        Losses.Finite(actorValue, "the SAC actor loss");
        return new Dictionary<string, double>
        {
            ["critic_loss"] = criticValue, ["actor_loss"] = actorValue, ["alpha"] = alpha.item<float>(), ["alpha_loss"] = alphaLoss,
            ["entropy"] = -logp.mean().item<float>(), ["q_mean"] = q.mean().item<float>(),
        };

        Tensor Noise() => randn([_config.BatchSize, Policy.ActionSize], generator: _noise);
    }

    protected override void Save(BinaryWriter w)
    {
        Policy.Parameters.Save(w);
        Critics.Parameters.Save(w);
        Targets.Save(w);
        _logAlpha.Save(w);
        foreach (var o in new[] { _actorOptimizer, _criticOptimizer, _alphaOptimizer }) ((OptimizerHelper)o).save_state_dict(w);
        _replay.Save(w);
    }

    protected override void Load(BinaryReader r)
    {
        Policy.Parameters.Load(r);
        Critics.Parameters.Load(r);
        Targets.Load(r);
        _logAlpha.Load(r);
        foreach (var o in new[] { _actorOptimizer, _criticOptimizer, _alphaOptimizer }) ((OptimizerHelper)o).load_state_dict(r);
        _replay.Load(r);
    }

    public override void Dispose() => _sampler.Dispose();
}
