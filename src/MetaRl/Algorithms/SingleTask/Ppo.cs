using MetaRl.Baselines;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.SingleTask;

public sealed class PpoConfig
{
    [Key("lr", "Adam learning rate of the policy", Min = 0, MinExclusive = true)] public double Lr { get; set; } = 3e-3;
    [Key("vf-lr", "Adam learning rate of the value network", Min = 0, MinExclusive = true)] public double VfLr { get; set; } = 3e-3;
    [Key("clip", "clipping range epsilon of the probability ratio", Min = 0, MinExclusive = true)] public double Clip { get; set; } = 0.2;
    [Key("epochs", "passes over each batch", Min = 1)] public int Epochs { get; set; } = 10;
    [Key("minibatches", "minibatches per epoch", Min = 1)] public int Minibatches { get; set; } = 4;
    [Key("ent-coef", "entropy bonus coefficient", Min = 0)] public double EntCoef { get; set; }
    [Key("max-grad-norm", "gradient norm clipping", Min = 0, MinExclusive = true)] public double MaxGradNorm { get; set; } = 0.5;
    [Key("bootstrap-truncation", "GAE adds gamma V(s_T) after an episode cut by the time limit instead of treating the limit as the task's end (Pardo et al. 2018); false: the reference implementations' treatment")] public bool BootstrapTruncation { get; set; }
}

/// <summary>
/// Proximal Policy Optimization (Schulman et al. 2017), Algorithm 1 with the clipped objective
/// L = E[min(r A, clip(r, 1-eps, 1+eps) A)], r = pi(a|s)/pi_old(a|s), GAE advantages from a value
/// network, several epochs of minibatch Adam over each batch (minibatches of steps, shuffled by the run's generator).
/// </summary>
public sealed class Ppo : PolicyOptimizer
{
    readonly PpoConfig _config;
    readonly CommonConfig _common;
    readonly Rng _rng;
    readonly optim.Optimizer _policyOptimizer, _valueOptimizer;

    public Ppo(Policy policy, PpoConfig config, CommonConfig common, Rng rng) : base(policy)
    {
        _config = config; _common = common; _rng = rng;
        Value = new ValueNetwork(policy.ObservationSize, common.HiddenSizes, rng.Split(), common.Nonlinearity);
        _policyOptimizer = optim.Adam(policy.Parameters.AsParameters(), config.Lr);
        _valueOptimizer = optim.Adam(Value.Parameters.AsParameters(), config.VfLr);
    }

    public ValueNetwork Value { get; }

    public override IReadOnlyDictionary<string, double> Update(EpisodeBatch batch)
    {
        using var scope = NewDisposeScope();
        var values = Value.Predict(batch);
        var adv = _config.BootstrapTruncation
            ? Advantages.Gae(batch, values, _common.Gamma, _common.GaeLambda, Value.PredictFinal(batch))
            : Advantages.Gae(batch, values, _common.Gamma, _common.GaeLambda);
        var returns = new float[adv.Length];
        for (int i = 0; i < adv.Length; i++) returns[i] = adv[i] + values[i];

        // Flatten the steps episodes took into [M, ...] rows.
        var steps = Enumerable.Range(0, batch.Mask.Length).Where(i => batch.Mask[i] != 0).ToArray();
        var index = tensor(steps.Select(i => (long)i).ToArray());
        var obs = batch.ObservationsTensor().reshape(-1, batch.ObservationSize).index_select(0, index);
        var actions = batch.ActionsTensor().reshape(-1, batch.ActionSize).index_select(0, index);
        var advT = tensor(adv).index_select(0, index);
        var retT = tensor(returns).index_select(0, index);
        Tensor oldLogp;
        using (no_grad()) oldLogp = Policy.Distribution(obs).LogProb(actions);

        int m = steps.Length, size = Math.Max(1, m / _config.Minibatches);
        var order = new long[m];
        double lastPolicyLoss = 0, lastValueLoss = 0, clipFraction = 0;
        int minibatchCount = 0;
        for (int epoch = 0; epoch < _config.Epochs; epoch++)
        {
            for (int i = 0; i < m; i++) order[i] = i;
            _rng.Shuffle(order.AsSpan());
            for (int start = 0; start + size <= m; start += size)
            {
                using var inner = NewDisposeScope();
                var mb = tensor(order.AsSpan(start, size).ToArray());
                var a = advT.index_select(0, mb);
                a = (a - a.mean()) / (a.std() + 1e-8);
                var pi = Policy.Distribution(obs.index_select(0, mb));
                var ratio = Losses.Ratio(pi, actions.index_select(0, mb), oldLogp.index_select(0, mb));
                var policyLoss = -Losses.ClippedSurrogate(ratio, a, _config.Clip).mean()
                                 - _config.EntCoef * pi.Entropy().mean();
                var valueLoss = (Value.Forward(obs.index_select(0, mb)) - retT.index_select(0, mb)).pow(2).mean();
                lastPolicyLoss = policyLoss.item<float>();
                lastValueLoss = valueLoss.item<float>();
                Losses.Finite(lastPolicyLoss, "the PPO policy loss");
                Losses.Finite(lastValueLoss, "the PPO value loss");
                clipFraction += ((ratio - 1).abs() > _config.Clip).to(float32).mean().item<float>();
                minibatchCount++;

                _policyOptimizer.zero_grad();
                Combiner.Backward(new UpdateLosses(policyLoss, () => [policyLoss]), Policy.Parameters.Values);
                nn.utils.clip_grad_norm_(Policy.Parameters.AsParameters(), _config.MaxGradNorm);
                _policyOptimizer.step();
                _valueOptimizer.zero_grad();
                valueLoss.backward();
                nn.utils.clip_grad_norm_(Value.Parameters.AsParameters(), _config.MaxGradNorm);
                _valueOptimizer.step();
            }
        }
        return new Dictionary<string, double>
        {
            ["policy_loss"] = lastPolicyLoss, ["value_loss"] = lastValueLoss, ["clip_fraction"] = clipFraction / Math.Max(1, minibatchCount),
        };
    }

    public override void SaveState(BinaryWriter w)
    {
        base.SaveState(w);
        Value.Parameters.Save(w);
        ((OptimizerHelper)_policyOptimizer).save_state_dict(w);
        ((OptimizerHelper)_valueOptimizer).save_state_dict(w);
    }

    public override void LoadState(BinaryReader r)
    {
        base.LoadState(r);
        Value.Parameters.Load(r);
        ((OptimizerHelper)_policyOptimizer).load_state_dict(r);
        ((OptimizerHelper)_valueOptimizer).load_state_dict(r);
    }
}
