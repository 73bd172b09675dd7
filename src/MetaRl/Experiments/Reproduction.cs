using System.Diagnostics;
using System.Globalization;
using MetaRl.Algorithms;
using MetaRl.Algorithms.SingleTask;

namespace MetaRl.Experiments;

/// <summary>
/// What the paper reproductions share (`metarl reproduce maml-2d-navigation`, `rl2-bandits`, `rl2-mdps`): one
/// run directory per setting and seed, trained or resumed with its settings checked, training spread over worker
/// processes, and hand-written notes that survive regenerating a report.
/// </summary>
public static class Reproduction
{
    /// <summary>A run of a reproduction: the run, its training time over every session that trained it, and whether it was complete before this call.</summary>
    public sealed record Trained(TrainingRun Run, double TrainingSeconds, bool WasComplete);

    /// <summary>
    /// Trains the run in <paramref name="path"/>, or resumes it from its checkpoint, logging every tenth iteration as
    /// "<paramref name="label"/>: iteration i/n". A run is resumed only with the settings and seed it was trained
    /// with (see <see cref="RefuseChangedSettings"/>).
    /// </summary>
    public static Trained TrainOrResume(string algorithm, string env, IReadOnlyDictionary<string, string> values, int seed, string path, string label, TextWriter log)
    {
        var dir = RunDirectory.At(path);
        TrainingRun run;
        if (dir.HasCheckpoint)
        {
            RefuseChangedSettings(algorithm, dir, values, seed, label);
            run = Trainer.Resume(dir, values);
            log.WriteLine($"{label}: resuming at iteration {run.Iteration}");
        }
        else
        {
            run = new TrainingRun(algorithm, env, values, seed);
            dir.WriteConfig(run.ConfigYaml());
            if (File.Exists(dir.ProgressPath)) File.Delete(dir.ProgressPath);
        }
        int start = run.Iteration;
        bool complete = start >= run.Common.NumBatches;
        Trainer.Continue(run, dir, p =>
        {
            if (p.Result.Iteration % 10 == 0 || p.Result.Iteration == p.TotalIterations)
                log.WriteLine(FormattableString.Invariant($"{label}: iteration {p.Result.Iteration}/{p.TotalIterations}, return {p.Result.MeanReturn:0.00}, {p.Elapsed.TotalSeconds / (p.Result.Iteration - start):0.00} s/iteration"));
        });
        // Continue records training_seconds at every checkpoint; only a run finished before it did lacks it.
        double seconds = dir.SummaryNumber(Trainer.TrainingSecondsKey) ?? dir.SummaryNumber("seconds_this_session") ?? 0;
        return new Trained(run, seconds, complete);
    }

    /// <summary>
    /// A run is resumed only with the settings and seed it was trained with (more iterations aside; a key the run's
    /// config lacks counts as its default, so runs trained before a key existed still resume): resuming it
    /// with another batch size or learning rate would mix two settings in one row of a table, another seed would
    /// be reported as a seed it is not, and another hidden size would not even load.
    /// </summary>
    public static void RefuseChangedSettings(string algorithm, RunDirectory dir, IReadOnlyDictionary<string, string> values, int seed, string label)
    {
        var (_, _, trainedSeed, trained) = dir.ReadConfig();
        if (trainedSeed != seed)
            throw new UsageException($"{label}: the run in {dir.Path} was trained with seed {trainedSeed}, this invocation asks for seed {seed}; " +
                "give another --out for the new seed");
        var defaults = Defaults(algorithm);
        foreach (var (key, value) in values)
        {
            if (key == "num-batches" || CommonConfig.BookkeepingKeys.Contains(key)) continue; // length and checkpointing are not settings of the learning
            // A key missing from the run's config did not exist when it was trained: it ran with the key's default.
            string? was = trained.GetValueOrDefault(key) ?? defaults.GetValueOrDefault(key);
            bool same = was is not null && (was.Equals(value, StringComparison.OrdinalIgnoreCase)
                || double.TryParse(was, NumberStyles.Float, CultureInfo.InvariantCulture, out double a)
                   && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double b) && a == b);
            if (!same)
                throw new UsageException($"{label}: the run in {dir.Path} was trained with {key} = {was ?? "(not set)"}, this invocation asks for {value}; " +
                    "give another --out for the new settings, or delete that run to train it again");
        }
    }

    /// <summary>
    /// The settings by which a trained run (<paramref name="trained"/>: its config's values) departs from the reference
    /// implementation's settings for its learner and family (<see cref="ReferenceSettings"/> over the learner's defaults),
    /// the run's length and checkpointing aside: what a reproduction's report must say it changed.
    /// </summary>
    public static List<(string Key, string Run, string Reference)> DifferencesFromReference(string algorithm, string env, IReadOnlyDictionary<string, string> trained)
    {
        var reference = LearnerRegistry.Get(algorithm).NewConfigs();
        Config.Bind(ReferenceSettings.For(algorithm, env)?.Values ?? new Dictionary<string, string>(), reference);
        var run = LearnerRegistry.Get(algorithm).NewConfigs();
        Config.Bind(trained, run);
        var want = Config.Values(reference);
        return Config.Values(run).Where(kv => kv.Key != "num-batches" && !CommonConfig.BookkeepingKeys.Contains(kv.Key) && want.GetValueOrDefault(kv.Key) != kv.Value)
            .Select(kv => (kv.Key, kv.Value, want.GetValueOrDefault(kv.Key) ?? "-")).OrderBy(d => d.Key, StringComparer.Ordinal).ToList();
    }

    /// <summary>Every config key of an algorithm with its default, as text.</summary>
    public static IReadOnlyDictionary<string, string> Defaults(string algorithm) => Config.Values(LearnerRegistry.Get(algorithm).NewConfigs());

    /// <summary>
    /// Trains runs in worker processes, at most <paramref name="jobs"/> at a time, in the order given (a process each,
    /// not a thread each: libtorch's threads and the no-GC regions around each iteration are per process).
    /// <paramref name="worker"/> makes the command line of the worker for a run's directory name (this tool's
    /// `reproduce ... --setting S --train-only`); each worker's output goes to &lt;name&gt;.log in
    /// <paramref name="root"/>. Messages name a run by its label. Returns the names whose worker trained (a run
    /// already complete is left out).
    /// </summary>
    public static HashSet<string> TrainInWorkers(IReadOnlyList<(string Name, string Label)> runs, int jobs, string root, Func<string, ProcessStartInfo> worker, TextWriter log)
    {
        if (jobs < 1) throw new UsageException("--jobs must be >= 1");
        Directory.CreateDirectory(root);
        var queue = new Queue<(string Name, string Label)>(runs);
        var running = new List<(string Name, string Label, Process Process, Stopwatch Clock, StreamWriter Log)>();
        var trained = new HashSet<string>();
        var summaries = new Dictionary<string, DateTime>();
        DateTime SummaryWritten(string name) => File.GetLastWriteTimeUtc(Path.Combine(root, name, RunDirectory.SummaryFile));
        var failed = new List<string>();
        while (queue.Count > 0 || running.Count > 0)
        {
            while (running.Count < jobs && queue.Count > 0)
            {
                var (name, label) = queue.Dequeue();
                summaries[name] = SummaryWritten(name);
                var start = worker(name);
                start.RedirectStandardOutput = start.RedirectStandardError = true;
                start.UseShellExecute = false;
                string logPath = Path.Combine(root, name + ".log");
                var file = new StreamWriter(logPath) { AutoFlush = true };
                var process = new Process { StartInfo = start };
                process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (file) file.WriteLine(e.Data); };
                process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (file) file.WriteLine(e.Data); };
                process.Start();
                process.BeginOutputReadLine();
                process.BeginErrorReadLine();
                running.Add((name, label, process, Stopwatch.StartNew(), file));
                log.WriteLine($"{label}: training in a worker process (log: {logPath})");
            }
            var done = running.FirstOrDefault(r => r.Process.HasExited);
            if (done.Process is null) { Thread.Sleep(200); continue; }
            done.Process.WaitForExit(); // drains the output handlers
            running.Remove(done);
            done.Log.Dispose();
            // A worker that found its run complete trained nothing (its summary is untouched): not counted here.
            if (SummaryWritten(done.Name) != summaries[done.Name]) trained.Add(done.Name);
            log.WriteLine(FormattableString.Invariant($"{done.Label}: worker finished in {done.Clock.Elapsed.TotalSeconds:0} s (exit code {done.Process.ExitCode})"));
            if (done.Process.ExitCode != 0) failed.Add($"{done.Label} (see {done.Name}.log)");
        }
        if (failed.Count > 0) throw new InvalidOperationException($"training failed in worker processes: {string.Join(", ", failed)}");
        return trained;
    }

    /// <summary>The file of hand-written notes a report ends with, in the experiment's output directory.</summary>
    public const string NotesFile = "notes.md";

    /// <summary>
    /// <see cref="NotesFile"/>, if the output directory has one, to end the report with: what a report cannot know
    /// (how its runs were trained over several invocations, what was measured beside it) survives regenerating it.
    /// </summary>
    public static string Notes(string root)
    {
        string path = Path.Combine(root, NotesFile);
        return File.Exists(path) ? Environment.NewLine + File.ReadAllText(path).TrimEnd() + Environment.NewLine : "";
    }
}
