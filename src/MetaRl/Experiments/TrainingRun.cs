using MetaRl.Algorithms;
using MetaRl.Algorithms.Maml;
using MetaRl.Algorithms.Rl2;
using MetaRl.Algorithms.SingleTask;
using MetaRl.Envs;
using MetaRl.Policies;
using MetaRl.Sampling;
using MetaRl.Torch;
using static TorchSharp.torch;

namespace MetaRl.Experiments;

/// <summary>What one training iteration did.</summary>
public sealed record IterationResult(int Iteration, long EnvSteps, double MeanReturn, double SuccessRate, int BatchSteps, IReadOnlyDictionary<string, double> Stats);

/// <summary>
/// A training run: the task distribution, a learner (single-task VPG/PPO/TRPO on one task of the training
/// split, or a meta-learner over the whole distribution), its config and the run's one generator. Built
/// from names and config values, so the CLI, resume and tests construct it the same way.
/// </summary>
public sealed class TrainingRun
{
    public static readonly IReadOnlyDictionary<string, string> Algorithms = new Dictionary<string, string>
    {
        ["vpg"] = "REINFORCE with the linear feature baseline, Adam (single task)",
        ["ppo"] = "PPO, clipped objective, GAE, value network, minibatch epochs (single task)",
        ["trpo"] = "TRPO, conjugate gradient on KL Hessian-vector products, KL-bounded line search (single task)",
        ["maml"] = "MAML-TRPO, second order: VPG inner step, TRPO meta-update through the adaptation (Finn et al. 2017)",
        ["fomaml"] = "first-order MAML: MAML-TRPO with the inner gradient treated as a constant",
        ["promp"] = "ProMP (MAML-PPO): LVC inner step, clipped outer objective with a KL penalty on the pre-update policy (Rothfuss et al. 2018)",
        ["reptile"] = "Reptile for RL: k VPG steps per task, then theta += epsilon (phi - theta), batched over tasks (Nichol et al. 2018)",
        ["rl2"] = "RL2: a GRU over (observation, previous action, reward, done) kept across a trial's episodes, trained by TRPO or PPO over whole trials (Duan et al. 2016)",
        ["pretrain"] = "MAML's pretrained baseline: TRPO on episodes pooled over tasks, fine-tuned at test time by MAML's inner steps",
    };

    const string Magic = "METARL-CHECKPOINT-2";

    public TrainingRun(string algorithm, string env, IReadOnlyDictionary<string, string> values, int seed)
    {
        if (!Algorithms.ContainsKey(algorithm))
            throw new UsageException($"unknown algorithm '{algorithm}'; valid algorithms: {string.Join(", ", Algorithms.Keys)}");
        Algorithm = algorithm;
        Distribution = EnvRegistry.Create(env);
        Seed = seed;
        if (algorithm == "ppo") Common.GaeLambda = 0.95;
        if (algorithm is "maml" or "fomaml" or "promp" or "reptile" or "pretrain") Common.NumBatches = 500;
        if (algorithm == "rl2") { Common.GaeLambda = 0.3; Common.NumBatches = 500; }
        Configs = algorithm switch
        {
            "vpg" => [Common, new SingleTaskConfig(), new VpgConfig()],
            "ppo" => [Common, new SingleTaskConfig(), new PpoConfig()],
            "trpo" => [Common, new SingleTaskConfig(), new TrpoConfig()],
            "promp" => [Common, new MamlConfig(), new ProMpConfig()],
            "reptile" => [Common, new MamlConfig(), new ReptileConfig()],
            "rl2" => [Common, new Rl2Config(), new TrpoConfig()],
            _ => [Common, new MamlConfig { FirstOrder = algorithm == "fomaml" }, new TrpoConfig()],
        };
        Config.Bind(values, Configs);

        TorchNative.EnsureLoaded();
        Rng = new Rng(seed);
        if (algorithm == "rl2")
        {
            Learner = new Rl2(Distribution, Get<Rl2Config>(), Get<TrpoConfig>(), Common, Rng);
            return;
        }
        var policy = PolicyFactory.ForSpaces(Distribution.ObservationSpace, Distribution.ActionSpace, Common.HiddenSizes, Rng.Split(), Common.Activation, Common.InitStd);
        Policy = policy;
        Learner = Configs[1] switch
        {
            SingleTaskConfig single => SingleTask(single, policy),
            MamlConfig maml when algorithm == "promp" => new ProMp(Distribution, policy, maml, Get<ProMpConfig>(), Common, Rng),
            MamlConfig maml when algorithm == "reptile" => new Reptile(Distribution, policy, maml, Get<ReptileConfig>(), Common, Rng),
            MamlConfig maml when algorithm == "pretrain" => new JointPretraining(Distribution, policy, maml, Get<TrpoConfig>(), Common, Rng),
            MamlConfig maml => new MamlTrpo(Distribution, policy, maml, Get<TrpoConfig>(), Common, Rng),
            _ => throw new InvalidOperationException(),
        };
    }

    ILearner SingleTask(SingleTaskConfig single, Policy policy)
    {
        var train = Distribution.Splits().Train;
        if (single.TaskIndex >= train.Count)
            throw new UsageException($"config key 'task-index' must be < {train.Count} (the training split's size); got {single.TaskIndex}");
        PolicyOptimizer optimizer = Configs[2] switch
        {
            VpgConfig c => new Vpg(policy, c, Common),
            PpoConfig c => new Ppo(policy, c, Common, Rng),
            TrpoConfig c => new Trpo(policy, c, Common),
            _ => throw new InvalidOperationException(),
        };
        return new SingleTaskLearner(optimizer, new Sampler(Distribution), train[single.TaskIndex], single.BatchSize, Rng);
    }

    public string Algorithm { get; }
    public int Seed { get; }
    public ITaskDistribution Distribution { get; }
    public CommonConfig Common { get; } = new();
    /// <summary>Every config record of the run, in the order they are written to config.yaml.</summary>
    public object[] Configs { get; }
    public Rng Rng { get; }
    /// <summary>The MLP policy of every algorithm but RL2 (whose agent is its learner's).</summary>
    public Policy? Policy { get; }
    public ILearner Learner { get; }
    /// <summary>The one task of a single-task run; null for a meta-learner.</summary>
    public object? Task => (Learner as SingleTaskLearner)?.Task;
    public int Iteration { get; private set; }
    public long EnvSteps { get; private set; }

    public T Get<T>() => Configs.OfType<T>().Single();

    /// <summary>The resolved config, as written to a run's config.yaml.</summary>
    public string ConfigYaml() =>
        $"algorithm: {Algorithm}\nenv: {Distribution.Name}\nseed: {Seed}\n" + Config.ToYaml(Configs);

    /// <summary>One iteration of the learner; a NaN or infinite parameter stops the run before anything is saved.</summary>
    public IterationResult RunIteration()
    {
        LearnerIteration r;
        using (NativeCallGuard.Enter())
        using (Denormals.Flush()) // subnormal gradients of long backpropagation through time are 40-300 times slower
            r = Learner.Iterate();
        foreach (var p in Learner.Parameters.Values)
        {
            using var scope = NewDisposeScope();
            if (!p.isfinite().all().item<bool>())
                throw new NonFiniteException("a policy parameter became NaN or infinite");
        }
        Iteration++;
        EnvSteps += r.EnvSteps;
        return new IterationResult(Iteration, EnvSteps, r.MeanReturn, r.SuccessRate, r.EnvSteps, r.Stats);
    }

    /// <summary>Writes the whole training state to a temporary file, then renames it into place.</summary>
    public void SaveCheckpoint(string path)
    {
        string tmp = path + $".tmp-{Environment.ProcessId}";
        using (var w = new BinaryWriter(File.Create(tmp)))
        {
            w.Write(Magic); w.Write(Algorithm); w.Write(Distribution.Name);
            w.Write(Iteration); w.Write(EnvSteps);
            var s = Rng.State;
            w.Write(s.S0); w.Write(s.S1); w.Write(s.S2); w.Write(s.S3);
            w.Write(s.SpareNormal.HasValue); w.Write(s.SpareNormal ?? 0);
            Learner.SaveState(w);
        }
        File.Move(tmp, path, overwrite: true);
    }

    public void LoadCheckpoint(string path)
    {
        if (!File.Exists(path)) throw new UsageException($"no checkpoint at '{path}'");
        using var r = new BinaryReader(File.OpenRead(path));
        if (r.ReadString() != Magic) throw new UsageException($"'{path}' is not a MetaRl checkpoint");
        string algorithm = r.ReadString(), env = r.ReadString();
        if (algorithm != Algorithm || env != Distribution.Name)
            throw new UsageException($"checkpoint '{path}' is of {algorithm} on {env}, not {Algorithm} on {Distribution.Name}");
        Iteration = r.ReadInt32(); EnvSteps = r.ReadInt64();
        ulong s0 = r.ReadUInt64(), s1 = r.ReadUInt64(), s2 = r.ReadUInt64(), s3 = r.ReadUInt64();
        bool hasSpare = r.ReadBoolean(); double spare = r.ReadDouble();
        Rng.Restore(new RngState(s0, s1, s2, s3, hasSpare ? spare : null));
        Learner.LoadState(r);
    }

    /// <summary>Mean undiscounted return (and success rate) of the current policy, without adaptation, on the given tasks.</summary>
    public (double MeanReturn, double SuccessRate, double[] Returns) Evaluate(IReadOnlyList<object> tasks, int episodesPerTask, int seed)
    {
        var policy = Policy ?? throw new InvalidOperationException($"{Algorithm} has no MLP policy to evaluate directly");
        var batch = new Sampler(Distribution).Sample(policy, tasks, episodesPerTask, new Rng(seed));
        return (batch.MeanReturn, batch.SuccessRate, batch.EpisodeReturns());
    }
}
