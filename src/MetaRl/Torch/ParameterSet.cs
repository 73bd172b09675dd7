using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MetaRl.Torch;

/// <summary>
/// Named parameter tensors in a fixed order: a policy's own leaf parameters, or adapted ones (MAML's
/// theta' = theta - alpha grad L) that keep their graph back to the leaves. Policies run with either.
/// Leaves, Save and Load run in a dispose scope even where the caller has none (the methods that
/// return new tensors leave them to the caller's scope): TorchSharp passes a tensor's native handle and then
/// lets go of the tensor, so an intermediate (tensor(data).view(shape) handed to copy_) can be collected and
/// freed by its finaliser while libtorch still reads it, a segfault (CollectionPressureTests). The scope
/// holds every tensor made in it until it ends.
/// </summary>
public sealed class ParameterSet
{
    readonly string[] _names;
    readonly Tensor[] _values;

    public ParameterSet(IReadOnlyList<(string Name, Tensor Value)> items)
    {
        _names = items.Select(i => i.Name).ToArray();
        _values = items.Select(i => i.Value).ToArray();
        if (_names.Distinct().Count() != _names.Length) throw new ArgumentException("parameter names must be unique", nameof(items));
    }

    public IReadOnlyList<string> Names => _names;
    public System.Collections.ObjectModel.ReadOnlyCollection<Tensor> Values => Array.AsReadOnly(_values);
    public int Count => _values.Length;
    public long NumScalars => _values.Sum(v => v.numel());

    public Tensor this[string name]
    {
        get
        {
            int i = Array.IndexOf(_names, name);
            return i >= 0 ? _values[i] : throw new KeyNotFoundException($"no parameter '{name}'; have {string.Join(", ", _names)}");
        }
    }

    /// <summary>Leaf parameters that require gradients and live outside any dispose scope (they belong to the policy).</summary>
    /// <remarks>A task count marks values stacked on a leading dimension (an ensemble of critics).</remarks>
    public static ParameterSet Leaves(IReadOnlyList<(string Name, Tensor Value)> items, int? taskCount = null)
    {
        using var scope = NewDisposeScope(); // holds detach()'s result while clone() reads it (see the class summary)
        return new(items.Select(i => (i.Name, (Tensor)new Parameter(i.Value.detach().clone(), requires_grad: true).DetachFromDisposeScope())).ToList()) { TaskCount = taskCount };
    }

    /// <summary>The leaves as TorchSharp parameters, for optimizers.</summary>
    public IEnumerable<Parameter> AsParameters() => _values.Select(v => v as Parameter ?? throw new InvalidOperationException("only a leaf parameter set can be optimised"));

    /// <summary>Number of tasks of a per-task set (values with a leading task dimension), or null for a shared set.</summary>
    public int? TaskCount { get; init; }

    /// <summary>
    /// K per-task copies of these parameters, stacked on a new leading dimension, still functions of the
    /// originals. Differentiating a sum of per-task losses with respect to the copies gives every task's own
    /// gradient in one backward pass: the batched inner loop of MAML.
    /// </summary>
    public ParameterSet Replicate(int k) => new(_names.Select((n, i) => (n, _values[i].unsqueeze(0).expand([k, .. _values[i].shape]))).ToList()) { TaskCount = k };

    /// <summary>K per-task copies of these values as new leaves (no graph back to these): for per-task gradient steps and Hessian products.</summary>
    public ParameterSet ReplicateLeaves(int k) =>
        new(_names.Select((n, i) => (n, _values[i].detach().unsqueeze(0).repeat([k, .. Enumerable.Repeat(1L, (int)_values[i].dim())]).requires_grad_(true))).ToList()) { TaskCount = k };

    /// <summary>A new set of f(i, value_i), keeping names and the task count.</summary>
    public ParameterSet MapIndexed(Func<int, Tensor, Tensor> f) => new(_names.Select((n, i) => (n, f(i, _values[i]))).ToList()) { TaskCount = TaskCount };

    public ParameterSet Map(Func<string, Tensor, Tensor> f) => new(_names.Select((n, i) => (n, f(n, _values[i]))).ToList()) { TaskCount = TaskCount };

    /// <summary>One vector of all parameters (for TRPO's flat updates).</summary>
    public Tensor Flatten() => cat(_values.Select(v => v.reshape(-1)).ToList(), 0);

    /// <summary>Splits a flat vector into tensors shaped like these parameters.</summary>
    public ParameterSet Unflatten(Tensor flat)
    {
        long offset = 0;
        var items = new List<(string, Tensor)>(_values.Length);
        for (int i = 0; i < _values.Length; i++)
        {
            long n = _values[i].numel();
            items.Add((_names[i], flat.narrow(0, offset, n).view(_values[i].shape)));
            offset += n;
        }
        if (offset != flat.numel()) throw new ArgumentException($"flat vector has {flat.numel()} values, parameters {offset}", nameof(flat));
        return new ParameterSet(items);
    }

    /// <summary>
    /// One gradient step on <paramref name="loss"/>: theta' = theta - stepSize * grad. Second order keeps
    /// the graph (create_graph and retain_graph, both: TorchSharp does not imply the second), so a later
    /// loss at theta' differentiates through this step; first order treats the gradient as a constant.
    /// </summary>
    public ParameterSet Adapt(Tensor loss, double stepSize, bool firstOrder = false)
    {
        // libtorch aborts the whole process (no .NET exception) on a gradient of a loss without a graph.
        if (!loss.requires_grad)
            throw new InvalidOperationException("the adaptation loss has no graph: it was computed under no_grad or from detached parameters");
        var grads = autograd.grad([loss], _values, retain_graph: !firstOrder, create_graph: !firstOrder);
        return new ParameterSet(_names.Select((n, i) => (n, _values[i] - stepSize * (firstOrder ? grads[i].detach() : grads[i]))).ToList()) { TaskCount = TaskCount };
    }

    /// <summary>Overwrites these (leaf) values in place, without recording gradients.</summary>
    public void CopyFrom(ParameterSet other)
    {
        using var _ = no_grad();
        for (int i = 0; i < _values.Length; i++) _values[i].copy_(other._values[i]);
    }

    /// <summary>Polyak averaging of a target network: theta_target = (1 - tau) theta_target + tau theta, in place, without gradients.</summary>
    public void SoftUpdateFrom(ParameterSet source, double tau)
    {
        using var _ = no_grad();
        for (int i = 0; i < _values.Length; i++) _values[i].lerp_(source._values[i], tau);
    }

    /// <summary>The same values without their graph (views sharing storage): to evaluate a network whose parameters a loss must not train.</summary>
    public ParameterSet Detached() => Map((_, v) => v.detach());

    public ParameterSet DetachedClone() => Map((_, v) => v.detach().clone());

    /// <summary>Task k's parameters of a per-task set (a view).</summary>
    public ParameterSet ForTask(int k) => TaskCount is null
        ? throw new InvalidOperationException("not a per-task parameter set")
        : new(_names.Select((n, i) => (n, _values[i][k])).ToList());

    public void Save(BinaryWriter w)
    {
        using var scope = NewDisposeScope();
        w.Write(_values.Length);
        for (int i = 0; i < _values.Length; i++)
        {
            w.Write(_names[i]);
            var data = _values[i].detach().cpu().to(float32).data<float>().ToArray();
            w.Write(data.Length);
            foreach (var x in data) w.Write(x);
        }
    }

    /// <summary>Reads values saved by <see cref="Save"/> into these tensors; names and sizes must match.</summary>
    public void Load(BinaryReader r)
    {
        int n = r.ReadInt32();
        if (n != _values.Length) throw new InvalidDataException($"checkpoint has {n} parameter tensors, the policy {_values.Length}");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        for (int i = 0; i < n; i++)
        {
            string name = r.ReadString();
            if (name != _names[i]) throw new InvalidDataException($"checkpoint parameter '{name}' where the policy has '{_names[i]}'");
            int len = r.ReadInt32();
            if (len != _values[i].numel()) throw new InvalidDataException($"checkpoint parameter '{name}' has {len} values, the policy {_values[i].numel()}");
            var data = new float[len];
            for (int j = 0; j < len; j++) data[j] = r.ReadSingle();
            _values[i].copy_(tensor(data).view(_values[i].shape));
        }
    }
}
