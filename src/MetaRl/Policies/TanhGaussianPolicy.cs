using static TorchSharp.torch;

namespace MetaRl.Policies;

/// <summary>
/// SAC's actor (Haarnoja et al. 2018, Appendix C): an MLP gives the mean and log-std of a Gaussian over u, and the
/// action is tanh(u) rescaled to the box's bounds, so every action is in range. Log-densities are of the normalised
/// action tanh(u) in [-1, 1]^A, by the change of variables log pi = log N(u; mu, sigma) - sum_i log(1 - tanh(u_i)^2):
/// as SB3 and rlkit, whose policies act in [-1, 1] and leave the rescaling to the env, so SAC's target entropy
/// -dim(A) means the same whatever the box (a point robot's steps of 0.1 could never reach it otherwise).
/// The input may be wider than the env's observation (PEARL appends its task latent z): the constructor's inputSize.
/// </summary>
public sealed class TanhGaussianPolicy : Policy
{
    /// <summary>Bounds on the log-std as in SAC's and PEARL's code (LOG_SIG_MIN / LOG_SIG_MAX).</summary>
    public const double LogStdMin = -20, LogStdMax = 2;

    readonly Activation _activation;
    readonly int _layers, _actionDim;
    readonly float[] _center, _halfRange;
    float[] _mean = [], _std = [];

    public TanhGaussianPolicy(int inputSize, Box actionSpace, IReadOnlyList<int> hiddenSizes, Rng rng, Activation activation = Activation.Relu)
        : base(inputSize, actionSpace, ParameterSet.Leaves(
            // One trunk, two outputs per action dimension (mean, log-std); the last layer starts small (as rlkit's init_w)
            // so the first actions are tanh(N(0, 1)): spread over the box, centred.
            Mlp.Init("pi.", [inputSize, .. hiddenSizes, 2 * actionSpace.Dim], rng, lastLayerScale: 1e-2)))
    {
        foreach (var (lo, hi) in actionSpace.Low.Zip(actionSpace.High))
            if (!float.IsFinite(lo) || !float.IsFinite(hi) || hi <= lo)
                throw new ArgumentException($"a tanh-squashed policy needs a bounded action box; got {actionSpace}", nameof(actionSpace));
        _activation = activation;
        _layers = hiddenSizes.Count + 1;
        _actionDim = actionSpace.Dim;
        _center = actionSpace.Low.Zip(actionSpace.High, (lo, hi) => (lo + hi) / 2).ToArray();
        _halfRange = actionSpace.Low.Zip(actionSpace.High, (lo, hi) => (hi - lo) / 2).ToArray();
    }

    /// <summary>Mean and clamped log-std of u, each [..., A].</summary>
    public (Tensor Mean, Tensor LogStd) Gaussian(Tensor inputs, ParameterSet? parameters = null)
    {
        var h = Mlp.Forward(inputs, parameters ?? Parameters, "pi.", _layers, _activation);
        var parts = h.chunk(2, -1);
        return (parts[0], parts[1].clamp(LogStdMin, LogStdMax));
    }

    /// <summary>
    /// A reparameterised sample (u = mu + sigma * noise, differentiable in the parameters) and its log-density [...].
    /// <paramref name="noise"/> is standard normal, shaped like the mean; the caller draws it, so a seed fixes it.
    /// </summary>
    public (Tensor Action, Tensor LogProb) Sample(Tensor inputs, Tensor noise, ParameterSet? parameters = null)
    {
        var (action, logProb, _, _) = SampleWithGaussian(inputs, noise, parameters);
        return (action, logProb);
    }

    /// <summary><see cref="Sample"/> and the Gaussian it drew from (PEARL penalises the mean and log-std).</summary>
    public (Tensor Action, Tensor LogProb, Tensor Mean, Tensor LogStd) SampleWithGaussian(Tensor inputs, Tensor noise, ParameterSet? parameters = null)
    {
        var (mean, logStd) = Gaussian(inputs, parameters);
        var u = mean + logStd.exp() * noise;
        return (Squash(u), LogProbOfU(u, mean, logStd), mean, logStd);
    }

    /// <summary>log pi(a|s) of pre-squash values u: the Gaussian's log-density less the log-determinant of tanh.</summary>
    Tensor LogProbOfU(Tensor u, Tensor mean, Tensor logStd)
    {
        var z = (u - mean) * (-logStd).exp();
        var gaussian = (-0.5 * z.pow(2) - logStd - 0.5 * Math.Log(2 * Math.PI)).sum(-1);
        // log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), stable where tanh(u) rounds to +-1
        var logDetTanh = (2 * (Math.Log(2) - u - nn.functional.softplus(-2 * u))).sum(-1);
        return gaussian - logDetTanh;
    }

    /// <summary>tanh(u) rescaled from [-1, 1] to the box.</summary>
    Tensor Squash(Tensor u) => u.tanh() * tensor(_halfRange) + tensor(_center);

    /// <summary>
    /// Actions of the box mapped back to [-1, 1] (differentiable): what SAC's and PEARL's Q-functions read, as in rlkit
    /// and oyster, whose envs are wrapped to act in [-1, 1]. A Q-function fed a point robot's steps of 0.1 would need
    /// ten times larger weights to feel the action, which Adam's fixed step size takes ten times longer to grow.
    /// </summary>
    public Tensor Normalise(Tensor actions) => (actions - tensor(_center)) / tensor(_halfRange);

    /// <summary><see cref="Normalise(Tensor)"/> of one action, appended to a list (PEARL's context rows).</summary>
    public void AppendNormalised(ReadOnlySpan<float> action, List<float> into)
    {
        for (int i = 0; i < action.Length; i++) into.Add((action[i] - _center[i]) / _halfRange[i]);
    }

    public override IActionDistribution Distribution(Tensor observations, ParameterSet? parameters = null)
    {
        var (mean, logStd) = Gaussian(observations, parameters);
        return new SquashedGaussian(mean, logStd, this);
    }

    public override void Act(float[] observations, int count, float[] actions, Rng rng, ParameterSet? parameters = null, bool deterministic = false)
    {
        int a = _actionDim;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (mean, logStd) = Gaussian(Observe(observations, count), parameters);
        if (_mean.Length < count * a) { _mean = new float[count * a]; _std = new float[count * a]; }
        mean.data<float>().CopyTo(_mean.AsSpan(0, count * a));
        logStd.exp().data<float>().CopyTo(_std.AsSpan(0, count * a));
        for (int i = 0; i < count * a; i++)
        {
            double u = deterministic ? _mean[i] : _mean[i] + _std[i] * rng.Normal();
            int j = i % a;
            actions[i] = (float)Math.Tanh(u) * _halfRange[j] + _center[j];
        }
    }

    /// <summary>The action distribution as an <see cref="IActionDistribution"/>: log-densities of given actions (through atanh); no closed-form entropy or KL.</summary>
    sealed class SquashedGaussian(Tensor mean, Tensor logStd, TanhGaussianPolicy policy) : IActionDistribution
    {
        public Tensor LogProb(Tensor actions)
        {
            // Back to [-1, 1], kept off the boundary where atanh is infinite.
            var y = ((actions - tensor(policy._center)) / tensor(policy._halfRange)).clamp(-1 + 1e-6, 1 - 1e-6);
            return policy.LogProbOfU(y.atanh(), mean, logStd);
        }

        public Tensor Entropy() => throw new NotSupportedException("a tanh-squashed Gaussian has no closed-form entropy; SAC estimates it from samples (TanhGaussianPolicy.Sample)");
        public Tensor KlFrom(IActionDistribution old) => throw new NotSupportedException("a tanh-squashed Gaussian has no closed-form KL divergence");
        public IActionDistribution Detach() => new SquashedGaussian(mean.detach(), logStd.detach(), policy);
    }
}
