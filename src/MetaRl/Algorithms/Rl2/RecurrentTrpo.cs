using MetaRl.Algorithms.SingleTask;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.Rl2;

/// <summary>
/// TRPO over whole trials (RL2's outer algorithm in the paper): the policy (GRU and policy head) takes a
/// trust-region step on the batch's surrogate, backpropagating through time over each trial; then the value head
/// is fitted on the new hidden states (a shared head) or trained with its own GRU. A batch of more than
/// chunk-steps steps is passed in chunks of trials: the gradient, every Fisher-vector product of conjugate
/// gradient, the line search and the value fit each sum over chunks, so that no graph over the whole batch is
/// held (the paper's 250,000 steps per update otherwise needed over 13 GB). Each product then runs the chunk's
/// forward pass again, the price of the bound.
/// </summary>
public sealed class RecurrentTrpo(Rl2Agent agent, Rl2Config config, TrpoConfig trpo, optim.Optimizer valueOptimizer)
{
    public Dictionary<string, double> Update(TrialBatch batch, Func<TrialBatch, Tensor, (Tensor Advantages, Tensor Returns)> targets)
    {
        var inputs = batch.InputsTensor();
        var actions = batch.ActionsTensor();
        var mask = batch.MaskTensor();
        int chunk = Rl2Config.TrialsPerChunk(config.ChunkSteps, batch.Length);
        var chunks = Enumerable.Range(0, (batch.Trials + chunk - 1) / chunk)
            .Select(c => new Chunk(c * chunk, Math.Min(chunk, batch.Trials - c * chunk), inputs, actions, mask)).ToList();

        Tensor adv, returns;
        using (no_grad())
        {
            var values = new List<Tensor>();
            foreach (var c in chunks)
            {
                var (pi, v) = agent.Forward(c.Inputs);
                c.OldPi = pi.Detach();
                c.OldLogp = pi.LogProb(c.Actions);
                values.Add(v);
            }
            (adv, returns) = targets(batch, chunks.Count == 1 ? values[0] : cat(values, 1));
        }
        foreach (var c in chunks) { c.Advantages = adv.narrow(1, c.Start, c.Trials); c.Returns = returns.narrow(1, c.Start, c.Trials); }

        var policy = agent.Policy.Parameters;
        var steps = mask.sum();
        var step = chunks.Count == 1
            ? TrpoStep.Apply(policy, () => Objective(chunks[0], steps), evaluate: null, trpo)
            : ChunkedStep(chunks, policy, steps);
        double valueLoss = FitValues(chunks, steps);
        return new Dictionary<string, double>
        {
            ["loss_before"] = step.LossBefore, ["loss_after"] = step.LossAfter, ["kl"] = step.Kl,
            ["ls_steps"] = step.LineSearchSteps, ["value_loss"] = valueLoss,
        };
    }

    /// <summary>The chunk's share of the batch's surrogate loss and mean KL: sums over its steps divided by the batch's step count.</summary>
    (Tensor Loss, Tensor Kl) Objective(Chunk c, Tensor batchSteps)
    {
        var pi = agent.Policy.Head(agent.Policy.Hiddens(c.Inputs, agent.Policy.InitialState(c.Trials)));
        var ratio = Losses.Ratio(pi, c.Actions, c.OldLogp!);
        return (-(ratio * c.Advantages! * c.Mask).sum() / batchSteps, (pi.KlFrom(c.OldPi!) * c.Mask).sum() / batchSteps);
    }

    TrpoStepResult ChunkedStep(List<Chunk> chunks, ParameterSet policy, Tensor batchSteps)
    {
        double lossBefore = 0;
        Tensor g = zeros(policy.NumScalars);
        foreach (var c in chunks)
        {
            using var scope = NewDisposeScope();
            var (loss, _) = Objective(c, batchSteps);
            lossBefore += loss.item<float>();
            g.add_(TrpoStep.Flat(autograd.grad([loss], policy.Values)));
        }
        Losses.Finite(lossBefore, "the TRPO surrogate loss");
        Tensor FisherVector(Tensor v)
        {
            var product = zeros_like(v);
            foreach (var c in chunks)
            {
                using var scope = NewDisposeScope();
                var (_, kl) = Objective(c, batchSteps);
                product.add_(Curvature.HessianVectorProduct(kl, policy)(v)); // this chunk's share of the KL's Hessian times v
            }
            return product + trpo.CgDamping * v;
        }
        (double Loss, double Kl) Evaluate()
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            double loss = 0, kl = 0;
            foreach (var c in chunks)
            {
                var (l, k) = Objective(c, batchSteps);
                loss += l.item<float>(); kl += k.item<float>();
            }
            return (loss, kl);
        }
        return TrpoStep.Step(policy, lossBefore, g, FisherVector, Evaluate, trpo);
    }

    /// <summary>vf-iters Adam steps on the value loss; a shared head reads the new policy's hidden states (fixed), a separate value GRU trains with it.</summary>
    double FitValues(List<Chunk> chunks, Tensor batchSteps)
    {
        if (agent.ValueGru is null)
            using (no_grad())
                foreach (var c in chunks) c.PolicyHiddens = agent.ValueHiddens(c.Inputs);
        double valueLoss = 0;
        for (int i = 0; i < config.VfIters; i++)
        {
            using var inner = NewDisposeScope();
            valueOptimizer.zero_grad();
            valueLoss = 0;
            foreach (var c in chunks)
            {
                using var chunkScope = NewDisposeScope();
                var lv = ((agent.Values(c.PolicyHiddens ?? agent.ValueHiddens(c.Inputs)) - c.Returns!).pow(2) * c.Mask).sum() / batchSteps;
                valueLoss += lv.item<float>();
                lv.backward();
            }
            Losses.Finite(valueLoss, "the RL2 value loss");
            valueOptimizer.step();
        }
        return valueLoss;
    }

    /// <summary>A contiguous range of trials and what the update keeps of it.</summary>
    sealed class Chunk(int start, int trials, Tensor inputs, Tensor actions, Tensor mask)
    {
        public int Start => start;
        public int Trials => trials;
        public Tensor Inputs { get; } = trials == inputs.shape[1] ? inputs : inputs.narrow(1, start, trials);
        public Tensor Actions { get; } = trials == actions.shape[1] ? actions : actions.narrow(1, start, trials);
        public Tensor Mask { get; } = trials == mask.shape[1] ? mask : mask.narrow(1, start, trials);
        public IActionDistribution? OldPi;
        public Tensor? OldLogp, Advantages, Returns, PolicyHiddens;
    }
}
