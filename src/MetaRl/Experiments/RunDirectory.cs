using System.Globalization;
using System.Text.Json;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MetaRl.Experiments;

/// <summary>One row of an evaluation table: mean return with its 95% confidence half-width.</summary>
public sealed record EvaluationRow(string Split, int Tasks, int EpisodesPerTask, double MeanReturn, double Ci95, double SuccessRate);

/// <summary>
/// runs/&lt;experiment&gt;/&lt;time&gt;-seed&lt;k&gt;/: config.yaml (resolved), progress.csv (one row per
/// iteration, no wall-clock columns, so a seed reproduces it byte for byte), TensorBoard events under tb/,
/// checkpoint.bin (written to a temporary file and renamed), summary.json; with keep-checkpoint-every, copies of
/// the checkpoint at those iterations under checkpoints/ (iteration-N.bin), to evaluate the run as it was then.
/// </summary>
public sealed class RunDirectory
{
    public const string ConfigFile = "config.yaml", ProgressFile = "progress.csv", CheckpointFile = "checkpoint.bin", SummaryFile = "summary.json",
        KeptCheckpointsFolder = "checkpoints";
    SummaryWriter? _tensorboard;

    RunDirectory(string path) => Path = System.IO.Path.GetFullPath(path);

    public string Path { get; }
    public string ConfigPath => System.IO.Path.Combine(Path, ConfigFile);
    public string ProgressPath => System.IO.Path.Combine(Path, ProgressFile);
    public string CheckpointPath => System.IO.Path.Combine(Path, CheckpointFile);
    public string SummaryPath => System.IO.Path.Combine(Path, SummaryFile);

    /// <summary>A new directory under root/experiment named by the current time and the seed.</summary>
    public static RunDirectory Create(string root, string experiment, int seed)
    {
        string stamp = DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        string path = System.IO.Path.Combine(root, experiment, $"{stamp}-seed{seed}");
        for (int k = 2; Directory.Exists(path); k++) path = System.IO.Path.Combine(root, experiment, $"{stamp}-seed{seed}-{k}");
        Directory.CreateDirectory(path);
        return new RunDirectory(path);
    }

    /// <summary>A run directory at a fixed path (for reproductions that resume what exists).</summary>
    public static RunDirectory At(string path)
    {
        Directory.CreateDirectory(path);
        return new RunDirectory(path);
    }

    public bool HasCheckpoint => File.Exists(CheckpointPath);

    /// <summary>Where the checkpoint kept at <paramref name="iteration"/> is (keep-checkpoint-every).</summary>
    public string KeptCheckpointPath(int iteration) => System.IO.Path.Combine(Path, KeptCheckpointsFolder, $"iteration-{iteration}.bin");

    /// <summary>Keeps a copy of the latest checkpoint, which is at <paramref name="iteration"/>.</summary>
    public void KeepCheckpoint(int iteration)
    {
        string path = KeptCheckpointPath(iteration), tmp = path + $".tmp-{Environment.ProcessId}";
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        File.Copy(CheckpointPath, tmp, overwrite: true);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>The iterations whose checkpoints are kept, in order.</summary>
    public IReadOnlyList<int> KeptIterations()
    {
        string folder = System.IO.Path.Combine(Path, KeptCheckpointsFolder);
        if (!Directory.Exists(folder)) return [];
        return Directory.GetFiles(folder, "iteration-*.bin")
            .Select(f => int.TryParse(System.IO.Path.GetFileNameWithoutExtension(f)["iteration-".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out int i) ? i : -1)
            .Where(i => i >= 0).Order().ToList();
    }

    /// <summary>The checkpoint a run is loaded from: the latest, or the one kept at <paramref name="iteration"/>.</summary>
    public string CheckpointAt(int? iteration)
    {
        if (iteration is not { } i) return CheckpointPath;
        if (File.Exists(KeptCheckpointPath(i))) return KeptCheckpointPath(i);
        var kept = KeptIterations();
        throw new UsageException($"run '{Path}' keeps no checkpoint at iteration {i}; " + (kept.Count > 0
            ? $"kept: {string.Join(", ", kept)}"
            : "it keeps none (train with --set keep-checkpoint-every=N to keep one every N iterations)"));
    }

    public static RunDirectory Open(string path)
    {
        if (!File.Exists(System.IO.Path.Combine(path, ConfigFile)))
            throw new UsageException($"'{path}' is not a run directory (no {ConfigFile})");
        return new RunDirectory(path);
    }

    /// <summary>Reads config.yaml back: the algorithm, env and seed, and the remaining config values.</summary>
    public (string Algorithm, string Env, int Seed, Dictionary<string, string> Values) ReadConfig()
    {
        var values = Config.ReadYaml(ConfigPath);
        string Take(string key) => values.Remove(key, out var v) ? v : throw new UsageException($"{ConfigPath} has no '{key}'");
        string algorithm = Take("algorithm"), env = Take("env");
        if (!int.TryParse(Take("seed"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int seed))
            throw new UsageException($"{ConfigPath}: 'seed' must be an integer");
        return (algorithm, env, seed, values);
    }

    public void WriteConfig(string yaml) => File.WriteAllText(ConfigPath, yaml);

    /// <summary>Appends one iteration's row (writing the header first on a new file).</summary>
    public void AppendProgress(IterationResult r)
    {
        var stats = r.Stats.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        if (!File.Exists(ProgressPath))
            File.WriteAllText(ProgressPath, string.Join(",", new[] { "iteration", "env_steps", "mean_return", "success_rate" }.Concat(stats.Select(s => s.Key))) + "\n");
        var cells = new[] { r.Iteration.ToString(CultureInfo.InvariantCulture), r.EnvSteps.ToString(CultureInfo.InvariantCulture), F(r.MeanReturn), F(r.SuccessRate) }
            .Concat(stats.Select(s => F(s.Value)));
        File.AppendAllText(ProgressPath, string.Join(",", cells) + "\n");

        _tensorboard ??= utils.tensorboard.SummaryWriter(System.IO.Path.Combine(Path, "tb"), createRunName: false);
        _tensorboard.add_scalar("return/mean", (float)r.MeanReturn, r.Iteration);
        _tensorboard.add_scalar("return/success_rate", (float)r.SuccessRate, r.Iteration);
        foreach (var (k, v) in stats) _tensorboard.add_scalar($"train/{k}", (float)v, r.Iteration);
    }

    /// <summary>Drops progress rows after <paramref name="iteration"/> (a resumed run continues from its checkpoint, not from rows written after it).</summary>
    public void TruncateProgress(int iteration)
    {
        if (!File.Exists(ProgressPath)) return;
        var lines = File.ReadAllLines(ProgressPath);
        File.WriteAllLines(ProgressPath, lines.Take(1 + iteration));
    }

    /// <summary>Writes an evaluation table to evaluation.csv (or the file named).</summary>
    public void WriteEvaluation(IReadOnlyList<EvaluationRow> rows, string file = "evaluation.csv")
    {
        var lines = new List<string> { "tasks,num_tasks,episodes_per_task,mean_return,ci95,success_rate" };
        lines.AddRange(rows.Select(r => string.Join(",", r.Split, r.Tasks.ToString(CultureInfo.InvariantCulture), r.EpisodesPerTask.ToString(CultureInfo.InvariantCulture), F(r.MeanReturn), F(r.Ci95), F(r.SuccessRate))));
        File.WriteAllLines(System.IO.Path.Combine(Path, file), lines);
    }

    public void WriteSummary(object summary) => File.WriteAllText(SummaryPath, JsonSerializer.Serialize(summary, Json));

    // NaN is a legitimate value here (a confidence interval of one sample).
    static readonly JsonSerializerOptions Json = new() { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>Adds (or replaces) one property of summary.json, keeping the rest.</summary>
    public void AddToSummary(string key, object value) => AddToSummary((key, value));

    /// <summary>Sets several properties of summary.json in one write.</summary>
    public void AddToSummary(params (string Key, object Value)[] entries)
    {
        var node = File.Exists(SummaryPath) ? System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(SummaryPath))!.AsObject() : new System.Text.Json.Nodes.JsonObject();
        foreach (var (key, value) in entries) node[key] = JsonSerializer.SerializeToNode(value, Json);
        File.WriteAllText(SummaryPath, node.ToJsonString(Json));
    }

    /// <summary>A number recorded in summary.json, or null when there is no summary or no such property.</summary>
    public double? SummaryNumber(string key) =>
        SummaryValue(key) is { } value && value.GetValueKind() == JsonValueKind.Number ? value.GetValue<double>() : null;

    /// <summary>A text property of summary.json (null when absent or not text).</summary>
    public string? SummaryText(string key) =>
        SummaryValue(key) is { } value && value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : null;

    System.Text.Json.Nodes.JsonNode? SummaryValue(string key) =>
        File.Exists(SummaryPath) ? System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(SummaryPath))?[key] : null;

    static string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
