using MetaRl.Algorithms.SingleTask;
using MetaRl.Core;
using MetaRl.Envs;
using MetaRl.Envs.Navigation;
using MetaRl.Policies;
using MetaRl.Baselines;
using MetaRl.Sampling;

namespace MetaRl.Tests;

/// <summary>The README's library example, verbatim, so the documentation cannot rot.</summary>
public class ReadmeExampleTests
{
    [Fact]
    public void TheReadmeLibraryExampleRuns()
    {
        var console = Console.Out;
        var captured = new StringWriter();
        Console.SetOut(captured);
        try
        {

            var tasks = new Navigation2DDistribution();
            var rng = new Rng(1);
            var policy = new GaussianMlpPolicy(2, (Box)tasks.ActionSpace, [64, 64], rng.Split());
            var task = tasks.Sample(1, rng)[0];

            // Collect 20 episodes on the task, fit the linear baseline, take MAML's inner step.
            var batch = new Sampler(tasks).Sample(policy, [task], episodesPerTask: 20, rng);
            var returns = Advantages.DiscountedReturns(batch, gamma: 0.99);
            var advantages = Advantages.Gae(batch, LinearFeatureBaseline.FitPredict(batch, returns), gamma: 0.99, lambda: 1.0);
            var adapted = policy.Parameters.Adapt(Vpg.Loss(policy, batch, advantages), stepSize: 0.1);

            // The adapted policy: same network, adapted parameters (the graph back to theta is kept).
            var after = new Sampler(tasks).Sample(policy, [task], 20, rng, adapted.DetachedClone());
            Console.WriteLine($"return before {batch.MeanReturn:0.0}, after one step {after.MeanReturn:0.0}");
        }
        finally { Console.SetOut(console); }
        Assert.Contains("after one step", captured.ToString());
    }
}
