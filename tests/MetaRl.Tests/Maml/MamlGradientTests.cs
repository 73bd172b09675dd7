using MetaRl.Algorithms.Maml;
using MetaRl.Algorithms.SingleTask;
using MetaRl.Envs;
using MetaRl.Envs.Navigation;
using MetaRl.Policies;
using MetaRl.Algorithms;
using MetaRl.Sampling;
using MetaRl.Torch;
using static TorchSharp.torch;

namespace MetaRl.Tests.Maml;

/// <summary>The meta-gradient of MAML against finite differences, and FOMAML as MAML without the Hessian term.</summary>
public class MamlGradientTests
{
    readonly Navigation2DDistribution _dist = new(maxEpisodeSteps: 6);
    readonly GaussianMlpPolicy _policy;
    readonly MamlTrpo _maml;
    readonly TaskBatch _train, _valid;
    const double Alpha = 0.5;

    public MamlGradientTests()
    {
        TorchNative.EnsureLoaded();
        var rng = new Rng(21);
        _policy = new GaussianMlpPolicy(2, (Box)_dist.ActionSpace, [5], rng.Split(), initStd: 0.5);
        _maml = new MamlTrpo(new Sampler(_dist), _policy, new MamlConfig { FastLr = Alpha }, new TrpoConfig(), new CommonConfig(), rng);
        var tasks = _dist.Sample(2, rng).Cast<object>().ToList();
        var sampler = new Sampler(_dist);
        var train = sampler.Sample(_policy, tasks, 3, rng);
        var valid = sampler.Sample(_policy, tasks, 3, rng);
        _train = new TaskBatch(train, 2, Advantages.PerTask(train, 0.99, 1.0)).To(float64);
        _valid = new TaskBatch(valid, 2, Advantages.PerTask(valid, 0.99, 1.0)).To(float64);
    }

    /// <summary>Post-adaptation REINFORCE loss on the valid episodes, as a function of theta.</summary>
    Tensor PostAdaptationLoss(ParameterSet theta, bool firstOrder)
    {
        var adapted = _maml.Adapt(theta, _train, steps: 1, firstOrder);
        var logp = _policy.Distribution(_valid.Observations, adapted).LogProb(_valid.Actions);
        return -_valid.EpisodeMean(logp * _valid.Advantages);
    }

    ParameterSet Theta64() => ParameterSet.Leaves(_policy.Parameters.Names.Zip(_policy.Parameters.Values).Select(p => (p.First, p.Second.to(float64))).ToList());

    [Fact]
    public void SecondOrderMetaGradientMatchesFiniteDifferences()
    {
        using var scope = NewDisposeScope();
        var theta = Theta64();
        var grad = cat(autograd.grad([PostAdaptationLoss(theta, firstOrder: false)], theta.Values).Select(g => g.reshape(-1)).ToList(), 0);
        var flat = theta.Flatten().detach();
        var gen = new Generator(3);
        const double eps = 1e-6;
        for (int trial = 0; trial < 4; trial++)
        {
            var u = randn(new long[] { flat.numel() }, dtype: float64, generator: gen);
            double Loss(Tensor at) { using var _ = enable_grad(); return PostAdaptationLoss(ParameterSet.Leaves(theta.Unflatten(at).Names.Zip(theta.Unflatten(at).Values).Select(p => (p.First, p.Second)).ToList()), false).item<double>(); }
            double fd = (Loss(flat + eps * u) - Loss(flat - eps * u)) / (2 * eps);
            double analytic = grad.dot(u).item<double>();
            Assert.True(Math.Abs(fd - analytic) < 1e-6 + 1e-5 * Math.Abs(fd), $"directional derivative {analytic} vs finite differences {fd}");
        }
    }

    [Fact]
    public void FirstOrderGradientIsTheSecondOrderOneWithoutTheHessianTerm()
    {
        using var scope = NewDisposeScope();
        var theta = Theta64();
        var second = cat(autograd.grad([PostAdaptationLoss(theta, false)], theta.Values).Select(g => g.reshape(-1)).ToList(), 0);
        var first = cat(autograd.grad([PostAdaptationLoss(theta, true)], theta.Values).Select(g => g.reshape(-1)).ToList(), 0);

        // d/dtheta L(theta'_k) = (I - alpha H_k) g_k, with g_k the gradient at theta'_k and H_k the inner loss's Hessian.
        var rep = theta.Replicate(2);
        var logp = _policy.Distribution(_train.Observations, rep).LogProb(_train.Actions);
        var innerGrads = autograd.grad([GradientAdaptation.InnerLoss(logp, _train)], rep.Values, create_graph: true, retain_graph: true);
        var adapted = rep.MapIndexed((i, v) => (v - Alpha * innerGrads[i]).detach().requires_grad_(true));
        var postLogp = _policy.Distribution(_valid.Observations, adapted).LogProb(_valid.Actions);
        var g = autograd.grad([-_valid.EpisodeMean(postLogp * _valid.Advantages)], adapted.Values); // per task [K, ...]
        var gDotInner = innerGrads.Zip(g).Select(p => (p.First * p.Second.detach()).sum()).Aggregate((a, b) => a + b);
        var hessianTerm = autograd.grad([gDotInner], theta.Values, retain_graph: true); // sum_k H_k g_k
        var hg = cat(hessianTerm.Select(t => t.reshape(-1)).ToList(), 0);
        var gSum = cat(g.Select(t => t.sum([0L]).reshape(-1)).ToList(), 0);

        Assert.True((first - gSum).abs().max().item<double>() < 1e-9, "FOMAML's gradient is the sum of the post-adaptation gradients");
        Assert.True((second - (gSum - Alpha * hg)).abs().max().item<double>() < 1e-9, "MAML's gradient adds -alpha H g");
        Assert.True(hg.abs().max().item<double>() > 1e-6, "the Hessian term must not vanish, or the test shows nothing");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheDecomposedKlHessianEqualsDoubleBackpropagationThroughTheAdaptation(bool firstOrder)
    {
        using var scope = NewDisposeScope();
        var train = _train.To(float32);
        var valid = _valid.To(float32);
        var oldPi = _policy.Distribution(valid.Observations, _maml.Adapt(_policy.Parameters, train, 1, firstOrder: true)).Detach();
        var kl = valid.EpisodeMean(_policy.Distribution(valid.Observations, _maml.Adapt(_policy.Parameters, train, 1, firstOrder)).KlFrom(oldPi));
        var reference = Curvature.HessianVectorProduct(kl, _policy.Parameters);
        var decomposed = _maml.KlHessianVectorProduct(train, valid, oldPi, firstOrder);
        var gen = new Generator(5);
        for (int trial = 0; trial < 3; trial++)
        {
            var v = randn(new long[] { _policy.Parameters.NumScalars }, generator: gen);
            var a = reference(v);
            var b = decomposed(v);
            double relative = ((a - b).norm() / a.norm()).item<float>();
            Assert.True(relative < 1e-3, $"relative difference {relative}");
            Assert.True(a.norm().item<float>() > 1e-6);
        }
    }

    [Fact]
    public void AMetaIterationTakesATrustRegionStepThroughTheAdaptation()
    {
        var rng = new Rng(8);
        var policy = new GaussianMlpPolicy(2, (Box)_dist.ActionSpace, [8, 8], rng.Split());
        var maml = new MamlTrpo(new Sampler(new Navigation2DDistribution()), policy,
            new MamlConfig { MetaBatchSize = 4, FastBatchSize = 5 }, new TrpoConfig { MaxKl = 0.01 }, new CommonConfig(), rng);
        var before = policy.Parameters.Flatten().detach().clone();
        var r = maml.Iterate();
        Assert.Equal(1, r.Stats["accepted"]);
        Assert.InRange(r.Stats["kl"], 1e-7, 0.01);
        Assert.True(r.Stats["loss_after"] < r.Stats["loss_before"]);
        Assert.True((policy.Parameters.Flatten() - before).abs().max().item<float>() > 0);
        Assert.InRange(r.EnvSteps, 2 * 4 * 5 * 50, 2 * 4 * 5 * 100); // pre- and post-adaptation batches (episodes may end early)
    }
}
