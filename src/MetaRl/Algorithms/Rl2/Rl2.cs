using MetaRl.Baselines;
using MetaRl.Algorithms.SingleTask;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.Rl2;

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
    readonly CommonConfig _common;
    readonly Rng _rng;
    readonly TrialSampler _sampler;
    readonly optim.Optimizer _optimizer;
    readonly PopArt _scale = new();
    /// <summary>The fused layer-norm GRUs' buffers, reused by every pass of every update (see <see cref="FusedLayerNormGru.Workspace"/>); null with fused-gru off.</summary>
    readonly FusedLayerNormGru.Workspace? _workspace;
    /// <summary>The task family's descriptions of its tasks, for the task-inference loss; null with task-coef 0.</summary>
    readonly ITaskDescriptors? _descriptors;
    /// <summary>The outer update over whole trials: one of the two.</summary>
    readonly RecurrentPpo? _ppo;
    readonly RecurrentTrpo? _trpoUpdate;
    int _iteration;

    public Rl2(TrialSampler sampler, Rl2Config config, TrpoConfig trpo, CommonConfig common, Rng rng)
    {
        var tasks = sampler.Distribution;
        _tasks = tasks; _sampler = sampler; _config = config; _common = common; _rng = rng;
        _workspace = config.FusedGru ? new FusedLayerNormGru.Workspace() : null;
        config.Check(tasks, common);
        _descriptors = config.TaskCoef > 0 ? (ITaskDescriptors)tasks : null;
        Agent = new Rl2Agent(tasks.ObservationSpace.FlatSize, tasks.ActionSpace, config.HiddenSize, rng.Split(), config.ValueNetwork == Rl2ValueNetwork.Separate, config.GruCell, common.InitStd,
            taskDescriptorSize: _descriptors?.DescriptorSize ?? 0);
        // PPO trains everything jointly; TRPO steps the policy in its trust region and fits the value head apart.
        if (config.Optimizer == Rl2Optimizer.Ppo)
        {
            _optimizer = optim.Adam(Agent.Parameters.AsParameters(), config.Lr);
            _ppo = new RecurrentPpo(Agent, config, _optimizer, _workspace, rng);
        }
        else
        {
            _optimizer = optim.Adam(Agent.Value.AsParameters(), config.VfLr);
            _trpoUpdate = new RecurrentTrpo(Agent, config, trpo, _optimizer);
        }
    }

    public Rl2Agent Agent { get; }
    public ParameterSet Parameters => Agent.Parameters;
    public int EpisodesPerTrial => _config.EpisodesPerTrial;

    /// <summary>Trials per batch: the batch size in steps over the steps of a full trial, rounded up.</summary>
    public int TrialsPerBatch => Math.Max(1, (int)Math.Ceiling(_config.BatchSize / (double)(_config.EpisodesPerTrial * _tasks.MaxEpisodeSteps)));

    public LearnerIteration Iterate()
    {
        using var guard = IterationGuard.Enter();
        using var scope = NewDisposeScope();
        var tasks = _tasks.SampleTasks(TrialsPerBatch, _rng);
        var batch = _sampler.Sample(Agent, tasks, _config.EpisodesPerTrial, _rng, meanRewards: _config.MeanRewards);
        if (_ppo is not null)
            foreach (var group in _optimizer.ParamGroups) group.LearningRate = LearningRate(_iteration);
        var stats = _ppo is not null ? _ppo.Update(batch, Descriptors(tasks), Targets) : _trpoUpdate!.Update(batch, Targets);
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
        if (restart > 0 && iteration >= restart) return Schedules.LinearDecay(_config.RestartLr, iteration, restart, _common.NumBatches);
        return Schedules.LinearDecay(_config.Lr, iteration, _config.AnnealFrom, _config.FirstDecayEnd(_common.NumBatches));
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
    /// RL2 adapts without gradients: each task gets one trial of budget + 1 episodes, and "after j steps"
    /// is the return of episode j (episode 0 is before adapting: the agent knows nothing of the task yet).
    /// </summary>
    public AdaptationResult AdaptTo(IReadOnlyList<object> tasks, int budget, Rng rng)
    {
        using var scope = NewDisposeScope();
        using var sampler = new TrialSampler(_tasks);
        var batch = sampler.Sample(Agent, tasks, budget + 1, rng);
        var returns = new double[budget + 1][];
        var success = new double[budget + 1][];
        for (int j = 0; j <= budget; j++)
        {
            returns[j] = Enumerable.Range(0, tasks.Count).Select(b => batch.EpisodeReturns[b, j]).ToArray();
            success[j] = Enumerable.Range(0, tasks.Count).Select(b => batch.EpisodeSuccess[b, j] ? 1.0 : 0.0).ToArray();
        }
        return new AdaptationResult(returns, success, EpisodesPerStep: 1); // one episode of the task a step
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
        using var sampler = new TrialSampler(_tasks);
        return sampler.Sample(Agent, tasks, episodesPerTrial, rng, deterministic: mostLikely, onStep: onStep);
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

    public void Dispose() => _sampler.Dispose();
}
