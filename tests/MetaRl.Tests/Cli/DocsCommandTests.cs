using System.Diagnostics;
using System.Text.RegularExpressions;

namespace MetaRl.Tests.Cli;

/// <summary>
/// Every shell command of the README and the guide runs, so the docs cannot rot: each document's ```bash blocks run
/// in order in bash (one working directory, so a run trained by one block is there for the next), with `./metarl`
/// the built tool, and budgets shortened (one iteration, tiny batches; the rules are <see cref="Shorten"/>'s, in plain
/// sight). The README's test command is left out: it is what runs this test.
/// </summary>
public class DocsCommandTests : IDisposable
{
    readonly string _work = Directory.CreateTempSubdirectory("metarl-docs-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    [Theory]
    [Trait(Category.Name, Category.Slow)]
    [InlineData("README.md")]
    [InlineData("docs/guide.md")]
    public async Task EveryShellCommandOfTheDocumentRuns(string document)
    {
        var blocks = Blocks(File.ReadAllText(Path.Combine(Repo.Root, document))).ToList();
        Assert.NotEmpty(blocks);
        string cli = Path.Combine(Repo.Root, "src", "MetaRl.Cli", "bin", "Release", "net10.0", "MetaRl.Cli.dll");
        Assert.True(File.Exists(cli), $"build the tool first: {cli}");
        int n = 0;
        foreach (string block in blocks)
        {
            var lines = block.Split('\n').Where(l => l.Trim() != "./scripts/test.sh")
                .Select(l => l.StartsWith("./metarl ", StringComparison.Ordinal) ? Shorten(l) : l)
                // Packing from the clone: the clone is elsewhere, and the test suite's Release build is what is packed.
                .Select(l => l.StartsWith("dotnet pack MetaRl.slnx", StringComparison.Ordinal) ? l.Replace("MetaRl.slnx", $"'{Path.Combine(Repo.Root, "MetaRl.slnx")}' --no-build") : l);
            string script = $"set -euo pipefail\nmetarl() {{ dotnet '{cli}' \"$@\"; }}\n" + string.Join("\n", lines).Replace("./metarl ", "metarl ") + "\n";
            string file = Path.Combine(_work, $"block{n++}.sh");
            File.WriteAllText(file, script);
            var start = new ProcessStartInfo("bash", [file]) { WorkingDirectory = _work, RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = Process.Start(start)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            Assert.True(p.WaitForExit(600_000), $"{document}: a block ran past 10 minutes:\n{block}");
            string output = await stdout, errors = await stderr;
            Assert.True(p.ExitCode == 0, $"{document}: this block failed (exit {p.ExitCode}):\n{script}\n--- stdout\n{Tail(output)}\n--- stderr\n{Tail(errors)}");
        }
    }

    /// <summary>The rules that shorten a documented command's budget: the command stays the same, only its size changes.</summary>
    internal static string Shorten(string line)
    {
        var tokens = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
        string command = tokens.Count > 1 ? tokens[1] : "";
        string Without(params string[] options)
        {
            var kept = new List<string>();
            for (int i = 0; i < tokens.Count; i++)
            {
                if (options.Contains(tokens[i])) { i++; continue; } // the option and its value
                kept.Add(tokens[i]);
            }
            return string.Join(' ', kept);
        }
        switch (command)
        {
            case "demo":
                return Without("--iterations") + " --iterations 1";
            case "train":
                string algorithm = tokens.Count > 2 ? tokens[2] : "";
                string sets = algorithm switch
                {
                    "maml" or "fomaml" or "promp" or "reptile" => " --set meta-batch-size=2 --set fast-batch-size=2",
                    "rl2" or "icl" => " --set batch-size=200",
                    "pearl" => " --set num-initial-steps=20 --set num-train-steps-per-itr=2 --set num-steps-prior=20 --set num-extra-rl-steps-posterior=20 --set meta-batch=2",
                    "mt-ppo" => " --set episodes-per-task=1",
                    _ => "",
                };
                return Without("--iterations") + " --iterations 1" + sets;
            case "eval":
                return Without("--steps", "--episodes") + " --steps 1 --episodes 1";
            case "transfer":
                return Without("--iterations", "--seeds") + " --iterations 1 --seeds 1 --set episodes-per-task=1";
            case "compare":
                return Without("--env-steps", "--minutes", "--seeds", "--adapt-episodes", "--tasks") +
                    " --env-steps 400 --minutes 0 --seeds 1 --adapt-episodes 2 --tasks 2 --set maml.meta-batch-size=2 --set maml.fast-batch-size=2" +
                    " --set rl2.batch-size=400 --set rl2.episodes-per-trial=2 --set icl.batch-size=400 --set icl.episodes-per-trial=2 --set pearl.num-initial-steps=20" +
                    " --set pearl.num-train-steps-per-itr=2 --set pearl.num-steps-prior=100 --set pearl.num-extra-rl-steps-posterior=100 --set pearl.meta-batch=2";
            case "reproduce":
                return Without("--iterations", "--quick") + " --quick --iterations 1";
            case "belief":
                return Without("--trials") + " --trials 20";
            default:
                return line;
        }
    }

    static IEnumerable<string> Blocks(string markdown) =>
        Regex.Matches(markdown.Replace("\r", ""), "```bash\n(.*?)\n```", RegexOptions.Singleline).Select(m => m.Groups[1].Value);

    static string Tail(string text) => text.Length > 4000 ? text[^4000..] : text;
}
