using System.Globalization;
using System.Text;

namespace MetaRl.Experiments;

/// <summary>The report of an RL2 table: Markdown beside the paper's numbers, and the CSVs.</summary>
public static partial class Rl2Reproduction
{
    static string Report(Options o, string title, List<Cell> cells, List<Paired> paired, List<(string Setting, double[] Tried, double BestTried)> coverage,
        List<(string Setting, double Train, double Eval, int Iterations, bool Earlier)> timings,
        List<(string Setting, Dictionary<string, string> Values)> trainedWith, int testTrials, double wallSeconds)
    {
        var sb = new StringBuilder();
        bool bandits = o.Experiment == Bandits;
        sb.AppendLine($"# RL2 {title}: reproduction{(o.Quick ? " (quick mode: tiny training, not the paper's settings)" : "")}");
        sb.AppendLine();
        sb.AppendLine($"Total reward per trial on {testTrials} held-out tasks (one trial each), mean ± standard error; the paper's value in brackets. Classical constants tuned on separate training tasks (chosen value after the method's name in the table below). RL2 seed {o.Seed}.");
        sb.AppendLine();
        void Table(List<string> methods, Func<string, string> header)
        {
            sb.AppendLine($"| setup | {string.Join(" | ", methods.Select(header))} |");
            sb.AppendLine($"|---|{string.Concat(methods.Select(_ => "---|"))}");
            foreach (var g in cells.GroupBy(c => c.Setting))
                sb.AppendLine($"| {g.Key} | {string.Join(" | ", methods.Select(m => g.FirstOrDefault(c => c.Method == m) is { } c ? $"{F2(c.Mean)} ± {F2(c.StandardError)} ({F(c.Paper)})" : ""))} |");
            sb.AppendLine();
        }
        var methods = cells.Select(c => c.Method).Distinct().ToList();
        var paperPrior = methods.Where(m => m.EndsWith(PaperPrior, StringComparison.Ordinal)).ToList();
        Table(methods.Except(paperPrior).ToList(), m => m);
        if (paperPrior.Count > 0)
        {
            sb.AppendLine("### The same baselines with the paper's reward prior");
            sb.AppendLine();
            sb.AppendLine("The table above gives the classical agents the tasks' own prior (mean rewards N(1, 1)). The paper ran Osband's " +
                "TabulaRL agents with their default N(0, 1), which makes every untried action look worse than it is; here are the " +
                "same agents with that prior, tuned the same way, on the same tasks:");
            sb.AppendLine();
            Table(paperPrior, m => m[..^PaperPrior.Length]);
        }
        sb.AppendLine("## Against the paper");
        sb.AppendLine();
        sb.AppendLine(bandits
            ? "The bars (shared/reference/rl2.md): RL2 within 2% of the paper's RL2 or above it; a classical baseline within 2 standard errors or 2%, whichever is wider."
            : "The bars (shared/reference/rl2.md): RL2 within 3% of the paper's RL2 or above it; a classical baseline within 3% (or 2 standard errors, were that wider).");
        sb.AppendLine();
        sb.AppendLine("| setup | method | ours | paper | difference | within the bar |");
        sb.AppendLine("|---|---|---|---|---|---|");
        foreach (var c in cells)
        {
            double diff = c.Mean - c.Paper;
            sb.AppendLine($"| {c.Setting} | {c.Method} | {F2(c.Mean)} ± {F2(c.StandardError)} | {F(c.Paper)} | {(diff >= 0 ? "+" : "")}{F2(diff)} | {AgainstPaper(bandits, c.Method, c.Mean, c.StandardError, c.Paper)} |");
        }
        sb.AppendLine();
        if (paired.Count > 0)
        {
            var rivals = paired.Select(p => p.Against).Distinct().ToList();
            sb.AppendLine("## RL2 against the baselines, task by task");
            sb.AppendLine();
            sb.AppendLine("RL2's total minus the baseline's on each held-out task, averaged, ± the standard error of that paired difference; " +
                "\"above\" or \"below\" where the difference is more than two standard errors from zero, \"level\" otherwise.");
            sb.AppendLine();
            sb.AppendLine($"| setup | {string.Join(" | ", rivals.Select(r => $"RL2 - {r}"))} |");
            sb.AppendLine($"|---|{string.Concat(rivals.Select(_ => "---|"))}");
            foreach (var g in paired.GroupBy(p => p.Setting))
                sb.AppendLine($"| {g.Key} | {string.Join(" | ", rivals.Select(r => g.FirstOrDefault(p => p.Against == r) is { } p ? $"{(p.Difference >= 0 ? "+" : "")}{F2(p.Difference)} ± {F2(p.StandardError)} ({Verdict(p)})" : ""))} |");
            sb.AppendLine();
        }
        if (coverage.Count > 0)
        {
            // The return hides an arm the agent has dropped: it costs only the trials where that arm is the best.
            sb.AppendLine("## Which arms RL2 tries (the same held-out tasks, one trial each)");
            sb.AppendLine();
            sb.AppendLine("| setup | arms tried in at least 1% of trials | least-tried arm | trials that try the best arm |");
            sb.AppendLine("|---|---|---|---|");
            foreach (var (setting, tried, best) in coverage)
            {
                int least = Array.IndexOf(tried, tried.Min());
                sb.AppendLine(FormattableString.Invariant(
                    $"| {setting} | {tried.Count(f => f >= 0.01)} of {tried.Length} | arm {least}: {100 * tried[least]:0.0}% | {100 * best:0.0}% |"));
            }
            sb.AppendLine();
        }
        sb.AppendLine("## Tuned constants (on training tasks)");
        sb.AppendLine();
        foreach (var g in cells.Where(c => c.Constant is not null).GroupBy(c => c.Setting))
            sb.AppendLine($"- {g.Key}: {string.Join(", ", g.Select(c => $"{c.Method} {c.Constant} = {c.Chosen?.ToString(CultureInfo.InvariantCulture)}"))}");
        sb.AppendLine();
        sb.AppendLine("## RL2 training settings");
        sb.AppendLine();
        List<string> keys = ["num-batches", "batch-size", "optimizer", "hidden-size", "gru-cell", "value-network", "lr", "ent-coef"];
        List<string> headers = ["updates", "steps per update", "optimizer", "GRU units", "cell", "value network", "lr", "ent-coef"];
        foreach (var key in new[] { "gamma", "uniform-coef", "task-coef" }) // the objective's deviations, listed where a setting uses one
            if (trainedWith.Any(t => t.Values.ContainsKey(key))) { keys.Add(key); headers.Add(key); }
        sb.AppendLine($"| setup | {string.Join(" | ", headers)} |");
        sb.AppendLine($"|---|{string.Concat(headers.Select(_ => "---|"))}");
        foreach (var (setting, values) in trainedWith)
        {
            string Value(string k) => values.GetValueOrDefault(k) ?? Reproduction.Defaults("rl2")[k];
            bool annealed = bool.TryParse(Value("anneal-lr"), out bool a) && a;
            int from = int.Parse(Value("anneal-from"), CultureInfo.InvariantCulture);
            string schedule = !annealed ? "" : from == 0 ? ", annealed to 0" : $", held to update {from}, then annealed to 0";
            if (annealed && int.Parse(Value("restart-at"), CultureInfo.InvariantCulture) is > 0 and var restart)
                schedule += $" by update {restart}, restarted there at {Value("restart-lr")} and annealed to 0 again";
            sb.AppendLine($"| {setting} | {string.Join(" | ", keys.Select(k => Value(k) + (k == "lr" ? schedule : "")))} |");
        }
        if (o.Overrides is { Count: > 0 } set)
        {
            sb.AppendLine();
            sb.AppendLine($"Set on the command line for every setting: {string.Join(", ", set.Select(kv => $"{kv.Key} = {kv.Value}"))}.");
        }
        sb.AppendLine();
        sb.AppendLine("## Time per setting");
        sb.AppendLine();
        sb.AppendLine("Training is the wall time of the run's training loop, summed over every session that trained it" +
            (o.TrainedByWorkers is { Count: > 0 } ? " (here in worker processes, with their neighbours running beside them)." : "."));
        if (timings.Any(t => t.Earlier))
        {
            sb.AppendLine();
            sb.AppendLine("A setting marked * was trained to the end by an earlier invocation.");
        }
        sb.AppendLine();
        sb.AppendLine("| setup | RL2 iterations | training s | evaluation s |");
        sb.AppendLine("|---|---|---|---|");
        foreach (var t in timings) sb.AppendLine($"| {t.Setting}{(t.Earlier ? " *" : "")} | {t.Iterations} | {t.Train:0} | {t.Eval:0} |");
        sb.AppendLine();
        sb.AppendLine(FormattableString.Invariant($"Wall time of this invocation so far: {wallSeconds:0} s ({wallSeconds / 3600:0.00} h){(o.TrainedByWorkers is { Count: > 0 } ? $", RL2 trained by {o.Jobs} worker processes side by side" : "")}."));
        return sb.ToString();
    }

    static string Csv(List<Paired> paired) =>
        "setting,against,difference,standard_error\n" + string.Concat(paired.Select(p =>
            FormattableString.Invariant($"\"{p.Setting}\",{p.Against},{p.Difference:R},{p.StandardError:R}\n")));

    static string Csv(List<Cell> cells) =>
        "setting,method,mean,standard_error,trials,paper,constant,chosen\n" + string.Concat(cells.Select(c =>
            FormattableString.Invariant($"\"{c.Setting}\",{c.Method},{c.Mean:R},{c.StandardError:R},{c.Trials},{c.Paper},{c.Constant ?? ""},{c.Chosen?.ToString("R", CultureInfo.InvariantCulture) ?? ""}\n")));
}
