using System.Collections.Concurrent;

namespace MetaRl.Algorithms.Classical;

/// <summary>
/// The finite-horizon Gittins index of a Bernoulli arm under a uniform Beta(1, 1) prior.
/// <para>
/// index(s, f, m), for an arm with s successes and f failures and m pulls left, is the retirement reward
/// lambda at which pulling the arm now (and continuing optimally, with the option to retire for lambda per
/// remaining step at any later point) and retiring now are equally good. It is found by bisection on
/// lambda over [posterior mean, 1]: for a given lambda, the one-armed calibration programme
/// V_k(s, f) = max(k * lambda, p (1 + V_{k-1}(s+1, f)) + (1 - p) V_{k-1}(s, f+1)), p = (s+1)/(s+f+2), V_0 = 0,
/// is solved backwards over the m(m+1)/2 posterior states reachable in the m pulls, and the sign of
/// "pull now" minus "retire now" at the root says on which side of the index lambda lies.
/// </para>
/// <para>
/// Indices are cached in one static, thread-safe table keyed by (s, f, m), so all trials share them.
/// </para>
/// </summary>
public static class GittinsIndex
{
    /// <summary>
    /// The look-ahead used by <see cref="Index"/>: with more pulls left than this, the index of
    /// (s, f, min(m, cap)) is used, an approximation (a slight under-estimate of the exploration value).
    /// </summary>
    public const int DefaultLookaheadCap = 100;

    /// <summary>The bisection stops when the bracket is narrower than this.</summary>
    public const double Tolerance = 1e-7;

    static readonly ConcurrentDictionary<(int S, int F, int M), double> Cache = new();

    [ThreadStatic] static double[]? _values;

    /// <summary>Number of cached indices (for reporting the cost of a run).</summary>
    public static int CachedCount => Cache.Count;

    /// <summary>The index with the look-ahead capped at <paramref name="lookaheadCap"/> pulls (exact when pullsLeft &lt;= cap).</summary>
    public static double Index(int successes, int failures, int pullsLeft, int lookaheadCap = DefaultLookaheadCap)
    {
        if (lookaheadCap < 1) throw new ArgumentOutOfRangeException(nameof(lookaheadCap), lookaheadCap, "must be >= 1");
        return Exact(successes, failures, Math.Min(pullsLeft, lookaheadCap));
    }

    /// <summary>The exact finite-horizon index (cached). Its cost grows as pullsLeft^2 per bisection step.</summary>
    public static double Exact(int successes, int failures, int pullsLeft)
    {
        if (successes < 0) throw new ArgumentOutOfRangeException(nameof(successes), successes, "must be >= 0");
        if (failures < 0) throw new ArgumentOutOfRangeException(nameof(failures), failures, "must be >= 0");
        if (pullsLeft < 1) throw new ArgumentOutOfRangeException(nameof(pullsLeft), pullsLeft, "must be >= 1");
        // With one pull left there is nothing to learn for: the index is the posterior mean.
        if (pullsLeft == 1) return PosteriorMean(successes, failures);
        if (Cache.TryGetValue((successes, failures, pullsLeft), out double cached)) return cached;
        double index = Compute(successes, failures, pullsLeft);
        Cache.TryAdd((successes, failures, pullsLeft), index);
        return index;
    }

    public static double PosteriorMean(int successes, int failures) => (successes + 1.0) / (successes + failures + 2.0);

    /// <summary>Bisection on lambda, without the cache.</summary>
    internal static double Compute(int s, int f, int m)
    {
        // At lambda = mean, pulling once and then retiring already matches retiring, so pulling is at least as
        // good: the index is >= mean. At lambda = 1 retiring earns the most any arm could: the index is <= 1.
        double lo = PosteriorMean(s, f), hi = 1.0;
        while (hi - lo > Tolerance)
        {
            double mid = 0.5 * (lo + hi);
            if (PullAdvantage(s, f, m, mid) > 0) lo = mid; else hi = mid;
        }
        return 0.5 * (lo + hi);
    }

    /// <summary>Value of pulling now (then continuing optimally) minus the value m * lambda of retiring now.</summary>
    internal static double PullAdvantage(int s, int f, int m, double lambda)
    {
        var v = _values is { } buffer && buffer.Length > m ? buffer : _values = new double[Math.Max(m + 1, 128)];
        // v[i] holds the value of the node with i successes among the d pulls made so far; depth m has value 0.
        Array.Clear(v, 0, m + 1);
        for (int d = m - 1; d >= 1; d--)
        {
            double retire = (m - d) * lambda;
            int n = s + f + d + 2;
            for (int i = 0; i <= d; i++)
            {
                double p = (double)(s + i + 1) / n;
                double pull = p * (1 + v[i + 1]) + (1 - p) * v[i];
                v[i] = pull > retire ? pull : retire;
            }
        }
        double p0 = PosteriorMean(s, f);
        return p0 * (1 + v[1]) + (1 - p0) * v[0] - m * lambda;
    }
}
