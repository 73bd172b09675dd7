using MetaRl.Envs.Navigation;

namespace MetaRl.Envs.Mujoco;

/// <summary>A direction in the plane, radians from +x (ant-dir-2d).</summary>
public sealed record Direction2DTask(float Angle)
{
    public override string ToString() => $"Direction({Angle * 180 / MathF.PI:0.#} deg)";
}

/// <summary>
/// The quadruped ant (Models/ant.xml) as pytorch-maml-rl's AntEnv: 8 motors, 5 frames per action (dt 0.05 s),
/// actions in [-10, 10] (normalization_scale 10). Observation (125): qpos (15), qvel (14), the external contact
/// forces of the 14 bodies clipped to [-1, 1] (84), the torso's rotation matrix (9) and position (3).
/// Costs: contact 0.5e-3 sum(clip(cfrc_ext, -1, 1)^2); control per task. Episodes start at the rest pose plus
/// U(-0.1, 0.1) on qpos and 0.1 N(0, 1) on qvel (Gym's reset_model).
/// </summary>
public abstract class AntEnv<TTask>(TTask task, Rng rng, int maxEpisodeSteps)
    : MujocoEnv<TTask>(MujocoModels.Get("ant"), ownsModel: false, task, frameSkip: 5, maxEpisodeSteps, actionScale: 10f, ObservationLength, rng)
{
    public const int ObservationLength = 125;
    public const double ContactCost = 0.5e-3;
    readonly int _torso = MujocoModels.Get("ant").BodyId("torso");

    /// <summary>The free joint's position is the torso's.</summary>
    public override (double X, double Y, double Z) TorsoPosition => (Data.Qpos[0], Data.Qpos[1], Data.Qpos[2]);
    protected override bool NeedsContactForces => true;
    public override (double Distance, double Elevation) Camera => (6, -35);

    protected override void InitialState(Span<double> qpos, Span<double> qvel, Rng rng)
    {
        for (int i = 0; i < qpos.Length; i++) qpos[i] += rng.Uniform(-0.1, 0.1);
        for (int i = 0; i < qvel.Length; i++) qvel[i] = 0.1 * rng.Normal();
    }

    /// <summary>0.5e-3 x sum of squared contact forces, each clipped to [-1, 1].</summary>
    protected double ContactCostNow()
    {
        double s = 0;
        foreach (double f in Data.CfrcExt) { double c = Math.Clamp(f, -1, 1); s += c * c; }
        return ContactCost * s;
    }

    /// <summary>Gym's ant falls when the torso leaves 0.2 to 1.0 m of height.</summary>
    protected bool Fallen => TorsoPosition.Z is < 0.2 or > 1.0 || !double.IsFinite(TorsoPosition.Z);

    protected override void Observe(Span<float> observation)
    {
        int k = 0;
        foreach (double v in Data.Qpos) observation[k++] = (float)v;
        foreach (double v in Data.Qvel) observation[k++] = (float)v;
        foreach (double f in Data.CfrcExt) observation[k++] = (float)Math.Clamp(f, -1, 1);
        var xmat = Data.Xmat.Slice(_torso * 9, 9);
        foreach (double v in xmat) observation[k++] = (float)v;
        var (x, y, z) = TorsoPosition;
        observation[k++] = (float)x; observation[k++] = (float)y; observation[k] = (float)z;
    }
}

/// <summary>
/// Run forward or backward, or along a direction in the plane: reward = direction . velocity(x, y) + 0.05 (alive)
/// - 0.005 sum(ctrl^2) - contact cost; the episode ends when the ant falls (pytorch-maml-rl's AntDirEnv, 100 steps).
/// <paramref name="direction"/> checks a task and gives its unit vector, once per task. Success (ours; the references
/// define none): 2 m along the direction at some step (a mean of 0.4 m/s over the 5 s episode).
/// </summary>
public sealed class AntDirEnv<TTask>(TTask task, Func<TTask, (double X, double Y)> direction, Rng rng) : AntEnv<TTask>(task, rng, EpisodeSteps)
{
    public const int EpisodeSteps = 100;
    public const double AliveBonus = 0.05, ControlCost = 0.5e-2, DistanceForSuccess = 2;
    (double X, double Y) _unit;

    public override TTask Task
    {
        get => base.Task;
        set { _unit = direction(value); base.Task = value; }
    }

    protected override (double Reward, bool Terminated, bool Success) Score((double X, double Y, double Z) before, ReadOnlySpan<double> ctrl)
    {
        var (x, y, _) = TorsoPosition;
        var (dx, dy) = _unit;
        double forward = (dx * (x - before.X) + dy * (y - before.Y)) / Dt;
        double reward = forward + AliveBonus - ControlCost * SumOfSquares(ctrl) - ContactCostNow();
        return (reward, Fallen, dx * x + dy * y >= DistanceForSuccess);
    }
}

/// <summary>
/// Walk to a goal in the plane: reward = -|xy - goal|_1 - 0.1 sum(ctrl^2) - contact cost, no alive bonus and no
/// termination, 200 steps (PEARL's AntGoalEnv). Success: ending a step within 0.5 m of the goal.
/// </summary>
public sealed class AntGoalEnv(GoalTask task, Rng rng) : AntEnv<GoalTask>(AntGoalDistribution.Check(task), rng, EpisodeSteps)
{
    public const int EpisodeSteps = 200;
    public const double ControlCost = 0.1, SuccessRadius = 0.5;

    public override GoalTask Task { get => base.Task; set => base.Task = AntGoalDistribution.Check(value); }

    protected override (double Reward, bool Terminated, bool Success) Score((double X, double Y, double Z) before, ReadOnlySpan<double> ctrl)
    {
        var (x, y, _) = TorsoPosition;
        double dx = x - Task.GoalX, dy = y - Task.GoalY;
        double reward = -(Math.Abs(dx) + Math.Abs(dy)) - ControlCost * SumOfSquares(ctrl) - ContactCostNow();
        return (reward, false, dx * dx + dy * dy < SuccessRadius * SuccessRadius);
    }
}

/// <summary>The ant's spaces, shared by its families: 125 observation floats, 8 motors acting in [-10, 10].</summary>
public abstract class AntTaskDistribution<TTask> : MujocoTaskDistribution<TTask> where TTask : notnull
{
    public override Space ObservationSpace => Box.Uniform(AntEnv<TTask>.ObservationLength, float.NegativeInfinity, float.PositiveInfinity);
    public override Space ActionSpace => Box.Uniform(8, -10f, 10f);
}

/// <summary>Forward or backward with probability 1/2 each (MAML's AntDir). Two tasks: no out-of-distribution split.</summary>
public sealed class AntDirDistribution : AntTaskDistribution<DirectionTask>
{
    public override string Name => "ant-dir";
    public override string Description => "ant runs forward or backward (+-1), reward direction * v + 0.05 - costs, ends on a fall, 100 steps (MAML); no OOD tasks";
    public override int MaxEpisodeSteps => AntDirEnv<DirectionTask>.EpisodeSteps;
    public override IReadOnlyList<DirectionTask> Sample(int n, Rng rng) => DirectionTasks.Sample(n, rng);
    public override IReadOnlyList<DirectionTask> SampleOutOfDistribution(int n, Rng rng) => [];
    public override ITaskEnv<DirectionTask> CreateEnv(DirectionTask task, Rng rng) =>
        new AntDirEnv<DirectionTask>(task, t => (DirectionTasks.Check(t).Direction, 0), rng);
}

/// <summary>
/// A direction uniform on the circle (the tasks of ProMP's AntRandDirec2D), scored with pytorch-maml-rl's ant-dir
/// reward along it (ProMP's own env uses raw [-1, 1] actions, control cost 0.5 and alive bonus 1; ours keeps one
/// ant reward across the direction families). Every direction is a training direction: no out-of-distribution split.
/// </summary>
public sealed class AntDir2DDistribution : AntTaskDistribution<Direction2DTask>
{
    public override string Name => "ant-dir-2d";
    public override string Description => "ant runs along a direction ~ U[0, 2 pi) in the plane (ProMP), reward u . v + 0.05 - costs, 100 steps; no OOD tasks";
    public override int MaxEpisodeSteps => AntDirEnv<Direction2DTask>.EpisodeSteps;

    public override IReadOnlyList<Direction2DTask> Sample(int n, Rng rng)
    {
        CheckCount(n);
        return Enumerable.Range(0, n).Select(_ => new Direction2DTask((float)rng.Uniform(0, 2 * Math.PI))).ToList();
    }

    public override IReadOnlyList<Direction2DTask> SampleOutOfDistribution(int n, Rng rng) => [];

    public override ITaskEnv<Direction2DTask> CreateEnv(Direction2DTask task, Rng rng) =>
        new AntDirEnv<Direction2DTask>(task, t => (Math.Cos(Check(t).Angle), Math.Sin(t.Angle)), rng);

    static Direction2DTask Check(Direction2DTask task) => float.IsFinite(task.Angle) ? task
        : throw new UsageException($"ant-dir-2d: the task angle must be a finite number of radians; got {task.Angle}");
}

/// <summary>
/// Goals uniform in the disc of radius 3 around the start (PEARL's AntGoal: angle U[0, 2 pi), radius 3 sqrt(U)).
/// Out of distribution: goals in the ring of radii 3 to 4, uniform in its area.
/// </summary>
public sealed class AntGoalDistribution : AntTaskDistribution<GoalTask>
{
    public const double Radius = 3, OodRadius = 4;
    public override string Name => "ant-goal";
    public override string Description => "ant walks to a goal in the disc of radius 3, reward -L1 distance - costs, 200 steps (PEARL); OOD radius 3 to 4";
    public override int MaxEpisodeSteps => AntGoalEnv.EpisodeSteps;

    public override IReadOnlyList<GoalTask> Sample(int n, Rng rng) => Ring(n, rng, 0, Radius);
    public override IReadOnlyList<GoalTask> SampleOutOfDistribution(int n, Rng rng) => Ring(n, rng, Radius, OodRadius);
    public override ITaskEnv<GoalTask> CreateEnv(GoalTask task, Rng rng) => new AntGoalEnv(task, rng);

    /// <summary>Goals uniform in the area between two radii.</summary>
    static List<GoalTask> Ring(int n, Rng rng, double inner, double outer)
    {
        CheckCount(n);
        var goals = new List<GoalTask>(n);
        for (int i = 0; i < n; i++)
        {
            double angle = rng.Uniform(0, 2 * Math.PI);
            double r = Math.Sqrt(rng.Uniform(inner * inner, outer * outer));
            goals.Add(new GoalTask((float)(r * Math.Cos(angle)), (float)(r * Math.Sin(angle))));
        }
        return goals;
    }

    internal static GoalTask Check(GoalTask task)
    {
        double r = Math.Sqrt(task.GoalX * task.GoalX + task.GoalY * task.GoalY);
        return double.IsFinite(r) && r <= OodRadius + 1e-6 ? task
            : throw new UsageException($"ant-goal: the goal must lie within {OodRadius} m of the start (train: radius {Radius}, out of distribution: {Radius} to {OodRadius}); got ({task.GoalX}, {task.GoalY})");
    }
}
