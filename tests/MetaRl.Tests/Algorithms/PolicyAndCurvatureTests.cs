using MetaRl.Envs;
using MetaRl.Policies;
using MetaRl.Torch;
using static TorchSharp.torch;

namespace MetaRl.Tests.Algorithms;

public class PolicyAndCurvatureTests
{
    public PolicyAndCurvatureTests() => TorchNative.EnsureLoaded();

    [Fact]
    public void GaussianLogProbEntropyAndKlMatchTheFormulas()
    {
        using var scope = NewDisposeScope();
        var d = new DiagGaussian(tensor(new float[] { 0.5f, -1f }), tensor(new float[] { 0f, (float)Math.Log(2) }));
        double expected = -0.5 * (0.3 * 0.3) - 0.5 * Math.Log(2 * Math.PI) + (-0.5 * (1.0 / 2) * (1.0 / 2) - Math.Log(2) - 0.5 * Math.Log(2 * Math.PI));
        Assert.Equal(expected, d.LogProb(tensor(new float[] { 0.8f, 0f })).item<float>(), 4);
        Assert.Equal(0f, d.KlFrom(d).item<float>(), 6);
        var e = new DiagGaussian(tensor(new float[] { 0f, -1f }), tensor(new float[] { 0f, (float)Math.Log(2) }));
        Assert.Equal(0.5 * 0.25, e.KlFrom(d).item<float>(), 5); // mean shift 0.5 at unit std: 0.5 * 0.5^2
        Assert.Equal(2 * 0.5 * (1 + Math.Log(2 * Math.PI)) + Math.Log(2), d.Entropy().item<float>(), 4);
    }

    [Fact]
    public void CategoricalLogProbAndKl()
    {
        using var scope = NewDisposeScope();
        var c = new Categorical(tensor(new float[] { 0f, (float)Math.Log(3) })); // probabilities 1/4, 3/4
        Assert.Equal(Math.Log(0.75), c.LogProb(tensor(new float[] { 1f })).item<float>(), 5);
        var u = new Categorical(tensor(new float[] { 0f, 0f }));
        Assert.Equal(0.25 * Math.Log(0.25 / 0.5) + 0.75 * Math.Log(0.75 / 0.5), u.KlFrom(c).item<float>(), 5);
    }

    [Fact]
    public void KlFromUniformIsTheHandComputedValueAndPullsEvenANearlyDeadActionBack()
    {
        using var scope = NewDisposeScope();
        // Probabilities 1/4, 3/4: KL(U || pi) = 0.5 log(0.5 / 0.25) + 0.5 log(0.5 / 0.75).
        var c = new Categorical(tensor(new float[] { 0f, (float)Math.Log(3) }));
        Assert.Equal(0.5 * Math.Log(2) + 0.5 * Math.Log(2.0 / 3), c.KlFromUniform().item<float>(), 5);

        // Its gradient with respect to the logits is pi - 1/k, also for an action of probability ~e^-12, where
        // the entropy's gradient, -pi (log pi + H), is almost nothing.
        var logits = tensor(new float[] { -12f, 1f, 0.5f, 0f }).requires_grad_();
        var pi = new Categorical(logits);
        var grad = autograd.grad([pi.KlFromUniform()], [logits])[0].data<float>().ToArray();
        var p = logits.detach().softmax(-1).data<float>().ToArray();
        for (int a = 0; a < 4; a++) Assert.Equal(p[a] - 0.25, grad[a], 5);
        var entropyGrad = autograd.grad([new Categorical(logits).Entropy()], [logits])[0].data<float>().ToArray();
        Assert.True(Math.Abs(entropyGrad[0]) < 1e-4 && Math.Abs(grad[0]) > 0.24, $"entropy {entropyGrad[0]}, uniform KL {grad[0]}");
    }

    [Fact]
    public void PolicyRunsWithExplicitParameters()
    {
        using var scope = NewDisposeScope();
        var policy = new GaussianMlpPolicy(2, Box.Uniform(2, -1, 1), [4], new Rng(3));
        var obs = tensor(new float[] { 0.1f, 0.2f }).view(1, 2);
        var shifted = policy.Parameters.Map((name, v) => name == "mean.1.bias" ? v + 1 : v);
        var m0 = ((DiagGaussian)policy.Distribution(obs)).Mean;
        var m1 = ((DiagGaussian)policy.Distribution(obs, shifted)).Mean;
        Assert.Equal(1f, (m1 - m0).mean().item<float>(), 5);
    }

    [Fact]
    public void HessianVectorProductMatchesFiniteDifferencesOfTheGradient()
    {
        using var scope = NewDisposeScope();
        var gen = new Generator(11);
        var x = randn(new long[] { 6, 3 }, dtype: float64, generator: gen);
        var p = ParameterSet.Leaves([("w", randn(new long[] { 3, 4 }, dtype: float64, generator: gen)), ("b", randn(new long[] { 4 }, dtype: float64, generator: gen))]);
        Tensor F(ParameterSet q) => tanh(x.matmul(q["w"]) + q["b"]).pow(2).sum() + q["b"].pow(3).sum();
        var v = randn(new long[] { 16 }, dtype: float64, generator: gen);

        var hv = Curvature.HessianVectorProduct(F(p), p)(v);
        const double eps = 1e-6;
        Tensor GradAt(Tensor flat)
        {
            var q = ParameterSet.Leaves(p.Unflatten(flat).Names.Zip(p.Unflatten(flat).Values).Select(t => (t.First, t.Second)).ToList());
            return cat(autograd.grad([F(q)], q.Values).Select(g => g.reshape(-1)).ToList(), 0);
        }
        var theta = p.Flatten().detach();
        var fd = (GradAt(theta + eps * v) - GradAt(theta - eps * v)) / (2 * eps);
        Assert.True((hv - fd).abs().max().item<double>() < 1e-5 * (1 + fd.abs().max().item<double>()), "HVP differs from finite differences of the gradient");
        // A second product reuses the retained graph (TorchSharp aborts the process on a freed one).
        Assert.Equal(hv.sum().item<double>(), Curvature.HessianVectorProduct(F(p), p)(v).sum().item<double>(), 9);
    }

    [Fact]
    public void GradientsOfAGraphlessLossAreRefusedInsteadOfAbortingTheProcess()
    {
        using var scope = NewDisposeScope();
        var p = ParameterSet.Leaves([("w", ones(3))]);
        Tensor loss;
        using (no_grad()) loss = (p["w"] * 2).sum();
        Assert.Throws<InvalidOperationException>(() => p.Adapt(loss, 0.1));
        Assert.Throws<InvalidOperationException>(() => Curvature.HessianVectorProduct(loss, p));
    }

    [Fact]
    public void ConjugateGradientSolvesASymmetricPositiveDefiniteSystem()
    {
        using var scope = NewDisposeScope();
        var a = tensor(new float[] { 4, 1, 0, 1, 3, 1, 0, 1, 2 }).view(3, 3);
        var b = tensor(new float[] { 1, 2, 3 });
        var x = Curvature.ConjugateGradient(v => a.matmul(v), b, iterations: 10);
        Assert.True((a.matmul(x) - b).abs().max().item<float>() < 1e-4);
    }
}
