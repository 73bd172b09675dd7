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
/// A single-task training run: the task distribution, one task of its training split, a policy, an
/// optimizer (VPG, PPO or TRPO) and the run's one generator. Built from names and config values, so the
/// CLI, resume and tests construct it the same way.
/// </summary>
public sealed class TrainingRun
{
    public static readonly IReadOnlyDictionary<string, string> Algorithms = new Dictionary<string, string>
    {
        ["vpg"] = "REINFORCE with the linear feature baseline, Adam (single task)",
        ["ppo"] = "PPO, clipped objective, GAE, value network, minibatch epochs (single task)",
        ["trpo"] = "TRPO, conjugate gradient on KL Hessian-vector products, KL-bounded line search (single task)",
    };

    const string Magic = "METARL-CHECKPOINT-1";

    public TrainingRun(string algorithm, string env, IReadOnlyDictionary<string, string> values, int seed)
    {
        if (!Algorithms.ContainsKey(algorithm))
            throw new UsageException($"unknown algorithm '{algorithm}'; valid algorithms: {string.Join(", ", Algorithms.Keys)}");
        Algorithm = algorithm;
        Distribution = EnvRegistry.Create(env);
        Seed = seed;
        AlgorithmConfig = algorithm switch { "vpg" => new VpgConfig(), "ppo" => new PpoConfig(), _ => new TrpoConfig() };
        Config.Bind(values, Common, AlgorithmConfig);
        var train = Distribution.Splits().Train;
        if (Common.TaskIndex >= train.Count)
            throw new UsageException($"config key 'task-index' must be < {train.Count} (the training split's size); got {Common.TaskIndex}");
        Task = train[Common.TaskIndex];

        TorchNative.EnsureLoaded();
        Rng = new Rng(seed);
        Policy = PolicyFactory.ForSpaces(Distribution.ObservationSpace, Distribution.ActionSpace, Common.HiddenSizes, Rng.Split(), Common.Activation, Common.InitStd);
        Optimizer = AlgorithmConfig switch
        {
            VpgConfig c => new Vpg(Policy, c, Common),
            PpoConfig c => new Ppo(Policy, c, Common, Rng),
            TrpoConfig c => (PolicyOptimizer)new Trpo(Policy, c, Common),
            _ => throw new InvalidOperationException(),
        };
        Sampler = new Sampler(Distribution);
    }

    public string Algorithm { get; }
    public int Seed { get; }
    public ITaskDistribution Distribution { get; }
    public CommonConfig Common { get; } = new();
    public object AlgorithmConfig { get; }
    public object Task { get; }
    public Rng Rng { get; }
    public Policy Policy { get; }
    public PolicyOptimizer Optimizer { get; }
    public Sampler Sampler { get; }
    public int Iteration { get; private set; }
    public long EnvSteps { get; private set; }

    /// <summary>The resolved config, as written to a run's config.yaml.</summary>
    public string ConfigYaml() =>
        $"algorithm: {Algorithm}\nenv: {Distribution.Name}\nseed: {Seed}\n" + Config.ToYaml(Common, AlgorithmConfig);

    /// <summary>Collect a batch on the task, update the policy.</summary>
    public IterationResult RunIteration()
    {
        var batch = Sampler.Sample(Policy, [Task], Common.BatchSize, Rng);
        var stats = Optimizer.Update(batch);
        foreach (var p in Policy.Parameters.Values)
        {
            using var scope = NewDisposeScope();
            if (!p.isfinite().all().item<bool>())
                throw new NonFiniteException("a policy parameter became NaN or infinite");
        }
        Iteration++;
        EnvSteps += batch.Steps;
        return new IterationResult(Iteration, EnvSteps, batch.MeanReturn, batch.SuccessRate, batch.Steps, stats);
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
            Optimizer.SaveState(w);
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
        Optimizer.LoadState(r);
    }

    /// <summary>Mean undiscounted return (and success rate) of the current policy on the given tasks.</summary>
    public (double MeanReturn, double SuccessRate, double[] Returns) Evaluate(IReadOnlyList<object> tasks, int episodesPerTask, int seed)
    {
        var batch = new Sampler(Distribution).Sample(Policy, tasks, episodesPerTask, new Rng(seed));
        return (batch.MeanReturn, batch.SuccessRate, batch.EpisodeReturns());
    }
}
