using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Aced.Core;

public static partial class StableMath
{
    // Drivers: the widest accelerated vector for the bulk, then one step of each narrower width, then scalars,
    // so every element is read before it is written (destination may be the same span as the source).

    /// <summary><c>destination[i] = op(x[i])</c>.</summary>
    private static void Map<TOperator>(TOperator op, ReadOnlySpan<float> x, Span<float> destination)
        where TOperator : struct, IUnaryOperator
    {
        ref float src = ref MemoryMarshal.GetReference(x);
        ref float dst = ref MemoryMarshal.GetReference(destination);
        nuint n = (nuint)x.Length;
        nuint i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= n; i += 16)
            {
                op.Invoke(Vector512.LoadUnsafe(ref src, i)).StoreUnsafe(ref dst, i);
            }
        }

        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= n; i += 8)
            {
                op.Invoke(Vector256.LoadUnsafe(ref src, i)).StoreUnsafe(ref dst, i);
            }
        }

        if (Vector128.IsHardwareAccelerated)
        {
            for (; i + 4 <= n; i += 4)
            {
                op.Invoke(Vector128.LoadUnsafe(ref src, i)).StoreUnsafe(ref dst, i);
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref dst, i) = op.Invoke(Unsafe.Add(ref src, i));
        }
    }

    /// <summary><c>sum_i op(x[i])</c> accumulated in double (error independent of the length for practical purposes).</summary>
    private static double Sum<TOperator>(TOperator op, ReadOnlySpan<float> x)
        where TOperator : struct, IUnaryOperator
    {
        ref float src = ref MemoryMarshal.GetReference(x);
        nuint n = (nuint)x.Length;
        nuint i = 0;
        double total = 0;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            Vector512<double> acc0 = Vector512<double>.Zero;
            Vector512<double> acc1 = Vector512<double>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                (Vector512<double> lower, Vector512<double> upper) = Vector512.Widen(op.Invoke(Vector512.LoadUnsafe(ref src, i)));
                acc0 += lower;
                acc1 += upper;
            }

            total += Vector512.Sum(acc0 + acc1);
        }

        if (Vector256.IsHardwareAccelerated && i + 8 <= n)
        {
            Vector256<double> acc0 = Vector256<double>.Zero;
            Vector256<double> acc1 = Vector256<double>.Zero;
            for (; i + 8 <= n; i += 8)
            {
                (Vector256<double> lower, Vector256<double> upper) = Vector256.Widen(op.Invoke(Vector256.LoadUnsafe(ref src, i)));
                acc0 += lower;
                acc1 += upper;
            }

            total += Vector256.Sum(acc0 + acc1);
        }

        if (Vector128.IsHardwareAccelerated && i + 4 <= n)
        {
            Vector128<double> acc0 = Vector128<double>.Zero;
            Vector128<double> acc1 = Vector128<double>.Zero;
            for (; i + 4 <= n; i += 4)
            {
                (Vector128<double> lower, Vector128<double> upper) = Vector128.Widen(op.Invoke(Vector128.LoadUnsafe(ref src, i)));
                acc0 += lower;
                acc1 += upper;
            }

            total += Vector128.Sum(acc0 + acc1);
        }

        for (; i < n; i++)
        {
            total += op.Invoke(Unsafe.Add(ref src, i));
        }

        return total;
    }

    /// <summary><c>destination[i] = op(x[i])</c> and returns <c>sum_i destination[i]</c> accumulated in double.</summary>
    private static double MapSum<TOperator>(TOperator op, ReadOnlySpan<float> x, Span<float> destination)
        where TOperator : struct, IUnaryOperator
    {
        ref float src = ref MemoryMarshal.GetReference(x);
        ref float dst = ref MemoryMarshal.GetReference(destination);
        nuint n = (nuint)x.Length;
        nuint i = 0;
        double total = 0;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            Vector512<double> acc0 = Vector512<double>.Zero;
            Vector512<double> acc1 = Vector512<double>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                Vector512<float> y = op.Invoke(Vector512.LoadUnsafe(ref src, i));
                y.StoreUnsafe(ref dst, i);
                (Vector512<double> lower, Vector512<double> upper) = Vector512.Widen(y);
                acc0 += lower;
                acc1 += upper;
            }

            total += Vector512.Sum(acc0 + acc1);
        }

        if (Vector256.IsHardwareAccelerated && i + 8 <= n)
        {
            Vector256<double> acc0 = Vector256<double>.Zero;
            Vector256<double> acc1 = Vector256<double>.Zero;
            for (; i + 8 <= n; i += 8)
            {
                Vector256<float> y = op.Invoke(Vector256.LoadUnsafe(ref src, i));
                y.StoreUnsafe(ref dst, i);
                (Vector256<double> lower, Vector256<double> upper) = Vector256.Widen(y);
                acc0 += lower;
                acc1 += upper;
            }

            total += Vector256.Sum(acc0 + acc1);
        }

        if (Vector128.IsHardwareAccelerated && i + 4 <= n)
        {
            Vector128<double> acc0 = Vector128<double>.Zero;
            Vector128<double> acc1 = Vector128<double>.Zero;
            for (; i + 4 <= n; i += 4)
            {
                Vector128<float> y = op.Invoke(Vector128.LoadUnsafe(ref src, i));
                y.StoreUnsafe(ref dst, i);
                (Vector128<double> lower, Vector128<double> upper) = Vector128.Widen(y);
                acc0 += lower;
                acc1 += upper;
            }

            total += Vector128.Sum(acc0 + acc1);
        }

        for (; i < n; i++)
        {
            float y = op.Invoke(Unsafe.Add(ref src, i));
            Unsafe.Add(ref dst, i) = y;
            total += y;
        }

        return total;
    }

    /// <summary><c>sums[c] += exp(x[c] - shift[c])</c> for every c (the column log-sum-exp accumulation step).</summary>
    private static void AccumulateExpShifted(ReadOnlySpan<float> x, ReadOnlySpan<float> shift, Span<double> sums)
    {
        ref float src = ref MemoryMarshal.GetReference(x);
        ref float sh = ref MemoryMarshal.GetReference(shift);
        ref double acc = ref MemoryMarshal.GetReference(sums);
        nuint n = (nuint)x.Length;
        nuint i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= n; i += 16)
            {
                Vector512<float> e = VectorMath.Exp(Vector512.LoadUnsafe(ref src, i) - Vector512.LoadUnsafe(ref sh, i));
                (Vector512<double> lower, Vector512<double> upper) = Vector512.Widen(e);
                (Vector512.LoadUnsafe(ref acc, i) + lower).StoreUnsafe(ref acc, i);
                (Vector512.LoadUnsafe(ref acc, i + 8) + upper).StoreUnsafe(ref acc, i + 8);
            }
        }

        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= n; i += 8)
            {
                Vector256<float> e = VectorMath.Exp(Vector256.LoadUnsafe(ref src, i) - Vector256.LoadUnsafe(ref sh, i));
                (Vector256<double> lower, Vector256<double> upper) = Vector256.Widen(e);
                (Vector256.LoadUnsafe(ref acc, i) + lower).StoreUnsafe(ref acc, i);
                (Vector256.LoadUnsafe(ref acc, i + 4) + upper).StoreUnsafe(ref acc, i + 4);
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref acc, i) += VectorMath.Exp(Unsafe.Add(ref src, i) - Unsafe.Add(ref sh, i));
        }
    }

    /// <summary><c>sums[c] += values[c]</c> in double.</summary>
    private static void AccumulateSum(ReadOnlySpan<float> values, Span<double> sums)
    {
        ref float src = ref MemoryMarshal.GetReference(values);
        ref double acc = ref MemoryMarshal.GetReference(sums);
        nuint n = (nuint)values.Length;
        nuint i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= n; i += 16)
            {
                (Vector512<double> lower, Vector512<double> upper) = Vector512.Widen(Vector512.LoadUnsafe(ref src, i));
                (Vector512.LoadUnsafe(ref acc, i) + lower).StoreUnsafe(ref acc, i);
                (Vector512.LoadUnsafe(ref acc, i + 8) + upper).StoreUnsafe(ref acc, i + 8);
            }
        }

        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= n; i += 8)
            {
                (Vector256<double> lower, Vector256<double> upper) = Vector256.Widen(Vector256.LoadUnsafe(ref src, i));
                (Vector256.LoadUnsafe(ref acc, i) + lower).StoreUnsafe(ref acc, i);
                (Vector256.LoadUnsafe(ref acc, i + 4) + upper).StoreUnsafe(ref acc, i + 4);
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref acc, i) += Unsafe.Add(ref src, i);
        }
    }

    /// <summary><c>sum_i a[i] * b[i]</c> with products and sum in double (no overflow for any finite float input).</summary>
    private static double DotDouble(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        ref float pa = ref MemoryMarshal.GetReference(a);
        ref float pb = ref MemoryMarshal.GetReference(b);
        nuint n = (nuint)a.Length;
        nuint i = 0;
        double total = 0;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            Vector512<double> acc0 = Vector512<double>.Zero;
            Vector512<double> acc1 = Vector512<double>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                (Vector512<double> al, Vector512<double> au) = Vector512.Widen(Vector512.LoadUnsafe(ref pa, i));
                (Vector512<double> bl, Vector512<double> bu) = Vector512.Widen(Vector512.LoadUnsafe(ref pb, i));
                acc0 = Vector512.FusedMultiplyAdd(al, bl, acc0);
                acc1 = Vector512.FusedMultiplyAdd(au, bu, acc1);
            }

            total += Vector512.Sum(acc0 + acc1);
        }

        if (Vector256.IsHardwareAccelerated && i + 8 <= n)
        {
            Vector256<double> acc0 = Vector256<double>.Zero;
            Vector256<double> acc1 = Vector256<double>.Zero;
            for (; i + 8 <= n; i += 8)
            {
                (Vector256<double> al, Vector256<double> au) = Vector256.Widen(Vector256.LoadUnsafe(ref pa, i));
                (Vector256<double> bl, Vector256<double> bu) = Vector256.Widen(Vector256.LoadUnsafe(ref pb, i));
                acc0 = Vector256.FusedMultiplyAdd(al, bl, acc0);
                acc1 = Vector256.FusedMultiplyAdd(au, bu, acc1);
            }

            total += Vector256.Sum(acc0 + acc1);
        }

        for (; i < n; i++)
        {
            total += (double)Unsafe.Add(ref pa, i) * Unsafe.Add(ref pb, i);
        }

        return total;
    }
}
