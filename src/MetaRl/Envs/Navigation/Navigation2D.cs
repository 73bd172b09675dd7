
namespace MetaRl.Envs.Navigation;

/// <summary>A goal in the plane.</summary>
public sealed record GoalTask(float GoalX, float GoalY)
{
    public override string ToString() => $"Goal({GoalX:0.###}, {GoalY:0.###})";
}

/// <summary>
/// MAML's 2D navigation (pytorch-maml-rl navigation.py): a point starts at the origin; the action is a
/// velocity clipped to [-0.1, 0.1] per axis; reward = -||position - goal|| after the move; the episode
/// ends within 0.01 of the goal on both axes, or after 100 steps.
/// </summary>
public sealed class Navigation2DEnv(GoalTask task, int maxEpisodeSteps = 100) : ITaskEnv<GoalTask>, ITrackedEnv
{
    public const float MaxSpeed = 0.1f, GoalTolerance = 0.01f;
    float _x, _y;
    int _t;

    public GoalTask Task { get; set; } = task;
    public Space ObservationSpace { get; } = Box.Uniform(2, float.NegativeInfinity, float.PositiveInfinity);
    public Space ActionSpace { get; } = Box.Uniform(2, -MaxSpeed, MaxSpeed);
    public int MaxEpisodeSteps => maxEpisodeSteps;
    public (float X, float Y) Position => (_x, _y);
    (double X, double Y, double Z) ITrackedEnv.BodyPosition => (_x, _y, 0);

    public void Reset(int? seed, Span<float> observation)
    {
        _x = 0; _y = 0; _t = 0;
        observation[0] = 0; observation[1] = 0;
    }

    public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        EnvChecks.Length(action, 2);
        _x += Math.Clamp(action[0], -MaxSpeed, MaxSpeed);
        _y += Math.Clamp(action[1], -MaxSpeed, MaxSpeed);
        _t++;
        float dx = _x - Task.GoalX, dy = _y - Task.GoalY;
        bool reached = Math.Abs(dx) < GoalTolerance && Math.Abs(dy) < GoalTolerance;
        observation[0] = _x; observation[1] = _y;
        return new StepResult(-MathF.Sqrt(dx * dx + dy * dy), Terminated: reached, Truncated: !reached && _t >= maxEpisodeSteps, Success: reached);
    }
}

/// <summary>Goals ~ U[-0.5, 0.5]^2 (MAML). Out of distribution: goals ~ U[-1, 1]^2 outside the training square.</summary>
public sealed class Navigation2DDistribution(int maxEpisodeSteps = 100) : TaskDistribution<GoalTask>
{
    public const float Half = 0.5f, OodHalf = 1.0f;
    public override string Name => "2d-navigation";
    public override string Description => "point robot to an unseen goal ~ U[-0.5,0.5]^2, dense reward -distance, 100 steps (MAML)";
    public override Space ObservationSpace { get; } = Box.Uniform(2, float.NegativeInfinity, float.PositiveInfinity);
    public override Space ActionSpace { get; } = Box.Uniform(2, -Navigation2DEnv.MaxSpeed, Navigation2DEnv.MaxSpeed);
    public override int MaxEpisodeSteps => maxEpisodeSteps;

    public override IReadOnlyList<GoalTask> Sample(int n, Rng rng)
    {
        CheckCount(n);
        return Enumerable.Range(0, n).Select(_ => new GoalTask((float)rng.Uniform(-Half, Half), (float)rng.Uniform(-Half, Half))).ToList();
    }

    public override IReadOnlyList<GoalTask> SampleOutOfDistribution(int n, Rng rng)
    {
        CheckCount(n);
        var tasks = new List<GoalTask>(n);
        while (tasks.Count < n)
        {
            float x = (float)rng.Uniform(-OodHalf, OodHalf), y = (float)rng.Uniform(-OodHalf, OodHalf);
            if (Math.Abs(x) > Half || Math.Abs(y) > Half) tasks.Add(new GoalTask(x, y));
        }
        return tasks;
    }

    public override ITaskEnv<GoalTask> CreateEnv(GoalTask task, Rng rng) => new Navigation2DEnv(task, maxEpisodeSteps);
}
