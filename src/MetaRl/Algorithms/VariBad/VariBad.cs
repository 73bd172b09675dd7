using MetaRl.Algorithms.SingleTask;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.VariBad;

/// <summary>variBAD's settings, named and defaulted as the official grid-world config (lmzintgraf/varibad, config/gridworld/args_grid_varibad.py).</summary>
public sealed class VariBadConfig
{
    [Key("max-rollouts-per-task", "episodes of one task per trial (the BAMDP's horizon is this many episodes)", Min = 1)] public int MaxRolloutsPerTask { get; set; } = 4;
    [Key("num-processes", "trials collected side by side per update (official: 16 processes, one trial each)", Min = 1)] public int NumProcesses { get; set; } = 16;
    [Key("policy-layers", "hidden layers of the actor and of the critic", Min = 1)] public int[] PolicyLayers { get; set; } = [32];
    [Key("policy-activation", "activation of the policy's embeddings and layers")] public Activation PolicyActivation { get; set; } = Activation.Tanh;
    [Key("policy-state-embedding-dim", "the policy's state embedding", Min = 1)] public int PolicyStateEmbeddingDim { get; set; } = 16;
    [Key("policy-latent-embedding-dim", "the policy's belief embedding", Min = 1)] public int PolicyLatentEmbeddingDim { get; set; } = 16;
    [Key("norm-state-for-policy", "normalise the policy's state input by running statistics")] public bool NormStateForPolicy { get; set; } = true;
    [Key("norm-latent-for-policy", "normalise the policy's belief input by running statistics")] public bool NormLatentForPolicy { get; set; } = true;
    [Key("norm-rew-for-policy", "divide the rewards PPO learns from by the running standard deviation of the discounted return")] public bool NormRewForPolicy { get; set; } = true;
    [Key("lr-policy", "Adam learning rate of the actor-critic", Min = 0, MinExclusive = true)] public double LrPolicy { get; set; } = 7e-4;
    [Key("policy-eps", "Adam epsilon of the actor-critic", Min = 0, MinExclusive = true)] public double PolicyEps { get; set; } = 1e-8;
    [Key("ppo-num-epochs", "PPO epochs per update", Min = 1)] public int PpoNumEpochs { get; set; } = 2;
    [Key("ppo-num-minibatch", "PPO minibatches per epoch", Min = 1)] public int PpoNumMinibatch { get; set; } = 4;
    [Key("ppo-clip-param", "PPO clipping of the ratio (and of the value)", Min = 0, MinExclusive = true)] public double PpoClipParam { get; set; } = 0.05;
    [Key("ppo-use-huberloss", "Huber value loss instead of squared error")] public bool PpoUseHuberloss { get; set; } = true;
    [Key("ppo-use-clipped-value-loss", "clip the value's change as the ratio's")] public bool PpoUseClippedValueLoss { get; set; } = true;
    [Key("policy-value-loss-coef", "weight of the value loss", Min = 0)] public double PolicyValueLossCoef { get; set; } = 0.5;
    [Key("policy-entropy-coef", "weight of the entropy bonus", Min = 0)] public double PolicyEntropyCoef { get; set; } = 0.01;
    [Key("policy-max-grad-norm", "gradient norm clipping of the actor-critic", Min = 0, MinExclusive = true)] public double PolicyMaxGradNorm { get; set; } = 0.5;
    [Key("lr-vae", "Adam learning rate of the encoder and decoder", Min = 0, MinExclusive = true)] public double LrVae { get; set; } = 1e-3;
    [Key("size-vae-buffer", "trajectories (whole trials) kept for the VAE", Min = 1)] public int SizeVaeBuffer { get; set; } = 100_000;
    [Key("precollect-len", "frames collected before the first update, to fill the VAE buffer", Min = 0)] public int PrecollectLen { get; set; } = 5000;
    [Key("vae-batch-num-trajs", "trajectories per VAE update", Min = 1)] public int VaeBatchNumTrajs { get; set; } = 25;
    [Key("num-vae-updates", "VAE updates per iteration", Min = 0)] public int NumVaeUpdates { get; set; } = 3;
    [Key("kl-weight", "weight of the KL terms of the ELBO", Min = 0)] public double KlWeight { get; set; } = 0.01;
    [Key("kl-to-gauss-prior", "KL of each belief to N(0, I) instead of to the previous belief")] public bool KlToGaussPrior { get; set; }
    [Key("latent-dim", "dimension of the task latent m", Min = 1)] public int LatentDim { get; set; } = 5;
    [Key("encoder-gru-hidden-size", "the encoder GRU's hidden size", Min = 1)] public int EncoderGruHiddenSize { get; set; } = 64;
    [Key("action-embedding-size", "the encoder's action embedding (0: actions are not encoded)", Min = 0)] public int ActionEmbeddingSize { get; set; }
    [Key("state-embedding-size", "the encoder's (and regression decoder's) state embedding", Min = 0)] public int StateEmbeddingSize { get; set; } = 8;
    [Key("reward-embedding-size", "the encoder's reward embedding", Min = 0)] public int RewardEmbeddingSize { get; set; } = 8;
    [Key("reward-decoder-layers", "hidden layers of the reward decoder", Min = 1)] public int[] RewardDecoderLayers { get; set; } = [32, 32];
    [Key("vae-subsample-elbos", "ELBO terms (prefixes t, drawn with replacement per trajectory) per VAE update (0: all T+1; official MuJoCo configs: 50)", Min = 0)] public int VaeSubsampleElbos { get; set; }
    [Key("vae-subsample-decodes", "rewards decoded per ELBO term (drawn with replacement per term and trajectory; 0: the whole trial; official MuJoCo configs: 50)", Min = 0)] public int VaeSubsampleDecodes { get; set; }
    [Key("vae-avg-elbo-terms", "average the ELBO terms instead of summing them")] public bool VaeAvgElboTerms { get; set; }
    [Key("vae-avg-reconstruction-terms", "average the decoded rewards of an ELBO term instead of summing them")] public bool VaeAvgReconstructionTerms { get; set; }
    [Key("multihead-for-reward", "where states are cells: one Bernoulli output per cell from the latent alone (else a regression from latent and state)")] public bool MultiheadForReward { get; set; } = true;

    /// <summary>
    /// The official half-cheetah velocity config (config/mujoco/args_cheetah_vel_varibad.py), the keys MetaRl has, the
    /// run's length aside: 2 episodes a trial, 128-unit GRU and policy, 10 trajectories a VAE update, the ELBO subsampled
    /// to 50 prefixes x 50 decoded rewards. What `--preset mujoco` sets and what the other MuJoCo families' official
    /// configs change a few keys of (ReferenceSettings); the grid world's defaults on MuJoCo trials decode every reward
    /// of 4 x 200 steps from every prefix of 25 trials: over 11 GB on ant-goal.
    /// </summary>
    public static IReadOnlyDictionary<string, string> OfficialCheetahVel { get; } = new Dictionary<string, string>
    {
        ["max-rollouts-per-task"] = "2", ["num-processes"] = "16", ["gamma"] = "0.97", ["gae-lambda"] = "0.9",
        ["policy-layers"] = "128,128", ["policy-state-embedding-dim"] = "64", ["policy-latent-embedding-dim"] = "64",
        ["ppo-num-epochs"] = "2", ["ppo-num-minibatch"] = "8", ["ppo-clip-param"] = "0.1", ["lr-policy"] = "0.0007",
        ["size-vae-buffer"] = "10000", ["precollect-len"] = "5000", ["vae-batch-num-trajs"] = "10", ["num-vae-updates"] = "1", ["kl-weight"] = "0.1",
        ["vae-subsample-elbos"] = "50", ["vae-subsample-decodes"] = "50", ["latent-dim"] = "5", ["encoder-gru-hidden-size"] = "128",
        ["action-embedding-size"] = "16", ["state-embedding-size"] = "32", ["reward-embedding-size"] = "16",
        ["reward-decoder-layers"] = "64,32", ["multihead-for-reward"] = "false",
    };
}

/// <summary>A family whose states are cells of a finite set (grid worlds): variBAD's multi-head reward decoder predicts the reward of every cell.</summary>
public interface ICellStates
{
    int Cells { get; }
    int CellIndex(ReadOnlySpan<float> observation);
}

/// <summary>
/// variBAD (Zintgraf et al. 2020): approximate Bayes-adaptive RL with a learned belief. A GRU encoder reads the trial so
/// far, tau_:t = (a, r, s')_1..t, into a Gaussian belief q(m | tau_:t) over a task latent m; a PPO policy acts on the
/// state and the belief (its mean and log-variance). The encoder and a reward decoder p(r | s', m) are trained as a VAE
/// on whole trials from a buffer, by the ELBO of every prefix t decoding the rewards of the whole trial, past and future:
/// <code>
///   ELBO_t = E_q(m | tau_:t)[ sum_j log p(r_j | s'_j, m) ] - KL(q(m | tau_:t) || q(m | tau_:t-1)),   q(m | tau_:-1) = N(0, I)
/// </code>
/// with no policy gradient into the encoder. Each iteration: one trial per process with the current policy (the belief
/// updated after every step, across episodes), a PPO update on it, then num-vae-updates VAE updates.
/// </summary>
public sealed class VariBad : IMetaLearner
{
    readonly VariBadConfig _config;
    readonly CommonConfig _common;
    readonly ITaskDistribution _distribution;
    readonly Rng _rng;
    readonly int _obs, _act, _latent, _horizon, _trialLength, _encoderStateSize;
    readonly ICellStates? _cells;
    readonly optim.Optimizer _policyOptimizer, _vaeOptimizer;
    readonly RunningMeanStd _returnStats = new(1);
    readonly TrajectoryBuffer _vaeBuffer;
    readonly Collector _collector = new();
    readonly Generator _noise = new(0); // the ELBO's latent samples: reseeded from the run's generator at every update
    IVectorEnv? _envs;
    bool _precollected;

    public VariBad(ITaskDistribution distribution, VariBadConfig config, CommonConfig common, Rng rng)
    {
        _distribution = distribution; _config = config; _common = common; _rng = rng;
        _obs = distribution.ObservationSpace.FlatSize;
        _act = distribution.ActionSpace is Discrete ? 1 : distribution.ActionSpace.FlatSize;
        _latent = config.LatentDim;
        _horizon = distribution.MaxEpisodeSteps;
        _trialLength = config.MaxRolloutsPerTask * _horizon;
        // The encoder sees each next state with a flag saying whether it ended an episode (the official BAMDP wrapper's
        // done information, needed when a trial has several episodes).
        _encoderStateSize = _obs + (config.MaxRolloutsPerTask > 1 ? 1 : 0);
        _cells = config.MultiheadForReward ? distribution as ICellStates : null;

        Policy = new BeliefPolicy(_obs, _latent, distribution.ActionSpace, config.PolicyStateEmbeddingDim, config.PolicyLatentEmbeddingDim, config.PolicyLayers, config.PolicyActivation, rng.Split(), common.InitStd)
        {
            NormaliseState = config.NormStateForPolicy, NormaliseLatent = config.NormLatentForPolicy,
        };
        Encoder = new BeliefEncoder(_act, _encoderStateSize, config.ActionEmbeddingSize, config.StateEmbeddingSize, config.RewardEmbeddingSize, config.EncoderGruHiddenSize, _latent, rng.Split());
        Decoder = new RewardDecoder(_latent, _cells?.Cells ?? 0, _encoderStateSize, Math.Max(1, config.StateEmbeddingSize), config.RewardDecoderLayers, rng.Split());
        _policyOptimizer = optim.Adam(Policy.Parameters.AsParameters(), config.LrPolicy, eps: config.PolicyEps);
        _vaeOptimizer = optim.Adam(Encoder.Parameters.AsParameters().Concat(Decoder.Parameters.AsParameters()), config.LrVae);
        _vaeBuffer = new TrajectoryBuffer(config.SizeVaeBuffer, _trialLength, _act + _encoderStateSize + 1);
    }

    public BeliefPolicy Policy { get; }
    public BeliefEncoder Encoder { get; }
    public RewardDecoder Decoder { get; }
    public ParameterSet Parameters => Policy.Parameters;

    // ---- one iteration: collect trials, PPO, VAE ----

    public LearnerIteration Iterate()
    {
        using var guard = IterationGuard.Enter();
        using var scope = NewDisposeScope();
        int envSteps = 0;
        if (!_precollected) // fill the VAE buffer with the initial policy's trials first (precollect-len frames)
        {
            for (int f = 0; f < _config.PrecollectLen; f += _config.NumProcesses * _trialLength)
                envSteps += Collect(_distribution.SampleTasks(_config.NumProcesses, _rng), _rng, deterministic: false).Batch.Steps;
            _precollected = true;
        }
        var trials = Collect(_distribution.SampleTasks(_config.NumProcesses, _rng), _rng, deterministic: false);
        envSteps += trials.Batch.Steps;
        var stats = PpoUpdate(trials);
        double reconstruction = 0, kl = 0;
        for (int u = 0; u < _config.NumVaeUpdates; u++)
        {
            var (r, k) = VaeUpdate();
            reconstruction += r / _config.NumVaeUpdates; kl += k / _config.NumVaeUpdates;
        }
        stats["vae_reward_loss"] = reconstruction;
        stats["vae_kl"] = kl;
        // The policy's input statistics follow the data it acted on (after the update, so PPO's ratios start at 1).
        Policy.StateStats.Update(trials.Batch.Inputs, trials.Batch.Length * trials.Batch.Trials, Policy.InputSize);
        Policy.LatentStats.Update(trials.Batch.Inputs, trials.Batch.Length * trials.Batch.Trials, Policy.InputSize, _obs);

        var b = trials.Batch;
        for (int e = 0; e < b.EpisodesPerTrial; e++) stats[$"return_episode_{e + 1}"] = b.MeanEpisodeReturn(e);
        double success = Enumerable.Range(0, b.Trials).Average(t => b.EpisodeSuccess[t, b.EpisodesPerTrial - 1] ? 1.0 : 0.0);
        return new LearnerIteration(b.TrialReturns().Average() / b.EpisodesPerTrial, success, envSteps, stats);
    }

    /// <summary>What a rollout gave: the trials (the policy's inputs as recorded, with the belief), and the encoder's next states.</summary>
    internal sealed record Trials(Rl2.TrialBatch Batch, float[] NextStates);

    /// <summary>One trial of max-rollouts-per-task episodes per task, side by side; every trial also goes to the VAE buffer.</summary>
    internal Trials Collect(IReadOnlyList<object> tasks, Rng rng, bool deterministic, int? episodes = null, bool toBuffer = true)
    {
        int n = tasks.Count, e = episodes ?? _config.MaxRolloutsPerTask, length = e * _horizon;
        _envs = VectorEnvs.For(_distribution, tasks, _envs);
        var batch = new Rl2.TrialBatch(length, n, e, Policy.InputSize, _act);
        var rollout = new BeliefRollout(this, batch, deterministic);
        _collector.RunEpisodes(_envs, rollout, e, length, rng, rollout);
        if (toBuffer && length == _trialLength)
            for (int t = 0; t < n; t++) _vaeBuffer.Add(Trajectory(batch, rollout.NextStates, t));
        return new Trials(batch, rollout.NextStates);
    }

    /// <summary>Trial b as the VAE stores it: per step (action, next state with its done flag, reward).</summary>
    float[] Trajectory(Rl2.TrialBatch batch, float[] nextStates, int b)
    {
        int width = _act + _encoderStateSize + 1;
        var row = new float[_trialLength * width];
        for (int t = 0; t < _trialLength; t++)
        {
            int i = t * batch.Trials + b;
            batch.Actions.AsSpan(i * _act, _act).CopyTo(row.AsSpan(t * width));
            nextStates.AsSpan(i * _encoderStateSize, _encoderStateSize).CopyTo(row.AsSpan(t * width + _act));
            row[t * width + width - 1] = batch.Rewards[i];
        }
        return row;
    }

    // ---- PPO (the official ppo.py: clipped ratio, clipped Huber value loss, normalised advantages) ----

    Dictionary<string, double> PpoUpdate(Trials trials)
    {
        var b = trials.Batch;
        int steps = b.Length, n = b.Trials;
        var rewards = _config.NormRewForPolicy ? NormalisedRewards(b) : b.Rewards;
        var inputs = b.InputsTensor().reshape(-1, Policy.InputSize);
        var actions = b.ActionsTensor().reshape(-1, _act);
        Tensor oldLogp, oldValues;
        using (no_grad())
        {
            var (pi, v) = Policy.Forward(inputs);
            oldLogp = pi.LogProb(actions).detach();
            oldValues = v.detach();
        }
        // GAE over the whole trial (a BAMDP episode): episodes of a trial do not cut the return; the trial's end does.
        var values = oldValues.data<float>().ToArray();
        var adv = new float[steps * n];
        for (int k = 0; k < n; k++)
        {
            double gae = 0;
            for (int t = steps - 1; t >= 0; t--)
            {
                int i = t * n + k;
                if (b.Mask[i] == 0) { gae = 0; continue; }
                bool last = t + 1 == steps || b.Mask[(t + 1) * n + k] == 0;
                double next = last ? 0 : values[(t + 1) * n + k];
                double delta = rewards[i] + _common.Gamma * next - values[i];
                gae = delta + (last ? 0 : _common.Gamma * _common.GaeLambda * gae);
                adv[i] = (float)gae;
            }
        }
        var rows = Enumerable.Range(0, steps * n).Where(i => b.Mask[i] != 0).Select(i => (long)i).ToArray();
        var index = tensor(rows);
        var advT = tensor(adv).index_select(0, index);
        var returns = advT + oldValues.index_select(0, index);
        advT = (advT - advT.mean()) / (advT.std() + 1e-5);
        var x = inputs.index_select(0, index);
        var a = actions.index_select(0, index);
        var lp0 = oldLogp.index_select(0, index);
        var v0 = oldValues.index_select(0, index);

        int m = rows.Length, size = Math.Max(1, m / _config.PpoNumMinibatch);
        var order = new long[m];
        double policyLoss = 0, valueLoss = 0, entropy = 0;
        int updates = 0;
        for (int epoch = 0; epoch < _config.PpoNumEpochs; epoch++)
        {
            for (int i = 0; i < m; i++) order[i] = i;
            _rng.Shuffle(order.AsSpan());
            for (int start = 0; start + size <= m; start += size)
            {
                using var inner = NewDisposeScope();
                var mb = tensor(order.AsSpan(start, size).ToArray());
                var (pi, v) = Policy.Forward(x.index_select(0, mb));
                var ratio = (pi.LogProb(a.index_select(0, mb)) - lp0.index_select(0, mb)).exp();
                var lossPi = -Losses.ClippedSurrogate(ratio, advT.index_select(0, mb), _config.PpoClipParam).mean();
                var ret = returns.index_select(0, mb);
                var vOld = v0.index_select(0, mb);
                Tensor Err(Tensor pred) => _config.PpoUseHuberloss ? nn.functional.smooth_l1_loss(pred, ret, reduction: nn.Reduction.None) : (pred - ret).pow(2);
                var lossV = _config.PpoUseClippedValueLoss
                    ? 0.5 * maximum(Err(v), Err(vOld + (v - vOld).clamp(-_config.PpoClipParam, _config.PpoClipParam))).mean()
                    : 0.5 * Err(v).mean();
                var h = pi.Entropy().mean();
                var loss = lossPi + _config.PolicyValueLossCoef * lossV - _config.PolicyEntropyCoef * h;
                _policyOptimizer.zero_grad();
                loss.backward();
                nn.utils.clip_grad_norm_(Policy.Parameters.AsParameters(), _config.PolicyMaxGradNorm);
                _policyOptimizer.step();
                policyLoss += Losses.Finite(lossPi.item<float>(), "variBAD's policy loss");
                valueLoss += Losses.Finite(lossV.item<float>(), "variBAD's value loss");
                entropy += h.item<float>();
                updates++;
            }
        }
        return new Dictionary<string, double>
        {
            ["policy_loss"] = policyLoss / updates, ["value_loss"] = valueLoss / updates, ["entropy"] = entropy / updates,
        };
    }

    /// <summary>Rewards divided by the running standard deviation of each trial's discounted return so far (VecNormalize, clipped to +-10).</summary>
    float[] NormalisedRewards(Rl2.TrialBatch b)
    {
        int steps = b.Length, n = b.Trials;
        var ret = new float[n];
        var result = new float[steps * n];
        for (int t = 0; t < steps; t++)
        {
            for (int k = 0; k < n; k++) ret[k] = (float)(ret[k] * _common.Gamma + b.Rewards[t * n + k]);
            _returnStats.Update(ret, n, 1);
            double std = Math.Sqrt(_returnStats.Variance[0] + 1e-8);
            for (int k = 0; k < n; k++) result[t * n + k] = (float)Math.Clamp(b.Rewards[t * n + k] / std, -10, 10);
        }
        return result;
    }

    // ---- the VAE: ELBO over every prefix of the trial, decoding the whole trial ----

    (double Reward, double Kl) VaeUpdate()
    {
        if (_vaeBuffer.Count == 0) return (0, 0);
        using var scope = NewDisposeScope();
        int batch = Math.Min(_config.VaeBatchNumTrajs, _vaeBuffer.Count);
        var data = _vaeBuffer.Sample(batch, _rng); // [B, T, width]
        var (rewardLoss, kl) = VaeLoss(data, batch);
        var loss = rewardLoss + _config.KlWeight * kl;
        _vaeOptimizer.zero_grad();
        loss.backward();
        _vaeOptimizer.step();
        return (Losses.Finite(rewardLoss.item<float>(), "variBAD's reward reconstruction loss"), Losses.Finite(kl.item<float>(), "variBAD's KL"));
    }

    /// <summary><paramref name="n"/> trials from the VAE buffer, as <see cref="VaeLoss"/> takes them (for tests).</summary>
    internal float[] VaeBufferSample(int n, Rng rng) => _vaeBuffer.Sample(n, rng);

    /// <summary>The ELBO's two parts on <paramref name="batch"/> trials [B, T, width]: the reward reconstruction loss and the KL (one draw of z and of the subsampled terms).</summary>
    internal (Tensor RewardLoss, Tensor Kl) VaeLoss(float[] data, int batch)
    {
        int width = _act + _encoderStateSize + 1, T = _trialLength;
        var d = tensor(data, [batch, T, width]).transpose(0, 1); // [T, B, width]
        var actions = d.narrow(2, 0, _act);
        var states = d.narrow(2, _act, _encoderStateSize);
        var rewards = d.narrow(2, width - 1, 1).squeeze(2);

        var hiddens = Encoder.Hiddens(actions, states, rewards); // [T+1, B, H]
        var (mean, logVar) = Encoder.Belief(hiddens);
        _noise.manual_seed(unchecked((long)_rng.NextULong()));
        var z = mean + (0.5 * logVar).exp() * randn(mean.shape, generator: _noise);

        // Every belief (prefix t = 0..T) decodes every step's reward (j = 1..T): past and future. On long trials (MuJoCo's
        // 400 steps: 401 x 400 decodes per trajectory) the official configs subsample both: E prefixes per trajectory, and
        // D decoded steps per prefix, each drawn uniformly with replacement.
        var (elbos, decodes) = SubsampleIndices(T, batch); // [E, B] prefixes and [E, D, B] decoded steps, or null: all
        var kl = BeliefKl(mean, logVar, _config.KlToGaussPrior); // [T+1, B]
        var trajectory = arange(batch, dtype: int64);
        if (elbos is not null)
        {
            z = z[elbos, trajectory.unsqueeze(0)]; // [E, B, L]
            kl = kl[elbos, trajectory.unsqueeze(0)]; // [E, B]
        }
        long E = z.shape[0];
        // A per-step quantity [T, B, ...] at the steps each ELBO term decodes: [E, D, B, ...] (D = T without subsampling).
        Tensor AtDecodes(Tensor x) => decodes is null
            ? x.unsqueeze(0).expand([E, .. x.shape])
            : x[decodes, trajectory.view(1, 1, batch).expand_as(decodes)];
        Tensor reconstruction; // [E, D, B]
        if (Decoder.MultiHead)
        {
            var cells = new long[T * batch];
            for (int bb = 0; bb < batch; bb++)
                for (int t = 0; t < T; t++)
                    cells[t * batch + bb] = _cells!.CellIndex(data.AsSpan((bb * T + t) * width + _act, _obs));
            var index = AtDecodes(tensor(cells, [T, batch]));
            var target = AtDecodes((rewards > 0).to(float32)); // the goal's reward (+1) against the rest
            var logits = Decoder.CellLogits(z); // [E, B, C]
            var perStep = logits.unsqueeze(1).expand(E, index.shape[1], batch, logits.shape[2]).gather(3, index.unsqueeze(3)).squeeze(3); // [E, D, B]
            reconstruction = nn.functional.binary_cross_entropy_with_logits(perStep, target, reduction: nn.Reduction.None);
        }
        else
        {
            var ss = AtDecodes(states);
            var zz = z.unsqueeze(1).expand(E, ss.shape[1], batch, _latent);
            reconstruction = (Decoder.Reward(zz, ss) - AtDecodes(rewards)).pow(2);
        }
        // Per trajectory: the decoded steps summed (or averaged) within each ELBO term, the terms summed (or averaged);
        // the reward loss averaged over trajectories, the KL summed over them (as the official code).
        var perTerm = _config.VaeAvgReconstructionTerms ? reconstruction.mean([1]) : reconstruction.sum([1]); // [E, B]
        var rewardLoss = (_config.VaeAvgElboTerms ? perTerm.mean([0]) : perTerm.sum([0])).mean();
        kl = (_config.VaeAvgElboTerms ? kl.mean([0]) : kl.sum([0])).sum();
        return (rewardLoss, kl);
    }

    /// <summary>
    /// The official code's subsampling of the ELBO: <c>vae-subsample-elbos</c> prefixes per trajectory (of its T + 1),
    /// and <c>vae-subsample-decodes</c> decoded steps (of T) per prefix and trajectory, each uniform with replacement, from
    /// the learner's generator (so a resumed run draws the same). Null where a key is 0: all of them.
    /// </summary>
    (Tensor? Elbos, Tensor? Decodes) SubsampleIndices(int T, int batch)
    {
        Tensor? elbos = null, decodes = null;
        int e = _config.VaeSubsampleElbos, d = _config.VaeSubsampleDecodes;
        if (e > 0)
        {
            var prefixes = new long[e * batch];
            for (int i = 0; i < prefixes.Length; i++) prefixes[i] = _rng.NextInt(T + 1);
            elbos = tensor(prefixes, [e, batch]);
        }
        if (d > 0)
        {
            int rows = e > 0 ? e : T + 1;
            var steps = new long[rows * d * batch];
            for (int i = 0; i < steps.Length; i++) steps[i] = _rng.NextInt(T);
            decodes = tensor(steps, [rows, d, batch]);
        }
        return (elbos, decodes);
    }

    /// <summary>
    /// The ELBO's KL terms [T+1, B] of beliefs [T+1, B, L]: KL(q_t || q_t-1) with q_-1 = N(0, I) (the official default),
    /// or with <paramref name="toGaussPrior"/> KL(q_t || N(0, I)) for every t.
    /// </summary>
    public static Tensor BeliefKl(Tensor mean, Tensor logVar, bool toGaussPrior)
    {
        if (toGaussPrior) return -0.5 * (1 + logVar - mean.pow(2) - logVar.exp()).sum(-1);
        long t = mean.shape[0];
        var first = zeros([1, .. mean.shape[1..]]);
        var m = cat([first, mean], 0);
        var lv = cat([first, logVar], 0);
        var (mu, logE, mPrev, logS) = (m.narrow(0, 1, t), lv.narrow(0, 1, t), m.narrow(0, 0, t), lv.narrow(0, 0, t));
        return 0.5 * (logS - logE - 1 + (logE - logS).exp() + (mPrev - mu).pow(2) / logS.exp()).sum(-1);
    }

    // ---- adapting: the belief runs, no gradient ----

    /// <summary>budget + 1 episodes of each task in one trial, the belief starting at the prior, actions the most likely (the official evaluation).</summary>
    public AdaptationResult AdaptTo(IReadOnlyList<object> tasks, int budget, Rng rng)
    {
        using var guard = IterationGuard.Enter();
        using var scope = NewDisposeScope();
        var envs = _envs;
        _envs = null; // evaluation tasks get their own envs
        try
        {
            var b = Collect(tasks, rng, deterministic: true, episodes: budget + 1, toBuffer: false).Batch;
            var returns = Enumerable.Range(0, budget + 1).Select(e => Enumerable.Range(0, tasks.Count).Select(t => b.EpisodeReturns[t, e]).ToArray()).ToArray();
            var success = Enumerable.Range(0, budget + 1).Select(e => Enumerable.Range(0, tasks.Count).Select(t => b.EpisodeSuccess[t, e] ? 1.0 : 0.0).ToArray()).ToArray();
            return new AdaptationResult(returns, success, EpisodesPerStep: 1);
        }
        finally
        {
            _envs?.Dispose();
            _envs = envs;
        }
    }

    /// <summary>One step of a traced trial: where the agent is after it (step 0: the start, before any move) and what it believes.</summary>
    public sealed record BeliefStep(int Episode, int Step, float[] Observation, float Reward, double[] CellProbabilities);

    /// <summary>
    /// A trial of <paramref name="episodes"/> episodes on one task with the most likely actions, and after every step the
    /// belief read out through the reward decoder: for each cell, p(reward of the goal at the cell | the belief's mean),
    /// the picture of the variBAD paper's grid-world figure. Multi-head decoders (grid worlds) only.
    /// </summary>
    public IReadOnlyList<BeliefStep> TraceBelief(object task, int episodes, Rng rng)
    {
        if (!Decoder.MultiHead) throw new UsageException("a belief picture needs variBAD's multi-head reward decoder (a grid world)");
        using var guard = IterationGuard.Enter();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var env = _distribution.CreateVectorEnv([task]);
        var trace = new List<BeliefStep>();
        var hidden = zeros(1, Encoder.HiddenSize);
        var input = new float[Policy.InputSize];
        var action = new float[_act];
        var reward = new float[1];
        var (terminated, truncated) = (new bool[1], new bool[1]);
        double[] Probabilities()
        {
            var (mean, _) = Encoder.Belief(hidden);
            return Decoder.CellLogits(mean).sigmoid()[0].to(float64).data<double>().ToArray();
        }
        for (int e = 0; e < episodes; e++)
        {
            env.ResetEnv(0, rng.NextInt(int.MaxValue));
            trace.Add(new BeliefStep(e, 0, env.Observations.ToArray(), 0, Probabilities()));
            for (int t = 1; !env.IsDone(0); t++)
            {
                env.Observations.CopyTo(input);
                var (mean, logVar) = Encoder.Belief(hidden);
                cat([mean, logVar], 1).data<float>().CopyTo(input.AsSpan(_obs));
                Policy.ActOn(input, 1, action, rng, deterministic: true);
                env.Step(action, reward, terminated, truncated);
                var next = new float[_encoderStateSize];
                env.Observations.CopyTo(next);
                if (_encoderStateSize > _obs) next[_obs] = env.IsDone(0) ? 1 : 0;
                hidden = Encoder.Step(hidden, tensor(action, [1, _act]), tensor(next, [1, _encoderStateSize]), tensor(reward));
                trace.Add(new BeliefStep(e, t, env.Observations.ToArray(), reward[0], Probabilities()));
            }
        }
        return trace;
    }

    public void SaveState(BinaryWriter w)
    {
        w.Write(_precollected);
        foreach (var p in new[] { Policy.Parameters, Encoder.Parameters, Decoder.Parameters }) p.Save(w);
        foreach (var o in new[] { _policyOptimizer, _vaeOptimizer }) ((OptimizerHelper)o).save_state_dict(w);
        Policy.StateStats.Save(w); Policy.LatentStats.Save(w); _returnStats.Save(w);
        _vaeBuffer.Save(w);
    }

    public void LoadState(BinaryReader r)
    {
        _precollected = r.ReadBoolean();
        foreach (var p in new[] { Policy.Parameters, Encoder.Parameters, Decoder.Parameters }) p.Load(r);
        foreach (var o in new[] { _policyOptimizer, _vaeOptimizer }) ((OptimizerHelper)o).load_state_dict(r);
        Policy.StateStats.Load(r); Policy.LatentStats.Load(r); _returnStats.Load(r);
        _vaeBuffer.Load(r);
    }

    public void Dispose() => _envs?.Dispose();

    /// <summary>
    /// The policy and the encoder as the collector's agent and sink at once: at each step the policy acts on the state
    /// and the current belief (recorded as its input row); after the step the encoder takes the transition
    /// (a, r, s' with its done flag) and the belief moves. The belief runs across the episodes of a trial.
    /// </summary>
    sealed class BeliefRollout(VariBad learner, Rl2.TrialBatch batch, bool deterministic) : IRolloutAgent, IRolloutSink
    {
        readonly int _n = batch.Trials, _obs = learner._obs, _latent = learner._latent, _stateSize = learner._encoderStateSize;
        Tensor? _hidden;
        float[] _belief = [];

        public float[] NextStates { get; } = new float[batch.Length * batch.Trials * learner._encoderStateSize];
        public int ObservationSize => _obs;
        public int ActionSize => learner._act;
        public int RecordSize => learner.Policy.InputSize;

        public object? InitialState(int envs)
        {
            _hidden = zeros(envs, learner.Encoder.HiddenSize).DetachFromDisposeScope();
            _belief = new float[envs * 2 * _latent];
            ReadBelief();
            return null;
        }

        void ReadBelief()
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var (mean, logVar) = learner.Encoder.Belief(_hidden!);
            cat([mean, logVar], 1).data<float>().CopyTo(_belief.AsSpan());
        }

        public object? Act(in StepView step, float[] records, float[] actions, object? state, Rng rng)
        {
            int inSize = RecordSize;
            for (int e = 0; e < _n; e++)
            {
                step.Observations.Slice(e * _obs, _obs).CopyTo(records.AsSpan(e * inSize));
                _belief.AsSpan(e * 2 * _latent, 2 * _latent).CopyTo(records.AsSpan(e * inSize + _obs));
            }
            learner.Policy.ActOn(records, _n, actions, rng, deterministic);
            return null;
        }

        public void Release(object? state) => _hidden?.Dispose();

        public void Begin(int t, ReadOnlySpan<bool> alive)
        {
            for (int b = 0; b < _n; b++) if (alive[b]) batch.Mask[t * _n + b] = 1;
        }

        public void Acted(int t, ReadOnlySpan<float> records, ReadOnlySpan<float> actions, IVectorEnv envs, ReadOnlySpan<bool> alive) =>
            records.CopyTo(batch.Inputs.AsSpan(t * _n * batch.InputSize));

        public void Stepped(int t, in StepOutcome outcome)
        {
            int a = batch.ActionSize;
            var next = NextStates.AsSpan(t * _n * _stateSize, _n * _stateSize);
            for (int b = 0; b < _n; b++)
            {
                int i = t * _n + b;
                outcome.Observations.Slice(b * _obs, _obs).CopyTo(next.Slice(b * _stateSize));
                if (_stateSize > _obs) next[b * _stateSize + _obs] = outcome.Terminated[b] || outcome.Truncated[b] ? 1 : 0;
                if (!outcome.Alive[b]) continue;
                int episode = outcome.Episode[b];
                outcome.Actions.Slice(b * a, a).CopyTo(batch.Actions.AsSpan(i * a, a));
                batch.Rewards[i] = outcome.Rewards[b];
                batch.EpisodeReturns[b, episode] += outcome.Rewards[b];
                batch.EpisodeSuccess[b, episode] |= outcome.Success[b];
            }
            // The belief takes the step's transitions (envs whose trial is over are masked out of every use).
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var h = learner.Encoder.Step(_hidden!, tensor(outcome.Actions.ToArray(), [_n, a]), tensor(next.ToArray(), [_n, _stateSize]), tensor(outcome.Rewards.ToArray()));
            _hidden!.copy_(h);
            ReadBelief();
        }
    }
}

/// <summary>Whole trajectories of one fixed length for the VAE, a ring of up to <paramref name="capacity"/> (each a float row allocated once).</summary>
public sealed class TrajectoryBuffer(int capacity, int length, int width)
{
    readonly List<float[]> _rows = [];
    int _next;

    public int Count => _rows.Count;

    public void Add(float[] row)
    {
        if (row.Length != length * width) throw new ArgumentException($"a trajectory is {length} x {width} floats", nameof(row));
        if (_rows.Count < capacity) _rows.Add(row);
        else _rows[_next] = row;
        _next = (_next + 1) % capacity;
    }

    /// <summary>Distinct trajectories (as many as asked, or all), one after the other: [n, length, width].</summary>
    public float[] Sample(int n, Rng rng)
    {
        var order = Enumerable.Range(0, _rows.Count).ToArray();
        for (int i = 0; i < n; i++) { int j = i + rng.NextInt(order.Length - i); (order[i], order[j]) = (order[j], order[i]); }
        var result = new float[n * length * width];
        for (int i = 0; i < n; i++) _rows[order[i]].CopyTo(result, i * length * width);
        return result;
    }

    public void Save(BinaryWriter w)
    {
        w.Write(_rows.Count); w.Write(_next);
        foreach (var row in _rows) w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(row.AsSpan()));
    }

    public void Load(BinaryReader r)
    {
        int count = r.ReadInt32();
        _next = r.ReadInt32();
        _rows.Clear();
        for (int i = 0; i < count; i++)
        {
            var row = new float[length * width];
            r.BaseStream.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(row.AsSpan()));
            _rows.Add(row);
        }
    }
}
