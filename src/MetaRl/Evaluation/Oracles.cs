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
        for (int k = 0; k < tasks.Count; k++)
        {
            var goal = (GoalTask)tasks[k];
            (returns[k], bool reached) = SparsePointRobotHeadingFor(goal, goal, maxEpisodeSteps);
            success[k] = reached ? 1 : 0;
        }
        return new AdaptationResult(Enumerable.Repeat(returns, budget + 1).ToArray(), Enumerable.Repeat(success, budget + 1).ToArray(), 1);
    }

    /// <summary>One transition: the observation, the action the env applied, the reward and the next observation.</summary>
    public delegate void Transition(ReadOnlySpan<float> observation, ReadOnlySpan<float> action, float reward, ReadOnlySpan<float> next);

    /// <summary>
    /// One episode of the goal-known agent of <paramref name="heading"/> on the task whose goal is <paramref name="goal"/>:
    /// its return and whether it came within the goal radius; <paramref name="onStep"/>, if given, sees each transition.
    /// </summary>
    public static (double Return, bool Success) SparsePointRobotHeadingFor(GoalTask heading, GoalTask goal, int maxEpisodeSteps = 20, Transition? onStep = null)
    {
        var obs = new float[2];
        var env = new SparsePointRobotEnv(goal, maxEpisodeSteps);
        env.Reset(null, obs);
        double ret = 0;
        bool success = false;
        for (int t = 0; t < maxEpisodeSteps; t++)
        {
            float x = obs[0], y = obs[1], ax = heading.GoalX - x, ay = heading.GoalY - y;
            var r = env.Step([ax, ay], obs);
            const float m = SparsePointRobotEnv.MaxStep; // the env moves by the action clipped to its box
            onStep?.Invoke([x, y], [Math.Clamp(ax, -m, m), Math.Clamp(ay, -m, m)], r.Reward, obs);
            ret += r.Reward;
            success |= r.Success;
            if (r.Done) break;
        }
        return (ret, success);
    }

    /// <summary>
    /// Posterior sampling at its best on the sparse point robot, for judging exploration: an agent that, in each episode,
    /// heads for one goal drawn uniformly from the training half-circle (as the goal-known agent would for that goal)
    /// reaches <paramref name="goal"/> with the probability returned (the share of <paramref name="hypotheses"/> evenly
    /// spaced angles on [0, pi] whose episode comes within the goal radius). With the prior over goals exact and the
    /// hypotheses independent, <c>1 - (1 - p)^n</c> is then the chance that n episodes find the goal.
    /// </summary>
    public static double SparsePointRobotSampledGoalReach(GoalTask goal, int hypotheses = 1000, int maxEpisodeSteps = 20)
    {
        return (double)HalfCircle(hypotheses).Count(h => SparsePointRobotHeadingFor(h, goal, maxEpisodeSteps).Success) / hypotheses;
    }

    /// <summary><paramref name="n"/> goals at evenly spaced angles on the upper half of the unit circle, standing for the uniform distribution over it.</summary>
    static GoalTask[] HalfCircle(int n) =>
        [.. Enumerable.Range(0, n).Select(i => Math.PI * (i + 0.5) / n).Select(a => new GoalTask((float)Math.Cos(a), (float)Math.Sin(a)))];

    /// <summary>
    /// PEARL's evaluation protocol on the sparse point robot played with the exact posterior over goals: posterior sampling
    /// at its best, the reference a PEARL agent's success per episode can be held against. Goals are uniform on the
    /// half-circle (<paramref name="candidates"/> evenly spaced angles stand for it). The first <paramref name="exploration"/>
    /// episodes head for a goal drawn from the prior, as the goal-known agent would (oyster's z from the prior); each later
    /// one goes straight to the goal if an earlier episode found it, else heads for a goal drawn from the posterior: uniform
    /// over the candidates that no episode so far came within the goal radius of (a sparse reward of 0 there rules them
    /// out). Returns the success rate of each of <paramref name="episodes"/> episodes, over the goals and
    /// <paramref name="trials"/> trials per goal.
    /// </summary>
    public static double[] SparsePointRobotPosteriorSampling(IReadOnlyList<GoalTask> goals, int exploration, int episodes, int trials, Rng rng, int candidates = 500, int maxEpisodeSteps = 20)
    {
        var points = HalfCircle(candidates);
        // rules[h][c]: heading for candidate h comes within the radius of candidate c.
        var rules = points.Select(h => points.Select(c => SparsePointRobotHeadingFor(h, c, maxEpisodeSteps).Success).ToArray()).ToArray();
        var success = new double[episodes];
        var excluded = new bool[candidates];
        var open = new List<int>(candidates);
        foreach (var goal in goals)
        {
            var finds = points.Select(h => SparsePointRobotHeadingFor(h, goal, maxEpisodeSteps).Success).ToArray();
            for (int trial = 0; trial < trials; trial++)
            {
                Array.Clear(excluded);
                bool found = false;
                for (int e = 0; e < episodes; e++)
                {
                    int h;
                    if (e < exploration) h = rng.NextInt(candidates);
                    else if (found) { success[e]++; continue; }
                    else
                    {
                        open.Clear();
                        for (int c = 0; c < candidates; c++) if (!excluded[c]) open.Add(c);
                        h = open.Count > 0 ? open[rng.NextInt(open.Count)] : rng.NextInt(candidates);
                    }
                    if (finds[h]) { success[e]++; found = true; }
                    for (int c = 0; c < candidates; c++) excluded[c] |= rules[h][c];
                }
            }
        }
        for (int e = 0; e < episodes; e++) success[e] /= goals.Count * trials;
        return success;
    }
}
