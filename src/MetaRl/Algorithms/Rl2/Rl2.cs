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
            Agent.Workspace = _workspace;
            _ppo = new RecurrentPpo(Agent, config, _optimizer, rng);
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
    public int TrialsPerBatch => TrialLearning.TrialsPerBatch(_config.BatchSize, _config.EpisodesPerTrial, _tasks.MaxEpisodeSteps);

    public LearnerIteration Iterate()
    {
        using var guard = IterationGuard.Enter();
        using var scope = NewDisposeScope();
        var tasks = _tasks.SampleTasks(TrialsPerBatch, _rng);
        var batch = _sampler.Sample(Agent, tasks, _config.EpisodesPerTrial, _rng, meanRewards: _config.MeanRewards);
        if (_ppo is not null)
            foreach (var group in _optimizer.ParamGroups) group.LearningRate = LearningRate(_iteration);
        var stats = _ppo is not null ? _ppo.Update(batch, TrialLearning.Descriptors(_descriptors, tasks), Targets) : _trpoUpdate!.Update(batch, Targets);
        _iteration++;
        return TrialLearning.Iteration(batch, stats);
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

    (Tensor Advantages, Tensor Returns) Targets(TrialBatch batch, Tensor values) =>
        TrialLearning.Targets(batch, values, _scale, Agent.Value, _common, _config.MeanRewards);

    /// <summary>RL2 adapts without gradients: one trial of budget + 1 episodes per task (see <see cref="TrialLearning.AdaptTo"/>).</summary>
    public AdaptationResult AdaptTo(IReadOnlyList<object> tasks, int budget, Rng rng) => TrialLearning.AdaptTo(Agent, _tasks, tasks, budget, rng);

    /// <summary>
    /// Runs trials of the trained agent on the given tasks (no learning): the evaluation of RL2's tables. The
    /// agent samples its actions as in training; <paramref name="mostLikely"/> takes the most likely action instead.
    /// </summary>
    public TrialBatch RunTrials(IReadOnlyList<object> tasks, int episodesPerTrial, Rng rng, Action<int, int, int, float, float>? onStep = null, bool mostLikely = false) =>
        TrialLearning.RunTrials(Agent, _tasks, tasks, episodesPerTrial, rng, onStep, mostLikely);

    public void SaveState(BinaryWriter w) => TrialLearning.Save(w, Agent.Parameters, _optimizer, _scale, _iteration);

    public void LoadState(BinaryReader r) => _iteration = TrialLearning.Load(r, Agent.Parameters, _optimizer, _scale);

    public void Dispose() => _sampler.Dispose();
}
