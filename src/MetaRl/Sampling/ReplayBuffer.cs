using static TorchSharp.torch;

namespace MetaRl.Sampling;

/// <summary>
/// A fixed-capacity ring of transitions (s, a, r, s', terminated) for off-policy learners; when full, the oldest
/// are overwritten. Truncated transitions are kept with terminated = false, so a learner bootstraps from s'
/// there (the time limit is not part of the task).
/// </summary>
public sealed class ReplayBuffer(int capacity, int observationSize, int actionSize) : ITransitionSink
{
    readonly float[] _observations = new float[capacity * observationSize], _nextObservations = new float[capacity * observationSize];
    readonly float[] _actions = new float[capacity * actionSize], _rewards = new float[capacity], _terminated = new float[capacity];
    int _next;

    public int Capacity => capacity;
    public int Count { get; private set; }

    public void Add(int env, ReadOnlySpan<float> observation, ReadOnlySpan<float> action, float reward, ReadOnlySpan<float> nextObservation, bool terminated, bool truncated)
    {
        observation.CopyTo(_observations.AsSpan(_next * observationSize, observationSize));
        nextObservation.CopyTo(_nextObservations.AsSpan(_next * observationSize, observationSize));
        action.CopyTo(_actions.AsSpan(_next * actionSize, actionSize));
        _rewards[_next] = reward;
        _terminated[_next] = terminated ? 1 : 0;
        _next = (_next + 1) % capacity;
        Count = Math.Min(Count + 1, capacity);
    }

    /// <summary>A uniform minibatch (with replacement) as tensors: observations [B, obs], actions [B, act], rewards [B], next observations [B, obs], terminated [B].</summary>
    public (Tensor Observations, Tensor Actions, Tensor Rewards, Tensor NextObservations, Tensor Terminated) Sample(int batchSize, Rng rng)
    {
        if (Count == 0) throw new InvalidOperationException("the replay buffer is empty");
        var o = new float[batchSize * observationSize];
        var o2 = new float[batchSize * observationSize];
        var a = new float[batchSize * actionSize];
        var r = new float[batchSize];
        var d = new float[batchSize];
        for (int b = 0; b < batchSize; b++)
        {
            int i = rng.NextInt(Count);
            _observations.AsSpan(i * observationSize, observationSize).CopyTo(o.AsSpan(b * observationSize));
            _nextObservations.AsSpan(i * observationSize, observationSize).CopyTo(o2.AsSpan(b * observationSize));
            _actions.AsSpan(i * actionSize, actionSize).CopyTo(a.AsSpan(b * actionSize));
            r[b] = _rewards[i]; d[b] = _terminated[i];
        }
        return (tensor(o, [batchSize, observationSize]), tensor(a, [batchSize, actionSize]), tensor(r), tensor(o2, [batchSize, observationSize]), tensor(d));
    }
}
