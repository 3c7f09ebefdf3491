using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Aced.Core;

namespace Aced.Selection;

/// <summary>
/// Vectorised row reductions used inside the GEMM epilogues of the samplers. Softplus sums use
/// <c>softplus(v) = max(v, 0) + log1p(exp(-|v|))</c> with a short odd series for log1p that keeps full
/// relative accuracy for the tiny terms of confident negatives (one exponential, one division and eight
/// fused multiply-adds per element, no logarithm).
/// </summary>
internal static class SelectionKernels
{
    /// <summary><c>sum_j softplus(x_j + bias)</c>.</summary>
    public static double SoftplusSum(ReadOnlySpan<float> x, float bias) => SoftplusSumCore(x, bias, default, shifted: false);

    /// <summary><c>sum_j softplus(x_j + bias - shift_j)</c>.</summary>
    public static double SoftplusSumShifted(ReadOnlySpan<float> x, float bias, ReadOnlySpan<float> shift) => SoftplusSumCore(x, bias, shift, shifted: true);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double SoftplusSumCore(ReadOnlySpan<float> x, float bias, ReadOnlySpan<float> shift, bool shifted)
    {
        ref float r = ref MemoryMarshal.GetReference(x);
        ref float s = ref MemoryMarshal.GetReference(shift);
        int n = x.Length;
        int i = 0;
        double total = 0;
        if (Vector512.IsHardwareAccelerated && n >= Vector512<float>.Count)
        {
            Vector512<float> b = Vector512.Create(bias);
            Vector512<float> acc = Vector512<float>.Zero;
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                Vector512<float> v = Vector512.LoadUnsafe(ref r, (nuint)i) + b;
                if (shifted)
                {
                    v -= Vector512.LoadUnsafe(ref s, (nuint)i);
                }

                acc += Vector512.Max(v, Vector512<float>.Zero) + Log1p(ExpNonPositive(-Vector512.Abs(v)));
            }

            total += Vector512.Sum(acc);
        }

        if (Vector256.IsHardwareAccelerated && n - i >= Vector256<float>.Count)
        {
            Vector256<float> b = Vector256.Create(bias);
            Vector256<float> acc = Vector256<float>.Zero;
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                Vector256<float> v = Vector256.LoadUnsafe(ref r, (nuint)i) + b;
                if (shifted)
                {
                    v -= Vector256.LoadUnsafe(ref s, (nuint)i);
                }

                acc += Vector256.Max(v, Vector256<float>.Zero) + Log1p(ExpNonPositive(-Vector256.Abs(v)));
            }

            total += Vector256.Sum(acc);
        }

        for (; i < n; i++)
        {
            float v = Unsafe.Add(ref r, i) + bias;
            if (shifted)
            {
                v -= Unsafe.Add(ref s, i);
            }

            // The few tail elements in double precision.
            total += Softplus(v);
        }

        return total;
    }

    /// <summary>
    /// <c>exp(x)</c> for <c>x &lt;= 0</c> in float, relative error about 2e-7 down to <c>x = -87</c> (below that it
    /// returns <c>exp(-87)</c> ~ 1.6e-38 instead of underflowing, which changes a softplus sum by less than 1e-37):
    /// <c>2^n * P(r)</c> with <c>n = round(x / ln 2)</c>, <c>r = x - n ln 2</c> (two-part ln 2) and the degree-7 Taylor
    /// polynomial <c>P</c> on |r| &lt;= ln(2)/2. Cheaper than the general vector exp, which is the epilogue's main cost.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> ExpNonPositive(Vector512<float> x)
    {
        x = Vector512.Max(x, Vector512.Create(-87f));
        Vector512<float> n = Vector512.Round(x * Vector512.Create(1.44269504f));
        Vector512<float> r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
        Vector512<float> p = Vector512.FusedMultiplyAdd(Vector512.Create(1f / 5040f), r, Vector512.Create(1f / 720f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 120f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 24f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 6f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        Vector512<int> scale = Vector512.ShiftLeft(Vector512.ConvertToInt32(n) + Vector512.Create(127), 23);
        return p * scale.AsSingle();
    }

    /// <inheritdoc cref="ExpNonPositive(Vector512{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> ExpNonPositive(Vector256<float> x)
    {
        x = Vector256.Max(x, Vector256.Create(-87f));
        Vector256<float> n = Vector256.Round(x * Vector256.Create(1.44269504f));
        Vector256<float> r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-0.693359375f), x);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(2.12194440e-4f), r);
        Vector256<float> p = Vector256.FusedMultiplyAdd(Vector256.Create(1f / 5040f), r, Vector256.Create(1f / 720f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 120f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 24f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 6f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(0.5f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<float>.One);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<float>.One);
        Vector256<int> scale = Vector256.ShiftLeft(Vector256.ConvertToInt32(n) + Vector256.Create(127), 23);
        return p * scale.AsSingle();
    }

    /// <summary>
    /// <c>log(1 + u)</c> for u in [0, 1] with relative accuracy near float rounding for every u (also tiny u):
    /// <c>2 atanh(t) = 2 t (1 + t^2/3 + ... + t^14/15)</c> with <c>t = u / (2 + u)</c> in [0, 1/3]; the truncation
    /// error is below <c>(1/9)^8 / 17</c>, about 1.4e-9 relative.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Log1p(Vector512<float> u)
    {
        Vector512<float> t = u / (Vector512.Create(2f) + u);
        Vector512<float> t2 = t * t;
        Vector512<float> p = Vector512.FusedMultiplyAdd(Vector512.Create(1f / 15f), t2, Vector512.Create(1f / 13f));
        p = Vector512.FusedMultiplyAdd(p, t2, Vector512.Create(1f / 11f));
        p = Vector512.FusedMultiplyAdd(p, t2, Vector512.Create(1f / 9f));
        p = Vector512.FusedMultiplyAdd(p, t2, Vector512.Create(1f / 7f));
        p = Vector512.FusedMultiplyAdd(p, t2, Vector512.Create(1f / 5f));
        p = Vector512.FusedMultiplyAdd(p, t2, Vector512.Create(1f / 3f));
        p = Vector512.FusedMultiplyAdd(p, t2, Vector512<float>.One);
        return (t + t) * p;
    }

    /// <inheritdoc cref="Log1p(Vector512{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Log1p(Vector256<float> u)
    {
        Vector256<float> t = u / (Vector256.Create(2f) + u);
        Vector256<float> t2 = t * t;
        Vector256<float> p = Vector256.FusedMultiplyAdd(Vector256.Create(1f / 15f), t2, Vector256.Create(1f / 13f));
        p = Vector256.FusedMultiplyAdd(p, t2, Vector256.Create(1f / 11f));
        p = Vector256.FusedMultiplyAdd(p, t2, Vector256.Create(1f / 9f));
        p = Vector256.FusedMultiplyAdd(p, t2, Vector256.Create(1f / 7f));
        p = Vector256.FusedMultiplyAdd(p, t2, Vector256.Create(1f / 5f));
        p = Vector256.FusedMultiplyAdd(p, t2, Vector256.Create(1f / 3f));
        p = Vector256.FusedMultiplyAdd(p, t2, Vector256<float>.One);
        return (t + t) * p;
    }

    /// <summary>
    /// Folds <c>x_j + bias</c> into a running log-sum-exp kept as (max, sum of exp(v - max)) in double.
    /// An empty state has max = negative infinity and sum = 0.
    /// </summary>
    public static void AccumulateLogSumExp(ReadOnlySpan<float> x, float bias, ref double max, ref double sum)
    {
        if (x.IsEmpty)
        {
            return;
        }

        double tileMax = System.Numerics.Tensors.TensorPrimitives.Max(x) + (double)bias;
        double newMax = Math.Max(max, tileMax);
        if (sum != 0)
        {
            sum *= Math.Exp(max - newMax);
        }

        float shift = (float)(newMax - bias);
        ref float r = ref MemoryMarshal.GetReference(x);
        int n = x.Length;
        int i = 0;
        double tileSum = 0;

        // Every argument is <= 0 up to rounding (shift is the running max), which ExpNonPositive handles.
        if (Vector512.IsHardwareAccelerated && n >= Vector512<float>.Count)
        {
            Vector512<float> sh = Vector512.Create(shift);
            Vector512<float> acc = Vector512<float>.Zero;
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                acc += ExpNonPositive(Vector512.LoadUnsafe(ref r, (nuint)i) - sh);
            }

            tileSum += Vector512.Sum(acc);
        }

        if (Vector256.IsHardwareAccelerated && n - i >= Vector256<float>.Count)
        {
            Vector256<float> sh = Vector256.Create(shift);
            Vector256<float> acc = Vector256<float>.Zero;
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                acc += ExpNonPositive(Vector256.LoadUnsafe(ref r, (nuint)i) - sh);
            }

            tileSum += Vector256.Sum(acc);
        }

        for (; i < n; i++)
        {
            tileSum += MathF.Exp(Unsafe.Add(ref r, i) - shift);
        }

        sum += tileSum;
        max = newMax;
    }

    /// <summary>Stable <c>log(exp(a) + exp(b))</c> in double; either may be negative infinity.</summary>
    public static double LogAddExp(double a, double b)
    {
        if (double.IsNegativeInfinity(a))
        {
            return b;
        }

        if (double.IsNegativeInfinity(b))
        {
            return a;
        }

        double m = Math.Max(a, b);
        return m + Math.Log(Math.Exp(a - m) + Math.Exp(b - m));
    }

    /// <summary>
    /// True when every element is finite: accumulates <c>x - x</c> (0 for finite x, NaN for NaN and infinity) in
    /// four independent vector sums, so one memory-bound pass with no per-element branch.
    /// </summary>
    public static bool AllFinite(ReadOnlySpan<float> x)
    {
        ref float r = ref MemoryMarshal.GetReference(x);
        int n = x.Length;
        int i = 0;
        if (Vector512.IsHardwareAccelerated && n >= 4 * Vector512<float>.Count)
        {
            Vector512<float> a0 = Vector512<float>.Zero, a1 = Vector512<float>.Zero, a2 = Vector512<float>.Zero, a3 = Vector512<float>.Zero;
            for (; i <= n - (4 * Vector512<float>.Count); i += 4 * Vector512<float>.Count)
            {
                Vector512<float> v0 = Vector512.LoadUnsafe(ref r, (nuint)i);
                Vector512<float> v1 = Vector512.LoadUnsafe(ref r, (nuint)(i + 16));
                Vector512<float> v2 = Vector512.LoadUnsafe(ref r, (nuint)(i + 32));
                Vector512<float> v3 = Vector512.LoadUnsafe(ref r, (nuint)(i + 48));
                a0 += v0 - v0;
                a1 += v1 - v1;
                a2 += v2 - v2;
                a3 += v3 - v3;
            }

            if (!float.IsFinite(Vector512.Sum((a0 + a1) + (a2 + a3))))
            {
                return false;
            }
        }
        else if (Vector256.IsHardwareAccelerated && n >= 4 * Vector256<float>.Count)
        {
            Vector256<float> a0 = Vector256<float>.Zero, a1 = Vector256<float>.Zero, a2 = Vector256<float>.Zero, a3 = Vector256<float>.Zero;
            for (; i <= n - (4 * Vector256<float>.Count); i += 4 * Vector256<float>.Count)
            {
                Vector256<float> v0 = Vector256.LoadUnsafe(ref r, (nuint)i);
                Vector256<float> v1 = Vector256.LoadUnsafe(ref r, (nuint)(i + 8));
                Vector256<float> v2 = Vector256.LoadUnsafe(ref r, (nuint)(i + 16));
                Vector256<float> v3 = Vector256.LoadUnsafe(ref r, (nuint)(i + 24));
                a0 += v0 - v0;
                a1 += v1 - v1;
                a2 += v2 - v2;
                a3 += v3 - v3;
            }

            if (!float.IsFinite(Vector256.Sum((a0 + a1) + (a2 + a3))))
            {
                return false;
            }
        }

        for (; i < n; i++)
        {
            if (!float.IsFinite(Unsafe.Add(ref r, i)))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Stable softplus in double.</summary>
    public static double Softplus(double x) => Math.Max(x, 0) + Math.Log(1 + Math.Exp(-Math.Abs(x)));
}

/// <summary>Epilogue adding <c>weight * sum_j softplus(P_ij + bias)</c> to <c>accumulator[i]</c> for each row i of the product.</summary>
internal readonly struct SoftplusRowSumEpilogue : IGemmEpilogue
{
    private readonly double[] _accumulator;
    private readonly float _bias;
    private readonly double _weight;

    public SoftplusRowSumEpilogue(double[] accumulator, float bias, double weight)
    {
        _accumulator = accumulator;
        _bias = bias;
        _weight = weight;
    }

    public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
    {
        for (int r = 0; r < rows; r++)
        {
            _accumulator[rowStart + r] += _weight * SelectionKernels.SoftplusSum(tile.Slice(r * stride, columns), _bias);
        }
    }
}

/// <summary>
/// Epilogue for the softmax conditional score: per row i of <c>P + bias</c> it folds the row into a running
/// log-sum-exp (<c>max[i]</c>, <c>sum[i]</c>) and adds <c>sum_j softplus(P_ij + bias - shift_j)</c> to
/// <c>softplusSum[i]</c>, where <c>shift_j</c> is a per-column (per-member) log-sum-exp.
/// </summary>
internal readonly struct SoftmaxConditionalEpilogue : IGemmEpilogue
{
    private readonly double[] _max;
    private readonly double[] _sum;
    private readonly double[] _softplusSum;
    private readonly float[] _shift;
    private readonly float _bias;

    public SoftmaxConditionalEpilogue(double[] max, double[] sum, double[] softplusSum, float[] shift, float bias)
    {
        _max = max;
        _sum = sum;
        _softplusSum = softplusSum;
        _shift = shift;
        _bias = bias;
    }

    public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
    {
        ReadOnlySpan<float> shift = _shift.AsSpan(columnStart, columns);
        for (int r = 0; r < rows; r++)
        {
            int i = rowStart + r;
            ReadOnlySpan<float> row = tile.Slice(r * stride, columns);
            SelectionKernels.AccumulateLogSumExp(row, _bias, ref _max[i], ref _sum[i]);
            _softplusSum[i] += SelectionKernels.SoftplusSumShifted(row, _bias, shift);
        }
    }
}

/// <summary>Epilogue folding each row of <c>P + bias</c> into a running log-sum-exp (<c>max[i]</c>, <c>sum[i]</c>).</summary>
internal readonly struct RowLogSumExpEpilogue : IGemmEpilogue
{
    private readonly double[] _max;
    private readonly double[] _sum;
    private readonly float _bias;

    public RowLogSumExpEpilogue(double[] max, double[] sum, float bias)
    {
        _max = max;
        _sum = sum;
        _bias = bias;
    }

    public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
    {
        for (int r = 0; r < rows; r++)
        {
            SelectionKernels.AccumulateLogSumExp(tile.Slice(r * stride, columns), _bias, ref _max[rowStart + r], ref _sum[rowStart + r]);
        }
    }
}
