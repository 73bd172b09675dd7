using static TorchSharp.torch;

namespace MetaRl.Algorithms.Rl2;

/// <summary>
/// An agent that learns in context over a trial (RL2's GRU, the in-context learner's causal transformer): at step t it
/// reads x_t = [o_t, previous action, previous reward, previous done] and everything before it in the trial, and
/// gives an action distribution and a value. The trial sampler runs it step by step; PPO over whole trials replays it.
/// </summary>
public interface ITrialAgent
{
    int ObservationSize { get; }
    Space ActionSpace { get; }
    /// <summary>Floats per action in env form: 1 (the index) for a discrete action.</summary>
    int ActionSize { get; }
    int InputSize { get; }
    /// <summary>Every trained leaf (for the optimiser, gradient clipping and checkpoints).</summary>
    ParameterSet Parameters { get; }

    /// <summary>Action distributions [T, B], values [T, B] and the features [T, B, H] the heads read, for inputs [T, B, in] of trials from t = 0 (with the graph).</summary>
    (IActionDistribution Policy, Tensor Values, Tensor Hiddens) ForwardTrials(Tensor inputs);

    /// <summary>The task-inference head's prediction [T, B, D] from the features (agents built with a descriptor size only).</summary>
    Tensor TaskPrediction(Tensor hiddens);

    /// <summary>The agent as the collector drives it, one step for every trial at a time (sampling, or the most likely action).</summary>
    IRolloutAgent Rollout(bool deterministic);
}

/// <summary>PPO's settings over whole trials, shared by RL2's and the in-context learner's configs.</summary>
public interface ITrialPpoConfig
{
    int Epochs { get; }
    int Minibatches { get; }
    double Clip { get; }
    double EntCoef { get; }
    double UniformCoef { get; }
    double TaskCoef { get; }
    double VfCoef { get; }
    double MaxGradNorm { get; }
    int ChunkSteps { get; }
}

/// <summary>The input x_t of a trial agent, shared by RL2 and the in-context learner.</summary>
public static class TrialInput
{
    /// <summary>Floats of x_t: the observation, the previous action (one-hot if discrete), reward and done.</summary>
    public static int Size(int observationSize, Space actionSpace) => observationSize + ActionEncoding(actionSpace) + 2;

    static int ActionEncoding(Space actionSpace) => actionSpace is Discrete d ? d.N : actionSpace.FlatSize;

    /// <summary>Index of the previous-done flag within x_t (the in-context learner reads episode boundaries from it).</summary>
    public static int DoneIndex(int observationSize, Space actionSpace) => observationSize + ActionEncoding(actionSpace) + 1;

    /// <summary>
    /// Writes x_t for one trial into <paramref name="input"/>. At the first step of a trial there is no
    /// previous action, reward or episode end: those entries are zero.
    /// </summary>
    public static void Encode(Space actionSpace, ReadOnlySpan<float> observation, ReadOnlySpan<float> previousAction, float previousReward, bool previousDone, bool firstStep, Span<float> input)
    {
        int obs = observation.Length, enc = ActionEncoding(actionSpace);
        observation.CopyTo(input);
        var a = input.Slice(obs, enc);
        a.Clear();
        if (!firstStep)
        {
            if (actionSpace is Discrete) a[(int)previousAction[0]] = 1;
            else previousAction.CopyTo(a);
        }
        input[obs + enc] = firstStep ? 0 : previousReward;
        input[obs + enc + 1] = !firstStep && previousDone ? 1 : 0;
    }
}
