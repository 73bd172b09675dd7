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
    /// <summary>Gradient steps run inside one no-GC stretch (see <see cref="IterationGuard"/>): a few thousand steps allocate more than one region holds.</summary>
    const int StepsPerGuard = 50;

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
            for (int end = Math.Min(collection.GradientSteps, done + StepsPerGuard); done < end; done++)
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
