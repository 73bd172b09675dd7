using System.Runtime.CompilerServices;
using MetaRl.Experiments;
using MetaRl.Torch;
using static TorchSharp.torch;

namespace MetaRl.Tests.Torch;

public class DenormalsTests
{
    // Not a constant: the compiler would fold the products below.
    [MethodImpl(MethodImplOptions.NoInlining)]
    static float Subnormal() => 1e-39f;

    [Fact]
    public void FlushZeroesSubnormalsInLibtorchAndManagedCodeAndRestoresTheThread()
    {
        Assert.True(OperatingSystem.IsLinux() && System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.X64,
            "the flush is implemented for Linux x64, where the tests run");
        Assert.False(Denormals.AreFlushed); // a thread starts with IEEE subnormals
        using var scope = NewDisposeScope();
        var x = tensor(new[] { Subnormal(), 1f });
        Assert.Equal(2e-39f, (x * 2f)[0].item<float>()); // kept without the flush
        Assert.NotEqual(0f, Subnormal() * 2f);
        using (Denormals.Flush())
        {
            Assert.True(Denormals.AreFlushed);
            Assert.Equal(0f, (x * 2f)[0].item<float>()); // libtorch's kernel on this thread treats it as 0
            Assert.Equal(2f, (x * 2f)[1].item<float>());
            Assert.Equal(0f, Subnormal() * 2f); // and so does managed code
        }
        Assert.False(Denormals.AreFlushed);
        Assert.Equal(2e-39f, (x * 2f)[0].item<float>());
    }

    [Fact]
    public void ATrainingIterationRunsFlushedAndLeavesTheThreadAsItWas()
    {
        // With the learning rate annealed to 0 (the second update of a 1-update schedule) Adam adds 0 to every
        // parameter: a subnormal parameter stays as it is in IEEE arithmetic and becomes 0 when flushed.
        var run = new TrainingRun("rl2", "bandit-k5", new Dictionary<string, string>
        {
            ["optimizer"] = "ppo", ["batch-size"] = "200", ["hidden-size"] = "8", ["anneal-lr"] = "true", ["num-batches"] = "1",
        }, seed: 2);
        run.RunIteration();
        Assert.False(Denormals.AreFlushed);
        var p = run.Learner.Parameters.Values.First();
        using (no_grad()) p.view(-1)[0].fill_(Subnormal());
        Assert.Equal(Subnormal(), p.view(-1)[0].item<float>());
        var before = p.view(-1)[1].item<float>();
        run.RunIteration();
        Assert.Equal(before, p.view(-1)[1].item<float>()); // the rate was 0
        Assert.Equal(0f, p.view(-1)[0].item<float>());
        Assert.False(Denormals.AreFlushed);
    }
}
