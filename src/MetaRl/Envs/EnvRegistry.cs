using MetaRl.Envs.Bandits;
using MetaRl.Envs.GridWorld;
using MetaRl.Envs.Navigation;
using MetaRl.Envs.TabularMdp;

namespace MetaRl.Envs;

/// <summary>The task distributions known by name to the CLI and configs.</summary>
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
    };

    public static IReadOnlyList<string> Names => Factories.Keys.ToList();

    public static ITaskDistribution Create(string name) => Factories.TryGetValue(name, out var make)
        ? make()
        : throw new UsageException($"unknown env '{name}'; valid envs: {string.Join(", ", Names)}");
}
