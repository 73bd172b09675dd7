using MetaRl.Algorithms;
using MetaRl.Envs;
using MetaRl.Envs.Navigation;
using MetaRl.Evaluation;
using MetaRl.Experiments;
using MetaRl.Policies;

namespace MetaRl.Tests.Maml;

public class MetaEvaluationTests
{
    [Fact]
    public void TheNavigationOracleReachesTheReferenceReturn()
    {
        var goals = new Navigation2DDistribution().Sample(20000, new Rng(1)).Cast<object>().ToList();
        var r = Oracles.Navigation(goals, budget: 0, episodesPerStep: 20);
        Assert.InRange(r.Returns[0].Average(), -0.53, -0.49); // reference: -0.51 over 100,000 goals
        Assert.True(r.SuccessRates[0].Average() > 0.99);
    }

    sealed class FixedLearner : IMetaLearner
    {
        public MetaRl.Torch.ParameterSet Parameters => throw new NotSupportedException();
        public LearnerIteration Iterate() => throw new NotSupportedException();
        public void SaveState(BinaryWriter w) { }
        public void LoadState(BinaryReader r) { }
        const int EpisodesPerAdaptationStep = 5;
        // Task k gains k + step; every evaluation seed sees the same numbers.
        public AdaptationResult AdaptTo(IReadOnlyList<object> tasks, int budget, Rng rng) => new(
            Enumerable.Range(0, budget + 1).Select(s => Enumerable.Range(0, tasks.Count).Select(k => (double)(k + s)).ToArray()).ToArray(),
            Enumerable.Range(0, budget + 1).Select(s => Enumerable.Range(0, tasks.Count).Select(_ => s == budget ? 1.0 : 0.0).ToArray()).ToArray(),
            EpisodesPerAdaptationStep);
    }

    [Fact]
    public void TheEvaluatorRecordsEveryStepOfEverySplitWithConfidenceIntervals()
    {
        var splits = new TaskSplits<object>([1, 2, 3], [1, 2, 3, 4], [1, 2]);
        var points = MetaEvaluator.Evaluate("fixed", new FixedLearner(), splits, budget: 2, seeds: [1, 2]);
        Assert.Equal(9, points.Count);
        var test1 = points.Single(p => p.Split == "test" && p.Step == 1);
        Assert.Equal(2.5, test1.MeanReturn, 9);          // mean of 1, 2, 3, 4
        Assert.Equal(3.182446 * Math.Sqrt(5.0 / 3) / 2, test1.Ci95, 4); // t(0.975, 3) * sd / sqrt(n)
        Assert.Equal(1.0, points.Single(p => p.Split == "ood" && p.Step == 2).SuccessRate);
        Assert.Equal([0, 5, 10], points.Where(p => p.Split == "train").Select(p => p.Episodes)); // the experience axis
        Assert.Equal(0.0, points.Single(p => p.Split == "ood" && p.Step == 1).SuccessRate);

        var other = points.Select(p => p with { MeanReturn = p.MeanReturn + 2 }).ToList();
        var combined = MetaEvaluator.AcrossRuns([points, other]);
        var c = combined.Single(p => p.Split == "test" && p.Step == 1);
        Assert.Equal(3.5, c.MeanReturn, 9);
        Assert.Equal(2, c.Samples); // CI over runs
        var roundTrip = MetaEvaluator.FromCsv(WriteTemp(MetaEvaluator.ToCsv(points)));
        Assert.Equal(points, roundTrip);

        // A file written before the episodes column still reads, its experience unknown.
        var old = MetaEvaluator.FromCsv(WriteTemp("method,split,step,mean_return,ci95,success_rate,n\nmaml,test,1,-13.9,0.5,0.2,3\n")).Single();
        Assert.Equal(new AdaptationPoint("maml", "test", 1, -1, -13.9, 0.5, 0.2, 3), old);
    }

    static string WriteTemp(string text)
    {
        string path = Path.GetTempFileName();
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    [Trait(Category.Name, Category.Slow)]
    public void MamlsPostAdaptationReturnRisesAndBeatsThePreAdaptationReturn()
    {
        var run = new TrainingRun("maml", "2d-navigation", new Dictionary<string, string>
        {
            ["meta-batch-size"] = "10", ["fast-batch-size"] = "10", ["hidden-sizes"] = "32,32",
        }, seed: 2);
        var results = Enumerable.Range(0, 8).Select(_ => run.RunIteration()).ToList();
        double firstPost = results.Take(2).Average(r => r.Stats["post_return"]);
        double lastPost = results.TakeLast(2).Average(r => r.Stats["post_return"]);
        double lastPre = results.TakeLast(2).Average(r => r.Stats["pre_return"]);
        Assert.True(lastPost > firstPost + 15, $"post-adaptation return went from {firstPost:0.0} to {lastPost:0.0}");
        Assert.True(lastPost > lastPre + 5, $"after 8 meta-iterations the adapted policy ({lastPost:0.0}) should beat the unadapted one ({lastPre:0.0})");
    }
}
