
namespace MetaRl.Envs;

/// <summary>The fixed task sets every method is evaluated on: meta-training tasks, held-out test tasks from the same distribution, and out-of-distribution tasks.</summary>
public sealed record TaskSplits<TTask>(IReadOnlyList<TTask> Train, IReadOnlyList<TTask> Test, IReadOnlyList<TTask> OutOfDistribution);

/// <summary>A family of tasks: how to draw them and how to make an env for one. Tasks are small records.</summary>
public interface ITaskDistribution
{
    /// <summary>The registry name (e.g. "2d-navigation").</summary>
    string Name { get; }
    string Description { get; }
    Space ObservationSpace { get; }
    Space ActionSpace { get; }
    int MaxEpisodeSteps { get; }
    /// <summary>Draws n tasks from the training distribution.</summary>
    IReadOnlyList<object> SampleTasks(int n, Rng rng);
    /// <summary>Makes an env set to the given task (an object of this family's task type), with its own generator.</summary>
    IEnv CreateEnv(object task, Rng rng);
    /// <summary>The default train / test / out-of-distribution task sets (fixed seeds), untyped.</summary>
    TaskSplits<object> Splits();
    /// <summary>Switches an env made by this distribution to another task.</summary>
    void SetTask(IEnv env, object task);
    /// <summary>
    /// One env per task, stepped together. The default steps managed envs one after the other on the calling thread;
    /// a family whose envs do real work (MuJoCo) returns one that steps them in parallel.
    /// </summary>
    IVectorEnv CreateVectorEnv(IReadOnlyList<object> tasks) => new VectorEnv(this, tasks);
}

/// <summary>
/// A task family whose tasks can be written as a vector of (some of) their parameters, each standardised by
/// the training prior's mean and standard deviation (so that the prior's mean scores a squared error of 1 per
/// component). Meta-training may read it; an agent never does at test time (RL2's task-inference loss).
/// </summary>
public interface ITaskDescriptors
{
    int DescriptorSize { get; }
    /// <summary>Writes the standardised parameters of <paramref name="task"/> into <paramref name="descriptor"/> (DescriptorSize floats).</summary>
    void Describe(object task, Span<float> descriptor);
}

/// <summary>The typed view of a task family.</summary>
public interface ITaskDistribution<TTask> : ITaskDistribution where TTask : notnull
{
    IReadOnlyList<TTask> Sample(int n, Rng rng);
    /// <summary>Draws n tasks from outside the training distribution.</summary>
    IReadOnlyList<TTask> SampleOutOfDistribution(int n, Rng rng);
    ITaskEnv<TTask> CreateEnv(TTask task, Rng rng);
}

/// <summary>Shared plumbing: default splits drawn with fixed seeds, and the untyped members.</summary>
public abstract class TaskDistribution<TTask> : ITaskDistribution<TTask> where TTask : notnull
{
    public abstract string Name { get; }
    public abstract string Description { get; }
    public abstract Space ObservationSpace { get; }
    public abstract Space ActionSpace { get; }
    public abstract int MaxEpisodeSteps { get; }
    public abstract IReadOnlyList<TTask> Sample(int n, Rng rng);
    public abstract IReadOnlyList<TTask> SampleOutOfDistribution(int n, Rng rng);
    public abstract ITaskEnv<TTask> CreateEnv(TTask task, Rng rng);

    /// <summary>Train, test and OOD sets drawn with fixed seeds, so every run and every method sees the same ones.</summary>
    public virtual TaskSplits<TTask> DefaultSplits(int trainCount = 100, int testCount = 40, int oodCount = 40) =>
        new(Sample(trainCount, new Rng(Seeds.TrainSplit)), Sample(testCount, new Rng(Seeds.TestSplit)), SampleOutOfDistribution(oodCount, new Rng(Seeds.OodSplit)));

    public TaskSplits<object> Splits()
    {
        var s = DefaultSplits();
        return new(s.Train.Cast<object>().ToList(), s.Test.Cast<object>().ToList(), s.OutOfDistribution.Cast<object>().ToList());
    }

    public IReadOnlyList<object> SampleTasks(int n, Rng rng) => Sample(n, rng).Cast<object>().ToList();

    /// <inheritdoc cref="ITaskDistribution.CreateVectorEnv"/>
    public virtual IVectorEnv CreateVectorEnv(IReadOnlyList<object> tasks) => new VectorEnv(this, tasks);

    public IEnv CreateEnv(object task, Rng rng) => task is TTask t
        ? CreateEnv(t, rng)
        : throw new ArgumentException($"{Name} takes tasks of type {typeof(TTask).Name}, not {task?.GetType().Name ?? "null"}", nameof(task));

    public void SetTask(IEnv env, object task)
    {
        if (env is not ITaskEnv<TTask> taskEnv) throw new ArgumentException($"{Name} cannot set the task of a {env.GetType().Name}", nameof(env));
        taskEnv.Task = task is TTask t ? t : throw new ArgumentException($"{Name} takes tasks of type {typeof(TTask).Name}, not {task?.GetType().Name ?? "null"}", nameof(task));
    }

    protected static void CheckCount(int n)
    {
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, "the number of tasks must be >= 0");
    }
}
