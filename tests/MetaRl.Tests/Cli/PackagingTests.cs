using System.Diagnostics;

namespace MetaRl.Tests.Cli;

/// <summary>
/// The .NET way in: `dotnet pack` makes the MetaRl library package and the metarl tool (MetaRl.Cli), the tool installs
/// from the packed folder and runs. Installed into a tool path of the test's own (no global state).
/// </summary>
public class PackagingTests : IDisposable
{
    readonly string _work = Directory.CreateTempSubdirectory("metarl-pack-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    [Fact]
    [Trait(Category.Name, Category.Slow)]
    public void ThePackedToolInstallsAndRuns()
    {
        string packages = Path.Combine(_work, "nupkg"), tools = Path.Combine(_work, "tools");
        // --no-build: the Release build this test runs from (the test suite's build) is what is packed.
        Run("dotnet", "pack", Path.Combine(Repo.Root, "MetaRl.slnx"), "-c", "Release", "--no-build", "-o", packages);
        var packed = Directory.GetFiles(packages, "*.nupkg").Select(Path.GetFileName).Order().ToList();
        Assert.Contains(packed, f => f!.StartsWith("MetaRl.0.", StringComparison.Ordinal));
        Assert.Contains(packed, f => f!.StartsWith("MetaRl.Cli.0.", StringComparison.Ordinal));
        Run("dotnet", "tool", "install", "MetaRl.Cli", "--tool-path", tools, "--add-source", packages, "--version", "0.1.0");
        string list = Run(Path.Combine(tools, "metarl"), "list");
        foreach (string expected in new[] { "2d-navigation", "maml", "icl", "point-goals" }) Assert.Contains(expected, list);
        // It trains: TorchSharp's native library loads from the installed tool (the Debian fix included).
        string train = Run(Path.Combine(tools, "metarl"), "train", "rl2", "--env", "bandit-k5", "--iterations", "1", "--set", "batch-size=100", "--out", Path.Combine(_work, "runs"));
        Assert.Contains("Results:", train);
    }

    string Run(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program, args) { WorkingDirectory = _work, RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(600_000), $"{program} {string.Join(' ', args)} ran past 10 minutes");
        Assert.True(p.ExitCode == 0, $"{program} {string.Join(' ', args)} failed (exit {p.ExitCode}):\n{stdout.Result}\n{stderr.Result}");
        return stdout.Result;
    }
}
