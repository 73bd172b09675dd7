using MetaRl.Experiments;
using static TorchSharp.torch;

namespace MetaRl.Tests.Algorithms;

/// <summary>The resume check every learner's tests share: a run killed after its checkpoint at iteration 2 and resumed gives the progress rows of an uninterrupted run, byte for byte.</summary>
internal static class ResumeCheck
{
    /// <param name="values">must train 4 iterations with a checkpoint every 2.</param>
    public static void ResumesExactly(string algorithm, string env, IReadOnlyDictionary<string, string> values, string root)
    {
        set_num_threads(1); // as the CLI's training: one libtorch thread gives bit-identical runs
        var straight = Trainer.Start(new TrainingRun(algorithm, env, values, 3), Path.Combine(root, "a"));
        RunDirectory? split = null;
        var interrupted = new TrainingRun(algorithm, env, values, 3);
        Assert.Throws<OperationCanceledException>(() =>
        {
            split = RunDirectory.Create(Path.Combine(root, "b"), $"{algorithm}-{env}", 3);
            split.WriteConfig(interrupted.ConfigYaml());
            Trainer.Continue(interrupted, split, p => { if (p.Result.Iteration == 3) throw new OperationCanceledException("killed"); });
        });
        var resumed = Trainer.Resume(split!);
        Assert.Equal(2, resumed.Iteration);
        Trainer.Continue(resumed, split!);
        string expected = File.ReadAllText(straight.ProgressPath);
        Assert.Equal(5, expected.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal(expected, File.ReadAllText(split!.ProgressPath));
    }
}
