namespace MetaRl.Envs.Mujoco;

/// <summary>
/// A walker whose physics is rescaled (walker-params): every body mass, body inertia, joint damping and geom
/// friction coefficient of the model is multiplied by 1.5^e, with one exponent per number drawn from
/// <see cref="Seed"/>'s generator: e ~ U[-LogScaleLimit, LogScaleLimit] (PEARL's Walker-2D-Params through
/// rand_param_envs: log_scale_limit 3). Out of distribution, e ~ U[-4.5, 4.5]: each of the walker's 62 numbers
/// then lies beyond +-3 with probability 1/3, so an OOD task is outside the training box all but surely.
/// The task is its seed and range: small, printable, and the same physics on every machine.
/// </summary>
public sealed record WalkerParamsTask(int Seed, float LogScaleLimit = WalkerParamsDistribution.LogScaleLimit, bool OutOfDistribution = false)
{
    public override string ToString() => $"WalkerParams(seed {Seed}{(OutOfDistribution ? ", OOD" : "")})";
}

/// <summary>
/// The planar walker (Models/walker2d.xml) as Gym's Walker2d-v2 / rand_param_envs: 6 motors, 4 frames per action
/// (dt 0.008 s), actions in [-1, 1], 200-step episodes (PEARL's max_path_length). Observation (17): qpos[1:]
/// (height, pitch, six joint angles) and qvel clipped to [-10, 10]. Reward: forward velocity + 1 (alive)
/// - 1e-3 sum(ctrl^2); the episode ends when the torso's height leaves (0.8, 2.0) m or its pitch leaves (-1, 1) rad.
/// Episodes start at the rest pose plus U(-0.005, 0.005) on qpos and qvel. Each env owns a copy of the model
/// with its task's physics.
/// </summary>
public sealed class WalkerParamsEnv : MujocoEnv<WalkerParamsTask>
{
    public const int EpisodeSteps = 200, ObservationLength = 17;
    public const double AliveBonus = 1.0, ControlCost = 1e-3, Scale = 1.5;
    // Initialised before the base constructor, which sets the task (and so the physics).
    readonly MujocoModel _base = MujocoModels.Get("walker2d");

    public WalkerParamsEnv(WalkerParamsTask task, Rng rng)
        : base(MujocoModels.Get("walker2d").Copy(), ownsModel: true, task, frameSkip: 4, EpisodeSteps, actionScale: 1f, ObservationLength, rng)
    {
    }

    public override WalkerParamsTask Task
    {
        get => base.Task;
        set
        {
            base.Task = WalkerParamsDistribution.Check(value);
            ApplyPhysics(base.Task);
        }
    }

    /// <summary>Writes base value x 1.5^e into the env's own model, one exponent per number, in a fixed order.</summary>
    void ApplyPhysics(WalkerParamsTask task)
    {
        var rng = new Rng(task.Seed);
        Rescale(_base.BodyMass, Model.BodyMass, task, rng);
        Rescale(_base.BodyInertia, Model.BodyInertia, task, rng);
        Rescale(_base.DofDamping, Model.DofDamping, task, rng);
        Rescale(_base.GeomFriction, Model.GeomFriction, task, rng);
    }

    static void Rescale(ReadOnlySpan<double> from, Span<double> to, WalkerParamsTask task, Rng rng)
    {
        for (int i = 0; i < from.Length; i++) to[i] = from[i] * Math.Pow(Scale, rng.Uniform(-task.LogScaleLimit, task.LogScaleLimit));
    }

    public override (double X, double Y, double Z) TorsoPosition => (Data.Qpos[0], 0, Data.Qpos[1]);

    protected override void InitialState(Span<double> qpos, Span<double> qvel, Rng rng)
    {
        for (int i = 0; i < qpos.Length; i++) qpos[i] += rng.Uniform(-0.005, 0.005);
        for (int i = 0; i < qvel.Length; i++) qvel[i] = rng.Uniform(-0.005, 0.005);
    }

    protected override (double Reward, bool Terminated, bool Success) Score((double X, double Y, double Z) before, ReadOnlySpan<double> ctrl)
    {
        double velocity = (TorsoPosition.X - before.X) / Dt;
        double height = Data.Qpos[1], pitch = Data.Qpos[2];
        bool fallen = !(height > 0.8 && height < 2.0 && pitch > -1 && pitch < 1);
        return (velocity + AliveBonus - ControlCost * SumOfSquares(ctrl), fallen, false);
    }

    protected override void Observe(Span<float> observation)
    {
        var qpos = Data.Qpos;
        var qvel = Data.Qvel;
        int k = 0;
        for (int i = 1; i < qpos.Length; i++) observation[k++] = (float)qpos[i];
        for (int i = 0; i < qvel.Length; i++) observation[k++] = (float)Math.Clamp(qvel[i], -10, 10);
    }
}

/// <summary>Walkers of rescaled physics (PEARL's Walker-2D-Params); out of distribution: wider exponents.</summary>
public sealed class WalkerParamsDistribution : MujocoTaskDistribution<WalkerParamsTask>
{
    public const float LogScaleLimit = 3f, OodLogScaleLimit = 4.5f;
    public override string Name => "walker-params";
    public override string Description => "walker with masses, inertias, damping and friction scaled by 1.5^U[-3,3] each, reward v + 1 - costs, 200 steps (PEARL); OOD 1.5^U[-4.5,4.5]";
    public override Space ObservationSpace => Box.Uniform(WalkerParamsEnv.ObservationLength, float.NegativeInfinity, float.PositiveInfinity);
    public override Space ActionSpace => Box.Uniform(6, -1f, 1f);
    public override int MaxEpisodeSteps => WalkerParamsEnv.EpisodeSteps;

    public override IReadOnlyList<WalkerParamsTask> Sample(int n, Rng rng)
    {
        CheckCount(n);
        return Enumerable.Range(0, n).Select(_ => new WalkerParamsTask(rng.NextInt(int.MaxValue))).ToList();
    }

    public override IReadOnlyList<WalkerParamsTask> SampleOutOfDistribution(int n, Rng rng)
    {
        CheckCount(n);
        return Enumerable.Range(0, n).Select(_ => new WalkerParamsTask(rng.NextInt(int.MaxValue), OodLogScaleLimit, OutOfDistribution: true)).ToList();
    }

    public override ITaskEnv<WalkerParamsTask> CreateEnv(WalkerParamsTask task, Rng rng) => new WalkerParamsEnv(task, rng);

    internal static WalkerParamsTask Check(WalkerParamsTask task) =>
        task.LogScaleLimit > 0 && task.LogScaleLimit <= OodLogScaleLimit ? task
            : throw new UsageException($"walker-params: log-scale-limit must be in (0, {OodLogScaleLimit}] (train {LogScaleLimit}); got {task.LogScaleLimit}");
}
