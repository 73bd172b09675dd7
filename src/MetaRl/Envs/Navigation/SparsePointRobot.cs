
namespace MetaRl.Envs.Navigation;

/// <summary>
/// PEARL's sparse point robot (oyster point_robot.py): start at the origin, move by at most 0.1 per axis;
/// the reward is 1 - distance within 0.2 of the goal and 0 elsewhere (oyster makes it positive inside);
/// the dense reward -distance stays available in <see cref="DenseReward"/>. 20-step episodes.
/// </summary>
public sealed class SparsePointRobotEnv(GoalTask task, int maxEpisodeSteps = 20, float goalRadius = 0.2f) : ITaskEnv<GoalTask>, IDenseReward
{
    public const float MaxStep = 0.1f;
    float _x, _y;
    int _t;

    public GoalTask Task { get; set; } = task;
    public float GoalRadius => goalRadius;
    /// <summary>-distance to the goal after the last step (what oyster trains its critic on).</summary>
    public float DenseReward { get; private set; }
    public Space ObservationSpace { get; } = Box.Uniform(2, float.NegativeInfinity, float.PositiveInfinity);
    public Space ActionSpace { get; } = Box.Uniform(2, -MaxStep, MaxStep);
    public int MaxEpisodeSteps => maxEpisodeSteps;

    public void Reset(int? seed, Span<float> observation)
    {
        _x = 0; _y = 0; _t = 0; DenseReward = 0;
        observation[0] = 0; observation[1] = 0;
    }

    public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        EnvChecks.Length(action, 2);
        _x += Math.Clamp(action[0], -MaxStep, MaxStep);
        _y += Math.Clamp(action[1], -MaxStep, MaxStep);
        _t++;
        float dx = _x - Task.GoalX, dy = _y - Task.GoalY;
        float distance = MathF.Sqrt(dx * dx + dy * dy);
        DenseReward = -distance;
        bool inside = distance <= goalRadius;
        observation[0] = _x; observation[1] = _y;
        return new StepResult(inside ? 1 - distance : 0, Terminated: false, Truncated: _t >= maxEpisodeSteps, Success: inside);
    }
}

/// <summary>Goals on the upper half of the unit circle, angle ~ U[0, pi] (PEARL). Out of distribution: the lower half.</summary>
public sealed class SparsePointRobotDistribution(int maxEpisodeSteps = 20, float goalRadius = 0.2f) : TaskDistribution<GoalTask>
{
    public override string Name => "sparse-point-robot";
    public override string Description => "point robot, goals on the upper unit half-circle, reward only within 0.2 of the goal, 20 steps (PEARL)";
    public override Space ObservationSpace { get; } = Box.Uniform(2, float.NegativeInfinity, float.PositiveInfinity);
    public override Space ActionSpace { get; } = Box.Uniform(2, -SparsePointRobotEnv.MaxStep, SparsePointRobotEnv.MaxStep);
    public override int MaxEpisodeSteps => maxEpisodeSteps;

    public override IReadOnlyList<GoalTask> Sample(int n, Rng rng) => OnArc(n, rng, 0);
    public override IReadOnlyList<GoalTask> SampleOutOfDistribution(int n, Rng rng) => OnArc(n, rng, Math.PI);

    static IReadOnlyList<GoalTask> OnArc(int n, Rng rng, double start)
    {
        CheckCount(n);
        return Enumerable.Range(0, n).Select(_ =>
        {
            double angle = rng.Uniform(start, start + Math.PI);
            return new GoalTask((float)Math.Cos(angle), (float)Math.Sin(angle));
        }).ToList();
    }

    public override ITaskEnv<GoalTask> CreateEnv(GoalTask task, Rng rng) => new SparsePointRobotEnv(task, maxEpisodeSteps, goalRadius);
}
