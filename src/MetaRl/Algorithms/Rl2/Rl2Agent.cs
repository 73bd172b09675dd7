using System.Runtime.CompilerServices;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.Rl2;

/// <summary>
/// The RL2 agent (Duan et al. 2016, Section 2.2 and Figure 1): a GRU whose input at step t is
///   x_t = [o_t, one-hot(a_{t-1}), r_{t-1}, d_{t-1}]
/// (observation, previous action, previous reward, and whether the previous step ended an episode), and
/// whose hidden state is kept across the episodes of a trial, so it carries what the agent has learned
/// about the task. A linear policy head reads the hidden state; a linear value head reads either the same
/// hidden state (shared) or that of a second GRU over the same inputs (separate, as rllab's recurrent
/// baseline and the pytorch_rl2 reproduction), so that fitting values does not reshape the policy's memory.
/// With <c>taskDescriptorSize</c> &gt; 0 a third linear head, used only in meta-training, reads the policy's
/// hidden state and predicts the task's parameters (see Rl2Config.TaskCoef).
/// </summary>
public sealed class Rl2Agent : ITrialAgent
{
    public Rl2Agent(int observationSize, Space actionSpace, int hiddenSize, Rng rng, bool separateValueGru = false, GruCell cell = GruCell.Standard, double initStd = 1.0,
        int taskDescriptorSize = 0)
    {
        ObservationSize = observationSize;
        ActionSpace = actionSpace;
        ActionSize = actionSpace is Discrete ? 1 : actionSpace.FlatSize;
        InputSize = TrialInput.Size(observationSize, actionSpace);
        Policy = new GruPolicy(InputSize, actionSpace, hiddenSize, rng.Split(), initStd, cell);
        var head = ParameterSet.Leaves(Mlp.Init("value.", [hiddenSize, 1], rng.Split()));
        if (separateValueGru)
        {
            ValueGru = new GruPolicy(InputSize, actionSpace, hiddenSize, rng.Split(), cell: cell); // its action head is never used
            var gru = ValueGru.Parameters.Names.Where(n => n.StartsWith("gru.", StringComparison.Ordinal));
            Value = new ParameterSet([.. head.Names.Zip(head.Values), .. gru.Select(n => ("value_" + n, ValueGru.Parameters[n]))]);
        }
        else Value = head;
        // Drawn after the others, so that an agent without it starts from the same weights as before it existed.
        if (taskDescriptorSize > 0) TaskHead = ParameterSet.Leaves(Mlp.Init("task.", [hiddenSize, taskDescriptorSize], rng.Split()));
        Parameters = new ParameterSet([.. Policy.Parameters.Names.Zip(Policy.Parameters.Values), .. Value.Names.Zip(Value.Values),
            .. TaskHead is null ? [] : TaskHead.Names.Zip(TaskHead.Values)]);
    }

    public int ObservationSize { get; }
    public Space ActionSpace { get; }
    /// <summary>Floats per action in env form: 1 (the index) for a discrete action.</summary>
    public int ActionSize { get; }
    public int InputSize { get; }
    public int HiddenSize => Policy.HiddenSize;
    /// <summary>The GRU and the policy head.</summary>
    public GruPolicy Policy { get; }
    /// <summary>The value head, and the value GRU's weights (as "value_gru.*") when it has its own.</summary>
    public ParameterSet Value { get; }
    /// <summary>The value function's own GRU, or null when the value head reads the policy's hidden state.</summary>
    public GruPolicy? ValueGru { get; }
    /// <summary>The task-inference head (meta-training only), or null.</summary>
    public ParameterSet? TaskHead { get; }
    /// <summary>All leaves (the same tensors as Policy's, Value's and TaskHead's), for saving and for a joint optimiser.</summary>
    public ParameterSet Parameters { get; }

    /// <summary>Writes x_t for one trial into <paramref name="input"/> (see <see cref="TrialInput.Encode"/>).</summary>
    public void Encode(ReadOnlySpan<float> observation, ReadOnlySpan<float> previousAction, float previousReward, bool previousDone, bool firstStep, Span<float> input) =>
        TrialInput.Encode(ActionSpace, observation, previousAction, previousReward, previousDone, firstStep, input);

    /// <summary>The fused layer-norm GRUs' buffers PPO's passes run in (see <see cref="ForwardFused"/>); null: autograd's op-by-op recurrence.</summary>
    public FusedLayerNormGru.Workspace? Workspace { get; set; }

    public (IActionDistribution Policy, Tensor Values, Tensor Hiddens) ForwardTrials(Tensor inputs) => ForwardFused(inputs, Workspace);

    public IRolloutAgent Rollout(bool deterministic) => new Rl2Rollout(this, deterministic);

    /// <summary>Action distributions [T, B] and values [T, B] for inputs [T, B, in] of trials that start at t = 0.</summary>
    public (IActionDistribution Policy, Tensor Values) Forward(Tensor inputs)
    {
        var (pi, values, _) = ForwardWithHiddens(inputs);
        return (pi, values);
    }

    /// <summary>As <see cref="Forward"/>, also giving the policy's hidden states [T, B, H].</summary>
    (IActionDistribution Policy, Tensor Values, Tensor Hiddens) ForwardWithHiddens(Tensor inputs)
    {
        int trials = (int)inputs.shape[1];
        if (ValueGru is not null && Policy.CellKind == GruCell.LayerNorm)
        {
            // Both layer-normalised GRUs in one recurrence: each step's ops run once for both (0.81 of the time of running them apart).
            var both = GruPolicy.LayerNormHiddens([Policy.Parameters, ValueGru.Parameters], inputs, zeros(2, trials, HiddenSize, dtype: inputs.dtype), HiddenSize);
            return (Policy.Head(both[0]), Values(both[1]), both[0]);
        }
        var h = Policy.Hiddens(inputs, Policy.InitialState(trials));
        return (Policy.Head(h), Values(ValueGru is null ? h : ValueHiddens(inputs)), h);
    }

    /// <summary>
    /// As <see cref="Forward"/>, for PPO's update: given a <paramref name="workspace"/>, the layer-normalised cell's
    /// GRUs (where <see cref="FusedLayerNormGru.Supports"/>) run fused in it, one autograd node for the whole
    /// recurrence; otherwise (no workspace: fused-gru off) autograd records it op by op. The loss's backward does the rest either way.
    /// </summary>
    public (IActionDistribution Policy, Tensor Values, Tensor Hiddens) ForwardFused(Tensor inputs, FusedLayerNormGru.Workspace? workspace)
    {
        ParameterSet[] cells = ValueGru is null ? [Policy.Parameters] : [Policy.Parameters, ValueGru.Parameters];
        if (workspace is null || Policy.CellKind != GruCell.LayerNorm || !FusedLayerNormGru.Supports(inputs, cells.Length, HiddenSize))
            return ForwardWithHiddens(inputs);
        var hiddens = new FusedLayerNormGru(cells, inputs, HiddenSize, workspace).Hiddens;
        var policy = hiddens[0];
        return (Policy.Head(policy), Values(ValueGru is null ? policy : hiddens[1]), policy);
    }

    /// <summary>The hidden states [T, B, H] the value head reads: the value GRU's, or the policy's when shared.</summary>
    public Tensor ValueHiddens(Tensor inputs)
    {
        var gru = ValueGru ?? Policy;
        return gru.Hiddens(inputs, gru.InitialState((int)inputs.shape[1]));
    }

    public Tensor Values(Tensor hiddens) => Mlp.Forward(hiddens, Value, "value.", 1, Activation.Tanh).squeeze(-1);

    /// <summary>The task-inference head's prediction [T, B, D] of the task's standardised parameters from the policy's hidden states.</summary>
    public Tensor TaskPrediction(Tensor hiddens) => Mlp.Forward(hiddens, TaskHead ?? throw new InvalidOperationException("this agent has no task-inference head"), "task.", 1, Activation.Tanh);

    /// <summary>The RL2 agent as a collector's agent: it encodes (observation, previous action, reward, done) and steps its GRU; the state is the hidden state.</summary>
    sealed class Rl2Rollout(Rl2Agent agent, bool deterministic) : IRolloutAgent
    {
        public int ObservationSize => agent.ObservationSize;
        public int ActionSize => agent.ActionSize;
        public int RecordSize => agent.InputSize;
        public object? InitialState(int envs) => agent.Policy.InitialState(envs);

        [MethodImpl(MethodImplOptions.AggressiveOptimization)] // the collector's hot path (see Collector.RunEpisodes)
        public object? Act(in StepView step, float[] records, float[] actions, object? state, Rng rng)
        {
            int obsSize = ObservationSize, actSize = ActionSize, inSize = RecordSize;
            for (int b = 0; b < step.Count; b++)
                if (step.Alive[b])
                    agent.Encode(step.Observations.Slice(b * obsSize, obsSize), step.PreviousActions.Slice(b * actSize, actSize),
                        step.PreviousRewards[b], step.PreviousDone[b], step.FirstStep[b], records.AsSpan(b * inSize, inSize));
            var hidden = (Tensor)state!;
            var next = agent.Policy.Act(records, step.Count, hidden, actions, rng, deterministic: deterministic);
            hidden.Dispose();
            return next;
        }

        public void ResetState(object? state, int env)
        {
            using var _ = no_grad();
            using var row = ((Tensor)state!)[env];
            row.zero_();
        }

        public void Release(object? state) => (state as Tensor)?.Dispose();
    }
}
