using System.Runtime;

namespace MetaRl.Torch;

/// <summary>
/// Keeps the garbage collector from running during a stretch of TorchSharp calls.
/// TorchSharp 0.107 turns numbers into native Scalars implicitly (a + b passes alpha = 1, x * 2.0 a
/// Scalar 2.0) and reads their handle without keeping the Scalar alive; if a collection runs while the
/// native call is in flight, the finalizer can free the Scalar under libtorch's feet, and the process
/// dies with "Expected false to be true ... toFloat" (seen once in about a thousand MAML iterations).
/// Inside a no-GC region no collection runs unless the region's allocation budget is exhausted, so the
/// training loop brackets each iteration with one and lets the collector run between iterations, when
/// no native call is in flight.
/// </summary>
public sealed class NativeCallGuard : IDisposable
{
    /// <summary>
    /// Bytes a stretch may allocate before the region ends by itself (and a collection may run mid-call). The managed
    /// allocation of a MAML meta-iteration on 2D navigation is a few tens of megabytes; loops of many small steps
    /// (off-policy gradient steps) must end their stretch well before it (<see cref="AllocatedSince"/>).
    /// </summary>
    public const long Budget = 200L << 20;
    readonly bool _active;

    NativeCallGuard()
    {
        try { _active = GCSettings.LatencyMode != GCLatencyMode.NoGCRegion && GC.TryStartNoGCRegion(Budget); }
        catch (ArgumentOutOfRangeException) { _active = false; } // budget larger than this GC allows: no guard
        catch (InvalidOperationException) { _active = false; }
    }

    /// <summary>Starts a no-GC region (where the runtime allows one) until the guard is disposed.</summary>
    public static NativeCallGuard Enter() => new();

    /// <summary>The process's managed allocation so far, in bytes (what counts against a region's budget), to compare with a later reading.</summary>
    public static long Allocated() => GC.GetTotalAllocatedBytes(precise: false);

    /// <summary>Managed bytes allocated since <paramref name="start"/> (an <see cref="Allocated"/> reading).</summary>
    public static long AllocatedSince(long start) => Allocated() - start;

    public void Dispose()
    {
        // The region ends by itself if the budget ran out; ending it then would throw.
        if (_active && GCSettings.LatencyMode == GCLatencyMode.NoGCRegion) GC.EndNoGCRegion();
        // Collect what the stretch left behind now, while no native call is in flight. Without this a loop that
        // allocates little between guarded stretches (a reproduction logging every tenth iteration) never
        // triggers a collection: each new region takes fresh memory, and resident memory grew by ~30 MB per
        // RL2 iteration until the kernel killed the process.
        if (_active) GC.Collect(1, GCCollectionMode.Forced, blocking: true);
    }
}
