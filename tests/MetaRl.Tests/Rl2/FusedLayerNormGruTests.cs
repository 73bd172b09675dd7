using MetaRl.Configuration;
using MetaRl.Algorithms;
using MetaRl.Algorithms.Rl2;
using MetaRl.Algorithms.SingleTask;
using MetaRl.Envs;
using MetaRl.Envs.TabularMdp;
using MetaRl.Experiments;
using MetaRl.Policies;
using MetaRl.Torch;
using static TorchSharp.torch;

namespace MetaRl.Tests.Rl2;

/// <summary>
/// PPO's passes through RL2's layer-normalised GRUs run in <see cref="FusedLayerNormGru"/>, with a backward pass
/// written by hand: it must give the op-by-op recurrence's outputs and autograd's gradients, and the finite
/// differences of its own outputs.
/// </summary>
public class FusedLayerNormGruTests
{
    public FusedLayerNormGruTests() => TorchNative.EnsureLoaded();

    /// <summary>An agent whose gains, biases and two GRUs are pulled apart, so that a crossed or dropped term shows.</summary>
    static Rl2Agent Agent(int hidden, bool separateValue, int seed = 4)
    {
        var agent = new Rl2Agent(4, new Discrete(3), hidden, new Rng(seed), separateValueGru: separateValue, cell: GruCell.LayerNorm);
        var gen = new TorchSharp.torch.Generator((ulong)seed + 1);
        using (no_grad())
            foreach (var v in agent.Parameters.Values) v.add_(0.3 * randn(v.shape, generator: gen));
        return agent;
    }

    [Theory]
    [InlineData(true)]  // policy and value GRUs fused together (G = 2)
    [InlineData(false)] // one GRU shared by both heads (G = 1)
    public void TheFusedRecurrenceGivesTheOpByOpOutputsAndAutogradsGradients(bool separateValue)
    {
        using var scope = NewDisposeScope();
        var agent = Agent(16, separateValue);
        var gen = new TorchSharp.torch.Generator(7);
        var xs = randn(new long[] { 12, 5, agent.InputSize }, generator: gen);
        var actions = randint(0, 3, new long[] { 12, 5, 1 }, generator: gen);
        var weights = randn(new long[] { 12, 5 }, generator: gen);
        Tensor Loss(IActionDistribution pi, Tensor values) => (pi.LogProb(actions) * weights).sum() + (values * values.flip(0)).sum();
        var names = agent.Parameters.Names.ToList();

        var (pi, values) = agent.Forward(xs);
        var reference = autograd.grad([Loss(pi, values)], names.Select(n => agent.Parameters[n]).ToList());

        using var workspace = new FusedLayerNormGru.Workspace();
        Assert.True(FusedLayerNormGru.Supports(xs, separateValue ? 2 : 1, agent.HiddenSize)); // so ForwardFused runs the fused recurrence
        var (fusedPi, fusedValues, _) = agent.ForwardFused(xs, workspace);
        Assert.True((fusedPi.LogProb(actions) - pi.LogProb(actions)).abs().max().item<float>() < 1e-5);
        Assert.True((fusedValues - values).abs().max().item<float>() < 1e-5);
        foreach (var n in names) agent.Parameters[n].grad?.zero_();
        Loss(fusedPi, fusedValues).backward(); // through the recurrence's autograd node
        for (int i = 0; i < names.Count; i++)
        {
            var grad = agent.Parameters[names[i]].grad;
            Assert.NotNull(grad);
            var scale = reference[i].abs().max().item<float>();
            Assert.True(scale > 0, names[i]);
            var error = (grad! - reference[i]).abs().max().item<float>();
            Assert.True(error <= 1e-4 * Math.Max(1, scale), $"{names[i]}: {error} against a gradient of {scale}");
        }
    }

    [Fact]
    public void TheFusedGradientMatchesFiniteDifferences()
    {
        using var scope = NewDisposeScope();
        var agent = Agent(8, separateValue: false, seed: 9);
        var cells = new[] { agent.Policy.Parameters };
        var gen = new TorchSharp.torch.Generator(10);
        var xs = randn(new long[] { 6, 3, agent.InputSize }, generator: gen);
        var c = randn(new long[] { 1, 6, 3, 8 }, generator: gen);
        double Loss()
        {
            using var inner = NewDisposeScope();
            using var _ = no_grad();
            return (new FusedLayerNormGru(cells, xs, 8).Hiddens * c).sum().item<float>();
        }
        (new FusedLayerNormGru(cells, xs, 8).Hiddens * c).sum().backward();
        const float eps = 1e-2f;
        int checkedEntries = 0;
        foreach (var name in cells[0].Names.Where(n => n.StartsWith("gru.", StringComparison.Ordinal)))
        {
            var p = cells[0][name];
            var flat = p.detach().view(-1);
            var grad = p.grad!.view(-1);
            foreach (long i in new long[] { 0, flat.shape[0] / 2, flat.shape[0] - 1 })
            {
                float original = flat[i].item<float>();
                using (no_grad()) flat[i] = original + eps;
                double up = Loss();
                using (no_grad()) flat[i] = original - eps;
                double down = Loss();
                using (no_grad()) flat[i] = original;
                double numeric = (up - down) / (2 * eps), analytic = grad[i].item<float>();
                Assert.True(Math.Abs(numeric - analytic) <= 2e-2 * Math.Max(1, Math.Abs(numeric)), $"{name}[{i}]: {analytic} against {numeric}");
                checkedEntries++;
            }
        }
        Assert.Equal(30, checkedEntries); // three entries of each of the cell's ten tensors
    }

    /// <summary>
    /// A PPO update through the fused recurrence moves every parameter as the update through autograd's op-by-op
    /// recurrence (fused-gru=false) does: the same gradients, so the same steps up to rounding (Adam's first steps
    /// are nearly the gradient's sign, so an entry whose gradient is near zero may differ; the directions agree).
    /// With task-coef the task-inference loss's gradient reaches the policy's GRU through the fused backward too.
    /// </summary>
    [Theory]
    [InlineData(0.0)]
    [InlineData(0.5)]
    public void APpoUpdateThroughTheFusedRecurrenceMovesEveryParameterAsTheOpByOpOne(double taskCoef)
    {
        var tasks = new RandomMdpDistribution();
        ParameterSet Update(bool fused, out ParameterSet initial)
        {
            var config = new Rl2Config
            {
                Optimizer = Rl2Optimizer.Ppo, GruCell = GruCell.LayerNorm, ValueNetwork = Rl2ValueNetwork.Separate, HiddenSize = 16, EpisodesPerTrial = 2,
                BatchSize = 400, Minibatches = 2, Epochs = 2, FusedGru = fused, TaskCoef = taskCoef,
            };
            Config.Validate(config);
            var learner = new MetaRl.Algorithms.Rl2.Rl2(new TrialSampler(tasks), config, new TrpoConfig(), new CommonConfig { GaeLambda = 0.3, NumBatches = 10 }, new Rng(3));
            initial = learner.Agent.Parameters.DetachedClone();
            learner.Iterate();
            return learner.Agent.Parameters.DetachedClone();
        }
        using var scope = NewDisposeScope();
        var fusedAfter = Update(true, out var fusedBefore);
        var opByOpAfter = Update(false, out var opByOpBefore);
        Assert.Equal(taskCoef > 0, fusedBefore.Names.Contains("task.0.weight"));
        foreach (var name in fusedBefore.Names)
        {
            Assert.True(fusedBefore[name].eq(opByOpBefore[name]).all().item<bool>(), name); // the same start
            var fused = fusedAfter[name] - fusedBefore[name];
            var opByOp = opByOpAfter[name] - opByOpBefore[name];
            Assert.True(fused.abs().max().item<float>() > 0, $"{name} did not move");
            double cosine = (fused * opByOp).sum().item<float>() / (fused.norm().item<float>() * opByOp.norm().item<float>());
            Assert.True(cosine > 0.99, $"{name}: the fused update's direction is {cosine:0.000} of the op-by-op one's");
        }
    }

    [Fact]
    public void AWorkspaceReusedAcrossShapesAndInputsLeavesNothingBehind()
    {
        using var scope = NewDisposeScope();
        var agent = Agent(16, separateValue: true);
        var cells = new[] { agent.Policy.Parameters, agent.ValueGru!.Parameters };
        var gen = new TorchSharp.torch.Generator(11);
        var a = randn(new long[] { 9, 4, agent.InputSize }, generator: gen);
        var b = randn(new long[] { 9, 4, agent.InputSize }, generator: gen);
        var longer = randn(new long[] { 15, 2, agent.InputSize }, generator: gen);
        using var _ = no_grad();
        var fresh = new FusedLayerNormGru(cells, a, 16).Hiddens.clone();
        using var workspace = new FusedLayerNormGru.Workspace();
        new FusedLayerNormGru(cells, b, 16, workspace);
        new FusedLayerNormGru(cells, longer, 16, workspace);
        var again = new FusedLayerNormGru(cells, a, 16, workspace).Hiddens;
        Assert.True(fresh.eq(again).all().item<bool>());
        Assert.True(fresh.abs().max().item<float>() > 0.1);
    }

    [Fact]
    public void HiddenSizesTheVectorsDoNotDivideRunOpByOp()
    {
        using var scope = NewDisposeScope();
        var agent = Agent(6, separateValue: true);
        var xs = randn(new long[] { 5, 2, agent.InputSize }, generator: new TorchSharp.torch.Generator(12));
        Assert.False(FusedLayerNormGru.Supports(xs, 2, 6));
        using var workspace = new FusedLayerNormGru.Workspace();
        var (pi, values, _) = agent.ForwardFused(xs, workspace);
        var (refPi, refValues) = agent.Forward(xs);
        Assert.True(values.eq(refValues).all().item<bool>());
        Assert.True(((Categorical)pi).LogProbs.eq(((Categorical)refPi).LogProbs).all().item<bool>());
        Assert.Throws<ArgumentException>(() => new FusedLayerNormGru([agent.Policy.Parameters], xs, 6));
    }
}
