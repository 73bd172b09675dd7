namespace MetaRl.Tests;

/// <summary>The repository the tests were built from (the folder holding MetaRl.slnx): its docs, scripts and sources.</summary>
public static class Repo
{
    public static string Root { get; } = Find();

    static string Find()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MetaRl.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root (MetaRl.slnx) not found above " + AppContext.BaseDirectory);
    }
}
