using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace MetaRl.Sampling;

/// <summary>
/// A ring of transitions (s, a, r, s', terminated) for off-policy learners, held in float arrays (nothing is allocated
/// per transition); when full, the oldest are overwritten. The arrays grow by doubling up to the capacity, so a
/// learner with a buffer per task (PEARL: 100 tasks of up to 1e6 each, as oyster) holds what it stored, not what it
/// might store. Truncated transitions are kept with terminated = false, so a learner bootstraps from s' there (the
/// time limit is not part of the task). Saved whole in checkpoints: a resumed run samples what an uninterrupted one would.
/// </summary>
public sealed class ReplayBuffer(int capacity, int observationSize, int actionSize) : ITransitionSink
{
    const int InitialRoom = 1024;
    float[] _observations = [], _nextObservations = [], _actions = [], _rewards = [], _terminated = [];
    float[] _o = [], _o2 = [], _a = [], _r = [], _d = [];
    int _next, _room;

    public int Capacity { get; } = capacity >= 1 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "must be >= 1");
    public int ObservationSize => observationSize;
    public int ActionSize => actionSize;
    public int Count { get; private set; }

    public void Add(int env, ReadOnlySpan<float> observation, ReadOnlySpan<float> action, float reward, ReadOnlySpan<float> nextObservation, bool terminated, bool truncated)
    {
        if (_next == _room) Grow(_next + 1);
        observation.CopyTo(_observations.AsSpan(_next * observationSize, observationSize));
        nextObservation.CopyTo(_nextObservations.AsSpan(_next * observationSize, observationSize));
        action.CopyTo(_actions.AsSpan(_next * actionSize, actionSize));
        _rewards[_next] = reward;
        _terminated[_next] = terminated ? 1 : 0;
        _next = (_next + 1) % capacity;
        Count = Math.Min(Count + 1, capacity);
    }

    /// <summary>
    /// Every transition of episode <paramref name="e"/> of a batch; <paramref name="rewards"/> replaces the batch's
    /// rewards where given ([T, N] like them: a dense reward for a critic where the batch holds sparse ones).
    /// </summary>
    public void AddEpisode(EpisodeBatch batch, int e, float[]? rewards = null)
    {
        int n = batch.Episodes, length = batch.Lengths[e];
        rewards ??= batch.Rewards;
        for (int t = 0; t < length; t++)
        {
            bool last = t + 1 == length;
            // After the last step: the final observation where the time limit cut the episode; a terminal one is never bootstrapped from.
            var next = !last ? batch.Observations.AsSpan(((t + 1) * n + e) * observationSize, observationSize)
                : batch.FinalObservations.AsSpan(e * observationSize, observationSize);
            Add(e, batch.Observations.AsSpan((t * n + e) * observationSize, observationSize), batch.Actions.AsSpan((t * n + e) * actionSize, actionSize),
                rewards[t * n + e], next, terminated: last && !batch.Truncated[e], truncated: last && batch.Truncated[e]);
        }
    }

    /// <summary>Room for at least <paramref name="needed"/> transitions: double the arrays (at most to the capacity).</summary>
    void Grow(int needed)
    {
        int room = Math.Max(_room, Math.Min(capacity, InitialRoom));
        while (room < needed) room = (int)Math.Min(capacity, 2L * room);
        Array.Resize(ref _observations, room * observationSize);
        Array.Resize(ref _nextObservations, room * observationSize);
        Array.Resize(ref _actions, room * actionSize);
        Array.Resize(ref _rewards, room);
        Array.Resize(ref _terminated, room);
        _room = room;
    }

    /// <summary>Forgets every transition (PEARL's encoder buffer is refilled for each task at each collection).</summary>
    public void Clear() => (Count, _next) = (0, 0);

    /// <summary>
    /// Writes a uniform minibatch (with replacement) into row <paramref name="row"/> onward of the given arrays
    /// (observations [.., obs], actions [.., act], rewards, next observations, terminated as 0/1): several buffers fill one batch.
    /// </summary>
    public void SampleInto(int batchSize, Rng rng, int row, float[] observations, float[] actions, float[] rewards, float[] nextObservations, float[] terminated)
    {
        if (Count == 0) throw new InvalidOperationException("the replay buffer is empty");
        for (int b = row; b < row + batchSize; b++)
        {
            int i = rng.NextInt(Count);
            _observations.AsSpan(i * observationSize, observationSize).CopyTo(observations.AsSpan(b * observationSize));
            _nextObservations.AsSpan(i * observationSize, observationSize).CopyTo(nextObservations.AsSpan(b * observationSize));
            _actions.AsSpan(i * actionSize, actionSize).CopyTo(actions.AsSpan(b * actionSize));
            rewards[b] = _rewards[i]; terminated[b] = _terminated[i];
        }
    }

    /// <summary>A uniform minibatch (with replacement) as tensors: observations [B, obs], actions [B, act], rewards [B], next observations [B, obs], terminated [B].</summary>
    public (Tensor Observations, Tensor Actions, Tensor Rewards, Tensor NextObservations, Tensor Terminated) Sample(int batchSize, Rng rng)
    {
        if (_r.Length != batchSize)
            (_o, _o2, _a, _r, _d) = (new float[batchSize * observationSize], new float[batchSize * observationSize], new float[batchSize * actionSize], new float[batchSize], new float[batchSize]);
        SampleInto(batchSize, rng, 0, _o, _a, _r, _o2, _d);
        return (tensor(_o, [batchSize, observationSize]), tensor(_a, [batchSize, actionSize]), tensor(_r), tensor(_o2, [batchSize, observationSize]), tensor(_d));
    }

    /// <summary>The stored transitions and the ring's position (not the empty rest of the capacity).</summary>
    public void Save(BinaryWriter w)
    {
        w.Write(capacity); w.Write(observationSize); w.Write(actionSize); w.Write(Count); w.Write(_next);
        w.Write(MemoryMarshal.AsBytes(_observations.AsSpan(0, Count * observationSize)));
        w.Write(MemoryMarshal.AsBytes(_nextObservations.AsSpan(0, Count * observationSize)));
        w.Write(MemoryMarshal.AsBytes(_actions.AsSpan(0, Count * actionSize)));
        w.Write(MemoryMarshal.AsBytes(_rewards.AsSpan(0, Count)));
        w.Write(MemoryMarshal.AsBytes(_terminated.AsSpan(0, Count)));
    }

    public void Load(BinaryReader r)
    {
        int c = r.ReadInt32(), o = r.ReadInt32(), a = r.ReadInt32();
        if (c != capacity || o != observationSize || a != actionSize)
            throw new InvalidDataException($"checkpoint's replay buffer holds {c} transitions of {o} observation and {a} action floats; this one {capacity} of {observationSize} and {actionSize}");
        Count = r.ReadInt32(); _next = r.ReadInt32();
        if (Count < 0 || Count > capacity || _next < 0 || _next >= capacity) throw new InvalidDataException("checkpoint's replay buffer position is out of range");
        if (Count > _room) Grow(Count);
        Read(r, _observations.AsSpan(0, Count * observationSize));
        Read(r, _nextObservations.AsSpan(0, Count * observationSize));
        Read(r, _actions.AsSpan(0, Count * actionSize));
        Read(r, _rewards.AsSpan(0, Count));
        Read(r, _terminated.AsSpan(0, Count));
    }

    static void Read(BinaryReader r, Span<float> into) => r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(into));
}
