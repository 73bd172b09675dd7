using MetaRl.Envs.Bandits;
using MetaRl.Envs.TabularMdp;

namespace MetaRl.Algorithms.Classical;

/// <summary>
/// Runs the classical agents on our envs: one trial per task, tasks in parallel. Each trial has its own
/// generator made from (seed, task index), split into one stream for the env and one for the agent, so the
/// totals for a seed do not depend on the thread count or on which other tasks are in the list.
/// </summary>
public static class ClassicalTrials
{
    /// <summary>Total reward of each trial of <paramref name="pulls"/> pulls (one pull = one episode of <see cref="BernoulliBanditEnv"/>).</summary>
    public static double[] RunBandit(Func<BanditAgent> makeAgent, IReadOnlyList<BanditTask> tasks, int pulls, long seed)
    {
        if (pulls < 1) throw new ArgumentOutOfRangeException(nameof(pulls), pulls, "must be >= 1");
        var totals = new double[tasks.Count];
        Parallel.For(0, tasks.Count, i =>
        {
            var rng = TrialRng(seed, i);
            var env = new BernoulliBanditEnv(tasks[i], rng.Split());
            var agentRng = rng.Split();
            var agent = makeAgent();
            agent.Reset(tasks[i].Probs.Length, pulls);
            Span<float> obs = stackalloc float[1];
            Span<float> action = stackalloc float[1];
            double total = 0;
            for (int step = 0; step < pulls; step++)
            {
                env.Reset(null, obs);
                int arm = agent.SelectArm(step, agentRng);
                action[0] = arm;
                double reward = env.Step(action, obs).Reward;
                agent.Update(arm, reward);
                total += reward;
            }
            totals[i] = total;
        });
        return totals;
    }

    /// <summary>Total reward of each trial of <paramref name="episodes"/> episodes on <see cref="TabularMdpEnv"/>, each from state 0.</summary>
    public static double[] RunMdp(Func<MdpAgent> makeAgent, IReadOnlyList<MdpTask> tasks, int episodes, int episodeLength, long seed)
    {
        if (episodes < 1) throw new ArgumentOutOfRangeException(nameof(episodes), episodes, "must be >= 1");
        if (episodeLength < 1) throw new ArgumentOutOfRangeException(nameof(episodeLength), episodeLength, "must be >= 1");
        var totals = new double[tasks.Count];
        Parallel.For(0, tasks.Count, i =>
        {
            var task = tasks[i];
            var rng = TrialRng(seed, i);
            var env = new TabularMdpEnv(task, episodeLength, rng.Split());
            var agentRng = rng.Split();
            var agent = makeAgent();
            agent.Reset(task.States, task.Actions, episodeLength, episodes);
            var obs = new float[task.States];
            Span<float> action = stackalloc float[1];
            double total = 0;
            for (int e = 0; e < episodes; e++)
            {
                env.Reset(null, obs);
                agent.BeginEpisode(agentRng);
                for (int step = 0; step < episodeLength; step++)
                {
                    int state = env.State;
                    int a = agent.Act(state, step, agentRng);
                    action[0] = a;
                    double reward = env.Step(action, obs).Reward;
                    agent.Update(state, a, reward, env.State);
                    total += reward;
                }
            }
            totals[i] = total;
        });
        return totals;
    }

    /// <summary>The generator of trial <paramref name="index"/>: the seed and index hashed together (SplitMix64's finaliser).</summary>
    public static Rng TrialRng(long seed, int index)
    {
        ulong z = unchecked((ulong)seed * 0xD1B54A32D192ED03UL + (ulong)(uint)index * 0x9E3779B97F4A7C15UL + 0x632BE59BD9B4E019UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return new Rng(unchecked((long)(z ^ (z >> 31))));
    }
}
