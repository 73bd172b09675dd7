using System.Globalization;
using System.Text;
using MetaRl.Algorithms.InContext;
using MetaRl.Evaluation;

namespace MetaRl.Experiments;

/// <summary>
/// The in-context learner's two experiments. `metarl reproduce icl-bandits`: the transformer against RL2 on RL2's
/// Table 1 setting n = 100 pulls, k = 10 arms, on RL2's training budget there (900 updates of 20,000 steps) and its
/// objective's settings, scored on the same 1000 held-out tasks and trial generator as RL2's table. `metarl reproduce
/// icl-context`: return against the number of past episodes the transformer sees (context-episodes), one run per
/// context length, on bandits and on 2D navigation.
/// </summary>
public static class InContextStudy
{
    public const string Bandits = "icl-bandits", Context = "icl-context";

    public sealed record Options(int Seed, bool Quick, string OutRoot, int? Iterations);

    /// <summary>
    /// RL2's figures on the bar's setting (docs/results/rl2-bandits/results.csv, seed 1, the same held-out tasks and trial
    /// generator), and the references there: the RL2 run's checkpoint was not kept, so RL2 is quoted, not rerun.
    /// </summary>
    public static readonly (string Method, double Mean, double StandardError)[] Rl2Table =
    [
        ("Random", 49.692, 0.346), ("Gittins", 83.674, 0.356), ("UCB1 (RL2 code)", 83.04, 0.36), ("RL2", 82.70, 0.38), ("RL2 (most likely action)", 82.82, 0.38),
    ];

    /// <summary>The bar's training: RL2's n = 100, k = 10 row (Rl2Reproduction.BanditTable) with the transformer for the GRU.</summary>
    public static Dictionary<string, string> BanditSettings(bool quick, int? iterations) => new()
    {
        ["episodes-per-trial"] = "100", ["batch-size"] = quick ? "2000" : "20000", ["num-batches"] = $"{iterations ?? (quick ? 3 : 900)}",
        ["lr"] = "0.001", ["anneal-lr"] = "true", ["ent-coef"] = "0.05", ["uniform-coef"] = "0.001", ["task-coef"] = "0.5", ["value-network"] = "separate",
        // A learned key beside the tokens lets a head count an arm's pulls, not only average its rewards (82.58 against 81.70 without).
        ["attention-sink"] = "true", ["checkpoint-every"] = "10",
    };

    public static string RunBandits(Options o, TextWriter log)
    {
        string root = Path.Combine(o.OutRoot, $"reproduce-{Bandits}{(o.Quick ? "-quick" : "")}");
        Directory.CreateDirectory(root);
        var values = BanditSettings(o.Quick, o.Iterations);
        var trained = Reproduction.TrainOrResume("icl", "bandit-k10", values, o.Seed, Path.Combine(root, "icl-n100-k10"), "icl n=100, k=10", log);
        int trials = o.Quick ? 200 : 1000;
        var tasks = trained.Run.Distribution.SampleTasks(trials, new Rng(Seeds.TableHeldOutTasks(100, 10)));
        var learner = (InContextLearner)trained.Run.Learner;
        var rows = new List<(string Method, double Mean, double Se)>();
        foreach (bool mostLikely in new[] { false, true })
        {
            var totals = learner.RunTrials(tasks, 100, new Rng(Seeds.TableRl2Trials(o.Seed)), mostLikely: mostLikely).TrialReturns();
            var (mean, ci) = Statistics.MeanAndCi95(totals);
            rows.Add((mostLikely ? "in-context learner (most likely action)" : "in-context learner", mean, ci / 1.96));
        }
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("# The in-context learner against RL2: 10-armed bandits, n = 100");
        sb.AppendLine();
        sb.AppendLine($"Total reward per trial of 100 pulls on {trials} held-out tasks (one trial each), mean ± standard error: the tasks and trial generator of " +
            "RL2's Table 1 reproduction (docs/results/rl2-bandits), where RL2 and the references below were measured (RL2 seed 1, quoted from there).");
        sb.AppendLine();
        sb.AppendLine("| method | total reward |");
        sb.AppendLine("|---|---|");
        foreach (var (m, mean, se) in Rl2Table) sb.AppendLine($"| {m} | {mean.ToString("0.00", inv)} ± {se.ToString("0.00", inv)} |");
        foreach (var (m, mean, se) in rows) sb.AppendLine($"| **{m}** | **{mean.ToString("0.00", inv)} ± {se.ToString("0.00", inv)}** |");
        double rl2 = Rl2Table.Single(r => r.Method == "RL2").Mean, rl2Se = Rl2Table.Single(r => r.Method == "RL2").StandardError;
        var (_, icl, iclSe) = rows[0];
        double diff = icl - rl2, diffSe = Math.Sqrt(iclSe * iclSe + rl2Se * rl2Se);
        sb.AppendLine();
        sb.AppendLine(FormattableString.Invariant($"In-context learner - RL2 (both sampling their actions): {diff:+0.00;-0.00} ± {diffSe:0.00} (standard error of the difference of two independent means; the tasks are the same, the trials' draws are not paired): ") +
            (diff >= 0 ? "it matches or beats RL2." : diff + 2 * diffSe >= 0 ? "level with RL2 within two standard errors." : "below RL2 by more than two standard errors."));
        sb.AppendLine();
        sb.AppendLine("## Training");
        sb.AppendLine();
        sb.AppendLine($"RL2's budget and objective on this setting (Rl2Reproduction.BanditTable: 900 PPO updates of 20,000 steps, lr 1e-3 annealed to 0, ent-coef 0.05, " +
            $"uniform-coef 0.001, task-coef 0.5, a separate value network) with a causal transformer for the GRU: {string.Join(", ", values.Select(kv => $"{kv.Key} {kv.Value}"))}; " +
            $"the transformer's other keys at their defaults (model-size 64, 2 layers, 4 heads, the whole trial in context). {trained.Run.Iteration} updates, " +
            $"{trained.Run.EnvSteps.ToString("N0", inv)} environment steps, {trained.TrainingSeconds.ToString("0", inv)} s of training.");
        string report = sb.ToString() + Reproduction.Notes(root);
        File.WriteAllText(Path.Combine(root, "report.md"), report);
        File.WriteAllText(Path.Combine(root, "results.csv"), "method,mean,standard_error,trials\n" +
            string.Concat(Rl2Table.Select(r => FormattableString.Invariant($"\"{r.Method}\",{r.Mean},{r.StandardError},1000\n")))
            + string.Concat(rows.Select(r => FormattableString.Invariant($"\"{r.Method}\",{r.Mean},{r.Se},{trials}\n"))));
        log.WriteLine(report);
        return root;
    }

    /// <summary>One row of the context-length study: a family, a context length (-1: all), and the mean return of each episode of the trial on held-out tasks (± 95% CI over tasks).</summary>
    public sealed record ContextRow(string Env, int ContextEpisodes, int Episodes, double[] EpisodeReturns, double[] EpisodeCi95, double TrialReturn, double TrialCi95);

    /// <summary>The study's families: bandits (k = 5, 10 one-pull episodes) and 2D navigation (3 episodes of 100 steps), each with the context lengths it runs.</summary>
    public static readonly (string Env, int Episodes, int[] Contexts, Dictionary<string, string> Values, int Iterations)[] ContextSettings =
    [
        ("bandit-k5", 10, [0, 1, 2, 4, -1], new() { ["batch-size"] = "5000", ["lr"] = "0.001", ["ent-coef"] = "0.01" }, 150),
        ("2d-navigation", 3, [0, 1, -1], new() { ["batch-size"] = "6000", ["lr"] = "0.0003", ["model-size"] = "32", ["heads"] = "2" }, 150),
    ];

    public static (string Root, IReadOnlyList<ContextRow> Rows) RunContext(Options o, TextWriter log)
    {
        string root = Path.Combine(o.OutRoot, $"reproduce-{Context}{(o.Quick ? "-quick" : "")}");
        Directory.CreateDirectory(root);
        var rows = new List<ContextRow>();
        foreach (var (env, episodes, contexts, settings, defaultIterations) in ContextSettings)
            foreach (int k in contexts)
            {
                var values = new Dictionary<string, string>(settings)
                {
                    ["episodes-per-trial"] = $"{episodes}", ["context-episodes"] = $"{k}",
                    ["num-batches"] = $"{o.Iterations ?? (o.Quick ? 2 : defaultIterations)}", ["checkpoint-every"] = "10",
                };
                if (o.Quick) values["batch-size"] = $"{episodes * EnvRegistry.Create(env).MaxEpisodeSteps * 4}";
                string label = $"{env}, context {(k < 0 ? "all" : k.ToString(CultureInfo.InvariantCulture))}";
                var trained = Reproduction.TrainOrResume("icl", env, values, o.Seed, Path.Combine(root, $"{env}-context{(k < 0 ? "all" : k.ToString(CultureInfo.InvariantCulture))}"), label, log);
                using var run = trained.Run;
                // Held-out tasks: the family's test split (bandits: 500 draws of it, one trial each; every method sees the same).
                var distribution = run.Distribution;
                var tasks = env.StartsWith("bandit", StringComparison.Ordinal)
                    ? distribution.SampleTasks(o.Quick ? 50 : 500, new Rng(Seeds.TestSplit))
                    : distribution.Splits().Test.Take(o.Quick ? 5 : 40).ToList();
                var batch = ((InContextLearner)run.Learner).RunTrials(tasks, episodes, new Rng(Seeds.Evaluation(o.Seed, 1)));
                var perEpisode = Enumerable.Range(0, episodes).Select(e => Statistics.MeanAndCi95(Enumerable.Range(0, tasks.Count).Select(b => batch.EpisodeReturns[b, e]).ToList())).ToList();
                var trial = Statistics.MeanAndCi95(batch.TrialReturns());
                rows.Add(new ContextRow(env, k, episodes, perEpisode.Select(p => p.Mean).ToArray(), perEpisode.Select(p => p.HalfWidth).ToArray(), trial.Mean, trial.HalfWidth));
                log.WriteLine(FormattableString.Invariant($"{label}: return per trial {trial.Mean:0.00} ± {trial.HalfWidth:0.00}"));
            }
        File.WriteAllText(Path.Combine(root, "context.csv"), ContextCsv(rows));
        File.WriteAllText(Path.Combine(root, "report.md"), ContextReport(rows, o) + Reproduction.Notes(root));
        return (root, rows);
    }

    public static string ContextCsv(IEnumerable<ContextRow> rows) =>
        "env,context_episodes,episode,mean_return,ci95\n" + string.Concat(rows.SelectMany(r =>
            Enumerable.Range(0, r.Episodes).Select(e => FormattableString.Invariant($"{r.Env},{r.ContextEpisodes},{e + 1},{r.EpisodeReturns[e]},{r.EpisodeCi95[e]}\n"))
                .Append(FormattableString.Invariant($"{r.Env},{r.ContextEpisodes},trial,{r.TrialReturn},{r.TrialCi95}\n"))));

    static string ContextReport(IReadOnlyList<ContextRow> rows, Options o)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("# How much context does in-context learning need?");
        sb.AppendLine();
        sb.AppendLine("The in-context learner trained and evaluated with its attention limited to its current episode and the K before it " +
            "(context-episodes K; \"all\": the whole trial). Each step's features are computed from those episodes alone, through every layer " +
            "(a window per episode, not a sliding attention mask, which would let L layers reach L x K episodes back). One run per K, the same seed " +
            $"({o.Seed}) and budget; mean return of each episode of the trial on held-out tasks, ± 95% CI over tasks. A step's own input " +
            "already carries the previous step's action, reward and done flag (RL2's x_t), so K = 0 is not memoryless: on bandits, where " +
            "an episode is one pull, it can still play win-stay, lose-shift on the last pull.");
        foreach (var g in rows.GroupBy(r => r.Env))
        {
            int n = g.First().Episodes;
            sb.AppendLine();
            sb.AppendLine($"## {g.Key}, {n} episodes per trial");
            sb.AppendLine();
            sb.AppendLine($"| context (past episodes) | {string.Join(" | ", Enumerable.Range(1, n).Select(e => $"episode {e}"))} | trial |");
            sb.AppendLine($"|---|{string.Concat(Enumerable.Repeat("---|", n))}---|");
            foreach (var r in g)
                sb.AppendLine($"| {(r.ContextEpisodes < 0 ? "all" : r.ContextEpisodes.ToString(inv))} | {string.Join(" | ", r.EpisodeReturns.Zip(r.EpisodeCi95, (m, c) => $"{m.ToString("0.00", inv)} ± {c.ToString("0.00", inv)}"))} | {r.TrialReturn.ToString("0.00", inv)} ± {r.TrialCi95.ToString("0.00", inv)} |");
            sb.AppendLine();
            sb.AppendLine($"![{g.Key}](context-{g.Key}.png)");
        }
        return sb.ToString();
    }
}
