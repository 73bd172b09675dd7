
namespace MetaRl.Envs.TabularMdp;

/// <summary>A tabular MDP: Transitions[s, a, s'] and mean rewards RewardMeans[s, a]; rewards are N(mean, RewardStd^2).</summary>
public sealed record MdpTask(int States, int Actions, double[] Transitions, double[] RewardMeans, double RewardStd = 1.0)
{
    public double P(int s, int a, int next) => Transitions[(s * Actions + a) * States + next];
    public double R(int s, int a) => RewardMeans[s * Actions + a];
    public override string ToString() => $"MdpTask({States} states, {Actions} actions, mean reward {RewardMeans.Average():0.###})";
}

/// <summary>Starts in state 0; the observation is the one-hot state; truncated after EpisodeLength steps (RL2, Table 2).</summary>
public sealed class TabularMdpEnv(MdpTask task, int episodeLength, Rng rng) : ITaskEnv<MdpTask>, IMeanReward
{
    Rng _rng = rng;
    int _state, _t;

    public MdpTask Task { get; set; } = task;
    public int State => _state;
    public Space ObservationSpace => new Discrete(Task.States);
    public Space ActionSpace => new Discrete(Task.Actions);
    public int MaxEpisodeSteps => episodeLength;

    public void Reset(int? seed, Span<float> observation)
    {
        _rng = EnvChecks.Seeded(_rng, seed);
        _state = 0; _t = 0;
        WriteObservation(observation);
    }

    public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        if (_t >= episodeLength) throw new InvalidOperationException("the episode is over; call Reset first");
        int a = EnvChecks.DiscreteAction(action, Task.Actions);
        float reward = (float)_rng.Normal(Task.R(_state, a), Task.RewardStd);
        double u = _rng.NextDouble();
        int next = Task.States - 1;
        for (int s = 0; s < Task.States; s++)
        {
            u -= Task.P(_state, a, s);
            if (u < 0) { next = s; break; }
        }
        _state = next; _t++;
        WriteObservation(observation);
        return new StepResult(reward, Terminated: false, Truncated: _t >= episodeLength);
    }

    public double MeanReward(ReadOnlySpan<float> action) => Task.R(_state, EnvChecks.DiscreteAction(action, Task.Actions));

    void WriteObservation(Span<float> observation)
    {
        observation[..Task.States].Clear();
        observation[_state] = 1;
    }
}

/// <summary>
/// Random tabular MDPs (RL2, Table 2): P(.|s,a) ~ Dirichlet(1, ..., 1), mean rewards ~ N(1, 1), rewards
/// N(mean, 1), episodes of 10 steps from state 0. Out of distribution: near-deterministic transitions,
/// P(.|s,a) ~ Dirichlet(0.1, ..., 0.1).
/// </summary>
public sealed class RandomMdpDistribution(int states = 10, int actions = 5, int episodeLength = 10) : TaskDistribution<MdpTask>, ITaskDescriptors
{
    public int States { get; } = states >= 1 ? states : throw new ArgumentOutOfRangeException(nameof(states), states, "must be >= 1");
    public int Actions { get; } = actions >= 1 ? actions : throw new ArgumentOutOfRangeException(nameof(actions), actions, "must be >= 1");
    public override string Name => "tabular-mdp";
    public override string Description => $"random tabular MDPs, {States} states x {Actions} actions, Dirichlet(1) transitions, N(N(1,1),1) rewards, {episodeLength}-step episodes (RL2 Table 2)";
    public override Space ObservationSpace => new Discrete(States);
    public override Space ActionSpace => new Discrete(Actions);
    public override int MaxEpisodeSteps => episodeLength;

    public override IReadOnlyList<MdpTask> Sample(int n, Rng rng) => Draw(n, rng, alpha: 1.0);
    public override IReadOnlyList<MdpTask> SampleOutOfDistribution(int n, Rng rng) => Draw(n, rng, alpha: 0.1);

    IReadOnlyList<MdpTask> Draw(int n, Rng rng, double alpha)
    {
        CheckCount(n);
        var tasks = new List<MdpTask>(n);
        for (int k = 0; k < n; k++)
        {
            var p = new double[States * Actions * States];
            for (int sa = 0; sa < States * Actions; sa++) rng.Dirichlet(alpha, p.AsSpan(sa * States, States));
            var mu = new double[States * Actions];
            for (int i = 0; i < mu.Length; i++) mu[i] = rng.Normal(1, 1);
            tasks.Add(new MdpTask(States, Actions, p, mu));
        }
        return tasks;
    }

    /// <summary>
    /// The mean rewards mu(s, a) (States x Actions). Not the transitions: their States^2 x Actions probabilities
    /// (250 of the table's 300 parameters) outnumber an RL2 agent's 128 hidden units: with them in, the task loss
    /// stayed at the prior's 1.00 for 140 updates; without them it fell from the start (docs/algorithms/rl2.md,
    /// fourteenth round).
    /// </summary>
    public int DescriptorSize => States * Actions;

    /// <summary>The task's mean rewards standardised by their prior N(1, 1).</summary>
    public void Describe(object task, Span<float> descriptor)
    {
        var mu = ((MdpTask)task).RewardMeans;
        for (int i = 0; i < mu.Length; i++) descriptor[i] = (float)(mu[i] - 1);
    }

    public override ITaskEnv<MdpTask> CreateEnv(MdpTask task, Rng rng)
    {
        if (task.States != States || task.Actions != Actions)
            throw new ArgumentException($"task is {task.States}x{task.Actions}, this distribution {States}x{Actions}", nameof(task));
        return new TabularMdpEnv(task, MaxEpisodeSteps, rng);
    }
}
