using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.SingleTask;

public sealed class VpgConfig
{
    [Key("lr", "Adam learning rate", Min = 0, MinExclusive = true)] public double Lr { get; set; } = 0.01;
}

/// <summary>
/// Vanilla policy gradient / REINFORCE with a baseline (Williams 1992): ascend
/// E[ sum_t grad log pi(a_t|s_t) (G_t - b(s_t)) ] with the linear feature baseline and Adam.
/// MAML's inner loop is this loss with one plain gradient step.
/// </summary>
public sealed class Vpg : PolicyOptimizer
{
    readonly VpgConfig _config;
    readonly CommonConfig _common;
    readonly optim.Optimizer _optimizer;

    public Vpg(Policy policy, VpgConfig config, CommonConfig common) : base(policy)
    {
        _config = config; _common = common;
        _optimizer = optim.Adam(policy.Parameters.AsParameters(), config.Lr);
    }

    /// <summary>-(1/steps) sum_t log pi(a_t|s_t) A_t over the batch's steps: the REINFORCE surrogate.</summary>
    public static Tensor Loss(Policy policy, EpisodeBatch batch, float[] advantages, Torch.ParameterSet? parameters = null)
    {
        var logp = policy.Distribution(batch.ObservationsTensor(), parameters).LogProb(batch.ActionsTensor());
        return -Losses.MaskedMean(logp * EpisodeBatch.AsTensor(advantages, batch), batch.MaskTensor());
    }

    public override IReadOnlyDictionary<string, double> Update(EpisodeBatch batch)
    {
        using var scope = NewDisposeScope();
        var adv = LinearBaselineAdvantages(batch, _common.Gamma, _common.GaeLambda);
        _optimizer.zero_grad();
        var loss = Loss(Policy, batch, adv);
        double lossValue = loss.item<float>();
        Losses.Finite(lossValue, "the VPG loss");
        Combiner.Backward(new UpdateLosses(loss, () => [loss]), Policy.Parameters.Values);
        _optimizer.step();
        return new Dictionary<string, double> { ["loss"] = lossValue };
    }

    public override void SaveState(BinaryWriter w) { base.SaveState(w); ((OptimizerHelper)_optimizer).save_state_dict(w); }
    public override void LoadState(BinaryReader r) { base.LoadState(r); ((OptimizerHelper)_optimizer).load_state_dict(r); }
}
