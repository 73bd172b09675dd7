using System.Collections.Concurrent;
using System.Numerics;

namespace MetaRl.Envs.GridWorld;

/// <summary>
/// Exact reference returns for variBAD's 5x5 grid world (<see cref="GridWorldEnv"/> with 15 steps, goals uniform over
/// <see cref="GridWorldDistribution.TrainGoals"/>, every episode of a trial restarting at (0, 0) with the same goal), to
/// be shown beside what a learner reaches: the return when the goal is known, the return of the Bayes-optimal agent
/// episode by episode, and the return of a uniformly random policy. Everything is computed here, exactly, and cached.
/// </summary>
/// <remarks>
/// Rewards are counted in tenths (+10 on the goal, -1 elsewhere), so every sum below is an integer and the search's
/// comparisons are exact; the results are divided by 10 and by the 21 goals only at the end.
/// </remarks>
public static class GridWorldReference
{
    /// <summary>Side of the grid and steps per episode of the setting these references are for.</summary>
    public const int Size = 5, EpisodeSteps = 15;

    const int Cells = Size * Size;
    const int HitTenths = 10, MissTenths = -1;

    // The 21 candidate goals: bit i of a candidate set is TrainGoals[i]; CandidateBit maps a cell (x * Size + y) to its bit or -1.
    static readonly (int X, int Y)[] Candidates = GridWorldDistribution.TrainGoals.Select(g => (g.GoalX, g.GoalY)).ToArray();
    static readonly int[] CandidateBit = BuildCandidateBits();
    static readonly int AllCandidates = (1 << Candidates.Length) - 1;

    static readonly Lazy<double> GoalKnownMean = new(() =>
        GridWorldDistribution.TrainGoals.Average(GoalKnownReturn));
    static readonly Lazy<double> UniformRandom = new(ComputeUniformRandomEpisodeReturn);
    static readonly ConcurrentDictionary<int, Lazy<BayesSolution>> Bayes = new();

    /// <summary>
    /// The return of one 15-step episode when the goal is known: walk a shortest path to it, then stay on it.
    /// With d = GoalX + GoalY the Manhattan distance from the start (0, 0), the first d - 1 steps pay -0.1 and the
    /// remaining 15 - d + 1 steps (the arrival and every step after it) pay +1: -0.1 (d - 1) + (16 - d).
    /// A goal on the start cell pays +1 on all 15 steps; a goal more than 15 steps away pays -0.1 on all of them.
    /// </summary>
    public static double GoalKnownReturn(GridTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        return GoalKnownTenths(task.GoalX + task.GoalY) / 10.0;
    }

    /// <summary>
    /// <see cref="GoalKnownReturn"/> averaged over the 21 goals of <see cref="GridWorldDistribution.TrainGoals"/>
    /// (uniform): the most any agent can earn per episode, in any episode of a trial.
    /// </summary>
    public static double GoalKnownMeanReturn() => GoalKnownMean.Value;

    /// <summary>
    /// The expected undiscounted return of each episode 1..<paramref name="episodes"/> of a trial under the
    /// Bayes-optimal policy: the policy that maximises the expected total undiscounted return of the whole trial,
    /// with the goal uniform over the 21 cells of <see cref="GridWorldDistribution.TrainGoals"/>, the same in every
    /// episode, and never observed except through the reward.
    /// </summary>
    /// <remarks>
    /// <para>The belief is the set S of candidate cells not yet ruled out, uniform over S. Visiting a candidate cell
    /// and getting -0.1 rules it out; getting +1 reveals the goal, after which the agent stays on it for the rest of the
    /// episode and, in every later episode, walks a shortest path to it and stays (<see cref="GoalKnownReturn"/>). Until the
    /// goal is found nothing random happens, so an episode's search is one fixed 15-step path from (0, 0), and the
    /// policy is one search path per episode, each chosen from the set left by the paths before it.</para>
    /// <para>It is computed exactly (this is the trial-optimal policy, not a per-episode greedy one): a recursion
    /// V(k, t, cell, S) over the episode k, the step t, the agent's cell and the remaining candidate set S (a bitmask),
    /// summed over the goals in S. A step onto a candidate g at time t pays 16.1 - 1.1 t in this episode (the -0.1 steps
    /// before it and the +1 steps from it on) plus the goal-known return in each later episode, and removes g from S;
    /// at t = 15 every goal still in S has paid -1.5 and the next episode starts from (0, 0) with that S. The maximum
    /// over all 5^15 action sequences of each episode is found by an exhaustive depth-first search with memoisation on
    /// (episodes left, t, cell, S), which is all that a path's future depends on, and fail-soft branch and bound:
    /// a move is skipped when an upper bound on its value cannot beat the best found so far. The bound lets each goal in
    /// S be found at the earliest time it could be (distinct times, one new cell per step, greedily by distance) and
    /// every goal not found earn the goal-known return in each later episode; bounds are only used to skip, never as
    /// values, so the result is exact. It takes milliseconds: with 4 episodes the first episode's search earns exactly
    /// what a single-episode search can (4.0) while leaving a set the second episode sweeps with every cell at its
    /// shortest distance, so episodes 2..4 earn the goal-known mean, the most any policy can (every episode is at its
    /// own ceiling, so no other optimal policy splits the total differently). Ties between equally good moves go to the
    /// lowest action index (stay, up, right, down, left), so the policy and its paths are deterministic.</para>
    /// </remarks>
    /// <returns>A new array; element j is the expected return of episode j + 1, averaged over the 21 goals.</returns>
    public static double[] BayesOptimalReturns(int episodes = 4) => (double[])Solve(episodes).Returns.Clone();

    /// <summary>
    /// The Bayes-optimal rest of a trial whose earlier episodes left the goals <paramref name="remaining"/> unfound, so
    /// that the belief is uniform over them: the expected return of each of the <paramref name="episodes"/> episodes left,
    /// averaged over those goals. It measures a learner's later episodes against what its own first episode made
    /// possible: with the cells a search path left unchecked, the best any policy can do from there (the same exact
    /// search as <see cref="BayesOptimalReturns"/>, started from that set; with all 21 goals the two are equal).
    /// </summary>
    public static double[] BayesOptimalReturnsFrom(IEnumerable<GridTask> remaining, int episodes)
    {
        ArgumentNullException.ThrowIfNull(remaining);
        ArgumentOutOfRangeException.ThrowIfLessThan(episodes, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(episodes, 8);
        int set = 0;
        foreach (var g in remaining)
        {
            int bit = g.GoalX is >= 0 and < Size && g.GoalY is >= 0 and < Size ? CandidateBit[g.GoalX * Size + g.GoalY] : -1;
            if (bit < 0) throw new ArgumentException($"({g.GoalX}, {g.GoalY}) is not one of the 21 candidate goals", nameof(remaining));
            set |= 1 << bit;
        }
        if (set == 0) throw new ArgumentException("no goal remains: every later episode earns the goal-known return", nameof(remaining));
        return new BayesSolver().Run(episodes, set).Returns;
    }

    /// <summary>The Bayes-optimal first episode's search path (for a trial of <paramref name="episodes"/> episodes):
    /// the cell after each of the 15 steps, followed until the goal is found (then the agent stays on it).</summary>
    public static IReadOnlyList<(int X, int Y)> BayesOptimalFirstSearchPath(int episodes = 4) => Solve(episodes).Paths[0];

    /// <summary>The Bayes-optimal search path of every episode of a trial: element j is the cell after each of the 15
    /// steps of episode j + 1, followed when the goal was not found in episodes 1..j (otherwise the agent walks to the goal).
    /// Steps after the last candidate is ruled out or found are stays; they are never taken with the goal still unknown.</summary>
    public static IReadOnlyList<IReadOnlyList<(int X, int Y)>> BayesOptimalSearchPaths(int episodes = 4) => Solve(episodes).Paths;

    /// <summary>
    /// The exact expected return of one 15-step episode under the uniformly random policy (each of the 5 actions with
    /// probability 1/5, walls clipping), averaged over the 21 goals. Computed by dynamic programming over the
    /// distribution of the agent's cell at each step: the expected reward of a step is P(on goal) - 0.1 (1 - P(on goal)).
    /// A random policy ignores what it has seen, so this is the return of every episode of a trial.
    /// </summary>
    public static double UniformRandomEpisodeReturn() => UniformRandom.Value;

    /// <summary>Goal-known return in tenths for a goal d steps from the start.</summary>
    static int GoalKnownTenths(int d) =>
        d == 0 ? EpisodeSteps * HitTenths
        : d > EpisodeSteps ? EpisodeSteps * MissTenths
        : (d - 1) * MissTenths + (EpisodeSteps - d + 1) * HitTenths;

    /// <summary>This episode's return in tenths when the goal is first reached after step t (1-based).</summary>
    static int FoundAtTenths(int t) => (t - 1) * MissTenths + (EpisodeSteps - t + 1) * HitTenths;

    static int[] BuildCandidateBits()
    {
        var bits = new int[Cells];
        Array.Fill(bits, -1);
        for (int i = 0; i < Candidates.Length; i++) bits[Candidates[i].X * Size + Candidates[i].Y] = i;
        return bits;
    }

    static int Move(int cell, int action)
    {
        int x = cell / Size, y = cell % Size, last = Size - 1;
        switch (action)
        {
            case GridWorldEnv.Up: y = Math.Min(y + 1, last); break;
            case GridWorldEnv.Right: x = Math.Min(x + 1, last); break;
            case GridWorldEnv.Down: y = Math.Max(y - 1, 0); break;
            case GridWorldEnv.Left: x = Math.Max(x - 1, 0); break;
        }
        return x * Size + y;
    }

    static double ComputeUniformRandomEpisodeReturn()
    {
        double total = 0;
        foreach (var (gx, gy) in Candidates)
        {
            int goal = gx * Size + gy;
            var p = new double[Cells];
            var next = new double[Cells];
            p[0] = 1;
            double ret = 0;
            for (int t = 0; t < EpisodeSteps; t++)
            {
                Array.Clear(next);
                for (int c = 0; c < Cells; c++)
                    if (p[c] != 0)
                        for (int a = 0; a < 5; a++) next[Move(c, a)] += p[c] / 5;
                (p, next) = (next, p);
                ret += p[goal] * 1.0 + (1 - p[goal]) * -0.1;
            }
            total += ret;
        }
        return total / Candidates.Length;
    }

    static BayesSolution Solve(int episodes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(episodes, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(episodes, 8);
        return Bayes.GetOrAdd(episodes, k => new Lazy<BayesSolution>(() => new BayesSolver().Run(k))).Value;
    }

    sealed record BayesSolution(double[] Returns, IReadOnlyList<IReadOnlyList<(int X, int Y)>> Paths);

    /// <summary>The exhaustive search behind <see cref="BayesOptimalReturns"/>; one per number of episodes, then dropped.</summary>
    sealed class BayesSolver
    {
        // Distinct cells one action leads to from each cell, in action order (a clipped move that equals an earlier one is dropped).
        static readonly int[][] NextCells = Enumerable.Range(0, Cells)
            .Select(c => Enumerable.Range(0, 5).Select(a => Move(c, a)).Distinct().ToArray()).ToArray();
        static readonly int[,] Distance = BuildDistances();
        static readonly int[] GoalKnownOf = Candidates.Select(g => GoalKnownTenths(g.X + g.Y)).ToArray();
        static readonly int[] CellOfBit = Candidates.Select(g => g.X * Size + g.Y).ToArray();

        // Value (tenths, summed over the goals of the set) and whether it is exact or only an upper bound.
        readonly Dictionary<long, (int Value, bool Exact)> _memo = new();

        static int[,] BuildDistances()
        {
            var d = new int[Cells, Cells];
            for (int a = 0; a < Cells; a++)
                for (int b = 0; b < Cells; b++)
                    d[a, b] = Math.Abs(a / Size - b / Size) + Math.Abs(a % Size - b % Size);
            return d;
        }

        public BayesSolution Run(int episodes) => Run(episodes, AllCandidates);

        /// <summary>The trial from the belief uniform over the candidate set <paramref name="set"/>.</summary>
        public BayesSolution Run(int episodes, int set)
        {
            var paths = new List<IReadOnlyList<(int X, int Y)>>();
            // perEpisode[j]: sum over the goals of episode j's return, in tenths, under the policy the search found.
            var perEpisode = new long[episodes];
            int start = set, goals = BitOperations.PopCount((uint)set);
            int root = Search(episodes, 0, 0, set, int.MinValue);
            long check = 0;
            var firstFound = new (int Episode, int Step)?[Candidates.Length];
            for (int k = 0; k < episodes; k++)
            {
                var path = ExtractPath(episodes - k, set);
                paths.Add(path.Select(c => (c / Size, c % Size)).ToArray());
                for (int t = 0; t < path.Length; t++)
                {
                    int bit = CandidateBit[path[t]];
                    if (bit >= 0 && (set >> bit & 1) != 0) { firstFound[bit] = (k, t + 1); set &= ~(1 << bit); }
                }
            }
            for (int g = 0; g < Candidates.Length; g++)
            {
                if ((start >> g & 1) == 0) continue; // ruled out before this trial's rest began
                for (int k = 0; k < episodes; k++)
                {
                    int r = firstFound[g] is not { } f || k < f.Episode ? EpisodeSteps * MissTenths
                        : k == f.Episode ? FoundAtTenths(f.Step) : GoalKnownOf[g];
                    perEpisode[k] += r;
                    check += r;
                }
            }
            if (check != root) throw new InvalidOperationException($"Bayes-optimal search inconsistent: {check} != {root}");
            return new BayesSolution(perEpisode.Select(s => s / 10.0 / goals).ToArray(), paths);
        }

        /// <summary>The search path of an episode with <paramref name="left"/> episodes left (this one included) starting from candidate set <paramref name="set"/>.</summary>
        int[] ExtractPath(int left, int set)
        {
            var path = new int[EpisodeSteps];
            int cell = 0;
            for (int t = 0; t < EpisodeSteps; t++)
            {
                int value = Search(left, t, cell, set, int.MinValue);
                int chosen = -1;
                foreach (int n in NextCells[cell])
                {
                    var (reward, nextSet) = StepOnto(left, t, n, set);
                    if (reward + Search(left, t + 1, n, nextSet, value - reward - 1) == value) { chosen = n; break; }
                }
                if (chosen < 0) throw new InvalidOperationException("no move attains the Bayes-optimal value");
                path[t] = chosen;
                (_, set) = StepOnto(left, t, chosen, set);
                cell = chosen;
            }
            return path;
        }

        /// <summary>Reward (tenths, summed over goals) of stepping onto cell <paramref name="n"/> at step t + 1 and the set left.</summary>
        static (int Reward, int Set) StepOnto(int left, int t, int n, int set)
        {
            int bit = CandidateBit[n];
            if (bit < 0 || (set >> bit & 1) == 0) return (0, set);
            return (FoundAtTenths(t + 1) + (left - 1) * GoalKnownOf[bit], set & ~(1 << bit));
        }

        /// <summary>
        /// The best value, summed over the goals in <paramref name="set"/>, of the rest of the trial from the agent on
        /// <paramref name="cell"/> after step <paramref name="t"/> of an episode with <paramref name="left"/> episodes
        /// left (this one included), the goal not yet found. Fail-soft: exact when above <paramref name="alpha"/>,
        /// otherwise an upper bound that is at most alpha.
        /// </summary>
        int Search(int left, int t, int cell, int set, int alpha)
        {
            if (set == 0) return 0;
            if (t == EpisodeSteps)
            {
                int missed = BitOperations.PopCount((uint)set) * EpisodeSteps * MissTenths;
                if (left == 1) return missed;
                int rest = Search(left - 1, 0, 0, set, alpha == int.MinValue ? alpha : alpha - missed);
                return missed + rest;
            }
            if ((set & (set - 1)) == 0)
            {
                // One candidate left: the goal is known.
                int bit = BitOperations.TrailingZeroCount(set);
                int arrive = t + Distance[cell, CellOfBit[bit]];
                int now = arrive <= EpisodeSteps ? FoundAtTenths(arrive) : EpisodeSteps * MissTenths;
                return now + (left - 1) * GoalKnownOf[bit];
            }
            long key = (uint)set | (long)cell << 21 | (long)t << 26 | (long)left << 31;
            if (_memo.TryGetValue(key, out var memo) && (memo.Exact || memo.Value <= alpha)) return memo.Value;
            int bound = UpperBound(left, t, cell, set);
            if (bound <= alpha) return bound;

            Span<int> next = stackalloc int[5], reward = stackalloc int[5], nextSet = stackalloc int[5], ub = stackalloc int[5];
            var cells = NextCells[cell];
            int m = cells.Length;
            for (int i = 0; i < m; i++)
            {
                next[i] = cells[i];
                (reward[i], nextSet[i]) = StepOnto(left, t, cells[i], set);
                ub[i] = reward[i] + UpperBound(left, t + 1, cells[i], nextSet[i]);
            }
            // Most promising first (stable, so ties keep action order).
            Span<int> order = stackalloc int[5];
            for (int i = 0; i < m; i++)
            {
                int j = i;
                while (j > 0 && ub[order[j - 1]] < ub[i]) { order[j] = order[j - 1]; j--; }
                order[j] = i;
            }
            int best = int.MinValue;
            foreach (int i in order[..m])
            {
                int floor = Math.Max(alpha, best);
                if (ub[i] <= floor)
                {
                    best = Math.Max(best, ub[i]); // everything left is at most this: an upper bound when all fail
                    break;
                }
                int v = reward[i] + Search(left, t + 1, next[i], nextSet[i], floor == int.MinValue ? floor : floor - reward[i]);
                if (v > best) best = v;
            }
            _memo[key] = (best, best > alpha);
            return best;
        }

        /// <summary>
        /// An upper bound on <see cref="Search"/>'s value: every goal not found pays -1.5 now and the goal-known return in
        /// each later episode; the goals found this episode are found at distinct steps no earlier than their distance
        /// allows, taken greedily nearest first, each gaining 17.6 - 1.1 t over not being found.
        /// </summary>
        static int UpperBound(int left, int t, int cell, int set)
        {
            if (set == 0) return 0;
            Span<int> countAt = stackalloc int[2 * Size];
            int baseValue = 0;
            for (int s = set; s != 0; s &= s - 1)
            {
                int bit = BitOperations.TrailingZeroCount(s);
                baseValue += EpisodeSteps * MissTenths + (left - 1) * GoalKnownOf[bit];
                countAt[Distance[cell, CellOfBit[bit]]]++;
            }
            int gain = 0, time = t;
            for (int d = 1; d < countAt.Length; d++)
                for (int c = 0; c < countAt[d]; c++)
                {
                    time = Math.Max(time + 1, t + d);
                    if (time > EpisodeSteps) return baseValue + gain;
                    gain += FoundAtTenths(time) - EpisodeSteps * MissTenths;
                }
            return baseValue + gain;
        }
    }
}
