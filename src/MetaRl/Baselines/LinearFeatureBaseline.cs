using MathNet.Numerics.LinearAlgebra;

namespace MetaRl.Baselines;

/// <summary>
/// The linear feature baseline of rllab and pytorch-maml-rl, used by MAML and RL2: V(s_t) = w . phi with
/// phi = [s, s^2, t/100, (t/100)^2, (t/100)^3, 1], fitted to the discounted returns of the batch it is
/// used on by ridge-regularised least squares (the regulariser grows x10 while the system is singular).
/// </summary>
public static class LinearFeatureBaseline
{
    public const double RegCoeff = 1e-5;

    public static int FeatureSize(int observationSize) => 2 * observationSize + 4;

    /// <summary>Fits on the given episodes and returns the fitted values for them (zero elsewhere), [T, N].</summary>
    public static float[] FitPredict(EpisodeBatch b, float[] returns, IEnumerable<int>? episodes = null)
    {
        var eps = (episodes ?? Enumerable.Range(0, b.Episodes)).ToArray();
        int d = FeatureSize(b.ObservationSize), n = b.Episodes;
        var xtx = Matrix<double>.Build.Dense(d, d);
        var xty = Vector<double>.Build.Dense(d);
        var phi = new double[d];
        foreach (int e in eps)
            for (int t = 0; t < b.Lengths[e]; t++)
            {
                Features(b, t, e, phi);
                double y = returns[t * n + e];
                for (int i = 0; i < d; i++)
                {
                    xty[i] += phi[i] * y;
                    for (int j = 0; j < d; j++) xtx[i, j] += phi[i] * phi[j];
                }
            }

        var w = Solve(xtx, xty);
        var values = new float[b.Horizon * n];
        foreach (int e in eps)
            for (int t = 0; t < b.Lengths[e]; t++)
            {
                Features(b, t, e, phi);
                double v = 0;
                for (int i = 0; i < d; i++) v += w[i] * phi[i];
                values[t * n + e] = (float)v;
            }
        return values;
    }

    static Vector<double> Solve(Matrix<double> xtx, Vector<double> xty)
    {
        double reg = RegCoeff;
        var eye = Matrix<double>.Build.DenseIdentity(xtx.RowCount);
        for (int attempt = 0; attempt < 5; attempt++, reg *= 10)
        {
            var w = (xtx + reg * eye).Solve(xty);
            if (w.All(double.IsFinite)) return w;
        }
        return Vector<double>.Build.Dense(xtx.RowCount); // degenerate batch: no baseline
    }

    static void Features(EpisodeBatch b, int t, int e, double[] phi)
    {
        int o = b.ObservationSize, baseIndex = (t * b.Episodes + e) * o;
        for (int k = 0; k < o; k++)
        {
            double s = b.Observations[baseIndex + k];
            phi[k] = s;
            phi[o + k] = s * s;
        }
        double tt = t / 100.0;
        phi[2 * o] = tt; phi[2 * o + 1] = tt * tt; phi[2 * o + 2] = tt * tt * tt; phi[2 * o + 3] = 1;
    }
}
