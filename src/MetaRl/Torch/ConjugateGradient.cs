using static TorchSharp.torch;

namespace MetaRl.Torch;

/// <summary>Second-order helpers for natural-gradient steps (TRPO, MAML-TRPO).</summary>
public static class Curvature
{
    /// <summary>
    /// Returns v -> (d^2 f / d theta^2) v + damping v for a scalar <paramref name="f"/> of the parameters
    /// (Pearlmutter's trick: the gradient of grad f . v). The first gradient is built once with its graph
    /// kept; every product retains the graph, since reusing a freed one aborts the process in TorchSharp.
    /// </summary>
    public static Func<Tensor, Tensor> HessianVectorProduct(Tensor f, ParameterSet p, double damping = 0)
    {
        if (!f.requires_grad) throw new InvalidOperationException("the function has no graph: it was computed under no_grad or from detached parameters");
        var grads = autograd.grad([f], p.Values, create_graph: true, retain_graph: true);
        var flatGrad = cat(grads.Select(g => g.reshape(-1)).ToList(), 0);
        return v =>
        {
            var hv = autograd.grad([(flatGrad * v.detach()).sum()], p.Values, retain_graph: true);
            return cat(hv.Select(g => g.reshape(-1)).ToList(), 0) + damping * v;
        };
    }

    /// <summary>Solves A x = b for symmetric positive-definite A given as a product (conjugate gradient, as rllab and pytorch-maml-rl).</summary>
    public static Tensor ConjugateGradient(Func<Tensor, Tensor> matrixVector, Tensor b, int iterations = 10, double residualTolerance = 1e-10)
    {
        var p = b.detach().clone();
        var r = b.detach().clone();
        var x = zeros_like(b);
        double rdotr = r.dot(r).item<float>();
        for (int i = 0; i < iterations; i++)
        {
            var z = matrixVector(p).detach();
            double alpha = rdotr / p.dot(z).item<float>();
            x = x + alpha * p;
            r = r - alpha * z;
            double newRdotr = r.dot(r).item<float>();
            p = r + (newRdotr / rdotr) * p;
            rdotr = newRdotr;
            if (rdotr < residualTolerance) break;
        }
        return x;
    }
}
