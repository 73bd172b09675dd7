namespace MetaRl.Envs.Suites;

/// <summary>
/// One task of a multi-task suite: its name (what progress.csv and reports call it), the task of the suite's family
/// (or of <paramref name="Family"/>, another body's), and its imbalance: rewards multiplied by
/// <paramref name="RewardScale"/>, and <paramref name="DataShare"/> times the episodes of the others when collection
/// follows the data (task-sampling: proportional).
/// </summary>
public sealed record SuiteTask(string Name, object Task, double RewardScale = 1, double DataShare = 1, ITaskDistribution? Family = null)
{
    public override string ToString() => Name;
}

/// <summary>
/// A fixed set of tasks trained together, which are also the test tasks (multi-task RL): a task family whose
/// training and test splits are the suite's tasks. A policy tells the tasks apart by their identity (one-hot, a
/// learned embedding or its own head), never by the observation. Tasks of one family share its spaces; where tasks
/// come from several families (bodies), observations are padded with zeros to the longest and actions have the most
/// dimensions any body has (each body reads its own first ones; bounds are the widest any body has on a dimension).
/// A suite has no out-of-distribution split: a task it was not trained on has no identity to give.
/// </summary>
public sealed class TaskSuite : ITaskDistribution
{
    readonly ITaskDistribution _family;
    readonly bool _oneFamily;

    public TaskSuite(string name, string description, ITaskDistribution family, IReadOnlyList<SuiteTask> tasks)
    {
        if (tasks.Count < 2) throw new ArgumentException("a suite needs at least two tasks", nameof(tasks));
        if (tasks.Select(t => t.Name).Distinct().Count() != tasks.Count) throw new ArgumentException("task names of a suite must be distinct", nameof(tasks));
        foreach (var t in tasks)
            if (!(t.RewardScale > 0) || !double.IsFinite(t.RewardScale) || !(t.DataShare > 0) || !double.IsFinite(t.DataShare))
                throw new ArgumentException($"task {t.Name}: reward scale and data share must be positive and finite", nameof(tasks));
        Name = name; Description = description; _family = family; Tasks = tasks;
        var families = tasks.Select(FamilyOf).Distinct().ToList();
        _oneFamily = families.Count == 1;
        if (_oneFamily)
        {
            ObservationSpace = family.ObservationSpace; ActionSpace = family.ActionSpace; MaxEpisodeSteps = family.MaxEpisodeSteps;
            return;
        }
        if (families.Any(f => f.ObservationSpace is not Box || f.ActionSpace is not Box))
            throw new ArgumentException("a suite of several families needs box observations and actions in all of them", nameof(tasks));
        int obs = families.Max(f => f.ObservationSpace.FlatSize), act = families.Max(f => ((Box)f.ActionSpace).Dim);
        ObservationSpace = Box.Uniform(obs, float.NegativeInfinity, float.PositiveInfinity);
        var boxes = families.Select(f => (Box)f.ActionSpace).ToList();
        ActionSpace = new Box(Enumerable.Range(0, act).Select(i => boxes.Where(b => b.Dim > i).Min(b => b.Low[i])).ToArray(),
            Enumerable.Range(0, act).Select(i => boxes.Where(b => b.Dim > i).Max(b => b.High[i])).ToArray());
        MaxEpisodeSteps = families.Max(f => f.MaxEpisodeSteps);
    }

    public string Name { get; }
    public string Description { get; }
    /// <summary>The family the tasks come from, unless a task names its own.</summary>
    public ITaskDistribution Family => _family;
    public IReadOnlyList<SuiteTask> Tasks { get; }
    public int TaskCount => Tasks.Count;
    public Space ObservationSpace { get; }
    public Space ActionSpace { get; }
    public int MaxEpisodeSteps { get; }

    ITaskDistribution FamilyOf(SuiteTask t) => t.Family ?? _family;

    /// <summary>The suite's tasks in order, cycled to n.</summary>
    public IReadOnlyList<object> SampleTasks(int n, Rng rng) => Enumerable.Range(0, n).Select(i => (object)Tasks[i % Tasks.Count]).ToList();

    public TaskSplits<object> Splits() => new(Tasks.Cast<object>().ToList(), Tasks.Cast<object>().ToList(), []);

    public IEnv CreateEnv(object task, Rng rng)
    {
        var t = AsSuiteTask(task);
        return new SuiteEnv(FamilyOf(t), FamilyOf(t).CreateEnv(t.Task, rng), t, this);
    }

    /// <summary>
    /// One env per task: with one family, the family's own vector env (MuJoCo's steps its envs in parallel) with each
    /// task's reward scale; with several, the suite's padded envs one after the other.
    /// </summary>
    public IVectorEnv CreateVectorEnv(IReadOnlyList<object> tasks)
    {
        if (!_oneFamily) return new VectorEnv(this, tasks);
        var suiteTasks = tasks.Select(AsSuiteTask).ToArray();
        return new SuiteVectorEnv(_family.CreateVectorEnv(suiteTasks.Select(t => t.Task).ToList()), suiteTasks, this);
    }

    public void SetTask(IEnv env, object task)
    {
        if (env is not SuiteEnv suiteEnv) throw new ArgumentException($"{Name} cannot set the task of a {env.GetType().Name}", nameof(env));
        suiteEnv.Switch(AsSuiteTask(task));
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

    /// <summary>
    /// A family's env with the suite task's reward scale and, in a suite of several bodies, the suite's spaces: the
    /// observation padded with zeros, the action's first dimensions passed on. Switching to a task of another family
    /// makes that family's env.
    /// </summary>
    sealed class SuiteEnv(ITaskDistribution family, IEnv inner, SuiteTask task, TaskSuite suite) : IEnv
    {
        float[] _observation = new float[inner.ObservationSpace.FlatSize];

        public IEnv Inner => inner;
        public SuiteTask Task { get; private set; } = task;
        public Space ObservationSpace => suite.ObservationSpace;
        public Space ActionSpace => suite.ActionSpace;
        public int MaxEpisodeSteps => inner.MaxEpisodeSteps;

        public void Switch(SuiteTask next)
        {
            var nextFamily = suite.FamilyOf(next);
            if (ReferenceEquals(nextFamily, family)) family.SetTask(inner, next.Task);
            else
            {
                inner.Dispose();
                (family, inner) = (nextFamily, nextFamily.CreateEnv(next.Task, new Rng(0))); // collectors reseed every episode
                _observation = new float[inner.ObservationSpace.FlatSize];
            }
            Task = next;
        }

        public void Reset(int? seed, Span<float> observation)
        {
            inner.Reset(seed, _observation);
            Pad(observation);
        }

        public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
        {
            int dims = inner.ActionSpace is Discrete ? 1 : inner.ActionSpace.FlatSize;
            var r = inner.Step(action[..dims], _observation);
            Pad(observation);
            return r with { Reward = (float)(r.Reward * Task.RewardScale) };
        }

        void Pad(Span<float> observation)
        {
            _observation.CopyTo(observation);
            observation[_observation.Length..].Clear();
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
        ["locomotion-10"] = LocomotionSuites.Ten,
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
