using MetaRl.Core;
using MetaRl.Envs;
using MetaRl.Experiments;

namespace MetaRl.Tests.Experiments;

// A task family defined outside the library, as a user would write one (docs/own-task-family.md shows the same):
// walk a point along a line to a target that differs per task; reward -|x - target|.
public sealed record LineTarget(float Target);

public sealed class LineWalkEnv(LineTarget task) : ITaskEnv<LineTarget>
{
    float _x;
    int _t;
    public LineTarget Task { get; set; } = task;
    public Space ObservationSpace { get; } = Box.Uniform(1, -10, 10);
    public Space ActionSpace { get; } = Box.Uniform(1, -0.5f, 0.5f);
    public int MaxEpisodeSteps => 10;
    public void Reset(int? seed, Span<float> observation) { _x = 0; _t = 0; observation[0] = _x; }

    public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        _x += Math.Clamp(action[0], -0.5f, 0.5f);
        observation[0] = _x;
        float distance = Math.Abs(_x - Task.Target);
        return new StepResult(-distance, Terminated: false, Truncated: ++_t == MaxEpisodeSteps, Success: distance < 0.1f);
    }
}

public sealed class LineWalkDistribution : TaskDistribution<LineTarget>
{
    public override string Name => "line-walk";
    public override string Description => "walk along a line to a target ~ U[-1, 1] (a test's own family)";
    public override Space ObservationSpace { get; } = Box.Uniform(1, -10, 10);
    public override Space ActionSpace { get; } = Box.Uniform(1, -0.5f, 0.5f);
    public override int MaxEpisodeSteps => 10;
    public override IReadOnlyList<LineTarget> Sample(int n, Rng rng) => Enumerable.Range(0, n).Select(_ => new LineTarget((float)rng.Uniform(-1, 1))).ToList();
    public override IReadOnlyList<LineTarget> SampleOutOfDistribution(int n, Rng rng) => Enumerable.Range(0, n).Select(_ => new LineTarget((float)rng.Uniform(2, 3))).ToList();
    public override ITaskEnv<LineTarget> CreateEnv(LineTarget task, Rng rng) => new LineWalkEnv(task);
}

/// <summary>A family of the user's own gets what a built-in one gets: run directories, resume, eval and plots, by name.</summary>
public class OwnTaskFamilyTests : IDisposable
{
    static OwnTaskFamilyTests()
    {
        if (!EnvRegistry.Names.Contains("line-walk")) EnvRegistry.Register("line-walk", () => new LineWalkDistribution());
    }

    readonly string _root = Directory.CreateTempSubdirectory("metarl-own-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    static readonly Dictionary<string, Dictionary<string, string>> Small = new()
    {
        ["maml"] = new() { ["hidden-sizes"] = "8,8", ["fast-batch-size"] = "3", ["meta-batch-size"] = "3", ["checkpoint-every"] = "2" },
        ["rl2"] = new() { ["hidden-size"] = "8", ["batch-size"] = "120", ["episodes-per-trial"] = "3", ["checkpoint-every"] = "2" },
    };

    string Train(string algorithm, int iterations, string outDir)
    {
        var values = new Dictionary<string, string>(Small[algorithm]) { ["num-batches"] = $"{iterations}" };
        return Trainer.Start(new TrainingRun(algorithm, new LineWalkDistribution(), values, seed: 4), Path.Combine(_root, outDir)).Path;
    }

    [Theory]
    [InlineData("maml")]
    [InlineData("rl2")]
    public void TrainsResumesEvaluatesAndPlotsLikeABuiltInFamily(string algorithm)
    {
        string straight = Train(algorithm, 4, "straight");
        string split = Train(algorithm, 2, "split");
        Assert.StartsWith(Path.Combine(_root, "split", $"{algorithm}-line-walk"), split);

        var dir = RunDirectory.Open(split);
        var resumed = Trainer.Resume(dir, new Dictionary<string, string> { ["num-batches"] = "4" });
        Assert.Equal("line-walk", resumed.Distribution.Name);
        Trainer.Continue(resumed, dir);
        string Progress(string d) => File.ReadAllText(Path.Combine(d, RunDirectory.ProgressFile));
        Assert.Equal(5, Progress(straight).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal(Progress(straight), Progress(split));

        var output = new StringWriter();
        Assert.Equal(0, MetaRl.Cli.Cli.Run(["eval", split, "--steps", "1"], output, output));
        Assert.Contains("line-walk", File.ReadAllText(Path.Combine(split, "config.yaml")));
        Assert.Equal(3 * 2 + 1, File.ReadAllLines(Path.Combine(split, "adaptation.csv")).Length); // 3 splits x steps 0..1, and the header
        Assert.Equal(0, MetaRl.Cli.Cli.Run(["plot", split, "--out", Path.Combine(_root, "curve")], output, output));
        Assert.True(File.Exists(Path.Combine(_root, "curve-test.png")), output.ToString());
    }
}
