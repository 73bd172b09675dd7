using System.Globalization;
using MetaRl.Algorithms.SingleTask;

namespace MetaRl.Algorithms.Rl2;

public enum Rl2Optimizer { Trpo, Ppo }
public enum Rl2ValueNetwork { Shared, Separate }
public enum RewardSignal { Sampled, Mean }

public sealed class Rl2Config : ITrialPpoConfig
{
    [Key("episodes-per-trial", "n: episodes per trial (one task); the hidden state is kept across them", Min = 1)] public int EpisodesPerTrial { get; set; } = 10;
    [Key("batch-size", "environment steps per policy update, rounded up to whole trials (the paper: about 250,000, preset paper; the default suits a first run on a laptop)", Min = 1)] public int BatchSize { get; set; } = 20_000;
    [Key("hidden-size", "GRU hidden units (the paper: 256, preset paper)", Min = 1)] public int HiddenSize { get; set; } = 128;
    [Key("gru-cell", "standard: PyTorch's GRU; layer-norm: pytorch_rl2's cell (layer-normalised projections, ReLU candidate, update gate biased to keep the state)")] public GruCell GruCell { get; set; } = GruCell.Standard;
    [Key("optimizer", "outer RL algorithm over whole trials: trpo (the paper's) or ppo")] public Rl2Optimizer Optimizer { get; set; } = Rl2Optimizer.Trpo;
    [Key("lr", "ppo: Adam learning rate of the GRU and both heads", Min = 0, MinExclusive = true)] public double Lr { get; set; } = 1e-3;
    [Key("epochs", "ppo: passes over each batch", Min = 1)] public int Epochs { get; set; } = 4;
    [Key("minibatches", "ppo: minibatches of trials per epoch", Min = 1)] public int Minibatches { get; set; } = 4;
    [Key("clip", "ppo: clipping range of the probability ratio", Min = 0, MinExclusive = true)] public double Clip { get; set; } = 0.2;
    [Key("ent-coef", "ppo: entropy bonus coefficient", Min = 0)] public double EntCoef { get; set; } = 0.01;
    [Key("uniform-coef", "ppo, discrete actions: weight of KL(uniform || pi), a pull towards uniform that, unlike the entropy bonus, does not vanish for an action whose probability is already near zero (keeps a bandit agent from dropping arms for good); 0: off, the paper's objective", Min = 0)] public double UniformCoef { get; set; }
    [Key("task-coef", "ppo: weight of a task-inference loss (privileged information in meta-training, Humplik et al. 2019): a linear head on the policy's hidden state predicts the task's parameters (a bandit's arm probabilities, an MDP's mean rewards), standardised by the prior, at every step (squared error); the agent never sees them. Needs a task family that describes its tasks (bandits, tabular MDPs); 0: off, the paper's objective", Min = 0)] public double TaskCoef { get; set; }
    [Key("vf-coef", "ppo: weight of the value loss (on the shared GRU or the value GRU)", Min = 0)] public double VfCoef { get; set; } = 0.5;
    [Key("max-grad-norm", "ppo: gradient norm clipping", Min = 0, MinExclusive = true)] public double MaxGradNorm { get; set; } = 1.0;
    [Key("anneal-lr", "ppo: decay the learning rate linearly to 0 by the end of num-batches")] public bool AnnealLr { get; set; }
    [Key("anneal-from", "ppo with anneal-lr: the update at which the decay starts; the learning rate is held before it (0: decay over the whole run)", Min = 0)] public int AnnealFrom { get; set; }
    [Key("restart-at", "ppo with anneal-lr: a warm restart (Loshchilov & Hutter 2017): the first decay reaches 0 at this update, where the rate jumps to restart-lr and decays linearly to 0 again at num-batches (0: no restart)", Min = 0)] public int RestartAt { get; set; }
    [Key("restart-lr", "ppo with restart-at: the learning rate the restart jumps to", Min = 0)] public double RestartLr { get; set; }
    [Key("value-network", "shared: the value head reads the policy's GRU; separate: a second GRU of the same size feeds it (as rllab's recurrent baseline)")] public Rl2ValueNetwork ValueNetwork { get; set; } = Rl2ValueNetwork.Shared;
    [Key("reward-signal", "the reward advantages are computed from: sampled (the paper's), or mean: E[r | task, state, action], which the task distribution knows during meta-training; the same expected return with less variance. The agent's input is the sampled reward either way")] public RewardSignal RewardSignal { get; set; } = RewardSignal.Sampled;
    public bool MeanRewards => RewardSignal == RewardSignal.Mean;
    [Key("fused-gru", "ppo with gru-cell layer-norm: run PPO's passes through the fused recurrence (the same gradients, about twice as fast: docs/algorithms/rl2.md); false: autograd's op-by-op recurrence")] public bool FusedGru { get; set; } = true;
    [Key("chunk-steps", "the most steps one forward/backward pass holds: TRPO's gradient, products, line search and value fit and PPO's minibatches run in chunks of whole trials of at most this many steps (at least one trial), so memory stays bounded whatever batch-size is", Min = 1)] public int ChunkSteps { get; set; } = 20_000;
    [Key("vf-lr", "trpo: Adam learning rate of the value head (fitted on the GRU's hidden states)", Min = 0, MinExclusive = true)] public double VfLr { get; set; } = 1e-2;
    [Key("vf-iters", "trpo: Adam steps of the value head per update", Min = 1)] public int VfIters { get; set; } = 20;

    /// <summary>Refuses settings that cannot run on this task family (before anything is built or written), naming the key.</summary>
    public void Check(ITaskDistribution tasks, CommonConfig common)
    {
        TrialLearning.CheckKeys("rl2's policy is a GRU: set hidden-size (its units) instead", "rl2's GRU has its own (gru-cell: standard or layer-norm)",
            tasks, common, TaskCoef, UniformCoef);
        if (TaskCoef > 0 && Optimizer != Rl2Optimizer.Ppo)
            throw new ConfigException("task-coef", "task-coef is a term of the PPO loss; it needs optimizer=ppo");
        if (UniformCoef > 0 && Optimizer != Rl2Optimizer.Ppo)
            throw new ConfigException("uniform-coef", "uniform-coef is a term of the PPO loss; it needs optimizer=ppo");
        CheckSchedule(common.NumBatches);
    }

    /// <summary>
    /// Refuses an anneal-from or restart-at without anneal-lr, or one a run of <paramref name="numBatches"/> updates
    /// never reaches, or a restart that is not after the first decay's start (before anything is trained or written).
    /// </summary>
    public void CheckSchedule(int numBatches)
    {
        if (AnnealFrom > 0 && !AnnealLr)
            throw new ConfigException("anneal-from", $"anneal-from ({AnnealFrom}) is where anneal-lr's decay starts; set anneal-lr=true, or leave anneal-from at 0");
        if (AnnealFrom > 0 && AnnealFrom >= FirstDecayEnd(numBatches))
            throw new ConfigException("anneal-from", RestartAt > 0
                ? $"anneal-from must be below restart-at ({RestartAt}), the update by which the first decay reaches 0; got {AnnealFrom}"
                : $"anneal-from must be below num-batches ({numBatches}), the update by which the learning rate reaches 0; got {AnnealFrom}");
        if (RestartAt == 0)
        {
            if (RestartLr > 0)
                throw new ConfigException("restart-lr", $"restart-lr ({RestartLr.ToString(CultureInfo.InvariantCulture)}) is the rate of a warm restart; set restart-at too, or leave restart-lr at 0");
            return;
        }
        if (!AnnealLr)
            throw new ConfigException("restart-at", $"restart-at ({RestartAt}) restarts anneal-lr's decay; set anneal-lr=true, or leave restart-at at 0");
        if (RestartAt >= numBatches)
            throw new ConfigException("restart-at", $"restart-at must be below num-batches ({numBatches}), the update by which the restarted rate reaches 0; got {RestartAt}");
        if (RestartLr <= 0)
            throw new ConfigException("restart-at", $"restart-at ({RestartAt}) needs restart-lr > 0, the rate the restart jumps to; got {RestartLr.ToString(CultureInfo.InvariantCulture)}");
    }

    /// <summary>Trials per chunk of a pass over trials of <paramref name="trialLength"/> steps: as many as chunk-steps holds, at least one.</summary>
    public static int TrialsPerChunk(int chunkSteps, int trialLength) => Math.Max(1, chunkSteps / Math.Max(1, trialLength));

    /// <summary>The settings of the paper's experiments (Duan et al. 2016, Section 4: TRPO, about 250,000 steps per update, 256 GRU units): `--preset paper`.</summary>
    public static IReadOnlyDictionary<string, string> PaperPreset { get; } = new Dictionary<string, string>
    {
        ["optimizer"] = "trpo", ["batch-size"] = "250000", ["hidden-size"] = "256",
    };

    /// <summary>The update by which the first decay reaches 0: restart-at, or the run's end without a restart.</summary>
    public int FirstDecayEnd(int numBatches) => RestartAt > 0 ? RestartAt : numBatches;
}
