using MetaRl.Algorithms.SingleTask;
using MetaRl.Baselines;
using MetaRl.Envs.Suites;
using static TorchSharp.torch;

namespace MetaRl.Algorithms.MultiTask;

/// <summary>Settings of every multi-task learner: how tasks are told apart, combined and sampled.</summary>
public sealed class MultiTaskConfig
{
    [Key("conditioning", "how one network serves the tasks: one-hot id or a learned embedding appended to the observation, a head per task, or independent networks (the single-task baseline)")] public Conditioning Conditioning { get; set; } = Conditioning.OneHot;
    [Key("embedding-size", "floats of the learned task embedding (conditioning: embedding)", Min = 1)] public int EmbeddingSize { get; set; } = 8;
    [Key("gradient", "how the tasks' gradients of the shared weights combine: their sum, PCGrad's projections of conflicting ones, or GradNorm's learned task weights")] public GradientCombination Gradient { get; set; } = GradientCombination.Sum;
    [Key("task-sampling", "episodes of each task in a batch: uniform, proportional to the task's data share, more for tasks with a high loss, or more for tasks whose return stopped rising")] public TaskSampling TaskSampling { get; set; } = TaskSampling.Uniform;
    [Key("task-weights", "a loss weight per task, in the suite's order (empty: all 1)", Min = 0)] public double[] TaskWeights { get; set; } = [];
    [Key("episodes-per-task", "episodes of each task per iteration at weight 1", Min = 1)] public int EpisodesPerTask { get; set; } = 10;
    [Key("gradnorm-alpha", "GradNorm's asymmetry: how strongly slow tasks get larger gradients (0 equalises the norms; the paper: 1.5, any 0 < alpha < 3 helped)", Min = 0, Max = 3)] public double GradNormAlpha { get; set; } = 1.5;
    [Key("gradnorm-lr", "Adam learning rate of GradNorm's task weights (the paper: 0.025)", Min = 0, MinExclusive = true)] public double GradNormLr { get; set; } = 0.025;
    [Key("conflict-every", "iterations between measurements of the tasks' gradient cosines on a minibatch (0: never, unless PCGrad or GradNorm measure them anyway)", Min = 0)] public int ConflictEvery { get; set; } = 1;
    [Key("progress-window", "iterations over which task-sampling: progress compares a task's return", Min = 2)] public int ProgressWindow { get; set; } = 10;
}

public enum GradientCombination { Sum, Pcgrad, Gradnorm }

public enum TaskSampling { Uniform, Proportional, Loss, Progress }

/// <summary>
/// A policy for every task of a suite: a policy network over the observation and the task's identity
/// (<see cref="TaskInput"/>), whose weights are shared across tasks or per task as the conditioning says
/// (<see cref="TaskParameters"/>).
/// </summary>
public sealed class MultiTaskPolicy
{
    public MultiTaskPolicy(TaskSuite suite, Conditioning conditioning, int embeddingSize, CommonConfig common, Rng rng)
    {
        Suite = suite;
        Input = new TaskInput(conditioning, suite.TaskCount, embeddingSize, rng);
        Network = PolicyFactory.ForSpaces(Box.Uniform(suite.ObservationSpace.FlatSize + Input.Size, float.NegativeInfinity, float.PositiveInfinity), suite.ActionSpace, common.HiddenSizes, rng.Split(), common.Nonlinearity, common.InitStd);
        Parameters = new TaskParameters(Network.Parameters, PerTask(conditioning, Network.Parameters, Prefix(Network), "log_std"), suite.TaskCount);
    }

    /// <summary>A multi-task policy over a given network (SAC's tanh-Gaussian actor) that reads the observation and <paramref name="input"/>'s task identity.</summary>
    public MultiTaskPolicy(TaskSuite suite, Policy network, TaskInput input)
    {
        Suite = suite; Input = input; Network = network;
        if (network.ObservationSize != suite.ObservationSpace.FlatSize + input.Size)
            throw new ArgumentException($"the network reads {network.ObservationSize} floats; the observation and task identity are {suite.ObservationSpace.FlatSize + input.Size}", nameof(network));
        Parameters = new TaskParameters(network.Parameters, PerTask(input.Conditioning, network.Parameters, Prefix(network), "log_std"), suite.TaskCount);
    }

    static string Prefix(Policy network) =>
        new[] { "mean.", "logits.", "pi." }.FirstOrDefault(p => network.Parameters.Names.Contains(p + "0.weight")) ?? throw new ArgumentException("not an MLP policy of this library", nameof(network));

    /// <summary>A reparameterised action sample and its log-density for every task's observations [T, B, obs] (a tanh-Gaussian network).</summary>
    public (Tensor Action, Tensor LogProb) Sample(Tensor observations, Tensor noise, ParameterSet view) =>
        ((TanhGaussianPolicy)Network).Sample(Input.Append(observations), noise, view);

    public TaskSuite Suite { get; }
    public int Tasks => Suite.TaskCount;
    public int ObservationSize => Suite.ObservationSpace.FlatSize;
    /// <summary>The network over observation and task identity (its own leaves are the shared weights).</summary>
    public Policy Network { get; }
    public TaskInput Input { get; }
    public TaskParameters Parameters { get; }

    /// <summary>Every leaf the optimizer steps: the network's (shared and per task) and the task embedding.</summary>
    public IEnumerable<TorchSharp.Modules.Parameter> Leaves() => Parameters.Leaves.AsParameters().Concat(Input.Embedding is { } e ? [(TorchSharp.Modules.Parameter)e] : []);

    /// <summary>The action distribution of every task's observations [T, M, obs] with the given per-task view.</summary>
    public IActionDistribution Distribution(Tensor observations, ParameterSet view) => Network.Distribution(Input.Append(observations), view);

    internal static Func<string, bool> PerTask(Conditioning conditioning, ParameterSet p, string prefix, params string[] headExtras) => conditioning switch
    {
        Conditioning.MultiHead => TaskParameters.LastLayerOf(p, prefix, headExtras),
        Conditioning.Independent => _ => true,
        _ => _ => false,
    };
}

/// <summary>A state-value network for every task, conditioned as the policy is.</summary>
public sealed class MultiTaskValue
{
    public MultiTaskValue(MultiTaskPolicy policy, CommonConfig common, Rng rng)
    {
        Input = policy.Input.Conditioning == Conditioning.Embedding
            ? new TaskInput(Conditioning.Embedding, policy.Tasks, policy.Input.Size, rng) // its own embedding: the critic's loss trains it
            : policy.Input;
        Network = new ValueNetwork(policy.ObservationSize + Input.Size, common.HiddenSizes, rng.Split(), common.Nonlinearity);
        Parameters = new TaskParameters(Network.Parameters, MultiTaskPolicy.PerTask(policy.Input.Conditioning, Network.Parameters, ValueNetwork.Prefix), policy.Tasks);
    }

    public ValueNetwork Network { get; }
    public TaskInput Input { get; }
    public TaskParameters Parameters { get; }
    public IEnumerable<TorchSharp.Modules.Parameter> Leaves() => Parameters.Leaves.AsParameters().Concat(Input.Embedding is { } e ? [(TorchSharp.Modules.Parameter)e] : []);

    /// <summary>V of every task's observations [T, M, obs]: [T, M].</summary>
    public Tensor Forward(Tensor observations, ParameterSet view) => Network.Forward(Input.Append(observations), view);

    /// <summary>V of task t's observations (rows of the observation size), without gradients.</summary>
    public float[] Predict(int t, ReadOnlySpan<float> observations, int rows)
    {
        if (rows == 0) return [];
        int obs = observations.Length / rows, input = obs + Input.Size;
        var x = new float[rows * input];
        for (int r = 0; r < rows; r++)
        {
            observations.Slice(r * obs, obs).CopyTo(x.AsSpan(r * input));
            Input.Write(t, x.AsSpan(r * input + obs, Input.Size));
        }
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return Network.Forward(tensor(x, [rows, input]), Parameters.ForTask(t)).data<float>().ToArray();
    }
}

/// <summary>The multi-task policy as a collector's agent: envs are grouped by task (task-major), each group acts with its task's network and identity.</summary>
internal sealed class MultiTaskAgent(MultiTaskPolicy policy, int[] envTask, bool deterministic) : IRolloutAgent
{
    float[] _inputs = [], _actions = [];

    public int ObservationSize => policy.ObservationSize;
    public int ActionSize => policy.Network.ActionSize;
    public int RecordSize => policy.ObservationSize;
    public object? InitialState(int envs) => null;

    public object? Act(in StepView step, float[] records, float[] actions, object? state, Rng rng)
    {
        int obs = policy.ObservationSize, input = obs + policy.Input.Size, act = ActionSize, n = step.Count;
        step.Observations.CopyTo(records);
        if (_inputs.Length < n * input) { _inputs = new float[n * input]; _actions = new float[n * act]; }
        for (int start = 0; start < n;)
        {
            int t = envTask[start], end = start;
            while (end < n && envTask[end] == t) end++;
            int count = end - start;
            for (int e = 0; e < count; e++)
            {
                step.Observations.Slice((start + e) * obs, obs).CopyTo(_inputs.AsSpan(e * input));
                policy.Input.Write(t, _inputs.AsSpan(e * input + obs, policy.Input.Size));
            }
            policy.Network.Act(_inputs, count, _actions, rng, policy.Parameters.ForTask(t), deterministic);
            _actions.AsSpan(0, count * act).CopyTo(actions.AsSpan(start * act));
            start = end;
        }
        return null;
    }
}
