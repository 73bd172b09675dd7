namespace MetaRl.Torch;

/// <summary>
/// What every learner's iteration runs under, whoever drives it (the training loop, a reproduction, a library
/// user calling Iterate): no garbage collection while native calls are in flight (<see cref="NativeCallGuard"/>)
/// and subnormal floats flushed to zero (<see cref="Denormals"/>: long backpropagation through time is 40-300
/// times slower on them). Nested guards are harmless: the inner one finds the region already open.
/// </summary>
public sealed class IterationGuard : IDisposable
{
    readonly NativeCallGuard _noGc = NativeCallGuard.Enter();
    readonly Denormals.Scope _flush = Denormals.Flush();

    IterationGuard() { }

    public static IterationGuard Enter() => new();

    public void Dispose()
    {
        _flush.Dispose();
        _noGc.Dispose();
    }
}
