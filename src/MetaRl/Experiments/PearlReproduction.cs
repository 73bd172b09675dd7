using System.Globalization;
using System.Text;
using MetaRl.Algorithms;
using MetaRl.Algorithms.Pearl;
using MetaRl.Configuration;
using MetaRl.Envs;
using MetaRl.Envs.Navigation;
using MetaRl.Evaluation;

namespace MetaRl.Experiments;

/// <summary>
/// `metarl reproduce pearl-point-robot`: PEARL with oyster's sparse-point-robot config (the critic on dense rewards,
/// the context on sparse ones), evaluated as oyster does (num-exp-traj-eval episodes with z from the prior, then
/// posterior sampling, most likely actions) on held-out goals, episode by episode, beside the goal-known return.
/// The run lives in a fixed directory and is resumed, so it can be trained over several invocations.
/// </summary>
public static class PearlReproduction
{
    public const string Name = "pearl-point-robot";

    /// <summary>oyster's num_iterations.</summary>
    public const int PaperIterations = 500;

    /// <summary>
    /// oyster's num_steps_per_eval for the sparse point robot: 400 steps, 20 episodes of 20 per goal, the posterior
    /// inferred again after each episode past the exploration ones; oyster reports the last episode's return.
    /// </summary>
    public const int OysterEvalSteps = 400;

    /// <summary>Quick mode's episodes beyond the exploration ones.</summary>
    const int QuickExtraEpisodes = 3;

    /// <summary>Prior draws per goal for the exploration reach.</summary>
    const int ReachDraws = 50;

    /// <summary>Trials per goal of posterior sampling at its best (<see cref="Oracles.SparsePointRobotPosteriorSampling"/>).</summary>
    const int IdealTrials = 200;

    /// <summary>Iterations between the checkpoints the run keeps, for the report's "across training" table (each holds the replay buffers: 43 MB at iteration 120 of the reduced run, 79 MB at 230).</summary>
    const int KeepEvery = 50;

    /// <summary>oyster's num_evals: independent evaluations of each held-out goal.</summary>
    public const int OysterNumEvals = 2;

    /// <summary>PEARL's preset of this project's reduced runs (<see cref="PearlConfig.ReducedPreset"/>), the one `--preset` takes here.</summary>
    public const string Reduced = "reduced";

    /// <summary>
    /// A reproduction's settings; NumEvals is the independent evaluations of each held-out goal (more than oyster's
    /// narrow the readings' standard error); Preset is null (oyster's scale) or <see cref="Reduced"/>.
    /// </summary>
    public sealed record Options(int Seed, bool Quick, string OutRoot, int? Iterations = null, int NumEvals = OysterNumEvals, string? Preset = null);

    /// <summary>
    /// The evaluation seeds: evaluation streams 1 and 2 (the default's, so that its reports stay the same), then 5, 6, ...
    /// (3 and 4 are the exploration-reach draws' and the exact posterior's).
    /// </summary>
    public static int[] EvaluationSeeds(int runSeed, int numEvals)
    {
        if (numEvals < 1) throw new ArgumentOutOfRangeException(nameof(numEvals), numEvals, "num-evals must be >= 1");
        return Enumerable.Range(1, numEvals).Select(k => Seeds.Evaluation(runSeed, k <= 2 ? k : k + 2)).ToArray();
    }

    public static Dictionary<string, string> Values(Options o)
    {
        // The preset's values are written out (not its name), so that a run is resumed only with each of them.
        var v = o.Preset is { } preset ? new Dictionary<string, string>(LearnerRegistry.Get("pearl").Presets[preset]) : [];
        v["num-batches"] = $"{o.Iterations ?? (o.Quick ? 3 : PaperIterations)}";
        v["keep-checkpoint-every"] = $"{(o.Quick ? 1 : KeepEvery)}";
        if (o.Quick)
            foreach (var (k, x) in new[] { ("hidden-sizes", "32,32"), ("encoder-hidden-sizes", "32,32"), ("num-train-steps-per-itr", "20"), ("meta-batch", "4"),
                ("batch-size", "32"), ("embedding-batch-size", "64"), ("num-tasks-sample", "2"), ("num-steps-posterior", "100") })
                v[k] = x;
        return v;
    }

    public static string Run(Options o, TextWriter log)
    {
        string root = Path.Combine(o.OutRoot, $"reproduce-{Name}{(o.Preset is { } preset ? $"-{preset}" : "")}{(o.Quick ? "-quick" : "")}");
        string runPath = Path.Combine(root, $"pearl-seed{o.Seed}");
        var trained = Reproduction.TrainOrResume("pearl", "sparse-point-robot", Values(o), o.Seed, runPath, "pearl", log);
        var run = trained.Run;
        var pearl = (Pearl)run.Learner;
        int exploration = run.Get<PearlConfig>().NumExpTrajEval;
        int episodes = o.Quick ? exploration + QuickExtraEpisodes : Math.Max(exploration + 1, OysterEvalSteps / run.Distribution.MaxEpisodeSteps), budget = episodes - 1;
        var splits = run.Distribution.Splits();
        int maxTasks = o.Quick ? 10 : 40;
        int[] seeds = EvaluationSeeds(o.Seed, o.NumEvals);
        log.WriteLine("evaluating pearl ...");
        var curves = new List<List<AdaptationPoint>>
        {
            MetaEvaluator.Evaluate("pearl", pearl, splits, budget, seeds, maxTasks),
            MetaEvaluator.Evaluate("goal known", (tasks, _) => Oracles.SparsePointRobot(tasks, budget), splits, budget, [0], maxTasks),
        };
        var points = MetaEvaluator.AcrossRuns(curves);
        File.WriteAllText(Path.Combine(root, "adaptation.csv"), MetaEvaluator.ToCsv(points));
        var heldOut = splits.Test.Take(maxTasks).ToList();
        var found = ExplorationSplit(pearl, heldOut, exploration, seeds);
        var read = ReadContexts(pearl, heldOut, exploration, seeds);
        var reach = Reach(pearl, heldOut, exploration, o.Quick ? 5 : ReachDraws, Seeds.Evaluation(o.Seed, 3));
        var ideal = Oracles.SparsePointRobotPosteriorSampling(heldOut.Cast<GoalTask>().ToList(), exploration, episodes, o.Quick ? 20 : IdealTrials, new Rng(Seeds.Evaluation(o.Seed, 4)));
        var changed = Reproduction.DifferencesFromReference(run.Algorithm, run.Distribution.Name, Config.Values(run.Configs));
        // The latest row is the main table's held-out evaluation, not run again.
        var history = AcrossTraining(RunDirectory.At(runPath), run.Iteration, heldOut, budget, exploration, seeds);
        history.Add(ToCheckpoint(run, points.Where(p => p.Method == "pearl" && p.Split == "test"), read, exploration, budget));
        string report = Report(points, found, read, reach, ideal, changed, history, run, trained.TrainingSeconds, exploration, o) + Reproduction.Notes(root);
        File.WriteAllText(Path.Combine(root, "report.md"), report);
        log.WriteLine(report);
        log.WriteLine($"Results: {root} (report.md, adaptation.csv, the run directory)");
        return root;
    }

    /// <summary>
    /// Success after exploration split on whether an exploration episode reached the goal, so that the context holds a
    /// sparse reward: over goal-seed pairs, how many reached it and how many of those succeeded in the first posterior
    /// episode, and the same for the others. The same episodes as the main table's (same seeds, same draws).
    /// </summary>
    public static (int Reached, int SuccessWhereReached, int Missed, int SuccessWhereMissed) ExplorationSplit(Pearl pearl, IReadOnlyList<object> tasks, int exploration, IReadOnlyList<int> seeds)
    {
        int reached = 0, successReached = 0, missed = 0, successMissed = 0;
        foreach (int seed in seeds)
        {
            var r = pearl.AdaptTo(tasks, exploration, new Rng(seed));
            for (int k = 0; k < tasks.Count; k++)
            {
                int after = r.SuccessRates[exploration][k] > 0 ? 1 : 0;
                if (Enumerable.Range(0, exploration).Any(j => r.SuccessRates[j][k] > 0)) { reached++; successReached += after; }
                else { missed++; successMissed += after; }
            }
        }
        return (reached, successReached, missed, successMissed);
    }

    /// <summary>
    /// How far exploration reaches, beside posterior sampling at its best: the chance that one episode with z from the
    /// prior (most likely actions) comes within the goal radius of a goal, over <paramref name="draws"/> draws per goal,
    /// and the chance that the exploration episodes would find it if they were independent such episodes; then the same
    /// two for an agent that heads for one goal drawn uniformly from the half-circle per episode (exact, from the env's
    /// dynamics: <see cref="Oracles.SparsePointRobotSampledGoalReach"/>). Means over <paramref name="tasks"/>.
    /// </summary>
    public static (double Episode, double Exploration, double IdealEpisode, double IdealExploration) Reach(Pearl pearl, IReadOnlyList<object> tasks, int exploration, int draws, int seed)
    {
        var hits = new double[tasks.Count];
        for (int d = 0; d < draws; d++)
        {
            var r = pearl.AdaptTo(tasks, 0, new Rng(seed * 1000L + d));
            for (int k = 0; k < tasks.Count; k++) hits[k] += r.SuccessRates[0][k];
        }
        var p = hits.Select(h => h / draws).ToList();
        var ideal = tasks.Select(t => Oracles.SparsePointRobotSampledGoalReach((GoalTask)t)).ToList();
        double Found(double q) => 1 - Math.Pow(1 - q, exploration);
        return (p.Average(), p.Average(Found), ideal.Average(), ideal.Average(Found));
    }

    /// <summary>
    /// What the learnt posterior makes of a context: successes of one episode with z at the posterior's mean (most likely
    /// actions) after it. <c>Found</c> goal-seed pairs whose exploration episodes (the main table's) reached the goal, so
    /// that the context holds its reward; of those, successes from the exploration's whole context and from its rewarded
    /// transitions alone. And over the <c>Goals</c>, successes from the context of one goal-known episode (straight to
    /// the goal, then stay): what the encoder and the actor do with a clean context.
    /// </summary>
    public sealed record ContextReading(int Found, int FromExploration, int FromRewarded, int Goals, int FromGoalKnown);

    public static ContextReading ReadContexts(Pearl pearl, IReadOnlyList<object> tasks, int exploration, IReadOnlyList<int> seeds)
    {
        int size = pearl.ContextSize, reward = pearl.ContextRewardIndex;
        IEnumerable<int> Rewarded(IReadOnlyList<float> c) => Enumerable.Range(0, c.Count / size).Where(row => c[row * size + reward] > 0);
        int found = 0, fromExploration = 0, fromRewarded = 0;
        foreach (int seed in seeds)
        {
            pearl.AdaptTo(tasks, exploration - 1, new Rng(seed), out var contexts);
            var hit = Enumerable.Range(0, tasks.Count).Where(k => Rewarded(contexts[k]).Any()).ToList();
            if (hit.Count == 0) continue;
            var hitTasks = hit.Select(k => tasks[k]).ToList();
            int Successes(Func<int, IReadOnlyList<float>> context) =>
                pearl.SucceedsWith(hitTasks, hit.SelectMany(k => pearl.PosteriorMean(context(k))).ToArray(), new Rng(seed)).Count(x => x);
            found += hit.Count;
            fromExploration += Successes(k => contexts[k]);
            fromRewarded += Successes(k => Rewarded(contexts[k]).SelectMany(row => contexts[k].Skip(row * size).Take(size)).ToList());
        }
        var known = tasks.Select(t =>
        {
            var c = new List<float>();
            Oracles.SparsePointRobotHeadingFor((GoalTask)t, (GoalTask)t, onStep: (s, a, r, next) => pearl.AppendContextRow(s, a, r, next, c));
            return c;
        }).ToList();
        int fromKnown = pearl.SucceedsWith(tasks, known.SelectMany(pearl.PosteriorMean).ToArray(), new Rng(seeds[0])).Count(x => x);
        return new ContextReading(found, fromExploration, fromRewarded, tasks.Count, fromKnown);
    }

    /// <summary>
    /// One row of the "across training" table: held-out success right after exploration and in the last episode, the
    /// last episode's return, and what the posterior makes of the exploration's context (<see cref="ReadContexts"/>).
    /// </summary>
    public sealed record Checkpoint(int Iteration, long EnvSteps, double SuccessAfterExploration, double SuccessLast, double ReturnLast, ContextReading Read);

    /// <summary>
    /// How the run's adaptation grew with training: the held-out evaluation (the same goals, seeds and protocol as the
    /// main table) at every checkpoint the run kept (keep-checkpoint-every) before its latest, <paramref name="latestIteration"/>.
    /// </summary>
    public static List<Checkpoint> AcrossTraining(RunDirectory dir, int latestIteration, IReadOnlyList<object> heldOut, int budget, int exploration, IReadOnlyList<int> seeds)
    {
        var splits = new TaskSplits<object>([], heldOut, []);
        return Trainer.AtKeptCheckpoints(dir, latestIteration, then =>
            ToCheckpoint(then, MetaEvaluator.Evaluate("pearl", (Pearl)then.Learner, splits, budget, seeds, heldOut.Count), ReadContexts((Pearl)then.Learner, heldOut, exploration, seeds), exploration, budget));
    }

    static Checkpoint ToCheckpoint(TrainingRun run, IEnumerable<AdaptationPoint> heldOut, ContextReading read, int exploration, int budget)
    {
        var byStep = heldOut.ToDictionary(p => p.Step);
        return new Checkpoint(run.Iteration, run.EnvSteps, byStep[exploration].SuccessRate, byStep[budget].SuccessRate, byStep[budget].MeanReturn, read);
    }

    static string Report(List<AdaptationPoint> points, (int Reached, int SuccessWhereReached, int Missed, int SuccessWhereMissed) found, ContextReading read,
        (double Episode, double Exploration, double IdealEpisode, double IdealExploration) reach, double[] ideal, IReadOnlyList<(string Key, string Run, string Reference)> changed,
        IReadOnlyList<Checkpoint> history, TrainingRun run, double seconds, int exploration, Options o)
    {
        string F(double x) => x.ToString("0.00", CultureInfo.InvariantCulture);
        string P(double x) => (100 * x).ToString("0", CultureInfo.InvariantCulture) + "%";
        var c = run.Get<PearlConfig>();
        var sb = new StringBuilder();
        sb.AppendLine($"# PEARL on the sparse point robot: reproduction{(o.Quick ? " (quick mode: not the official settings)" : "")}");
        sb.AppendLine();
        sb.AppendLine(FormattableString.Invariant($"Seed {o.Seed}; {run.Iteration} iteration{(run.Iteration == 1 ? "" : "s")} of {c.NumTrainStepsPerItr} gradient steps, {run.EnvSteps:N0} env steps, {seconds / 60:0} min of training ({seconds / Math.Max(1, run.Iteration):0.0} s per iteration)."));
        sb.AppendLine(FormattableString.Invariant($"Settings: oyster's configs/sparse-point-robot.json (meta-batch {c.MetaBatch}, context batch {c.EmbeddingBatchSize}, reward scale {c.RewardScale}, kl-lambda {c.KlLambda}, gamma {run.Common.Gamma}, {c.NumTrainTasks} training tasks){(o.Quick ? " shrunk for the quick mode" : o.Preset is { } preset ? $" at the {preset} preset's scale (--preset {preset})" : "")}")
            + (changed.Count == 0 ? "." : $"; this run differs from it in {string.Join(", ", changed.Select(d => $"{d.Key} {d.Run} (oyster: {d.Reference})"))}."));
        sb.AppendLine();
        int episodes = points.Where(p => p.Method == "pearl").Max(p => p.Step) + 1;
        sb.AppendLine($"Evaluation as oyster: on each held-out goal, {episodes} episodes with the most likely actions{(o.Quick ? "" : $" (oyster's {OysterEvalSteps} evaluation steps; oyster reports the last episode)")}; the first {exploration} with z from the prior, each later one with z from the posterior of every transition seen so far (sparse rewards in the context). Success: within 0.2 of the goal at some step. Mean over up to {(o.Quick ? 10 : 40)} goals per split and {o.NumEvals} evaluation seed{(o.NumEvals == 1 ? "" : "s")} (num-evals); CI over goals.");
        sb.AppendLine();
        foreach (var split in new[] { "test", "train", "ood" })
        {
            var rows = points.Where(p => p.Split == split && p.Method == "pearl").OrderBy(p => p.Step).ToList();
            if (rows.Count == 0) continue;
            var known = points.Where(p => p.Split == split && p.Method == "goal known").ToDictionary(p => p.Step);
            sb.AppendLine($"## {(split == "ood" ? "out of distribution (goals on the lower half circle)" : split == "test" ? "held-out goals" : "training goals")}");
            sb.AppendLine();
            // Posterior sampling at its best is computed on the held-out goals.
            bool heldOut = split == "test";
            sb.AppendLine($"| episode | z from | pearl return | pearl success | goal known return |{(heldOut ? " posterior sampling at its best: success |" : "")}");
            sb.AppendLine($"|---|---|---|---|---|{(heldOut ? "---|" : "")}");
            foreach (var p in rows)
                sb.AppendLine($"| {p.Step + 1} | {(p.Step < exploration ? "prior" : $"posterior of {p.Step} episodes")} | {F(p.MeanReturn)} ± {F(p.Ci95)} | {P(p.SuccessRate)} | {(known.TryGetValue(p.Step, out var g) ? F(g.MeanReturn) : "")} |"
                    + (heldOut ? $" {P(ideal[p.Step])} |" : ""));
            if (heldOut)
            {
                sb.AppendLine();
                sb.AppendLine($"Posterior sampling at its best: the same protocol played with the exact posterior over goals ({(o.Quick ? 20 : IdealTrials)} trials per goal): each exploration episode heads for a goal drawn uniformly from the half-circle, "
                    + "each later one for the goal found, or else for one drawn from the goals no episode so far came within 0.2 of (computed from the env's dynamics).");
            }
            sb.AppendLine();
        }
        var test = points.Where(p => p.Split == "test" && p.Method == "pearl").OrderBy(p => p.Step).ToList();
        var after = test.Where(p => p.Step >= exploration).ToList();
        if (after.Count > 0)
        {
            double explorationBest = test.Take(exploration).Max(p => p.SuccessRate);
            bool rising = after[0].SuccessRate > explorationBest && after[^1].SuccessRate >= after[0].SuccessRate;
            var best = after.MaxBy(p => p.SuccessRate)!;
            // Each goal-seed pair succeeds or not: one binomial standard error says how far a reading may move by chance.
            int pairs = found.Reached + found.Missed;
            string Se(double q) => FormattableString.Invariant($"± {100 * Math.Sqrt(q * (1 - q) / pairs):0} points");
            sb.AppendLine("## The bar");
            sb.AppendLine();
            sb.AppendLine($"Success after the {exploration} exploration episodes at least 70% and rising with context: episode {exploration + 1} {P(after[0].SuccessRate)} "
                + $"({Se(after[0].SuccessRate)}, {(after[0].SuccessRate >= 0.7 ? "at least 70%" : "below 70%")}; exploration episodes at most {P(explorationBest)}), episode {test.Count} (the last) {P(after[^1].SuccessRate)} ({Se(after[^1].SuccessRate)}), "
                + $"highest {P(best.SuccessRate)} at episode {best.Step + 1}: {(after[0].SuccessRate >= 0.7 && rising ? "met" : "not met")} (standard errors: binomial, over {pairs} goal-seed pairs). "
                + $"Posterior sampling at its best: episode {exploration + 1} {P(ideal[exploration])}, episode {ideal.Length} {P(ideal[^1])}"
                + (ideal[exploration] < 0.7 ? $"; 70% right after {exploration} exploration episodes that each chase one goal from the prior is above what even the exact posterior reaches there." : "."));
            sb.AppendLine();
            // With sparse rewards a context without any reward says only where the goal is not.
            string Share(int n, int of) => of == 0 ? "-" : $"{n} of {of} ({P((double)n / of)})";
            sb.AppendLine("## How far exploration reaches");
            sb.AppendLine();
            sb.AppendLine($"Where exploration found the goal: on {Share(found.Reached, found.Reached + found.Missed)} held-out goal-seed pairs an exploration episode reached it; "
                + $"episode {exploration + 1} succeeded on {Share(found.SuccessWhereReached, found.Reached)} of those and on {Share(found.SuccessWhereMissed, found.Missed)} of the others.");
            sb.AppendLine();
            sb.AppendLine($"One episode with z from the prior reaches a held-out goal with probability {P(reach.Episode)} ({(o.Quick ? 5 : ReachDraws)} draws of z per goal); "
                + $"{exploration} independent such episodes would find {P(reach.Exploration)} of the goals. Posterior sampling at its best, an agent that heads for one goal drawn "
                + $"uniformly from the half-circle in each episode (exact, from the env's dynamics), reaches a goal with probability {P(reach.IdealEpisode)} per episode and finds "
                + $"{P(reach.IdealExploration)} of the goals in {exploration} episodes: where exploration episodes each chase one sampled goal, success in episode {exploration + 1} "
                + "exceeds this only where that episode finds a goal exploration missed.");
            sb.AppendLine();
            sb.AppendLine($"What the posterior makes of the context (one episode with z at the posterior's mean, most likely actions): where exploration reached the goal, "
                + $"{Share(read.FromExploration, read.Found)} succeed from the exploration's whole context and {Share(read.FromRewarded, read.Found)} from its rewarded transitions alone; "
                + $"from the context of one goal-known episode (straight to the goal, then stay), {Share(read.FromGoalKnown, read.Goals)} held-out goals. "
                + "Where the first two differ, the transitions without a reward pull the posterior off a goal the context holds.");
            sb.AppendLine();
            sb.AppendLine("## Across training");
            sb.AppendLine();
            sb.AppendLine("Held-out goals, the same evaluation at every checkpoint the run kept (keep-checkpoint-every) and at its latest:");
            sb.AppendLine();
            sb.AppendLine($"| iteration | env steps | success, episode {exploration + 1} | success, episode {test.Count} | return, episode {test.Count} | where exploration found the goal, posterior mean from its context / its rewarded transitions |");
            sb.AppendLine("|---|---|---|---|---|---|");
            string Of(int n, int of) => of == 0 ? "-" : P((double)n / of);
            foreach (var h in history)
                sb.AppendLine(FormattableString.Invariant($"| {h.Iteration} | {h.EnvSteps:N0} | {P(h.SuccessAfterExploration)} | {P(h.SuccessLast)} | {F(h.ReturnLast)} | {Of(h.Read.FromExploration, h.Read.Found)} / {Of(h.Read.FromRewarded, h.Read.Found)} |"));
            sb.AppendLine($"| posterior sampling at its best | | {P(ideal[exploration])} | {P(ideal[^1])} | | |");
        }
        return sb.ToString();
    }
}
