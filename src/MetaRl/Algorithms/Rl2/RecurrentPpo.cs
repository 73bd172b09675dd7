using static TorchSharp.torch;

namespace MetaRl.Algorithms.Rl2;

/// <summary>
/// PPO over whole trials (RL2's PPO): the clipped objective over minibatches of trials, backpropagating through
/// time over each; the value loss shares the GRU (or trains the value GRU). With descriptors the task-inference
/// loss joins it: the squared error of the task head's prediction at every step, so the gradient shapes the
/// policy's memory into an estimate of the task. A minibatch larger than chunk-steps is passed in chunks of
/// trials whose gradients add up to the minibatch's, so memory is bounded whatever the batch size.
/// </summary>
public sealed class RecurrentPpo(ITrialAgent agent, ITrialPpoConfig config, optim.Optimizer optimizer, Rng rng)
{

    /// <summary>One update from a batch of trials; <paramref name="descriptors"/> (the tasks' standardised parameters [1, B, D]) add the task-inference loss; <paramref name="targets"/> gives the advantages (normalised) and value targets from the value head's outputs.</summary>
    public Dictionary<string, double> Update(TrialBatch batch, Tensor? descriptors, Func<TrialBatch, Tensor, (Tensor Advantages, Tensor Returns)> targets)
    {
        var inputs = batch.InputsTensor();
        var actions = batch.ActionsTensor();
        var mask = batch.MaskTensor();
        Tensor oldLogp, adv, returns;
        using (no_grad())
        {
            var (pi, values, _) = agent.ForwardTrials(inputs);
            oldLogp = pi.LogProb(actions);
            (adv, returns) = targets(batch, values);
        }

        int trials = batch.Trials, size = Math.Max(1, trials / config.Minibatches);
        int chunk = Rl2Config.TrialsPerChunk(config.ChunkSteps, batch.Length);
        var order = new long[trials];
        double policyLoss = 0, valueLoss = 0, entropy = 0, clipFraction = 0, taskLoss = 0;
        int updates = 0;
        for (int epoch = 0; epoch < config.Epochs; epoch++)
        {
            for (int i = 0; i < trials; i++) order[i] = i;
            rng.Shuffle(order.AsSpan());
            for (int start = 0; start + size <= trials; start += size)
            {
                using var inner = NewDisposeScope();
                optimizer.zero_grad();
                var minibatch = order.AsSpan(start, size).ToArray();
                var steps = mask.index_select(1, tensor(minibatch)).sum(); // every chunk's mean is over the minibatch's steps
                for (int c = 0; c < size; c += chunk)
                {
                    using var chunkScope = NewDisposeScope();
                    var mb = tensor(minibatch.AsSpan(c, Math.Min(chunk, size - c)).ToArray());
                    var m = mask.index_select(1, mb);
                    Tensor Mean(Tensor x) => (x * m).sum() / steps;
                    var (pi, values, hiddens) = agent.ForwardTrials(inputs.index_select(1, mb));
                    var ratio = (pi.LogProb(actions.index_select(1, mb)) - oldLogp.index_select(1, mb)).exp();
                    var lp = -Mean(Losses.ClippedSurrogate(ratio, adv.index_select(1, mb), config.Clip));
                    var lv = Mean((values - returns.index_select(1, mb)).pow(2));
                    var h = Mean(pi.Entropy());
                    var loss = lp + config.VfCoef * lv - config.EntCoef * h;
                    if (config.UniformCoef > 0) loss = loss + config.UniformCoef * Mean(((Categorical)pi).KlFromUniform());
                    if (descriptors is not null)
                    {
                        var lt = Mean((agent.TaskPrediction(hiddens) - descriptors.index_select(1, mb)).pow(2).mean([-1]));
                        taskLoss += Losses.Finite(lt.item<float>(), "the task-inference loss");
                        loss = loss + config.TaskCoef * lt;
                    }
                    policyLoss += Losses.Finite(lp.item<float>(), "the trial PPO policy loss");
                    valueLoss += Losses.Finite(lv.item<float>(), "the trial value loss");
                    entropy += h.item<float>();
                    clipFraction += Mean(((ratio - 1).abs() > config.Clip).to(float32)).item<float>();
                    loss.backward();
                }
                updates++;
                nn.utils.clip_grad_norm_(agent.Parameters.AsParameters(), config.MaxGradNorm);
                optimizer.step();
            }
        }
        var stats = new Dictionary<string, double>
        {
            ["policy_loss"] = policyLoss / updates, ["value_loss"] = valueLoss / updates,
            ["entropy"] = entropy / updates, ["clip_fraction"] = clipFraction / updates,
        };
        if (descriptors is not null) stats["task_loss"] = taskLoss / updates; // 1: no better than the prior's mean
        return stats;
    }
}
