using static TorchSharp.torch;

namespace MetaRl.Policies;

/// <summary>The action distribution a policy outputs for a batch of observations [..., obs].</summary>
public interface IActionDistribution
{
    /// <summary>Log-probability of actions [..., actionSize] (a discrete action is one float index), shape [...].</summary>
    Tensor LogProb(Tensor actions);
    Tensor Entropy();
    /// <summary>KL(old || this), per batch element, shape [...].</summary>
    Tensor KlFrom(IActionDistribution old);
    IActionDistribution Detach();
}

/// <summary>Diagonal Gaussian with a state-independent log standard deviation.</summary>
public sealed class DiagGaussian(Tensor mean, Tensor logStd) : IActionDistribution
{
    public Tensor Mean { get; } = mean;
    public Tensor LogStd { get; } = logStd;

    public Tensor LogProb(Tensor actions)
    {
        var z = (actions - Mean) * (-LogStd).exp();
        return (-0.5 * z.pow(2) - LogStd - 0.5 * Math.Log(2 * Math.PI)).sum(-1);
    }

    public Tensor Entropy() => (LogStd + 0.5 * (1 + Math.Log(2 * Math.PI))).sum(-1).expand(Mean.shape[..^1]);

    public Tensor KlFrom(IActionDistribution old)
    {
        var o = (DiagGaussian)old;
        var varNew = (2 * LogStd).exp();
        return (LogStd - o.LogStd + ((2 * o.LogStd).exp() + (o.Mean - Mean).pow(2)) / (2 * varNew) - 0.5).sum(-1);
    }

    public IActionDistribution Detach() => new DiagGaussian(Mean.detach(), LogStd.detach());
}

/// <summary>Categorical over logits [..., k].</summary>
public sealed class Categorical(Tensor logits) : IActionDistribution
{
    public Tensor LogProbs { get; } = logits.log_softmax(-1);

    public Tensor LogProb(Tensor actions) => LogProbs.gather(-1, actions.to(int64)).squeeze(-1);

    public Tensor Entropy() => -(LogProbs.exp() * LogProbs).sum(-1);

    public Tensor KlFrom(IActionDistribution old)
    {
        var o = (Categorical)old;
        return (o.LogProbs.exp() * (o.LogProbs - LogProbs)).sum(-1);
    }

    public IActionDistribution Detach() => new Categorical(LogProbs.detach());

    /// <summary>
    /// KL(uniform || pi) = -log k - mean_a log pi(a): its gradient with respect to logit a is pi(a) - 1/k, which
    /// stays at -1/k for an action whose probability is already near zero, where the entropy's gradient vanishes.
    /// </summary>
    public Tensor KlFromUniform() => -Math.Log(LogProbs.shape[^1]) - LogProbs.mean([-1]);
}
