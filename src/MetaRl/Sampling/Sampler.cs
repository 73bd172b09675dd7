using MetaRl.Envs;
using MetaRl.Policies;
using MetaRl.Torch;

namespace MetaRl.Sampling;

/// <summary>
/// Collects episodes for all tasks of a meta-batch at once: tasks x episodes envs, one batched policy
/// forward per time step. Envs are kept between calls and switched to the new tasks, and every env is
/// reseeded from the caller's generator, so a seed fixes the whole batch.
/// </summary>
public sealed class Sampler(ITaskDistribution distribution)
{
    VectorEnv? _envs;
    float[] _obs = [], _actions = [], _rewards = [];
    bool[] _terminated = [], _truncated = [];

    public ITaskDistribution Distribution => distribution;

    public EpisodeBatch Sample(Policy policy, IReadOnlyList<object> tasks, int episodesPerTask, Rng rng, ParameterSet? parameters = null, bool deterministic = false)
    {
        if (tasks.Count == 0) throw new ArgumentException("need at least one task", nameof(tasks));
        if (episodesPerTask < 1) throw new ArgumentOutOfRangeException(nameof(episodesPerTask), episodesPerTask, "must be >= 1");
        int n = tasks.Count * episodesPerTask;
        var venv = EnvsFor(tasks, episodesPerTask);
        int obsSize = venv.ObservationSize, actSize = venv.ActionSize, horizon = distribution.MaxEpisodeSteps;
        if (policy.ObservationSize != obsSize || policy.ActionSize != actSize)
            throw new ArgumentException($"policy takes {policy.ObservationSize} observation floats and gives {policy.ActionSize} action floats; env {distribution.Name} has {obsSize} and {actSize}");

        var taskIndex = new int[n];
        for (int e = 0; e < n; e++) taskIndex[e] = e / episodesPerTask;
        var batch = new EpisodeBatch(horizon, n, obsSize, actSize, taskIndex);
        for (int e = 0; e < n; e++) venv.ResetEnv(e, rng.NextInt(int.MaxValue));

        for (int t = 0; t < horizon; t++)
        {
            int alive = 0;
            for (int e = 0; e < n; e++)
                if (!venv.IsDone(e)) { batch.Mask[t * n + e] = 1; batch.Lengths[e]++; alive++; }
            if (alive == 0) break; // every episode has ended: the rest of the batch stays masked
            var stepObs = batch.Observations.AsSpan(t * n * obsSize, n * obsSize);
            venv.Observations.CopyTo(stepObs);
            stepObs.CopyTo(_obs);
            policy.Act(_obs, n, _actions, rng, parameters, deterministic);
            _actions.AsSpan(0, n * actSize).CopyTo(batch.Actions.AsSpan(t * n * actSize));
            venv.Step(_actions, _rewards, _terminated, _truncated);
            _rewards.AsSpan(0, n).CopyTo(batch.Rewards.AsSpan(t * n, n));
            var success = venv.LastSuccess;
            for (int e = 0; e < n; e++) batch.Success[e] |= success[e];
        }
        return batch;
    }

    // Envs get a placeholder generator: every episode reseeds them from the caller's, so building them consumes nothing.
    VectorEnv EnvsFor(IReadOnlyList<object> tasks, int episodesPerTask)
    {
        int n = tasks.Count * episodesPerTask;
        if (_envs is null || _envs.NumEnvs != n)
        {
            _envs = new VectorEnv(Enumerable.Range(0, n).Select(e => distribution.CreateEnv(tasks[e / episodesPerTask], new Rng(e))).ToList());
            _obs = new float[n * _envs.ObservationSize];
            _actions = new float[n * _envs.ActionSize];
            _rewards = new float[n];
            _terminated = new bool[n];
            _truncated = new bool[n];
        }
        else
        {
            for (int e = 0; e < n; e++) distribution.SetTask(_envs[e], tasks[e / episodesPerTask]);
        }
        return _envs;
    }
}
