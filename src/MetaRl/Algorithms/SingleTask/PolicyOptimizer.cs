
namespace MetaRl.Algorithms.SingleTask;

/// <summary>One on-policy update from a batch of episodes (the "train" half of collect-then-train).</summary>
public abstract class PolicyOptimizer(Policy policy)
{
    public Policy Policy { get; } = policy;

    /// <summary>How the update's losses become the policy's gradient (the plain backward by default; see <see cref="IGradientCombiner"/>).</summary>
    public IGradientCombiner Combiner { get; set; } = SumOfGradients.Instance;

    /// <summary>Updates the policy from the batch; returns named statistics (loss, KL, ...).</summary>
    public abstract IReadOnlyDictionary<string, double> Update(EpisodeBatch batch);

    /// <summary>Everything a resumed run needs beyond the policy's parameters (optimizer moments, critics).</summary>
    public virtual void SaveState(BinaryWriter w) => Policy.Parameters.Save(w);
    public virtual void LoadState(BinaryReader r) => Policy.Parameters.Load(r);

    /// <summary>Advantages from the linear feature baseline fitted on this batch, normalised (pytorch-maml-rl's recipe).</summary>
    protected static float[] LinearBaselineAdvantages(EpisodeBatch batch, double gamma, double lambda)
    {
        var returns = Advantages.DiscountedReturns(batch, gamma);
        var values = Baselines.LinearFeatureBaseline.FitPredict(batch, returns);
        var adv = Advantages.Gae(batch, values, gamma, lambda);
        Advantages.Normalize(adv, batch.Mask);
        return adv;
    }
}

/// <summary>Settings every training run has: the run's length, the policy network, the discount.</summary>
public sealed class CommonConfig
{
    [Key("num-batches", "iterations (policy or meta-updates) in the run", Min = 1)] public int NumBatches { get; set; } = 100;
    [Key("hidden-sizes", "hidden layer sizes of the policy MLP", Min = 1)] public int[] HiddenSizes { get; set; } = [64, 64];
    [Key("nonlinearity", "hidden activation (tanh or relu; any case, as pytorch-maml-rl writes Tanh)")] public Activation Nonlinearity { get; set; } = Activation.Tanh;
    [Key("init-std", "initial standard deviation of a Gaussian policy", Min = 0, MinExclusive = true)] public double InitStd { get; set; } = 1.0;
    [Key("gamma", "discount factor", Min = 0, Max = 1)] public double Gamma { get; set; } = 0.99;
    [Key("gae-lambda", "GAE lambda (1 = Monte-Carlo returns minus the baseline)", Min = 0, Max = 1)] public double GaeLambda { get; set; } = 1.0;
    [Key("checkpoint-every", "iterations between checkpoints", Min = 1)] public int CheckpointEvery { get; set; } = 10;
    [Key("keep-checkpoint-every", "iterations between checkpoints kept for good under checkpoints/ (iteration-N.bin), to evaluate the run as it was at each (metarl eval --iteration N); 0 keeps none", Min = 0)]
    public int KeepCheckpointEvery { get; set; }

    /// <summary>The keys that say when a run writes its state, not how it learns: runs that differ only in these are the same run.</summary>
    public static readonly IReadOnlySet<string> BookkeepingKeys = new HashSet<string> { "checkpoint-every", "keep-checkpoint-every" };
}

/// <summary>Settings of single-task runs: which task, how many episodes per update.</summary>
public sealed class SingleTaskConfig
{
    [Key("batch-size", "episodes collected per update", Min = 1)] public int BatchSize { get; set; } = 20;
    [Key("task-index", "which task of the training split a single-task run learns", Min = 0)] public int TaskIndex { get; set; }
}
