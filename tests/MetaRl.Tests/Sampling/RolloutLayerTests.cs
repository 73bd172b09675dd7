using MetaRl.Envs;
using MetaRl.Sampling;
using MetaRl.Tests.Experiments;

namespace MetaRl.Tests.Sampling;

/// <summary>The rollout layer: disposable vector envs, the collector by episodes and by a step budget, the replay buffer, bootstrapping at truncation.</summary>
public class RolloutLayerTests
{
    /// <summary>Moves +0.1 every step; remembers how many steps each env took in its current run (its state).</summary>
    sealed class ConstantAgent : IRolloutAgent
    {
        public int ObservationSize => 1;
        public int ActionSize => 1;
        public int RecordSize => 1;
        public int Resets;
        public object? InitialState(int envs) => new int[envs];

        public object? Act(in StepView step, float[] records, float[] actions, object? state, Rng rng)
        {
            var steps = (int[])state!;
            for (int e = 0; e < step.Count; e++) { records[e] = step.Observations[e]; actions[e] = 0.1f; steps[e]++; }
            return state;
        }

        public void ResetState(object? state, int env) { ((int[])state!)[env] = 0; Resets++; }
    }

    sealed class Transitions : ITransitionSink
    {
        public readonly List<(int Env, float Obs, float Reward, float Next, bool Terminated, bool Truncated)> All = [];
        public void Add(int env, ReadOnlySpan<float> observation, ReadOnlySpan<float> action, float reward, ReadOnlySpan<float> nextObservation, bool terminated, bool truncated) =>
            All.Add((env, observation[0], reward, nextObservation[0], terminated, truncated));
    }

    static IVectorEnv Envs(params float[] targets) => new LineWalkDistribution().CreateVectorEnv(targets.Select(t => (object)new LineTarget(t)).ToList());

    [Fact]
    public void EpisodesCarryOverFromOneCallToTheNextAndEndWithTheirFinalObservation()
    {
        using var envs = Envs(1f, -1f);
        var sink = new Transitions();
        using (var collector = new StepCollector(envs, new ConstantAgent(), new Rng(1)))
        {
            collector.Collect(7, sink);
            collector.Collect(6, sink); // 13 steps: one 10-step episode and 3 steps of the next, in each env
            Assert.Equal(26, collector.Steps);
            var finished = collector.TakeFinishedReturns(); // sum of -|0.1 (s + 1) - target| over s < 10
            Assert.Equal(2, finished.Count);
            Assert.Equal(-4.5, finished[0], 4);
            Assert.Equal(-15.5, finished[1], 4);
            Assert.Empty(collector.TakeFinishedReturns());
        }
        var env0 = sink.All.Where(x => x.Env == 0).ToList();
        Assert.Equal(13, env0.Count);
        for (int s = 0; s < 13; s++)
        {
            float x = 0.1f * ((s % 10) + 1); // the walked distance after the step
            Assert.Equal(x, env0[s].Next, 5);
            Assert.Equal(-MathF.Abs(x - 1f), env0[s].Reward, 5);
            Assert.Equal(s == 9, env0[s].Truncated);
            Assert.False(env0[s].Terminated);
        }
        Assert.Equal(0f, env0[10].Obs); // reset after the time limit: the next episode starts at 0
    }

    [Fact]
    public void ARunOfSeveralEpisodesKeepsTheAgentsStateAndANewTaskRestartsIt()
    {
        using var envs = Envs(0.5f);
        var agent = new ConstantAgent();
        using var collector = new StepCollector(envs, agent, new Rng(2), episodesPerRun: 2);
        collector.Collect(25, new Transitions());
        Assert.Equal(1, agent.Resets); // after 20 steps (two episodes), not after 10
        collector.SetTask(0, new LineTarget(-0.5f));
        Assert.Equal(2, agent.Resets);
    }

    [Fact]
    public void TheReplayBufferOverwritesTheOldestAndSamplesWhatItHolds()
    {
        var buffer = new ReplayBuffer(capacity: 4, observationSize: 1, actionSize: 1);
        for (int i = 0; i < 6; i++) buffer.Add(0, [i], [0], reward: i, [i + 1], terminated: i == 5, truncated: false);
        Assert.Equal(4, buffer.Count);
        var (obs, _, rewards, next, terminated) = buffer.Sample(200, new Rng(3));
        var seen = rewards.data<float>().ToArray();
        Assert.Equal([2f, 3f, 4f, 5f], seen.Distinct().Order().ToArray()); // 0 and 1 were overwritten
        Assert.Equal(seen, obs.data<float>().ToArray());
        Assert.Equal(seen.Select(r => r + 1).ToArray(), next.data<float>().ToArray());
        Assert.Equal(seen.Select(r => r == 5 ? 1f : 0f).ToArray(), terminated.data<float>().ToArray());
    }

    [Fact]
    public void EpisodeBatchesRecordTruncationAndTheFinalObservation()
    {
        var dist = new LineWalkDistribution();
        using var sampler = new Sampler(dist);
        var policy = new MetaRl.Policies.GaussianMlpPolicy(1, (Box)dist.ActionSpace, [4], new Rng(4));
        var batch = sampler.Sample(policy, [new LineTarget(0.3f)], 3, new Rng(5), deterministic: true);
        Assert.All(batch.Truncated, Assert.True); // every episode reached the 10-step limit
        for (int e = 0; e < 3; e++)
        {
            float walked = 0;
            for (int t = 0; t < 10; t++) walked += Math.Clamp(batch.Actions[t * 3 + e], -0.5f, 0.5f);
            Assert.Equal(walked, batch.FinalObservations[e], 4);
        }
    }

    [Fact]
    public void GaeBootstrapsATruncatedEpisodeFromItsFinalValueAndNotATerminatedOne()
    {
        // Two one-step episodes with reward 1 and V(s0) = 0.5: the first was truncated with V(s_T) = 2, the second terminated.
        var b = new EpisodeBatch(1, 2, 1, 1, [0, 0]);
        b.Rewards[0] = b.Rewards[1] = 1; b.Mask[0] = b.Mask[1] = 1; b.Lengths[0] = b.Lengths[1] = 1;
        b.Truncated[0] = true;
        var adv = Advantages.Gae(b, [0.5f, 0.5f], gamma: 0.9, lambda: 0.95, finalValues: [2f, 7f]);
        Assert.Equal(1 + 0.9f * 2 - 0.5f, adv[0], 5); // 2.3
        Assert.Equal(1 - 0.5f, adv[1], 5); // the terminated one ignores its final value
        Assert.Equal([0.5f, 0.5f], Advantages.Gae(b, [0.5f, 0.5f], 0.9, 0.95)); // the references' treatment: V = 0 after the end
    }

    sealed class CountingEnv(LineTarget task) : ITaskEnv<LineTarget>, IDisposable
    {
        readonly LineWalkEnv _inner = new(task);
        public static int Disposed;
        public LineTarget Task { get => _inner.Task; set => _inner.Task = value; }
        public Space ObservationSpace => _inner.ObservationSpace;
        public Space ActionSpace => _inner.ActionSpace;
        public int MaxEpisodeSteps => _inner.MaxEpisodeSteps;
        public void Reset(int? seed, Span<float> observation) => _inner.Reset(seed, observation);
        public StepResult Step(ReadOnlySpan<float> action, Span<float> observation) => _inner.Step(action, observation);
        public void Dispose() => Interlocked.Increment(ref Disposed);
    }

    sealed class CountingFamily : TaskDistribution<LineTarget>
    {
        readonly LineWalkDistribution _line = new();
        public override string Name => "counting";
        public override string Description => "line walk whose envs count their disposals";
        public override Space ObservationSpace => _line.ObservationSpace;
        public override Space ActionSpace => _line.ActionSpace;
        public override int MaxEpisodeSteps => _line.MaxEpisodeSteps;
        public override IReadOnlyList<LineTarget> Sample(int n, Rng rng) => _line.Sample(n, rng);
        public override IReadOnlyList<LineTarget> SampleOutOfDistribution(int n, Rng rng) => _line.SampleOutOfDistribution(n, rng);
        public override ITaskEnv<LineTarget> CreateEnv(LineTarget task, Rng rng) => new CountingEnv(task);
    }

    [Fact]
    public void ASamplerDisposesTheEnvsItNoLongerUses()
    {
        var family = new CountingFamily();
        var policy = new MetaRl.Policies.GaussianMlpPolicy(1, (Box)family.ActionSpace, [4], new Rng(6));
        int before = CountingEnv.Disposed;
        var sampler = new Sampler(family);
        sampler.Sample(policy, family.Sample(2, new Rng(7)), 3, new Rng(8)); // 6 envs
        sampler.Sample(policy, family.Sample(2, new Rng(9)), 3, new Rng(8)); // the same 6, switched to new tasks
        Assert.Equal(before, CountingEnv.Disposed);
        sampler.Sample(policy, family.Sample(1, new Rng(9)), 2, new Rng(8)); // 2 envs: the 6 are disposed
        Assert.Equal(before + 6, CountingEnv.Disposed);
        sampler.Dispose();
        Assert.Equal(before + 8, CountingEnv.Disposed);
    }
}

public class PpoBootstrapTests
{
    [Fact]
    public void PpoBootstrapsAtTruncationOnlyWhenAsked()
    {
        // 2D navigation's episodes end at the 100-step limit: bootstrapping there changes the value targets.
        double ValueLoss(string bootstrap)
        {
            using var run = new MetaRl.Experiments.TrainingRun("ppo", "2d-navigation",
                new Dictionary<string, string> { ["hidden-sizes"] = "8,8", ["batch-size"] = "4", ["bootstrap-truncation"] = bootstrap }, seed: 3);
            run.RunIteration();
            return run.RunIteration().Stats["value_loss"];
        }
        Assert.NotEqual(ValueLoss("false"), ValueLoss("true"));
        Assert.Equal(ValueLoss("false"), ValueLoss("false"));
    }
}
