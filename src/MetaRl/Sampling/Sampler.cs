using System.Runtime.CompilerServices;

namespace MetaRl.Sampling;

/// <summary>
/// Collects episodes of an MLP policy for all tasks of a meta-batch at once: tasks x episodes envs, one episode
/// each, one batched policy forward per time step (through the <see cref="Collector"/>). Envs are kept between
/// calls and switched to the new tasks (disposed and rebuilt when the batch changes size), and every env is
/// reseeded from the caller's generator, so a seed fixes the whole batch.
/// </summary>
public sealed class Sampler(ITaskDistribution distribution) : IDisposable
{
    readonly Collector _collector = new();
    IVectorEnv? _envs;

    public ITaskDistribution Distribution => distribution;

    public EpisodeBatch Sample(Policy policy, IReadOnlyList<object> tasks, int episodesPerTask, Rng rng, ParameterSet? parameters = null, bool deterministic = false)
    {
        if (tasks.Count == 0) throw new ArgumentException("need at least one task", nameof(tasks));
        if (episodesPerTask < 1) throw new ArgumentOutOfRangeException(nameof(episodesPerTask), episodesPerTask, "must be >= 1");
        int n = tasks.Count * episodesPerTask;
        var taskIndex = new int[n];
        for (int e = 0; e < n; e++) taskIndex[e] = e / episodesPerTask;
        _envs = VectorEnvs.For(distribution, taskIndex.Select(k => tasks[k]).ToList(), _envs);
        if (policy.ObservationSize != _envs.ObservationSize || policy.ActionSize != _envs.ActionSize)
            throw new ArgumentException($"policy takes {policy.ObservationSize} observation floats and gives {policy.ActionSize} action floats; env {distribution.Name} has {_envs.ObservationSize} and {_envs.ActionSize}");

        var batch = new EpisodeBatch(distribution.MaxEpisodeSteps, n, _envs.ObservationSize, _envs.ActionSize, taskIndex);
        _collector.RunEpisodes(_envs, new PolicyAgent(policy, parameters, deterministic), episodesPerEnv: 1, batch.Horizon, rng, batch);
        return batch;
    }

    public void Dispose() => _envs?.Dispose();

    /// <summary>An MLP policy as a collector's agent: no state; it records the observations it acted on.</summary>
    sealed class PolicyAgent(Policy policy, ParameterSet? parameters, bool deterministic) : IRolloutAgent
    {
        public int ObservationSize => policy.ObservationSize;
        public int ActionSize => policy.ActionSize;
        public int RecordSize => policy.ObservationSize;
        public object? InitialState(int envs) => null;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)] // the collector's hot path (see Collector.RunEpisodes)
        public object? Act(in StepView step, float[] records, float[] actions, object? state, Rng rng)
        {
            step.Observations.CopyTo(records);
            policy.Act(records, step.Count, actions, rng, parameters, deterministic);
            return null;
        }
    }
}

/// <summary>Vector envs kept across a sampler's calls.</summary>
public static class VectorEnvs
{
    /// <summary>
    /// <paramref name="current"/> switched to <paramref name="tasks"/> when it has one env per task; otherwise it is
    /// disposed (its envs may hold native memory) and a new vector env is made.
    /// </summary>
    public static IVectorEnv For(ITaskDistribution distribution, IReadOnlyList<object> tasks, IVectorEnv? current)
    {
        if (current is not null && current.NumEnvs == tasks.Count)
        {
            for (int e = 0; e < tasks.Count; e++) current.SetTask(e, tasks[e]);
            return current;
        }
        current?.Dispose();
        return distribution.CreateVectorEnv(tasks);
    }
}
