using MetaRl.Baselines;
using MetaRl.Algorithms.Rl2;
using MetaRl.Algorithms.SingleTask;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.InContext;

/// <summary>
/// The in-context learner: RL2's recipe with a causal transformer for the GRU (in the spirit of Laskin et al. 2022's
/// algorithm distillation and the transformer agents of Melo 2022, trained here by RL as RL2 is). The foundation-model
/// parallel: a pretrained GPT-3 learns a new task from examples in its prompt without a gradient step; this agent
/// learns a new task from its own experience in its context. Each iteration, as RL2's:
///   1. draw one task per trial and run every trial for n episodes, the transformer attending to the trial so far;
///   2. advantages by GAE over the whole trial;
///   3. PPO over whole trials (<see cref="RecurrentPpo"/>), every step's loss through attention over its context.
/// Adapting to a new task takes no gradient: the agent keeps running, its context filling with the task's episodes.
/// </summary>
public sealed class InContextLearner : IMetaLearner
{
    readonly ITaskDistribution _tasks;
    readonly IclConfig _config;
    readonly CommonConfig _common;
    readonly Rng _rng;
    readonly TrialSampler _sampler;
    readonly optim.Optimizer _optimizer;
    readonly RecurrentPpo _ppo;
    readonly PopArt _scale = new();
    /// <summary>The family's descriptions of its tasks, for the task-inference loss; null with task-coef 0.</summary>
    readonly ITaskDescriptors? _descriptors;
    int _iteration;

    public InContextLearner(ITaskDistribution tasks, IclConfig config, CommonConfig common, Rng rng)
    {
        config.Check(tasks, common);
        _tasks = tasks; _config = config; _common = common; _rng = rng;
        _sampler = new TrialSampler(tasks);
        _descriptors = config.TaskCoef > 0 ? (ITaskDescriptors)tasks : null;
        Agent = new TransformerAgent(tasks.ObservationSpace.FlatSize, tasks.ActionSpace, config, tasks.MaxEpisodeSteps, rng.Split(), common.InitStd,
            taskDescriptorSize: _descriptors?.DescriptorSize ?? 0);
        _optimizer = optim.Adam(Agent.Parameters.AsParameters(), config.Lr);
        _ppo = new RecurrentPpo(Agent, config, _optimizer, rng);
    }

    public TransformerAgent Agent { get; }
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
        double lr = _config.AnnealLr ? Schedules.LinearDecay(_config.Lr, _iteration, 0, _common.NumBatches) : _config.Lr;
        foreach (var group in _optimizer.ParamGroups) group.LearningRate = lr;
        var stats = _ppo.Update(batch, TrialLearning.Descriptors(_descriptors, tasks),
            (b, values) => TrialLearning.Targets(b, values, _scale, Agent.Parameters, _common, _config.MeanRewards));
        _iteration++;
        return TrialLearning.Iteration(batch, stats);
    }

    /// <summary>Adapting is running: one trial of budget + 1 episodes per task (see <see cref="TrialLearning.AdaptTo"/>).</summary>
    public AdaptationResult AdaptTo(IReadOnlyList<object> tasks, int budget, Rng rng) => TrialLearning.AdaptTo(Agent, _tasks, tasks, budget, rng);

    /// <summary>Trials of the trained agent on the given tasks (no learning), sampled or with the most likely actions.</summary>
    public TrialBatch RunTrials(IReadOnlyList<object> tasks, int episodesPerTrial, Rng rng, Action<int, int, int, float, float>? onStep = null, bool mostLikely = false) =>
        TrialLearning.RunTrials(Agent, _tasks, tasks, episodesPerTrial, rng, onStep, mostLikely);

    public void SaveState(BinaryWriter w) => TrialLearning.Save(w, Agent.Parameters, _optimizer, _scale, _iteration);

    public void LoadState(BinaryReader r) => _iteration = TrialLearning.Load(r, Agent.Parameters, _optimizer, _scale);

    public void Dispose() => _sampler.Dispose();
}
