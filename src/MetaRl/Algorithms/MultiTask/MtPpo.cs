using MetaRl.Algorithms.SingleTask;
using MetaRl.Envs.Suites;
using MetaRl.Evaluation;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.MultiTask;

/// <summary>Settings of MT-PPO alone.</summary>
public sealed class MtPpoConfig
{
    [Key("advantage-normalization", "over which rows of a minibatch advantages are normalised: task (each task's rows by their own mean and std, so a task with 10x the reward does not drown the others) or batch (all rows together, as single-task PPO; the tasks' gradient magnitudes then follow their reward scales)")]
    public AdvantageNormalization AdvantageNormalization { get; set; } = AdvantageNormalization.Task;
}

public enum AdvantageNormalization { Task, Batch }

/// <summary>
/// Multi-task PPO: one task-conditioned policy and value network (<see cref="MultiTaskConfig.Conditioning"/>) trained on
/// every task of a suite at once. Each iteration collects episodes of every task (how many per task:
/// <see cref="MultiTaskConfig.TaskSampling"/>); each minibatch holds rows of every task, laid out [T, M] so that the
/// networks run every task's rows in one batched pass with their own (or shared) weights. The policy's loss is the
/// data-weighted sum of per-task clipped surrogates,
/// <code>
///   L = sum_t pi_t u_t w_t L_t,   L_t = -mean over task t's rows of min(r A, clip(r, 1-eps, 1+eps) A) - c_ent H
/// </code>
/// (pi_t task t's share of the batch's steps, u_t its task-weights entry, w_t GradNorm's weight or 1; A normalised
/// within each task's rows or over the minibatch, <see cref="MtPpoConfig.AdvantageNormalization"/>). With
/// gradient: sum the shared weights step along the plain gradient; with pcgrad along the sum of PCGrad's projected
/// per-task gradients; gradnorm learns w_t. Per-task gradients of the shared weights come from one backward pass
/// (<see cref="TaskParameters.View"/>), and their cosines are logged as the conflict diagnostic. The value network
/// (conditioned the same way) regresses the returns with the plain summed loss.
/// </summary>
public sealed class MtPpo : IMultiTaskLearner
{
    readonly TaskSuite _suite;
    readonly MultiTaskConfig _config;
    readonly PpoConfig _ppo;
    readonly MtPpoConfig _mtPpo;
    readonly CommonConfig _common;
    readonly Rng _rng;
    readonly optim.Optimizer _policyOptimizer, _valueOptimizer;
    readonly GradNorm _gradNorm; // learns the weights with gradient: gradnorm; otherwise frozen at 1, measuring how far the norms are from its targets
    readonly Collector _collector = new();
    readonly TaskSamplingState _sampling;
    readonly double[] _userWeights;
    IVectorEnv? _envs;
    int _iteration;
    Dictionary<string, double>? _lastConflict;

    public MtPpo(TaskSuite suite, MultiTaskConfig config, PpoConfig ppo, CommonConfig common, Rng rng, MtPpoConfig? mtPpo = null)
    {
        _suite = suite; _config = config; _ppo = ppo; _common = common; _rng = rng; _mtPpo = mtPpo ?? new MtPpoConfig();
        int t = suite.TaskCount;
        _userWeights = UserWeights(config, suite);
        if (config.Gradient != GradientCombination.Sum && config.Conditioning == Conditioning.Independent)
            throw new ConfigException("gradient", $"config key 'gradient' must be sum with conditioning: independent (independent networks share no weights to combine); got {Config.EnumName(config.Gradient)}");
        Policy = new MultiTaskPolicy(suite, config.Conditioning, config.EmbeddingSize, common, rng);
        Value = new MultiTaskValue(Policy, common, rng);
        _policyOptimizer = optim.Adam(Policy.Leaves(), ppo.Lr);
        _valueOptimizer = optim.Adam(Value.Leaves(), ppo.VfLr);
        _gradNorm = new GradNorm(t, config.GradNormAlpha, config.Gradient == GradientCombination.Gradnorm ? config.GradNormLr : 0);
        _sampling = new TaskSamplingState(t, config.ProgressWindow);
    }

    /// <summary>The task-weights key checked against the suite: one non-negative weight per task, not all zero (empty: all 1).</summary>
    internal static double[] UserWeights(MultiTaskConfig config, TaskSuite suite)
    {
        int t = suite.TaskCount;
        if (config.TaskWeights.Length != 0 && config.TaskWeights.Length != t)
            throw new ConfigException("task-weights", $"config key 'task-weights' must hold one weight per task of {suite.Name} ({t}: {string.Join(", ", suite.Tasks.Select(x => x.Name))}); got {config.TaskWeights.Length}");
        var weights = config.TaskWeights.Length == 0 ? Enumerable.Repeat(1.0, t).ToArray() : config.TaskWeights;
        if (weights.All(w => w == 0)) throw new ConfigException("task-weights", "config key 'task-weights' must give at least one task a positive weight");
        return weights;
    }

    public TaskSuite Suite => _suite;
    public MultiTaskPolicy Policy { get; }
    public MultiTaskValue Value { get; }
    public ParameterSet Parameters => Policy.Parameters.Leaves;
    /// <summary>GradNorm's weights and targets (weights fixed at 1 unless gradient: gradnorm).</summary>
    public GradNorm GradNorm => _gradNorm;

    // ---- collection ----

    /// <summary>Episodes of each task this iteration: episodes-per-task times the task-sampling weight, at least 1.</summary>
    public int[] EpisodesPerTask()
    {
        var w = _sampling.Weights(_config.TaskSampling, _suite.Tasks.Select(x => x.DataShare).ToArray());
        return w.Select(x => Math.Max(1, (int)Math.Round(_config.EpisodesPerTask * x))).ToArray();
    }

    EpisodeBatch Collect(int[] episodes)
    {
        var envTask = episodes.SelectMany((n, t) => Enumerable.Repeat(t, n)).ToArray();
        _envs = VectorEnvs.For(_suite, envTask.Select(t => (object)_suite.Tasks[t]).ToList(), _envs);
        var batch = new EpisodeBatch(_suite.MaxEpisodeSteps, envTask.Length, Policy.ObservationSize, Policy.Network.ActionSize, envTask);
        _collector.RunEpisodes(_envs, new MultiTaskAgent(Policy, envTask, deterministic: false), 1, batch.Horizon, _rng, batch);
        return batch;
    }

    public LearnerIteration Iterate()
    {
        using var guard = IterationGuard.Enter();
        int t = _suite.TaskCount;
        var episodes = EpisodesPerTask();
        var batch = Collect(episodes);
        var returns = batch.EpisodeReturns();
        var taskReturn = new double[t];
        var taskSuccess = new double[t];
        for (int k = 0; k < t; k++)
        {
            var mine = Enumerable.Range(0, batch.Episodes).Where(e => batch.TaskIndex[e] == k).ToList();
            taskReturn[k] = mine.Average(e => returns[e]);
            taskSuccess[k] = mine.Average(e => batch.Success[e] ? 1.0 : 0.0);
        }
        var stats = Update(batch);
        _iteration++;
        _sampling.Record(taskReturn, Enumerable.Range(0, t).Select(k => stats[$"value_loss/{_suite.Tasks[k].Name}"]).ToArray());
        for (int k = 0; k < t; k++)
        {
            string name = _suite.Tasks[k].Name;
            stats[$"return/{name}"] = taskReturn[k];
            stats[$"success/{name}"] = taskSuccess[k];
            stats[$"episodes/{name}"] = episodes[k];
        }
        // The suite's score: every task counts once, however many episodes it had.
        return new LearnerIteration(taskReturn.Average(), taskSuccess.Average(), batch.Steps, stats);
    }

    /// <summary>One batch of this iteration's episodes, for the benchmark of <see cref="UpdateFrom"/>.</summary>
    internal EpisodeBatch CollectBatch() => Collect(EpisodesPerTask());

    /// <summary>One update from a given batch (the benchmark times it alone).</summary>
    internal void UpdateFrom(EpisodeBatch batch) => Update(batch);

    // ---- the update ----

    Dictionary<string, double> Update(EpisodeBatch batch)
    {
        using var scope = NewDisposeScope();
        int t = _suite.TaskCount, h = batch.Horizon, n = batch.Episodes, obs = Policy.ObservationSize, act = Policy.Network.ActionSize;

        // Values of every step (and of truncated episodes' last observations), task by task, for GAE.
        var values = new float[h * n];
        var finalValues = new float[n];
        var stepRows = new List<int>[t];
        for (int k = 0; k < t; k++) stepRows[k] = [];
        for (int k = 0; k < t; k++)
        {
            var eps = Enumerable.Range(0, n).Where(e => batch.TaskIndex[e] == k).ToArray();
            var rows = Enumerable.Range(0, h).SelectMany(s => eps.Select(e => s * n + e)).Where(i => batch.Mask[i] != 0).ToArray();
            stepRows[k].AddRange(rows);
            var o = new float[rows.Length * obs];
            for (int r = 0; r < rows.Length; r++) batch.Observations.AsSpan(rows[r] * obs, obs).CopyTo(o.AsSpan(r * obs));
            var v = Value.Predict(k, o, rows.Length);
            for (int r = 0; r < rows.Length; r++) values[rows[r]] = v[r];
            var f = new float[eps.Length * obs];
            for (int j = 0; j < eps.Length; j++) batch.FinalObservations.AsSpan(eps[j] * obs, obs).CopyTo(f.AsSpan(j * obs));
            var fv = Value.Predict(k, f, eps.Length);
            for (int j = 0; j < eps.Length; j++) finalValues[eps[j]] = fv[j];
        }
        var adv = _ppo.BootstrapTruncation
            ? Advantages.Gae(batch, values, _common.Gamma, _common.GaeLambda, finalValues)
            : Advantages.Gae(batch, values, _common.Gamma, _common.GaeLambda);
        var returns = new float[adv.Length];
        for (int i = 0; i < adv.Length; i++) returns[i] = adv[i] + values[i];

        var obsAll = tensor(batch.Observations, [h * n, obs]);
        var actAll = tensor(batch.Actions, [h * n, act]);
        var advAll = tensor(adv);
        var retAll = tensor(returns);
        int totalRows = stepRows.Sum(r => r.Count);
        var share = stepRows.Select(r => (double)r.Count / totalRows).ToArray(); // pi_t

        // Log-probabilities before the update, in the same [T, M] layout as the minibatches (all rows of each task).
        var (allIndex, allMask) = Layout(stepRows.Select(r => r.ToArray()).ToArray());
        Tensor oldLogpAll = zeros(h * n);
        using (no_grad())
        {
            var lp = Policy.Distribution(obsAll[allIndex], Policy.Parameters.View()).LogProb(actAll[allIndex]);
            oldLogpAll = oldLogpAll.index_put_(lp[allMask.to(ScalarType.Bool)], allIndex[allMask.to(ScalarType.Bool)]);
        }

        var acc = new UpdateAccumulator(t);
        for (int epoch = 0; epoch < _ppo.Epochs; epoch++)
        {
            // Each task's rows shuffled and cut into the same number of minibatches: every minibatch holds every task.
            var shuffled = stepRows.Select(r => { var a = r.ToArray(); _rng.Shuffle(a.AsSpan()); return a; }).ToArray();
            for (int mb = 0; mb < _ppo.Minibatches; mb++)
            {
                using var inner = NewDisposeScope();
                var parts = shuffled.Select(a => { int size = Math.Max(1, a.Length / _ppo.Minibatches); int start = Math.Min(mb * size, Math.Max(0, a.Length - size)); return a.AsSpan(start, Math.Min(size, a.Length)).ToArray(); }).ToArray();
                bool measure = _config.Gradient != GradientCombination.Sum || (_config.ConflictEvery > 0 && _iteration % _config.ConflictEvery == 0 && epoch == 0 && mb == 0);
                Step(parts, obsAll, actAll, advAll, retAll, oldLogpAll, share, measure, acc);
            }
        }
        return acc.Stats(_suite, _config.Gradient, _config.Gradient == GradientCombination.Gradnorm ? _gradNorm : null, ref _lastConflict);
    }

    /// <summary>Rows of each task padded to one length: an index [T, M] into the batch's flat steps and a mask [T, M].</summary>
    static (Tensor Index, Tensor Mask) Layout(int[][] rows)
    {
        int t = rows.Length, m = Math.Max(1, rows.Max(r => r.Length));
        var index = new long[t * m];
        var mask = new float[t * m];
        for (int k = 0; k < t; k++)
            for (int j = 0; j < rows[k].Length; j++) { index[k * m + j] = rows[k][j]; mask[k * m + j] = 1; }
        return (tensor(index, [t, m]), tensor(mask, [t, m]));
    }

    /// <summary>
    /// Advantages [T, M] normalised over the real rows (mask 1) of each task (a task with 10x the reward scale does not
    /// drown the others) or of the whole minibatch (the tasks' gradient magnitudes then follow their reward scales).
    /// </summary>
    internal static Tensor NormaliseAdvantages(Tensor a, Tensor mask, AdvantageNormalization over)
    {
        long[] dims = over == AdvantageNormalization.Task ? [1] : [0, 1];
        var count = mask.sum(dims, keepdim: true).clamp_min(1);
        var mean = (a * mask).sum(dims, keepdim: true) / count;
        var std = ((a - mean).pow(2) * mask).sum(dims, keepdim: true).div(count).sqrt();
        return (a - mean) / (std + 1e-8);
    }

    void Step(int[][] parts, Tensor obsAll, Tensor actAll, Tensor advAll, Tensor retAll, Tensor oldLogpAll, double[] share, bool measure, UpdateAccumulator acc)
    {
        int t = _suite.TaskCount;
        var (index, mask) = Layout(parts);
        var count = mask.sum(1).clamp_min(1);
        var o = obsAll[index];
        var a = advAll[index];
        a = NormaliseAdvantages(a, mask, _mtPpo.AdvantageNormalization);

        var view = Policy.Parameters.View();
        var pi = Policy.Distribution(o, view);
        var ratio = (pi.LogProb(actAll[index]) - oldLogpAll[index]).exp();
        var surrogate = Losses.ClippedSurrogate(ratio, a, _ppo.Clip);
        var entropy = pi.Entropy();
        var perTask = -(surrogate * mask).sum(1) / count - _ppo.EntCoef * (entropy * mask).sum(1) / count; // L_t [T]
        var gradNormWeights = _gradNorm.Weights;
        var c = tensor(Enumerable.Range(0, t).Select(k => (float)(share[k] * _userWeights[k] * gradNormWeights[k])).ToArray());
        var total = (c * perTask).sum();

        // Value network: the plain data-weighted regression loss, per task for the logs and GradNorm's training rates.
        var valueView = Value.Parameters.View();
        var valueLossPerTask = ((Value.Forward(o, valueView) - retAll[index]).pow(2) * mask).sum(1) / count;
        var valueLoss = (tensor(share.Select(x => (float)x).ToArray()) * valueLossPerTask).sum();

        var perTaskValues = perTask.detach().to(float64).data<double>().ToArray();
        var valueValues = valueLossPerTask.detach().to(float64).data<double>().ToArray();
        for (int k = 0; k < t; k++)
        {
            Losses.Finite(perTaskValues[k], $"the policy loss of task {_suite.Tasks[k].Name}");
            Losses.Finite(valueValues[k], $"the value loss of task {_suite.Tasks[k].Name}");
        }
        acc.AddLosses(perTaskValues, valueValues, (entropy * mask).sum(1).div(count).detach().data<float>().ToArray(),
            ((ratio - 1).abs() > _ppo.Clip).to(float32).mul(mask).sum().div(mask.sum()).item<float>());

        _policyOptimizer.zero_grad();
        if (!measure || !Policy.Parameters.HasShared) total.backward();
        else CombinedBackward(total, view, valueValues, acc);
        nn.utils.clip_grad_norm_(Policy.Leaves(), _ppo.MaxGradNorm);
        _policyOptimizer.step();

        _valueOptimizer.zero_grad();
        valueLoss.backward();
        nn.utils.clip_grad_norm_(Value.Leaves(), _ppo.MaxGradNorm);
        _valueOptimizer.step();
    }

    /// <summary>
    /// The per-task gradients of the shared weights in one backward pass, combined as the config says (the sum, or
    /// PCGrad's projections); GradNorm's weights step on the norms at the last shared layer. Logs the gradients'
    /// cosines and norms.
    /// </summary>
    void CombinedBackward(Tensor total, ParameterSet view, double[] valueLosses, UpdateAccumulator acc)
    {
        int t = _suite.TaskCount;
        var grads = new TaskGradients(total, [(Policy.Parameters, view)], Policy.Leaves());
        acc.AddConflict(grads.Cosines, grads.Norms);
        int projections = grads.Apply(_config.Gradient == GradientCombination.Pcgrad, i => Order(i, t));
        if (_config.Gradient == GradientCombination.Pcgrad) acc.AddProjections(projections);

        // GradNorm's view of this step (with equal weights it only measures, for the comparison of the spreads):
        // |grad_W L'_t| at the last shared layer, unweighted by w_t (the rows hold w_t's gradients); inverse training
        // rates from the value loss, since the clipped surrogate restarts near zero every update.
        var rows = grads.LastSharedLayerNorms();
        _gradNorm.Step(rows.Select((x, k) => x / Math.Max(_gradNorm.Weights[k], 1e-12)).ToArray(), valueLosses);
        acc.AddGradNorm(GradNorm.Spread(rows, _gradNorm.Targets));
    }

    /// <summary>A random order of the other tasks for task i (PCGrad's per-task shuffle).</summary>
    int[] Order(int i, int t)
    {
        var others = Enumerable.Range(0, t).Where(j => j != i).ToArray();
        _rng.Shuffle(others.AsSpan());
        return others;
    }

    // ---- evaluation and state ----

    public IReadOnlyList<TaskScore> Evaluate(int episodesPerTask, Rng rng) => SuiteScores.Evaluate(Policy, episodesPerTask, rng);

    public void SaveState(BinaryWriter w)
    {
        w.Write(_iteration);
        Policy.Parameters.Leaves.Save(w);
        Value.Parameters.Leaves.Save(w);
        foreach (var e in new[] { Policy.Input.Embedding, Value.Input.Embedding }.Distinct()) if (e is not null) new ParameterSet([("e", e)]).Save(w);
        ((OptimizerHelper)_policyOptimizer).save_state_dict(w);
        ((OptimizerHelper)_valueOptimizer).save_state_dict(w);
        _gradNorm.Save(w);
        _sampling.Save(w);
    }

    public void LoadState(BinaryReader r)
    {
        _iteration = r.ReadInt32();
        Policy.Parameters.Leaves.Load(r);
        Value.Parameters.Leaves.Load(r);
        foreach (var e in new[] { Policy.Input.Embedding, Value.Input.Embedding }.Distinct()) if (e is not null) new ParameterSet([("e", e)]).Load(r);
        ((OptimizerHelper)_policyOptimizer).load_state_dict(r);
        ((OptimizerHelper)_valueOptimizer).load_state_dict(r);
        _gradNorm.Load(r);
        _sampling.Load(r);
    }

    public void Dispose() => _envs?.Dispose();
}

/// <summary>The per-task figures of one update, averaged over its minibatches, as progress.csv columns.</summary>
internal sealed class UpdateAccumulator(int tasks)
{
    readonly double[] _loss = new double[tasks], _valueLoss = new double[tasks], _entropy = new double[tasks], _norm = new double[tasks];
    readonly double[,] _cos = new double[tasks, tasks];
    int _steps, _measured, _projections;
    double _clip, _spread;
    int _spreads;

    public void AddLosses(double[] loss, double[] valueLoss, float[] entropy, double clipFraction)
    {
        for (int k = 0; k < tasks; k++) { _loss[k] += loss[k]; _valueLoss[k] += valueLoss[k]; _entropy[k] += entropy[k]; }
        _clip += clipFraction;
        _steps++;
    }

    public void AddConflict(double[,] cos, double[] norms)
    {
        for (int i = 0; i < tasks; i++) { _norm[i] += norms[i]; for (int j = 0; j < tasks; j++) _cos[i, j] += cos[i, j]; }
        _measured++;
    }

    public void AddProjections(int n) => _projections += n;
    public void AddGradNorm(double spread) { _spread += spread; _spreads++; }

    /// <summary>
    /// The update's columns (gradnorm_spread: GradNorm's mean |log(G_i / target_i)|, measured with equal weights too).
    /// <paramref name="lastConflict"/> holds the last measured conflict figures, repeated in
    /// iterations that do not measure (conflict-every above 1) so that every row has every column.
    /// </summary>
    public Dictionary<string, double> Stats(TaskSuite suite, GradientCombination mode, GradNorm? gradNorm, ref Dictionary<string, double>? lastConflict)
    {
        var s = new Dictionary<string, double>();
        double steps = Math.Max(1, _steps);
        for (int k = 0; k < tasks; k++)
        {
            string name = suite.Tasks[k].Name;
            s[$"loss/{name}"] = _loss[k] / steps;
            s[$"value_loss/{name}"] = _valueLoss[k] / steps;
            s[$"entropy/{name}"] = _entropy[k] / steps;
        }
        s["policy_loss"] = _loss.Sum() / steps / tasks;
        s["clip_fraction"] = _clip / steps;
        if (_measured > 0)
        {
            var cos = new double[tasks, tasks];
            for (int i = 0; i < tasks; i++) for (int j = 0; j < tasks; j++) cos[i, j] = _cos[i, j] / _measured;
            lastConflict = ConflictColumns.Of(suite, cos, _norm.Select(n => n / _measured).ToArray());
        }
        if (_spreads > 0) (lastConflict ??= [])["gradnorm_spread"] = _spread / _spreads;
        if (lastConflict is not null) foreach (var (k, v) in lastConflict) s[k] = v;
        if (mode == GradientCombination.Pcgrad) s["pcgrad_projections"] = _projections / steps;
        if (gradNorm is not null)
            for (int k = 0; k < tasks; k++) s[$"weight/{suite.Tasks[k].Name}"] = gradNorm.Weights[k];
        return s;
    }
}

/// <summary>The gradient-conflict columns of progress.csv: each task's gradient norm, each pair's cosine, their mean and the share of negative ones.</summary>
internal static class ConflictColumns
{
    public static Dictionary<string, double> Of(TaskSuite suite, double[,] cosines, double[] norms)
    {
        int t = suite.TaskCount;
        var columns = new Dictionary<string, double>();
        var pairs = new List<double>();
        for (int i = 0; i < t; i++)
        {
            columns[$"grad_norm/{suite.Tasks[i].Name}"] = norms[i];
            for (int j = i + 1; j < t; j++)
            {
                columns[$"cos/{suite.Tasks[i].Name}/{suite.Tasks[j].Name}"] = cosines[i, j];
                pairs.Add(cosines[i, j]);
            }
        }
        columns["conflict_mean_cosine"] = pairs.Average();
        columns["conflict_fraction"] = pairs.Count(c => c < 0) / (double)pairs.Count;
        return columns;
    }
}
