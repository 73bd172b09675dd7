using MathNet.Numerics.Distributions;

namespace MetaRl.Evaluation;

public static class Statistics
{
    /// <summary>Sample mean and the half-width of its 95% Student-t confidence interval.</summary>
    public static (double Mean, double HalfWidth) MeanAndCi95(IReadOnlyList<double> xs)
    {
        if (xs.Count == 0) return (double.NaN, double.NaN);
        double mean = xs.Average();
        if (xs.Count == 1) return (mean, double.NaN);
        double sd = Math.Sqrt(xs.Sum(x => (x - mean) * (x - mean)) / (xs.Count - 1));
        return (mean, StudentT.InvCDF(0, 1, xs.Count - 1, 0.975) * sd / Math.Sqrt(xs.Count));
    }
}
