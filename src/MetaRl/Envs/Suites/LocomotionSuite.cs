using MetaRl.Envs.Mujoco;

namespace MetaRl.Envs.Suites;

public enum CheetahSkill { Forward, Backward, Velocity, Jump }

/// <summary>A half-cheetah task of the locomotion suite: a skill, and the target speed of <see cref="CheetahSkill.Velocity"/> (m/s).</summary>
public sealed record CheetahTask(CheetahSkill Skill, float Velocity = 0)
{
    public override string ToString() => Skill == CheetahSkill.Velocity ? $"Velocity({Velocity:0.###})" : Skill.ToString();
}

/// <summary>
/// The half-cheetah (100 steps of 0.05 s, actions in [-10, 10], control cost 0.05 |a|^2, as halfcheetah-vel) with one
/// of four skills. Rewards: forward velocity v (Forward), -v (Backward), -|v - v*| (Velocity: MAML's halfcheetah-vel),
/// 10 x the torso's height above its rest height of 0.7 m (Jump). Success, our criteria (Meta-World has none for
/// locomotion): 5 m forward at some step (a mean of 1 m/s); 3 m backward; the episode's mean speed within 0.25 m/s of
/// v*, judged where the episode ends; the torso 0.3 m above its rest height (1.0 m) at some step.
/// </summary>
public sealed class HalfCheetahSkillEnv(CheetahTask task, Rng rng) : HalfCheetahEnv<CheetahTask>(task, rng)
{
    public const double ForwardDistance = 5, BackwardDistance = 3, SpeedTolerance = 0.25, JumpHeight = 1.0, JumpRewardScale = 10;

    protected override double ForwardReward(double velocity) => Task.Skill switch
    {
        CheetahSkill.Forward => velocity,
        CheetahSkill.Backward => -velocity,
        CheetahSkill.Velocity => -Math.Abs(velocity - Task.Velocity),
        _ => 0,
    };

    protected override (double Reward, bool Terminated, bool Success) Score((double X, double Y, double Z) before, ReadOnlySpan<double> ctrl)
    {
        var (reward, _, _) = base.Score(before, ctrl);
        var (x, _, z) = TorsoPosition;
        if (Task.Skill == CheetahSkill.Jump) reward += JumpRewardScale * Math.Max(0, z - TorsoHeight);
        bool success = Task.Skill switch
        {
            CheetahSkill.Forward => x >= ForwardDistance,
            CheetahSkill.Backward => x <= -BackwardDistance,
            CheetahSkill.Velocity => StepsTaken >= MaxEpisodeSteps && Math.Abs(x / (StepsTaken * Dt) - Task.Velocity) <= SpeedTolerance,
            _ => z >= JumpHeight,
        };
        return (reward, false, success);
    }
}

/// <summary>The half-cheetah's skills as a family (drawn tasks: target speeds U[0, 3]; the suite picks its own).</summary>
public sealed class CheetahSkillFamily : HalfCheetahTaskDistribution<CheetahTask>
{
    public override string Name => "halfcheetah-skills";
    public override string Description => "half-cheetah: run forward, backward, at a target speed, or jump (the locomotion suite's tasks)";

    public override IReadOnlyList<CheetahTask> Sample(int n, Rng rng)
    {
        CheckCount(n);
        return Enumerable.Range(0, n).Select(_ => new CheetahTask(CheetahSkill.Velocity, (float)rng.Uniform(0, 3))).ToList();
    }

    public override IReadOnlyList<CheetahTask> SampleOutOfDistribution(int n, Rng rng) => [];
    public override ITaskEnv<CheetahTask> CreateEnv(CheetahTask task, Rng rng) => new HalfCheetahSkillEnv(task, rng);
}

public static class LocomotionSuites
{
    /// <summary>
    /// Ten tasks on two bodies, an MT10-like locomotion suite: the half-cheetah's eight (<see cref="Cheetah"/>) and the
    /// ant running forward and backward (ant-dir's reward, success 2 m along the direction). Observations padded to
    /// the ant's 125 floats, actions the ant's 8 (the cheetah reads the first 6).
    /// </summary>
    public static TaskSuite Ten()
    {
        var ant = new AntDirDistribution();
        return new("locomotion-10", "half-cheetah forward, backward, 0.5-2.5 m/s and jump, ant forward and backward (10 tasks, two bodies, 100 steps)",
            new CheetahSkillFamily(),
            [
                .. Cheetah().Tasks,
                new("ant-forward", new DirectionTask(1), Family: ant), new("ant-backward", new DirectionTask(-1), Family: ant),
            ]);
    }

    /// <summary>
    /// Eight half-cheetah tasks (an MT10-like locomotion suite, the ant's directions not yet in it: a suite's tasks
    /// share one body's observation and action spaces): run forward, backward, at 0.5 to 2.5 m/s, jump.
    /// </summary>
    public static TaskSuite Cheetah() => new("cheetah-locomotion", "half-cheetah: run forward, run backward, run at 0.5, 1, 1.5, 2 or 2.5 m/s, jump (8 tasks, 100 steps)",
        new CheetahSkillFamily(),
        [
            new("forward", new CheetahTask(CheetahSkill.Forward)), new("backward", new CheetahTask(CheetahSkill.Backward)),
            .. new[] { 0.5f, 1f, 1.5f, 2f, 2.5f }.Select(v => new SuiteTask(FormattableString.Invariant($"speed-{v:0.0}"), new CheetahTask(CheetahSkill.Velocity, v))),
            new("jump", new CheetahTask(CheetahSkill.Jump)),
        ]);
}
