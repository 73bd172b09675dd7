namespace MetaRl.Algorithms.Classical;

/// <summary>One trial = <c>episodes</c> episodes of <c>episodeLength</c> steps on one tabular MDP, starting in state 0 each episode.</summary>
public abstract class MdpAgent
{
    public abstract string Name { get; }
    /// <summary>Start of a trial: forget everything.</summary>
    public abstract void Reset(int states, int actions, int episodeLength, int episodes);
    /// <summary>Start of an episode: (re)plan here.</summary>
    public abstract void BeginEpisode(Rng rng);
    /// <summary>The action at <paramref name="step"/> (0..episodeLength-1) of the episode.</summary>
    public abstract int Act(int state, int step, Rng rng);
    public abstract void Update(int state, int action, double reward, int nextState);
}

/// <summary>A uniformly random action every step.</summary>
public sealed class RandomMdpAgent : MdpAgent
{
    int _actions;
    public override string Name => "Random";
    public override void Reset(int states, int actions, int episodeLength, int episodes) =>
        _actions = actions >= 1 ? actions : throw new ArgumentOutOfRangeException(nameof(actions), actions, "must be >= 1");
    public override void BeginEpisode(Rng rng) { }
    public override int Act(int state, int step, Rng rng) => rng.NextInt(_actions);
    public override void Update(int state, int action, double reward, int nextState) { }
}

/// <summary>
/// The agents that keep the Bayesian posterior (<see cref="MdpPosterior"/>), plan Q[step, s, a] by
/// finite-horizon value iteration at the start of each episode, and act greedily on it (ties at random).
/// </summary>
public abstract class PlanningMdpAgent : MdpAgent
{
    double[] _q = [];

    protected MdpPosterior Posterior { get; private set; } = new(1, 1);
    protected int EpisodeLength { get; private set; }
    protected int Episodes { get; private set; }
    /// <summary>Steps taken in this trial so far.</summary>
    protected int StepsSoFar { get; private set; }
    protected int States => Posterior.States;
    protected int Actions => Posterior.Actions;

    /// <summary>
    /// Prior mean of the mean rewards (default 1, the task distribution's). Set it to 0 to reproduce RL2's own
    /// baseline runs, whose agents kept TabulaRL's default prior N(0, 1).
    /// </summary>
    public double PriorRewardMean { get; init; } = MdpPosterior.DefaultPriorRewardMean;

    /// <summary>The plan of the current episode.</summary>
    public ReadOnlySpan<double> Q => _q;

    public override void Reset(int states, int actions, int episodeLength, int episodes)
    {
        if (episodeLength < 1) throw new ArgumentOutOfRangeException(nameof(episodeLength), episodeLength, "must be >= 1");
        Posterior = new MdpPosterior(states, actions, PriorRewardMean);
        EpisodeLength = episodeLength;
        Episodes = episodes;
        StepsSoFar = 0;
        _q = [];
        OnReset();
    }

    /// <summary>Allocate per-trial buffers here (Posterior, States, Actions are set).</summary>
    protected virtual void OnReset() { }

    public override void BeginEpisode(Rng rng) => _q = Plan(rng, _q.Length == EpisodeLength * States * Actions ? _q : null);

    /// <summary>Q[step, s, a] for this episode (see <see cref="TabularPlanner"/>); <paramref name="reuse"/> may be written into.</summary>
    protected abstract double[] Plan(Rng rng, double[]? reuse);

    public override int Act(int state, int step, Rng rng)
    {
        if (_q.Length == 0) throw new InvalidOperationException("call BeginEpisode before Act");
        return RandomTies.ArgMax(TabularPlanner.ActionValues(_q, States, Actions, step, state), rng);
    }

    public override void Update(int state, int action, double reward, int nextState)
    {
        Posterior.Observe(state, action, reward, nextState);
        StepsSoFar++;
    }
}

/// <summary>Posterior sampling for RL (Osband, Russo and Van Roy 2013): one posterior MDP per episode, act greedily on it.</summary>
public sealed class Psrl : PlanningMdpAgent
{
    double[] _p = [], _r = [];
    public override string Name => "PSRL";
    protected override void OnReset() { _p = new double[Posterior.ModelSize]; _r = new double[States * Actions]; }

    protected override double[] Plan(Rng rng, double[]? reuse)
    {
        Posterior.SampleModel(rng, _p, _r);
        return TabularPlanner.Plan(States, Actions, EpisodeLength, _p, _r, reuse);
    }
}

/// <summary>
/// Optimistic posterior sampling, as RL2 ran it (the OptimisticPSRL agent of Osband's TabulaRL code, which
/// RL2's Table 2 used): <c>samples</c> posterior MDPs are drawn per episode, each is planned on its own, and
/// the agent acts greedily on the optimistic envelope of their Q-values,
/// Q[t, s, a] = max_j Q_j[t, s, a].
/// With one sample it is PSRL, draw for draw. (Unlike the extended-MDP combination of Agrawal and Jia 2017,
/// the envelope does not let the plan switch samples from one step to the next.)
/// </summary>
public sealed class Opsrl(int samples) : PlanningMdpAgent
{
    double[] _p = [], _r = [], _qSample = [];
    public int Samples { get; } = samples >= 1 ? samples : throw new ArgumentOutOfRangeException(nameof(samples), samples, "must be >= 1");
    public override string Name => $"OPSRL(samples={Samples})";

    protected override void OnReset()
    {
        _p = new double[Posterior.ModelSize];
        _r = new double[States * Actions];
        _qSample = new double[EpisodeLength * States * Actions];
    }

    protected override double[] Plan(Rng rng, double[]? reuse)
    {
        Posterior.SampleModel(rng, _p, _r);
        var q = TabularPlanner.Plan(States, Actions, EpisodeLength, _p, _r, reuse);
        for (int j = 1; j < Samples; j++)
        {
            Posterior.SampleModel(rng, _p, _r);
            TabularPlanner.Plan(States, Actions, EpisodeLength, _p, _r, _qSample);
            for (int i = 0; i < q.Length; i++) q[i] = Math.Max(q[i], _qSample[i]);
        }
        return q;
    }
}

/// <summary>
/// UCRL2 (Jaksch, Ortner and Auer 2010) for a known finite horizon: at the start of each episode, extended
/// value iteration over the steps left, optimistic over
/// <list type="bullet">
/// <item>rewards: r̂(s,a) + scale * sqrt(L / max(1, n)), and</item>
/// <item>transitions: the L1 ball || P(.|s,a) - P̂(.|s,a) ||_1 &lt;= scale * sqrt(2 S L / max(1, n)),</item>
/// </list>
/// where n = n(s, a) visits so far, L = ln(2 S A t) and t is 1 + the steps taken in the trial before this
/// episode (the paper's constants 7/2 and 14 and its confidence delta are absorbed into the tuned
/// <c>scale</c>). r̂ and P̂ are the empirical mean reward and transition frequencies; for a never-tried
/// pair they are the prior means (reward <see cref="PlanningMdpAgent.PriorRewardMean"/>, uniform next
/// state), since our rewards are Gaussian and have no bounded range to be optimistic within. The inner maximisation is the paper's: add half the radius
/// to the best next state (capped at 1) and take the excess off the worst next states in turn.
/// </summary>
public sealed class Ucrl2(double scale) : PlanningMdpAgent
{
    double[] _pHat = [], _rOptimistic = [], _radius = [];
    public double Scale { get; } = scale >= 0 ? scale : throw new ArgumentOutOfRangeException(nameof(scale), scale, "must be >= 0");
    public override string Name => $"UCRL2(scale={Scale})";

    protected override void OnReset()
    {
        _pHat = new double[Posterior.ModelSize];
        _rOptimistic = new double[States * Actions];
        _radius = new double[States * Actions];
    }

    protected override double[] Plan(Rng rng, double[]? reuse)
    {
        double log = Math.Log(2.0 * States * Actions * (StepsSoFar + 1));
        for (int s = 0; s < States; s++)
            for (int a = 0; a < Actions; a++)
            {
                int sa = s * Actions + a, n = Posterior.Visits(s, a);
                double rHat = n > 0 ? Posterior.RewardSum(s, a) / n : Posterior.PriorRewardMean;
                _rOptimistic[sa] = rHat + Scale * Math.Sqrt(log / Math.Max(1, n));
                _radius[sa] = Scale * Math.Sqrt(2.0 * States * log / Math.Max(1, n));
                for (int next = 0; next < States; next++)
                    _pHat[sa * States + next] = n > 0 ? (double)Posterior.TransitionCount(s, a, next) / n : 1.0 / States;
            }
        return TabularPlanner.Plan(States, Actions, EpisodeLength, (s, a, v) =>
        {
            int sa = s * Actions + a;
            return _rOptimistic[sa] + OptimisticExpectation(_pHat.AsSpan(sa * States, States), _radius[sa], v);
        }, reuse);
    }

    /// <summary>
    /// max p . v over distributions p with ||p - pHat||_1 &lt;= radius: move up to radius / 2 of mass onto the
    /// highest-valued state, taken from the lowest-valued states first.
    /// </summary>
    public static double OptimisticExpectation(ReadOnlySpan<double> pHat, double radius, ReadOnlySpan<double> values)
    {
        int n = pHat.Length;
        Span<int> order = stackalloc int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        // Insertion sort by value, highest first (n is small).
        for (int i = 1; i < n; i++)
        {
            int k = order[i], j = i - 1;
            while (j >= 0 && values[order[j]] < values[k]) { order[j + 1] = order[j]; j--; }
            order[j + 1] = k;
        }
        Span<double> p = stackalloc double[n];
        pHat.CopyTo(p);
        int best = order[0];
        p[best] = Math.Min(1.0, pHat[best] + radius / 2);
        double excess = p[best] - pHat[best];
        for (int i = n - 1; i > 0 && excess > 0; i--)
        {
            int worst = order[i];
            double take = Math.Min(p[worst], excess);
            p[worst] -= take;
            excess -= take;
        }
        return TabularPlanner.Dot(p, values);
    }
}

/// <summary>
/// Bayesian exploration bonus (Kolter and Ng 2009): plan on the posterior-mean model with the reward bonus
/// beta / (1 + n(s, a)). Beta = 0 is Greedy.
/// </summary>
public sealed class Beb(double beta) : PlanningMdpAgent
{
    double[] _p = [], _r = [];
    public double Beta { get; } = beta >= 0 ? beta : throw new ArgumentOutOfRangeException(nameof(beta), beta, "must be >= 0");
    public override string Name => $"BEB(beta={Beta})";
    protected override void OnReset() { _p = new double[Posterior.ModelSize]; _r = new double[States * Actions]; }

    protected override double[] Plan(Rng rng, double[]? reuse)
    {
        Posterior.MeanModel(_p, _r);
        for (int s = 0; s < States; s++)
            for (int a = 0; a < Actions; a++) _r[s * Actions + a] += Beta / (1 + Posterior.Visits(s, a));
        return TabularPlanner.Plan(States, Actions, EpisodeLength, _p, _r, reuse);
    }
}

/// <summary>Plans on the posterior-mean model; with probability epsilon a uniform action instead of the planned one.</summary>
public sealed class EpsilonGreedyMdp(double epsilon) : PlanningMdpAgent
{
    double[] _p = [], _r = [];
    public double Epsilon { get; } = epsilon is >= 0 and <= 1 ? epsilon : throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "must be in [0, 1]");
    public override string Name => $"eps-Greedy(eps={Epsilon})";
    protected override void OnReset() { _p = new double[Posterior.ModelSize]; _r = new double[States * Actions]; }

    protected override double[] Plan(Rng rng, double[]? reuse)
    {
        Posterior.MeanModel(_p, _r);
        return TabularPlanner.Plan(States, Actions, EpisodeLength, _p, _r, reuse);
    }

    // No coin is drawn at epsilon = 0, so eps-Greedy(0) makes exactly Greedy's choices for a seed.
    public override int Act(int state, int step, Rng rng) =>
        Epsilon > 0 && rng.NextDouble() < Epsilon ? rng.NextInt(Actions) : base.Act(state, step, rng);
}

/// <summary>Plans on the posterior-mean model and acts greedily on it.</summary>
public sealed class GreedyMdp : PlanningMdpAgent
{
    double[] _p = [], _r = [];
    public override string Name => "Greedy";
    protected override void OnReset() { _p = new double[Posterior.ModelSize]; _r = new double[States * Actions]; }

    protected override double[] Plan(Rng rng, double[]? reuse)
    {
        Posterior.MeanModel(_p, _r);
        return TabularPlanner.Plan(States, Actions, EpisodeLength, _p, _r, reuse);
    }
}
