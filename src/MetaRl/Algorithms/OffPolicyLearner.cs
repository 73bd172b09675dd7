namespace MetaRl.Algorithms;

/// <summary>What an off-policy learner's collection gave: the undiscounted returns and success of the episodes it ran, and its env steps.</summary>
public sealed record Collection(double MeanReturn, double SuccessRate, int EnvSteps, int GradientSteps)
{
    /// <summary>Statistics of the collection itself (the same keys every iteration: they are progress.csv's columns).</summary>
    public IReadOnlyDictionary<string, double> Stats { get; init; } = new Dictionary<string, double>();
}

/// <summary>
/// The off-policy shape of an iteration (SAC, PEARL, MT-SAC): collect experience into replay buffers, then take
/// many gradient steps on minibatches drawn from everything stored so far: Stable-Baselines3's
/// collect_rollouts / train split, and the two inner loops of SAC's Algorithm 1. An on-policy learner instead
/// updates once from the batch it has just collected (<see cref="SingleTask.PolicyOptimizer"/>).
/// Collection is by whole episodes, so no episode is cut by an iteration's end and a checkpoint between two
/// iterations holds the whole training state (the replay buffers included): resume is exact.
/// </summary>
public abstract class OffPolicyLearner : ILearner
{
    /// <summary>
    /// Managed bytes one no-GC stretch of gradient steps may allocate (see <see cref="IterationGuard"/>): a quarter of the
    /// region's budget, so the step that crosses it still fits. A fixed count of steps did not: 50 MT-SAC steps on
    /// locomotion-10 ([10 tasks, 256] minibatches of 125 floats) came near the budget, the region ended mid-stretch, and
    /// a collection freed a Scalar during a native call (the process died in its second iteration).
    /// </summary>
    internal const long BytesPerGuard = NativeCallGuard.Budget / 4;

    public abstract ParameterSet Parameters { get; }

    /// <summary>Gradient steps taken over the run.</summary>
    public long GradientStepsTaken { get; protected set; }

    /// <summary>Runs this iteration's episodes and stores their transitions; says how many gradient steps should follow.</summary>
    protected abstract Collection Collect();

    /// <summary>One gradient step on minibatches from the replay buffers; named statistics of the step (losses, temperature, ...).</summary>
    protected abstract IReadOnlyDictionary<string, double> GradientStep();

    /// <summary>One gradient step outside an iteration (what `metarl bench pearl` times); the buffers must hold data.</summary>
    internal IReadOnlyDictionary<string, double> TakeGradientStep()
    {
        using var guard = IterationGuard.Enter();
        return GradientStep();
    }

    public LearnerIteration Iterate()
    {
        Collection collection;
        using (IterationGuard.Enter()) collection = Collect();

        // Statistics are averaged over the iteration's gradient steps.
        var sums = new Dictionary<string, double>();
        for (int done = 0; done < collection.GradientSteps;)
        {
            using var guard = IterationGuard.Enter();
            long start = NativeCallGuard.Allocated();
            for (; done < collection.GradientSteps && NativeCallGuard.AllocatedSince(start) < BytesPerGuard; done++)
            {
                foreach (var (key, value) in GradientStep()) sums[key] = sums.GetValueOrDefault(key) + value;
                GradientStepsTaken++;
            }
        }
        var stats = sums.ToDictionary(kv => kv.Key, kv => kv.Value / collection.GradientSteps);
        stats["gradient_steps"] = collection.GradientSteps;
        foreach (var (key, value) in collection.Stats) stats[key] = value;
        return new LearnerIteration(collection.MeanReturn, collection.SuccessRate, collection.EnvSteps, stats);
    }

    public void SaveState(BinaryWriter w)
    {
        w.Write(GradientStepsTaken);
        Save(w);
    }

    public void LoadState(BinaryReader r)
    {
        GradientStepsTaken = r.ReadInt64();
        Load(r);
    }

    /// <summary>Everything else a resumed run needs: networks, targets, optimizer moments, replay buffers.</summary>
    protected abstract void Save(BinaryWriter w);
    protected abstract void Load(BinaryReader r);

    public virtual void Dispose() { }
}
