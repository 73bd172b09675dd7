using System.Runtime.InteropServices;

namespace MetaRl.Torch;

/// <summary>
/// Flushes subnormal floats to zero on the calling thread: the FTZ and DAZ bits of the SSE control register
/// (MXCSR), what PyTorch's <c>torch.set_flush_denormal(True)</c> sets, which TorchSharp does not expose.
/// Backpropagating through hundreds of recurrent steps drives gradients into the subnormal range (below
/// 1.2e-38), where every float operation takes the processor's slow path: on this machine a product of a
/// [2, 50, 384] tensor took 440 us with subnormal operands against 10, a sigmoid 1.5 ms against 37 us, and a
/// [2, 50, 384] x [2, 384, 128] matrix product 24 ms against 80 us. An RL2 run slowed down as it trained for
/// this reason. Flushed, such values become 0, a difference no result of a float32 network can show.
/// The bits belong to a thread: libtorch's kernels run on the calling thread with one libtorch thread (the
/// reproductions' setting); with more, its worker threads keep their own. Linux x64 only (glibc's
/// fegetenv/fesetenv carry the MXCSR); elsewhere nothing changes.
/// </summary>
public static unsafe class Denormals
{
    const uint FlushToZero = 0x8000, DenormalsAreZero = 0x0040;
    const int FenvSize = 32, MxcsrOffset = 28; // glibc's fenv_t on x86_64: the x87 environment, then the MXCSR

    [DllImport("libm.so.6", EntryPoint = "fegetenv")] static extern int FeGetEnv(byte* env);
    [DllImport("libm.so.6", EntryPoint = "fesetenv")] static extern int FeSetEnv(byte* env);

    static readonly bool Supported = OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;

    /// <summary>
    /// Sets FTZ and DAZ on the calling thread until the returned scope is disposed, which restores the thread's
    /// previous setting (a test thread, say, is left as it was).
    /// </summary>
    public static Scope Flush()
    {
        if (!Supported || !TryReadMxcsr(out uint before)) return default;
        WriteMxcsr(before | FlushToZero | DenormalsAreZero);
        return new Scope(before);
    }

    /// <summary>Whether FTZ and DAZ are set on the calling thread.</summary>
    public static bool AreFlushed => Supported && TryReadMxcsr(out uint m) && (m & (FlushToZero | DenormalsAreZero)) == (FlushToZero | DenormalsAreZero);

    public readonly struct Scope : IDisposable
    {
        readonly uint _before;
        readonly bool _set;
        internal Scope(uint before) { _before = before; _set = true; }
        public void Dispose() { if (_set) WriteMxcsr(_before); }
    }

    static bool TryReadMxcsr(out uint mxcsr)
    {
        byte* env = stackalloc byte[FenvSize];
        bool read = FeGetEnv(env) == 0;
        mxcsr = read ? *(uint*)(env + MxcsrOffset) : 0;
        return read;
    }

    static void WriteMxcsr(uint mxcsr)
    {
        byte* env = stackalloc byte[FenvSize];
        if (FeGetEnv(env) != 0) return;
        *(uint*)(env + MxcsrOffset) = mxcsr;
        FeSetEnv(env);
    }
}
