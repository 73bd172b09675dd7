using MetaRl.Envs.Suites;
using MetaRl.Evaluation;

namespace MetaRl.Algorithms.MultiTask;

/// <summary>A task's score on its suite: mean return (95% CI over episodes) and success rate.</summary>
public sealed record TaskScore(string Task, double MeanReturn, double Ci95, double SuccessRate, int Episodes);

/// <summary>A learner of a fixed suite of tasks, which are also its test tasks: trained on all at once, scored task by task.</summary>
public interface IMultiTaskLearner : ILearner
{
    TaskSuite Suite { get; }
    /// <summary>The task-conditioned policy (MT-SAC's actor).</summary>
    MultiTaskPolicy Policy { get; }
    /// <summary>Deterministic (most likely) actions for <paramref name="episodesPerTask"/> episodes of every task.</summary>
    IReadOnlyList<TaskScore> Evaluate(int episodesPerTask, Rng rng);
}

/// <summary>Scores of a suite's tasks from a batch of their episodes.</summary>
public static class SuiteScores
{
    /// <summary>The policy's most likely actions for <paramref name="episodesPerTask"/> episodes of every task of its suite, in envs of their own.</summary>
    public static IReadOnlyList<TaskScore> Evaluate(MultiTaskPolicy policy, int episodesPerTask, Rng rng)
    {
        using var guard = IterationGuard.Enter();
        var suite = policy.Suite;
        var envTask = Enumerable.Range(0, suite.TaskCount).SelectMany(k => Enumerable.Repeat(k, episodesPerTask)).ToArray();
        using var envs = suite.CreateVectorEnv(envTask.Select(k => (object)suite.Tasks[k]).ToList());
        var batch = new EpisodeBatch(suite.MaxEpisodeSteps, envTask.Length, policy.ObservationSize, policy.Network.ActionSize, envTask);
        new Collector().RunEpisodes(envs, new MultiTaskAgent(policy, envTask, deterministic: true), 1, batch.Horizon, rng, batch);
        return Of(suite, batch);
    }

    public static IReadOnlyList<TaskScore> Of(TaskSuite suite, EpisodeBatch batch)
    {
        var returns = batch.EpisodeReturns();
        return suite.Tasks.Select((task, k) =>
        {
            var mine = Enumerable.Range(0, batch.Episodes).Where(e => batch.TaskIndex[e] == k).ToList();
            var (mean, ci) = Statistics.MeanAndCi95(mine.Select(e => returns[e]).ToList());
            return new TaskScore(task.Name, mean, ci, mine.Average(e => batch.Success[e] ? 1.0 : 0.0), mine.Count);
        }).ToList();
    }
}
