namespace MetaRl.Envs.Suites;

/// <summary>What a task of the point suites asks: reach a goal, or move along a direction.</summary>
public abstract record PointTask;

/// <summary>Reach (X, Y) and stay: reward -distance after each move; success when the episode ends within <see cref="PointTaskEnv.GoalRadius"/> (passing through does not count).</summary>
public sealed record ReachGoal(float X, float Y) : PointTask;

/// <summary>Move along the unit vector (Dx, Dy): reward 10 x the step's displacement along it (at most 1 a step); success once <see cref="PointTaskEnv.DistanceForSuccess"/> along it.</summary>
public sealed record MoveAlong(float Dx, float Dy) : PointTask;

/// <summary>
/// A point that starts at the origin and moves by its action, clipped to [-0.1, 0.1] per axis, for 30 steps; it
/// observes its position only, so the task must come from elsewhere (a multi-task policy's task identity). Goals are
/// 1 away (about 10 steps at full speed) and must be held until the end; moving along a direction, 2 of the 3 units a
/// straight run covers count as success.
/// </summary>
public sealed class PointTaskEnv(PointTask task) : ITaskEnv<PointTask>, ITrackedEnv
{
    public const float MaxStep = 0.1f, GoalRadius = 0.1f, DistanceForSuccess = 2f;
    public const int Steps = 30;
    float _x, _y;
    int _t;

    public PointTask Task { get; set; } = task;
    public Space ObservationSpace { get; } = Box.Uniform(2, float.NegativeInfinity, float.PositiveInfinity);
    public Space ActionSpace { get; } = Box.Uniform(2, -MaxStep, MaxStep);
    public int MaxEpisodeSteps => Steps;
    (double X, double Y, double Z) ITrackedEnv.BodyPosition => (_x, _y, 0);

    public void Reset(int? seed, Span<float> observation)
    {
        _x = 0; _y = 0; _t = 0;
        observation[0] = 0; observation[1] = 0;
    }

    public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        EnvChecks.Length(action, 2);
        float dx = Math.Clamp(action[0], -MaxStep, MaxStep), dy = Math.Clamp(action[1], -MaxStep, MaxStep);
        _x += dx; _y += dy; _t++;
        observation[0] = _x; observation[1] = _y;
        bool truncated = _t >= Steps;
        switch (Task)
        {
            case ReachGoal g:
                float distance = MathF.Sqrt((_x - g.X) * (_x - g.X) + (_y - g.Y) * (_y - g.Y));
                return new StepResult(-distance, Terminated: false, truncated, Success: truncated && distance <= GoalRadius);
            case MoveAlong m:
                return new StepResult(10 * (dx * m.Dx + dy * m.Dy), Terminated: false, truncated, Success: _x * m.Dx + _y * m.Dy >= DistanceForSuccess);
            default:
                throw new ArgumentException($"unknown point task {Task}");
        }
    }
}

/// <summary>The point tasks as a family: drawn goals on the unit circle (the suites pick theirs by hand).</summary>
public sealed class PointTaskFamily : TaskDistribution<PointTask>
{
    public override string Name => "point-tasks";
    public override string Description => "point in the plane, 30 steps: reach a goal or move along a direction (the multi-task suites' tasks)";
    public override Space ObservationSpace { get; } = Box.Uniform(2, float.NegativeInfinity, float.PositiveInfinity);
    public override Space ActionSpace { get; } = Box.Uniform(2, -PointTaskEnv.MaxStep, PointTaskEnv.MaxStep);
    public override int MaxEpisodeSteps => PointTaskEnv.Steps;

    public override IReadOnlyList<PointTask> Sample(int n, Rng rng) => OnCircle(n, rng, 0, Math.PI);
    public override IReadOnlyList<PointTask> SampleOutOfDistribution(int n, Rng rng) => OnCircle(n, rng, Math.PI, 2 * Math.PI);

    static IReadOnlyList<PointTask> OnCircle(int n, Rng rng, double from, double to)
    {
        CheckCount(n);
        return Enumerable.Range(0, n).Select(_ => Goal(rng.Uniform(from, to))).ToList();
    }

    internal static ReachGoal Goal(double angle) => new((float)Math.Cos(angle), (float)Math.Sin(angle));

    public override ITaskEnv<PointTask> CreateEnv(PointTask task, Rng rng) => new PointTaskEnv(task);
}

/// <summary>The built-in point suites: mild conflict, built to conflict, and imbalanced.</summary>
public static class PointSuites
{
    static double Degrees(double d) => d * Math.PI / 180;

    /// <summary>Four goals 1 away at 0, 30, 60 and 90 degrees: neighbours ask for similar moves (mild conflict).</summary>
    public static TaskSuite Goals() => new("point-goals", "reach one of four goals 1 away at 0, 30, 60, 90 degrees (mild conflict: neighbours share most of the way)",
        new PointTaskFamily(), [.. new[] { 0, 30, 60, 90 }.Select(d => new SuiteTask($"goal-{d}", PointTaskFamily.Goal(Degrees(d))))]);

    /// <summary>
    /// Built to conflict: move right, left, up or down from the same start, each rewarding the opposite of another's
    /// action in every shared state, plus the two goals between them, whose gradients agree with some and oppose others.
    /// </summary>
    public static TaskSuite Conflict() => new("point-conflict", "move right, left, up, down, or reach the goals at 45 and 225 degrees: opposite actions rewarded in the same states",
        new PointTaskFamily(),
        [
            new("right", new MoveAlong(1, 0)), new("left", new MoveAlong(-1, 0)), new("up", new MoveAlong(0, 1)), new("down", new MoveAlong(0, -1)),
            new("goal-45", PointTaskFamily.Goal(Degrees(45))), new("goal-225", PointTaskFamily.Goal(Degrees(225))),
        ]);

    /// <summary>Ten tasks (an MT10-sized suite of point tasks): move along the eight compass directions, or reach the goals at 0 and 180 degrees.</summary>
    public static TaskSuite Ten() => new("point-ten", "ten tasks: move along each of the eight compass directions, or reach the goals at 0 and 180 degrees (MT10-sized)",
        new PointTaskFamily(),
        [
            .. new[] { ("east", 0), ("north-east", 45), ("north", 90), ("north-west", 135), ("west", 180), ("south-west", 225), ("south", 270), ("south-east", 315) }
                .Select(d => new SuiteTask(d.Item1, new MoveAlong((float)Math.Cos(Degrees(d.Item2)), (float)Math.Sin(Degrees(d.Item2))))),
            new("goal-0", PointTaskFamily.Goal(0)), new("goal-180", PointTaskFamily.Goal(Math.PI)),
        ]);

    /// <summary>The four goals of <see cref="Goals"/>, one paying 10x the reward and one with a tenth of the episodes.</summary>
    public static TaskSuite Imbalanced() => new("point-imbalanced", "point-goals with goal-0 paying 10x the reward and goal-90 given a tenth of the episodes",
        new PointTaskFamily(),
        [
            new("goal-0", PointTaskFamily.Goal(0), RewardScale: 10), new("goal-30", PointTaskFamily.Goal(Degrees(30))),
            new("goal-60", PointTaskFamily.Goal(Degrees(60))), new("goal-90", PointTaskFamily.Goal(Degrees(90)), DataShare: 0.1),
        ]);
}
