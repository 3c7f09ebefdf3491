using System;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Aced.Core;

namespace Aced.Models.Layers;

/// <summary>Per-row math of the non-GEMM layers (layer norm, GELU, softmax); each call touches one row only.</summary>
internal static class RowMath
{
    /// <summary>Layer-norm epsilon (big_vision / flax default).</summary>
    public const float LayerNormEpsilon = 1e-6f;

    /// <summary>sqrt(2/pi), the GELU tanh form's scale.</summary>
    internal const float GeluC = 0.7978845608028654f;

    /// <summary>The GELU tanh form's cubic coefficient.</summary>
    internal const float GeluA = 0.044715f;

    /// <summary>
    /// y = (x - mean) * rstd * gamma + beta; returns (mean, rstd) with rstd = 1/sqrt(var + eps), var biased (two passes:
    /// the mean, then the squared deviations from it). The squared deviations are summed by
    /// <see cref="StableMath.SumInLanes{TOperator}"/> (<see cref="SquaredDeviationOperator"/>): float lanes of the
    /// widest accelerated width (16 with AVX-512, 8 with AVX2), summed horizontally in double, then the tail in double;
    /// the element-wise pass (<see cref="LayerNormOperator"/> over <see cref="StableMath.RowPass{TOperator}"/>) gives
    /// every element the same operations whatever its position.
    /// </summary>
    public static (float Mean, float Rstd) LayerNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, Span<float> y)
    {
        int d = x.Length;
        float mean = TensorPrimitives.Sum(x) / d;
        float ss = (float)StableMath.SumInLanes(new SquaredDeviationOperator(mean), x);
        float rstd = 1f / MathF.Sqrt((ss / d) + LayerNormEpsilon);
        StableMath.RowPass(new LayerNormOperator(mean, rstd), x, gamma, beta, default, default, y, false, default);
        return (mean, rstd);
    }

    /// <summary>
    /// dx += rstd * (dn - mean(dn) - xhat * mean(dn * xhat)) with dn = dy * gamma, xhat = (x - mean) * rstd;
    /// dgamma += dy * xhat, dbeta += dy. Two passes over <see cref="StableMath.RowPass{TOperator}"/>: the first
    /// (<see cref="LayerNormBackwardSumsOperator"/>) updates dgamma and dbeta and forms the two row sums (float lanes of
    /// the widest width, summed in double), the second (<see cref="LayerNormBackwardDxOperator"/>) accumulates dx;
    /// every element-wise update gets the same operations whatever its position.
    /// </summary>
    public static void LayerNormBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, float mean, float rstd, ReadOnlySpan<float> dy, Span<float> dx, Span<float> dgamma, Span<float> dbeta)
    {
        int d = x.Length;
        StableMath.RowSums sums = StableMath.RowPass(new LayerNormBackwardSumsOperator(mean, rstd), x, dy, gamma, default, default, dgamma, true, dbeta);
        float meanDn = (float)sums.Sum0 / d;
        float meanDnXhat = (float)sums.Sum1 / d;
        StableMath.RowPass(new LayerNormBackwardDxOperator(mean, rstd, meanDn, meanDnXhat), x, dy, gamma, default, default, dx, true, default);
    }

    /// <summary>
    /// GELU, tanh approximation: g = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), evaluated as
    /// g = x / (1 + exp(-2u)) with <see cref="VectorMath.Exp(float)"/> in one vectorised pass (exp overflow gives the
    /// exact limits -0 and x): <see cref="GeluOperator"/> over <see cref="StableMath.RowPass{TOperator}"/>. Every element
    /// gets the same operations (every vector width and the scalar tail alike), so the bits do not depend on the
    /// element's position or on the available vector width.
    /// </summary>
    public static void Gelu(ReadOnlySpan<float> x, Span<float> g) =>
        StableMath.RowPass(default(GeluOperator), x, default, default, default, default, g, false, default);

    /// <summary>
    /// dx = dg * GELU'(x) with GELU'(x) = 0.5 (1 + th) + 0.5 x (1 - th^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2),
    /// th = tanh(u) = 2 s - 1 and s = 1 / (1 + exp(-2u)) (<see cref="VectorMath.Exp(float)"/>), so 0.5 (1 + th) = s and
    /// 1 - th^2 = 4 s (1 - s) (<see cref="GeluBackwardOperator"/>); every element gets the same operations whatever the
    /// vector width. <paramref name="dg"/> and <paramref name="dx"/> may be the same span.
    /// </summary>
    public static void GeluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dg, Span<float> dx) =>
        StableMath.RowPass(default(GeluBackwardOperator), x, dg, default, default, default, dx, false, default);

    /// <summary>
    /// In-place softmax of the first <paramref name="valid"/> entries of <paramref name="row"/>: p_i = exp(x_i - max) / sum,
    /// with <see cref="VectorMath.ExpNonPositive(float)"/> (arguments are at most 0); the rest of the row is set to 0.
    /// The exponentials and their sum are one <see cref="StableMath.RowPass{TOperator}"/> (<see cref="SoftmaxExpOperator"/>:
    /// float lanes of the widest width summed in double), the scaling another (<see cref="ScaleOperator"/>). NaN in the
    /// prefix gives NaN.
    /// </summary>
    public static void SoftmaxPrefix(Span<float> row, int valid)
    {
        Span<float> prefix = row.Slice(0, valid);
        if (valid > 0)
        {
            float max = TensorPrimitives.Max(prefix);
            StableMath.RowSums sums = StableMath.RowPass(new SoftmaxExpOperator(max), prefix, default, default, default, default, prefix, false, default);
            StableMath.RowPass(new ScaleOperator((float)(1.0 / sums.Sum0)), prefix, default, default, default, default, prefix, false, default);
        }

        row.Slice(valid).Clear();
    }

    /// <summary>
    /// Softmax backward in place: ds = p * (dp - sum(p * dp)), the dot product in float lanes of the widest width summed
    /// in double (<see cref="DotOperator"/>), then <see cref="SoftmaxBackwardOperator"/>, both over
    /// <see cref="StableMath.RowPass{TOperator}"/>.
    /// </summary>
    public static void SoftmaxBackward(ReadOnlySpan<float> p, Span<float> dpToDs)
    {
        float dot = (float)StableMath.RowPass(default(DotOperator), p, dpToDs, default, default, default, default, false, default).Sum0;
        StableMath.RowPass(new SoftmaxBackwardOperator(dot), p, dpToDs, default, default, default, dpToDs, false, default);
    }
}
