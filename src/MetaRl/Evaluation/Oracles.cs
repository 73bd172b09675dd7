using MetaRl.Algorithms;
using MetaRl.Envs.Navigation;

namespace MetaRl.Evaluation;

/// <summary>Policies that are told the task: the upper limit an adapting agent can approach.</summary>
public static class Oracles
{
    /// <summary>
    /// 2D navigation with the goal known: move straight at the goal at full speed (per-axis clipping
    /// makes a straight line optimal up to the last step). Deterministic, so every step of the curve is the same;
    /// <paramref name="episodesPerStep"/> spaces its points on the experience axis of the curves it is drawn beside.
    /// </summary>
    public static AdaptationResult Navigation(IReadOnlyList<object> tasks, int budget, int episodesPerStep, int maxEpisodeSteps = 100)
    {
        var returns = new double[tasks.Count];
        var success = new double[tasks.Count];
        var obs = new float[2];
        for (int k = 0; k < tasks.Count; k++)
        {
            var goal = (GoalTask)tasks[k];
            var env = new Navigation2DEnv(goal, maxEpisodeSteps);
            env.Reset(null, obs);
            for (int t = 0; t < maxEpisodeSteps; t++)
            {
                var r = env.Step([goal.GoalX - obs[0], goal.GoalY - obs[1]], obs);
                returns[k] += r.Reward;
                if (r.Done) { success[k] = r.Success ? 1 : 0; break; }
            }
        }
        return new AdaptationResult(Enumerable.Repeat(returns, budget + 1).ToArray(), Enumerable.Repeat(success, budget + 1).ToArray(), episodesPerStep);
    }

    /// <summary>
    /// PEARL's sparse point robot with the goal known: step straight at the goal, each axis clipped to 0.1, then stay on
    /// it. Optimal: after k steps the reachable positions are the box [-0.1 k, 0.1 k]^2, whose point nearest the goal is
    /// the goal clipped to the box, and this path is there at every k; the reward (1 - d within 0.2, else 0) only falls
    /// with distance. Every episode of a trial is the same, so every step of the curve is.
    /// </summary>
    public static AdaptationResult SparsePointRobot(IReadOnlyList<object> tasks, int budget, int maxEpisodeSteps = 20)
    {
        var returns = new double[tasks.Count];
        var success = new double[tasks.Count];
        var obs = new float[2];
        for (int k = 0; k < tasks.Count; k++)
        {
            var goal = (GoalTask)tasks[k];
            var env = new SparsePointRobotEnv(goal, maxEpisodeSteps);
            env.Reset(null, obs);
            for (int t = 0; t < maxEpisodeSteps; t++)
            {
                var r = env.Step([goal.GoalX - obs[0], goal.GoalY - obs[1]], obs);
                returns[k] += r.Reward;
                if (r.Success) success[k] = 1;
                if (r.Done) break;
            }
        }
        return new AdaptationResult(Enumerable.Repeat(returns, budget + 1).ToArray(), Enumerable.Repeat(success, budget + 1).ToArray(), 1);
    }
}
