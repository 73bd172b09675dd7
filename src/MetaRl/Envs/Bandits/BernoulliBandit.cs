
namespace MetaRl.Envs.Bandits;

/// <summary>A k-armed Bernoulli bandit: arm i pays 1 with probability Probs[i].</summary>
public sealed record BanditTask(double[] Probs)
{
    public override string ToString() => $"BanditTask(p = [{string.Join(", ", Probs.Select(p => p.ToString("0.###")))}])";
    public int BestArm => Array.IndexOf(Probs, Probs.Max());
}

/// <summary>One pull is one episode (RL2, Table 1): the observation is a constant, the episode ends after the pull.</summary>
public sealed class BernoulliBanditEnv(BanditTask task, Rng rng) : ITaskEnv<BanditTask>, IMeanReward
{
    Rng _rng = rng;
    bool _pulled;

    public BanditTask Task { get; set; } = task;
    public Space ObservationSpace { get; } = Box.Uniform(1, 1, 1);
    public Space ActionSpace => new Discrete(Task.Probs.Length);
    public int MaxEpisodeSteps => 1;

    public void Reset(int? seed, Span<float> observation)
    {
        _rng = EnvChecks.Seeded(_rng, seed);
        _pulled = false;
        observation[0] = 1;
    }

    public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        if (_pulled) throw new InvalidOperationException("the episode is over; call Reset first");
        int arm = EnvChecks.DiscreteAction(action, Task.Probs.Length);
        _pulled = true;
        observation[0] = 1;
        float reward = _rng.NextDouble() < Task.Probs[arm] ? 1f : 0f;
        return new StepResult(reward, Terminated: false, Truncated: true, Success: arm == Task.BestArm);
    }

    public double MeanReward(ReadOnlySpan<float> action) => Task.Probs[EnvChecks.DiscreteAction(action, Task.Probs.Length)];
}

/// <summary>
/// Bernoulli bandits with p_i ~ U[0, 1] per arm (RL2, Table 1). Out of distribution: p_i ~ Beta(0.5, 0.5),
/// which puts most arms near 0 or 1.
/// </summary>
public sealed class BernoulliBanditDistribution(int arms = 5) : TaskDistribution<BanditTask>, ITaskDescriptors
{
    public int Arms { get; } = arms >= 2 ? arms : throw new ArgumentOutOfRangeException(nameof(arms), arms, "a bandit needs at least 2 arms");
    public override string Name => $"bandit-k{Arms}";
    public override string Description => $"{Arms}-armed Bernoulli bandit, p ~ U[0,1] per arm, one pull per episode (RL2 Table 1)";
    public override Space ObservationSpace { get; } = Box.Uniform(1, 1, 1);
    public override Space ActionSpace => new Discrete(Arms);
    public override int MaxEpisodeSteps => 1;

    public override IReadOnlyList<BanditTask> Sample(int n, Rng rng)
    {
        CheckCount(n);
        return Enumerable.Range(0, n).Select(_ => new BanditTask(Enumerable.Range(0, Arms).Select(_ => rng.NextDouble()).ToArray())).ToList();
    }

    public override IReadOnlyList<BanditTask> SampleOutOfDistribution(int n, Rng rng)
    {
        CheckCount(n);
        return Enumerable.Range(0, n).Select(_ => new BanditTask(Enumerable.Range(0, Arms).Select(_ => rng.Beta(0.5, 0.5)).ToArray())).ToList();
    }

    public int DescriptorSize => Arms;

    /// <summary>The arms' probabilities, standardised by U[0, 1]'s mean 1/2 and standard deviation 1/sqrt(12).</summary>
    public void Describe(object task, Span<float> descriptor)
    {
        var probs = ((BanditTask)task).Probs;
        for (int i = 0; i < Arms; i++) descriptor[i] = (float)((probs[i] - 0.5) * Math.Sqrt(12));
    }

    public override ITaskEnv<BanditTask> CreateEnv(BanditTask task, Rng rng)
    {
        if (task.Probs.Length != Arms) throw new ArgumentException($"task has {task.Probs.Length} arms, this distribution {Arms}", nameof(task));
        return new BernoulliBanditEnv(task, rng);
    }
}
