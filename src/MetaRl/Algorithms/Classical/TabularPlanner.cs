namespace MetaRl.Algorithms.Classical;

/// <summary>
/// The value of taking <paramref name="action"/> in <paramref name="state"/> given the values of the next
/// states (for the steps left after this one); lets one planner serve plain, optimistic and extended models.
/// </summary>
public delegate double Backup(int state, int action, ReadOnlySpan<double> nextValues);

/// <summary>
/// Finite-horizon value iteration. Q is laid out as [step, state, action] with step the step within the
/// episode (0..horizon-1), so an agent at step t reads Q[t]; Q[t] looks horizon - t steps ahead.
/// </summary>
public static class TabularPlanner
{
    /// <summary>Q[step, s, a] = backup(s, a, V[step + 1]) with V[horizon] = 0 and V[t, s] = max_a Q[t, s, a].</summary>
    public static double[] Plan(int states, int actions, int horizon, Backup backup, double[]? q = null)
    {
        if (states < 1 || actions < 1 || horizon < 1) throw new ArgumentOutOfRangeException(nameof(horizon), "states, actions and horizon must be >= 1");
        int sa = states * actions;
        if (q is null || q.Length != horizon * sa) q = new double[horizon * sa];
        Span<double> next = stackalloc double[states];
        next.Clear();
        for (int t = horizon - 1; t >= 0; t--)
        {
            var qt = q.AsSpan(t * sa, sa);
            for (int s = 0; s < states; s++)
                for (int a = 0; a < actions; a++)
                    qt[s * actions + a] = backup(s, a, next);
            for (int s = 0; s < states; s++)
            {
                double best = double.NegativeInfinity;
                for (int a = 0; a < actions; a++) best = Math.Max(best, qt[s * actions + a]);
                next[s] = best;
            }
        }
        return q;
    }

    /// <summary>
    /// Plans on a fixed model: transitions[(s * actions + a) * states + s'] (rows sum to 1) and
    /// rewards[s * actions + a] (the same layout as <see cref="MetaRl.Envs.TabularMdp.MdpTask"/>).
    /// </summary>
    public static double[] Plan(int states, int actions, int horizon, double[] transitions, double[] rewards, double[]? q = null)
    {
        if (transitions.Length != states * actions * states) throw new ArgumentException($"expected {states * actions * states} transition probabilities", nameof(transitions));
        if (rewards.Length != states * actions) throw new ArgumentException($"expected {states * actions} rewards", nameof(rewards));
        return Plan(states, actions, horizon, (s, a, v) => rewards[s * actions + a] + Dot(transitions.AsSpan((s * actions + a) * states, states), v), q);
    }

    /// <summary>max_a Q[step, s, a].</summary>
    public static double Value(double[] q, int states, int actions, int step, int state) =>
        Max(q.AsSpan((step * states + state) * actions, actions));

    /// <summary>The Q-values of the actions in <paramref name="state"/> at <paramref name="step"/>.</summary>
    public static ReadOnlySpan<double> ActionValues(double[] q, int states, int actions, int step, int state) =>
        q.AsSpan((step * states + state) * actions, actions);

    internal static double Dot(ReadOnlySpan<double> p, ReadOnlySpan<double> v)
    {
        double sum = 0;
        for (int i = 0; i < p.Length; i++) sum += p[i] * v[i];
        return sum;
    }

    static double Max(ReadOnlySpan<double> xs)
    {
        double best = double.NegativeInfinity;
        foreach (var x in xs) best = Math.Max(best, x);
        return best;
    }
}
