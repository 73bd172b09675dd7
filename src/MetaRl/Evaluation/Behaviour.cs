using MetaRl.Algorithms.Maml;
using MetaRl.Envs.Mujoco;

namespace MetaRl.Evaluation;

/// <summary>One picture of an episode: the step it shows and its RGB pixels, rows from the top.</summary>
public sealed record Frame(int Step, int Width, int Height, byte[] Rgb);

/// <summary>
/// One episode as a picture draws it: the body's position at the start and after every step, its return, and (for
/// a MuJoCo env, when asked) rendered frames.
/// </summary>
public sealed record EpisodeTrace(string Label, double Return, double Dt, double[] X, double[] Y, double[] Z, IReadOnlyList<Frame> Frames);

/// <summary>
/// What a policy does before and after adaptation, as positions of the body over an episode: the data of
/// `metarl render`. For the gradient-based family: one episode with the meta-learned parameters, then one after
/// each inner step of the test-time adaptation (each step on fast-batch-size fresh episodes, as evaluated).
/// </summary>
public static class Behaviour
{
    /// <summary>
    /// One episode before adapting and one after each of <paramref name="steps"/> inner steps, on one task; <paramref name="frames"/>:
    /// pictures per episode (MuJoCo families; 0: none), evenly spaced from the first step to the last.
    /// </summary>
    public static IReadOnlyList<EpisodeTrace> GradientAdaptation(GradientMetaLearner learner, ITaskDistribution family, object task, int steps, Rng rng, int frames = 0)
    {
        var path = learner.Adaptation.AdaptationPath(task, steps, rng);
        var traces = new List<EpisodeTrace>();
        for (int s = 0; s < path.Count; s++)
        {
            string label = s == 0 ? "before adaptation" : $"after {s} gradient step{(s > 1 ? "s" : "")} ({s * learner.Maml.FastBatchSize} episodes)";
            traces.Add(Episode(label, family, task, learner.Policy, path[s], rng.Split(), frames));
        }
        return traces;
    }

    /// <summary>One episode of <paramref name="policy"/> with <paramref name="parameters"/> on <paramref name="task"/>, recording the body's position.</summary>
    public static EpisodeTrace Episode(string label, ITaskDistribution family, object task, Policy policy, ParameterSet? parameters, Rng rng, int frames = 0)
    {
        if (frames < 0) throw new ArgumentOutOfRangeException(nameof(frames), frames, "must be >= 0");
        using var env = family.CreateEnv(task, rng.Split());
        if (env is not ITrackedEnv tracked)
            throw new UsageException($"{family.Name}'s envs do not report a body position; pictures of behaviour need one (the MuJoCo families and 2d-navigation do)");
        var obs = new float[policy.ObservationSize];
        var action = new float[policy.ActionSize];
        env.Reset(rng.NextInt(int.MaxValue), obs);
        List<double> x = [], y = [], z = [];
        var pictures = new List<Frame>();
        var mujoco = env as IMujocoEnv;
        using var renderer = frames > 0 && mujoco is not null ? new MujocoRenderer(mujoco.Simulation.Model) : null;
        int torso = mujoco?.Simulation.Model.BodyId("torso") ?? -1;
        var frameSteps = frames > 0 ? Enumerable.Range(0, frames).Select(k => frames == 1 ? 0 : k * env.MaxEpisodeSteps / (frames - 1)).ToHashSet() : [];
        int t = 0;
        void Record()
        {
            var (px, py, pz) = tracked.BodyPosition; x.Add(px); y.Add(py); z.Add(pz);
            if (renderer is not null && frameSteps.Contains(t))
                pictures.Add(new Frame(t, renderer.Width, renderer.Height, renderer.Render(mujoco!.Simulation, torso, mujoco.Camera.Distance, elevation: mujoco.Camera.Elevation)));
        }
        Record();
        double total = 0;
        while (t < env.MaxEpisodeSteps)
        {
            policy.Act(obs, 1, action, rng, parameters);
            var r = env.Step(action, obs);
            total += r.Reward;
            t++;
            Record();
            if (r.Done) break;
        }
        if (renderer is not null && pictures[^1].Step != t) // an episode that ended early (a fall) shows its end
            pictures.Add(new Frame(t, renderer.Width, renderer.Height, renderer.Render(mujoco!.Simulation, torso, mujoco.Camera.Distance, elevation: mujoco.Camera.Elevation)));
        return new EpisodeTrace(label, total, mujoco?.Dt ?? 1, [.. x], [.. y], [.. z], pictures);
    }
}
