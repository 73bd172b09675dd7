using static TorchSharp.torch;

namespace MetaRl.Policies;

/// <summary>The samplers' last step: actions for a batch of envs drawn from their distributions (or the most likely ones), in env form.</summary>
public static class ActionSampling
{
    /// <summary>
    /// Writes <paramref name="count"/> actions into <paramref name="actions"/>: a Gaussian's mean plus its noise from
    /// <paramref name="rng"/> (the mean alone when <paramref name="deterministic"/>), a categorical's draw (or its most likely index).
    /// </summary>
    public static void Write(IActionDistribution dist, Space actionSpace, int count, float[] actions, Rng rng, bool deterministic)
    {
        if (dist is DiagGaussian g)
        {
            int a = actionSpace.FlatSize;
            g.Mean.data<float>().CopyTo(actions.AsSpan(0, count * a));
            if (deterministic) return;
            var std = g.LogStd.exp().data<float>().ToArray();
            for (int i = 0; i < count; i++)
                for (int j = 0; j < a; j++) actions[i * a + j] += std[j] * (float)rng.Normal();
            return;
        }
        int k = ((Discrete)actionSpace).N;
        var probs = ((Categorical)dist).LogProbs.exp().data<float>().ToArray();
        for (int i = 0; i < count; i++)
        {
            var row = probs.AsSpan(i * k, k);
            if (deterministic) { int best = 0; for (int j = 1; j < k; j++) if (row[j] > row[best]) best = j; actions[i] = best; }
            else actions[i] = rng.Categorical(row);
        }
    }
}
