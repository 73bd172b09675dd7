using System.Runtime.CompilerServices;
using MetaRl.Algorithms.Rl2;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.InContext;

/// <summary>
/// The in-context learner's agent: RL2's agent with its GRU replaced by a causal transformer over the trial's history.
/// Its input at step t is RL2's, x_t = [o_t, previous action, previous reward, previous done]; instead of folding the
/// history into a hidden state it attends to it (the last <c>context-episodes</c> episodes and the current one).
/// A linear policy head and a linear value head read the final features: of the same transformer (shared), or the
/// value head a second transformer of its own (separate), as RL2's value GRU. An optional task-inference head, as RL2's.
/// </summary>
public sealed class TransformerAgent : ITrialAgent
{
    public TransformerAgent(int observationSize, Space actionSpace, IclConfig config, int maxEpisodeSteps, Rng rng, double initStd = 1.0, int taskDescriptorSize = 0)
    {
        ObservationSize = observationSize;
        ActionSpace = actionSpace;
        ActionSize = actionSpace is Discrete ? 1 : actionSpace.FlatSize;
        InputSize = TrialInput.Size(observationSize, actionSpace);
        _doneIndex = TrialInput.DoneIndex(observationSize, actionSpace);
        using var scope = NewDisposeScope(); // the initial values are temporaries: ParameterSet.Leaves copies them
        int d = config.ModelSize, outputs = actionSpace is Discrete n ? n.N : actionSpace.FlatSize;
        List<(string, Tensor)> Trunk(string prefix) => CausalTransformer.Init(prefix, InputSize, d, config.Layers, config.Heads, maxEpisodeSteps, rng.Split(), config.AttentionSink);
        var items = Trunk("policy.");
        // A small head starts the policy near uniform (discrete) or its Gaussian mean near 0 (as RL2's GRU policy).
        items.AddRange(Mlp.Init("head.", [d, outputs], rng.Split(), lastLayerScale: 0.01));
        if (actionSpace is Box box) items.Add(("log_std", full(box.Dim, Math.Log(initStd))));
        bool separate = config.ValueNetwork == Rl2ValueNetwork.Separate;
        if (separate) items.AddRange(Trunk("value_trunk."));
        items.AddRange(Mlp.Init("value.", [d, 1], rng.Split()));
        if (taskDescriptorSize > 0) items.AddRange(Mlp.Init("task.", [d, taskDescriptorSize], rng.Split()));
        Parameters = ParameterSet.Leaves(items);
        Policy = new CausalTransformer(Parameters, "policy.", config.Layers, config.Heads, config.ContextEpisodes);
        ValueTrunk = separate ? new CausalTransformer(Parameters, "value_trunk.", config.Layers, config.Heads, config.ContextEpisodes) : null;
        _hasTaskHead = taskDescriptorSize > 0;
    }

    readonly int _doneIndex;
    readonly bool _hasTaskHead;

    public int ObservationSize { get; }
    public Space ActionSpace { get; }
    public int ActionSize { get; }
    public int InputSize { get; }
    public ParameterSet Parameters { get; }
    /// <summary>The transformer the policy head (and a shared value head) reads.</summary>
    public CausalTransformer Policy { get; }
    /// <summary>The value head's own transformer, or null when it reads the policy's features.</summary>
    public CausalTransformer? ValueTrunk { get; }

    public IActionDistribution Head(Tensor features)
    {
        var o = Mlp.Forward(features, Parameters, "head.", 1, Activation.Tanh);
        return ActionSpace is Discrete ? new Categorical(o) : new DiagGaussian(o, Parameters["log_std"]);
    }

    Tensor Values(Tensor features) => Mlp.Forward(features, Parameters, "value.", 1, Activation.Tanh).squeeze(-1);

    public (IActionDistribution Policy, Tensor Values, Tensor Hiddens) ForwardTrials(Tensor inputs)
    {
        int steps = (int)inputs.shape[0], trials = (int)inputs.shape[1];
        var (episode, position) = CausalTransformer.EpisodesOf(inputs.data<float>().ToArray(), steps, trials, InputSize, _doneIndex);
        var features = Policy.Forward(inputs, episode, position);
        var values = Values(ValueTrunk is null ? features : ValueTrunk.Forward(inputs, episode, position));
        return (Head(features), values, features);
    }

    public Tensor TaskPrediction(Tensor hiddens) => _hasTaskHead
        ? Mlp.Forward(hiddens, Parameters, "task.", 1, Activation.Tanh)
        : throw new InvalidOperationException("this agent has no task-inference head");

    public IRolloutAgent Rollout(bool deterministic) => new TransformerRollout(this, deterministic);

    /// <summary>The agent as the collector drives it: each step encodes x_t, runs the policy transformer one step on its key-value cache and samples.</summary>
    sealed class TransformerRollout(TransformerAgent agent, bool deterministic) : IRolloutAgent
    {
        public int ObservationSize => agent.ObservationSize;
        public int ActionSize => agent.ActionSize;
        public int RecordSize => agent.InputSize;
        public object? InitialState(int envs) => new CausalTransformer.Cache(envs, agent.Policy.Layers);

        [MethodImpl(MethodImplOptions.AggressiveOptimization)] // the collector's hot path (see Collector.RunEpisodes)
        public object? Act(in StepView step, float[] records, float[] actions, object? state, Rng rng)
        {
            int obsSize = ObservationSize, actSize = ActionSize, inSize = RecordSize, count = step.Count;
            for (int b = 0; b < count; b++)
                if (step.Alive[b])
                    TrialInput.Encode(agent.ActionSpace, step.Observations.Slice(b * obsSize, obsSize), step.PreviousActions.Slice(b * actSize, actSize),
                        step.PreviousRewards[b], step.PreviousDone[b], step.FirstStep[b], records.AsSpan(b * inSize, inSize));
            using var _ = no_grad();
            using var scope = NewDisposeScope(); // the step's intermediates go now; the cache's tensors are detached from it
            var x = tensor(records.AsSpan(0, count * inSize).ToArray(), [count, inSize]);
            var features = agent.Policy.Step(x, step.PreviousDone, step.FirstStep, (CausalTransformer.Cache)state!);
            ActionSampling.Write(agent.Head(features), agent.ActionSpace, count, actions, rng, deterministic);
            return state;
        }

        // A run that starts afresh (a first step) attends only to itself: CausalTransformer.Step marks its start.
        public void Release(object? state) => (state as CausalTransformer.Cache)?.Dispose();
    }
}
