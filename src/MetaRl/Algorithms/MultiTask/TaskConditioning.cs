using static TorchSharp.torch;

namespace MetaRl.Algorithms.MultiTask;

/// <summary>How one network serves several tasks.</summary>
public enum Conditioning
{
    /// <summary>The task's one-hot id appended to the observation; every weight shared.</summary>
    OneHot,
    /// <summary>A learned vector per task (embedding-size floats) appended to the observation; every other weight shared.</summary>
    Embedding,
    /// <summary>The observation alone into a shared trunk, one output layer (head) per task.</summary>
    MultiHead,
    /// <summary>No sharing: one network per task, trained side by side (the single-task baseline on the same per-task budget).</summary>
    Independent,
}

/// <summary>
/// A network's parameters for T tasks: the network's own leaves, some of them replaced by per-task leaves [T, ...]
/// (a multi-head network's last layer, or everything for independent networks). <see cref="View"/> stacks them on a
/// leading task dimension, the shared ones as expanded views of their leaves, so the network runs every task's rows
/// [T, M, ...] in one batched pass (<see cref="Mlp.Forward"/>), and differentiating a sum of per-task losses with
/// respect to the view's shared entries gives every task's own gradient in one backward pass (PCGrad, GradNorm,
/// the conflict diagnostics), as MAML's batched inner loop does.
/// </summary>
public sealed class TaskParameters
{
    readonly ParameterSet _base;
    readonly Dictionary<string, Tensor> _perTask = new(StringComparer.Ordinal);
    readonly ParameterSet[] _forTask;

    public TaskParameters(ParameterSet baseLeaves, Func<string, bool> isPerTask, int tasks)
    {
        _base = baseLeaves;
        Tasks = tasks;
        // Per-task leaves start as copies of the network's initial values (T copies of one initialisation).
        var perTask = ParameterSet.Leaves(baseLeaves.Names.Zip(baseLeaves.Values).Where(x => isPerTask(x.First))
            .Select(x => (x.First, x.Second.detach().unsqueeze(0).expand([tasks, .. x.Second.shape]))).ToList(), tasks);
        foreach (var (name, value) in perTask.Names.Zip(perTask.Values)) _perTask[name] = value;
        SharedNames = baseLeaves.Names.Where(n => !_perTask.ContainsKey(n)).ToList();
        Leaves = new ParameterSet([.. SharedNames.Select(n => (n, baseLeaves[n])), .. _perTask.Select(kv => ($"task.{kv.Key}", kv.Value))]);
        // Task t's network: the shared leaves and row t of the per-task ones (views: optimizer steps show through).
        // (Kept out of any dispose scope the constructor runs in: they live as long as the network.)
        _forTask = Enumerable.Range(0, tasks).Select(t => new ParameterSet(baseLeaves.Names.Select(n => (n, _perTask.TryGetValue(n, out var p) ? p[t].DetachFromDisposeScope() : baseLeaves[n])).ToList())).ToArray();
    }

    public int Tasks { get; }
    /// <summary>Names of the parameters every task shares (where gradients can conflict).</summary>
    public IReadOnlyList<string> SharedNames { get; }
    /// <summary>Whether any parameter is shared (false for independent networks).</summary>
    public bool HasShared => SharedNames.Count > 0;
    /// <summary>What the optimizer steps: shared leaves, then per-task leaves (named task.&lt;name&gt;).</summary>
    public ParameterSet Leaves { get; }
    public long NumScalars => Leaves.NumScalars;

    /// <summary>Every task's parameters on a leading task dimension (TaskCount = T), under the network's own names.</summary>
    public ParameterSet View() => new(_base.Names.Select(n => (n, _perTask.TryGetValue(n, out var p) ? p : _base[n].unsqueeze(0).expand([Tasks, .. _base[n].shape]))).ToList()) { TaskCount = Tasks };

    /// <summary>The view of another set of leaves laid out as <see cref="Leaves"/> (a target network's copy).</summary>
    public ParameterSet ViewOf(ParameterSet leaves) =>
        new(_base.Names.Select(n => (n, _perTask.ContainsKey(n) ? leaves[$"task.{n}"] : leaves[n].unsqueeze(0).expand([Tasks, .. leaves[n].shape]))).ToList()) { TaskCount = Tasks };

    /// <summary>Task <paramref name="t"/>'s network (views of the leaves), for acting.</summary>
    public ParameterSet ForTask(int t) => _forTask[t];

    /// <summary>The names of an MLP's last layer ("{prefix}{L-1}.weight", ".bias") and the extra names given: a multi-head network's heads.</summary>
    public static Func<string, bool> LastLayerOf(ParameterSet p, string prefix, params string[] extra)
    {
        int last = Mlp.Layers(p, prefix) - 1;
        return n => n == $"{prefix}{last}.weight" || n == $"{prefix}{last}.bias" || extra.Contains(n);
    }
}

/// <summary>
/// The task identity a network reads besides the observation: nothing (multi-head and independent networks tell
/// tasks apart by their weights), the one-hot id, or a learned embedding per task (a leaf [T, E], itself per task).
/// </summary>
public sealed class TaskInput
{
    readonly Tensor? _oneHot;

    public TaskInput(Conditioning conditioning, int tasks, int embeddingSize, Rng rng)
    {
        Conditioning = conditioning; Tasks = tasks;
        switch (conditioning)
        {
            case Conditioning.OneHot:
                _oneHot = eye(tasks).DetachFromDisposeScope();
                Size = tasks;
                break;
            case Conditioning.Embedding:
                // N(0, 1) rows, as torch.nn.Embedding: distinct tasks start distinguishable.
                var data = Enumerable.Range(0, tasks * embeddingSize).Select(_ => (float)rng.Normal()).ToArray();
                Embedding = ParameterSet.Leaves([("task_embedding", tensor(data, [tasks, embeddingSize]))]).Values[0];
                Size = embeddingSize;
                break;
        }
    }

    public Conditioning Conditioning { get; }
    public int Tasks { get; }
    /// <summary>Floats appended to the observation.</summary>
    public int Size { get; }
    /// <summary>The learned task vectors [T, E] (embedding conditioning), else null.</summary>
    public Tensor? Embedding { get; }

    /// <summary>Observations [T, M, obs] with each task's identity appended: [T, M, obs + Size].</summary>
    public Tensor Append(Tensor observations)
    {
        var id = _oneHot ?? Embedding;
        if (id is null) return observations;
        var m = observations.shape[1];
        return cat([observations, id.unsqueeze(1).expand(Tasks, m, Size)], 2);
    }

    /// <summary>Writes task t's identity (Size floats) into <paramref name="into"/>.</summary>
    public void Write(int t, Span<float> into)
    {
        if (Size == 0) return;
        if (_oneHot is not null) { into[..Size].Clear(); into[t] = 1; return; }
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        Embedding![t].data<float>().CopyTo(into);
    }
}
