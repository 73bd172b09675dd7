namespace MetaRl.Core;

/// <summary>
/// A seedable random generator (xoshiro256**) whose whole state is four numbers, so a checkpoint can
/// save and restore it exactly. Every env, sampler and learner owns one; nothing uses a global source.
/// </summary>
public sealed class Rng
{
    ulong _s0, _s1, _s2, _s3;
    double? _spareNormal;

    public Rng(long seed)
    {
        // SplitMix64 expands the seed into the state, as xoshiro's authors recommend.
        ulong x = unchecked((ulong)seed);
        _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
    }

    static ulong SplitMix(ref ulong x)
    {
        ulong z = unchecked(x += 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }

    public ulong NextULong()
    {
        ulong result = unchecked(RotL(_s1 * 5, 7) * 9);
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = RotL(_s3, 45);
        return result;
    }

    static ulong RotL(ulong x, int k) => (x << k) | (x >> (64 - k));

    /// <summary>A new generator seeded from this one: for giving each env its own stream.</summary>
    public Rng Split() => new(unchecked((long)NextULong()));

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextULong() >> 11) * (1.0 / (1UL << 53));

    public double Uniform(double low, double high) => low + (high - low) * NextDouble();

    /// <summary>Uniform integer in [0, n).</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "must be positive");
        return (int)((NextULong() >> 33) * (ulong)n >> 31);
    }

    /// <summary>Standard normal (Marsaglia polar method; the spare value is kept and is part of the state).</summary>
    public double Normal()
    {
        if (_spareNormal is { } spare) { _spareNormal = null; return spare; }
        double u, v, s;
        do
        {
            u = 2 * NextDouble() - 1;
            v = 2 * NextDouble() - 1;
            s = u * u + v * v;
        } while (s >= 1 || s == 0);
        double m = Math.Sqrt(-2 * Math.Log(s) / s);
        _spareNormal = v * m;
        return u * m;
    }

    public double Normal(double mean, double std) => mean + std * Normal();

    /// <summary>Gamma(shape, 1) by Marsaglia and Tsang; shape below 1 by the boost u^(1/shape).</summary>
    public double Gamma(double shape)
    {
        if (shape <= 0) throw new ArgumentOutOfRangeException(nameof(shape), shape, "must be positive");
        if (shape < 1) return Gamma(shape + 1) * Math.Pow(NextDouble(), 1 / shape);
        double d = shape - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do { x = Normal(); v = 1 + c * x; } while (v <= 0);
            v = v * v * v;
            double u = NextDouble();
            if (u < 1 - 0.0331 * x * x * x * x || Math.Log(u) < 0.5 * x * x + d * (1 - v + Math.Log(v)))
                return d * v;
        }
    }

    public double Beta(double a, double b)
    {
        double x = Gamma(a);
        return x / (x + Gamma(b));
    }

    /// <summary>Fills <paramref name="result"/> with a draw from Dirichlet(alpha, ..., alpha).</summary>
    public void Dirichlet(double alpha, Span<double> result)
    {
        double sum = 0;
        for (int i = 0; i < result.Length; i++) sum += result[i] = Gamma(alpha);
        for (int i = 0; i < result.Length; i++) result[i] /= sum;
    }

    /// <summary>Samples an index with the given (unnormalised, non-negative) weights.</summary>
    public int Categorical(ReadOnlySpan<float> weights)
    {
        double total = 0;
        foreach (var w in weights) total += w;
        double u = NextDouble() * total;
        for (int i = 0; i < weights.Length; i++)
        {
            u -= weights[i];
            if (u < 0) return i;
        }
        return weights.Length - 1;
    }

    public void Shuffle<T>(Span<T> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    /// <summary>The whole state, for checkpoints.</summary>
    public RngState State => new(_s0, _s1, _s2, _s3, _spareNormal);

    public void Restore(RngState s) => (_s0, _s1, _s2, _s3, _spareNormal) = (s.S0, s.S1, s.S2, s.S3, s.SpareNormal);
}

public readonly record struct RngState(ulong S0, ulong S1, ulong S2, ulong S3, double? SpareNormal);
