namespace MetaRl.Algorithms.Classical;

/// <summary>
/// The Bayesian model of one tabular MDP matching the RL2 task distribution: P(.|s,a) ~ Dirichlet(1, ..., 1)
/// updated by transition counts, and mean rewards mu(s,a) ~ N(1, 1) with known reward noise variance 1, so
/// the posterior of mu(s,a) after n rewards summing to R is N((1 + R) / (1 + n), 1 / (1 + n)).
/// The prior mean of mu can be changed (<c>priorRewardMean</c>): RL2's own baselines (Osband's TabulaRL agents
/// with their defaults) used N(0, 1), which makes untried actions look worse than they are.
/// Models are laid out as <see cref="MetaRl.Envs.TabularMdp.MdpTask"/>: P[(s * A + a) * S + s'], r[s * A + a].
/// </summary>
public sealed class MdpPosterior
{
    public const double TransitionPrior = 1.0;
    public const double DefaultPriorRewardMean = 1.0;
    public const double PriorRewardVariance = 1.0;
    public const double RewardNoiseVariance = 1.0;

    readonly int[] _visits, _transitionCounts;
    readonly double[] _rewardSums;

    public MdpPosterior(int states, int actions, double priorRewardMean = DefaultPriorRewardMean)
    {
        if (!double.IsFinite(priorRewardMean)) throw new ArgumentOutOfRangeException(nameof(priorRewardMean), priorRewardMean, "must be finite");
        PriorRewardMean = priorRewardMean;
        if (states < 1) throw new ArgumentOutOfRangeException(nameof(states), states, "must be >= 1");
        if (actions < 1) throw new ArgumentOutOfRangeException(nameof(actions), actions, "must be >= 1");
        States = states; Actions = actions;
        _visits = new int[states * actions];
        _transitionCounts = new int[states * actions * states];
        _rewardSums = new double[states * actions];
    }

    public int States { get; }
    public double PriorRewardMean { get; }
    public int Actions { get; }
    public int ModelSize => States * Actions * States;

    public int Visits(int s, int a) => _visits[s * Actions + a];
    public int TransitionCount(int s, int a, int next) => _transitionCounts[(s * Actions + a) * States + next];
    public double RewardSum(int s, int a) => _rewardSums[s * Actions + a];

    public void Observe(int s, int a, double reward, int next)
    {
        if ((uint)s >= States || (uint)next >= States) throw new ArgumentOutOfRangeException(nameof(s), $"states must be in [0, {States - 1}]");
        if ((uint)a >= Actions) throw new ArgumentOutOfRangeException(nameof(a), a, $"actions must be in [0, {Actions - 1}]");
        _visits[s * Actions + a]++;
        _transitionCounts[(s * Actions + a) * States + next]++;
        _rewardSums[s * Actions + a] += reward;
    }

    double Precision(int sa) => 1 / PriorRewardVariance + _visits[sa] / RewardNoiseVariance;

    /// <summary>Posterior mean of mu(s, a).</summary>
    public double MeanReward(int s, int a)
    {
        int sa = s * Actions + a;
        return (PriorRewardMean / PriorRewardVariance + _rewardSums[sa] / RewardNoiseVariance) / Precision(sa);
    }

    /// <summary>Posterior standard deviation of mu(s, a).</summary>
    public double RewardStd(int s, int a) => 1 / Math.Sqrt(Precision(s * Actions + a));

    /// <summary>Posterior mean of P(next | s, a): (1 + count) / (S + n).</summary>
    public double MeanTransition(int s, int a, int next) =>
        (TransitionPrior + TransitionCount(s, a, next)) / (States * TransitionPrior + Visits(s, a));

    /// <summary>Writes the posterior-mean model.</summary>
    public void MeanModel(double[] transitions, double[] rewards)
    {
        CheckModel(transitions, rewards);
        for (int s = 0; s < States; s++)
            for (int a = 0; a < Actions; a++)
            {
                rewards[s * Actions + a] = MeanReward(s, a);
                for (int next = 0; next < States; next++) transitions[(s * Actions + a) * States + next] = MeanTransition(s, a, next);
            }
    }

    /// <summary>Writes one model drawn from the posterior (Dirichlet rows via Gamma draws, Normal means).</summary>
    public void SampleModel(Rng rng, double[] transitions, double[] rewards)
    {
        CheckModel(transitions, rewards);
        for (int s = 0; s < States; s++)
            for (int a = 0; a < Actions; a++)
            {
                int sa = s * Actions + a;
                var row = transitions.AsSpan(sa * States, States);
                double sum = 0;
                for (int next = 0; next < States; next++) sum += row[next] = rng.Gamma(TransitionPrior + _transitionCounts[sa * States + next]);
                for (int next = 0; next < States; next++) row[next] /= sum;
                rewards[sa] = rng.Normal(MeanReward(s, a), RewardStd(s, a));
            }
    }

    void CheckModel(double[] transitions, double[] rewards)
    {
        if (transitions.Length != ModelSize) throw new ArgumentException($"expected {ModelSize} transition probabilities", nameof(transitions));
        if (rewards.Length != States * Actions) throw new ArgumentException($"expected {States * Actions} rewards", nameof(rewards));
    }
}
