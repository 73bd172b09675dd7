using MetaRl.Algorithms.Maml;

namespace MetaRl.Evaluation;

/// <summary>One episode as a picture draws it: the body's position at the start and after every step, and its return.</summary>
public sealed record EpisodeTrace(string Label, double Return, double Dt, double[] X, double[] Y, double[] Z);

/// <summary>
/// What a policy does before and after adaptation, as positions of the body over an episode: the data of
/// `metarl render`. For the gradient-based family: one episode with the meta-learned parameters, then one after
/// each inner step of the test-time adaptation (each step on fast-batch-size fresh episodes, as evaluated).
/// </summary>
public static class Behaviour
{
    public static IReadOnlyList<EpisodeTrace> GradientAdaptation(GradientMetaLearner learner, ITaskDistribution family, object task, int steps, Rng rng)
    {
        var path = learner.Adaptation.AdaptationPath(task, steps, rng);
        var traces = new List<EpisodeTrace>();
        for (int s = 0; s < path.Count; s++)
        {
            string label = s == 0 ? "before adaptation" : $"after {s} gradient step{(s > 1 ? "s" : "")} ({s * learner.Maml.FastBatchSize} episodes)";
            traces.Add(Episode(label, family, task, learner.Policy, path[s], rng.Split()));
        }
        return traces;
    }

    /// <summary>One episode of <paramref name="policy"/> with <paramref name="parameters"/> on <paramref name="task"/>, recording the body's position.</summary>
    public static EpisodeTrace Episode(string label, ITaskDistribution family, object task, Policy policy, ParameterSet? parameters, Rng rng)
    {
        using var env = family.CreateEnv(task, rng.Split());
        if (env is not ITrackedEnv tracked)
            throw new UsageException($"{family.Name}'s envs do not report a body position; pictures of behaviour need one (the MuJoCo families and 2d-navigation do)");
        var obs = new float[policy.ObservationSize];
        var action = new float[policy.ActionSize];
        env.Reset(rng.NextInt(int.MaxValue), obs);
        List<double> x = [], y = [], z = [];
        void Record() { var (px, py, pz) = tracked.BodyPosition; x.Add(px); y.Add(py); z.Add(pz); }
        Record();
        double total = 0;
        for (int t = 0; t < env.MaxEpisodeSteps; t++)
        {
            policy.Act(obs, 1, action, rng, parameters);
            var r = env.Step(action, obs);
            total += r.Reward;
            Record();
            if (r.Done) break;
        }
        double dt = env is Envs.Mujoco.IMujocoEnv m ? m.Dt : 1;
        return new EpisodeTrace(label, total, dt, [.. x], [.. y], [.. z]);
    }
}
