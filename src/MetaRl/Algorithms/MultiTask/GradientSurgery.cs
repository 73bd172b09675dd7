using static TorchSharp.torch;

namespace MetaRl.Algorithms.MultiTask;

/// <summary>
/// PCGrad (Yu et al. 2020, Algorithm 1): for each task i, visit the other tasks j in a random order; where the
/// projected g_i conflicts with the original g_j (negative dot product), remove g_i's component along g_j:
/// <code>
///   g_i^PC = g_i;  for j in shuffle(tasks \ i):  if g_i^PC . g_j &lt; 0:  g_i^PC -= (g_i^PC . g_j / |g_j|^2) g_j
/// </code>
/// then combine the g_i^PC. Every g_i^PC is a combination of the original gradients, so the projections run on
/// the T x T Gram matrix of the gradients (coefficients c_ik with g_i^PC = sum_k c_ik g_k) and one matrix product
/// makes the projected gradients: two passes over the [T, P] gradients whatever the number of projections.
/// </summary>
public static class PcGrad
{
    /// <summary>The projected per-task gradients [T, P] of per-task gradients <paramref name="g"/> [T, P]; <paramref name="orderFor"/>(i) is the order task i visits the others in.</summary>
    public static Tensor Project(Tensor g, Func<int, int[]> orderFor, out int projections)
    {
        var gram = Gram(g);
        var c = Coefficients(gram, orderFor, out projections);
        int t = gram.GetLength(0);
        var flat = new double[t * t];
        for (int i = 0; i < t; i++) for (int k = 0; k < t; k++) flat[i * t + k] = c[i, k];
        return matmul(tensor(flat, [t, t], dtype: float64).to(g.dtype), g);
    }

    /// <summary>The projection coefficients on the Gram matrix: row i holds g_i^PC in the basis of the original gradients.</summary>
    public static double[,] Coefficients(double[,] gram, Func<int, int[]> orderFor, out int projections)
    {
        int t = gram.GetLength(0);
        var c = new double[t, t];
        projections = 0;
        for (int i = 0; i < t; i++)
        {
            c[i, i] = 1;
            foreach (int j in orderFor(i))
            {
                if (j == i) continue;
                double dot = 0; // g_i^PC . g_j
                for (int k = 0; k < t; k++) dot += c[i, k] * gram[k, j];
                if (dot >= 0 || gram[j, j] <= 0) continue;
                c[i, j] -= dot / gram[j, j];
                projections++;
            }
        }
        return c;
    }

    /// <summary>g g^T in double precision [T, T].</summary>
    public static double[,] Gram(Tensor g)
    {
        using var scope = NewDisposeScope();
        var m = matmul(g.to(float64), g.to(float64).t()).data<double>().ToArray();
        int t = (int)g.shape[0];
        var gram = new double[t, t];
        for (int i = 0; i < t; i++) for (int j = 0; j < t; j++) gram[i, j] = m[i * t + j];
        return gram;
    }

    /// <summary>Pairwise cosines of the gradients from their Gram matrix (0 where a gradient is zero).</summary>
    public static double[,] Cosines(double[,] gram)
    {
        int t = gram.GetLength(0);
        var cos = new double[t, t];
        for (int i = 0; i < t; i++)
            for (int j = 0; j < t; j++)
            {
                double d = Math.Sqrt(gram[i, i] * gram[j, j]);
                cos[i, j] = d > 0 ? gram[i, j] / d : 0;
            }
        return cos;
    }
}

/// <summary>
/// GradNorm (Chen et al. 2018, Section 3.2, Algorithm 1): task weights w_i, learned so that the norms of the weighted
/// task gradients at the last shared layer, G_i = |grad_W w_i L_i|, follow the tasks' relative inverse training
/// rates: target_i = mean(G) r_i^alpha, r_i = L~_i / mean(L~), L~_i = L_i(t) / L_i(0). The loss
/// L_grad = sum_i |G_i - target_i| is differentiated in w_i only, the target held constant:
/// dL_grad / dw_i = sign(G_i - target_i) |grad_W L_i|; Adam steps the weights (learning rate 0.025, the paper's),
/// then they are renormalised to sum to the task count.
/// </summary>
public sealed class GradNorm
{
    const double Beta1 = 0.9, Beta2 = 0.999, Epsilon = 1e-8, MinWeight = 1e-3;
    readonly double _alpha, _lr;
    readonly double[] _m, _v;
    int _step;

    public GradNorm(int tasks, double alpha, double lr)
    {
        Weights = Enumerable.Repeat(1.0, tasks).ToArray();
        _m = new double[tasks]; _v = new double[tasks];
        _alpha = alpha; _lr = lr;
    }

    /// <summary>The task weights w_i (they sum to the task count).</summary>
    public double[] Weights { get; }
    /// <summary>L_i(0): each task's first loss (the reference of its training rate).</summary>
    public double[]? InitialLosses { get; private set; }
    /// <summary>The last targets, mean(G) r_i^alpha, for the report of how far the norms are from them.</summary>
    public double[] Targets { get; private set; } = [];

    /// <summary>
    /// One update of the weights from <paramref name="unweightedNorms"/> |grad_W L_i| (the weights are applied here)
    /// and the tasks' current losses.
    /// </summary>
    public void Step(IReadOnlyList<double> unweightedNorms, IReadOnlyList<double> losses)
    {
        int t = Weights.Length;
        InitialLosses ??= losses.Select(l => Math.Max(Math.Abs(l), 1e-12)).ToArray();
        var inverseRate = Enumerable.Range(0, t).Select(i => losses[i] / InitialLosses[i]).ToArray();
        double meanRate = inverseRate.Average();
        var g = Enumerable.Range(0, t).Select(i => Weights[i] * unweightedNorms[i]).ToArray();
        double meanG = g.Average();
        Targets = inverseRate.Select(r => meanG * Math.Pow(Math.Max(r / meanRate, 0), _alpha)).ToArray();
        _step++;
        for (int i = 0; i < t; i++)
        {
            double grad = Math.Sign(g[i] - Targets[i]) * unweightedNorms[i];
            _m[i] = Beta1 * _m[i] + (1 - Beta1) * grad;
            _v[i] = Beta2 * _v[i] + (1 - Beta2) * grad * grad;
            double mHat = _m[i] / (1 - Math.Pow(Beta1, _step)), vHat = _v[i] / (1 - Math.Pow(Beta2, _step));
            Weights[i] = Math.Max(MinWeight, Weights[i] - _lr * mHat / (Math.Sqrt(vHat) + Epsilon));
        }
        double sum = Weights.Sum();
        for (int i = 0; i < t; i++) Weights[i] *= t / sum;
    }

    /// <summary>Spread of the weighted norms about their targets: mean over tasks of |log(G_i / target_i)| (0 when every norm is on its target).</summary>
    public static double Spread(IReadOnlyList<double> weightedNorms, IReadOnlyList<double> targets) =>
        Enumerable.Range(0, targets.Count).Average(i => Math.Abs(Math.Log(Math.Max(weightedNorms[i], 1e-12) / Math.Max(targets[i], 1e-12))));

    public void Save(BinaryWriter w)
    {
        w.Write(_step);
        foreach (var a in new[] { Weights, _m, _v }) foreach (double x in a) w.Write(x);
        w.Write(InitialLosses is not null);
        if (InitialLosses is not null) foreach (double x in InitialLosses) w.Write(x);
    }

    public void Load(BinaryReader r)
    {
        _step = r.ReadInt32();
        foreach (var a in new[] { Weights, _m, _v }) for (int i = 0; i < a.Length; i++) a[i] = r.ReadDouble();
        InitialLosses = r.ReadBoolean() ? Enumerable.Range(0, Weights.Length).Select(_ => r.ReadDouble()).ToArray() : null;
    }
}

/// <summary>
/// Every task's gradient of the shared weights of one or more task-conditioned networks, taken in one backward pass
/// with respect to their views' expanded copies (<see cref="TaskParameters.View"/>), with the gradients of every
/// other leaf (per-task weights, embeddings); <see cref="Apply"/> writes the combined gradient into the leaves' .grad.
/// </summary>
internal sealed class TaskGradients
{
    readonly IReadOnlyList<(TaskParameters Parameters, ParameterSet View)> _networks;
    readonly IReadOnlyList<Tensor> _own;
    readonly Tensor?[] _ownGrads;

    public TaskGradients(Tensor total, IReadOnlyList<(TaskParameters Parameters, ParameterSet View)> networks, IEnumerable<Tensor> allLeaves)
    {
        _networks = networks;
        int t = networks[0].Parameters.Tasks;
        var shared = networks.SelectMany(n => n.Parameters.SharedNames.Select(name => n.View[name])).ToList();
        var sharedLeaves = networks.SelectMany(n => n.Parameters.SharedNames.Select(name => n.Parameters.Leaves[name])).ToList();
        _own = allLeaves.Where(p => !sharedLeaves.Any(s => ReferenceEquals(s, p))).ToList();
        var grads = autograd.grad([total], [.. shared, .. _own], allow_unused: true);
        PerTask = cat(grads.Take(shared.Count).Select(x => x.reshape(t, -1)).ToList(), 1); // [T, P_shared]
        _ownGrads = grads.Skip(shared.Count).Select(g => g is { IsInvalid: false } ? g : null).ToArray();
        Gram = PcGrad.Gram(PerTask);
    }

    /// <summary>[T, P]: row t is task t's gradient of every shared weight, the networks' one after the other.</summary>
    public Tensor PerTask { get; }
    public double[,] Gram { get; }
    public double[] Norms => Enumerable.Range(0, Gram.GetLength(0)).Select(k => Math.Sqrt(Gram[k, k])).ToArray();
    public double[,] Cosines => PcGrad.Cosines(Gram);

    /// <summary>Each task's gradient norm at the first network's last shared linear layer (GradNorm's W).</summary>
    public double[] LastSharedLayerNorms()
    {
        var (p, view) = _networks[0];
        var weights = p.SharedNames.Where(n => n.EndsWith(".weight", StringComparison.Ordinal)).ToList();
        string lastWeight = weights.MaxBy(n => int.Parse(n.Split('.')[^2], System.Globalization.CultureInfo.InvariantCulture))!;
        string layer = lastWeight[..^"weight".Length];
        long offset = 0, size = 0;
        foreach (var name in p.SharedNames)
        {
            long n = view[name][0].numel();
            if (name.StartsWith(layer, StringComparison.Ordinal)) size += n;
            else if (size == 0) offset += n;
        }
        using var scope = NewDisposeScope();
        return PerTask.narrow(1, offset, size).pow(2).sum(1).sqrt().to(float64).data<double>().ToArray();
    }

    /// <summary>Writes the gradient to step along: the sum of the tasks' (PCGrad-projected with <paramref name="pcgrad"/>) gradients into the shared leaves, their own gradients into the others. Returns PCGrad's projections.</summary>
    public int Apply(bool pcgrad, Func<int, int[]> orderFor)
    {
        int projections = 0;
        var combined = pcgrad ? PcGrad.Project(PerTask, orderFor, out projections).sum(dim: 0) : PerTask.sum(dim: 0);
        long start = 0;
        foreach (var (p, _) in _networks)
            foreach (var name in p.SharedNames)
            {
                var leaf = p.Leaves[name];
                leaf.grad = combined.narrow(0, start, leaf.numel()).reshape(leaf.shape).detach().clone();
                start += leaf.numel();
            }
        for (int i = 0; i < _own.Count; i++) _own[i].grad = _ownGrads[i]?.detach().clone() ?? zeros_like(_own[i]);
        return projections;
    }
}
