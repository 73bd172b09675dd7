using MetaRl.Algorithms.Maml;
using MetaRl.Algorithms.SingleTask;
using MetaRl.Envs;
using MetaRl.Envs.Navigation;
using MetaRl.Experiments;
using MetaRl.Policies;
using MetaRl.Sampling;
using MetaRl.Torch;
using static TorchSharp.torch;

namespace MetaRl.Tests.Maml;

public class ProMpAndReptileTests
{
    public ProMpAndReptileTests() => TorchNative.EnsureLoaded();

    [Fact]
    public void TheLowVarianceCurvatureObjectiveHasTheReinforceGradientButAnotherHessian()
    {
        var dist = new Navigation2DDistribution(maxEpisodeSteps: 8);
        var rng = new Rng(4);
        var policy = new GaussianMlpPolicy(2, (Box)dist.ActionSpace, [6], rng.Split());
        var sampler = new Sampler(dist);
        var tasks = dist.Sample(2, rng).Cast<object>().ToList();
        var adaptation = new GradientAdaptation(policy, sampler, 0.3, 4, new CommonConfig());
        var data = adaptation.Prepare(sampler.Sample(policy, tasks, 4, rng), 2);

        // One inner step each: the adapted parameters agree (same gradient) ...
        var lr = adaptation.Adapt(policy.Parameters, data, 1, firstOrder: false);
        var lvc = adaptation.Adapt(policy.Parameters, data, 1, firstOrder: false, lowVarianceCurvature: true);
        for (int i = 0; i < lr.Count; i++) Assert.True((lr.Values[i] - lvc.Values[i]).abs().max().item<float>() < 1e-5);
        // ... but their derivatives with respect to theta (through the inner gradient) do not.
        Tensor Probe(ParameterSet p) => p.Values.Select(v => v.pow(2).sum()).Aggregate((a, b) => a + b);
        var gLr = autograd.grad([Probe(lr)], policy.Parameters.Values);
        var gLvc = autograd.grad([Probe(lvc)], policy.Parameters.Values);
        double diff = gLr.Zip(gLvc).Sum(p => (p.First - p.Second).abs().sum().item<float>());
        Assert.True(diff > 1e-4, "the LVC estimator drops a Hessian term, so the meta-gradients must differ");
    }

    [Fact]
    public void ReptileMovesThetaAFractionTowardTheAdaptedParameters()
    {
        var dist = new Navigation2DDistribution();
        Policy MakePolicy() => new GaussianMlpPolicy(2, (Box)dist.ActionSpace, [8], new Rng(1));
        var maml = new MamlConfig { MetaBatchSize = 2, FastBatchSize = 3, FastLr = 0.1 };
        var common = new CommonConfig();

        var policyA = MakePolicy();
        var reptile = new Reptile(new Sampler(dist), policyA, maml, new ReptileConfig { InnerSteps = 1, MetaLr = 0.25 }, common, new Rng(9));
        reptile.Iterate();

        // The same steps by hand, with the same generator stream.
        var policyB = MakePolicy();
        var rng = new Rng(9);
        var tasks = dist.SampleTasks(2, rng);
        var phi0 = policyB.Parameters.DetachedClone().Replicate(2);
        var sampler = new Sampler(dist);
        var batch = sampler.Sample(policyB, tasks, 3, rng, phi0);
        var adaptation = new GradientAdaptation(policyB, sampler, 0.1, 3, common);
        var phi = adaptation.Adapt(phi0.Map((_, v) => v.detach().requires_grad_(true)), adaptation.Prepare(batch, 2), 1, firstOrder: true);
        for (int i = 0; i < policyB.Parameters.Count; i++)
        {
            var expected = policyB.Parameters.Values[i] + 0.25 * (phi.Values[i].detach().mean([0L]) - policyB.Parameters.Values[i]);
            Assert.True((policyA.Parameters.Values[i] - expected).abs().max().item<float>() < 1e-6);
        }
    }

    [Theory]
    [InlineData("promp", "")]
    [InlineData("reptile", "")]
    [InlineData("reptile", "ppo")]
    [InlineData("fomaml", "")]
    [Trait(Category.Name, Category.Slow)]
    public void GradientMetaLearnersImproveTheirReturnsQuickly(string algorithm, string innerOptimizer)
    {
        var values = new Dictionary<string, string> { ["meta-batch-size"] = "10", ["fast-batch-size"] = "10", ["hidden-sizes"] = "32,32" };
        if (innerOptimizer != "") values["inner-optimizer"] = innerOptimizer;
        var run = new TrainingRun(algorithm, "2d-navigation", values, seed: 3);
        var r = Enumerable.Range(0, 8).Select(_ => run.RunIteration().MeanReturn).ToList();
        Assert.True(r.TakeLast(2).Average() > r.Take(2).Average() + 15, $"{algorithm}: {string.Join(" ", r.Select(x => x.ToString("0.0")))}");
    }
}
