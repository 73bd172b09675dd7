namespace MetaRl.Algorithms.MultiTask;

/// <summary>
/// What task sampling needs to remember (each task's returns and value losses so far) and the weights it gives:
/// the number of a task's episodes in a batch is episodes-per-task times its weight.
/// <list type="bullet">
/// <item>uniform: 1 for every task;</item>
/// <item>proportional: the task's data share in the suite (a task with a tenth of the data gets a tenth of the episodes);</item>
/// <item>loss: the task's value loss relative to its first (GradNorm's inverse training rate), over the mean of those: tasks whose returns the critic still predicts badly get more;</item>
/// <item>progress: 1 - gain / largest gain, at least 0.1, over the mean of those, where a task's gain is the rise of its mean
/// return from the first to the second half of the last progress-window iterations: tasks that stopped improving get more.</item>
/// </list>
/// </summary>
public sealed class TaskSamplingState(int tasks, int window)
{
    const double MinProgressWeight = 0.1;
    readonly List<double[]> _returns = [];
    double[]? _firstValueLoss, _lastValueLoss;

    public void Record(double[] returns, double[] valueLosses)
    {
        _returns.Add(returns);
        _firstValueLoss ??= valueLosses.Select(v => Math.Max(v, 1e-12)).ToArray();
        _lastValueLoss = valueLosses;
    }

    public double[] Weights(TaskSampling mode, double[] dataShares) => mode switch
    {
        TaskSampling.Uniform => Ones(),
        TaskSampling.Proportional => dataShares,
        TaskSampling.Loss => _lastValueLoss is null ? Ones() : Normalised(_lastValueLoss.Select((v, k) => v / _firstValueLoss![k]).ToArray()),
        TaskSampling.Progress => ProgressWeights(),
        _ => throw new ArgumentOutOfRangeException(nameof(mode)),
    };

    double[] Ones() => Enumerable.Repeat(1.0, tasks).ToArray();

    static double[] Normalised(double[] w)
    {
        double mean = w.Average();
        return mean > 0 && double.IsFinite(mean) ? w.Select(x => x / mean).ToArray() : Enumerable.Repeat(1.0, w.Length).ToArray();
    }

    double[] ProgressWeights()
    {
        if (_returns.Count < window) return Ones();
        var recent = _returns.Skip(_returns.Count - window).ToList();
        int half = window / 2;
        var gain = Enumerable.Range(0, tasks).Select(k => Math.Max(0, recent.Skip(half).Average(r => r[k]) - recent.Take(half).Average(r => r[k]))).ToArray();
        double best = gain.Max();
        if (best <= 0) return Ones();
        return Normalised(gain.Select(g => Math.Max(MinProgressWeight, 1 - g / best)).ToArray());
    }

    public void Save(BinaryWriter w)
    {
        w.Write(_returns.Count);
        foreach (var r in _returns) foreach (double x in r) w.Write(x);
        w.Write(_firstValueLoss is not null);
        if (_firstValueLoss is null) return;
        foreach (double x in _firstValueLoss.Concat(_lastValueLoss!)) w.Write(x);
    }

    public void Load(BinaryReader r)
    {
        _returns.Clear();
        int n = r.ReadInt32();
        for (int i = 0; i < n; i++) _returns.Add(Enumerable.Range(0, tasks).Select(_ => r.ReadDouble()).ToArray());
        if (!r.ReadBoolean()) { _firstValueLoss = _lastValueLoss = null; return; }
        _firstValueLoss = Enumerable.Range(0, tasks).Select(_ => r.ReadDouble()).ToArray();
        _lastValueLoss = Enumerable.Range(0, tasks).Select(_ => r.ReadDouble()).ToArray();
    }
}
