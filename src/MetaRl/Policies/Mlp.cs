using static TorchSharp.torch;

namespace MetaRl.Policies;

public enum Activation { Tanh, Relu }

/// <summary>A functional multilayer perceptron: its weights live in a <see cref="ParameterSet"/>, so the same code runs with a policy's own or adapted parameters.</summary>
public static class Mlp
{
    /// <summary>Parameters "{prefix}{i}.weight" [out, in] (Xavier-uniform, as pytorch-maml-rl) and "{prefix}{i}.bias" (zero).</summary>
    public static List<(string, Tensor)> Init(string prefix, IReadOnlyList<int> sizes, Rng rng, double lastLayerScale = 1.0)
    {
        var items = new List<(string, Tensor)>();
        for (int i = 0; i + 1 < sizes.Count; i++)
        {
            int fanIn = sizes[i], fanOut = sizes[i + 1];
            double bound = Math.Sqrt(6.0 / (fanIn + fanOut)) * (i + 2 == sizes.Count ? lastLayerScale : 1.0);
            var w = new float[fanOut * fanIn];
            for (int k = 0; k < w.Length; k++) w[k] = (float)rng.Uniform(-bound, bound);
            items.Add(($"{prefix}{i}.weight", tensor(w, [fanOut, fanIn])));
            items.Add(($"{prefix}{i}.bias", zeros(fanOut)));
        }
        return items;
    }

    public static int Layers(ParameterSet p, string prefix)
    {
        int n = 0;
        while (p.Names.Contains($"{prefix}{n}.weight")) n++;
        return n;
    }

    /// <summary>
    /// x -> act(W0 x + b0) -> ... -> W_last h + b_last (no activation on the output). With per-task
    /// parameters (weights [K, out, in], biases [K, out], e.g. MAML's adapted ones) the leading dimension
    /// of x is the task: x [K, ..., in] runs as one batched matrix product per layer.
    /// </summary>
    public static Tensor Forward(Tensor x, ParameterSet p, string prefix, int layers, Activation activation)
    {
        bool perTask = p[$"{prefix}0.weight"].dim() == 3;
        var shape = x.shape;
        var h = perTask ? x.reshape(shape[0], -1, shape[^1]) : x;
        for (int i = 0; i < layers; i++)
        {
            Tensor w = p[$"{prefix}{i}.weight"], b = p[$"{prefix}{i}.bias"];
            h = perTask ? h.bmm(w.transpose(1, 2)) + b.unsqueeze(1) : nn.functional.linear(h, w, b);
            if (i + 1 < layers) h = activation == Activation.Tanh ? h.tanh() : h.relu();
        }
        return perTask ? h.reshape([.. shape[..^1], h.shape[^1]]) : h;
    }
}
