using MetaRl.Algorithms.MultiTask;
using MetaRl.Algorithms.SingleTask;

namespace MetaRl.Cli;

public static partial class Cli
{
    static Command EvalCommand(TextWriter stdout)
    {
        var runDirs = new Argument<string[]>("run-dir") { Description = "run directories written by 'metarl train' (several runs of a meta-learner are combined, CI over runs)", Arity = ArgumentArity.OneOrMore };
        var episodes = new Option<int>("--episodes") { Description = "single-task and multi-task runs: episodes per task", DefaultValueFactory = _ => 10 };
        var steps = new Option<int>("--steps") { Description = "meta-learners: adaptation steps to evaluate", DefaultValueFactory = _ => 3 };
        var iteration = new Option<int?>("--iteration") { Description = "evaluate the checkpoint each run kept at this iteration (trained with --set keep-checkpoint-every=N), not its latest; the files written are named for it (adaptation-iteration-N.csv)" };
        var cmd = new Command("eval", "Evaluate runs: single-task policies on their task and the splits; meta-learners after 0..k adaptation steps on the train / test / out-of-distribution splits; multi-task runs task by task on their suite") { runDirs, episodes, steps, iteration };
        cmd.SetAction(p =>
        {
            SetThreads(1);
            var dirs = p.GetValue(runDirs)!.Select(RunDirectory.Open).ToList();
            int eps = p.GetValue(episodes), budget = p.GetValue(steps);
            if (eps < 1) throw new UsageException("--episodes must be >= 1");
            if (budget < 0) throw new UsageException("--steps must be >= 0");
            int? at = p.GetValue(iteration);
            // Evaluating a kept checkpoint leaves the latest one's results (and summary.json) as they are.
            string Named(string file) => at is { } i ? $"{Path.GetFileNameWithoutExtension(file)}-iteration-{i}{Path.GetExtension(file)}" : file;
            var runs = dirs.Select(d => (Dir: d, Run: Trainer.Load(d, iteration: at))).ToList();
            if (runs.All(r => r.Run.Learner is IMultiTaskLearner))
            {
                EvaluateSuite(stdout, runs, eps, Named("evaluation-tasks.csv"));
                return Ok;
            }
            if (runs.All(r => r.Run.Learner is IMetaLearner))
            {
                var curves = new List<List<AdaptationPoint>>();
                foreach (var (dir, run) in runs)
                {
                    var curve = MetaEvaluator.Evaluate(run.Algorithm, (IMetaLearner)run.Learner, run.Distribution.Splits(), budget, [Seeds.Evaluation(run.Seed, 1), Seeds.Evaluation(run.Seed, 2)]);
                    File.WriteAllText(Path.Combine(dir.Path, Named("adaptation.csv")), MetaEvaluator.ToCsv(curve));
                    if (at is null) dir.AddToSummary("adaptation", curve);
                    curves.Add(curve);
                }
                var points = MetaEvaluator.AcrossRuns(curves);
                var table = new Table().Title($"return after k adaptation steps ({runs.Count} run{(runs.Count > 1 ? "s, CI over runs" : ", CI over tasks")}{(at is { } i ? $", iteration {i}" : "")})")
                    .AddColumn("method").AddColumn("split");
                string Return(AdaptationPoint x) => FormattableString.Invariant($"{x.MeanReturn:0.00} ±{x.Ci95:0.00}");
                if (budget < WideSteps)
                {
                    for (int k = 0; k <= budget; k++) table.AddColumn($"step {k}");
                    table.AddColumn("success");
                    foreach (var g in points.GroupBy(x => (x.Method, x.Split)))
                        table.AddRow([g.Key.Method, g.Key.Split, .. g.OrderBy(x => x.Step).Select(Return), $"{g.OrderBy(x => x.Step).Last().SuccessRate:P0}"]);
                }
                else // a column per step would not fit a terminal: a row per step, with its success
                {
                    table.AddColumn("step").AddColumn("return").AddColumn("success");
                    foreach (var x in points.GroupBy(x => (x.Method, x.Split)).SelectMany(g => g.OrderBy(x => x.Step)))
                        table.AddRow(x.Method, x.Split, $"{x.Step}", Return(x), $"{x.SuccessRate:P0}");
                }
                ConsoleFor(stdout).Write(table);
                stdout.WriteLine($"Written: {Named("adaptation.csv")} in each run directory" + (at is null ? $"; plot with 'metarl plot {string.Join(" ", dirs.Select(d => d.Path))}'" : ""));
                return Ok;
            }
            if (runs.Count > 1) throw new UsageException("several run directories can be combined only for meta-learners");
            var (single, singleRun) = runs[0];
            var splits = singleRun.Distribution.Splits();
            var rows = new List<(string Split, int Tasks, double Mean, double Ci, double Success)>();
            void Add(string name, IReadOnlyList<object> tasks)
            {
                var (_, success, returns) = singleRun.Evaluate(tasks, eps, seed: Seeds.SingleTaskEvaluation);
                var (mean, ci) = Statistics.MeanAndCi95(returns);
                rows.Add((name, tasks.Count, mean, ci, success));
            }
            if (singleRun.Task is { } task) Add("trained task", [task]);
            Add("train split", splits.Train);
            Add("test split", splits.Test);
            Add("out-of-distribution", splits.OutOfDistribution);
            var t = new Table().Title($"{singleRun.Algorithm} on {singleRun.Distribution.Name}, iteration {singleRun.Iteration}")
                .AddColumn("tasks").AddColumn("n").AddColumn("mean return").AddColumn("95% CI").AddColumn("success");
            foreach (var r in rows) t.AddRow(r.Split, $"{r.Tasks}", $"{r.Mean:0.00}", $"±{r.Ci:0.00}", $"{r.Success:P0}");
            ConsoleFor(stdout).Write(t);
            single.WriteEvaluation(rows.Select(r => new EvaluationRow(r.Split, r.Tasks, eps, r.Mean, r.Ci, r.Success)).ToList(), Named("evaluation.csv"));
            return Ok;
        });
        return cmd;
    }

    /// <summary>Up to this many adaptation steps the table has a column per step; beyond, a row per step.</summary>
    const int WideSteps = 5;

    /// <summary>Multi-task runs: return and success of every task of the suite (most likely actions); several runs of one suite give means with a CI over runs.</summary>
    static void EvaluateSuite(TextWriter stdout, List<(RunDirectory Dir, TrainingRun Run)> runs, int episodes, string file)
    {
        if (runs.Select(r => r.Run.Distribution.Name).Distinct().Count() > 1) throw new UsageException("multi-task runs can be combined only on one suite");
        var scores = new List<IReadOnlyList<TaskScore>>();
        foreach (var (dir, run) in runs)
        {
            var s = ((IMultiTaskLearner)run.Learner).Evaluate(episodes, new Rng(Seeds.Evaluation(run.Seed, 1)));
            File.WriteAllLines(Path.Combine(dir.Path, file),
                ["task,episodes,mean_return,ci95,success_rate", .. s.Select(x => FormattableString.Invariant($"{x.Task},{x.Episodes},{x.MeanReturn:R},{x.Ci95:R},{x.SuccessRate:R}"))]);
            scores.Add(s);
        }
        var first = runs[0].Run;
        var t = new Table().Title($"{first.Algorithm} on suite {first.Distribution.Name}: {runs.Count} run{(runs.Count > 1 ? "s, CI over runs" : $", iteration {first.Iteration}, CI over episodes")}")
            .AddColumn("task").AddColumn("mean return").AddColumn("95% CI").AddColumn("success");
        var names = scores[0].Select(x => x.Task).ToList();
        for (int k = 0; k <= names.Count; k++)
        {
            bool all = k == names.Count;
            var returns = scores.Select(s => all ? s.Average(x => x.MeanReturn) : s[k].MeanReturn).ToList();
            var success = scores.Average(s => all ? s.Average(x => x.SuccessRate) : s[k].SuccessRate);
            var (mean, ci) = runs.Count > 1 ? Statistics.MeanAndCi95(returns) : (returns[0], all ? double.NaN : scores[0][k].Ci95);
            t.AddRow(all ? "[bold]mean over tasks[/]" : Markup.Escape(names[k]), $"{mean:0.00}", double.IsNaN(ci) ? "" : $"±{ci:0.00}", $"{success:P0}");
        }
        ConsoleFor(stdout).Write(t);
        stdout.WriteLine($"Written: {file} in each run directory");
    }
}
