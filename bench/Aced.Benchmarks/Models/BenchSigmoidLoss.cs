using System;
using Aced.Core;

namespace Aced.Benchmarks.Models;

/// <summary>
/// Benchmark-only SigLIP loss (the lead switches this to Aced.Losses at integration):
/// L = (1/b) sum_ij softplus(-y_ij l_ij), l = exp(t) Zi Zt^T + c, and its gradients w.r.t. Zi, Zt, t and c.
/// Materialises the b x b logits (fine for a training batch); the products go through <see cref="Aced.Core.Gemm"/>.
/// </summary>
internal sealed class BenchSigmoidLoss
{
    private readonly Matrix _logits;
    private readonly Matrix _grad;

    public BenchSigmoidLoss(int batch, int dim)
    {
        _logits = new Matrix(batch, batch);
        _grad = new Matrix(batch, batch);
        ImageGradient = new Matrix(batch, dim);
        TextGradient = new Matrix(batch, dim);
    }

    public Matrix ImageGradient { get; }

    public Matrix TextGradient { get; }

    public float Compute(MatrixView zi, MatrixView zt, float t, float c, out float dT, out float dC)
    {
        int b = zi.Rows;
        float scale = MathF.Exp(t);
        Aced.Core.Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, zi, zt, 0f, _logits);
        double loss = 0;
        double dt = 0;
        double dc = 0;
        for (int i = 0; i < b; i++)
        {
            Span<float> dots = _logits.Row(i);
            Span<float> g = _grad.Row(i);
            for (int j = 0; j < b; j++)
            {
                float y = i == j ? 1f : -1f;
                float m = -y * ((scale * dots[j]) + c);
                loss += StableMath.Softplus(m);
                float gij = -y * StableMath.Sigmoid(m) / b;
                g[j] = gij;
                dt += gij * scale * dots[j];
                dc += gij;
            }
        }

        Aced.Core.Gemm.Multiply(Transpose.None, Transpose.None, scale, _grad, zt, 0f, ImageGradient);
        Aced.Core.Gemm.Multiply(Transpose.Transposed, Transpose.None, scale, _grad, zi, 0f, TextGradient);
        dT = (float)dt;
        dC = (float)dc;
        return (float)(loss / b);
    }
}
