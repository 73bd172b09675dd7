using MetaRl.Algorithms.SingleTask;
using MetaRl.Baselines;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.Pearl;

/// <summary>PEARL's settings, named and defaulted as the official code (katerakelly/oyster, configs/default.py).</summary>
public sealed class PearlConfig
{
    [Key("latent-size", "dimension of the task latent z", Min = 1)] public int LatentSize { get; set; } = 5;
    [Key("encoder-hidden-sizes", "hidden layers of the context encoder (oyster: 200, 200, 200)", Min = 1)] public int[] EncoderHiddenSizes { get; set; } = [200, 200, 200];
    [Key("num-train-tasks", "training tasks, each with its replay buffers (oyster: 100 for cheetah-vel, 80 for the point robot)", Min = 1)] public int NumTrainTasks { get; set; } = 100;
    [Key("num-initial-steps", "transitions collected per training task before the first iteration, z from the prior", Min = 0)] public int NumInitialSteps { get; set; } = 2000;
    [Key("num-tasks-sample", "training tasks whose data is collected each iteration", Min = 1)] public int NumTasksSample { get; set; } = 5;
    [Key("num-steps-prior", "transitions collected per sampled task with z from the prior", Min = 0)] public int NumStepsPrior { get; set; } = 400;
    [Key("num-steps-posterior", "transitions collected per sampled task with z from the posterior, updated after every episode", Min = 0)] public int NumStepsPosterior { get; set; }
    [Key("num-extra-rl-steps-posterior", "transitions collected with z from the posterior for the actor and critics only (not the encoder)", Min = 0)] public int NumExtraRlStepsPosterior { get; set; } = 400;
    [Key("num-train-steps-per-itr", "gradient steps per iteration", Min = 1)] public int NumTrainStepsPerItr { get; set; } = 2000;
    [Key("meta-batch", "tasks per gradient step", Min = 1)] public int MetaBatch { get; set; } = 16;
    [Key("batch-size", "transitions per task in the RL batch", Min = 1)] public int BatchSize { get; set; } = 256;
    [Key("embedding-batch-size", "transitions per task in the context batch", Min = 1)] public int EmbeddingBatchSize { get; set; } = 64;
    [Key("replay-buffer-size", "transitions kept per task and buffer", Min = 1)] public int ReplayBufferSize { get; set; } = 1_000_000;
    [Key("reward-scale", "rewards are multiplied by this in the Bellman target; it sets the weight of the entropy (there is no temperature)", Min = 0, MinExclusive = true)] public double RewardScale { get; set; } = 5;
    [Key("kl-lambda", "weight of KL(q(z|c) || N(0, I)), summed over the meta-batch's tasks, in the encoder's loss", Min = 0)] public double KlLambda { get; set; } = 0.1;
    [Key("use-information-bottleneck", "a Gaussian posterior over z (false: z is deterministic, the mean of the factors)")] public bool UseInformationBottleneck { get; set; } = true;
    [Key("use-next-obs-in-context", "context transitions hold s' too (where the dynamics differ between tasks)")] public bool UseNextObsInContext { get; set; }
    [Key("dense-critic-rewards", "where the env also has a dense reward (the sparse point robot), the critics learn from it and only the context sees the sparse one, as oyster")] public bool DenseCriticRewards { get; set; } = true;
    [Key("policy-lr", "Adam learning rate of the actor", Min = 0, MinExclusive = true)] public double PolicyLr { get; set; } = 3e-4;
    [Key("qf-lr", "Adam learning rate of the Q-functions", Min = 0, MinExclusive = true)] public double QfLr { get; set; } = 3e-4;
    [Key("vf-lr", "Adam learning rate of the value function", Min = 0, MinExclusive = true)] public double VfLr { get; set; } = 3e-4;
    [Key("context-lr", "Adam learning rate of the context encoder", Min = 0, MinExclusive = true)] public double ContextLr { get; set; } = 3e-4;
    [Key("soft-target-tau", "Polyak coefficient of the target value function", Min = 0, MinExclusive = true, Max = 1)] public double SoftTargetTau { get; set; } = 0.005;
    [Key("policy-mean-reg-weight", "weight of the actor's mean^2 penalty", Min = 0)] public double PolicyMeanRegWeight { get; set; } = 1e-3;
    [Key("policy-std-reg-weight", "weight of the actor's log-std^2 penalty", Min = 0)] public double PolicyStdRegWeight { get; set; } = 1e-3;
    [Key("num-exp-traj-eval", "evaluation: episodes with z from the prior before posterior sampling begins", Min = 1)] public int NumExpTrajEval { get; set; } = 1;

    /// <summary>
    /// `--preset reduced`: the scale of this project's PEARL runs (docs/results/pearl-point-robot, pearl-halfcheetah-vel),
    /// oyster's otherwise. Networks of 3 x 128 (oyster: 300, and 200 for the encoder), a context batch of 256 (the
    /// point robot's 1,024; other families' are smaller and should be set back) and 500 gradient steps per iteration
    /// (1,000 to 4,000): on the point robot about 35 s an iteration on two cores against oyster scale's 5 minutes.
    /// </summary>
    public static IReadOnlyDictionary<string, string> ReducedPreset { get; } = new Dictionary<string, string>
    {
        ["hidden-sizes"] = "128,128,128", ["encoder-hidden-sizes"] = "128,128,128", ["embedding-batch-size"] = "256", ["num-train-steps-per-itr"] = "500",
    };
}

/// <summary>
/// PEARL (Rakelly et al. 2019, Algorithms 1 and 2): off-policy meta-RL with a probabilistic task latent. Each task
/// keeps an RL replay buffer and an encoder buffer. An iteration collects episodes on a few training tasks, with z
/// from the prior and then from the posterior of the task's recent context, and takes many gradient steps, each on a
/// meta-batch of tasks:
/// <code>
///   c^i ~ encoder buffer of task i,  b^i ~ RL buffer of task i
///   q(z | c^i) = prod_n N(mu(c_n), sigma^2(c_n)),  z^i ~ q(z | c^i) (reparameterised)
///   L_critic = E[(Q_k(s, a, z) - (r_scale r + gamma (1 - d) V_target(s', z)))^2] for Q1 and Q2
///   L_KL     = kl_lambda * sum_i KL(q(z | c^i) || N(0, I))
///   encoder and Q-functions step on L_critic + L_KL (the critic's loss is what trains the encoder)
///   L_V      = E[(V(s, z') - (min_k Q_k(s, a~, z') - log pi(a~ | s, z')))^2],  z' = z without its graph
///   L_actor  = E[log pi(a~ | s, z') - min_k Q_k(s, a~, z')] + small penalties on the actor's mean and log-std
/// </code>
/// soft actor-critic with a state-value function and a fixed entropy weight (reward-scale), as the official code.
/// Adapting to a task (Algorithm 2) takes no gradient: episodes with z from the prior, then z from the posterior
/// of everything seen in the task so far, sharper with every episode.
/// </summary>
public sealed class Pearl : OffPolicyLearner, IMetaLearner
{
    readonly PearlConfig _config;
    readonly CommonConfig _common;
    readonly ITaskDistribution _distribution;
    readonly Rng _rng;
    readonly IReadOnlyList<object> _trainTasks;
    readonly ReplayBuffer[] _rlBuffers, _encoderBuffers;
    readonly ParameterSet _targetValue;
    readonly optim.Optimizer _policyOptimizer, _qOptimizer, _valueOptimizer, _contextOptimizer;
    readonly Collector _collector = new();
    readonly Generator _noise = new(0); // reseeded from the run's generator at every step
    readonly int _obs, _act, _latent, _horizon;
    IVectorEnv? _envs;
    bool _initialStepsTaken;

    public Pearl(ITaskDistribution distribution, TanhGaussianPolicy policy, PearlConfig config, CommonConfig common, Rng rng)
    {
        _distribution = distribution; Policy = policy; _config = config; _common = common; _rng = rng;
        _obs = distribution.ObservationSpace.FlatSize;
        _act = policy.ActionSize;
        _latent = config.LatentSize;
        _horizon = distribution.MaxEpisodeSteps;
        if (policy.ObservationSize != _obs + _latent)
            throw new ArgumentException($"PEARL's actor reads the observation and z ({_obs} + {_latent} floats); this one reads {policy.ObservationSize}", nameof(policy));

        // The training tasks: the first of the family's training split (what `metarl eval` calls train), more if asked.
        var split = distribution.Splits().Train;
        _trainTasks = config.NumTrainTasks <= split.Count ? split.Take(config.NumTrainTasks).ToList() : distribution.SampleTasks(config.NumTrainTasks, new Rng(Seeds.TrainSplit));
        Encoder = new ContextEncoder(ContextSize, _latent, config.EncoderHiddenSizes, config.UseInformationBottleneck, rng.Split());
        QFunctions = new CriticEnsemble(2, _obs + _act + _latent, common.HiddenSizes, rng.Split(), common.Nonlinearity);
        Value = new CriticEnsemble(1, _obs + _latent, common.HiddenSizes, rng.Split(), common.Nonlinearity);
        _targetValue = ParameterSet.Leaves(Value.Parameters.Names.Zip(Value.Parameters.Values).ToList(), 1);
        foreach (var t in _targetValue.Values) t.requires_grad_(false);
        _rlBuffers = _trainTasks.Select(_ => new ReplayBuffer(config.ReplayBufferSize, _obs, _act)).ToArray();
        _encoderBuffers = _trainTasks.Select(_ => new ReplayBuffer(config.ReplayBufferSize, _obs, _act)).ToArray();
        _policyOptimizer = optim.Adam(policy.Parameters.AsParameters(), config.PolicyLr);
        _qOptimizer = optim.Adam(QFunctions.Parameters.AsParameters(), config.QfLr);
        _valueOptimizer = optim.Adam(Value.Parameters.AsParameters(), config.VfLr);
        _contextOptimizer = optim.Adam(Encoder.Parameters.AsParameters(), config.ContextLr);
    }

    /// <summary>pi(a | s, z).</summary>
    public TanhGaussianPolicy Policy { get; }
    /// <summary>q(z | c).</summary>
    public ContextEncoder Encoder { get; }
    /// <summary>Q1 and Q2 of (s, a, z), one batched network.</summary>
    public CriticEnsemble QFunctions { get; }
    /// <summary>V(s, z).</summary>
    public CriticEnsemble Value { get; }
    public IReadOnlyList<object> TrainTasks => _trainTasks;
    public override ParameterSet Parameters => Policy.Parameters;

    /// <summary>Floats per context transition: (s, a, r), and s' with use-next-obs-in-context.</summary>
    public int ContextSize => _obs + _act + 1 + (_config.UseNextObsInContext ? _obs : 0);

    /// <summary>Where the reward sits in a context row.</summary>
    public int ContextRewardIndex => _obs + _act;

    // ---- Algorithm 1, lines 3-10: data collection ----

    protected override Collection Collect()
    {
        var prior = new List<double>();
        var posterior = new List<(double Return, bool Success)>();
        int steps = 0;
        if (!_initialStepsTaken) // oyster's iteration 0: every training task, z from the prior
        {
            var all = Enumerable.Range(0, _trainTasks.Count).ToArray();
            steps += Rounds(all, Episodes(_config.NumInitialSteps), updatePosterior: false, toEncoder: true, prior, posterior);
            _initialStepsTaken = true;
        }
        // A few training tasks (distinct), each with a fresh encoder buffer: prior episodes, then posterior ones.
        var sampled = SampleDistinct(_trainTasks.Count, Math.Min(_config.NumTasksSample, _trainTasks.Count));
        foreach (int i in sampled) _encoderBuffers[i].Clear();
        steps += Rounds(sampled, Episodes(_config.NumStepsPrior), updatePosterior: false, toEncoder: true, prior, posterior);
        steps += Rounds(sampled, Episodes(_config.NumStepsPosterior), updatePosterior: true, toEncoder: true, prior, posterior);
        steps += Rounds(sampled, Episodes(_config.NumExtraRlStepsPosterior), updatePosterior: true, toEncoder: false, prior, posterior);

        // The iteration's return: of the posterior's episodes where there are any (the prior's are exploration).
        var shown = posterior.Count > 0 ? posterior : prior.Select(r => (r, false)).ToList();
        var stats = new Dictionary<string, double>();
        if (_config.NumStepsPrior > 0) stats["return_prior"] = prior.Average();
        return new Collection(shown.Average(x => x.Item1), posterior.Count > 0 ? posterior.Average(x => x.Item2 ? 1.0 : 0.0) : 0, steps, _config.NumTrainStepsPerItr) { Stats = stats };
    }

    /// <summary>Episodes that hold <paramref name="steps"/> transitions at the family's episode length (oyster collects whole paths).</summary>
    int Episodes(int steps) => (steps + _horizon - 1) / _horizon;

    int[] SampleDistinct(int n, int k)
    {
        var order = Enumerable.Range(0, n).ToArray();
        _rng.Shuffle(order.AsSpan());
        return order[..k];
    }

    /// <summary>
    /// <paramref name="episodes"/> episodes on each of the given training tasks, side by side (one env per task), each
    /// episode with its own z: from the prior, or (with <paramref name="updatePosterior"/>, after the first) from the
    /// posterior of a context batch of the task's encoder buffer, as oyster's collect_data. Returns the env steps.
    /// </summary>
    int Rounds(int[] taskIds, int episodes, bool updatePosterior, bool toEncoder, List<double> priorReturns, List<(double, bool)> posteriorReturns)
    {
        if (episodes == 0) return 0;
        int steps = 0;
        _envs = VectorEnvs.For(_distribution, taskIds.Select(i => _trainTasks[i]).ToList(), _envs);
        var z = PriorSamples(taskIds.Length);
        bool fromPosterior = false;
        for (int round = 0; round < episodes; round++)
        {
            var batch = new EpisodeBatch(_horizon, taskIds.Length, _obs, _act, Enumerable.Range(0, taskIds.Length).ToArray());
            _collector.RunEpisodes(_envs, new LatentAgent(Policy, z, _obs, _latent, deterministic: false), 1, _horizon, _rng, batch);
            var returns = batch.EpisodeReturns();
            for (int e = 0; e < taskIds.Length; e++)
            {
                _rlBuffers[taskIds[e]].AddEpisode(batch, e, _config.DenseCriticRewards ? batch.DenseRewards : null);
                if (toEncoder) _encoderBuffers[taskIds[e]].AddEpisode(batch, e);
                if (fromPosterior) posteriorReturns.Add((returns[e], batch.Success[e])); else priorReturns.Add(returns[e]);
            }
            steps += batch.Steps;
            if (updatePosterior && taskIds.All(i => _encoderBuffers[i].Count > 0))
            {
                z = PosteriorSamples(taskIds);
                fromPosterior = true;
            }
            else z = PriorSamples(taskIds.Length);
        }
        return steps;
    }

    float[] PriorSamples(int tasks)
    {
        var z = new float[tasks * _latent];
        if (_config.UseInformationBottleneck) for (int i = 0; i < z.Length; i++) z[i] = (float)_rng.Normal();
        return z;
    }

    /// <summary>z of each task from the posterior of a context batch of its encoder buffer.</summary>
    float[] PosteriorSamples(int[] taskIds)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (mean, variance) = Encoder.Posterior(ContextBatch(taskIds, _encoderBuffers));
        return Encoder.Sample(mean, variance, tensor(PriorSamples(taskIds.Length), [taskIds.Length, _latent])).data<float>().ToArray();
    }

    // ---- Algorithm 1, lines 11-22: the gradient steps ----

    protected override IReadOnlyDictionary<string, double> GradientStep()
    {
        using var scope = NewDisposeScope();
        var tasks = Enumerable.Range(0, _config.MetaBatch).Select(_ => _rng.NextInt(_trainTasks.Count)).ToArray(); // with replacement, as oyster
        var context = ContextBatch(tasks, _encoderBuffers);
        var (s, a, r, s2, d) = RlBatch(tasks);
        _noise.manual_seed(unchecked((long)_rng.NextULong()));

        // Infer each task's posterior from its context and sample z (per task, then one row per transition).
        var (zMean, zVariance) = Encoder.Posterior(context);
        var zTask = Encoder.Sample(zMean, zVariance, randn([tasks.Length, _latent], generator: _noise));
        var z = zTask.unsqueeze(1).expand(tasks.Length, _config.BatchSize, _latent).reshape(-1, _latent);
        var zDetached = z.detach();

        // Encoder and Q-functions: the Bellman error of Q (through z) plus the KL of the posteriors to the prior.
        var q = QFunctions.Forward(cat([s, Policy.Normalise(a), z], 1)); // actions in [-1, 1] (TanhGaussianPolicy.Normalise)
        Tensor y;
        using (no_grad())
            y = _config.RewardScale * r + (1 - d) * _common.Gamma * Value.Forward(cat([s2, z], 1), _targetValue)[0];
        var qLoss = (q - y).pow(2).mean([1]).sum();
        var kl = _config.UseInformationBottleneck ? ContextEncoder.KlFromPrior(zMean, zVariance).sum() : zeros(1).sum();
        _qOptimizer.zero_grad();
        _contextOptimizer.zero_grad();
        (qLoss + _config.KlLambda * kl).backward();
        _qOptimizer.step();
        _contextOptimizer.step();

        // Value function: V(s, z) regresses on min_k Q_k(s, a~, z) - log pi(a~ | s, z), with the Q-functions just updated.
        var sz = cat([s, zDetached], 1);
        var noise = randn([s.shape[0], _act], generator: _noise);
        var (newActions, logPi, mean, logStd) = Policy.SampleWithGaussian(sz, noise);
        var minQ = QFunctions.Forward(cat([s, Policy.Normalise(newActions), zDetached], 1), QFunctions.Parameters.Detached()).min(0).values;
        var v = Value.Forward(sz)[0];
        var vLoss = (v - (minQ - logPi).detach()).pow(2).mean();
        _valueOptimizer.zero_grad();
        vLoss.backward();
        _valueOptimizer.step();
        _targetValue.SoftUpdateFrom(Value.Parameters, _config.SoftTargetTau);

        // Actor: SAC's reparameterised loss with the entropy weight 1 (rewards carry reward-scale).
        var actorLoss = (logPi - minQ).mean() + _config.PolicyMeanRegWeight * mean.pow(2).mean() + _config.PolicyStdRegWeight * logStd.pow(2).mean();
        _policyOptimizer.zero_grad();
        actorLoss.backward();
        _policyOptimizer.step();

        double qValue = qLoss.item<float>(), klValue = kl.item<float>(), vValue = vLoss.item<float>(), actorValue = actorLoss.item<float>();
        Losses.Finite(qValue, "PEARL's critic loss");
        Losses.Finite(klValue, "PEARL's encoder KL");
        Losses.Finite(vValue, "PEARL's value loss");
        Losses.Finite(actorValue, "PEARL's actor loss");
        return new Dictionary<string, double>
        {
            ["qf_loss"] = qValue, ["kl_div"] = klValue, ["vf_loss"] = vValue, ["policy_loss"] = actorValue,
            ["z_variance"] = zVariance.mean().item<float>(), ["log_pi"] = logPi.mean().item<float>(), ["q_mean"] = q.mean().item<float>(),
        };
    }

    /// <summary>embedding-batch-size transitions of each task's buffer as context rows [tasks, n, ContextSize].</summary>
    Tensor ContextBatch(int[] taskIds, ReplayBuffer[] buffers)
    {
        int n = _config.EmbeddingBatchSize, k = taskIds.Length;
        var (o, a, r, o2, d) = Scratch(k * n);
        for (int i = 0; i < k; i++) buffers[taskIds[i]].SampleInto(n, _rng, i * n, o, a, r, o2, d);
        return Context(o, a, r, o2, k, n);
    }

    Tensor Context(float[] o, float[] a, float[] r, float[] o2, int k, int n)
    {
        var actions = Policy.Normalise(tensor(a.AsSpan(0, k * n * _act).ToArray(), [k, n, _act])); // in [-1, 1], as the critics read them
        var parts = new List<Tensor> { tensor(o.AsSpan(0, k * n * _obs).ToArray(), [k, n, _obs]), actions, tensor(r.AsSpan(0, k * n).ToArray(), [k, n, 1]) };
        if (_config.UseNextObsInContext) parts.Add(tensor(o2.AsSpan(0, k * n * _obs).ToArray(), [k, n, _obs]));
        return cat(parts, 2);
    }

    /// <summary>batch-size transitions of each task's RL buffer, tasks one after the other: [tasks * B, ...].</summary>
    (Tensor S, Tensor A, Tensor R, Tensor S2, Tensor D) RlBatch(int[] taskIds)
    {
        int b = _config.BatchSize, rows = taskIds.Length * b;
        var (o, a, r, o2, d) = Scratch(rows);
        for (int i = 0; i < taskIds.Length; i++) _rlBuffers[taskIds[i]].SampleInto(b, _rng, i * b, o, a, r, o2, d);
        return (tensor(o.AsSpan(0, rows * _obs).ToArray(), [rows, _obs]), tensor(a.AsSpan(0, rows * _act).ToArray(), [rows, _act]), tensor(r.AsSpan(0, rows).ToArray()),
            tensor(o2.AsSpan(0, rows * _obs).ToArray(), [rows, _obs]), tensor(d.AsSpan(0, rows).ToArray()));
    }

    float[] _so = [], _sa = [], _sr = [], _so2 = [], _sd = [];

    (float[], float[], float[], float[], float[]) Scratch(int rows)
    {
        if (_sr.Length < rows) (_so, _sa, _sr, _so2, _sd) = (new float[rows * _obs], new float[rows * _act], new float[rows], new float[rows * _obs], new float[rows]);
        return (_so, _sa, _sr, _so2, _sd);
    }

    // ---- Algorithm 2: adapting to new tasks ----

    /// <summary>
    /// budget + 1 episodes on each task with deterministic actions (oyster's evaluation): the first num-exp-traj-eval with z
    /// from the prior, each later one with z from the posterior of every transition seen in the task so far. Step j's
    /// return is episode j + 1's, after j episodes of context.
    /// </summary>
    public AdaptationResult AdaptTo(IReadOnlyList<object> tasks, int budget, Rng rng) => AdaptTo(tasks, budget, rng, out _);

    /// <summary>As <see cref="AdaptTo(IReadOnlyList{object}, int, Rng)"/>, and each task's context at the end: every transition seen, as context rows.</summary>
    public AdaptationResult AdaptTo(IReadOnlyList<object> tasks, int budget, Rng rng, out IReadOnlyList<float>[] contexts)
    {
        using var guard = IterationGuard.Enter();
        using var scope = NewDisposeScope();
        int k = tasks.Count;
        var returns = new double[budget + 1][];
        var success = new double[budget + 1][];
        var context = Enumerable.Range(0, k).Select(_ => new List<float>()).ToArray();
        var collector = new Collector();
        using var envs = _distribution.CreateVectorEnv(tasks);
        var z = new float[k * _latent];
        for (int i = 0; i < z.Length; i++) z[i] = _config.UseInformationBottleneck ? (float)rng.Normal() : 0;
        for (int j = 0; j <= budget; j++)
        {
            var batch = new EpisodeBatch(_horizon, k, _obs, _act, Enumerable.Range(0, k).ToArray());
            collector.RunEpisodes(envs, new LatentAgent(Policy, z, _obs, _latent, deterministic: true), 1, _horizon, rng, batch);
            returns[j] = batch.EpisodeReturns();
            success[j] = batch.Success.Select(x => x ? 1.0 : 0.0).ToArray();
            for (int e = 0; e < k; e++) AppendContext(batch, e, context[e]);
            for (int e = 0; e < k; e++)
            {
                var ze = z.AsSpan(e * _latent, _latent);
                if (j + 1 < _config.NumExpTrajEval) { for (int l = 0; l < _latent; l++) ze[l] = _config.UseInformationBottleneck ? (float)rng.Normal() : 0; continue; }
                using var inner = NewDisposeScope();
                using var _ = no_grad();
                var c = tensor(context[e].ToArray(), [1, context[e].Count / ContextSize, ContextSize]);
                var (mean, variance) = Encoder.Posterior(c);
                var noise = tensor(Enumerable.Range(0, _latent).Select(_ => (float)rng.Normal()).ToArray(), [1, _latent]);
                Encoder.Sample(mean, variance, noise).data<float>().CopyTo(ze);
            }
        }
        contexts = context;
        return new AdaptationResult(returns, success, EpisodesPerStep: 1);
    }

    /// <summary>The mean of the posterior over z given one task's context rows (<see cref="ContextSize"/> floats each); the prior's, zero, for none.</summary>
    public float[] PosteriorMean(IReadOnlyList<float> context)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var c = tensor(context.ToArray(), [1, context.Count / ContextSize, ContextSize]);
        return Encoder.Posterior(c).Mean.data<float>().ToArray();
    }

    /// <summary>One episode on each task, task k's with z[k * latent ..], most likely actions (as adaptation): success of each.</summary>
    public bool[] SucceedsWith(IReadOnlyList<object> tasks, float[] z, Rng rng)
    {
        using var guard = IterationGuard.Enter();
        using var envs = _distribution.CreateVectorEnv(tasks);
        var batch = new EpisodeBatch(_horizon, tasks.Count, _obs, _act, Enumerable.Range(0, tasks.Count).ToArray());
        new Collector().RunEpisodes(envs, new LatentAgent(Policy, z, _obs, _latent, deterministic: true), 1, _horizon, rng, batch);
        return batch.Success;
    }

    /// <summary>What the posterior does after <paramref name="ContextEpisodes"/> episodes of context: the episodes of the agent that z samples drawn from it run (observations, start to end).</summary>
    public sealed record PosteriorRollouts(int ContextEpisodes, IReadOnlyList<float[][]> Samples, float[][] ContextEpisode, double MeanReturn, double SuccessRate);

    /// <summary>
    /// PEARL's posterior made visible (the paper's point-robot figure): on one task, the agent collects context episodes
    /// as in <see cref="AdaptTo(IReadOnlyList{object}, int, Rng)"/> (the first with z from the prior, each later one with z from the posterior of what
    /// it has seen), and after 0, 1, ..., <paramref name="maxContextEpisodes"/> of them <paramref name="samples"/>
    /// draws of z from the posterior of that context (the prior for 0) each run one episode, most likely actions.
    /// </summary>
    public IReadOnlyList<PosteriorRollouts> SamplePosterior(object task, int maxContextEpisodes, int samples, Rng rng)
    {
        using var guard = IterationGuard.Enter();
        using var scope = NewDisposeScope();
        var result = new List<PosteriorRollouts>();
        var context = new List<float>();
        var collector = new Collector();
        using var one = _distribution.CreateVectorEnv([task]);
        using var many = _distribution.CreateVectorEnv(Enumerable.Repeat(task, samples).ToList());
        // z for n episodes: from the prior, or from the posterior of the context so far.
        float[] Draw(int n, bool prior)
        {
            using var inner = NewDisposeScope();
            using var _ = no_grad();
            var noise = tensor(Enumerable.Range(0, n * _latent).Select(_ => (float)rng.Normal()).ToArray(), [n, _latent]);
            if (prior || context.Count == 0) return (_config.UseInformationBottleneck ? noise : zeros(n, _latent)).data<float>().ToArray();
            var (mean, variance) = Encoder.Posterior(tensor(context.ToArray(), [1, context.Count / ContextSize, ContextSize]));
            return Encoder.Sample(mean.expand(n, _latent), variance.expand(n, _latent), noise).data<float>().ToArray();
        }
        float[][] Path(EpisodeBatch b, int e) =>
            [.. Enumerable.Range(0, b.Lengths[e]).Select(t => b.Observations.AsSpan((t * b.Episodes + e) * _obs, _obs).ToArray()),
             b.Truncated[e] ? b.FinalObservations.AsSpan(e * _obs, _obs).ToArray() : b.Observations.AsSpan(((b.Lengths[e] - 1) * b.Episodes + e) * _obs, _obs).ToArray()];
        for (int k = 0; k <= maxContextEpisodes; k++)
        {
            var batch = new EpisodeBatch(_horizon, samples, _obs, _act, new int[samples]);
            collector.RunEpisodes(many, new LatentAgent(Policy, Draw(samples, prior: false), _obs, _latent, deterministic: true), 1, _horizon, rng, batch);
            // The next context episode, as adaptation collects it.
            var z = Draw(1, prior: k < _config.NumExpTrajEval);
            var own = new EpisodeBatch(_horizon, 1, _obs, _act, [0]);
            collector.RunEpisodes(one, new LatentAgent(Policy, z, _obs, _latent, deterministic: true), 1, _horizon, rng, own);
            result.Add(new PosteriorRollouts(k, Enumerable.Range(0, samples).Select(e => Path(batch, e)).ToList(), Path(own, 0), batch.MeanReturn, batch.SuccessRate));
            AppendContext(own, 0, context);
        }
        return result;
    }

    /// <summary>Episode e's transitions as context rows (s, a, r[, s']), a in [-1, 1], r the env's own reward (the sparse one where there are two).</summary>
    void AppendContext(EpisodeBatch batch, int e, List<float> into)
    {
        int n = batch.Episodes;
        for (int t = 0; t < batch.Lengths[e]; t++)
        {
            bool last = t + 1 == batch.Lengths[e];
            AppendContextRow(batch.Observations.AsSpan((t * n + e) * _obs, _obs), batch.Actions.AsSpan((t * n + e) * _act, _act), batch.Rewards[t * n + e],
                last ? batch.FinalObservations.AsSpan(e * _obs, _obs) : batch.Observations.AsSpan(((t + 1) * n + e) * _obs, _obs), into);
        }
    }

    /// <summary>One transition (s, a in the env's box, r, s') as a context row: s, a mapped to [-1, 1], r, and s' with use-next-obs-in-context.</summary>
    public void AppendContextRow(ReadOnlySpan<float> observation, ReadOnlySpan<float> action, float reward, ReadOnlySpan<float> nextObservation, List<float> into)
    {
        into.AddRange(observation);
        Policy.AppendNormalised(action, into);
        into.Add(reward);
        if (_config.UseNextObsInContext) into.AddRange(nextObservation);
    }

    protected override void Save(BinaryWriter w)
    {
        w.Write(_initialStepsTaken);
        foreach (var p in new[] { Policy.Parameters, Encoder.Parameters, QFunctions.Parameters, Value.Parameters, _targetValue }) p.Save(w);
        foreach (var o in new[] { _policyOptimizer, _qOptimizer, _valueOptimizer, _contextOptimizer }) ((OptimizerHelper)o).save_state_dict(w);
        foreach (var b in _rlBuffers.Concat(_encoderBuffers)) b.Save(w);
    }

    protected override void Load(BinaryReader r)
    {
        _initialStepsTaken = r.ReadBoolean();
        foreach (var p in new[] { Policy.Parameters, Encoder.Parameters, QFunctions.Parameters, Value.Parameters, _targetValue }) p.Load(r);
        foreach (var o in new[] { _policyOptimizer, _qOptimizer, _valueOptimizer, _contextOptimizer }) ((OptimizerHelper)o).load_state_dict(r);
        foreach (var b in _rlBuffers.Concat(_encoderBuffers)) b.Load(r);
    }

    public override void Dispose() => _envs?.Dispose();

    /// <summary>The actor as a collector's agent: each env's input is its observation and its task's z.</summary>
    sealed class LatentAgent(TanhGaussianPolicy policy, float[] z, int obs, int latent, bool deterministic) : IRolloutAgent
    {
        float[] _inputs = [];

        public int ObservationSize => obs;
        public int ActionSize => policy.ActionSize;
        public int RecordSize => obs;
        public object? InitialState(int envs) => null;

        public object? Act(in StepView step, float[] records, float[] actions, object? state, Rng rng)
        {
            int n = step.Count;
            step.Observations.CopyTo(records);
            if (_inputs.Length != n * (obs + latent)) _inputs = new float[n * (obs + latent)];
            for (int e = 0; e < n; e++)
            {
                step.Observations.Slice(e * obs, obs).CopyTo(_inputs.AsSpan(e * (obs + latent)));
                z.AsSpan(e * latent, latent).CopyTo(_inputs.AsSpan(e * (obs + latent) + obs));
            }
            policy.Act(_inputs, n, actions, rng, deterministic: deterministic);
            return null;
        }
    }
}
