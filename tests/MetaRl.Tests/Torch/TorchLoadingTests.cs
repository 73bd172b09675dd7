using MetaRl.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace MetaRl.Tests.Torch;

public class TorchLoadingTests
{
    [Fact]
    public void TorchSharpLoadsAndTheEditIsOnlyUsedWhereNeeded()
    {
        TorchNative.EnsureLoaded();
        using var t = ones(3);
        Assert.Equal(3f, t.sum().item<float>());
        string stdcxx = File.ReadLines("/proc/self/maps").Select(l => l[(l.IndexOf('/') is var i && i >= 0 ? i : l.Length)..])
            .First(p => Path.GetFileName(p).StartsWith("libstdc++.so", StringComparison.Ordinal));
        bool systemHasIt = ElfImage.Read(stdcxx).VersionDefinitions.Contains("GLIBCXX_3.4.32");
        Assert.Equal(!systemHasIt, TorchNative.PatchedLibraryPath is not null);
        if (TorchNative.PatchedLibraryPath is { } patched)
        {
            Assert.DoesNotContain(".nuget", patched);
            Assert.True(ElfImage.Read(patched).VersionNeeds.Single(n => n.Name == "GLIBCXX_3.4.32").IsWeak);
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "getenv")]
    static extern IntPtr GetEnv(string name);

    [Fact]
    public void MklIsAskedForResultsThatDoNotDependOnMemoryAlignment()
    {
        // Without it, matrix products over tensors made from .NET arrays (not 64-byte aligned) differed in their last
        // bits from run to run: a seed no longer fixed a PEARL run (see PearlTests.AnInterruptedPearlRunResumesExactly).
        TorchNative.EnsureLoaded();
        Assert.Equal("AUTO,STRICT", System.Runtime.InteropServices.Marshal.PtrToStringAnsi(GetEnv("MKL_CBWR")));
    }

    /// <summary>
    /// Gradient of a gradient through a small tanh MLP: d/dx of (d f/d x . v) checked against central
    /// differences of the first gradient. This is the path second-order MAML takes; create_graph
    /// and retain_graph are both passed (TorchSharp does not imply the second from the first).
    /// </summary>
    [Fact]
    public void SecondOrderGradientThroughMlpMatchesFiniteDifferences()
    {
        TorchNative.EnsureLoaded();
        using var scope = NewDisposeScope();
        var gen = new Generator(7);
        var w1 = randn(new long[] { 3, 5 }, dtype: float64, generator: gen);
        var w2 = randn(new long[] { 5, 1 }, dtype: float64, generator: gen);
        var v = randn(new long[] { 3 }, dtype: float64, generator: gen);
        Tensor F(Tensor x) => tanh(x.matmul(w1)).matmul(w2).sum();
        Tensor GradDotV(Tensor x)
        {
            var xg = x.detach().requires_grad_(true);
            var g = autograd.grad([F(xg)], [xg], create_graph: true, retain_graph: true)[0];
            return (g * v).sum();
        }

        var x0 = randn(new long[] { 3 }, dtype: float64, generator: gen).requires_grad_(true);
        var g1 = autograd.grad([F(x0)], [x0], create_graph: true, retain_graph: true)[0];
        var hv = autograd.grad([(g1 * v).sum()], [x0], retain_graph: true)[0]; // H v

        const double eps = 1e-5;
        for (int i = 0; i < 3; i++)
        {
            var e = zeros(3, dtype: float64); e[i] = tensor(eps, dtype: float64);
            double fd = (GradDotV(x0.detach() + e).item<double>() - GradDotV(x0.detach() - e).item<double>()) / (2 * eps);
            Assert.Equal(fd, hv[i].item<double>(), 6);
        }
        Assert.True(hv.abs().sum().item<double>() > 1e-3, "the Hessian-vector product should not vanish");
    }
}
