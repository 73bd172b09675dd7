
namespace MetaRl.Algorithms;

/// <summary>What one training iteration produced: the return of the episodes it learned from (for a meta-learner, after adaptation) and named statistics.</summary>
public sealed record LearnerIteration(double MeanReturn, double SuccessRate, int EnvSteps, IReadOnlyDictionary<string, double> Stats);

/// <summary>Anything the training loop can run: collect data, update, and save or restore its whole state.</summary>
public interface ILearner : IDisposable
{
    /// <summary>The learned parameters (checked for NaN after every iteration).</summary>
    ParameterSet Parameters { get; }
    LearnerIteration Iterate();
    /// <summary>Everything a resumed run needs (parameters, optimizer moments, critics); the run's generator is saved by the run.</summary>
    void SaveState(BinaryWriter w);
    void LoadState(BinaryReader r);

    /// <summary>Frees the envs of the learner's samplers (native ones hold memory outside the managed heap).</summary>
    void IDisposable.Dispose() { }
}

/// <summary>A learner of one task of its family (VPG, PPO, TRPO, SAC): evaluated on that task and on the splits.</summary>
public interface ISingleTaskLearner : ILearner
{
    object Task { get; }
}

/// <summary>
/// Returns (and success rates) on each task after 0, 1, ..., budget adaptation steps: [step][task]. Every family
/// counts its experience in episodes of the task, so curves share one axis: measurement j follows
/// j * <paramref name="EpisodesPerStep"/> episodes (a MAML gradient step on 20 episodes is 20, an RL2 episode 1).
/// </summary>
public sealed record AdaptationResult(double[][] Returns, double[][] SuccessRates, int EpisodesPerStep)
{
    public int Steps => Returns.Length - 1;
}

/// <summary>
/// The meta-learner contract shared by every family: meta-train by iterations, and adapt to new tasks
/// with a budget. What one adaptation step means is the family's: a gradient step on fresh episodes
/// (MAML, Reptile), one more episode in the recurrent state (RL2), one more posterior update (PEARL).
/// </summary>
public interface IMetaLearner : ILearner
{
    /// <summary>Adapts to every task (in one batch) and records the return before adapting and after each step.</summary>
    AdaptationResult AdaptTo(IReadOnlyList<object> tasks, int budget, Rng rng);
}
