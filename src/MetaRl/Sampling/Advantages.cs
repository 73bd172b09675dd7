namespace MetaRl.Sampling;

/// <summary>Discounted returns and generalised advantage estimates over a time-major [T, N] batch.</summary>
public static class Advantages
{
    /// <summary>G_t = r_t + gamma G_{t+1} within each episode (zero past its end).</summary>
    public static float[] DiscountedReturns(EpisodeBatch b, double gamma)
    {
        int n = b.Episodes;
        var g = new float[b.Horizon * n];
        for (int e = 0; e < n; e++)
        {
            double acc = 0;
            for (int t = b.Horizon - 1; t >= 0; t--)
            {
                int i = t * n + e;
                acc = b.Mask[i] * (b.Rewards[i] + gamma * acc);
                g[i] = (float)acc;
            }
        }
        return g;
    }

    /// <summary>
    /// GAE (Schulman et al. 2016): delta_t = r_t + gamma V_{t+1} - V_t, A_t = delta_t + gamma lambda A_{t+1},
    /// with V = 0 after an episode's last step (as pytorch-maml-rl). With lambda = 1 this is G_t - V_t.
    /// </summary>
    public static float[] Gae(EpisodeBatch b, float[] values, double gamma, double lambda) =>
        Gae(b.Rewards, b.Mask, b.Horizon, b.Episodes, values, gamma, lambda);

    /// <summary>
    /// GAE that bootstraps at truncation: after the last step of an episode cut by the time limit the value is
    /// <paramref name="finalValues"/>[e] = V(s_T) of its final observation, not 0 (Pardo et al. 2018, "Time Limits
    /// in Reinforcement Learning"); episodes that terminated keep V = 0.
    /// </summary>
    public static float[] Gae(EpisodeBatch b, float[] values, double gamma, double lambda, float[] finalValues) =>
        Gae(b.Rewards, b.Mask, b.Horizon, b.Episodes, values, gamma, lambda, e => b.Truncated[e] ? finalValues[e] : 0);

    /// <summary>GAE over time-major [T, N] rewards, masks and values, each column one episode (or one RL2 trial); V = 0 after a column's last step unless <paramref name="valueAfterEnd"/> gives it.</summary>
    public static float[] Gae(float[] rewards, float[] mask, int horizon, int n, float[] values, double gamma, double lambda, Func<int, float>? valueAfterEnd = null)
    {
        var adv = new float[horizon * n];
        for (int e = 0; e < n; e++)
        {
            double afterEnd = valueAfterEnd?.Invoke(e) ?? 0, acc = 0, nextValue = afterEnd;
            for (int t = horizon - 1; t >= 0; t--)
            {
                int i = t * n + e;
                if (mask[i] == 0) { acc = 0; nextValue = afterEnd; continue; }
                double delta = rewards[i] + gamma * nextValue - values[i];
                acc = delta + gamma * lambda * acc;
                adv[i] = (float)acc;
                nextValue = values[i];
            }
        }
        return adv;
    }

    /// <summary>Normalises the masked entries to zero mean and unit standard deviation, in place.</summary>
    public static void Normalize(float[] x, float[] mask, double epsilon = 1e-8) => Normalize(x, mask, _ => true, 1, epsilon);

    /// <summary>Normalises the masked entries of the episodes <paramref name="include"/> selects, in place ([T, N] layout with N episodes).</summary>
    static void Normalize(float[] x, float[] mask, Func<int, bool> include, int episodes, double epsilon)
    {
        double sum = 0, count = 0;
        for (int i = 0; i < x.Length; i++) if (include(i % episodes)) { sum += x[i] * mask[i]; count += mask[i]; }
        if (count == 0) return;
        double mean = sum / count, sq = 0;
        for (int i = 0; i < x.Length; i++) if (include(i % episodes)) sq += mask[i] * (x[i] - mean) * (x[i] - mean);
        double std = Math.Sqrt(sq / count) + epsilon;
        for (int i = 0; i < x.Length; i++) if (include(i % episodes)) x[i] = mask[i] == 0 ? 0 : (float)((x[i] - mean) / std);
    }

    /// <summary>
    /// Advantages for a multi-task batch as pytorch-maml-rl computes them: per task, the linear feature
    /// baseline is fitted on that task's episodes, GAE is taken, and the result is normalised over that task's steps.
    /// </summary>
    public static float[] PerTask(EpisodeBatch b, double gamma, double lambda, double epsilon = 1e-8)
    {
        var returns = DiscountedReturns(b, gamma);
        var values = new float[returns.Length];
        int tasks = b.TaskIndex.Max() + 1;
        for (int k = 0; k < tasks; k++)
        {
            var episodes = Enumerable.Range(0, b.Episodes).Where(e => b.TaskIndex[e] == k).ToArray();
            var fitted = Baselines.LinearFeatureBaseline.FitPredict(b, returns, episodes);
            for (int t = 0; t < b.Horizon; t++) foreach (int e in episodes) values[t * b.Episodes + e] = fitted[t * b.Episodes + e];
        }
        var adv = Gae(b, values, gamma, lambda);
        for (int k = 0; k < tasks; k++)
        {
            int task = k;
            Normalize(adv, b.Mask, e => b.TaskIndex[e] == task, b.Episodes, epsilon);
        }
        return adv;
    }
}
