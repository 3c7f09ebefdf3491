using System;
using System.Buffers;
using System.Runtime.CompilerServices;
using System.Numerics.Tensors;

namespace Aced.Core;

/// <summary>
/// Numerically stable scalar and span kernels: softplus, log-sigmoid, sigmoid, max-shifted
/// log-sum-exp and softmax over rows and columns, and L2 row normalisation with its backward.
/// </summary>
/// <remarks>
/// <para>
/// Every kernel is finite for finite inputs of any magnitude (|x| up to <see cref="float.MaxValue"/> unless a
/// method says otherwise) and accurate to a few ulps at the extremes: <c>Softplus(-100)</c> is <c>exp(-100)</c>
/// (a float denormal), not 0; it is 0 only where the true value underflows float (x &lt; -103.98);
/// <c>Softplus(1e4)</c> is exactly <c>1e4</c>; <c>LogSumExp([1e4, 1e4])</c> is <c>1e4 + ln 2</c>.
/// </para>
/// <para>
/// Span kernels are vectorised (Vector512, then Vector256, Vector128, scalar tail); reductions accumulate in
/// double. NaN in an input propagates: the corresponding output (element, row or column) is NaN.
/// A destination may be the very same span or view as the source; a destination that partly overlaps the
/// source is rejected.
/// </para>
/// </remarks>
public static partial class StableMath
{
    /// <summary>Smallest norm used by <see cref="L2NormalizeRows(MatrixView, MatrixView, Span{float})"/>: rows with a smaller norm are divided by this (PyTorch's <c>F.normalize</c> eps).</summary>
    public const float NormalizeEpsilon = 1e-12f;

    private const double SmallestNormalFloat = 1.1754943508222875e-38;

    /// <summary>
    /// <c>softplus(x) = log(1 + exp(x))</c>, computed as <c>max(x, 0) + log1p(exp(-|x|))</c>. Exact at the extremes:
    /// <c>Softplus(-100) = exp(-100)</c>, <c>Softplus(1e4) = 1e4</c>; +Inf gives +Inf, -Inf gives 0, NaN gives NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Softplus(float x) => VectorMath.Softplus(x, out _);

    /// <summary>
    /// <c>softplus(x) = log(1 + exp(x))</c> in double precision, as <c>max(x, 0) + log1p(exp(-|x|))</c> with an
    /// accurate log1p, so the result keeps full relative accuracy where the naive <c>log(1 + exp(x))</c> rounds
    /// <c>1 + exp(x)</c> to 1 and returns 0 (x &lt; -36.7): <c>Softplus(-100.0) = exp(-100)</c>; it is 0 only where
    /// <c>exp(x)</c> underflows double (x &lt; -745.1). +Inf gives +Inf, -Inf gives 0, NaN gives NaN.
    /// </summary>
    public static double Softplus(double x)
    {
        double e = Math.Exp(-Math.Abs(x));
        return Math.Max(x, 0) + Log1p(e);
    }

    /// <summary>
    /// <c>log(1 + u)</c> for <c>u &gt;= 0</c> to within a few ulps (Goldberg's formula,
    /// <c>log(w) * u / (w - 1)</c> with <c>w = 1 + u</c> rounded, which cancels the rounding of w; <c>u</c> itself
    /// when w rounds to 1). .NET's <c>double.LogP1</c> is <c>log(1 + u)</c> evaluated naively and loses it.
    /// </summary>
    private static double Log1p(double u)
    {
        double w = 1 + u;
        return w == 1 ? u : Math.Log(w) * u / (w - 1);
    }

    /// <summary>
    /// <c>log sigmoid(x) = -softplus(-x) = min(x, 0) - log1p(exp(-|x|))</c>. Exact at the extremes:
    /// <c>LogSigmoid(100) = -exp(-100)</c>, <c>LogSigmoid(-1e4) = -1e4</c>; NaN gives NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float LogSigmoid(float x) => MathF.Min(x, 0f) - VectorMath.Log1p(VectorMath.Exp(-MathF.Abs(x)));

    /// <summary>
    /// <c>sigmoid(x) = 1 / (1 + exp(-x))</c>, evaluated as <c>(x &gt;= 0 ? 1 : e) / (1 + e)</c> with
    /// <c>e = exp(-|x|)</c>, so it never overflows and keeps full relative accuracy for negative x; NaN gives NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sigmoid(float x)
    {
        return VectorMath.SigmoidFromE(x, VectorMath.Exp(-MathF.Abs(x)));
    }

    /// <summary>Element-wise <see cref="Softplus(float)"/>. <paramref name="destination"/> may be the same span as <paramref name="x"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <paramref name="x"/> or partly overlaps it.</exception>
    public static void Softplus(ReadOnlySpan<float> x, Span<float> destination)
    {
        EnsureElementwise(x, destination);
        Map(default(SoftplusOperator), x, destination);
    }

    /// <summary>Element-wise <see cref="LogSigmoid(float)"/>. <paramref name="destination"/> may be the same span as <paramref name="x"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <paramref name="x"/> or partly overlaps it.</exception>
    public static void LogSigmoid(ReadOnlySpan<float> x, Span<float> destination)
    {
        EnsureElementwise(x, destination);
        Map(default(LogSigmoidOperator), x, destination);
    }

    /// <summary>Element-wise <see cref="Sigmoid(float)"/>. <paramref name="destination"/> may be the same span as <paramref name="x"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <paramref name="x"/> or partly overlaps it.</exception>
    public static void Sigmoid(ReadOnlySpan<float> x, Span<float> destination)
    {
        EnsureElementwise(x, destination);
        Map(default(SigmoidOperator), x, destination);
    }

    /// <summary>
    /// <c>sum_i softplus(x_i)</c>, fused (no temporary) and accumulated in double: the sigmoid-loss
    /// negatives term <c>sum_j -log sigmoid(-l_j)</c> of a row of logits. 0 for an empty span; NaN if any
    /// element is NaN; +Inf if any element is +Inf.
    /// </summary>
    public static double SoftplusSum(ReadOnlySpan<float> x) => Sum(default(SoftplusOperator), x);

    /// <summary>
    /// <c>sum_i log sigmoid(x_i)</c>, fused (no temporary) and accumulated in double. 0 for an empty span;
    /// NaN if any element is NaN; -Inf if any element is -Inf.
    /// </summary>
    public static double LogSigmoidSum(ReadOnlySpan<float> x) => Sum(default(LogSigmoidOperator), x);

    /// <summary>
    /// Max-shifted <c>log(sum_i exp(x_i)) = m + log(sum_i exp(x_i - m))</c> with <c>m = max_i x_i</c>, the sum
    /// in double. Returns negative infinity for an empty span or when every element is negative infinity;
    /// positive infinity if any element is positive infinity (and none is NaN); NaN if any element is NaN.
    /// </summary>
    public static float LogSumExp(ReadOnlySpan<float> x)
    {
        if (x.IsEmpty)
        {
            return float.NegativeInfinity;
        }

        float max = TensorPrimitives.Max(x);
        if (!float.IsFinite(max))
        {
            return max;
        }

        return max + (float)Math.Log(Sum(new ExpShiftOperator(max), x));
    }

    /// <summary>
    /// Writes <see cref="LogSumExp(ReadOnlySpan{float})"/> of each row of <paramref name="x"/> to
    /// <paramref name="destination"/>[r].
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than the row count.</exception>
    public static void LogSumExpRows(MatrixView x, Span<float> destination)
    {
        EnsureLength(x.Rows, destination.Length, nameof(destination));
        for (int r = 0; r < x.Rows; r++)
        {
            destination[r] = LogSumExp(x.Row(r));
        }
    }

    /// <summary>
    /// Writes the log-sum-exp of each column of <paramref name="x"/> to <paramref name="destination"/>[c]
    /// (same conventions as <see cref="LogSumExp(ReadOnlySpan{float})"/>: an empty or all -Inf column gives -Inf,
    /// +Inf gives +Inf, NaN gives NaN). Rents its scratch from <see cref="ArrayPool{T}"/>; use the overload
    /// with <c>columnSums</c> to supply it.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than the column count.</exception>
    public static void LogSumExpColumns(MatrixView x, Span<float> destination)
    {
        double[] sums = ArrayPool<double>.Shared.Rent(x.Columns);
        try
        {
            LogSumExpColumns(x, destination, sums);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(sums);
        }
    }

    /// <summary>
    /// Allocation-free <see cref="LogSumExpColumns(MatrixView, Span{float})"/>: <paramref name="columnSums"/>
    /// (at least <c>x.Columns</c> doubles) receives <c>sum_r exp(x_rc - max_r x_rc)</c>. Memory is swept row by
    /// row (contiguous), two passes over <paramref name="x"/>.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> or <paramref name="columnSums"/> is shorter than the column count.</exception>
    public static void LogSumExpColumns(MatrixView x, Span<float> destination, Span<double> columnSums)
    {
        EnsureLength(x.Columns, destination.Length, nameof(destination));
        EnsureLength(x.Columns, columnSums.Length, nameof(columnSums));
        Span<float> max = destination.Slice(0, x.Columns);
        Span<double> sums = columnSums.Slice(0, x.Columns);
        if (x.Rows == 0)
        {
            max.Fill(float.NegativeInfinity);
            return;
        }

        ColumnMax(x, max);
        sums.Clear();
        for (int r = 0; r < x.Rows; r++)
        {
            AccumulateExpShifted(x.Row(r), max, sums);
        }

        for (int c = 0; c < max.Length; c++)
        {
            float m = max[c];
            if (float.IsFinite(m))
            {
                max[c] = m + (float)Math.Log(sums[c]);
            }
        }
    }

    /// <summary>
    /// Row-wise softmax <c>y_rc = exp(x_rc - m_r) / sum_k exp(x_rk - m_r)</c> with <c>m_r</c> the row maximum, into
    /// <paramref name="destination"/> (may be the same view as <paramref name="x"/>). Each row sums to 1 within float
    /// rounding. A row containing NaN or +Inf, or whose elements are all -Inf, becomes NaN (the distribution is undefined).
    /// </summary>
    /// <exception cref="ArgumentException">The shapes differ, or <paramref name="destination"/> overlaps <paramref name="x"/> without being the same view.</exception>
    public static void SoftmaxRows(MatrixView x, MatrixView destination)
    {
        destination.EnsureShape(x.Rows, x.Columns, nameof(destination));
        EnsureInPlaceOrDisjoint(x, destination, nameof(destination));
        if (x.Columns == 0)
        {
            return;
        }

        for (int r = 0; r < x.Rows; r++)
        {
            Span<float> src = x.Row(r);
            Span<float> dst = destination.Row(r);
            EnsureElementwise(src, dst);
            float max = TensorPrimitives.Max(src);
            double sum = MapSum(new ExpShiftOperator(max), src, dst);
            TensorPrimitives.Multiply(dst, (float)(1.0 / sum), dst);
        }
    }

    /// <summary>
    /// Column-wise softmax <c>y_rc = exp(x_rc - m_c) / sum_k exp(x_kc - m_c)</c> into <paramref name="destination"/>
    /// (may be the same view as <paramref name="x"/>); same conventions as <see cref="SoftmaxRows"/>. Rents its
    /// scratch from <see cref="ArrayPool{T}"/>; use the overload with scratch spans to supply it.
    /// </summary>
    /// <exception cref="ArgumentException">The shapes differ, or <paramref name="destination"/> overlaps <paramref name="x"/> without being the same view.</exception>
    public static void SoftmaxColumns(MatrixView x, MatrixView destination)
    {
        float[] max = ArrayPool<float>.Shared.Rent(x.Columns);
        double[] sums = ArrayPool<double>.Shared.Rent(x.Columns);
        try
        {
            SoftmaxColumns(x, destination, max, sums);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(sums);
            ArrayPool<float>.Shared.Return(max);
        }
    }

    /// <summary>
    /// Allocation-free <see cref="SoftmaxColumns(MatrixView, MatrixView)"/>. <paramref name="columnScratch"/> (at least
    /// <c>x.Columns</c> floats) and <paramref name="columnSums"/> (at least <c>x.Columns</c> doubles) are working memory;
    /// their contents on return are unspecified. Three row-by-row sweeps; no per-element division.
    /// </summary>
    /// <exception cref="ArgumentException">The shapes differ, a scratch span is shorter than the column count, or <paramref name="destination"/> overlaps <paramref name="x"/> without being the same view.</exception>
    public static void SoftmaxColumns(MatrixView x, MatrixView destination, Span<float> columnScratch, Span<double> columnSums)
    {
        destination.EnsureShape(x.Rows, x.Columns, nameof(destination));
        EnsureLength(x.Columns, columnScratch.Length, nameof(columnScratch));
        EnsureLength(x.Columns, columnSums.Length, nameof(columnSums));
        EnsureInPlaceOrDisjoint(x, destination, nameof(destination));
        if (x.Rows == 0 || x.Columns == 0)
        {
            return;
        }

        for (int r = 0; r < x.Rows; r++)
        {
            EnsureElementwise(x.Row(r), destination.Row(r));
        }

        Span<float> scale = columnScratch.Slice(0, x.Columns);
        Span<double> sums = columnSums.Slice(0, x.Columns);
        ColumnMax(x, scale);
        sums.Clear();
        for (int r = 0; r < x.Rows; r++)
        {
            Span<float> dst = destination.Row(r);
            TensorPrimitives.Subtract(x.Row(r), scale, dst);
            Map(default(ExpOperator), dst, dst);
            AccumulateSum(dst, sums);
        }

        // The maxima are no longer needed: reuse their storage for 1 / sum.
        for (int c = 0; c < scale.Length; c++)
        {
            scale[c] = (float)(1.0 / sums[c]);
        }

        for (int r = 0; r < x.Rows; r++)
        {
            Span<float> dst = destination.Row(r);
            TensorPrimitives.Multiply(dst, scale, dst);
        }
    }

    /// <summary>
    /// <c>y_r = x_r / max(||x_r||_2, eps)</c> for each row, with the norm accumulated in double (no overflow for any
    /// finite input); writes the (unclamped) norms to <paramref name="norms"/>, rounded to float, so a finite row whose
    /// norm exceeds <see cref="float.MaxValue"/> (elements near 1.8e38) gets a norm of +Inf while its normalised row stays
    /// finite and exact. <paramref name="destination"/> may be the same view as <paramref name="x"/>. A row containing
    /// NaN or Inf gives NaN (or 0 where the norm is Inf) entries.
    /// </summary>
    /// <exception cref="ArgumentException">Shapes differ, <paramref name="destination"/> overlaps <paramref name="x"/> without being the same view, or <paramref name="norms"/> is shorter than the row count.</exception>
    public static void L2NormalizeRows(MatrixView x, MatrixView destination, Span<float> norms)
    {
        destination.EnsureShape(x.Rows, x.Columns, nameof(destination));
        EnsureLength(x.Rows, norms.Length, nameof(norms));
        EnsureInPlaceOrDisjoint(x, destination, nameof(destination));
        for (int r = 0; r < x.Rows; r++)
        {
            Span<float> src = x.Row(r);
            Span<float> dst = destination.Row(r);
            EnsureElementwise(src, dst);
            double norm = Math.Sqrt(DotDouble(src, src));
            norms[r] = (float)norm;
            double scale = 1.0 / Math.Max(norm, NormalizeEpsilon);
            if (scale >= SmallestNormalFloat || double.IsNaN(scale))
            {
                TensorPrimitives.Multiply(src, (float)scale, dst);
            }
            else
            {
                // Norms beyond ~8.5e37: 1/norm is a float denormal, so scale in double to keep full precision.
                for (int c = 0; c < src.Length; c++)
                {
                    dst[c] = (float)(src[c] * scale);
                }
            }
        }
    }

    /// <summary>
    /// Backward of <see cref="L2NormalizeRows"/>: given the normalised rows <c>y</c>, the forward norms, and
    /// <c>g = dL/dy</c>, writes <c>dL/dx = (g - y (y . g)) / ||x||</c> (the dot product in double); for rows whose
    /// norm was clamped to eps, <c>g / eps</c>. <paramref name="gradInput"/> may be the same view as
    /// <paramref name="gradOutput"/> (or as <paramref name="normalized"/>).
    /// </summary>
    /// <exception cref="ArgumentException">Shapes differ, <paramref name="gradInput"/> overlaps <paramref name="gradOutput"/> or <paramref name="normalized"/> without being the same view, or <paramref name="norms"/> is shorter than the row count.</exception>
    public static void L2NormalizeRowsBackward(MatrixView normalized, ReadOnlySpan<float> norms, MatrixView gradOutput, MatrixView gradInput)
    {
        gradOutput.EnsureShape(normalized.Rows, normalized.Columns, nameof(gradOutput));
        gradInput.EnsureShape(normalized.Rows, normalized.Columns, nameof(gradInput));
        EnsureLength(normalized.Rows, norms.Length, nameof(norms));
        EnsureInPlaceOrDisjoint(gradOutput, gradInput, nameof(gradInput));
        EnsureInPlaceOrDisjoint(normalized, gradInput, nameof(gradInput));
        for (int r = 0; r < normalized.Rows; r++)
        {
            Span<float> y = normalized.Row(r);
            Span<float> g = gradOutput.Row(r);
            Span<float> dx = gradInput.Row(r);
            EnsureElementwise(g, dx);
            EnsureElementwise(y, dx);
            float norm = norms[r];
            if (!(norm >= NormalizeEpsilon))
            {
                if (float.IsNaN(norm))
                {
                    dx.Fill(float.NaN);
                    continue;
                }

                TensorPrimitives.Multiply(g, 1f / NormalizeEpsilon, dx);
                continue;
            }

            float dot = (float)DotDouble(y, g);
            TensorPrimitives.MultiplyAdd(y, -dot, g, dx);
            TensorPrimitives.Multiply(dx, 1f / norm, dx);
        }
    }

    /// <summary>Column maxima of <paramref name="x"/> (at least one row) into <paramref name="max"/>; NaN propagates.</summary>
    private static void ColumnMax(MatrixView x, Span<float> max)
    {
        x.Row(0).CopyTo(max);
        for (int r = 1; r < x.Rows; r++)
        {
            TensorPrimitives.Max(max, x.Row(r), max);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void EnsureLength(int needed, int available, string name)
    {
        if (available < needed)
        {
            Guard.ThrowArgument(name, $"has {available} elements but {needed} are needed");
        }
    }

    /// <summary>
    /// Row kernels read later source rows after writing earlier destination rows, so a destination must be the very
    /// same view as the source or share no element with it (checked for the whole view before anything is written).
    /// </summary>
    private static void EnsureInPlaceOrDisjoint(MatrixView source, MatrixView destination, string name)
    {
        if (!destination.IsSameStorageAs(source) && MatrixView.Overlap(source, destination))
        {
            Guard.ThrowArgument(name, "overlaps the source without being the very same view; pass the same view for in-place work or separate storage");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void EnsureElementwise(ReadOnlySpan<float> x, Span<float> destination)
    {
        EnsureLength(x.Length, destination.Length, nameof(destination));
        if (x.Overlaps(destination, out int offset) && offset != 0)
        {
            Guard.ThrowArgument(nameof(destination), "partly overlaps the source; pass the very same span for in-place work or a separate buffer");
        }
    }
}
