using System.Diagnostics;

namespace MetaRl.Experiments;

/// <summary>Progress of a run as it goes, for progress bars and logs. <paramref name="Elapsed"/> is the time since this
/// process started training, over the iterations after <paramref name="StartIteration"/> (above 0 when resumed).</summary>
public sealed record TrainingProgress(IterationResult Result, int TotalIterations, double EnvStepsPerSecond, TimeSpan Elapsed, int StartIteration = 0)
{
    /// <summary>Time left at this process's pace.</summary>
    public TimeSpan Remaining => TimeSpan.FromSeconds(
        Elapsed.TotalSeconds / Math.Max(1, Result.Iteration - StartIteration) * (TotalIterations - Result.Iteration));
}

/// <summary>The training loop around a <see cref="TrainingRun"/>: logs every iteration, checkpoints, and a final summary.</summary>
public static class Trainer
{
    /// <summary>Starts a new run in a fresh run directory.</summary>
    public static RunDirectory Start(TrainingRun run, string runsRoot, Action<TrainingProgress>? onIteration = null)
    {
        var dir = RunDirectory.Create(runsRoot, $"{run.Algorithm}-{run.Distribution.Name}", run.Seed);
        dir.WriteConfig(run.ConfigYaml());
        Continue(run, dir, onIteration);
        return dir;
    }

    /// <summary>Rebuilds a run from its directory and last checkpoint; further config values (e.g. a longer num-batches) may be given.</summary>
    public static TrainingRun Resume(RunDirectory dir, IReadOnlyDictionary<string, string>? overrides = null)
    {
        var run = Load(dir, overrides);
        dir.WriteConfig(run.ConfigYaml());
        dir.TruncateProgress(run.Iteration);
        return run;
    }

    /// <summary>
    /// Rebuilds a run from its directory and last checkpoint without changing any file (for evaluation); or from the
    /// checkpoint kept at <paramref name="iteration"/> (keep-checkpoint-every), to evaluate the run as it was then.
    /// </summary>
    public static TrainingRun Load(RunDirectory dir, IReadOnlyDictionary<string, string>? overrides = null, int? iteration = null)
    {
        var (algorithm, env, seed, values) = dir.ReadConfig();
        foreach (var (k, v) in overrides ?? new Dictionary<string, string>()) values[k] = v;
        string checkpoint = dir.CheckpointAt(iteration);
        var run = new TrainingRun(algorithm, env, values, seed);
        run.LoadCheckpoint(checkpoint);
        return run;
    }

    /// <summary>
    /// <paramref name="evaluate"/> applied to the run as it was at each checkpoint it kept before
    /// <paramref name="latestIteration"/>, oldest first (a reproduction's "Across training" rows; the latest comes
    /// from the run itself). Each checkpoint is loaded and disposed in turn, so one is in memory at a time.
    /// </summary>
    public static List<T> AtKeptCheckpoints<T>(RunDirectory dir, int latestIteration, Func<TrainingRun, T> evaluate)
    {
        var rows = new List<T>();
        foreach (int iteration in dir.KeptIterations().Where(i => i < latestIteration))
        {
            using var then = Load(dir, iteration: iteration);
            rows.Add(evaluate(then));
        }
        return rows;
    }

    /// <summary>
    /// Runs the remaining iterations. A non-finite loss stops the run before anything is written for that iteration, so the last checkpoint stays good.
    /// summary.json's <c>training_seconds</c> is the training loop's wall time over every session that trained the
    /// run, up to its last checkpoint (kept at each checkpoint with the iteration, env steps and last return there, so a
    /// session that is killed still counts up to there).
    /// <paramref name="stop"/>, if given, is asked after every iteration (with the session's elapsed time) whether to stop
    /// before num-batches (a budget of environment steps or wall time, as `metarl compare` trains to); the run then ends
    /// as at num-batches, with a checkpoint and its summary.
    /// </summary>
    public static void Continue(TrainingRun run, RunDirectory dir, Action<TrainingProgress>? onIteration = null, Func<TrainingRun, TimeSpan, bool>? stop = null)
    {
        var clock = Stopwatch.StartNew();
        double earlierSeconds = run.Iteration > 0 ? dir.SummaryNumber(TrainingSecondsKey) ?? 0 : 0;
        long stepsAtStart = run.EnvSteps;
        int startIteration = run.Iteration;
        IterationResult? last = null;
        while (run.Iteration < run.Common.NumBatches)
        {
            last = run.RunIteration();
            dir.AppendProgress(last);
            bool stopping = stop?.Invoke(run, clock.Elapsed) ?? false;
            bool keep = run.Common.KeepCheckpointEvery > 0 && run.Iteration % run.Common.KeepCheckpointEvery == 0;
            if (run.Iteration % run.Common.CheckpointEvery == 0 || run.Iteration == run.Common.NumBatches || stopping || keep)
            {
                run.SaveCheckpoint(dir.CheckpointPath);
                if (keep) dir.KeepCheckpoint(run.Iteration);
                // where the checkpoint stands, so that a session killed after it leaves a summary that says so
                dir.AddToSummary((TrainingSecondsKey, earlierSeconds + clock.Elapsed.TotalSeconds), ("iterations", run.Iteration), ("env_steps", run.EnvSteps),
                    ("final_mean_return", last.MeanReturn), ("final_success_rate", last.SuccessRate));
            }
            double sps = (run.EnvSteps - stepsAtStart) / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
            onIteration?.Invoke(new TrainingProgress(last, run.Common.NumBatches, sps, clock.Elapsed, startIteration));
            if (stopping) break;
        }
        if (last is null) return; // nothing ran (the run was already complete): keep its summary
        double seconds = clock.Elapsed.TotalSeconds;
        dir.WriteSummary(new
        {
            algorithm = run.Algorithm,
            env = run.Distribution.Name,
            seed = run.Seed,
            task = run.Task?.ToString(),
            iterations = run.Iteration,
            env_steps = run.EnvSteps,
            final_mean_return = last?.MeanReturn,
            final_success_rate = last?.SuccessRate,
            seconds_this_session = seconds,
            training_seconds = earlierSeconds + seconds,
        });
    }

    /// <summary>The summary.json key of a run's training time over all its sessions.</summary>
    public const string TrainingSecondsKey = "training_seconds";
}
