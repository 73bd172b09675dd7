namespace MetaRl.Algorithms.Classical;

/// <summary>One trial = <c>horizon</c> pulls of one bandit; the agent keeps what it learned across the pulls.</summary>
public abstract class BanditAgent
{
    public abstract string Name { get; }
    /// <summary>Start of a trial: forget everything.</summary>
    public abstract void Reset(int arms, int horizon);
    /// <summary>The arm for pull <paramref name="step"/> (0..horizon-1).</summary>
    public abstract int SelectArm(int step, Rng rng);
    public abstract void Update(int arm, double reward);
}

/// <summary>
/// Shared state of the Bernoulli agents: successes and failures per arm (rewards must be 0 or 1), and the
/// arg-max with random tie-breaking they all use.
/// </summary>
public abstract class BernoulliBanditAgent : BanditAgent
{
    protected int[] Successes { get; private set; } = [];
    protected int[] Failures { get; private set; } = [];
    protected int Horizon { get; private set; }
    protected int Arms => Successes.Length;

    public override void Reset(int arms, int horizon)
    {
        if (arms < 1) throw new ArgumentOutOfRangeException(nameof(arms), arms, "must be >= 1");
        if (horizon < 1) throw new ArgumentOutOfRangeException(nameof(horizon), horizon, "must be >= 1");
        Successes = new int[arms];
        Failures = new int[arms];
        Horizon = horizon;
    }

    public override void Update(int arm, double reward)
    {
        if (reward == 1) Successes[arm]++;
        else if (reward == 0) Failures[arm]++;
        else throw new ArgumentOutOfRangeException(nameof(reward), reward, "Bernoulli agents take rewards of 0 or 1");
    }

    protected int Pulls(int arm) => Successes[arm] + Failures[arm];

    /// <summary>ln t for the UCB bonuses, with t the pulls so far in this trial (at least 1).</summary>
    protected double LogPullsSoFar() => Math.Log(Math.Max(1, Successes.Sum() + Failures.Sum()));

    /// <summary>Posterior mean of the arm's probability under the Beta(1, 1) prior.</summary>
    protected double PosteriorMean(int arm) => (Successes[arm] + 1.0) / (Pulls(arm) + 2.0);

    /// <summary>Arg-max of a per-arm score, ties at random.</summary>
    protected int ArgMax(Func<int, double> score, Rng rng)
    {
        Span<double> scores = stackalloc double[Arms];
        for (int i = 0; i < Arms; i++) scores[i] = score(i);
        return RandomTies.ArgMax(scores, rng);
    }
}

/// <summary>A uniformly random arm every pull: the floor of the table (n/2 in expectation for p ~ U[0, 1]).</summary>
public sealed class RandomBandit : BernoulliBanditAgent
{
    public override string Name => "Random";
    public override int SelectArm(int step, Rng rng) => rng.NextInt(Arms);
}

/// <summary>
/// The arm with the highest finite-horizon Gittins index for the pulls left (see <see cref="GittinsIndex"/>).
/// With more than <c>lookaheadCap</c> pulls left (default 100) it uses index(s, f, cap), an approximation:
/// the exact index for m pulls left costs O(m^2) per bisection step and many more distinct (s, f, m) keys,
/// which makes exact indices at n = 500 far slower than the rest of the table (measured on one core: about 4 ms
/// per index at m = 500 against 0.4 ms at m = 100, and an exact run needs ~1000 new indices per trial; on 40
/// paired trials of n = 500, k = 5 the capped and exact policies averaged 413.9 and 414.2). RL2's own code used a horizon-independent index with a 500-pull
/// look-ahead instead, which over-explores near the end of short trials.
/// </summary>
public sealed class GittinsBandit(int lookaheadCap = GittinsIndex.DefaultLookaheadCap) : BernoulliBanditAgent
{
    public override string Name => "Gittins";

    public override int SelectArm(int step, Rng rng)
    {
        int left = Horizon - step;
        if (left < 1) throw new ArgumentOutOfRangeException(nameof(step), step, $"the trial has {Horizon} pulls");
        return ArgMax(i => GittinsIndex.Index(Successes[i], Failures[i], left, lookaheadCap), rng);
    }
}

/// <summary>Thompson sampling: p_i ~ Beta(s_i + 1, f_i + 1), pull the arg-max.</summary>
public sealed class ThompsonSampling : BernoulliBanditAgent
{
    public override string Name => "TS";
    public override int SelectArm(int step, Rng rng) => ArgMax(i => rng.Beta(Successes[i] + 1, Failures[i] + 1), rng);
}

/// <summary>
/// Optimistic Thompson sampling (Chapelle and Li 2011; May et al. 2012): as Thompson sampling, but a sample
/// below the posterior mean is replaced by the mean, so uncertainty can only raise an arm's score.
/// RL2's Table 1 column "OTS" came from different code: it kept, of N posterior samples, the one with the
/// highest posterior density (N tuned), which tends to greedy as N grows and scores higher at short horizons.
/// </summary>
public sealed class OptimisticThompsonSampling : BernoulliBanditAgent
{
    public override string Name => "OTS";
    public override int SelectArm(int step, Rng rng) => ArgMax(i => Math.Max(rng.Beta(Successes[i] + 1, Failures[i] + 1), PosteriorMean(i)), rng);
}

/// <summary>
/// UCB1 (Auer et al. 2002) with a tuned constant: each arm once first (in random order), then the arg-max of
/// mean_i + c * sqrt(2 ln t / n_i), with the empirical mean and t the pulls so far. c = 1 is the original.
/// With as many arms as pulls it is therefore the random policy. RL2's own UCB1 differed (<see cref="Rl2Ucb1"/>):
/// no forced first pulls and c = 0 is Greedy; that is how its Table 1 shows 6.7 at n = 10.
/// </summary>
public sealed class Ucb1(double c) : BernoulliBanditAgent
{
    public double C { get; } = c >= 0 ? c : throw new ArgumentOutOfRangeException(nameof(c), c, "must be >= 0");
    public override string Name => $"UCB1(c={C})";

    public override int SelectArm(int step, Rng rng)
    {
        // Untried arms score +inf, so they come first, in random order.
        double logT = LogPullsSoFar();
        return ArgMax(i => Pulls(i) == 0 ? double.PositiveInfinity : (double)Successes[i] / Pulls(i) + C * Math.Sqrt(2 * logT / Pulls(i)), rng);
    }
}

/// <summary>
/// UCB1 as RL2's own code ran it for Table 1's "UCB1" column: the index is computed on Beta(1, 1)
/// pseudo-counts, (s + 1) / (n + 2) + c * sqrt(2 ln t / (n + 2)), with t the pulls so far (at least 1), and
/// there are no forced first pulls. Its c = 0 is <see cref="GreedyBandit"/>. The table shows both this and
/// the textbook <see cref="Ucb1"/>, so a reader can see which one the paper's figure belongs to.
/// </summary>
public sealed class Rl2Ucb1(double c) : BernoulliBanditAgent
{
    public double C { get; } = c >= 0 ? c : throw new ArgumentOutOfRangeException(nameof(c), c, "must be >= 0");
    public override string Name => $"UCB1-RL2(c={C})";

    public override int SelectArm(int step, Rng rng)
    {
        double logT = LogPullsSoFar();
        return ArgMax(i => PosteriorMean(i) + C * Math.Sqrt(2 * logT / (Pulls(i) + 2.0)), rng);
    }
}

/// <summary>With probability epsilon a uniform arm, otherwise the highest posterior mean (s + 1) / (n + 2).</summary>
public sealed class EpsilonGreedyBandit(double epsilon) : BernoulliBanditAgent
{
    public double Epsilon { get; } = epsilon is >= 0 and <= 1 ? epsilon : throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "must be in [0, 1]");
    public override string Name => $"eps-Greedy(eps={Epsilon})";

    public override int SelectArm(int step, Rng rng) =>
        // No coin is drawn at epsilon = 0, so eps-Greedy(0) makes exactly Greedy's choices for a seed.
        Epsilon > 0 && rng.NextDouble() < Epsilon ? rng.NextInt(Arms) : ArgMax(PosteriorMean, rng);
}

/// <summary>Always the highest posterior mean (s + 1) / (n + 2); the Beta(1, 1) prior makes it try untried arms over failed ones.</summary>
public sealed class GreedyBandit : BernoulliBanditAgent
{
    public override string Name => "Greedy";
    public override int SelectArm(int step, Rng rng) => ArgMax(PosteriorMean, rng);
}

/// <summary>Arg-max with exact ties broken uniformly at random, shared by every agent here.</summary>
public static class RandomTies
{
    /// <summary>The index of the largest value; among equal largest values each is equally likely (reservoir sampling, so the rng is only drawn on ties).</summary>
    public static int ArgMax(ReadOnlySpan<double> values, Rng rng)
    {
        if (values.IsEmpty) throw new ArgumentException("no values to choose from", nameof(values));
        int best = 0, ties = 1;
        for (int i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best]) { best = i; ties = 1; }
            else if (values[i] == values[best] && rng.NextInt(++ties) == 0) best = i;
        }
        return best;
    }
}
