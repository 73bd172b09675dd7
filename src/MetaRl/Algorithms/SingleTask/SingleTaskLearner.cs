
namespace MetaRl.Algorithms.SingleTask;

/// <summary>Single-task RL as a learner: collect a batch on the one task, update with a policy optimizer.</summary>
public sealed class SingleTaskLearner(PolicyOptimizer optimizer, Sampler sampler, object task, int batchSize, Rng rng) : ISingleTaskLearner
{
    public PolicyOptimizer Optimizer => optimizer;
    public Policy Policy => optimizer.Policy;
    public ParameterSet Parameters => Policy.Parameters;
    public object Task => task;

    public LearnerIteration Iterate()
    {
        using var guard = IterationGuard.Enter();
        var batch = sampler.Sample(Policy, [task], batchSize, rng);
        var stats = optimizer.Update(batch);
        return new LearnerIteration(batch.MeanReturn, batch.SuccessRate, batch.Steps, stats);
    }

    public void SaveState(BinaryWriter w) => optimizer.SaveState(w);
    public void LoadState(BinaryReader r) => optimizer.LoadState(r);
    public void Dispose() => sampler.Dispose();
}
