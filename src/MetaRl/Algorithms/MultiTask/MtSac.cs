using MetaRl.Algorithms.SingleTask;
using MetaRl.Envs.Suites;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.MultiTask;

/// <summary>
/// Multi-task SAC (Meta-World's MT-SAC; Yu et al. 2020 for PCGrad on it): SAC's tanh-Gaussian actor and twin
/// Q-functions, conditioned on the task as <see cref="MultiTaskConfig.Conditioning"/> says, one replay buffer and one
/// entropy temperature per task. Each iteration collects episodes of every task (task sampling sets how many), then
/// takes one gradient step per env step collected (updates-per-step), each on batch-size transitions of every task,
/// laid out [T, B] so the networks run every task's rows in one batched pass:
/// <code>
///   y_t      = r + gamma (1 - d) (min_k Q_target_k(s', a', t) - alpha_t log pi(a' | s', t)),  a' ~ pi(. | s', t)
///   J_Q      = sum_t c_t 1/2 sum_k E_t[(Q_k(s, a, t) - y_t)^2]
///   J_pi     = sum_t c_t E_t[alpha_t log pi(a~ | s, t) - min_k Q_k(s, a~, t)]
///   J_alpha  = sum_t E_t[-log alpha_t (log pi(a~ | s, t) + target entropy)]
/// </code>
/// with c_t the task's weight (its task-weights entry, times its task-sampling weight, over the task count: every
/// minibatch holds batch-size rows of every task, and task sampling weighs them, the same in expectation as drawing
/// rows in those proportions; collection follows each task's data share). With
/// gradient: pcgrad the actor's and the critics' shared weights each step along the sum of PCGrad's projected
/// per-task gradients, as in the PCGrad paper's MT-SAC.
/// </summary>
public sealed class MtSac : OffPolicyLearner, IMultiTaskLearner
{
    readonly TaskSuite _suite;
    readonly MultiTaskConfig _config;
    readonly SacConfig _sac;
    readonly CommonConfig _common;
    readonly Rng _rng;
    readonly ReplayBuffer[] _replay;
    readonly TaskMlp _q1, _q2;
    readonly ParameterSet _target1, _target2;
    readonly ParameterSet _logAlpha; // [T]: one temperature per task
    readonly optim.Optimizer _actorOptimizer, _criticOptimizer, _alphaOptimizer;
    readonly Collector _collector = new();
    readonly TaskSamplingState _sampling;
    readonly double[] _userWeights;
    readonly double _targetEntropy;
    readonly Generator _noise = new(0);
    readonly int _obs, _act;
    IVectorEnv? _envs;
    double[] _lastCriticLoss;
    Dictionary<string, double>? _lastConflict;
    int _iteration;
    bool _firstStep; // of the iteration: where the conflict diagnostics are measured (every step under PCGrad)

    public MtSac(TaskSuite suite, MultiTaskConfig config, SacConfig sac, CommonConfig common, Rng rng)
    {
        _suite = suite; _config = config; _sac = sac; _common = common; _rng = rng;
        int t = suite.TaskCount;
        if (sac.TaskIndex != 0) throw new ConfigException("task-index", "config key 'task-index' is single-task SAC's; mt-sac learns every task of its suite");
        if (sac.EpisodesPerIteration != 1) throw new ConfigException("episodes-per-iteration", "config key 'episodes-per-iteration' is single-task SAC's; mt-sac collects episodes-per-task of every task");
        if (config.Gradient == GradientCombination.Gradnorm) throw new ConfigException("gradient", "config key 'gradient' must be sum or pcgrad for mt-sac (GradNorm is mt-ppo's); got gradnorm");
        if (config.Gradient != GradientCombination.Sum && config.Conditioning == Conditioning.Independent)
            throw new ConfigException("gradient", "config key 'gradient' must be sum with conditioning: independent (independent networks share no weights to combine)");
        _userWeights = MtPpo.UserWeights(config, suite);
        if (suite.ActionSpace is not Box box) throw new UsageException($"mt-sac needs continuous (box) actions; {suite.Name} has {suite.ActionSpace}");
        _obs = suite.ObservationSpace.FlatSize; _act = box.Dim;

        Input = new TaskInput(config.Conditioning, t, config.EmbeddingSize, rng);
        var actor = new TanhGaussianPolicy(_obs + Input.Size, box, common.HiddenSizes, rng.Split(), common.Nonlinearity);
        Actor = new MultiTaskPolicy(suite, actor, Input);
        // The critics read their own task identity (an embedding of their own: their loss trains it).
        CriticInput = config.Conditioning == Conditioning.Embedding ? new TaskInput(Conditioning.Embedding, t, config.EmbeddingSize, rng) : Input;
        _q1 = new TaskMlp("q.", _obs + CriticInput.Size + _act, 1, config.Conditioning, common, t, rng);
        _q2 = new TaskMlp("q.", _obs + CriticInput.Size + _act, 1, config.Conditioning, common, t, rng);
        _target1 = Targets(_q1);
        _target2 = Targets(_q2);
        _logAlpha = ParameterSet.Leaves([("log_alpha", full(t, Math.Log(sac.Alpha)))]);
        _targetEntropy = sac.TargetEntropyPerDim * _act;
        _replay = suite.Tasks.Select(_ => new ReplayBuffer(sac.BufferSize, _obs, _act)).ToArray();
        _actorOptimizer = optim.Adam(Actor.Leaves(), sac.Lr);
        _criticOptimizer = optim.Adam(CriticLeaves(), sac.Lr);
        _alphaOptimizer = optim.Adam(_logAlpha.AsParameters(), sac.Lr);
        _sampling = new TaskSamplingState(t, config.ProgressWindow);
        _lastCriticLoss = new double[t];
    }

    public TaskSuite Suite => _suite;
    public TaskInput Input { get; }
    public TaskInput CriticInput { get; }
    public MultiTaskPolicy Actor { get; }
    MultiTaskPolicy IMultiTaskLearner.Policy => Actor;
    public override ParameterSet Parameters => Actor.Parameters.Leaves;
    /// <summary>Each task's entropy temperature.</summary>
    public double[] Alphas { get { using var scope = NewDisposeScope(); return _logAlpha.Values[0].detach().exp().to(ScalarType.Float64).data<double>().ToArray(); } }

    /// <summary>A critic's target network: copies of its leaves (outside any dispose scope), updated by Polyak averaging only.</summary>
    static ParameterSet Targets(TaskMlp critic)
    {
        var leaves = critic.Parameters.Leaves;
        var targets = ParameterSet.Leaves(leaves.Names.Zip(leaves.Values).ToList());
        foreach (var v in targets.Values) v.requires_grad_(false);
        return targets;
    }

    IEnumerable<Parameter> CriticLeaves() => _q1.Parameters.Leaves.AsParameters().Concat(_q2.Parameters.Leaves.AsParameters())
        .Concat(CriticInput.Embedding is { } e && !ReferenceEquals(CriticInput, Input) ? [(Parameter)e] : []);

    // ---- collection ----

    protected override Collection Collect()
    {
        int t = _suite.TaskCount;
        // Collection follows each task's data share (the data it has); task sampling acts on the minibatches, as loss weights.
        var episodes = _suite.Tasks.Select(x => Math.Max(1, (int)Math.Round(_config.EpisodesPerTask * x.DataShare))).ToArray();
        // The first iteration also runs the initial policy for learning-starts steps of every task (no gradient steps for those).
        int warmup = _replay[0].Count == 0 ? (_sac.LearningStarts + _suite.MaxEpisodeSteps - 1) / _suite.MaxEpisodeSteps : 0;
        var perTask = episodes.Select(n => n + warmup).ToArray();
        var envTask = perTask.SelectMany((n, k) => Enumerable.Repeat(k, n)).ToArray();
        _envs = VectorEnvs.For(_suite, envTask.Select(k => (object)_suite.Tasks[k]).ToList(), _envs);
        var batch = new EpisodeBatch(_suite.MaxEpisodeSteps, envTask.Length, _obs, _act, envTask);
        _collector.RunEpisodes(_envs, new MultiTaskAgent(Actor, envTask, deterministic: false), 1, batch.Horizon, _rng, batch);
        for (int e = 0; e < batch.Episodes; e++) _replay[envTask[e]].AddEpisode(batch, e);

        var scores = SuiteScores.Of(_suite, batch);
        _sampling.Record(scores.Select(s => s.MeanReturn).ToArray(), _lastCriticLoss);
        var stats = new Dictionary<string, double>();
        for (int k = 0; k < t; k++)
        {
            stats[$"return/{_suite.Tasks[k].Name}"] = scores[k].MeanReturn;
            stats[$"success/{_suite.Tasks[k].Name}"] = scores[k].SuccessRate;
            stats[$"episodes/{_suite.Tasks[k].Name}"] = episodes[k];
        }
        // One gradient step per env step of the iteration's episodes (not the warm-up), each on every task's batch.
        int trained = Enumerable.Range(0, batch.Episodes).Where(e => warmup == 0 || IndexInTask(envTask, e) >= warmup).Sum(e => batch.Lengths[e]);
        _iteration++;
        _firstStep = true;
        return new Collection(scores.Average(s => s.MeanReturn), scores.Average(s => s.SuccessRate), batch.Steps,
            Math.Max(1, (int)Math.Round(trained * _sac.UpdatesPerStep / t))) { Stats = stats };
    }

    static int IndexInTask(int[] envTask, int e) => e - Array.IndexOf(envTask, envTask[e]);

    // ---- the gradient step ----

    protected override IReadOnlyDictionary<string, double> GradientStep()
    {
        using var scope = NewDisposeScope();
        int t = _suite.TaskCount, b = _sac.BatchSize;
        var (s, a, r, s2, d) = Batch(b);
        _noise.manual_seed(unchecked((long)_rng.NextULong()));
        var alpha = _logAlpha.Values[0].detach().exp().unsqueeze(1); // [T, 1]
        var weights = _sampling.Weights(_config.TaskSampling, _suite.Tasks.Select(x => x.DataShare).ToArray());
        var c = tensor(Enumerable.Range(0, t).Select(k => (float)(_userWeights[k] * weights[k] / t)).ToArray());
        var actorView = Actor.Parameters.View();
        bool pcgrad = _config.Gradient == GradientCombination.Pcgrad;
        bool measure = pcgrad || _firstStep && _config.ConflictEvery > 0 && (_iteration - 1) % _config.ConflictEvery == 0;
        _firstStep = false;

        // Critics: both regress on the soft Bellman target of their task.
        Tensor y;
        using (no_grad())
        {
            var (a2, logp2) = Actor.Sample(s2, Noise(t, b), actorView);
            var q2 = Q(_q1.ViewOf(_target1), _q2.ViewOf(_target2), s2, a2).min(0).values;
            y = _sac.RewardScale * r + _common.Gamma * (1 - d) * (q2 - alpha * logp2);
        }
        var v1 = _q1.Parameters.View();
        var v2 = _q2.Parameters.View();
        var q = Q(v1, v2, s, a); // [2, T, B]
        var criticPerTask = 0.5 * (q - y).pow(2).mean([2]).sum(dim: 0); // [T]
        var criticTotal = (c * criticPerTask).sum();
        _criticOptimizer.zero_grad();
        Backward(criticTotal, [(_q1.Parameters, v1), (_q2.Parameters, v2)], CriticLeaves().Cast<Tensor>(), measure);
        _criticOptimizer.step();

        // Actor: through the reparameterised action into the critics (whose weights this loss does not train).
        var (aNew, logp) = Actor.Sample(s, Noise(t, b), actorView);
        var qNew = Q(_q1.Parameters.View().Map((_, x) => x.detach()), _q2.Parameters.View().Map((_, x) => x.detach()), s, aNew, detachIdentity: true).min(0).values;
        var actorPerTask = (alpha * logp - qNew).mean([1]);
        var actorTotal = (c * actorPerTask).sum();
        _actorOptimizer.zero_grad();
        var conflict = Backward(actorTotal, [(Actor.Parameters, actorView)], Actor.Leaves().Cast<Tensor>(), measure);
        _actorOptimizer.step();

        // Temperatures: each task's rises while its policy's entropy is below the target.
        if (_sac.Autotune)
        {
            var loss = -(_logAlpha.Values[0] * (logp.detach() + _targetEntropy).mean([1])).sum();
            _alphaOptimizer.zero_grad();
            loss.backward();
            _alphaOptimizer.step();
        }
        _target1.SoftUpdateFrom(_q1.Parameters.Leaves, _sac.Tau);
        _target2.SoftUpdateFrom(_q2.Parameters.Leaves, _sac.Tau);

        var critic = criticPerTask.detach().to(float64).data<double>().ToArray();
        var actor = actorPerTask.detach().to(float64).data<double>().ToArray();
        for (int k = 0; k < t; k++)
        {
            Losses.Finite(critic[k], $"the critic loss of task {_suite.Tasks[k].Name}");
            Losses.Finite(actor[k], $"the actor loss of task {_suite.Tasks[k].Name}");
        }
        _lastCriticLoss = critic;
        var entropy = (-logp.detach()).mean([1]).to(float32).data<float>().ToArray();

        var stats = new Dictionary<string, double>();
        var alphas = Alphas;
        for (int k = 0; k < t; k++)
        {
            string name = _suite.Tasks[k].Name;
            stats[$"loss/{name}"] = actor[k];
            stats[$"critic_loss/{name}"] = critic[k];
            stats[$"entropy/{name}"] = entropy[k];
            stats[$"alpha/{name}"] = alphas[k];
        }
        stats["actor_loss"] = actor.Average();
        stats["critic_loss"] = critic.Average();
        // The actor's gradients of its shared weights; steps that do not measure repeat the last figures.
        if (conflict is not null) _lastConflict = ConflictColumns.Of(_suite, conflict.Cosines, conflict.Norms);
        if (_lastConflict is not null) foreach (var (k, v) in _lastConflict) stats[k] = v;
        return stats;
    }

    /// <summary>
    /// Sum, or PCGrad over the shared weights of the given networks; with <paramref name="measure"/> (every step under
    /// PCGrad, else the first step of the iterations conflict-every picks) the per-task gradients are taken and returned.
    /// </summary>
    TaskGradients? Backward(Tensor total, IReadOnlyList<(TaskParameters Parameters, ParameterSet View)> networks, IEnumerable<Tensor> leaves, bool measure)
    {
        bool pcgrad = _config.Gradient == GradientCombination.Pcgrad;
        if (!measure || !networks[0].Parameters.HasShared)
        {
            total.backward();
            return null;
        }
        var grads = new TaskGradients(total, networks, leaves);
        int t = _suite.TaskCount;
        grads.Apply(pcgrad, i => { var o = Enumerable.Range(0, t).Where(j => j != i).ToArray(); _rng.Shuffle(o.AsSpan()); return o; });
        return grads;
    }

    Tensor Noise(int t, int b) => randn([t, b, _act], generator: _noise);

    /// <summary>Q1 and Q2 of (s, a) per task: [2, T, B]; actions read in [-1, 1] (TanhGaussianPolicy.Normalise).</summary>
    Tensor Q(ParameterSet v1, ParameterSet v2, Tensor s, Tensor a, bool detachIdentity = false)
    {
        var withId = CriticInput.Append(s);
        if (detachIdentity) withId = withId.detach();
        var x = cat([withId, ((TanhGaussianPolicy)Actor.Network).Normalise(a)], 2);
        return stack([_q1.Forward(x, v1), _q2.Forward(x, v2)]);
    }

    /// <summary>batch-size transitions of every task's buffer: [T, B, ...].</summary>
    (Tensor S, Tensor A, Tensor R, Tensor S2, Tensor D) Batch(int b)
    {
        int t = _suite.TaskCount, rows = t * b;
        if (_so.Length < rows * _obs) (_so, _sa, _sr, _so2, _sd) = (new float[rows * _obs], new float[rows * _act], new float[rows], new float[rows * _obs], new float[rows]);
        for (int k = 0; k < t; k++) _replay[k].SampleInto(b, _rng, k * b, _so, _sa, _sr, _so2, _sd);
        return (tensor(_so.AsSpan(0, rows * _obs).ToArray(), [t, b, _obs]), tensor(_sa.AsSpan(0, rows * _act).ToArray(), [t, b, _act]),
            tensor(_sr.AsSpan(0, rows).ToArray(), [t, b]), tensor(_so2.AsSpan(0, rows * _obs).ToArray(), [t, b, _obs]), tensor(_sd.AsSpan(0, rows).ToArray(), [t, b]));
    }

    float[] _so = [], _sa = [], _sr = [], _so2 = [], _sd = [];

    // ---- evaluation and state ----

    public IReadOnlyList<TaskScore> Evaluate(int episodesPerTask, Rng rng) => SuiteScores.Evaluate(Actor, episodesPerTask, rng);

    protected override void Save(BinaryWriter w)
    {
        w.Write(_iteration);
        foreach (var p in new[] { Actor.Parameters.Leaves, _q1.Parameters.Leaves, _q2.Parameters.Leaves, _target1, _target2, _logAlpha }) p.Save(w);
        foreach (var e in new[] { Input.Embedding, CriticInput.Embedding }.Distinct()) if (e is not null) new ParameterSet([("e", e)]).Save(w);
        foreach (var o in new[] { _actorOptimizer, _criticOptimizer, _alphaOptimizer }) ((OptimizerHelper)o).save_state_dict(w);
        foreach (var b in _replay) b.Save(w);
        foreach (double x in _lastCriticLoss) w.Write(x);
        _sampling.Save(w);
    }

    protected override void Load(BinaryReader r)
    {
        _iteration = r.ReadInt32();
        foreach (var p in new[] { Actor.Parameters.Leaves, _q1.Parameters.Leaves, _q2.Parameters.Leaves, _target1, _target2, _logAlpha }) p.Load(r);
        foreach (var e in new[] { Input.Embedding, CriticInput.Embedding }.Distinct()) if (e is not null) new ParameterSet([("e", e)]).Load(r);
        foreach (var o in new[] { _actorOptimizer, _criticOptimizer, _alphaOptimizer }) ((OptimizerHelper)o).load_state_dict(r);
        foreach (var b in _replay) b.Load(r);
        for (int k = 0; k < _lastCriticLoss.Length; k++) _lastCriticLoss[k] = r.ReadDouble();
        _sampling.Load(r);
    }

    public override void Dispose() => _envs?.Dispose();
}

/// <summary>An MLP for every task of a suite (a critic), its weights shared or per task as the conditioning says; it reads inputs that already hold the task's identity.</summary>
internal sealed class TaskMlp
{
    readonly string _prefix;
    readonly int _layers;
    readonly Activation _activation;

    public TaskMlp(string prefix, int inputSize, int outputs, Conditioning conditioning, CommonConfig common, int tasks, Rng rng)
    {
        _prefix = prefix;
        _layers = common.HiddenSizes.Length + 1;
        _activation = common.Nonlinearity;
        var leaves = ParameterSet.Leaves(Mlp.Init(prefix, [inputSize, .. common.HiddenSizes, outputs], rng.Split()));
        Parameters = new TaskParameters(leaves, MultiTaskPolicy.PerTask(conditioning, leaves, prefix), tasks);
    }

    public TaskParameters Parameters { get; }

    /// <summary>The view of a set of leaves laid out as <see cref="TaskParameters.Leaves"/> (a target network's).</summary>
    public ParameterSet ViewOf(ParameterSet leaves) => Parameters.ViewOf(leaves);

    /// <summary>Outputs for inputs [T, B, in] with a per-task view: [T, B] for one output.</summary>
    public Tensor Forward(Tensor x, ParameterSet view) => Mlp.Forward(x, view, _prefix, _layers, _activation).squeeze(-1);
}
