using MetaRl.Core;
using MetaRl.Envs;
using MetaRl.Envs.GridWorld;

namespace MetaRl.Tests.Envs;

public class GridWorldReferenceTests
{
    static IReadOnlyList<GridTask> Goals => GridWorldDistribution.TrainGoals;

    /// <summary>The env's float reward read back exactly: +1 on the goal, -0.1 elsewhere (summing -0.1f in doubles would drift).</summary>
    static double Exact(StepResult r)
    {
        Assert.True(r.Reward == 1f || r.Reward == -0.1f, $"unexpected reward {r.Reward}");
        return r.Reward == 1f ? 1.0 : -0.1;
    }

    static (int X, int Y) Moved((int X, int Y) c, int action) => action switch
    {
        GridWorldEnv.Up => (c.X, Math.Min(c.Y + 1, 4)),
        GridWorldEnv.Right => (Math.Min(c.X + 1, 4), c.Y),
        GridWorldEnv.Down => (c.X, Math.Max(c.Y - 1, 0)),
        GridWorldEnv.Left => (Math.Max(c.X - 1, 0), c.Y),
        _ => c,
    };

    /// <summary>The action that takes the agent from one cell to the next cell of a path (stay first).</summary>
    static int ActionTo((int X, int Y) from, (int X, int Y) to)
    {
        for (int a = 0; a < 5; a++)
            if (Moved(from, a) == to) return a;
        throw new InvalidOperationException($"{to} is not one step from {from}");
    }

    /// <summary>A shortest path to a known goal (right, then up), then stay.</summary>
    static int Towards((int X, int Y) at, (int X, int Y) goal) =>
        at.X < goal.X ? GridWorldEnv.Right : at.X > goal.X ? GridWorldEnv.Left
        : at.Y < goal.Y ? GridWorldEnv.Up : at.Y > goal.Y ? GridWorldEnv.Down : GridWorldEnv.Stay;

    /// <summary>
    /// Runs GridWorldEnv for every one of the 21 goals over a trial: in episode k the agent follows searchPaths[k] (the cell
    /// after each step) until it gets +1, and once it has, it walks straight to the goal and stays there, in this and every
    /// later episode. Returns each episode's return averaged over the goals.
    /// </summary>
    static double[] SimulateTrials(IReadOnlyList<IReadOnlyList<(int X, int Y)>> searchPaths)
    {
        int episodes = searchPaths.Count;
        var sums = new double[episodes];
        var obs = new float[2];
        foreach (var goal in Goals)
        {
            var env = new GridWorldEnv(goal);
            (int X, int Y)? known = null;
            for (int k = 0; k < episodes; k++)
            {
                env.Reset(null, obs);
                double ret = 0;
                StepResult r = default;
                for (int t = 0; !r.Done; t++)
                {
                    int action = known is { } g ? Towards(env.Cell, g) : ActionTo(env.Cell, searchPaths[k][t]);
                    r = env.Step([action], obs);
                    ret += Exact(r);
                    if (r.Reward == 1f) known = env.Cell;
                }
                sums[k] += ret;
            }
        }
        return sums.Select(s => s / Goals.Count).ToArray();
    }

    [Theory]
    [InlineData(2, 0, 13.9)] // d = 2: one step at -0.1, then 14 steps at +1
    [InlineData(0, 2, 13.9)]
    [InlineData(2, 2, 11.7)] // d = 4: -0.3 + 12
    [InlineData(4, 4, 7.3)]  // d = 8: -0.7 + 8
    [InlineData(1, 4, 10.6)] // d = 5: -0.4 + 11
    public void GoalKnownReturnMatchesHandComputedCases(int x, int y, double expected) =>
        Assert.Equal(expected, GridWorldReference.GoalKnownReturn(new GridTask(x, y)), 12);

    [Fact]
    public void GoalKnownReturnIsWhatAShortestPathThenStayEarnsInTheEnv()
    {
        var obs = new float[2];
        foreach (var goal in Goals)
        {
            var env = new GridWorldEnv(goal);
            env.Reset(null, obs);
            double ret = 0;
            StepResult r = default;
            while (!r.Done)
            {
                r = env.Step([Towards(env.Cell, (goal.GoalX, goal.GoalY))], obs);
                ret += Exact(r);
            }
            Assert.Equal(ret, GridWorldReference.GoalKnownReturn(goal), 9);
        }
        // Over the 21 goals the distances from (0, 0) sum to 96: (21 * 16.1 - 1.1 * 96) / 21.
        Assert.Equal((21 * 16.1 - 1.1 * 96) / 21, GridWorldReference.GoalKnownMeanReturn(), 12);
        Assert.Equal(Goals.Average(GridWorldReference.GoalKnownReturn), GridWorldReference.GoalKnownMeanReturn(), 12);
    }

    [Fact]
    public void BayesOptimalReturnsLieBetweenRandomAndGoalKnown()
    {
        var bayes = GridWorldReference.BayesOptimalReturns();
        double known = GridWorldReference.GoalKnownMeanReturn(), random = GridWorldReference.UniformRandomEpisodeReturn();
        Assert.Equal(4, bayes.Length);
        Assert.True(bayes[0] < known, $"episode 1: {bayes[0]} vs goal known {known}");
        Assert.True(bayes[0] > random, $"episode 1: {bayes[0]} vs random {random}");
        for (int k = 1; k < 4; k++)
        {
            Assert.True(bayes[k] <= known + 1e-12, $"episode {k + 1}: {bayes[k]} vs goal known {known}");
            Assert.True(bayes[k] > bayes[0], $"episode {k + 1}: {bayes[k]} vs episode 1 {bayes[0]}");
        }
        // The array is a copy: a caller cannot change the cached values.
        bayes[0] = double.NaN;
        Assert.False(double.IsNaN(GridWorldReference.BayesOptimalReturns()[0]));
    }

    [Fact]
    public void SimulatingTheBayesOptimalPathsInTheEnvGivesTheReturns()
    {
        var paths = GridWorldReference.BayesOptimalSearchPaths();
        Assert.Equal(4, paths.Count);
        Assert.All(paths, p => Assert.Equal(15, p.Count));
        Assert.Equal(paths[0], GridWorldReference.BayesOptimalFirstSearchPath());
        var simulated = SimulateTrials(paths);
        var bayes = GridWorldReference.BayesOptimalReturns();
        for (int k = 0; k < 4; k++) Assert.Equal(bayes[k], simulated[k], 9);
    }

    /// <summary>
    /// An independent check on the search's first episode: a plain memoised dynamic program, no bounds, over all 5^15
    /// action sequences of one episode (state: step, cell, candidates not yet visited). Episode 1 can earn no more than
    /// that, and no episode more than the goal-known mean, so the trial total cannot exceed the sum of the two.
    /// </summary>
    [Fact]
    public void BayesOptimalReachesTheUnprunedSingleEpisodeOptimumAndTheGoalKnownCeiling()
    {
        var memo = new Dictionary<long, int>();
        var bitOf = new int[5, 5]; // candidate index of a cell, -1 for the start and its neighbours
        for (int x = 0; x < 5; x++)
            for (int y = 0; y < 5; y++)
                bitOf[x, y] = Goals.ToList().FindIndex(g => g.GoalX == x && g.GoalY == y);
        // Best sum over the goals in `set` of this episode's return, in tenths (+10 on the goal, -1 elsewhere).
        int Best(int t, (int X, int Y) at, int set)
        {
            if (t == 15) return -15 * System.Numerics.BitOperations.PopCount((uint)set);
            long key = (uint)set | (long)(at.X * 5 + at.Y) << 21 | (long)t << 26;
            if (memo.TryGetValue(key, out int v)) return v;
            int best = int.MinValue;
            for (int a = 0; a < 5; a++)
            {
                var n = Moved(at, a);
                int b = bitOf[n.X, n.Y], reward = 0, rest = set;
                if (b >= 0 && (set >> b & 1) != 0) { reward = -t + 10 * (15 - t); rest &= ~(1 << b); } // found at step t + 1
                best = Math.Max(best, reward + Best(t + 1, n, rest));
            }
            return memo[key] = best;
        }
        double singleEpisode = Best(0, (0, 0), (1 << Goals.Count) - 1) / 10.0 / Goals.Count;

        Assert.Equal(singleEpisode, GridWorldReference.BayesOptimalReturns(1)[0], 9);
        var bayes = GridWorldReference.BayesOptimalReturns();
        Assert.Equal(singleEpisode, bayes[0], 9);
        double ceiling = singleEpisode + 3 * GridWorldReference.GoalKnownMeanReturn();
        Assert.True(bayes.Sum() <= ceiling + 1e-9);
        Assert.Equal(ceiling, bayes.Sum(), 9);
    }

    /// <summary>
    /// The rest of a trial from the cells a first episode left, checked by hand: two opposite corners (4 steps from the
    /// start, 8 from each other) are found at steps 4 and 12 of the next episode, 16.1 - 1.1 t each: (11.7 + 2.9) / 2,
    /// and both earn the goal-known 11.7 in the episode after. Cells on one shortest sweep are all found at their own
    /// distance; cells scattered as a learner's perimeter sweep left them cannot be, so that episode falls short.
    /// </summary>
    [Fact]
    public void TheBayesOptimalRestOfATrialFromTheCellsLeftMatchesHandComputedCases()
    {
        var corners = GridWorldReference.BayesOptimalReturnsFrom([new GridTask(4, 0), new GridTask(0, 4)], 2);
        Assert.Equal(7.3, corners[0], 9);
        Assert.Equal(11.7, corners[1], 9);

        GridTask[] sweep = [new(2, 0), new(3, 0), new(4, 0)];
        Assert.Equal((13.9 + 12.8 + 11.7) / 3, GridWorldReference.BayesOptimalReturnsFrom(sweep, 1)[0], 9);

        // The cells variBAD's seed-1 first episode (a perimeter sweep) left unchecked: no one path reaches all at their distance.
        GridTask[] interior = [new(1, 2), new(1, 3), new(2, 2), new(2, 3), new(3, 1), new(3, 2), new(3, 3)];
        double ceiling = interior.Average(GridWorldReference.GoalKnownReturn);
        var rest = GridWorldReference.BayesOptimalReturnsFrom(interior, 3);
        Assert.True(rest[0] < ceiling - 0.5, $"episode 2 {rest[0]} vs goal known {ceiling}");
        Assert.Equal(ceiling, rest[1], 9);

        // From every goal it is the trial's own Bayes-optimal returns; after the Bayes-optimal first episode, the goal-known ones.
        Assert.Equal(GridWorldReference.BayesOptimalReturns(), GridWorldReference.BayesOptimalReturnsFrom(Goals, 4));
        var path = GridWorldReference.BayesOptimalFirstSearchPath();
        var left = Goals.Where(g => !path.Contains((g.GoalX, g.GoalY))).ToArray();
        Assert.Equal(left.Average(GridWorldReference.GoalKnownReturn), GridWorldReference.BayesOptimalReturnsFrom(left, 3)[0], 9);

        var start = Assert.Throws<ArgumentException>(() => GridWorldReference.BayesOptimalReturnsFrom([new GridTask(0, 0)], 1));
        Assert.Contains("(0, 0)", start.Message);
        Assert.Throws<ArgumentException>(() => GridWorldReference.BayesOptimalReturnsFrom([], 1));
    }

    [Fact]
    public void BayesOptimalBeatsFixedSweeps()
    {
        (int, int)[] columns = [(0, 1), (0, 2), (0, 3), (0, 4), (1, 4), (1, 3), (1, 2), (1, 1), (1, 0), (2, 0), (2, 1), (2, 2), (2, 3), (2, 4), (3, 4)];
        (int, int)[] rows = columns.Select(c => (c.Item2, c.Item1)).ToArray();
        (int, int)[] rest = [(1, 0), (2, 0), (3, 0), (3, 1), (3, 2), (3, 3), (3, 4), (4, 4), (4, 3), (4, 2), (4, 1), (4, 0), (4, 0), (4, 0), (4, 0)];
        (int, int)[] restRows = rest.Select(c => (c.Item2, c.Item1)).ToArray();
        (int, int)[][][] strategies =
        [
            [columns, columns, columns, columns],
            [rows, rows, rows, rows],
            [columns, rest, rest, rest],
            [rows, restRows, restRows, restRows],
        ];
        var bayes = GridWorldReference.BayesOptimalReturns();
        foreach (var strategy in strategies)
        {
            var returns = SimulateTrials(strategy.Select(p => (IReadOnlyList<(int X, int Y)>)p.Select(c => (c.Item1, c.Item2)).ToArray()).ToArray());
            Assert.True(bayes.Sum() >= returns.Sum() - 1e-9, $"Bayes {bayes.Sum()} < sweep {returns.Sum()}");
            Assert.True(bayes[0] >= returns[0] - 1e-9, $"Bayes episode 1 {bayes[0]} < sweep {returns[0]}");
        }
    }

    [Fact]
    public void UniformRandomEpisodeReturnMatchesMonteCarlo()
    {
        const int perGoal = 4000;
        var rng = new Rng(1);
        var obs = new float[2];
        double sum = 0, sumSq = 0;
        foreach (var goal in Goals)
        {
            var env = new GridWorldEnv(goal);
            for (int e = 0; e < perGoal; e++)
            {
                env.Reset(null, obs);
                double ret = 0;
                StepResult r = default;
                while (!r.Done)
                {
                    r = env.Step([rng.NextInt(5)], obs);
                    ret += Exact(r);
                }
                sum += ret;
                sumSq += ret * ret;
            }
        }
        int n = perGoal * Goals.Count;
        double mean = sum / n, variance = (sumSq - n * mean * mean) / (n - 1), standardError = Math.Sqrt(variance / n);
        double exact = GridWorldReference.UniformRandomEpisodeReturn();
        // Goals are stratified (each equally often), so the pooled standard error over-estimates the error: 4 of them is safe.
        Assert.True(Math.Abs(mean - exact) < 4 * standardError, $"Monte Carlo {mean} ± {standardError} vs exact {exact}");
        Assert.InRange(exact, -1.5, GridWorldReference.GoalKnownMeanReturn());
    }
}
