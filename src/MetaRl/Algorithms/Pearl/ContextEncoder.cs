using static TorchSharp.torch;

namespace MetaRl.Algorithms.Pearl;

/// <summary>
/// PEARL's inference network q_phi(z | c) (Rakelly et al. 2019, Section 4.2): an MLP maps each context transition
/// c_n = (s, a, r[, s']) on its own to a Gaussian factor Psi_phi(z | c_n) = N(mu_n, sigma_n^2) (mean, and variance
/// through a softplus), and the posterior is their normalised product, q(z | c) ∝ prod_n Psi(z | c_n):
/// <code>
///   sigma^2 = 1 / sum_n (1 / sigma_n^2),   mu = sigma^2 * sum_n (mu_n / sigma_n^2)
/// </code>
/// permutation-invariant in the context and sharper with every transition. Without the information bottleneck
/// (<c>use-information-bottleneck: false</c>) z is the mean of the per-transition outputs, deterministic.
/// With no context at all the posterior is the prior N(0, I).
/// </summary>
public sealed class ContextEncoder
{
    readonly int _layers;
    readonly bool _bottleneck;

    public ContextEncoder(int contextSize, int latentSize, IReadOnlyList<int> hiddenSizes, bool informationBottleneck, Rng rng)
    {
        ContextSize = contextSize;
        LatentSize = latentSize;
        _bottleneck = informationBottleneck;
        _layers = hiddenSizes.Count + 1;
        Parameters = ParameterSet.Leaves(Mlp.Init("encoder.", [contextSize, .. hiddenSizes, informationBottleneck ? 2 * latentSize : latentSize], rng));
    }

    public int ContextSize { get; }
    public int LatentSize { get; }
    public ParameterSet Parameters { get; }

    /// <summary>
    /// The posterior of each task from its context [K, N, contextSize]: mean and variance, each [K, latent]
    /// (variance zero without the information bottleneck). N = 0 gives the prior.
    /// </summary>
    public (Tensor Mean, Tensor Variance) Posterior(Tensor context)
    {
        long k = context.shape[0], n = context.shape[1];
        if (n == 0) return (zeros(k, LatentSize), _bottleneck ? ones(k, LatentSize) : zeros(k, LatentSize));
        var h = Mlp.Forward(context, Parameters, "encoder.", _layers, Activation.Relu);
        if (!_bottleneck) return (h.mean([1]), zeros(k, LatentSize));
        var parts = h.chunk(2, -1);
        var factorVariance = nn.functional.softplus(parts[1]).clamp_min(1e-7);
        var variance = 1 / (1 / factorVariance).sum(1);
        return (variance * (parts[0] / factorVariance).sum(1), variance);
    }

    /// <summary>z = mu + sigma * noise (reparameterised, so the critic's loss trains the encoder through it); noise [K, latent]. Without the bottleneck: the mean.</summary>
    public Tensor Sample(Tensor mean, Tensor variance, Tensor noise) => _bottleneck ? mean + variance.sqrt() * noise : mean;

    /// <summary>KL(N(mu, sigma^2) || N(0, I)) summed over the latent dimensions, per task [K].</summary>
    public static Tensor KlFromPrior(Tensor mean, Tensor variance) =>
        (0.5 * (variance + mean.pow(2) - 1 - variance.clamp_min(1e-7).log())).sum(-1);
}
