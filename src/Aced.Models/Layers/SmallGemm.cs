using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Aced.Models.Layers;

/// <summary>
/// Single-threaded vectorised products of small matrices (the per-example, per-head attention products, e.g.
/// 64 x 64 x 32), called from inside a parallel chunk. <see cref="Aced.Core.Gemm"/> is built for large products and
/// parallelises internally; these are too small for that to pay and run many at once, one per example.
/// </summary>
internal static class SmallGemm
{
    /// <summary>
    /// <c>C = alpha * A * B + beta * C</c> with A m x k (row stride lda), B k x n (row stride ldb), C m x n (row stride ldc);
    /// beta must be 0 (overwrite) or 1 (accumulate).
    /// </summary>
    public static void MultiplyNN(int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, bool accumulate, Span<float> c, int ldc)
    {
        ref float a0 = ref MemoryMarshal.GetReference(a);
        ref float b0 = ref MemoryMarshal.GetReference(b);
        ref float c0 = ref MemoryMarshal.GetReference(c);
        int w = Vector256<float>.Count;
        for (int i = 0; i < m; i++)
        {
            ref float aRow = ref Unsafe.Add(ref a0, i * lda);
            ref float cRow = ref Unsafe.Add(ref c0, i * ldc);
            int j = 0;
            for (; j + (4 * w) <= n; j += 4 * w)
            {
                Vector256<float> acc0 = Vector256<float>.Zero;
                Vector256<float> acc1 = Vector256<float>.Zero;
                Vector256<float> acc2 = Vector256<float>.Zero;
                Vector256<float> acc3 = Vector256<float>.Zero;
                ref float bCol = ref Unsafe.Add(ref b0, j);
                for (int p = 0; p < k; p++)
                {
                    Vector256<float> av = Vector256.Create(Unsafe.Add(ref aRow, p));
                    ref float bp = ref Unsafe.Add(ref bCol, p * ldb);
                    acc0 = Vector256.FusedMultiplyAdd(av, Vector256.LoadUnsafe(ref bp), acc0);
                    acc1 = Vector256.FusedMultiplyAdd(av, Vector256.LoadUnsafe(ref bp, (nuint)w), acc1);
                    acc2 = Vector256.FusedMultiplyAdd(av, Vector256.LoadUnsafe(ref bp, (nuint)(2 * w)), acc2);
                    acc3 = Vector256.FusedMultiplyAdd(av, Vector256.LoadUnsafe(ref bp, (nuint)(3 * w)), acc3);
                }

                Store(ref Unsafe.Add(ref cRow, j), acc0 * alpha, accumulate);
                Store(ref Unsafe.Add(ref cRow, j + w), acc1 * alpha, accumulate);
                Store(ref Unsafe.Add(ref cRow, j + (2 * w)), acc2 * alpha, accumulate);
                Store(ref Unsafe.Add(ref cRow, j + (3 * w)), acc3 * alpha, accumulate);
            }

            for (; j + w <= n; j += w)
            {
                Vector256<float> acc = Vector256<float>.Zero;
                ref float bCol = ref Unsafe.Add(ref b0, j);
                for (int p = 0; p < k; p++)
                {
                    acc = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref aRow, p)), Vector256.LoadUnsafe(ref Unsafe.Add(ref bCol, p * ldb)), acc);
                }

                Store(ref Unsafe.Add(ref cRow, j), acc * alpha, accumulate);
            }

            for (; j < n; j++)
            {
                float sum = 0f;
                for (int p = 0; p < k; p++)
                {
                    sum = MathF.FusedMultiplyAdd(Unsafe.Add(ref aRow, p), Unsafe.Add(ref b0, (p * ldb) + j), sum);
                }

                ref float dst = ref Unsafe.Add(ref cRow, j);
                dst = accumulate ? dst + (alpha * sum) : alpha * sum;
            }
        }
    }

    /// <summary>Writes the transpose of the rows x cols matrix <paramref name="src"/> (stride ld) into <paramref name="dst"/> (cols x rows, contiguous).</summary>
    public static void Transpose(int rows, int cols, ReadOnlySpan<float> src, int ld, Span<float> dst)
    {
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> row = src.Slice(r * ld, cols);
            for (int c = 0; c < cols; c++)
            {
                dst[(c * rows) + r] = row[c];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(ref float destination, Vector256<float> value, bool accumulate)
    {
        if (accumulate)
        {
            value += Vector256.LoadUnsafe(ref destination);
        }

        value.StoreUnsafe(ref destination);
    }
}
