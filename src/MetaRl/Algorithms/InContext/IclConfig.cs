using MetaRl.Algorithms.Rl2;
using MetaRl.Algorithms.SingleTask;

namespace MetaRl.Algorithms.InContext;

public sealed class IclConfig : ITrialPpoConfig
{
    [Key("episodes-per-trial", "n: episodes per trial (one task); the transformer attends across them", Min = 1)] public int EpisodesPerTrial { get; set; } = 10;
    [Key("batch-size", "environment steps per policy update, rounded up to whole trials", Min = 1)] public int BatchSize { get; set; } = 20_000;
    [Key("model-size", "the transformer's width d (features per token)", Min = 1)] public int ModelSize { get; set; } = 64;
    [Key("layers", "transformer blocks (causal self-attention and an MLP of 4d each)", Min = 1)] public int Layers { get; set; } = 2;
    [Key("heads", "attention heads per block (model-size must be a multiple)", Min = 1)] public int Heads { get; set; } = 4;
    [Key("context-episodes", "past episodes each step attends to besides its own: the context length of the study (metarl reproduce icl-context); -1: every episode of the trial", Min = -1)] public int ContextEpisodes { get; set; } = -1;
    [Key("attention-sink", "give every attention a learned key and value of its own beside the tokens', so that a head can count what it attends to (softmax over the tokens alone averages them)")] public bool AttentionSink { get; set; }
    [Key("value-network", "shared: the value head reads the policy's transformer; separate: a second transformer of the same size feeds it (as RL2's value GRU)")] public Rl2ValueNetwork ValueNetwork { get; set; } = Rl2ValueNetwork.Shared;
    [Key("lr", "Adam learning rate of the transformers and heads", Min = 0, MinExclusive = true)] public double Lr { get; set; } = 3e-4;
    [Key("anneal-lr", "decay the learning rate linearly to 0 by the end of num-batches")] public bool AnnealLr { get; set; }
    [Key("epochs", "passes over each batch", Min = 1)] public int Epochs { get; set; } = 4;
    [Key("minibatches", "minibatches of trials per epoch", Min = 1)] public int Minibatches { get; set; } = 4;
    [Key("clip", "clipping range of the probability ratio", Min = 0, MinExclusive = true)] public double Clip { get; set; } = 0.2;
    [Key("ent-coef", "entropy bonus coefficient", Min = 0)] public double EntCoef { get; set; } = 0.01;
    [Key("uniform-coef", "discrete actions: weight of KL(uniform || pi), as rl2's (0: off)", Min = 0)] public double UniformCoef { get; set; }
    [Key("task-coef", "weight of a task-inference loss, as rl2's: a linear head on the features predicts the task's parameters (privileged information in meta-training; bandit-k*, tabular-mdp); 0: off", Min = 0)] public double TaskCoef { get; set; }
    [Key("vf-coef", "weight of the value loss", Min = 0)] public double VfCoef { get; set; } = 0.5;
    [Key("max-grad-norm", "gradient norm clipping", Min = 0, MinExclusive = true)] public double MaxGradNorm { get; set; } = 1.0;
    [Key("reward-signal", "the reward advantages are computed from: sampled, or mean (E[r | task, state, action], where the family knows it), as rl2's")] public RewardSignal RewardSignal { get; set; } = RewardSignal.Sampled;
    public bool MeanRewards => RewardSignal == RewardSignal.Mean;
    [Key("chunk-steps", "the most steps one forward/backward pass holds: minibatches run in chunks of whole trials, so memory stays bounded (attention holds trial-length squared scores per trial and head)", Min = 1)] public int ChunkSteps { get; set; } = 20_000;

    /// <summary>Refuses settings that cannot run on this family (before anything is built or written), naming the key.</summary>
    public void Check(ITaskDistribution tasks, CommonConfig common)
    {
        TrialLearning.CheckKeys("icl's policy is a transformer: set model-size, layers and heads instead", "icl's transformer uses GELU in its blocks",
            tasks, common, TaskCoef, UniformCoef);
        if (ModelSize % Heads != 0)
            throw new ConfigException("heads", $"model-size ({ModelSize}) must be a multiple of heads ({Heads})");
    }
}
