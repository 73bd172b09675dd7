using System.Globalization;
using MetaRl.Algorithms.SingleTask;
using MetaRl.Envs;
using MetaRl.Experiments;
using MetaRl.Policies;
using MetaRl.Sampling;
using MetaRl.Torch;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.Rl2;

public sealed class Rl2Config
{
    [Key("episodes-per-trial", "n: episodes per trial (one task); the hidden state is kept across them", Min = 1)] public int EpisodesPerTrial { get; set; } = 10;
    [Key("batch-size", "environment steps per policy update (the paper: about 250,000), rounded up to whole trials", Min = 1)] public int BatchSize { get; set; } = 250_000;
    [Key("hidden-size", "GRU hidden units (the paper: 256)", Min = 1)] public int HiddenSize { get; set; } = 256;
    [Key("gru-cell", "standard: PyTorch's GRU; layer-norm: pytorch_rl2's cell (layer-normalised projections, ReLU candidate, update gate biased to keep the state)", OneOf = "standard,layer-norm")] public string GruCell { get; set; } = "standard";
    public Policies.GruCell Cell => GruCell == "layer-norm" ? Policies.GruCell.LayerNorm : Policies.GruCell.Standard;
    [Key("optimizer", "outer RL algorithm over whole trials: trpo (the paper's) or ppo", OneOf = "trpo,ppo")] public string Optimizer { get; set; } = "trpo";
    [Key("lr", "ppo: Adam learning rate of the GRU and both heads", Min = 0, MinExclusive = true)] public double Lr { get; set; } = 1e-3;
    [Key("epochs", "ppo: passes over each batch", Min = 1)] public int Epochs { get; set; } = 4;
    [Key("minibatches", "ppo: minibatches of trials per epoch", Min = 1)] public int Minibatches { get; set; } = 4;
    [Key("clip", "ppo: clipping range of the probability ratio", Min = 0, MinExclusive = true)] public double Clip { get; set; } = 0.2;
    [Key("ent-coef", "ppo: entropy bonus coefficient", Min = 0)] public double EntCoef { get; set; } = 0.01;
    [Key("uniform-coef", "ppo, discrete actions: weight of KL(uniform || pi), a pull towards uniform that, unlike the entropy bonus, does not vanish for an action whose probability is already near zero (keeps a bandit agent from dropping arms for good); 0: off, the paper's objective", Min = 0)] public double UniformCoef { get; set; }
    [Key("task-coef", "ppo: weight of a task-inference loss (privileged information in meta-training, Humplik et al. 2019): a linear head on the policy's hidden state predicts the task's parameters (a bandit's arm probabilities, an MDP's mean rewards), standardised by the prior, at every step (squared error); the agent never sees them. Needs a task family that describes its tasks (bandits, tabular MDPs); 0: off, the paper's objective", Min = 0)] public double TaskCoef { get; set; }
    [Key("vf-coef", "ppo: weight of the value loss (on the shared GRU or the value GRU)", Min = 0)] public double VfCoef { get; set; } = 0.5;
    [Key("max-grad-norm", "ppo: gradient norm clipping", Min = 0, MinExclusive = true)] public double MaxGradNorm { get; set; } = 1.0;
    [Key("anneal-lr", "ppo: decay the learning rate linearly to 0 by the end of num-batches")] public bool AnnealLr { get; set; }
    [Key("anneal-from", "ppo with anneal-lr: the update at which the decay starts; the learning rate is held before it (0: decay over the whole run)", Min = 0)] public int AnnealFrom { get; set; }
    [Key("restart-at", "ppo with anneal-lr: a warm restart (Loshchilov & Hutter 2017): the first decay reaches 0 at this update, where the rate jumps to restart-lr and decays linearly to 0 again at num-batches (0: no restart)", Min = 0)] public int RestartAt { get; set; }
    [Key("restart-lr", "ppo with restart-at: the learning rate the restart jumps to", Min = 0)] public double RestartLr { get; set; }
    [Key("value-network", "shared: the value head reads the policy's GRU; separate: a second GRU of the same size feeds it (as rllab's recurrent baseline)", OneOf = "shared,separate")] public string ValueNetwork { get; set; } = "shared";
    [Key("reward-signal", "the reward advantages are computed from: sampled (the paper's), or mean: E[r | task, state, action], which the task distribution knows during meta-training; the same expected return with less variance. The agent's input is the sampled reward either way", OneOf = "sampled,mean")] public string RewardSignal { get; set; } = "sampled";
    public bool MeanRewards => RewardSignal == "mean";
    [Key("fused-gru", "ppo with gru-cell layer-norm: run PPO's passes through the fused recurrence (the same gradients, about twice as fast: docs/algorithms/rl2.md); false: autograd's op-by-op recurrence")] public bool FusedGru { get; set; } = true;
    [Key("vf-lr", "trpo: Adam learning rate of the value head (fitted on the GRU's hidden states)", Min = 0, MinExclusive = true)] public double VfLr { get; set; } = 1e-2;
    [Key("vf-iters", "trpo: Adam steps of the value head per update", Min = 1)] public int VfIters { get; set; } = 20;

    /// <summary>
    /// Refuses an anneal-from or restart-at without anneal-lr, or one a run of <paramref name="numBatches"/> updates
    /// never reaches, or a restart that is not after the first decay's start (before anything is trained or written).
    /// </summary>
    public void CheckSchedule(int numBatches)
    {
        if (AnnealFrom > 0 && !AnnealLr)
            throw new UsageException($"anneal-from ({AnnealFrom}) is where anneal-lr's decay starts; set anneal-lr=true, or leave anneal-from at 0");
        if (AnnealFrom > 0 && AnnealFrom >= FirstDecayEnd(numBatches))
            throw new UsageException(RestartAt > 0
                ? $"anneal-from must be below restart-at ({RestartAt}), the update by which the first decay reaches 0; got {AnnealFrom}"
                : $"anneal-from must be below num-batches ({numBatches}), the update by which the learning rate reaches 0; got {AnnealFrom}");
        if (RestartAt == 0)
        {
            if (RestartLr > 0)
                throw new UsageException($"restart-lr ({RestartLr.ToString(CultureInfo.InvariantCulture)}) is the rate of a warm restart; set restart-at too, or leave restart-lr at 0");
            return;
        }
        if (!AnnealLr)
            throw new UsageException($"restart-at ({RestartAt}) restarts anneal-lr's decay; set anneal-lr=true, or leave restart-at at 0");
        if (RestartAt >= numBatches)
            throw new UsageException($"restart-at must be below num-batches ({numBatches}), the update by which the restarted rate reaches 0; got {RestartAt}");
        if (RestartLr <= 0)
            throw new UsageException($"restart-at ({RestartAt}) needs restart-lr > 0, the rate the restart jumps to; got {RestartLr.ToString(CultureInfo.InvariantCulture)}");
    }

    /// <summary>The update by which the first decay reaches 0: restart-at, or the run's end without a restart.</summary>
    public int FirstDecayEnd(int numBatches) => RestartAt > 0 ? RestartAt : numBatches;
}

/// <summary>
/// RL2 (Duan et al. 2016, Algorithm in Section 2.2): the "fast" RL algorithm is the GRU's hidden state,
/// the "slow" one an ordinary policy-gradient method run over whole trials. Each iteration:
///   1. draw one task per trial and run every trial for n episodes, keeping the hidden state across them;
///   2. advantages by GAE over the whole trial (the trial, not the episode, is the unit of discounting);
///   3. update by TRPO (the paper's) or PPO, backpropagating through time over each trial (PPO may add a
///      task-inference loss, task-coef: a deviation from the paper that supervises the memory with the task).
/// Adapting to a new task takes no gradient: the agent just keeps running (see <see cref="AdaptTo"/>).
/// </summary>
public sealed class Rl2 : IMetaLearner
{
    readonly ITaskDistribution _tasks;
    readonly Rl2Config _config;
    readonly TrpoConfig _trpo;
    readonly CommonConfig _common;
    readonly Rng _rng;
    readonly TrialSampler _sampler;
    readonly optim.Optimizer _optimizer;
    readonly ReturnScale _scale = new();
    /// <summary>The fused layer-norm GRUs' buffers, reused by every pass of every update (see <see cref="FusedLayerNormGru.Workspace"/>); null with fused-gru off.</summary>
    readonly FusedLayerNormGru.Workspace? _workspace;
    /// <summary>The task family's descriptions of its tasks, for the task-inference loss; null with task-coef 0.</summary>
    readonly ITaskDescriptors? _descriptors;
    int _iteration;

    public Rl2(ITaskDistribution tasks, Rl2Config config, TrpoConfig trpo, CommonConfig common, Rng rng)
    {
        _tasks = tasks; _config = config; _trpo = trpo; _common = common; _rng = rng;
        _workspace = config.FusedGru ? new FusedLayerNormGru.Workspace() : null;
        // The MLP policies' common keys do not shape the GRU; config.yaml lists them at their defaults.
        var defaults = new CommonConfig();
        if (!common.HiddenSizes.SequenceEqual(defaults.HiddenSizes))
            throw new UsageException("hidden-sizes sizes the MLP policies; rl2's policy is a GRU: set hidden-size (its units) instead");
        if (common.Nonlinearity != defaults.Nonlinearity)
            throw new UsageException("nonlinearity is the MLP policies' activation; rl2's GRU has its own (gru-cell: standard or layer-norm)");
        if (config.TaskCoef > 0 && tasks is not ITaskDescriptors)
            throw new UsageException($"task-coef trains a head to predict the task's parameters; {tasks.Name} does not describe its tasks (bandit-k*, tabular-mdp do): leave task-coef at 0");
        if (config.TaskCoef > 0 && config.Optimizer != "ppo")
            throw new UsageException("task-coef is a term of the PPO loss; it needs optimizer=ppo");
        _descriptors = config.TaskCoef > 0 ? (ITaskDescriptors)tasks : null;
        Agent = new Rl2Agent(tasks.ObservationSpace.FlatSize, tasks.ActionSpace, config.HiddenSize, rng.Split(), config.ValueNetwork == "separate", config.Cell, common.InitStd,
            taskDescriptorSize: _descriptors?.DescriptorSize ?? 0);
        _sampler = new TrialSampler(tasks);
        if (config.UniformCoef > 0 && tasks.ActionSpace is not Discrete)
            throw new UsageException($"uniform-coef pulls a categorical policy towards uniform; {tasks.Name} has continuous actions: leave uniform-coef at 0");
        if (config.UniformCoef > 0 && config.Optimizer != "ppo")
            throw new UsageException("uniform-coef is a term of the PPO loss; it needs optimizer=ppo");
        config.CheckSchedule(common.NumBatches);
        // PPO trains everything jointly; TRPO steps the policy in its trust region and fits the value head apart.
        _optimizer = config.Optimizer == "ppo"
            ? optim.Adam(Agent.Parameters.AsParameters(), config.Lr)
            : optim.Adam(Agent.Value.AsParameters(), config.VfLr);
    }

    public Rl2Agent Agent { get; }
    public ParameterSet Parameters => Agent.Parameters;
    public int EpisodesPerTrial => _config.EpisodesPerTrial;

    /// <summary>Trials per batch: the batch size in steps over the steps of a full trial, rounded up.</summary>
    public int TrialsPerBatch => Math.Max(1, (int)Math.Ceiling(_config.BatchSize / (double)(_config.EpisodesPerTrial * _tasks.MaxEpisodeSteps)));

    public LearnerIteration Iterate()
    {
        using var scope = NewDisposeScope();
        var tasks = _tasks.SampleTasks(TrialsPerBatch, _rng);
        var batch = _sampler.Sample(Agent, tasks, _config.EpisodesPerTrial, _rng, meanRewards: _config.MeanRewards);
        if (_config.Optimizer == "ppo")
            foreach (var group in _optimizer.ParamGroups) group.LearningRate = LearningRate(_iteration);
        var stats = _config.Optimizer == "ppo" ? PpoUpdate(batch, Descriptors(tasks)) : TrpoUpdate(batch);
        _iteration++;
        var trialReturns = batch.TrialReturns();
        stats["first_episode_return"] = batch.MeanEpisodeReturn(0);
        stats["last_episode_return"] = batch.MeanEpisodeReturn(batch.EpisodesPerTrial - 1);
        double success = 0;
        foreach (var s in batch.EpisodeSuccess) success += s ? 1 : 0;
        return new LearnerIteration(trialReturns.Average(), success / batch.EpisodeSuccess.Length, batch.Steps, stats);
    }

    /// <summary>
    /// PPO's learning rate at update <paramref name="iteration"/> (from 0) with anneal-lr: held at lr until anneal-from,
    /// then linearly to 0 at num-batches. A long run can learn at a fixed rate and still end with the decay, which
    /// settles the policy where a held rate keeps it moving. With restart-at the first decay reaches 0 there, and
    /// the rate jumps to restart-lr and decays to 0 again at num-batches: a second, lower pass that kept improving
    /// the MDP agents after their first decay had ended (docs/algorithms/rl2.md, nineteenth round).
    /// </summary>
    public double LearningRate(int iteration)
    {
        if (!_config.AnnealLr) return _config.Lr;
        int restart = _config.RestartAt;
        if (restart > 0 && iteration >= restart)
            return _config.RestartLr * Math.Clamp(1 - (double)(iteration - restart) / (_common.NumBatches - restart), 0, 1);
        int from = _config.AnnealFrom;
        return _config.Lr * Math.Clamp(1 - (double)(iteration - from) / (_config.FirstDecayEnd(_common.NumBatches) - from), 0, 1);
    }

    /// <summary>GAE over each trial from the current value head; returns the advantages (normalised) and the value targets.</summary>
    (Tensor Advantages, Tensor Returns) Targets(TrialBatch batch, Tensor values)
    {
        var v = _scale.Denormalize(values).data<float>().ToArray();
        var rewards = _config.MeanRewards ? batch.MeanRewards : batch.Rewards;
        var adv = Advantages.Gae(rewards, batch.Mask, batch.Length, batch.Trials, v, _common.Gamma, _common.GaeLambda);
        var returns = new float[adv.Length];
        for (int i = 0; i < adv.Length; i++) returns[i] = adv[i] + v[i];
        _scale.Update(returns, batch.Mask, Agent.Value);
        Advantages.Normalize(adv, batch.Mask);
        return (tensor(adv, [batch.Length, batch.Trials]), _scale.Normalize(tensor(returns, [batch.Length, batch.Trials])));
    }

    /// <summary>The tasks' standardised parameters [1, B, D], the task-inference head's targets at every step; null with task-coef 0.</summary>
    Tensor? Descriptors(IReadOnlyList<object> tasks)
    {
        if (_descriptors is null) return null;
        int d = _descriptors.DescriptorSize;
        var data = new float[tasks.Count * d];
        for (int b = 0; b < tasks.Count; b++) _descriptors.Describe(tasks[b], data.AsSpan(b * d, d));
        return tensor(data, [1, tasks.Count, d]);
    }

    /// <summary>
    /// PPO's clipped objective over minibatches of whole trials; the value loss shares the GRU (or trains the value GRU).
    /// With <paramref name="descriptors"/> the task-inference loss joins it: the squared error of the task head's
    /// prediction at every step, so the gradient shapes the policy's memory into an estimate of the task.
    /// </summary>
    Dictionary<string, double> PpoUpdate(TrialBatch batch, Tensor? descriptors)
    {
        var inputs = batch.InputsTensor();
        var actions = batch.ActionsTensor();
        var mask = batch.MaskTensor();
        Tensor oldLogp, adv, returns;
        using (no_grad())
        {
            var (pi, values, _, _) = Agent.ForwardFused(inputs, _workspace);
            oldLogp = pi.LogProb(actions);
            (adv, returns) = Targets(batch, values);
        }

        int trials = batch.Trials, size = Math.Max(1, trials / _config.Minibatches);
        var order = new long[trials];
        double policyLoss = 0, valueLoss = 0, entropy = 0, clipFraction = 0, taskLoss = 0;
        int updates = 0;
        for (int epoch = 0; epoch < _config.Epochs; epoch++)
        {
            for (int i = 0; i < trials; i++) order[i] = i;
            _rng.Shuffle(order.AsSpan());
            for (int start = 0; start + size <= trials; start += size)
            {
                using var inner = NewDisposeScope();
                var mb = tensor(order.AsSpan(start, size).ToArray());
                var m = mask.index_select(1, mb);
                var (pi, values, hiddens, recurrence) = Agent.ForwardFused(inputs.index_select(1, mb), _workspace);
                var ratio = (pi.LogProb(actions.index_select(1, mb)) - oldLogp.index_select(1, mb)).exp();
                var a = adv.index_select(1, mb);
                var lp = -MaskedMean(min(ratio * a, ratio.clamp(1 - _config.Clip, 1 + _config.Clip) * a), m);
                var lv = MaskedMean((values - returns.index_select(1, mb)).pow(2), m);
                var h = MaskedMean(pi.Entropy(), m);
                var loss = lp + _config.VfCoef * lv - _config.EntCoef * h;
                if (_config.UniformCoef > 0) loss = loss + _config.UniformCoef * MaskedMean(((Policies.Categorical)pi).KlFromUniform(), m);
                if (descriptors is not null)
                {
                    var lt = MaskedMean((Agent.TaskPrediction(hiddens) - descriptors.index_select(1, mb)).pow(2).mean([-1]), m);
                    taskLoss += NonFiniteException.Check(lt.item<float>(), "the RL2 task-inference loss");
                    loss = loss + _config.TaskCoef * lt;
                }
                policyLoss += NonFiniteException.Check(lp.item<float>(), "the RL2 PPO policy loss");
                valueLoss += NonFiniteException.Check(lv.item<float>(), "the RL2 value loss");
                entropy += h.item<float>();
                clipFraction += MaskedMean(((ratio - 1).abs() > _config.Clip).to(float32), m).item<float>();
                updates++;
                _optimizer.zero_grad();
                loss.backward();
                recurrence?.Backward(); // the fused GRUs' backward through time, from the hidden states' gradient
                nn.utils.clip_grad_norm_(Agent.Parameters.AsParameters(), _config.MaxGradNorm);
                _optimizer.step();
            }
        }
        var stats = new Dictionary<string, double>
        {
            ["policy_loss"] = policyLoss / updates, ["value_loss"] = valueLoss / updates,
            ["entropy"] = entropy / updates, ["clip_fraction"] = clipFraction / updates,
        };
        if (descriptors is not null) stats["task_loss"] = taskLoss / updates; // 1: no better than the prior's mean
        return stats;
    }

    /// <summary>TRPO on the policy (GRU and policy head) over the whole batch; then the value head is fitted on the new hidden states.</summary>
    Dictionary<string, double> TrpoUpdate(TrialBatch batch)
    {
        var inputs = batch.InputsTensor();
        var actions = batch.ActionsTensor();
        var mask = batch.MaskTensor();
        IActionDistribution oldPi;
        Tensor oldLogp, adv, returns;
        using (no_grad())
        {
            var (pi, values) = Agent.Forward(inputs);
            oldPi = pi.Detach();
            oldLogp = pi.LogProb(actions);
            (adv, returns) = Targets(batch, values);
        }
        (Tensor Loss, Tensor Kl) Objective()
        {
            var pi = Agent.Policy.Head(Agent.Policy.Hiddens(inputs, Agent.Policy.InitialState(batch.Trials)));
            var ratio = (pi.LogProb(actions) - oldLogp).exp();
            return (-MaskedMean(ratio * adv, mask), MaskedMean(pi.KlFrom(oldPi), mask));
        }
        var step = TrpoStep.Apply(Agent.Policy.Parameters, Objective, evaluate: null, _trpo);

        // A shared head is fitted on the new policy's hidden states (fixed); a separate value GRU is trained with it.
        Tensor? policyHiddens = null;
        if (Agent.ValueGru is null)
            using (no_grad()) policyHiddens = Agent.ValueHiddens(inputs);
        double valueLoss = 0;
        for (int i = 0; i < _config.VfIters; i++)
        {
            using var inner = NewDisposeScope();
            var lv = MaskedMean((Agent.Values(policyHiddens ?? Agent.ValueHiddens(inputs)) - returns).pow(2), mask);
            valueLoss = NonFiniteException.Check(lv.item<float>(), "the RL2 value loss");
            _optimizer.zero_grad();
            lv.backward();
            _optimizer.step();
        }
        return new Dictionary<string, double>
        {
            ["loss_before"] = step.LossBefore, ["loss_after"] = step.LossAfter, ["kl"] = step.Kl,
            ["ls_steps"] = step.LineSearchSteps, ["value_loss"] = valueLoss,
        };
    }

    static Tensor MaskedMean(Tensor x, Tensor mask) => (x * mask).sum() / mask.sum();

    /// <summary>
    /// RL2 adapts without gradients: each task gets one trial of budget + 1 episodes, and "after j steps"
    /// is the return of episode j (episode 0 is before adapting: the agent knows nothing of the task yet).
    /// </summary>
    public AdaptationResult AdaptTo(IReadOnlyList<object> tasks, int budget, Rng rng)
    {
        using var scope = NewDisposeScope();
        var batch = new TrialSampler(_tasks).Sample(Agent, tasks, budget + 1, rng);
        var returns = new double[budget + 1][];
        var success = new double[budget + 1][];
        for (int j = 0; j <= budget; j++)
        {
            returns[j] = Enumerable.Range(0, tasks.Count).Select(b => batch.EpisodeReturns[b, j]).ToArray();
            success[j] = Enumerable.Range(0, tasks.Count).Select(b => batch.EpisodeSuccess[b, j] ? 1.0 : 0.0).ToArray();
        }
        return new AdaptationResult(returns, success);
    }

    /// <summary>
    /// Runs trials of the trained agent on the given tasks (no learning): the evaluation of RL2's tables. The
    /// agent samples its actions as in training; <paramref name="mostLikely"/> takes the most likely action instead.
    /// Runs in a no-GC region, as training iterations do: TorchSharp does not keep its implicit Scalars alive
    /// through a native call (see <see cref="NativeCallGuard"/>).
    /// </summary>
    public TrialBatch RunTrials(IReadOnlyList<object> tasks, int episodesPerTrial, Rng rng, Action<int, int, int, float, float>? onStep = null, bool mostLikely = false)
    {
        using var guard = NativeCallGuard.Enter();
        using var scope = NewDisposeScope();
        return new TrialSampler(_tasks).Sample(Agent, tasks, episodesPerTrial, rng, deterministic: mostLikely, onStep: onStep);
    }

    public void SaveState(BinaryWriter w)
    {
        Agent.Parameters.Save(w);
        ((OptimizerHelper)_optimizer).save_state_dict(w);
        w.Write(_scale.Mean); w.Write(_scale.Variance); w.Write(_scale.Initialised);
        w.Write(_iteration);
    }

    public void LoadState(BinaryReader r)
    {
        Agent.Parameters.Load(r);
        ((OptimizerHelper)_optimizer).load_state_dict(r);
        _scale.Mean = r.ReadDouble(); _scale.Variance = r.ReadDouble(); _scale.Initialised = r.ReadBoolean();
        _iteration = r.ReadInt32();
    }

    /// <summary>
    /// The value head predicts returns standardised by a running mean and variance, so that trials whose
    /// returns run to hundreds (MDPs, long bandit trials) give the shared GRU value gradients of the same
    /// size as the policy's.
    /// </summary>
    sealed class ReturnScale
    {
        public double Mean, Variance = 1;
        public bool Initialised;
        const double Decay = 0.9;

        public Tensor Denormalize(Tensor v) => v * Math.Sqrt(Variance) + Mean;
        public Tensor Normalize(Tensor g) => (g - Mean) / Math.Sqrt(Variance);

        /// <summary>Moves the statistics toward this batch's and rescales the head so its outputs in return units stay the same (PopArt's rule).</summary>
        public void Update(float[] returns, float[] mask, ParameterSet head)
        {
            double oldMean = Mean, oldStd = Math.Sqrt(Variance);
            Track(returns, mask);
            double std = Math.Sqrt(Variance);
            using var _ = no_grad();
            head["value.0.weight"].mul_(oldStd / std);
            head["value.0.bias"].mul_(oldStd).add_(oldMean - Mean).div_(std);
        }

        void Track(float[] returns, float[] mask)
        {
            double n = 0, sum = 0, sq = 0;
            for (int i = 0; i < returns.Length; i++) if (mask[i] != 0) { n++; sum += returns[i]; }
            if (n == 0) return;
            double mean = sum / n;
            for (int i = 0; i < returns.Length; i++) if (mask[i] != 0) sq += (returns[i] - mean) * (returns[i] - mean);
            double variance = Math.Max(sq / n, 1e-4);
            if (!Initialised) { Mean = mean; Variance = variance; Initialised = true; return; }
            Mean = Decay * Mean + (1 - Decay) * mean;
            Variance = Decay * Variance + (1 - Decay) * variance;
        }
    }
}
