using System.Globalization;
using MetaRl.Envs.Bandits;
using MetaRl.Envs.GridWorld;
using MetaRl.Envs.Mujoco;
using MetaRl.Envs.Navigation;
using MetaRl.Envs.Suites;
using MetaRl.Envs.TabularMdp;

namespace MetaRl.Envs;

/// <summary>The task distributions known by name to runs, configs and the CLI; open to the library user's own families.</summary>
public static class EnvRegistry
{
    static readonly Dictionary<string, Func<ITaskDistribution>> Factories = new(StringComparer.Ordinal)
    {
        ["2d-navigation"] = () => new Navigation2DDistribution(),
        ["sparse-point-robot"] = () => new SparsePointRobotDistribution(),
        ["bandit-k5"] = () => new BernoulliBanditDistribution(5),
        ["bandit-k10"] = () => new BernoulliBanditDistribution(10),
        ["bandit-k50"] = () => new BernoulliBanditDistribution(50),
        ["tabular-mdp"] = () => new RandomMdpDistribution(),
        ["gridworld"] = () => new GridWorldDistribution(),
        ["halfcheetah-vel"] = () => new HalfCheetahVelDistribution(),
        ["halfcheetah-dir"] = () => new HalfCheetahDirDistribution(),
        ["ant-dir"] = () => new AntDirDistribution(),
        ["ant-dir-2d"] = () => new AntDir2DDistribution(),
        ["ant-goal"] = () => new AntGoalDistribution(),
        ["walker-params"] = () => new WalkerParamsDistribution(),
        ["point-tasks"] = () => new PointTaskFamily(),
    };

    // The multi-task suites are task families too (their tasks are the train and test split), by their names.
    static EnvRegistry()
    {
        foreach (var (name, make) in SuiteRegistry.BuiltIn) Factories[name] = make;
    }

    /// <summary>
    /// The reference implementations' env ids (a config's <c>env-name</c>) with the family they name here and the
    /// <c>env-kwargs</c> that family fixes (pytorch-maml-rl's configs/maml/2d-navigation.yaml: goals in [low, high]^2).
    /// </summary>
    static readonly Dictionary<string, (string Name, Dictionary<string, double> Kwargs)> ReferenceIds = new(StringComparer.Ordinal)
    {
        ["2DNavigation-v0"] = ("2d-navigation", new() { ["low"] = -Navigation2DDistribution.Half, ["high"] = Navigation2DDistribution.Half }),
        // configs/maml/halfcheetah-vel.yaml and halfcheetah-dir.yaml: actions scaled by 10, 100-step episodes.
        ["HalfCheetahVel-v2"] = ("halfcheetah-vel", new()
        {
            ["low"] = HalfCheetahVelDistribution.Low, ["high"] = HalfCheetahVelDistribution.High,
            ["normalization_scale"] = HalfCheetahEnv<VelocityTask>.ActionScale10, ["max_episode_steps"] = HalfCheetahEnv<VelocityTask>.EpisodeSteps,
        }),
        ["HalfCheetahDir-v2"] = ("halfcheetah-dir", new()
        {
            ["normalization_scale"] = HalfCheetahEnv<DirectionTask>.ActionScale10, ["max_episode_steps"] = HalfCheetahEnv<DirectionTask>.EpisodeSteps,
        }),
        ["AntDir-v2"] = ("ant-dir", new() { ["normalization_scale"] = 10, ["max_episode_steps"] = AntDirEnv<DirectionTask>.EpisodeSteps }),
    };

    public static IReadOnlyList<string> Names => Factories.Keys.ToList();

    public static ITaskDistribution Create(string name) => Factories.TryGetValue(name, out var make)
        ? make()
        : throw new UsageException($"unknown env '{name}'; valid envs: {string.Join(", ", Names)}");

    /// <summary>Adds a task family of the user's own, so that runs of it resume, evaluate and plot by name like a built-in's.</summary>
    public static void Register(string name, Func<ITaskDistribution> factory)
    {
        if (!Factories.TryAdd(name, factory)) throw new ArgumentException($"an env named '{name}' is already registered", nameof(name));
    }

    /// <summary>
    /// The family a reference config names: its <c>env-name</c> (a reference id such as 2DNavigation-v0, or one of
    /// ours), with its <c>env-kwargs</c> checked against what that family fixes.
    /// </summary>
    public static string FromReference(string envName, IReadOnlyDictionary<string, string> kwargs)
    {
        if (Factories.ContainsKey(envName))
        {
            if (kwargs.Count > 0) throw new UsageException($"env-kwargs: {envName} takes no keyword arguments; got {string.Join(", ", kwargs.Keys)}");
            return envName;
        }
        if (!ReferenceIds.TryGetValue(envName, out var reference))
            throw new UsageException($"config key 'env-name': unknown env '{envName}'; valid: {string.Join(", ", ReferenceIds.Keys.Concat(Names))}");
        foreach (var (key, text) in kwargs)
        {
            if (!reference.Kwargs.TryGetValue(key, out double fixedValue))
                throw new UsageException($"env-kwargs.{key}: {envName} ({reference.Name}) takes {string.Join(", ", reference.Kwargs.Keys)}");
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || Math.Abs(v - fixedValue) > 1e-9)
                throw new UsageException($"env-kwargs.{key}: {reference.Name} is built with {key} = {fixedValue.ToString(CultureInfo.InvariantCulture)} only; got '{text}'");
        }
        return reference.Name;
    }
}
