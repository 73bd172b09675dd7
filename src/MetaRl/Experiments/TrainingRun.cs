using MetaRl.Algorithms;
using MetaRl.Algorithms.Rl2;
using MetaRl.Algorithms.SingleTask;
using MetaRl.Envs.Mujoco;
using static TorchSharp.torch;

namespace MetaRl.Experiments;

/// <summary>What one training iteration did.</summary>
public sealed record IterationResult(int Iteration, long EnvSteps, double MeanReturn, double SuccessRate, int BatchSteps, IReadOnlyDictionary<string, double> Stats);

/// <summary>
/// A training run: the task distribution, a learner from the <see cref="LearnerRegistry"/> (single-task
/// VPG/PPO/TRPO on one task of the training split, or a meta-learner over the whole distribution), its config
/// and the run's one generator. The one factory for the CLI, resume, tests and library users: the same
/// defaults and checks whichever builds it, for a registered task family or any other.
/// </summary>
public sealed class TrainingRun : IDisposable
{
    const string Magic = "METARL-CHECKPOINT-2";

    /// <summary>A run of a registered algorithm on a registered task family (see <see cref="EnvRegistry"/>).</summary>
    public TrainingRun(string algorithm, string? env, IReadOnlyDictionary<string, string> values, int seed)
        : this(algorithm, ResolveEnv(env, values), WithoutEnvKeys(values), seed)
    {
    }

    /// <summary>A run on any task family, a user's own included; its name is the run directory's and the checkpoint's.</summary>
    public TrainingRun(string algorithm, ITaskDistribution distribution, IReadOnlyDictionary<string, string> values, int seed)
    {
        var spec = LearnerRegistry.Get(algorithm);
        Algorithm = algorithm;
        Distribution = distribution;
        Seed = seed;
        Configs = spec.NewConfigs();
        Config.Bind(WithReferenceSettings(algorithm, distribution.Name, WithPreset(spec, values)), Configs);

        TorchNative.EnsureLoaded();
        Rng = new Rng(seed);
        var context = new LearnerContext(distribution, Configs, Rng);
        Learner = spec.Build(context);
        Policy = context.Policy;
    }

    /// <summary>
    /// The family a run trains on: <paramref name="env"/> if given, else a config's <c>env-name</c> (a reference
    /// implementation's id, mapped with its <c>env-kwargs</c>), else 2D navigation. Both given must agree.
    /// </summary>
    static ITaskDistribution ResolveEnv(string? env, IReadOnlyDictionary<string, string> values)
    {
        string? fromConfig = values.TryGetValue(EnvNameKey, out var name)
            ? EnvRegistry.FromReference(name, values.Where(kv => kv.Key.StartsWith(EnvKwargsPrefix, StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key[EnvKwargsPrefix.Length..], kv => kv.Value))
            : null;
        if (env is not null && fromConfig is not null && env != fromConfig)
            throw new UsageException($"--env {env} and the config's env-name {name} ({fromConfig}) disagree: give one of them");
        return EnvRegistry.Create(env ?? fromConfig ?? DefaultEnv);
    }

    static ConfigValues WithoutEnvKeys(IReadOnlyDictionary<string, string> values)
    {
        var rest = new ConfigValues(values);
        foreach (var key in rest.Keys.Where(k => k == EnvNameKey || k.StartsWith(EnvKwargsPrefix, StringComparison.Ordinal)).ToList()) rest.Remove(key);
        return rest;
    }

    /// <summary>The values of a `preset` key's named set (see <see cref="LearnerSpec.Presets"/>) under the values given, which win.</summary>
    static IReadOnlyDictionary<string, string> WithPreset(LearnerSpec spec, IReadOnlyDictionary<string, string> values)
    {
        if (!values.TryGetValue(PresetKey, out var name)) return values;
        if (!spec.Presets.TryGetValue(name, out var preset))
            throw new ConfigException(PresetKey, spec.Presets.Count == 0
                ? $"{spec.Name} has no presets; got '{name}'"
                : $"preset must be one of {string.Join(", ", spec.Presets.Keys)} for {spec.Name}; got '{name}'");
        var result = new ConfigValues(preset, $"preset {name}");
        result.Merge(values);
        result.Remove(PresetKey);
        return result;
    }

    /// <summary>The reference implementation's settings for this learner on this family (<see cref="ReferenceSettings"/>) under the values given, which win.</summary>
    static IReadOnlyDictionary<string, string> WithReferenceSettings(string algorithm, string env, IReadOnlyDictionary<string, string> values)
    {
        if (ReferenceSettings.For(algorithm, env) is not { } reference) return values;
        var result = new ConfigValues(reference.Values, $"reference settings: {reference.Source}");
        result.Merge(values);
        return result;
    }

    public const string PresetKey = "preset";
    const string EnvNameKey = "env-name", EnvKwargsPrefix = "env-kwargs.";
    public const string DefaultEnv = "2d-navigation";

    public string Algorithm { get; }
    public int Seed { get; }
    public ITaskDistribution Distribution { get; }
    public CommonConfig Common => Get<CommonConfig>();
    /// <summary>Every config record of the run, in the order they are written to config.yaml.</summary>
    public object[] Configs { get; }
    public Rng Rng { get; }
    /// <summary>The MLP policy of every algorithm but RL2 (whose agent is its learner's).</summary>
    public Policy? Policy { get; }
    public ILearner Learner { get; }
    /// <summary>The one task of a single-task run; null for a meta-learner.</summary>
    public object? Task => (Learner as ISingleTaskLearner)?.Task;
    public int Iteration { get; private set; }
    public long EnvSteps { get; private set; }

    public T Get<T>() => Configs.OfType<T>().Single();

    /// <summary>The resolved config, as written to a run's config.yaml.</summary>
    public string ConfigYaml() =>
        $"algorithm: {Algorithm}\nenv: {Distribution.Name}\nseed: {Seed}\n" + Config.ToYaml(Configs);

    /// <summary>One iteration of the learner; a NaN or infinite parameter stops the run before anything is saved.</summary>
    public IterationResult RunIteration()
    {
        long unstableBefore = MujocoInstability.Episodes;
        var r = Learner.Iterate();
        var stats = r.Stats;
        if (Distribution is IMujocoTaskDistribution or Envs.Suites.TaskSuite { Family: IMujocoTaskDistribution }) // episodes the simulator ended early, in progress.csv
            stats = new Dictionary<string, double>(stats) { ["unstable_episodes"] = MujocoInstability.Episodes - unstableBefore };
        foreach (var p in Learner.Parameters.Values)
        {
            using var scope = NewDisposeScope();
            if (!p.isfinite().all().item<bool>())
                throw new NonFiniteException("a policy parameter became NaN or infinite");
        }
        Iteration++;
        EnvSteps += r.EnvSteps;
        return new IterationResult(Iteration, EnvSteps, r.MeanReturn, r.SuccessRate, r.EnvSteps, stats);
    }

    /// <summary>Frees the learner's envs.</summary>
    public void Dispose() => Learner.Dispose();

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
        using var sampler = new Sampler(Distribution);
        var batch = sampler.Sample(policy, tasks, episodesPerTask, new Rng(seed));
        return (batch.MeanReturn, batch.SuccessRate, batch.EpisodeReturns());
    }
}
