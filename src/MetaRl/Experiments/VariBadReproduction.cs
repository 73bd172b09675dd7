using System.Globalization;
using System.Text;
using MetaRl.Algorithms;
using MetaRl.Algorithms.Rl2;
using MetaRl.Envs.GridWorld;
using MetaRl.Evaluation;

namespace MetaRl.Experiments;

/// <summary>
/// `metarl reproduce varibad-gridworld`: variBAD with the official grid-world settings (2e7 frames) and RL2 trained
/// on the same frames with the official RL2 config's PPO settings, evaluated as the official code does (one trial of
/// 4 episodes from the prior, the most likely actions) goal by goal, beside the exact references: the goal-known
/// return, the Bayes-optimal return of each episode and a uniformly random policy's (<see cref="GridWorldReference"/>).
/// Runs live in fixed directories and are resumed.
/// </summary>
public static class VariBadReproduction
{
    public const string Name = "varibad-gridworld";
    const int Episodes = 4;

    /// <summary>The official 2e7 frames: 16 processes x 60 steps per update.</summary>
    public const int PaperUpdates = 20834;

    /// <summary>
    /// The official grid-world config as it was on 2020-09-28 (a36d251; variBAD's preset of that name): 1e8 frames,
    /// entropy 0.1, KL weight 1, state embedding 32, Adam eps 1e-5. Today's config (ff26cd4) is the default.
    /// </summary>
    public const string Official2020 = "official-2020";

    /// <summary>
    /// Updates between the checkpoints each run keeps for the "across training" table: a quarter of today's 2e7 frames,
    /// every 2e7 frames of 2020's 1e8 (a variBAD checkpoint holds its VAE buffer, about 120 MB).
    /// </summary>
    static int KeepEvery(Options o) => o.Quick ? 1 : o.Preset == Official2020 ? PaperUpdates : PaperUpdates / 4 + 1;

    /// <summary>The methods the reproduction trains, in the report's order.</summary>
    public static readonly IReadOnlyList<string> Methods = ["varibad", "rl2"];

    /// <summary>
    /// What to run; <c>Preset</c> is null (today's official config) or <see cref="Official2020"/>, <c>Only</c> names the
    /// <see cref="Methods"/> to train and evaluate (all of them when null).
    /// </summary>
    public sealed record Options(int Seed, bool Quick, string OutRoot, int? Iterations = null, IReadOnlyList<string>? Only = null, string? Preset = null);

    static IReadOnlyDictionary<string, string> Preset(string name) => LearnerRegistry.Get("varibad").Presets[name];

    /// <summary>Updates per run: --iterations, else quick mode's 20, else the preset's (1e8 frames for 2020's) or today's 2e7 frames.</summary>
    static string Updates(Options o) => o.Iterations is { } n ? $"{n}" : o.Quick ? "20" : o.Preset is { } preset ? Preset(preset)["num-batches"] : $"{PaperUpdates}";

    public static Dictionary<string, string> VariBadValues(Options o)
    {
        // The preset's values are written out (not the preset's name), so that a run is resumed only with each of them.
        var v = o.Preset is { } preset ? new Dictionary<string, string>(Preset(preset)) : [];
        v["num-batches"] = Updates(o);
        v["keep-checkpoint-every"] = $"{KeepEvery(o)}";
        if (o.Quick) { v["num-processes"] = "4"; v["precollect-len"] = "240"; v["vae-batch-num-trajs"] = "4"; }
        return v;
    }

    /// <summary>
    /// Our RL2 (a GRU over observation, previous action, reward and done flag) with the PPO settings of the official
    /// config/gridworld/args_grid_rl2.py: 16 trials of 4 episodes per update, 2 epochs x 4 minibatches, clip 0.05,
    /// Adam 7e-4, entropy 0.01, value coefficient 0.5, gradient norm 0.5, gamma 0.95, GAE 0.95, a GRU of 64 units.
    /// With <see cref="Official2020"/>, that config's 2020 version: entropy 0.1 and 1e8 frames (its Adam eps 1e-5 is
    /// not a key of our RL2, which keeps PyTorch's 1e-8).
    /// </summary>
    public static Dictionary<string, string> Rl2Values(Options o)
    {
        var v = new Dictionary<string, string>
        {
            ["num-batches"] = Updates(o), ["optimizer"] = "ppo", ["episodes-per-trial"] = $"{Episodes}",
            ["batch-size"] = o.Quick ? "240" : "960", ["hidden-size"] = "64", ["lr"] = "7e-4", ["epochs"] = "2", ["minibatches"] = "4", ["clip"] = "0.05",
            ["ent-coef"] = o.Preset == Official2020 ? "0.1" : "0.01", ["vf-coef"] = "0.5", ["max-grad-norm"] = "0.5", ["gamma"] = "0.95", ["gae-lambda"] = "0.95",
            ["keep-checkpoint-every"] = $"{KeepEvery(o)}",
        };
        return v;
    }

    /// <summary>Per-episode returns [goal][episode] of a method on every one of the 21 goals.</summary>
    sealed record PerGoal(string Method, double[][] Returns, double Seconds, long Frames);

    /// <summary>One row of the "across training" table: a method's mean return in each episode of the trial over the 21 goals at one checkpoint.</summary>
    public sealed record Checkpoint(string Method, int Iteration, long Frames, double[] EpisodeReturns);

    public static string Run(Options o, TextWriter log)
    {
        string root = Path.Combine(o.OutRoot, $"reproduce-{Name}{(o.Preset is { } preset ? $"-{preset}" : "")}{(o.Quick ? "-quick" : "")}");
        var goals = GridWorldDistribution.TrainGoals.Cast<object>().ToList();
        var splits = new GridWorldDistribution().Splits();
        var curves = new List<List<AdaptationPoint>>();
        var results = new List<PerGoal>();
        var history = new List<Checkpoint>();
        int evalSeed = Seeds.Evaluation(o.Seed, 1);

        foreach (string method in Methods.Where(m => o.Only is null || o.Only.Contains(m)))
        {
            string runPath = Path.Combine(root, $"{method}-seed{o.Seed}");
            var trained = Reproduction.TrainOrResume(method, "gridworld", method == "varibad" ? VariBadValues(o) : Rl2Values(o), o.Seed, runPath, method, log);
            log.WriteLine($"evaluating {method} ...");
            var adapt = OfficialEvaluation(trained.Run);
            var perGoal = Transpose(adapt(goals, new Rng(evalSeed)).Returns);
            results.Add(new(method, perGoal, trained.TrainingSeconds, trained.Run.EnvSteps));
            curves.Add(MetaEvaluator.Evaluate(method, adapt, splits, Episodes - 1, [evalSeed]));
            // The latest row is the main table's evaluation, not run again.
            history.AddRange(AcrossTraining(RunDirectory.At(runPath), trained.Run.Iteration, goals, evalSeed));
            history.Add(new(method, trained.Run.Iteration, trained.Run.EnvSteps, EpisodeMeans(perGoal)));
        }

        var points = MetaEvaluator.AcrossRuns(curves);
        File.WriteAllText(Path.Combine(root, "adaptation.csv"), MetaEvaluator.ToCsv(points));
        string report = Report(results, history, o) + Reproduction.Notes(root);
        File.WriteAllText(Path.Combine(root, "report.md"), report);
        log.WriteLine(report);
        log.WriteLine($"Results: {root} (report.md, adaptation.csv, one run directory per method)");
        return root;
    }

    /// <summary>
    /// The official evaluation of a trained run (utils/evaluation.py): one trial of 4 episodes per task from the prior
    /// (variBAD's belief, RL2's GRU state), the most likely action at every step.
    /// </summary>
    static Func<IReadOnlyList<object>, Rng, AdaptationResult> OfficialEvaluation(TrainingRun run)
    {
        if (run.Learner is not Rl2 rl2)
        {
            var learner = (IMetaLearner)run.Learner;
            return (tasks, rng) => learner.AdaptTo(tasks, Episodes - 1, rng);
        }
        return (tasks, rng) =>
        {
            var b = rl2.RunTrials(tasks, Episodes, rng, mostLikely: true);
            return new AdaptationResult(
                Enumerable.Range(0, Episodes).Select(e => Enumerable.Range(0, tasks.Count).Select(t => b.EpisodeReturns[t, e]).ToArray()).ToArray(),
                Enumerable.Range(0, Episodes).Select(e => Enumerable.Range(0, tasks.Count).Select(t => b.EpisodeSuccess[t, e] ? 1.0 : 0.0).ToArray()).ToArray(), 1);
        };
    }

    /// <summary>
    /// How a run's trials grew with training: the main table's evaluation (every goal, the same seed) at every checkpoint
    /// the run kept (keep-checkpoint-every) before its latest, <paramref name="latestIteration"/>.
    /// </summary>
    public static List<Checkpoint> AcrossTraining(RunDirectory dir, int latestIteration, IReadOnlyList<object> goals, int evalSeed)
        => Trainer.AtKeptCheckpoints(dir, latestIteration, then =>
            new Checkpoint(then.Algorithm, then.Iteration, then.EnvSteps, EpisodeMeans(Transpose(OfficialEvaluation(then)(goals, new Rng(evalSeed)).Returns))));

    static double[] EpisodeMeans(double[][] perGoal) => Enumerable.Range(0, Episodes).Select(e => perGoal.Average(g => g[e])).ToArray();

    /// <summary>
    /// Whether ours agrees with the variBAD paper that variBAD is nearer Bayes-optimal than RL2 in episode 1, read from
    /// each method's expected episode-1 return (its mean over the goals, as the report shows it: to 0.01), which the bars
    /// read too and which does not depend on which of the equally good first paths a learner took.
    /// </summary>
    public static string EpisodeOneVerdict(IReadOnlyList<(string Method, double MeanReturn)> episodeOne, double bayesOptimal)
    {
        string F(double x) => x.ToString("0.00", CultureInfo.InvariantCulture);
        string line = "Episode 1 in expectation over the goals: " + string.Join(", ", episodeOne.Select(m => $"{m.Method} {F(m.MeanReturn)}"))
            + $", Bayes-optimal {F(bayesOptimal)}. The variBAD paper reports variBAD nearer Bayes-optimal than RL2 in episode 1; ";
        var gap = episodeOne.ToDictionary(m => m.Method, m => Math.Abs(Math.Round(m.MeanReturn, 2) - Math.Round(bayesOptimal, 2)));
        if (!gap.ContainsKey("varibad") || !gap.ContainsKey("rl2")) return line + "this reproduction ran one of them.";
        return line + (Math.Abs(gap["varibad"] - gap["rl2"]) < 0.005 ? "here they are level."
            : gap["varibad"] < gap["rl2"] ? "ours agrees." : "ours does not agree: RL2 is nearer.");
    }

    /// <summary>
    /// Each method's episode 2 beside the best any policy could do after its own first episode: the goals it found earn
    /// the goal-known return at best, and the goals it left (every step -0.1) the Bayes-optimal rest of the trial from
    /// those cells (<see cref="GridWorldReference.BayesOptimalReturnsFrom"/>). This separates what the first episode's
    /// choice of path cost from what the second episode's search loses on its own.
    /// </summary>
    static void AppendSecondEpisode(StringBuilder sb, List<PerGoal> results)
    {
        string F(double x) => x.ToString("0.00", CultureInfo.InvariantCulture);
        var goals = GridWorldDistribution.TrainGoals;
        double missed = -0.1 * GridWorldReference.EpisodeSteps;
        sb.AppendLine("## Episode 2 against what episode 1 left");
        sb.AppendLine();
        sb.AppendLine("| method | cells episode 1 left unchecked | best episode 2 from there (exact) | its episode 2 |");
        sb.AppendLine("|---|---|---|---|");
        foreach (var m in results)
        {
            var left = Enumerable.Range(0, goals.Count).Where(g => m.Returns[g][0] <= missed + 1e-6).ToList();
            double found = Enumerable.Range(0, goals.Count).Except(left).Sum(g => GridWorldReference.GoalKnownReturn(goals[g]));
            double rest = left.Count == 0 ? 0 : left.Count * GridWorldReference.BayesOptimalReturnsFrom(left.Select(g => goals[g]), Episodes - 1)[0];
            string cells = left.Count == 0 ? "none" : string.Join(", ", left.Select(g => $"({goals[g].GoalX}, {goals[g].GoalY})"));
            sb.AppendLine($"| {m.Method} | {cells} | {F((found + rest) / goals.Count)} | {F(m.Returns.Average(g => g[1]))} |");
        }
        sb.AppendLine();
        sb.AppendLine("Where a method's episode 2 equals the best from what its episode 1 left, its second episode searches optimally and "
            + "the rest of its shortfall against the goal-known return was fixed by where its first episode searched: only first "
            + "episodes that leave the unchecked cells on one shortest sweep let episode 2 reach the goal-known return.");
    }

    /// <summary>The "across training" table: each method's trial at every kept checkpoint and at its latest, with the bars met or not.</summary>
    static void AppendAcrossTraining(StringBuilder sb, IReadOnlyList<Checkpoint> history, double bar1, double barLater)
    {
        string F(double x) => x.ToString("0.00", CultureInfo.InvariantCulture);
        sb.AppendLine("## Across training");
        sb.AppendLine();
        sb.AppendLine("The same evaluation (every goal, the same seed, the most likely actions) at every checkpoint each run kept "
            + "(keep-checkpoint-every) and at its latest; the last column names the bars it meets (episode 1, episodes 2-4, both or none):");
        sb.AppendLine();
        sb.AppendLine("| method | update | frames | episode 1 | episode 2 | episode 3 | episode 4 | bars |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var c in history)
        {
            bool first = c.EpisodeReturns[0] >= bar1, later = c.EpisodeReturns.Skip(1).All(x => x >= barLater);
            string bars = first && later ? "both" : first ? "episode 1" : later ? "episodes 2-4" : "none";
            sb.AppendLine($"| {c.Method} | {c.Iteration} | {c.Frames:N0} | {string.Join(" | ", c.EpisodeReturns.Select(F))} | {bars} |");
        }
        sb.AppendLine();
    }

    static double[][] Transpose(double[][] byEpisode) =>
        Enumerable.Range(0, byEpisode[0].Length).Select(g => byEpisode.Select(e => e[g]).ToArray()).ToArray();

    /// <summary>The Bayes-optimal agent's episode-1 return on each goal: it follows the optimal search path until it steps on the goal, then stays.</summary>
    public static double[] BayesOptimalFirstEpisode()
    {
        var path = GridWorldReference.BayesOptimalFirstSearchPath(Episodes);
        return GridWorldDistribution.TrainGoals.Select(g =>
        {
            int t = path.ToList().FindIndex(c => c.X == g.GoalX && c.Y == g.GoalY) + 1; // the step that reaches it (0: never)
            return t == 0 ? -0.1 * GridWorldReference.EpisodeSteps : -0.1 * (t - 1) + (GridWorldReference.EpisodeSteps - t + 1);
        }).ToArray();
    }

    /// <summary>The bars of the issue: episode 1 at least 90% of the Bayes-optimal margin over random; episodes 2-4 within 5% of the goal-known return.</summary>
    public static (double Episode1, double Later) Bars()
    {
        double random = GridWorldReference.UniformRandomEpisodeReturn(), bayes1 = GridWorldReference.BayesOptimalReturns(Episodes)[0];
        return (random + 0.9 * (bayes1 - random), 0.95 * GridWorldReference.GoalKnownMeanReturn());
    }

    static string Report(List<PerGoal> results, IReadOnlyList<Checkpoint> history, Options o)
    {
        string F(double x) => x.ToString("0.00", CultureInfo.InvariantCulture);
        var sb = new StringBuilder();
        double known = GridWorldReference.GoalKnownMeanReturn(), random = GridWorldReference.UniformRandomEpisodeReturn();
        var bayes = GridWorldReference.BayesOptimalReturns(Episodes);
        var (bar1, barLater) = Bars();
        sb.AppendLine($"# variBAD on the 5x5 grid world: reproduction{(o.Quick ? " (quick mode: not the official settings)" : "")}");
        sb.AppendLine();
        sb.AppendLine(o.Preset == Official2020
            ? "Settings: the official grid-world configs as they were on 2020-09-28 (lmzintgraf/varibad a36d251, preset official-2020): "
              + "1e8 frames, entropy 0.1, KL weight 1, state embedding 32 and Adam eps 1e-5 for variBAD; RL2 with that config's entropy 0.1 on the "
              + "same frames (its Adam eps 1e-5 is not a key of our RL2: 1e-8). The default reproduction trains today's configs (ff26cd4, 2e7 frames)."
            : "Settings: the official grid-world configs of today (lmzintgraf/varibad ff26cd4, 2e7 frames) for variBAD and, for RL2's PPO, "
              + "config/gridworld/args_grid_rl2.py; `--preset official-2020` trains those of 2020-09-28 (a36d251, 1e8 frames).");
        sb.AppendLine();
        sb.AppendLine($"Seed {o.Seed}. Each method is evaluated as the official code (utils/evaluation.py): one trial of {Episodes} episodes per goal, "
            + "the belief (or the GRU's state) from the prior, the most likely action at every step; every one of the 21 goals once (the goal "
            + "distribution is uniform over them, so this is the exact expectation the references are). Undiscounted return per 15-step episode.");
        sb.AppendLine();
        sb.AppendLine("| method | episode 1 | episode 2 | episode 3 | episode 4 | trial | frames | training time |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|");
        sb.AppendLine($"| goal known (exact) | {string.Join(" | ", Enumerable.Repeat(F(known), Episodes))} | {F(Episodes * known)} | | |");
        sb.AppendLine($"| Bayes-optimal (exact) | {string.Join(" | ", bayes.Select(F))} | {F(bayes.Sum())} | | |");
        sb.AppendLine($"| uniform random (exact) | {string.Join(" | ", Enumerable.Repeat(F(random), Episodes))} | {F(Episodes * random)} | | |");
        foreach (var m in results)
        {
            var perEpisode = Enumerable.Range(0, Episodes).Select(e => m.Returns.Average(g => g[e])).ToArray();
            sb.AppendLine($"| {m.Method} | {string.Join(" | ", perEpisode.Select(F))} | {F(perEpisode.Sum())} | {m.Frames:N0} | {m.Seconds / 60:0} min |");
        }
        sb.AppendLine();
        sb.AppendLine("## The bars");
        sb.AppendLine();
        sb.AppendLine($"- Episode 1 at least 90% of the Bayes-optimal margin over the random policy: at least {F(bar1)} "
            + $"(random {F(random)}, Bayes-optimal {F(bayes[0])}).");
        sb.AppendLine($"- Episodes 2-4 within 5% of the goal-known return: at least {F(barLater)} each (goal known {F(known)}).");
        sb.AppendLine();
        foreach (var m in results)
        {
            double e1 = m.Returns.Average(g => g[0]);
            var later = Enumerable.Range(1, Episodes - 1).Select(e => m.Returns.Average(g => g[e])).ToArray();
            sb.AppendLine($"- {m.Method}: episode 1 {F(e1)} ({(e1 >= bar1 ? "met" : "not met")}, {F(100 * (e1 - random) / (bayes[0] - random))}% of the margin); "
                + $"episodes 2-4 {string.Join(", ", later.Select(F))} ({(later.All(x => x >= barLater) ? "met" : "not met")}).");
        }
        sb.AppendLine();
        AppendAcrossTraining(sb, history, bar1, barLater);
        if (results.Any(m => m.Method == "varibad"))
        {
            sb.AppendLine("## What variBAD believes");
            sb.AppendLine();
            sb.AppendLine("Its belief over the goal cell at every step of the first two episodes on a held-out goal (`metarl belief <run>`; "
                + "the reproduction writes it beside this report):");
            sb.AppendLine();
            sb.AppendLine("![variBAD's belief](belief.png)");
            sb.AppendLine();
        }
        sb.AppendLine("## Goal by goal: episode 1");
        sb.AppendLine();
        var bayesFirst = BayesOptimalFirstEpisode();
        sb.AppendLine($"| goal | Bayes-optimal | {string.Join(" | ", results.Select(m => m.Method))} | goal known |");
        sb.AppendLine($"|---|---|{string.Join("", results.Select(_ => "---|"))}---|");
        for (int g = 0; g < GridWorldDistribution.TrainGoals.Count; g++)
        {
            var task = GridWorldDistribution.TrainGoals[g];
            sb.AppendLine($"| ({task.GoalX}, {task.GoalY}) | {F(bayesFirst[g])} | {string.Join(" | ", results.Select(m => F(m.Returns[g][0])))} | {F(GridWorldReference.GoalKnownReturn(task))} |");
        }
        sb.AppendLine();
        sb.AppendLine(EpisodeOneVerdict(results.Select(m => (m.Method, m.Returns.Average(r => r[0]))).ToList(), bayesFirst.Average()));
        var near = results.Select(m => (m.Method, Gap: m.Returns.Select((x, g) => Math.Abs(x[0] - bayesFirst[g])).Average())).ToList();
        sb.AppendLine();
        sb.AppendLine("Goal by goal, the mean distance of episode 1 from the Bayes-optimal column: "
            + string.Join(", ", near.Select(n => $"{n.Method} {F(n.Gap)}"))
            + ". It is not the verdict, because several search paths reach the Bayes-optimal episode-1 return (the first episode's expected return is "
            + "the same for any path that checks 14 new candidate cells, one per step after the first), and the column is "
            + "the one path the exact search found, which also sets up episode 2 best. A learner whose episode 1 is optimal along "
            + "another path can be far from that column goal by goal and still be Bayes-optimal in expectation; what tells them "
            + "apart is episode 2 (the cells left unchecked must lie on one shortest sweep for episode 2 to match the goal-known return).");
        sb.AppendLine();
        AppendSecondEpisode(sb, results);
        return sb.ToString();
    }
}
