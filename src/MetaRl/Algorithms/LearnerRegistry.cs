using MetaRl.Algorithms.InContext;
using MetaRl.Algorithms.Maml;
using MetaRl.Algorithms.MultiTask;
using MetaRl.Envs.Suites;
using MetaRl.Algorithms.Pearl;
using MetaRl.Algorithms.VariBad;
using MetaRl.Algorithms.Rl2;
using MetaRl.Algorithms.SingleTask;

namespace MetaRl.Algorithms;

/// <summary>What a learner's builder gets: the task family, the learner's bound config records and the run's one generator.</summary>
public sealed class LearnerContext(ITaskDistribution distribution, IReadOnlyList<object> configs, Rng rng)
{
    public ITaskDistribution Distribution => distribution;
    public IReadOnlyList<object> Configs => configs;
    public Rng Rng => rng;
    public CommonConfig Common => Get<CommonConfig>();
    public T Get<T>() => configs.OfType<T>().Single();

    /// <summary>The MLP policy this context built (null until <see cref="MlpPolicy"/> is called, and for RL2's GRU agent).</summary>
    public Policy? Policy { get; private set; }

    /// <summary>An MLP policy for the family's spaces, shaped by the common keys; its initial weights come from the run's generator.</summary>
    public Policy MlpPolicy() =>
        Policy = PolicyFactory.ForSpaces(distribution.ObservationSpace, distribution.ActionSpace, Common.HiddenSizes, rng.Split(), Common.Nonlinearity, Common.InitStd);

    /// <summary>SAC's tanh-squashed Gaussian actor over the family's observations and <paramref name="extraInputs"/> more floats (PEARL's latent); box actions only.</summary>
    public TanhGaussianPolicy SquashedGaussianPolicy(string algorithm, int extraInputs = 0)
    {
        if (distribution.ActionSpace is not Box box)
            throw new UsageException($"{algorithm} needs continuous (box) actions; {distribution.Name} has {distribution.ActionSpace} " +
                "(for discrete actions: ppo, trpo or vpg on one task; maml, rl2 or varibad to meta-learn)");
        var policy = new TanhGaussianPolicy(distribution.ObservationSpace.FlatSize + extraInputs, box, Common.HiddenSizes, rng.Split(), Common.Nonlinearity);
        Policy = policy;
        return policy;
    }
}

/// <summary>
/// One trainable algorithm: its name (as on the command line), family, one-line description, its config records
/// with their defaults (in config.yaml's order; a learner's own defaults for the shared keys are set here, in
/// plain sight) and how to build it. <see cref="LearnerRegistry.Register"/> adds one of a user's own.
/// </summary>
public sealed record LearnerSpec(string Name, string Family, string Description, Func<object[]> NewConfigs, Func<LearnerContext, ILearner> Build)
{
    /// <summary>Named sets of config values (a paper's full scale, say), applied under the values a user gives: `--preset name`.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> Presets { get; init; } = new Dictionary<string, IReadOnlyDictionary<string, string>>();
}

/// <summary>The algorithms known by name to runs, configs and the CLI; open to the library user's own.</summary>
public static class LearnerRegistry
{
    static readonly List<LearnerSpec> Specs =
    [
        new("vpg", "single-task", "REINFORCE with the linear feature baseline, Adam (single task)",
            () => [new CommonConfig(), new SingleTaskConfig(), new VpgConfig()],
            c => SingleTask(c, p => new Vpg(p, c.Get<VpgConfig>(), c.Common))),
        new("ppo", "single-task", "PPO, clipped objective, GAE, value network, minibatch epochs (single task)",
            () => [new CommonConfig { GaeLambda = 0.95 }, new SingleTaskConfig(), new PpoConfig()],
            c => SingleTask(c, p => new Ppo(p, c.Get<PpoConfig>(), c.Common, c.Rng))),
        new("trpo", "single-task", "TRPO, conjugate gradient on KL Hessian-vector products, KL-bounded line search (single task)",
            () => [new CommonConfig(), new SingleTaskConfig(), new TrpoConfig()],
            c => SingleTask(c, p => new Trpo(p, c.Get<TrpoConfig>(), c.Common))),
        new("sac", "single-task", "Soft Actor-Critic: tanh-Gaussian actor, twin Q-functions with targets, tuned entropy temperature, replay (Haarnoja et al. 2018)",
            () => [new CommonConfig { HiddenSizes = [256, 256], Nonlinearity = Activation.Relu }, new SacConfig()],
            c => new Sac(new Sampler(c.Distribution), c.SquashedGaussianPolicy("sac"), TrainTask(c, c.Get<SacConfig>().TaskIndex), c.Get<SacConfig>(), c.Common, c.Rng)),
        new("maml", "gradient-based", "MAML-TRPO, second order: VPG inner step, TRPO meta-update through the adaptation (Finn et al. 2017)",
            () => [MetaCommon(), new MamlConfig(), new TrpoConfig()],
            c => new MamlTrpo(new Sampler(c.Distribution), c.MlpPolicy(), c.Get<MamlConfig>(), c.Get<TrpoConfig>(), c.Common, c.Rng)),
        new("fomaml", "gradient-based", "first-order MAML: MAML-TRPO with the inner gradient treated as a constant",
            () => [MetaCommon(), new MamlConfig { FirstOrder = true }, new TrpoConfig()],
            c => new MamlTrpo(new Sampler(c.Distribution), c.MlpPolicy(), c.Get<MamlConfig>(), c.Get<TrpoConfig>(), c.Common, c.Rng)),
        new("promp", "gradient-based", "ProMP (MAML-PPO): LVC inner step, clipped outer objective with a KL penalty on the pre-update policy (Rothfuss et al. 2018)",
            () => [MetaCommon(), new MamlConfig(), new ProMpConfig()],
            c => new ProMp(new Sampler(c.Distribution), c.MlpPolicy(), c.Get<MamlConfig>(), c.Get<ProMpConfig>(), c.Common, c.Rng)),
        new("reptile", "gradient-based", "Reptile for RL: k VPG steps per task, then theta += epsilon (phi - theta), batched over tasks (Nichol et al. 2018)",
            () => [MetaCommon(), new MamlConfig(), new ReptileConfig()],
            c => new Reptile(new Sampler(c.Distribution), c.MlpPolicy(), c.Get<MamlConfig>(), c.Get<ReptileConfig>(), c.Common, c.Rng)),
        new("rl2", "recurrent", "RL2: a GRU over (observation, previous action, reward, done) kept across a trial's episodes, trained by TRPO or PPO over whole trials (Duan et al. 2016)",
            // lambda 0.3 as in the RL2 paper's experiments (rllab's GAE over whole trials)
            () => [new CommonConfig { GaeLambda = 0.3, NumBatches = 500 }, new Rl2Config(), new TrpoConfig()],
            c => new Rl2.Rl2(new TrialSampler(c.Distribution), c.Get<Rl2Config>(), c.Get<TrpoConfig>(), c.Common, c.Rng))
        {
            Presets = new Dictionary<string, IReadOnlyDictionary<string, string>> { ["paper"] = Rl2Config.PaperPreset },
        },
        new("icl", "in-context", "in-context learner: a causal transformer over the trial's (observation, previous action, reward, done), trained by PPO over whole trials as RL2; adapts by attending to its experience",
            // RL2's lambda over whole trials
            () => [new CommonConfig { GaeLambda = 0.3, NumBatches = 500 }, new IclConfig()],
            c => new InContextLearner(c.Distribution, c.Get<IclConfig>(), c.Common, c.Rng)),
        new("pearl", "probabilistic", "PEARL: off-policy SAC on (s, z), z from a product-of-Gaussians posterior over context, posterior sampling at test time (Rakelly et al. 2019)",
            // oyster's networks: 3 x 300 ReLU for the actor and critics, 500 iterations
            () => [new CommonConfig { HiddenSizes = [300, 300, 300], Nonlinearity = Activation.Relu, NumBatches = 500 }, new PearlConfig()],
            c => new Pearl.Pearl(c.Distribution, c.SquashedGaussianPolicy("pearl", c.Get<PearlConfig>().LatentSize), c.Get<PearlConfig>(), c.Common, c.Rng))
        {
            Presets = new Dictionary<string, IReadOnlyDictionary<string, string>> { ["reduced"] = PearlConfig.ReducedPreset },
        },
        new("varibad", "probabilistic", "variBAD: a GRU belief q(m | trajectory) trained as a VAE (reward decoder, ELBO over past and future) and a PPO policy on state and belief (Zintgraf et al. 2020)",
            // the official grid-world discount and GAE (policy_gamma 0.95, policy_tau 0.95); a checkpoint every 100 updates
            // (about 10 s on the grid world): one holds the VAE's buffer of trials (120 MB once full), and every 10 updates
            // wrote 250 GB over the official 20,834
            () => [new CommonConfig { Gamma = 0.95, GaeLambda = 0.95, NumBatches = 2000, CheckpointEvery = 100 }, new VariBadConfig()],
            c => new VariBad.VariBad(c.Distribution, c.Get<VariBadConfig>(), c.Common, c.Rng))
        {
            // The official 2e7 frames at 16 trials of 4 x 15 steps per update; "mujoco": the official cheetah-vel config
            // (config/mujoco/args_cheetah_vel_varibad.py, ../shared/reference/pearl-varibad-numbers.md), 1e8 frames at 16
            // trials of 2 x 200 steps per update, the ELBO subsampled to 50 prefixes x 50 decoded rewards. "official-2020": the
            // official grid-world config as it was on 2020-09-28 (a36d251, the year of the paper; today's is ff26cd4 of
            // 2021-06-08): 1e8 frames, entropy 0.1, KL weight 1, state embedding 32, Adam eps 1e-5.
            Presets = new Dictionary<string, IReadOnlyDictionary<string, string>>
            {
                ["paper"] = new Dictionary<string, string> { ["num-batches"] = "20834" },
                ["official-2020"] = new Dictionary<string, string>
                {
                    ["num-batches"] = "104167", ["policy-entropy-coef"] = "0.1", ["kl-weight"] = "1", ["state-embedding-size"] = "32", ["policy-eps"] = "1e-5",
                },
                ["mujoco"] = new Dictionary<string, string>(VariBadConfig.OfficialCheetahVel) { ["num-batches"] = "15625" },
            },
        },
        new("mt-ppo", "multi-task", "multi-task PPO: one task-conditioned policy on every task of a suite, with PCGrad or GradNorm for the shared weights and the tasks' gradient conflict logged",
            () => [new CommonConfig { GaeLambda = 0.95, NumBatches = 200 }, new MultiTaskConfig(), new PpoConfig(), new MtPpoConfig()],
            c => new MtPpo(Suite(c, "mt-ppo"), c.Get<MultiTaskConfig>(), c.Get<PpoConfig>(), c.Common, c.Rng, c.Get<MtPpoConfig>())),
        new("mt-sac", "multi-task", "multi-task SAC: a task-conditioned tanh-Gaussian actor and twin Q-functions on every task of a suite, one replay buffer and temperature per task, PCGrad optional",
            () => [new CommonConfig { HiddenSizes = [256, 256], Nonlinearity = Activation.Relu, NumBatches = 200 }, new MultiTaskConfig { EpisodesPerTask = 1 }, new SacConfig()],
            c => new MtSac(Suite(c, "mt-sac"), c.Get<MultiTaskConfig>(), c.Get<SacConfig>(), c.Common, c.Rng)),
        new("pretrain", "baseline", "MAML's pretrained baseline: TRPO on episodes pooled over tasks, fine-tuned at test time by MAML's inner steps",
            () => [MetaCommon(), new MamlConfig(), new TrpoConfig()],
            c => new JointPretraining(new Sampler(c.Distribution), c.MlpPolicy(), c.Get<MamlConfig>(), c.Get<TrpoConfig>(), c.Common, c.Rng)),
    ];

    public static IReadOnlyList<LearnerSpec> All => Specs;
    public static IReadOnlyList<string> Names => Specs.Select(s => s.Name).ToList();

    public static LearnerSpec Get(string name) => Specs.Find(s => s.Name == name)
        ?? throw new UsageException($"unknown algorithm '{name}'; valid algorithms: {string.Join(", ", Names)}");

    /// <summary>Adds a learner of the user's own; runs, resume, eval and plots then take its name like a built-in's.</summary>
    public static void Register(LearnerSpec spec)
    {
        if (Specs.Exists(s => s.Name == spec.Name)) throw new ArgumentException($"an algorithm named '{spec.Name}' is already registered", nameof(spec));
        Specs.Add(spec);
    }

    /// <summary>Meta-learners train 500 meta-iterations by default, pytorch-maml-rl's num-batches.</summary>
    static CommonConfig MetaCommon() => new() { NumBatches = 500 };

    static SingleTaskLearner SingleTask(LearnerContext c, Func<Policy, PolicyOptimizer> optimizer)
    {
        var policy = c.MlpPolicy();
        var single = c.Get<SingleTaskConfig>();
        return new SingleTaskLearner(optimizer(policy), new Sampler(c.Distribution), TrainTask(c, single.TaskIndex), single.BatchSize, c.Rng);
    }

    /// <summary>The run's family as a multi-task suite (a multi-task learner trains on nothing else).</summary>
    static TaskSuite Suite(LearnerContext c, string algorithm) => c.Distribution as TaskSuite
        ?? throw new UsageException($"{algorithm} trains on a multi-task suite ({string.Join(", ", SuiteRegistry.Names)}; 'metarl list suites'); {c.Distribution.Name} is a task distribution");

    /// <summary>Task <paramref name="index"/> of the training split (config key task-index).</summary>
    static object TrainTask(LearnerContext c, int index)
    {
        var train = c.Distribution.Splits().Train;
        if (index >= train.Count)
            throw new ConfigException("task-index", $"config key 'task-index' must be < {train.Count} (the training split's size); got {index}");
        return train[index];
    }
}
