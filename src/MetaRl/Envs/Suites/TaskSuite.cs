using MetaRl.Envs.Navigation;

namespace MetaRl.Envs.Suites;

/// <summary>
/// One task of a multi-task suite: its name (what progress.csv and reports call it), the task of the suite's family,
/// and its imbalance: rewards multiplied by <paramref name="RewardScale"/>, and <paramref name="DataShare"/> times the
/// episodes of the others when collection follows the data (task-sampling: proportional).
/// </summary>
public sealed record SuiteTask(string Name, object Task, double RewardScale = 1, double DataShare = 1)
{
    public override string ToString() => Name;
}

/// <summary>
/// A fixed set of tasks trained together, which are also the test tasks (multi-task RL): a task family whose
/// training and test splits are the suite's tasks. Every task shares the family's observation and action spaces;
/// a policy tells them apart by the task's identity (one-hot, a learned embedding or its own head), never by the
/// observation. A suite has no out-of-distribution split: a task it was not trained on has no identity to give.
/// </summary>
public sealed class TaskSuite : ITaskDistribution
{
    readonly ITaskDistribution _family;

    public TaskSuite(string name, string description, ITaskDistribution family, IReadOnlyList<SuiteTask> tasks)
    {
        if (tasks.Count < 2) throw new ArgumentException("a suite needs at least two tasks", nameof(tasks));
        if (tasks.Select(t => t.Name).Distinct().Count() != tasks.Count) throw new ArgumentException("task names of a suite must be distinct", nameof(tasks));
        foreach (var t in tasks)
            if (!(t.RewardScale > 0) || !double.IsFinite(t.RewardScale) || !(t.DataShare > 0) || !double.IsFinite(t.DataShare))
                throw new ArgumentException($"task {t.Name}: reward scale and data share must be positive and finite", nameof(tasks));
        Name = name; Description = description; _family = family; Tasks = tasks;
    }

    public string Name { get; }
    public string Description { get; }
    /// <summary>The family the tasks come from (their envs are its envs).</summary>
    public ITaskDistribution Family => _family;
    public IReadOnlyList<SuiteTask> Tasks { get; }
    public int TaskCount => Tasks.Count;
    public Space ObservationSpace => _family.ObservationSpace;
    public Space ActionSpace => _family.ActionSpace;
    public int MaxEpisodeSteps => _family.MaxEpisodeSteps;

    /// <summary>The suite's tasks in order, cycled to n.</summary>
    public IReadOnlyList<object> SampleTasks(int n, Rng rng) => Enumerable.Range(0, n).Select(i => (object)Tasks[i % Tasks.Count]).ToList();

    public TaskSplits<object> Splits() => new(Tasks.Cast<object>().ToList(), Tasks.Cast<object>().ToList(), []);

    public IEnv CreateEnv(object task, Rng rng)
    {
        var t = AsSuiteTask(task);
        return new SuiteEnv(_family.CreateEnv(t.Task, rng), t);
    }

    /// <summary>One env per task: the family's own vector env (MuJoCo's steps its envs in parallel), with each task's reward scale.</summary>
    public IVectorEnv CreateVectorEnv(IReadOnlyList<object> tasks)
    {
        var suiteTasks = tasks.Select(AsSuiteTask).ToArray();
        return new SuiteVectorEnv(_family.CreateVectorEnv(suiteTasks.Select(t => t.Task).ToList()), suiteTasks, this);
    }

    public void SetTask(IEnv env, object task)
    {
        if (env is not SuiteEnv suiteEnv) throw new ArgumentException($"{Name} cannot set the task of a {env.GetType().Name}", nameof(env));
        var t = AsSuiteTask(task);
        _family.SetTask(suiteEnv.Inner, t.Task);
        suiteEnv.Task = t;
    }

    SuiteTask AsSuiteTask(object task) => task as SuiteTask ?? throw new ArgumentException($"{Name} takes its own tasks (SuiteTask), not {task?.GetType().Name ?? "null"}", nameof(task));

    /// <summary>The family's vector env over the suite tasks' own tasks, rewards times each task's scale.</summary>
    sealed class SuiteVectorEnv(IVectorEnv inner, SuiteTask[] tasks, TaskSuite suite) : IVectorEnv
    {
        public int NumEnvs => inner.NumEnvs;
        public int ObservationSize => inner.ObservationSize;
        public int ActionSize => inner.ActionSize;
        public Space ObservationSpace => inner.ObservationSpace;
        public Space ActionSpace => inner.ActionSpace;
        public ReadOnlySpan<float> Observations => inner.Observations;
        public bool IsDone(int i) => inner.IsDone(i);
        public ReadOnlySpan<bool> LastSuccess => inner.LastSuccess;
        public IEnv this[int i] => inner[i];

        public void SetTask(int i, object task)
        {
            tasks[i] = suite.AsSuiteTask(task);
            inner.SetTask(i, tasks[i].Task);
        }

        public void Reset(int? seed = null) => inner.Reset(seed);
        public void ResetEnv(int i, int? seed = null) => inner.ResetEnv(i, seed);

        public void Step(ReadOnlySpan<float> actions, Span<float> rewards, Span<bool> terminated, Span<bool> truncated)
        {
            inner.Step(actions, rewards, terminated, truncated);
            for (int i = 0; i < tasks.Length; i++) rewards[i] = (float)(rewards[i] * tasks[i].RewardScale);
        }

        public void Dispose() => inner.Dispose();
    }

    /// <summary>The family's env with the suite task's reward scale.</summary>
    sealed class SuiteEnv(IEnv inner, SuiteTask task) : IEnv
    {
        public IEnv Inner => inner;
        public SuiteTask Task { get; set; } = task;
        public Space ObservationSpace => inner.ObservationSpace;
        public Space ActionSpace => inner.ActionSpace;
        public int MaxEpisodeSteps => inner.MaxEpisodeSteps;
        public void Reset(int? seed, Span<float> observation) => inner.Reset(seed, observation);

        public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
        {
            var r = inner.Step(action, observation);
            return r with { Reward = (float)(r.Reward * Task.RewardScale) };
        }

        public void Dispose() => inner.Dispose();
    }
}

/// <summary>The built-in suites (`metarl list suites`), registered as envs under their names so runs resume and evaluate by name.</summary>
public static class SuiteRegistry
{
    static readonly Dictionary<string, Func<TaskSuite>> BuiltInFactories = new(StringComparer.Ordinal)
    {
        ["point-goals"] = PointSuites.Goals,
        ["point-conflict"] = PointSuites.Conflict,
        ["point-imbalanced"] = PointSuites.Imbalanced,
        ["point-ten"] = PointSuites.Ten,
        ["cheetah-locomotion"] = LocomotionSuites.Cheetah,
    };

    static readonly Dictionary<string, Func<TaskSuite>> Factories = new(BuiltInFactories, StringComparer.Ordinal);

    public static IReadOnlyList<string> Names => Factories.Keys.ToList();
    public static bool Contains(string name) => Factories.ContainsKey(name);

    public static TaskSuite Create(string name) => Factories.TryGetValue(name, out var make)
        ? make()
        : throw new UsageException($"unknown suite '{name}'; valid suites: {string.Join(", ", Names)}");

    /// <summary>Adds a suite of the user's own (also registered as an env of that name, so its runs resume and evaluate by name).</summary>
    public static void Register(string name, Func<TaskSuite> factory)
    {
        EnvRegistry.Register(name, factory); // refuses a name any env or suite has
        Factories.Add(name, factory);
    }

    /// <summary>The suites that come with the library (the env registry lists them as envs too).</summary>
    internal static IEnumerable<KeyValuePair<string, Func<TaskSuite>>> BuiltIn => BuiltInFactories;
}
