namespace MetaRl.Envs;

/// <summary>A space of observations or actions (Gymnasium's Box and Discrete).</summary>
public abstract record Space
{
    /// <summary>Length of the flat float vector that carries one element (a Discrete observation is one-hot; a Discrete action is one float holding the index).</summary>
    public abstract int FlatSize { get; }
}

/// <summary>A box in R^n with per-dimension bounds (possibly infinite).</summary>
public sealed record Box(float[] Low, float[] High) : Space
{
    public static Box Uniform(int dim, float low, float high) => new(Enumerable.Repeat(low, dim).ToArray(), Enumerable.Repeat(high, dim).ToArray());
    public int Dim => Low.Length;
    public override int FlatSize => Low.Length;
    public bool Contains(ReadOnlySpan<float> x)
    {
        if (x.Length != Dim) return false;
        for (int i = 0; i < x.Length; i++)
            if (!(x[i] >= Low[i] && x[i] <= High[i])) return false;
        return true;
    }
    public override string ToString() => $"Box({Dim}, [{Low.Min()}, {High.Max()}])";
}

/// <summary>The integers 0..N-1.</summary>
public sealed record Discrete(int N) : Space
{
    /// <summary>As an observation a Discrete value is one-hot (length N); as an action it is one float.</summary>
    public override int FlatSize => N;
    public override string ToString() => $"Discrete({N})";
}
