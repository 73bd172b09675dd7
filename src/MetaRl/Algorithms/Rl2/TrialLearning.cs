using MetaRl.Baselines;
using TorchSharp.Modules;
using MetaRl.Algorithms.SingleTask;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.Rl2;

/// <summary>What RL2 and the in-context learner share around their agents: advantages over whole trials, the task-inference targets, and adaptation as "keep running".</summary>
public static class TrialLearning
{
    /// <summary>
    /// GAE over each trial (the trial, not the episode, is the unit of discounting) from the value head's outputs, which
    /// are PopArt-normalised: returns the advantages (normalised) and the normalised value targets, and rescales the
    /// head "value.0.*" in <paramref name="valueHead"/> to the updated statistics.
    /// </summary>
    public static (Tensor Advantages, Tensor Returns) Targets(TrialBatch batch, Tensor values, PopArt scale, ParameterSet valueHead, CommonConfig common, bool meanRewards)
    {
        var v = scale.Denormalize(values).data<float>().ToArray();
        var rewards = meanRewards ? batch.MeanRewards : batch.Rewards;
        var adv = Advantages.Gae(rewards, batch.Mask, batch.Length, batch.Trials, v, common.Gamma, common.GaeLambda);
        var returns = new float[adv.Length];
        for (int i = 0; i < adv.Length; i++) returns[i] = adv[i] + v[i];
        scale.Update(returns, batch.Mask, valueHead);
        Advantages.Normalize(adv, batch.Mask);
        return (tensor(adv, [batch.Length, batch.Trials]), scale.Normalize(tensor(returns, [batch.Length, batch.Trials])));
    }

    /// <summary>Trials per batch: a batch size in steps over the steps of a full trial, rounded up (at least one).</summary>
    public static int TrialsPerBatch(int batchSize, int episodesPerTrial, int maxEpisodeSteps) =>
        Math.Max(1, (int)Math.Ceiling(batchSize / (double)(episodesPerTrial * maxEpisodeSteps)));

    /// <summary>The tasks' standardised parameters [1, B, D], the task-inference head's targets at every step; null without descriptors.</summary>
    public static Tensor? Descriptors(ITaskDescriptors? descriptors, IReadOnlyList<object> tasks)
    {
        if (descriptors is null) return null;
        int d = descriptors.DescriptorSize;
        var data = new float[tasks.Count * d];
        for (int b = 0; b < tasks.Count; b++) descriptors.Describe(tasks[b], data.AsSpan(b * d, d));
        return tensor(data, [1, tasks.Count, d]);
    }

    /// <summary>The iteration's numbers: the mean trial return, the first and last episodes' returns, the episodes' success rate.</summary>
    public static LearnerIteration Iteration(TrialBatch batch, Dictionary<string, double> stats)
    {
        stats["first_episode_return"] = batch.MeanEpisodeReturn(0);
        stats["last_episode_return"] = batch.MeanEpisodeReturn(batch.EpisodesPerTrial - 1);
        double success = 0;
        foreach (var s in batch.EpisodeSuccess) success += s ? 1 : 0;
        return new LearnerIteration(batch.TrialReturns().Average(), success / batch.EpisodeSuccess.Length, batch.Steps, stats);
    }

    /// <summary>
    /// An agent that learns in context adapts without gradients: each task gets one trial of budget + 1 episodes, and
    /// "after j steps" is the return of episode j (episode 0 is before adapting: the agent knows nothing of the task yet).
    /// </summary>
    public static AdaptationResult AdaptTo(ITrialAgent agent, ITaskDistribution distribution, IReadOnlyList<object> tasks, int budget, Rng rng)
    {
        using var scope = NewDisposeScope();
        using var sampler = new TrialSampler(distribution);
        var batch = sampler.Sample(agent, tasks, budget + 1, rng);
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
    /// Runs trials of a trained agent on the given tasks (no learning), sampling its actions as in training or taking the
    /// most likely ones. Runs in a no-GC region, as training iterations do: TorchSharp does not keep its implicit
    /// Scalars alive through a native call (see <see cref="NativeCallGuard"/>).
    /// </summary>
    public static TrialBatch RunTrials(ITrialAgent agent, ITaskDistribution distribution, IReadOnlyList<object> tasks, int episodesPerTrial, Rng rng,
        Action<int, int, int, float, float>? onStep = null, bool mostLikely = false)
    {
        using var guard = NativeCallGuard.Enter();
        using var scope = NewDisposeScope();
        using var sampler = new TrialSampler(distribution);
        return sampler.Sample(agent, tasks, episodesPerTrial, rng, deterministic: mostLikely, onStep: onStep);
    }

    /// <summary>
    /// Refuses, naming the key, what a trial agent's learner cannot use: the MLP policies' hidden-sizes and nonlinearity
    /// (<paramref name="sizes"/> and <paramref name="activation"/> say what the agent has instead), a task-inference
    /// loss on a family that does not describe its tasks, a pull towards uniform on continuous actions.
    /// </summary>
    public static void CheckKeys(string sizes, string activation, ITaskDistribution tasks, CommonConfig common, double taskCoef, double uniformCoef)
    {
        // The MLP policies' common keys do not shape the agent; config.yaml lists them at their defaults.
        var defaults = new CommonConfig();
        if (!common.HiddenSizes.SequenceEqual(defaults.HiddenSizes))
            throw new ConfigException("hidden-sizes", $"hidden-sizes sizes the MLP policies; {sizes}");
        if (common.Nonlinearity != defaults.Nonlinearity)
            throw new ConfigException("nonlinearity", $"nonlinearity is the MLP policies' activation; {activation}");
        if (taskCoef > 0 && tasks is not ITaskDescriptors)
            throw new ConfigException("task-coef", $"task-coef trains a head to predict the task's parameters; {tasks.Name} does not describe its tasks (bandit-k*, tabular-mdp do): leave task-coef at 0");
        if (uniformCoef > 0 && tasks.ActionSpace is not Discrete)
            throw new ConfigException("uniform-coef", $"uniform-coef pulls a categorical policy towards uniform; {tasks.Name} has continuous actions: leave uniform-coef at 0");
    }

    /// <summary>A trial learner's checkpoint: the agent's parameters, Adam's state, the return scale and the update count.</summary>
    public static void Save(BinaryWriter w, ParameterSet parameters, optim.Optimizer optimizer, PopArt scale, int iteration)
    {
        parameters.Save(w);
        ((OptimizerHelper)optimizer).save_state_dict(w);
        w.Write(scale.Mean); w.Write(scale.Variance); w.Write(scale.Initialised);
        w.Write(iteration);
    }

    /// <summary>Reads <see cref="Save"/>'s checkpoint into the learner's objects; returns the update count.</summary>
    public static int Load(BinaryReader r, ParameterSet parameters, optim.Optimizer optimizer, PopArt scale)
    {
        parameters.Load(r);
        ((OptimizerHelper)optimizer).load_state_dict(r);
        scale.Mean = r.ReadDouble(); scale.Variance = r.ReadDouble(); scale.Initialised = r.ReadBoolean();
        return r.ReadInt32();
    }
}
