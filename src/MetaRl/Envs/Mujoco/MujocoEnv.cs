namespace MetaRl.Envs.Mujoco;

/// <summary>
/// The Gym MuJoCo env contract over our binding: an action is mapped to the motors' controls, held for
/// <c>FrameSkip</c> integrator steps (dt = FrameSkip x timestep), and the subclass scores the step and writes
/// the observation. Actions live in [-ActionScale, ActionScale] per motor and are clipped and divided by
/// ActionScale into the motors' [-1, 1] (pytorch-maml-rl's NormalizedActionWrapper with normalization_scale).
/// When MuJoCo meets a bad number (it resets the data itself on NaN / huge qacc), the step's reward is 0, the
/// episode is truncated there and counted in <see cref="MujocoInstability"/>: never a NaN observation.
/// </summary>
public abstract class MujocoEnv<TTask> : ITaskEnv<TTask>, ITrackedEnv, IMujocoEnv
{
    protected readonly MujocoModel Model;
    protected readonly MujocoData Data;
    readonly bool _ownsModel;
    readonly double[] _ctrl;
    Rng _rng;
    int _t;

    /// <summary>An env over <paramref name="model"/>: the shared one, or (with <paramref name="ownsModel"/>) this env's own copy, disposed with it.</summary>
    protected MujocoEnv(MujocoModel model, bool ownsModel, TTask task, int frameSkip, int maxEpisodeSteps, float actionScale, int observationSize, Rng rng)
    {
        Model = model;
        _ownsModel = ownsModel;
        Data = new MujocoData(model);
        Task = task;
        FrameSkip = frameSkip;
        MaxEpisodeSteps = maxEpisodeSteps;
        ActionScale = actionScale;
        _ctrl = new double[model.Nu];
        _rng = rng;
        ObservationSpace = Box.Uniform(observationSize, float.NegativeInfinity, float.PositiveInfinity);
        ActionSpace = Box.Uniform(model.Nu, -actionScale, actionScale);
    }

    public virtual TTask Task { get; set; }
    public Space ObservationSpace { get; }
    public Space ActionSpace { get; }
    public int MaxEpisodeSteps { get; }
    public int FrameSkip { get; }
    public float ActionScale { get; }
    /// <summary>Seconds of simulated time per env step.</summary>
    public double Dt => FrameSkip * Model.Timestep;
    /// <summary>Steps of the current episode so far (the step being scored included): a task can judge success where the episode ends.</summary>
    protected int StepsTaken => _t;
    public MujocoData Simulation => Data;
    /// <summary>The torso's position in the world (x forward, y left, z up), for pictures and tests.</summary>
    public abstract (double X, double Y, double Z) TorsoPosition { get; }
    (double X, double Y, double Z) ITrackedEnv.BodyPosition => TorsoPosition;
    /// <inheritdoc/>
    public virtual (double Distance, double Elevation) Camera => (3.5, -20);

    public void Reset(int? seed, Span<float> observation)
    {
        if (seed is { } s) _rng = new Rng(s);
        _t = 0;
        Restart(observation);
    }

    /// <summary>A fresh initial state (the rest pose, perturbed), its derived quantities and its observation.</summary>
    void Restart(Span<float> observation)
    {
        Data.Reset();
        InitialState(Data.Qpos, Data.Qvel, _rng);
        Data.Forward();
        if (NeedsContactForces) Data.RnePostConstraint();
        Observe(observation);
    }

    public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        EnvChecks.Length(action, _ctrl.Length);
        for (int i = 0; i < _ctrl.Length; i++)
            _ctrl[i] = Math.Clamp(action[i], -ActionScale, ActionScale) / ActionScale;
        var before = TorsoPosition;
        _ctrl.CopyTo(Data.Ctrl);
        Data.Step(FrameSkip);
        _t++;
        bool truncated = _t >= MaxEpisodeSteps;
        if (Data.Instabilities > 0)
        {
            // MuJoCo has reset the state (or dropped contacts): the step means nothing. End the episode here, on a
            // clean state whose observation is finite (the collector may read it as the final observation).
            MujocoInstability.Count();
            Restart(observation);
            return new StepResult(0, Terminated: false, Truncated: true);
        }
        if (NeedsContactForces) Data.RnePostConstraint();
        var (reward, terminated, success) = Score(before, _ctrl);
        Observe(observation);
        return new StepResult((float)reward, terminated, truncated && !terminated, success);
    }

    /// <summary>Whether the reward or observation reads cfrc_ext (then mj_rnePostConstraint runs after each step).</summary>
    protected virtual bool NeedsContactForces => false;

    /// <summary>Perturbs the rest pose (qpos holds qpos0, qvel zeros) to start an episode.</summary>
    protected abstract void InitialState(Span<double> qpos, Span<double> qvel, Rng rng);

    /// <summary>The step's reward, whether the task ended (a fall) and whether it met its success condition.</summary>
    /// <param name="before">The torso's position before the step.</param>
    /// <param name="ctrl">The motors' controls in [-1, 1] (the control cost's argument).</param>
    protected abstract (double Reward, bool Terminated, bool Success) Score((double X, double Y, double Z) before, ReadOnlySpan<double> ctrl);

    protected abstract void Observe(Span<float> observation);

    /// <summary>sum(ctrl^2), the control costs' sum of squares.</summary>
    protected static double SumOfSquares(ReadOnlySpan<double> x)
    {
        double s = 0;
        foreach (double v in x) s += v * v;
        return s;
    }

    public void Dispose()
    {
        Data.Dispose();
        if (_ownsModel) Model.Dispose();
    }
}

/// <summary>What every MuJoCo env has, whatever its task type.</summary>
public interface IMujocoEnv : IEnv
{
    /// <summary>Seconds of simulated time per env step.</summary>
    double Dt { get; }
    MujocoData Simulation { get; }
    /// <summary>How pictures look at the body: a camera aimed at the torso from this far (m) and this elevation (degrees).</summary>
    (double Distance, double Elevation) Camera { get; }
}

/// <summary>Episodes that MuJoCo envs ended early because the simulation went unstable (a run logs them per iteration).</summary>
public static class MujocoInstability
{
    static long _episodes;

    /// <summary>Such episodes so far, over the whole process.</summary>
    public static long Episodes => Interlocked.Read(ref _episodes);

    internal static void Count() => Interlocked.Increment(ref _episodes);
}

/// <summary>The MJCF models shipped with MetaRl, compiled once per process and shared by the envs that only read them.</summary>
public static class MujocoModels
{
    static readonly Lock Gate = new();
    static readonly Dictionary<string, MujocoModel> Shared = [];

    /// <summary>The MJCF text of a built-in model ("half_cheetah", "ant", "walker2d").</summary>
    public static string Xml(string name)
    {
        using var stream = typeof(MujocoModels).Assembly.GetManifestResourceStream($"Models.{name}.xml")
            ?? throw new ArgumentException($"no built-in MuJoCo model '{name}'", nameof(name));
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>The process's one compiled copy of a built-in model; never disposed (envs share it).</summary>
    public static MujocoModel Get(string name)
    {
        lock (Gate)
        {
            if (!Shared.TryGetValue(name, out var model)) Shared[name] = model = MujocoModel.FromXml(Xml(name), $"{name}.xml");
            return model;
        }
    }
}
