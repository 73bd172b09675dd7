using MetaRl.Baselines;
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
}
