using static TorchSharp.torch;

namespace MetaRl.Algorithms.SingleTask;

public sealed class TrpoConfig
{
    [Key("max-kl", "trust region: bound on the mean KL(old || new) of an update", Min = 0, MinExclusive = true)] public double MaxKl { get; set; } = 0.01;
    [Key("cg-iters", "conjugate-gradient iterations", Min = 1)] public int CgIters { get; set; } = 10;
    [Key("cg-damping", "damping added to the Fisher-vector product", Min = 0)] public double CgDamping { get; set; } = 1e-5;
    [Key("ls-max-steps", "backtracking line-search steps", Min = 1)] public int LsMaxSteps { get; set; } = 15;
    [Key("ls-backtrack-ratio", "line-search shrink factor", Min = 0, Max = 1, MinExclusive = true)] public double LsBacktrackRatio { get; set; } = 0.8;
}

/// <summary>What one trust-region step did.</summary>
public sealed record TrpoStepResult(double LossBefore, double LossAfter, double Kl, int LineSearchSteps, bool Accepted);

/// <summary>
/// Trust Region Policy Optimization (Schulman et al. 2015), Appendix C: with g the gradient of the
/// surrogate loss L and F the Hessian of the mean KL(old || new) at the old parameters,
///   1. s = F^-1 g by conjugate gradient on Fisher-vector products (no F is ever formed);
///   2. scale the step to the trust region: beta = sqrt(2 maxKl / s^T F s);
///   3. backtrack theta - beta s, beta *= ratio, until the loss improves and KL &lt;= maxKl.
/// The step is generic over the objective so that MAML-TRPO reuses it with post-adaptation losses.
/// </summary>
public static class TrpoStep
{
    /// <param name="parameters">Leaf parameters, updated in place.</param>
    /// <param name="objective">The surrogate loss (to minimise) and the mean KL(old || current) at the current parameters, with their graphs.</param>
    /// <param name="evaluate">
    /// The same two numbers at the current parameters without a graph (for the line search); by default the
    /// objective's values under no_grad.
    /// </param>
    /// <param name="config">Trust region, conjugate-gradient and line-search settings.</param>
    /// <param name="klHessianVectorProduct">
    /// Optional: a cheaper exact product with the KL's Hessian at the old parameters (without damping);
    /// by default the product is taken by double backpropagation through the objective's KL.
    /// </param>
    public static TrpoStepResult Apply(ParameterSet parameters, Func<(Tensor Loss, Tensor Kl)> objective, Func<(double Loss, double Kl)>? evaluate, TrpoConfig config,
        Func<Tensor, Tensor>? klHessianVectorProduct = null)
    {
        using var scope = NewDisposeScope();
        evaluate ??= () => ValuesOf(objective);
        double lossBefore;
        Tensor g;
        Func<Tensor, Tensor> fvp;
        if (klHessianVectorProduct is null)
        {
            // The product differentiates through the KL's graph, which shares the loss's: keep both.
            var (oldLoss, oldKl) = objective();
            lossBefore = CheckedLoss(oldLoss);
            g = Flat(autograd.grad([oldLoss], parameters.Values, retain_graph: true));
            fvp = Curvature.HessianVectorProduct(oldKl, parameters, config.CgDamping);
        }
        else
        {
            // A supplied product builds its own graphs: free the objective's (MAML's second-order one, the
            // largest) before it does, keeping only the gradient.
            using (var objectiveScope = NewDisposeScope())
            {
                var (oldLoss, _) = objective();
                lossBefore = CheckedLoss(oldLoss);
                g = Flat(autograd.grad([oldLoss], parameters.Values)).MoveToOuterDisposeScope();
            }
            fvp = v => klHessianVectorProduct(v) + config.CgDamping * v;
        }
        return Step(parameters, lossBefore, g, fvp, evaluate, config);
    }

    /// <summary>
    /// Steps 1-3 from the surrogate's value and flat gradient at the current parameters and a product with the
    /// KL's Hessian (damping included): for callers that take the gradient and the products in chunks of a large
    /// batch (RL2's trials), so that no graph over the whole batch is ever held.
    /// </summary>
    public static TrpoStepResult Step(ParameterSet parameters, double lossBefore, Tensor g, Func<Tensor, Tensor> fvp, Func<(double Loss, double Kl)> evaluate, TrpoConfig config)
    {
        using var scope = NewDisposeScope();
        var stepDir = Curvature.ConjugateGradient(fvp, g, config.CgIters);
        double shs = 0.5 * stepDir.dot(fvp(stepDir)).item<float>();
        if (!(shs > 0)) return new TrpoStepResult(lossBefore, lossBefore, 0, 0, false); // flat or indefinite: no step
        var step = stepDir / Math.Sqrt(shs / config.MaxKl);

        var oldParams = parameters.Flatten().detach().clone();
        double stepSize = 1;
        for (int i = 0; i < config.LsMaxSteps; i++, stepSize *= config.LsBacktrackRatio)
        {
            parameters.CopyFrom(parameters.Unflatten(oldParams - stepSize * step));
            var (newLoss, newKl) = evaluate();
            if (newLoss < lossBefore && newKl <= config.MaxKl)
                return new TrpoStepResult(lossBefore, newLoss, newKl, i + 1, true);
        }
        parameters.CopyFrom(parameters.Unflatten(oldParams));
        return new TrpoStepResult(lossBefore, lossBefore, 0, config.LsMaxSteps, false);
    }

    static (double Loss, double Kl) ValuesOf(Func<(Tensor Loss, Tensor Kl)> objective)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (loss, kl) = objective();
        return (loss.item<float>(), kl.item<float>());
    }

    static double CheckedLoss(Tensor loss)
    {
        double value = loss.item<float>();
        return Losses.Finite(value, "the TRPO surrogate loss");
    }

    public static Tensor Flat(IEnumerable<Tensor> tensors) => cat(tensors.Select(t => t.reshape(-1)).ToList(), 0);
}

/// <summary>TRPO on one task: surrogate E[pi(a|s)/pi_old(a|s) A] with the linear feature baseline (GAE).</summary>
public sealed class Trpo(Policy policy, TrpoConfig config, CommonConfig common) : PolicyOptimizer(policy)
{
    public override IReadOnlyDictionary<string, double> Update(EpisodeBatch batch)
    {
        using var scope = NewDisposeScope();
        var adv = EpisodeBatch.AsTensor(LinearBaselineAdvantages(batch, common.Gamma, common.GaeLambda), batch);
        var obs = batch.ObservationsTensor();
        var actions = batch.ActionsTensor();
        var mask = batch.MaskTensor();
        IActionDistribution oldPi;
        Tensor oldLogp;
        using (no_grad())
        {
            oldPi = Policy.Distribution(obs).Detach();
            oldLogp = oldPi.LogProb(actions).detach();
        }
        (Tensor Loss, Tensor Kl) Objective()
        {
            return Losses.TrustRegionObjective(Policy.Distribution(obs), oldPi, actions, oldLogp, adv, mask);
        }
        var r = TrpoStep.Apply(Policy.Parameters, Objective, evaluate: null, config);
        return new Dictionary<string, double>
        {
            ["loss_before"] = r.LossBefore, ["loss_after"] = r.LossAfter, ["kl"] = r.Kl,
            ["ls_steps"] = r.LineSearchSteps, ["accepted"] = r.Accepted ? 1 : 0,
        };
    }
}
