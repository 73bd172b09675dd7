namespace MetaRl.Core;

/// <summary>
/// Running mean and variance of vectors, merged batch by batch (Chan et al.'s parallel update, as OpenAI baselines'
/// RunningMeanStd that variBAD and PPO implementations use to normalise states, latents and returns).
/// </summary>
public sealed class RunningMeanStd(int dim)
{
    readonly double[] _mean = new double[dim], _var = Enumerable.Repeat(1.0, dim).ToArray();
    double _count = 1e-4; // baselines' epsilon: the first batch dominates without dividing by zero

    public int Dim => dim;
    public ReadOnlySpan<double> Mean => _mean;
    public ReadOnlySpan<double> Variance => _var;

    /// <summary>Merges rows of Dim floats taken from <paramref name="data"/> at the given offset and stride.</summary>
    public void Update(ReadOnlySpan<float> data, int rows, int stride, int offset = 0)
    {
        if (rows == 0) return;
        for (int d = 0; d < dim; d++)
        {
            double m = 0, s = 0;
            for (int i = 0; i < rows; i++) m += data[i * stride + offset + d];
            m /= rows;
            for (int i = 0; i < rows; i++) { double x = data[i * stride + offset + d] - m; s += x * x; }
            double batchVar = s / rows, delta = m - _mean[d], total = _count + rows;
            _mean[d] += delta * rows / total;
            _var[d] = (_var[d] * _count + batchVar * rows + delta * delta * _count * rows / total) / total;
        }
        _count += rows;
    }

    public void Save(BinaryWriter w)
    {
        w.Write(dim); w.Write(_count);
        for (int d = 0; d < dim; d++) { w.Write(_mean[d]); w.Write(_var[d]); }
    }

    public void Load(BinaryReader r)
    {
        if (r.ReadInt32() != dim) throw new InvalidDataException($"checkpoint's running statistics have another dimension than {dim}");
        _count = r.ReadDouble();
        for (int d = 0; d < dim; d++) { _mean[d] = r.ReadDouble(); _var[d] = r.ReadDouble(); }
    }
}
