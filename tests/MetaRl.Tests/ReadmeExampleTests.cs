using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using MetaRl.Algorithms.SingleTask;
using MetaRl.Core;
using MetaRl.Envs;
using MetaRl.Envs.Navigation;
using MetaRl.Policies;
using MetaRl.Baselines;
using MetaRl.Sampling;

namespace MetaRl.Tests;

/// <summary>
/// The README's library example runs, and what runs here is what README.md shows: the test reads the README's C#
/// block and this file's own copy between the markers and requires them equal, so neither can change alone.
/// </summary>
public class ReadmeExampleTests
{
    [Fact]
    public void TheReadmeLibraryExampleRuns()
    {
        var console = Console.Out;
        var captured = new StringWriter();
        Console.SetOut(captured);
        try
        {
            // README example begins
            var tasks = new Navigation2DDistribution();
            var rng = new Rng(1);
            var policy = new GaussianMlpPolicy(2, (Box)tasks.ActionSpace, [64, 64], rng.Split());
            var task = tasks.Sample(1, rng)[0];

            // Collect 20 episodes on the task, fit the linear baseline, take MAML's inner step.
            var batch = new Sampler(tasks).Sample(policy, [task], episodesPerTask: 20, rng);
            var returns = Advantages.DiscountedReturns(batch, gamma: 0.99);
            var advantages = Advantages.Gae(batch, LinearFeatureBaseline.FitPredict(batch, returns), gamma: 0.99, lambda: 1.0);
            var adapted = policy.Parameters.Adapt(Vpg.Loss(policy, batch, advantages), stepSize: 0.1);

            // The adapted policy: same network, adapted parameters (the graph back to theta is kept).
            var after = new Sampler(tasks).Sample(policy, [task], 20, rng, adapted.DetachedClone());
            Console.WriteLine($"return before {batch.MeanReturn:0.0}, after one step {after.MeanReturn:0.0}");
            // README example ends
        }
        finally { Console.SetOut(console); }
        Assert.Matches(@"^return before -?\d+\.\d, after one step -?\d+\.\d", captured.ToString());
    }

    [Fact]
    public void TheExampleAboveIsTheReadmesCSharpBlock()
    {
        string readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));
        var block = Regex.Match(readme, "```csharp\n(.*?)```", RegexOptions.Singleline);
        Assert.True(block.Success, "README.md has no ```csharp block");
        var shown = Lines(string.Join("\n", block.Groups[1].Value.Split('\n').Where(l => !l.StartsWith("using ", StringComparison.Ordinal))));

        string source = File.ReadAllText(ThisFile());
        int begin = source.IndexOf("// README example begins", StringComparison.Ordinal), end = source.IndexOf("// README example ends", StringComparison.Ordinal);
        var tested = Lines(source[(source.IndexOf('\n', begin) + 1)..end]);
        Assert.Equal(string.Join("\n", shown), string.Join("\n", tested));
    }

    [Fact]
    public void TheReadmesTwoSetUpCommandsExistAndCiRunsTheTestCommand()
    {
        string root = RepositoryRoot(), readme = File.ReadAllText(Path.Combine(root, "README.md"));
        var commands = Regex.Matches(readme, "```bash\n(.*?)\n```", RegexOptions.Singleline).Select(m => m.Groups[1].Value.Trim()).Take(2).ToList();
        Assert.Equal(["./metarl demo", "./scripts/test.sh"], commands);
        Assert.True(File.Exists(Path.Combine(root, "metarl")) && File.Exists(Path.Combine(root, "scripts", "test.sh")));
        Assert.Contains("./scripts/test.sh", File.ReadAllText(Path.Combine(root, ".ci", "run")));
    }

    static List<string> Lines(string text) =>
        text.Split('\n').Select(l => l.Trim()).SkipWhile(l => l.Length == 0).Reverse().SkipWhile(l => l.Length == 0).Reverse().ToList();

    static string ThisFile([CallerFilePath] string path = "") => path;

    static string RepositoryRoot() => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(ThisFile())!, "..", ".."));
}
