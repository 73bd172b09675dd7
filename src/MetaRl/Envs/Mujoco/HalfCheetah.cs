namespace MetaRl.Envs.Mujoco;

/// <summary>A target forward velocity, m/s (halfcheetah-vel).</summary>
public sealed record VelocityTask(float Velocity)
{
    public override string ToString() => $"Velocity({Velocity:0.###})";
}

/// <summary>A direction to run: +1 forward, -1 backward (halfcheetah-dir, ant-dir).</summary>
public sealed record DirectionTask(int Direction)
{
    public override string ToString() => Direction > 0 ? "Forward" : "Backward";
}

/// <summary>
/// The planar half-cheetah (Models/half_cheetah.xml) as pytorch-maml-rl's HalfCheetahEnv: 6 motors, 5 frames
/// per action (dt 0.05 s), 100-step episodes (its configs' max_episode_steps), actions in [-10, 10] (its
/// normalization_scale 10). Observation (20): qpos[1:] (torso height, pitch and the six joint angles), qvel (9),
/// the torso's position (3). Reward: the task's forward term minus 0.05 sum(ctrl^2) (pmr's 0.5 * 1e-1).
/// Episodes start at the rest pose plus U(-0.1, 0.1) on qpos and 0.1 N(0, 1) on qvel (Gym's reset_model).
/// </summary>
public abstract class HalfCheetahEnv<TTask>(TTask task, Rng rng, int maxEpisodeSteps = HalfCheetahEnv<TTask>.EpisodeSteps)
    : MujocoEnv<TTask>(MujocoModels.Get("half_cheetah"), ownsModel: false, task, FrameSkip5, maxEpisodeSteps, ActionScale10, ObservationLength, rng)
{
    public const int EpisodeSteps = 100, FrameSkip5 = 5, ObservationLength = 20;
    public const float ActionScale10 = 10f;
    public const double ControlCost = 0.05, TorsoHeight = 0.7;

    public override (double X, double Y, double Z) TorsoPosition => (Data.Qpos[0], 0, TorsoHeight + Data.Qpos[1]);

    protected override void InitialState(Span<double> qpos, Span<double> qvel, Rng rng)
    {
        for (int i = 0; i < qpos.Length; i++) qpos[i] += rng.Uniform(-0.1, 0.1);
        for (int i = 0; i < qvel.Length; i++) qvel[i] = 0.1 * rng.Normal();
    }

    /// <summary>The task's reward for a forward velocity (m/s).</summary>
    protected abstract double ForwardReward(double velocity);

    protected override (double Reward, bool Terminated, bool Success) Score((double X, double Y, double Z) before, ReadOnlySpan<double> ctrl)
    {
        double velocity = (TorsoPosition.X - before.X) / Dt;
        return (ForwardReward(velocity) - ControlCost * SumOfSquares(ctrl), false, false);
    }

    protected override void Observe(Span<float> observation)
    {
        var qpos = Data.Qpos;
        var qvel = Data.Qvel;
        int k = 0;
        for (int i = 1; i < qpos.Length; i++) observation[k++] = (float)qpos[i];
        for (int i = 0; i < qvel.Length; i++) observation[k++] = (float)qvel[i];
        var (x, y, z) = TorsoPosition;
        observation[k++] = (float)x; observation[k++] = (float)y; observation[k] = (float)z;
    }
}

/// <summary>Run at the task's velocity: forward reward -|v - v*| (MAML's HalfCheetahVel).</summary>
public sealed class HalfCheetahVelEnv(VelocityTask task, Rng rng) : HalfCheetahEnv<VelocityTask>(HalfCheetahVelDistribution.Check(task), rng)
{
    public override VelocityTask Task { get => base.Task; set => base.Task = HalfCheetahVelDistribution.Check(value); }
    protected override double ForwardReward(double velocity) => -Math.Abs(velocity - Task.Velocity);
}

/// <summary>Run in the task's direction: forward reward direction x v (MAML's HalfCheetahDir).</summary>
public sealed class HalfCheetahDirEnv(DirectionTask task, Rng rng) : HalfCheetahEnv<DirectionTask>(DirectionTasks.Check(task), rng)
{
    public override DirectionTask Task { get => base.Task; set => base.Task = DirectionTasks.Check(value); }
    protected override double ForwardReward(double velocity) => Task.Direction * velocity;
}

/// <summary>The half-cheetah's spaces and episode length, shared by its families: 20 observation floats, 6 motors acting in [-10, 10], 100 steps.</summary>
public abstract class HalfCheetahTaskDistribution<TTask> : MujocoTaskDistribution<TTask> where TTask : notnull
{
    public override Space ObservationSpace => Box.Uniform(HalfCheetahEnv<TTask>.ObservationLength, float.NegativeInfinity, float.PositiveInfinity);
    public override Space ActionSpace => Box.Uniform(6, -HalfCheetahEnv<TTask>.ActionScale10, HalfCheetahEnv<TTask>.ActionScale10);
    public override int MaxEpisodeSteps => HalfCheetahEnv<TTask>.EpisodeSteps;
}

/// <summary>
/// Target velocities v* ~ U[0, 2] m/s: MAML's range (pytorch-maml-rl's halfcheetah-vel.yaml low 0, high 2), chosen
/// over PEARL's U[0, 3] because MAML and ProMP are the learners whose numbers this family is compared with.
/// Out of distribution: v* ~ U[2, 3] (faster than any training task; PEARL's upper third).
/// </summary>
public sealed class HalfCheetahVelDistribution : HalfCheetahTaskDistribution<VelocityTask>
{
    public const float Low = 0f, High = 2f, OodHigh = 3f;
    public override string Name => "halfcheetah-vel";
    public override string Description => "half-cheetah runs at a target velocity ~ U[0,2] m/s, reward -|v - v*| - 0.05|a|^2, 100 steps (MAML); OOD U[2,3]";

    public override IReadOnlyList<VelocityTask> Sample(int n, Rng rng)
    {
        CheckCount(n);
        return Enumerable.Range(0, n).Select(_ => new VelocityTask((float)rng.Uniform(Low, High))).ToList();
    }

    public override IReadOnlyList<VelocityTask> SampleOutOfDistribution(int n, Rng rng)
    {
        CheckCount(n);
        return Enumerable.Range(0, n).Select(_ => new VelocityTask((float)rng.Uniform(High, OodHigh))).ToList();
    }

    public override ITaskEnv<VelocityTask> CreateEnv(VelocityTask task, Rng rng) => new HalfCheetahVelEnv(task, rng);

    internal static VelocityTask Check(VelocityTask task) =>
        float.IsFinite(task.Velocity) && task.Velocity >= Low && task.Velocity <= OodHigh ? task
            : throw new UsageException($"halfcheetah-vel: task velocity must be in [{Low}, {OodHigh}] m/s (train [{Low}, {High}], out of distribution ({High}, {OodHigh}]); got {task.Velocity}");
}

/// <summary>Forward or backward with probability 1/2 each (MAML's HalfCheetahDir). Two tasks: no out-of-distribution split.</summary>
public sealed class HalfCheetahDirDistribution : HalfCheetahTaskDistribution<DirectionTask>
{
    public override string Name => "halfcheetah-dir";
    public override string Description => "half-cheetah runs forward or backward (+-1), reward direction * v - 0.05|a|^2, 100 steps (MAML); no OOD tasks";
    public override IReadOnlyList<DirectionTask> Sample(int n, Rng rng) => DirectionTasks.Sample(n, rng);
    public override IReadOnlyList<DirectionTask> SampleOutOfDistribution(int n, Rng rng) => [];
    public override ITaskEnv<DirectionTask> CreateEnv(DirectionTask task, Rng rng) => new HalfCheetahDirEnv(task, rng);
}

internal static class DirectionTasks
{
    public static IReadOnlyList<DirectionTask> Sample(int n, Rng rng)
    {
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, "the number of tasks must be >= 0");
        return Enumerable.Range(0, n).Select(_ => new DirectionTask(rng.NextDouble() < 0.5 ? -1 : 1)).ToList();
    }

    public static DirectionTask Check(DirectionTask task) => task.Direction is 1 or -1 ? task
        : throw new UsageException($"task direction must be 1 (forward) or -1 (backward); got {task.Direction}");
}

/// <summary>A task family simulated by MuJoCo (a run logs its unstable episodes).</summary>
public interface IMujocoTaskDistribution : ITaskDistribution;

/// <summary>A MuJoCo family: its vector envs step in parallel over the machine's cores.</summary>
public abstract class MujocoTaskDistribution<TTask> : TaskDistribution<TTask>, IMujocoTaskDistribution where TTask : notnull
{
    public override IVectorEnv CreateVectorEnv(IReadOnlyList<object> tasks) =>
        new MujocoVectorEnv(tasks.Select((task, i) => CreateEnv(task, new Rng(i))).ToList(), this);
}
