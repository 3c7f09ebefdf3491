using System;
using System.Runtime.CompilerServices;

namespace Aced.Core;

/// <summary>
/// Numerically stable scalar and span kernels: softplus, log-sigmoid, sigmoid, max-shifted
/// log-sum-exp and softmax over rows and columns, and L2 row normalisation with its backward.
/// Every kernel is finite for finite inputs of any magnitude and exact at the extremes
/// (for example <c>Softplus(-100)</c> is <c>exp(-100)</c>, not 0).
/// </summary>
public static partial class StableMath
{
    /// <summary>Smallest norm used by <see cref="L2NormalizeRows"/>: rows with a smaller norm are divided by this (PyTorch's <c>F.normalize</c> eps).</summary>
    public const float NormalizeEpsilon = 1e-12f;

    /// <summary><c>softplus(x) = log(1 + exp(x))</c>, computed as <c>max(x, 0) + log1p(exp(-|x|))</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Softplus(float x) => MathF.Max(x, 0f) + Log1pSmall(MathF.Exp(-MathF.Abs(x)));

    /// <summary><c>log sigmoid(x) = -softplus(-x)</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float LogSigmoid(float x) => -Softplus(-x);

    /// <summary><c>sigmoid(x) = 1 / (1 + exp(-x))</c>, evaluated without overflow for either sign.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sigmoid(float x)
    {
        if (x >= 0f)
        {
            return 1f / (1f + MathF.Exp(-x));
        }

        float e = MathF.Exp(x);
        return e / (1f + e);
    }

    /// <summary><c>log(1 + u)</c> for <c>u</c> in [0, 1], accurate to float rounding for tiny <c>u</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Log1pSmall(float u)
    {
        // Below 2^-12 the series u - u^2/2 + u^3/3 is exact in float; above it log(1+u) loses no digits that matter.
        if (u < 2.44140625e-4f)
        {
            return u * (1f - (u * (0.5f - (u * (1f / 3f)))));
        }

        return MathF.Log(1f + u);
    }

    /// <summary>Element-wise <see cref="Softplus(float)"/>. <paramref name="destination"/> may alias <paramref name="x"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <paramref name="x"/>.</exception>
    public static void Softplus(ReadOnlySpan<float> x, Span<float> destination)
    {
        EnsureDestination(x.Length, destination.Length);
        for (int i = 0; i < x.Length; i++)
        {
            destination[i] = Softplus(x[i]);
        }
    }

    /// <summary>Element-wise <see cref="LogSigmoid(float)"/>. <paramref name="destination"/> may alias <paramref name="x"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <paramref name="x"/>.</exception>
    public static void LogSigmoid(ReadOnlySpan<float> x, Span<float> destination)
    {
        EnsureDestination(x.Length, destination.Length);
        for (int i = 0; i < x.Length; i++)
        {
            destination[i] = -Softplus(-x[i]);
        }
    }

    /// <summary>Element-wise <see cref="Sigmoid(float)"/>. <paramref name="destination"/> may alias <paramref name="x"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <paramref name="x"/>.</exception>
    public static void Sigmoid(ReadOnlySpan<float> x, Span<float> destination)
    {
        EnsureDestination(x.Length, destination.Length);
        for (int i = 0; i < x.Length; i++)
        {
            destination[i] = Sigmoid(x[i]);
        }
    }

    /// <summary>
    /// Max-shifted <c>log(sum_i exp(x_i))</c>. Returns negative infinity for an empty span or when every
    /// element is negative infinity; NaN if any element is NaN.
    /// </summary>
    public static float LogSumExp(ReadOnlySpan<float> x)
    {
        if (x.IsEmpty)
        {
            return float.NegativeInfinity;
        }

        float max = System.Numerics.Tensors.TensorPrimitives.Max(x);
        if (float.IsNegativeInfinity(max) || float.IsNaN(max))
        {
            return max;
        }

        if (float.IsPositiveInfinity(max))
        {
            return max;
        }

        double sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            sum += MathF.Exp(x[i] - max);
        }

        return max + (float)Math.Log(sum);
    }

    /// <summary>Writes the log-sum-exp of each row of <paramref name="x"/> to <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than the row count.</exception>
    public static void LogSumExpRows(MatrixView x, Span<float> destination)
    {
        EnsureDestination(x.Rows, destination.Length);
        for (int r = 0; r < x.Rows; r++)
        {
            destination[r] = LogSumExp(x.Row(r));
        }
    }

    /// <summary>Writes the log-sum-exp of each column of <paramref name="x"/> to <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than the column count.</exception>
    public static void LogSumExpColumns(MatrixView x, Span<float> destination)
    {
        EnsureDestination(x.Columns, destination.Length);
        Span<float> dest = destination.Slice(0, x.Columns);
        if (x.Rows == 0)
        {
            dest.Fill(float.NegativeInfinity);
            return;
        }

        // Pass 1: column maxima (row-wise sweeps keep memory access contiguous).
        x.Row(0).CopyTo(dest);
        for (int r = 1; r < x.Rows; r++)
        {
            System.Numerics.Tensors.TensorPrimitives.Max(dest, x.Row(r), dest);
        }

        double[] sums = new double[x.Columns];
        for (int r = 0; r < x.Rows; r++)
        {
            Span<float> row = x.Row(r);
            for (int c = 0; c < row.Length; c++)
            {
                float m = dest[c];
                if (float.IsFinite(m))
                {
                    sums[c] += MathF.Exp(row[c] - m);
                }
            }
        }

        for (int c = 0; c < dest.Length; c++)
        {
            if (float.IsFinite(dest[c]))
            {
                dest[c] += (float)Math.Log(sums[c]);
            }
        }
    }

    /// <summary>Row-wise max-shifted softmax of <paramref name="x"/> into <paramref name="destination"/> (may be the same view).</summary>
    /// <exception cref="ArgumentException">The shapes differ.</exception>
    public static void SoftmaxRows(MatrixView x, MatrixView destination)
    {
        destination.EnsureShape(x.Rows, x.Columns, nameof(destination));
        for (int r = 0; r < x.Rows; r++)
        {
            Span<float> src = x.Row(r);
            Span<float> dst = destination.Row(r);
            float lse = LogSumExp(src);
            for (int c = 0; c < src.Length; c++)
            {
                dst[c] = MathF.Exp(src[c] - lse);
            }
        }
    }

    /// <summary>Column-wise max-shifted softmax of <paramref name="x"/> into <paramref name="destination"/> (may be the same view).</summary>
    /// <exception cref="ArgumentException">The shapes differ.</exception>
    public static void SoftmaxColumns(MatrixView x, MatrixView destination)
    {
        destination.EnsureShape(x.Rows, x.Columns, nameof(destination));
        float[] lse = new float[x.Columns];
        LogSumExpColumns(x, lse);
        for (int r = 0; r < x.Rows; r++)
        {
            Span<float> src = x.Row(r);
            Span<float> dst = destination.Row(r);
            for (int c = 0; c < src.Length; c++)
            {
                dst[c] = MathF.Exp(src[c] - lse[c]);
            }
        }
    }

    /// <summary>
    /// <c>y_r = x_r / max(||x_r||_2, eps)</c> for each row; writes the (unclamped) norms to
    /// <paramref name="norms"/>. <paramref name="destination"/> may be the same view as <paramref name="x"/>.
    /// </summary>
    /// <exception cref="ArgumentException">Shapes differ or <paramref name="norms"/> is shorter than the row count.</exception>
    public static void L2NormalizeRows(MatrixView x, MatrixView destination, Span<float> norms)
    {
        destination.EnsureShape(x.Rows, x.Columns, nameof(destination));
        EnsureDestination(x.Rows, norms.Length);
        for (int r = 0; r < x.Rows; r++)
        {
            Span<float> src = x.Row(r);
            double ss = 0;
            for (int c = 0; c < src.Length; c++)
            {
                ss += (double)src[c] * src[c];
            }

            float norm = (float)Math.Sqrt(ss);
            norms[r] = norm;
            System.Numerics.Tensors.TensorPrimitives.Multiply(src, 1f / MathF.Max(norm, NormalizeEpsilon), destination.Row(r));
        }
    }

    /// <summary>
    /// Backward of <see cref="L2NormalizeRows"/>: given the normalised rows <c>y</c>, the forward norms,
    /// and <c>g = dL/dy</c>, writes <c>dL/dx = (g - y (y . g)) / ||x||</c> (for rows whose norm was clamped
    /// to eps, <c>g / eps</c>). <paramref name="gradInput"/> may be the same view as <paramref name="gradOutput"/>.
    /// </summary>
    /// <exception cref="ArgumentException">Shapes differ or <paramref name="norms"/> is too short.</exception>
    public static void L2NormalizeRowsBackward(MatrixView normalized, ReadOnlySpan<float> norms, MatrixView gradOutput, MatrixView gradInput)
    {
        gradOutput.EnsureShape(normalized.Rows, normalized.Columns, nameof(gradOutput));
        gradInput.EnsureShape(normalized.Rows, normalized.Columns, nameof(gradInput));
        EnsureDestination(normalized.Rows, norms.Length);
        for (int r = 0; r < normalized.Rows; r++)
        {
            Span<float> y = normalized.Row(r);
            Span<float> g = gradOutput.Row(r);
            Span<float> dx = gradInput.Row(r);
            float norm = norms[r];
            if (norm < NormalizeEpsilon)
            {
                System.Numerics.Tensors.TensorPrimitives.Multiply(g, 1f / NormalizeEpsilon, dx);
                continue;
            }

            float dot = System.Numerics.Tensors.TensorPrimitives.Dot(y, g);
            float inv = 1f / norm;
            for (int c = 0; c < y.Length; c++)
            {
                dx[c] = (g[c] - (y[c] * dot)) * inv;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void EnsureDestination(int needed, int available)
    {
        if (available < needed)
        {
            Guard.ThrowArgument("destination", $"has {available} elements but {needed} are needed");
        }
    }
}
