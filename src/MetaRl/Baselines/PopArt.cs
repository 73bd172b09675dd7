using static TorchSharp.torch;

namespace MetaRl.Baselines;

/// <summary>
/// PopArt (van Hasselt et al. 2016): the value head predicts returns standardised by a running mean and variance, so that trials whose
/// returns run to hundreds (MDPs, long bandit trials) give the shared GRU value gradients of the same
/// size as the policy's.
/// </summary>
public sealed class PopArt
{
    public double Mean, Variance = 1;
    public bool Initialised;
    const double Decay = 0.9;

    public Tensor Denormalize(Tensor v) => v * Math.Sqrt(Variance) + Mean;
    public Tensor Normalize(Tensor g) => (g - Mean) / Math.Sqrt(Variance);

    /// <summary>Moves the statistics toward this batch's and rescales the head so its outputs in return units stay the same (PopArt's rule).</summary>
    public void Update(float[] returns, float[] mask, ParameterSet head)
    {
        double oldMean = Mean, oldStd = Math.Sqrt(Variance);
        Track(returns, mask);
        double std = Math.Sqrt(Variance);
        using var _ = no_grad();
        head["value.0.weight"].mul_(oldStd / std);
        head["value.0.bias"].mul_(oldStd).add_(oldMean - Mean).div_(std);
    }

    void Track(float[] returns, float[] mask)
    {
        double n = 0, sum = 0, sq = 0;
        for (int i = 0; i < returns.Length; i++) if (mask[i] != 0) { n++; sum += returns[i]; }
        if (n == 0) return;
        double mean = sum / n;
        for (int i = 0; i < returns.Length; i++) if (mask[i] != 0) sq += (returns[i] - mean) * (returns[i] - mean);
        double variance = Math.Max(sq / n, 1e-4);
        if (!Initialised) { Mean = mean; Variance = variance; Initialised = true; return; }
        Mean = Decay * Mean + (1 - Decay) * mean;
        Variance = Decay * Variance + (1 - Decay) * variance;
    }
}
