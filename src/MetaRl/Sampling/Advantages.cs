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
    public static float[] Gae(EpisodeBatch b, float[] values, double gamma, double lambda)
    {
        int n = b.Episodes;
        var adv = new float[b.Horizon * n];
        for (int e = 0; e < n; e++)
        {
            double acc = 0, nextValue = 0;
            for (int t = b.Horizon - 1; t >= 0; t--)
            {
                int i = t * n + e;
                if (b.Mask[i] == 0) { acc = 0; nextValue = 0; continue; }
                double delta = b.Rewards[i] + gamma * nextValue - values[i];
                acc = delta + gamma * lambda * acc;
                adv[i] = (float)acc;
                nextValue = values[i];
            }
        }
        return adv;
    }

    /// <summary>Normalises the masked entries to zero mean and unit standard deviation, in place.</summary>
    public static void Normalize(float[] x, float[] mask, double epsilon = 1e-8)
    {
        double sum = 0, count = 0;
        for (int i = 0; i < x.Length; i++) { sum += x[i] * mask[i]; count += mask[i]; }
        if (count == 0) return;
        double mean = sum / count, sq = 0;
        for (int i = 0; i < x.Length; i++) sq += mask[i] * (x[i] - mean) * (x[i] - mean);
        double std = Math.Sqrt(sq / count) + epsilon;
        for (int i = 0; i < x.Length; i++) x[i] = mask[i] == 0 ? 0 : (float)((x[i] - mean) / std);
    }
}
