using static TorchSharp.torch;

namespace MetaRl.Algorithms;

/// <summary>The policy-gradient losses every learner shares, written once.</summary>
public static class Losses
{
    /// <summary>Mean over the steps episodes took (mask 1); 0 for an all-zero mask.</summary>
    public static Tensor MaskedMean(Tensor x, Tensor mask) => (x * mask).sum() / mask.sum().clamp_min(1);

    /// <summary>The probability ratio pi(a|s) / pi_old(a|s) from the old log-probabilities.</summary>
    public static Tensor Ratio(IActionDistribution pi, Tensor actions, Tensor oldLogProbs) => (pi.LogProb(actions) - oldLogProbs).exp();

    /// <summary>PPO's clipped surrogate per step, min(r A, clip(r, 1 - eps, 1 + eps) A) (Schulman et al. 2017, eq. 7); to be maximised.</summary>
    public static Tensor ClippedSurrogate(Tensor ratio, Tensor advantages, double clip) =>
        min(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages);

    /// <summary>TRPO's objective over masked steps: the surrogate loss -E[r A] and the mean KL(old || pi), both with their graphs.</summary>
    public static (Tensor Loss, Tensor Kl) TrustRegionObjective(IActionDistribution pi, IActionDistribution oldPi, Tensor actions, Tensor oldLogProbs, Tensor advantages, Tensor mask) =>
        (-MaskedMean(Ratio(pi, actions, oldLogProbs) * advantages, mask), MaskedMean(pi.KlFrom(oldPi), mask));

    /// <summary>Returns the value, or throws <see cref="NonFiniteException"/> if it is NaN or infinite.</summary>
    public static double Finite(double value, string what) => double.IsFinite(value) ? value : throw new NonFiniteException($"{what} became {value}");
}

/// <summary>Raised when a loss or statistic becomes NaN or infinite: the run stops and keeps its last good checkpoint.</summary>
public sealed class NonFiniteException(string message) : Exception(message);
