
namespace MetaRl.Envs.GridWorld;

/// <summary>An unknown goal cell on a Size x Size grid.</summary>
public sealed record GridTask(int GoalX, int GoalY, int Size = 5)
{
    public override string ToString() => $"GridGoal({GoalX}, {GoalY}) on {Size}x{Size}";
}

/// <summary>
/// variBAD's grid world (gridworld.py): start at cell (0, 0); actions stay, up, right, down, left, clipped
/// at the walls; reward +1 on the goal cell and -0.1 elsewhere, after the move; 15 steps. The observation
/// is the agent's (x, y) cell; the goal is never observed.
/// </summary>
public sealed class GridWorldEnv(GridTask task, int maxEpisodeSteps = 15) : ITaskEnv<GridTask>
{
    public const int Stay = 0, Up = 1, Right = 2, Down = 3, Left = 4;
    int _x, _y, _t;

    public GridTask Task { get; set; } = task;
    public (int X, int Y) Cell => (_x, _y);
    public Space ObservationSpace => Box.Uniform(2, 0, Task.Size - 1);
    public Space ActionSpace { get; } = new Discrete(5);
    public int MaxEpisodeSteps => maxEpisodeSteps;

    public void Reset(int? seed, Span<float> observation)
    {
        _x = 0; _y = 0; _t = 0;
        observation[0] = 0; observation[1] = 0;
    }

    public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        int a = EnvChecks.DiscreteAction(action, 5);
        int last = Task.Size - 1;
        switch (a)
        {
            case Up: _y = Math.Min(_y + 1, last); break;
            case Right: _x = Math.Min(_x + 1, last); break;
            case Down: _y = Math.Max(_y - 1, 0); break;
            case Left: _x = Math.Max(_x - 1, 0); break;
        }
        _t++;
        observation[0] = _x; observation[1] = _y;
        bool atGoal = _x == Task.GoalX && _y == Task.GoalY;
        return new StepResult(atGoal ? 1f : -0.1f, Terminated: false, Truncated: _t >= maxEpisodeSteps, Success: atGoal);
    }
}

/// <summary>
/// Goals uniform over the 21 cells of the 5x5 grid other than the start and its three neighbours
/// (variBAD). Out of distribution: a 7x7 grid with the goal outside the 5x5 corner the agent trained on.
/// </summary>
public sealed class GridWorldDistribution(int maxEpisodeSteps = 15) : TaskDistribution<GridTask>, Algorithms.VariBad.ICellStates
{
    public const int Size = 5, OodSize = 7;
    public override string Name => "gridworld";
    public override string Description => "5x5 grid, unknown goal cell (21 candidates), +1 at goal / -0.1 elsewhere, 15 steps (variBAD)";
    public override Space ObservationSpace { get; } = Box.Uniform(2, 0, OodSize - 1);
    public override Space ActionSpace { get; } = new Discrete(5);
    public override int MaxEpisodeSteps => maxEpisodeSteps;

    /// <summary>The 21 goal cells of the training distribution.</summary>
    public static IReadOnlyList<GridTask> TrainGoals { get; } =
        (from x in Enumerable.Range(0, Size) from y in Enumerable.Range(0, Size) where x > 1 || y > 1 select new GridTask(x, y)).ToList();

    static IReadOnlyList<GridTask> OodGoals { get; } =
        (from x in Enumerable.Range(0, OodSize) from y in Enumerable.Range(0, OodSize) where x >= Size || y >= Size select new GridTask(x, y, OodSize)).ToList();

    public override IReadOnlyList<GridTask> Sample(int n, Rng rng)
    {
        CheckCount(n);
        return Enumerable.Range(0, n).Select(_ => TrainGoals[rng.NextInt(TrainGoals.Count)]).ToList();
    }

    public override IReadOnlyList<GridTask> SampleOutOfDistribution(int n, Rng rng)
    {
        CheckCount(n);
        return Enumerable.Range(0, n).Select(_ => OodGoals[rng.NextInt(OodGoals.Count)]).ToList();
    }

    public override ITaskEnv<GridTask> CreateEnv(GridTask task, Rng rng) => new GridWorldEnv(task, maxEpisodeSteps);

    /// <summary>Cells of the largest grid (the 7x7 of the OOD split), x-major: what variBAD's reward decoder has a head for.</summary>
    public int Cells => OodSize * OodSize;
    public int CellIndex(ReadOnlySpan<float> observation) => (int)observation[0] * OodSize + (int)observation[1];
}
