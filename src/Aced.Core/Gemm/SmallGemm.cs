using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Aced.Core;

/// <summary>
/// Single-threaded vectorised products of small matrices (the per-example, per-head attention products, e.g.
/// 64 x 64 x 32; register tiles 8 x 32 and 4 x 16 with Vector512, 6 x 16 and 4 x 16 with Vector256, then rows): the kernel of <see cref="ManagedGemmProvider"/>'s <see cref="IGemmBatchedProvider"/> capability,
/// which runs many of them at once, one batch entry per parallel partition, of the models' fused attention, and of
/// <see cref="GemmSlices"/>' unpacked k blocks (narrow weight-gradient and input-gradient products). The packed GEMM
/// is built for large products; at these sizes packing does not pay.
/// </summary>
/// <remarks>
/// Every element of C is one fused multiply-add chain over k in increasing order, then multiplied by alpha, then (when
/// accumulating) added to C: the bits do not depend on the element's position in a tile or on the thread.
/// </remarks>
internal static partial class SmallGemm
{
    /// <summary>
    /// <c>C = alpha * op(A) * op(B) (+ C when <paramref name="accumulate"/>)</c>, op(A) m x k, op(B) k x n, row-major
    /// with leading dimensions as in <see cref="IGemmProvider.Sgemm"/>. A transposed B is first copied into
    /// <paramref name="scratch"/> (at least k x n floats); a transposed A is read in place.
    /// </summary>
    public static void Multiply(Transpose transA, Transpose transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, bool accumulate, Span<float> c, int ldc, Span<float> scratch)
    {
        if (transB != Transpose.None)
        {
            TransposeInto(n, k, b, ldb, scratch);
            b = scratch.Slice(0, k * n);
            ldb = n;
        }

        if (transA == Transpose.None)
        {
            MultiplyNN(m, n, k, alpha, a, lda, b, ldb, accumulate, c, ldc);
        }
        else
        {
            MultiplyTN(m, n, k, alpha, a, lda, b, ldb, accumulate, c, ldc);
        }
    }

    /// <summary>
    /// <c>C = alpha * A * B + beta * C</c> with A m x k (row stride lda), B k x n (row stride ldb), C m x n (row stride ldc);
    /// beta must be 0 (overwrite) or 1 (accumulate).
    /// </summary>
    public static void MultiplyNN(int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, bool accumulate, Span<float> c, int ldc) =>
        Multiply(m, n, k, alpha, a, lda, 1, b, ldb, accumulate, c, ldc);

    /// <summary>
    /// <c>C = alpha * A^T * B (+ C)</c> with A k x m (row stride lda), B k x n, C m x n: the transposed operand is read
    /// in place, no copy.
    /// </summary>
    public static void MultiplyTN(int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, bool accumulate, Span<float> c, int ldc) =>
        Multiply(m, n, k, alpha, a, 1, lda, b, ldb, accumulate, c, ldc);

    /// <summary>C = alpha op(A) B (+ C), where op(A)[i, p] = a[i * rowStep + p * kStep].</summary>
    private static void Multiply(int m, int n, int k, float alpha, ReadOnlySpan<float> a, int rowStep, int kStep, ReadOnlySpan<float> b, int ldb, bool accumulate, Span<float> c, int ldc)
    {
        ref float a0 = ref MemoryMarshal.GetReference(a);
        ref float b0 = ref MemoryMarshal.GetReference(b);
        ref float c0 = ref MemoryMarshal.GetReference(c);
        int w = Vector256<float>.Count;
        int first = 0;
        if (Vector512.IsHardwareAccelerated && n % 16 == 0)
        {
            if (n % 32 == 0)
            {
                first = m - (m % 8);
                for (int i = 0; i < first; i += 8)
                {
                    for (int j = 0; j < n; j += 32)
                    {
                        Block8x32(k, alpha, ref Unsafe.Add(ref a0, i * rowStep), rowStep, kStep, ref Unsafe.Add(ref b0, j), ldb, accumulate, ref Unsafe.Add(ref c0, (i * ldc) + j), ldc);
                    }
                }
            }

            int end = m - (m % 4);
            for (int i = first; i < end; i += 4)
            {
                for (int j = 0; j < n; j += 16)
                {
                    Block4x16(k, alpha, ref Unsafe.Add(ref a0, i * rowStep), rowStep, kStep, ref Unsafe.Add(ref b0, j), ldb, accumulate, ref Unsafe.Add(ref c0, (i * ldc) + j), ldc);
                }
            }

            first = end;
        }
        else if (Vector256.IsHardwareAccelerated && n % 16 == 0)
        {
            if (Avx2SixRowTiles)
            {
                first = Avx2Tiles(m, n, k, alpha, ref a0, rowStep, kStep, ref b0, ldb, accumulate, ref c0, ldc);
            }
            else
            {
                first = m - (m % 4);
                for (int i = 0; i < first; i += 4)
                {
                    for (int j = 0; j < n; j += 16)
                    {
                        Block4x16Avx2(k, alpha, ref Unsafe.Add(ref a0, i * rowStep), rowStep, kStep, ref Unsafe.Add(ref b0, j), ldb, accumulate, ref Unsafe.Add(ref c0, (i * ldc) + j), ldc);
                    }
                }
            }
        }

        for (int i = first; i < m; i++)
        {
            ref float aRow = ref Unsafe.Add(ref a0, i * rowStep);
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
                    Vector256<float> av = Vector256.Create(Unsafe.Add(ref aRow, p * kStep));
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
                    acc = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref aRow, p * kStep)), Vector256.LoadUnsafe(ref Unsafe.Add(ref bCol, p * ldb)), acc);
                }

                Store(ref Unsafe.Add(ref cRow, j), acc * alpha, accumulate);
            }

            for (; j < n; j++)
            {
                float sum = 0f;
                for (int p = 0; p < k; p++)
                {
                    sum = MathF.FusedMultiplyAdd(Unsafe.Add(ref aRow, p * kStep), Unsafe.Add(ref b0, (p * ldb) + j), sum);
                }

                ref float dst = ref Unsafe.Add(ref cRow, j);
                dst = accumulate ? dst + (alpha * sum) : alpha * sum;
            }
        }
    }

    /// <summary>
    /// An 8 x 32 tile of C: eight rows of A against a 32-wide column panel of B (AVX-512; 16 accumulators, two B loads
    /// and eight broadcasts per k). Each element is the same multiply-add chain as in <see cref="Block4x16"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Block8x32(int k, float alpha, ref float a, int rowStep, int kStep, ref float b, int ldb, bool accumulate, ref float c, int ldc)
    {
        Vector512<float> c00 = Vector512<float>.Zero, c01 = Vector512<float>.Zero;
        Vector512<float> c10 = Vector512<float>.Zero, c11 = Vector512<float>.Zero;
        Vector512<float> c20 = Vector512<float>.Zero, c21 = Vector512<float>.Zero;
        Vector512<float> c30 = Vector512<float>.Zero, c31 = Vector512<float>.Zero;
        Vector512<float> c40 = Vector512<float>.Zero, c41 = Vector512<float>.Zero;
        Vector512<float> c50 = Vector512<float>.Zero, c51 = Vector512<float>.Zero;
        Vector512<float> c60 = Vector512<float>.Zero, c61 = Vector512<float>.Zero;
        Vector512<float> c70 = Vector512<float>.Zero, c71 = Vector512<float>.Zero;
        for (int p = 0; p < k; p++)
        {
            ref float bp = ref Unsafe.Add(ref b, p * ldb);
            Vector512<float> b0 = Vector512.LoadUnsafe(ref bp);
            Vector512<float> b1 = Vector512.LoadUnsafe(ref bp, 16);
            ref float ap = ref Unsafe.Add(ref a, p * kStep);
            Vector512<float> av = Vector512.Create(ap);
            c00 = Vector512.FusedMultiplyAdd(av, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(av, b1, c01);
            av = Vector512.Create(Unsafe.Add(ref ap, rowStep));
            c10 = Vector512.FusedMultiplyAdd(av, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(av, b1, c11);
            av = Vector512.Create(Unsafe.Add(ref ap, 2 * rowStep));
            c20 = Vector512.FusedMultiplyAdd(av, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(av, b1, c21);
            av = Vector512.Create(Unsafe.Add(ref ap, 3 * rowStep));
            c30 = Vector512.FusedMultiplyAdd(av, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(av, b1, c31);
            av = Vector512.Create(Unsafe.Add(ref ap, 4 * rowStep));
            c40 = Vector512.FusedMultiplyAdd(av, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(av, b1, c41);
            av = Vector512.Create(Unsafe.Add(ref ap, 5 * rowStep));
            c50 = Vector512.FusedMultiplyAdd(av, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(av, b1, c51);
            av = Vector512.Create(Unsafe.Add(ref ap, 6 * rowStep));
            c60 = Vector512.FusedMultiplyAdd(av, b0, c60);
            c61 = Vector512.FusedMultiplyAdd(av, b1, c61);
            av = Vector512.Create(Unsafe.Add(ref ap, 7 * rowStep));
            c70 = Vector512.FusedMultiplyAdd(av, b0, c70);
            c71 = Vector512.FusedMultiplyAdd(av, b1, c71);
        }

        Store512(ref c, c00 * alpha, accumulate);
        Store512(ref Unsafe.Add(ref c, 16), c01 * alpha, accumulate);
        ref float r1 = ref Unsafe.Add(ref c, ldc);
        Store512(ref r1, c10 * alpha, accumulate);
        Store512(ref Unsafe.Add(ref r1, 16), c11 * alpha, accumulate);
        ref float r2 = ref Unsafe.Add(ref c, 2 * ldc);
        Store512(ref r2, c20 * alpha, accumulate);
        Store512(ref Unsafe.Add(ref r2, 16), c21 * alpha, accumulate);
        ref float r3 = ref Unsafe.Add(ref c, 3 * ldc);
        Store512(ref r3, c30 * alpha, accumulate);
        Store512(ref Unsafe.Add(ref r3, 16), c31 * alpha, accumulate);
        ref float r4 = ref Unsafe.Add(ref c, 4 * ldc);
        Store512(ref r4, c40 * alpha, accumulate);
        Store512(ref Unsafe.Add(ref r4, 16), c41 * alpha, accumulate);
        ref float r5 = ref Unsafe.Add(ref c, 5 * ldc);
        Store512(ref r5, c50 * alpha, accumulate);
        Store512(ref Unsafe.Add(ref r5, 16), c51 * alpha, accumulate);
        ref float r6 = ref Unsafe.Add(ref c, 6 * ldc);
        Store512(ref r6, c60 * alpha, accumulate);
        Store512(ref Unsafe.Add(ref r6, 16), c61 * alpha, accumulate);
        ref float r7 = ref Unsafe.Add(ref c, 7 * ldc);
        Store512(ref r7, c70 * alpha, accumulate);
        Store512(ref Unsafe.Add(ref r7, 16), c71 * alpha, accumulate);
    }

    /// <summary>
    /// The Vector256 tiles of C for n a multiple of 16: row strips of 6 (<see cref="Block6x16Avx2"/>) then of 4
    /// (<see cref="Block4x16Avx2Strip"/>), the number of 6-row strips chosen so that the rest is a multiple of 4 where
    /// it can be (m = 64: 10 + 1 strips, m = 32: 4 + 2); returns the first row left to the caller's row loop.
    /// </summary>
    /// <remarks>
    /// The two tiles are separate, never-inlined methods: inlined into a large caller (the attention's fused body
    /// inlines <see cref="Multiply(int, int, int, float, ReadOnlySpan{float}, int, int, ReadOnlySpan{float}, int, bool, Span{float}, int)"/>)
    /// the register allocator kept the row pointers and k offsets on the stack, a loop-carried dependency through
    /// memory that cost 15 – 30 % of the attention layer on Zen 3 (measured; the inlined 4 x 16 tile suffers from it too).
    /// </remarks>
    private static int Avx2Tiles(int m, int n, int k, float alpha, ref float a0, int rowStep, int kStep, ref float b0, int ldb, bool accumulate, ref float c0, int ldc)
    {
        int six = SixRowStrips(m);
        int i = 0;
        for (; i < 6 * six; i += 6)
        {
            for (int j = 0; j < n; j += 16)
            {
                Block6x16Avx2(k, alpha, ref Unsafe.Add(ref a0, i * rowStep), rowStep, kStep, ref Unsafe.Add(ref b0, j), ldb, accumulate, ref Unsafe.Add(ref c0, (i * ldc) + j), ldc);
            }
        }

        for (; i + 4 <= m; i += 4)
        {
            for (int j = 0; j < n; j += 16)
            {
                Block4x16Avx2Strip(k, alpha, ref Unsafe.Add(ref a0, i * rowStep), rowStep, kStep, ref Unsafe.Add(ref b0, j), ldb, accumulate, ref Unsafe.Add(ref c0, (i * ldc) + j), ldc);
            }
        }

        return i;
    }

    /// <summary>The number of 6-row strips <see cref="Avx2Tiles"/> runs for m rows (the rest in 4-row strips where it can).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int SixRowStrips(int m)
    {
        int six = m / 6;
        if (m % 6 == 2 && six > 0)
        {
            six--;
        }

        return six;
    }

    /// <summary>
    /// <see cref="Block4x16Avx2"/> as a never-inlined method (the tail strip of <see cref="Avx2Tiles"/>), so that its
    /// offsets stay in registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Block4x16Avx2Strip(int k, float alpha, ref float a, int rowStep, int kStep, ref float b, int ldb, bool accumulate, ref float c, int ldc) =>
        Block4x16Avx2(k, alpha, ref a, rowStep, kStep, ref b, ldb, accumulate, ref c, ldc);

    /// <summary>
    /// Whether the AVX2 path runs <see cref="Avx2Tiles"/> (on by default) or, as before this change, 4 x 16 tiles inlined
    /// into <see cref="Multiply(int, int, int, float, ReadOnlySpan{float}, int, int, ReadOnlySpan{float}, int, bool, Span{float}, int)"/>
    /// (off: the benchmarks' same-process A/B and the tests); both give the same bits.
    /// </summary>
    internal static bool Avx2SixRowTiles { get; set; } = true;

    /// <summary>
    /// A 6 x 16 tile of C with Vector256 (AVX2; 12 accumulators, two B loads and six broadcasts per k, the row and k
    /// offsets kept in registers). Each element is the same multiply-add chain as in the other tiles.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Block6x16Avx2(int k, float alpha, ref float a, int rowStep, int kStep, ref float b, int ldb, bool accumulate, ref float c, int ldc)
    {
        Vector256<float> c00 = Vector256<float>.Zero, c01 = Vector256<float>.Zero;
        Vector256<float> c10 = Vector256<float>.Zero, c11 = Vector256<float>.Zero;
        Vector256<float> c20 = Vector256<float>.Zero, c21 = Vector256<float>.Zero;
        Vector256<float> c30 = Vector256<float>.Zero, c31 = Vector256<float>.Zero;
        Vector256<float> c40 = Vector256<float>.Zero, c41 = Vector256<float>.Zero;
        Vector256<float> c50 = Vector256<float>.Zero, c51 = Vector256<float>.Zero;
        ref float a1 = ref Unsafe.Add(ref a, rowStep);
        ref float a2 = ref Unsafe.Add(ref a, 2 * rowStep);
        ref float a3 = ref Unsafe.Add(ref a, 3 * rowStep);
        ref float a4 = ref Unsafe.Add(ref a, 4 * rowStep);
        ref float a5 = ref Unsafe.Add(ref a, 5 * rowStep);
        nint ao = 0;
        nint bo = 0;
        nint aStep = kStep;
        nint bStep = ldb;
        for (int p = 0; p < k; p++)
        {
            Vector256<float> b0 = Vector256.LoadUnsafe(ref Unsafe.Add(ref b, bo));
            Vector256<float> b1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref b, bo + 8));
            Vector256<float> av = Vector256.Create(Unsafe.Add(ref a, ao));
            c00 = Vector256.FusedMultiplyAdd(av, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(av, b1, c01);
            av = Vector256.Create(Unsafe.Add(ref a1, ao));
            c10 = Vector256.FusedMultiplyAdd(av, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(av, b1, c11);
            av = Vector256.Create(Unsafe.Add(ref a2, ao));
            c20 = Vector256.FusedMultiplyAdd(av, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(av, b1, c21);
            av = Vector256.Create(Unsafe.Add(ref a3, ao));
            c30 = Vector256.FusedMultiplyAdd(av, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(av, b1, c31);
            av = Vector256.Create(Unsafe.Add(ref a4, ao));
            c40 = Vector256.FusedMultiplyAdd(av, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(av, b1, c41);
            av = Vector256.Create(Unsafe.Add(ref a5, ao));
            c50 = Vector256.FusedMultiplyAdd(av, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(av, b1, c51);
            ao += aStep;
            bo += bStep;
        }

        StoreRow(ref c, c00 * alpha, c01 * alpha, accumulate);
        StoreRow(ref Unsafe.Add(ref c, ldc), c10 * alpha, c11 * alpha, accumulate);
        StoreRow(ref Unsafe.Add(ref c, 2 * ldc), c20 * alpha, c21 * alpha, accumulate);
        StoreRow(ref Unsafe.Add(ref c, 3 * ldc), c30 * alpha, c31 * alpha, accumulate);
        StoreRow(ref Unsafe.Add(ref c, 4 * ldc), c40 * alpha, c41 * alpha, accumulate);
        StoreRow(ref Unsafe.Add(ref c, 5 * ldc), c50 * alpha, c51 * alpha, accumulate);
    }

    /// <summary>Stores (or adds, when accumulating) two Vector256 at <paramref name="destination"/> and 8 floats after it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow(ref float destination, Vector256<float> low, Vector256<float> high, bool accumulate)
    {
        if (accumulate)
        {
            low += Vector256.LoadUnsafe(ref destination);
            high += Vector256.LoadUnsafe(ref destination, 8);
        }

        low.StoreUnsafe(ref destination);
        high.StoreUnsafe(ref destination, 8);
    }

    /// <summary>
    /// A 4 x 16 tile of C with Vector256 (AVX2; 8 accumulators, two B loads and four broadcasts per k). Each element
    /// is the same multiply-add chain as in the other tiles.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block4x16Avx2(int k, float alpha, ref float a, int rowStep, int kStep, ref float b, int ldb, bool accumulate, ref float c, int ldc)
    {
        Vector256<float> c00 = Vector256<float>.Zero, c01 = Vector256<float>.Zero;
        Vector256<float> c10 = Vector256<float>.Zero, c11 = Vector256<float>.Zero;
        Vector256<float> c20 = Vector256<float>.Zero, c21 = Vector256<float>.Zero;
        Vector256<float> c30 = Vector256<float>.Zero, c31 = Vector256<float>.Zero;
        ref float a1 = ref Unsafe.Add(ref a, rowStep);
        ref float a2 = ref Unsafe.Add(ref a, 2 * rowStep);
        ref float a3 = ref Unsafe.Add(ref a, 3 * rowStep);
        nint ao = 0;
        nint bo = 0;
        nint aStep = kStep;
        nint bStep = ldb;
        for (int p = 0; p < k; p++)
        {
            Vector256<float> b0 = Vector256.LoadUnsafe(ref Unsafe.Add(ref b, bo));
            Vector256<float> b1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref b, bo + 8));
            Vector256<float> av = Vector256.Create(Unsafe.Add(ref a, ao));
            c00 = Vector256.FusedMultiplyAdd(av, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(av, b1, c01);
            av = Vector256.Create(Unsafe.Add(ref a1, ao));
            c10 = Vector256.FusedMultiplyAdd(av, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(av, b1, c11);
            av = Vector256.Create(Unsafe.Add(ref a2, ao));
            c20 = Vector256.FusedMultiplyAdd(av, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(av, b1, c21);
            av = Vector256.Create(Unsafe.Add(ref a3, ao));
            c30 = Vector256.FusedMultiplyAdd(av, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(av, b1, c31);
            ao += aStep;
            bo += bStep;
        }

        StoreRow(ref c, c00 * alpha, c01 * alpha, accumulate);
        StoreRow(ref Unsafe.Add(ref c, ldc), c10 * alpha, c11 * alpha, accumulate);
        StoreRow(ref Unsafe.Add(ref c, 2 * ldc), c20 * alpha, c21 * alpha, accumulate);
        StoreRow(ref Unsafe.Add(ref c, 3 * ldc), c30 * alpha, c31 * alpha, accumulate);
    }

    /// <summary>A 4 x 16 tile of C: four rows of A against one 16-wide column panel of B (AVX-512).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block4x16(int k, float alpha, ref float a, int rowStep, int kStep, ref float b, int ldb, bool accumulate, ref float c, int ldc)
    {
        Vector512<float> acc0 = Vector512<float>.Zero;
        Vector512<float> acc1 = Vector512<float>.Zero;
        Vector512<float> acc2 = Vector512<float>.Zero;
        Vector512<float> acc3 = Vector512<float>.Zero;
        ref float a1 = ref Unsafe.Add(ref a, rowStep);
        ref float a2 = ref Unsafe.Add(ref a, 2 * rowStep);
        ref float a3 = ref Unsafe.Add(ref a, 3 * rowStep);
        for (int p = 0; p < k; p++)
        {
            Vector512<float> bv = Vector512.LoadUnsafe(ref Unsafe.Add(ref b, p * ldb));
            acc0 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref a, p * kStep)), bv, acc0);
            acc1 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref a1, p * kStep)), bv, acc1);
            acc2 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref a2, p * kStep)), bv, acc2);
            acc3 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref a3, p * kStep)), bv, acc3);
        }

        Store512(ref c, acc0 * alpha, accumulate);
        Store512(ref Unsafe.Add(ref c, ldc), acc1 * alpha, accumulate);
        Store512(ref Unsafe.Add(ref c, 2 * ldc), acc2 * alpha, accumulate);
        Store512(ref Unsafe.Add(ref c, 3 * ldc), acc3 * alpha, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(ref float destination, Vector512<float> value, bool accumulate)
    {
        if (accumulate)
        {
            value += Vector512.LoadUnsafe(ref destination);
        }

        value.StoreUnsafe(ref destination);
    }

    /// <summary>
    /// Prefetches (into L2) the <paramref name="columns"/> floats at the start of each of <paramref name="rows"/> rows of
    /// <paramref name="source"/> (row stride <paramref name="ld"/>): a hint only, no effect on any result. Rows beyond
    /// the span are not touched; without SSE it does nothing.
    /// </summary>
    public static unsafe void PrefetchRows(ReadOnlySpan<float> source, int rows, int columns, int ld)
    {
        if (!Sse.IsSupported || rows <= 0 || columns <= 0)
        {
            return;
        }

        rows = Math.Min(rows, ld > 0 ? ((source.Length - columns) / ld) + 1 : 1);
        fixed (float* s = source)
        {
            byte* row = (byte*)s;
            int bytes = columns * sizeof(float);
            nint step = (nint)ld * sizeof(float);
            for (int r = 0; r < rows; r++, row += step)
            {
                for (int offset = 0; offset < bytes; offset += 64)
                {
                    Sse.Prefetch1(row + offset);
                }

                Sse.Prefetch1(row + bytes - 1);
            }
        }
    }

    /// <summary>
    /// Writes the transpose of the rows x cols matrix <paramref name="src"/> (stride ld) into <paramref name="dst"/>
    /// (cols x rows, contiguous): 8 x 8 blocks with AVX shuffles, element copies at the edges (data movement only).
    /// </summary>
    public static void TransposeInto(int rows, int cols, ReadOnlySpan<float> src, int ld, Span<float> dst)
    {
        if (rows > 0 && cols > 0)
        {
            if (src.Length < ((rows - 1) * ld) + cols || dst.Length < rows * cols)
            {
                Guard.ThrowArgument(nameof(src), $"a {rows}x{cols} transpose needs {((rows - 1) * ld) + cols} source and {rows * cols} destination floats");
            }
        }

        ref float s0 = ref MemoryMarshal.GetReference(src);
        ref float d0 = ref MemoryMarshal.GetReference(dst);
        int r8 = 0;
        int c8 = 0;
        if (Avx.IsSupported)
        {
            r8 = rows - (rows % 8);
            c8 = cols - (cols % 8);
            for (int r = 0; r < r8; r += 8)
            {
                for (int c = 0; c < c8; c += 8)
                {
                    Transpose8x8(ref Unsafe.Add(ref s0, (r * ld) + c), ld, ref Unsafe.Add(ref d0, (c * rows) + r), rows);
                }
            }
        }

        // Edges (and the whole matrix without AVX): element by element.
        for (int r = 0; r < rows; r++)
        {
            ref float row = ref Unsafe.Add(ref s0, r * ld);
            for (int c = r < r8 ? c8 : 0; c < cols; c++)
            {
                Unsafe.Add(ref d0, (c * rows) + r) = Unsafe.Add(ref row, c);
            }
        }
    }

    /// <summary>Transposes the 8 x 8 block at <paramref name="src"/> (row stride ls) into <paramref name="dst"/> (row stride ldst) with AVX shuffles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(ref float src, int ls, ref float dst, int ldst)
    {
        Vector256<float> r0 = Vector256.LoadUnsafe(ref src);
        Vector256<float> r1 = Vector256.LoadUnsafe(ref src, (nuint)ls);
        Vector256<float> r2 = Vector256.LoadUnsafe(ref src, (nuint)(2 * ls));
        Vector256<float> r3 = Vector256.LoadUnsafe(ref src, (nuint)(3 * ls));
        Vector256<float> r4 = Vector256.LoadUnsafe(ref src, (nuint)(4 * ls));
        Vector256<float> r5 = Vector256.LoadUnsafe(ref src, (nuint)(5 * ls));
        Vector256<float> r6 = Vector256.LoadUnsafe(ref src, (nuint)(6 * ls));
        Vector256<float> r7 = Vector256.LoadUnsafe(ref src, (nuint)(7 * ls));
        Vector256<float> t0 = Avx.UnpackLow(r0, r1);
        Vector256<float> t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3);
        Vector256<float> t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5);
        Vector256<float> t5 = Avx.UnpackHigh(r4, r5);
        Vector256<float> t6 = Avx.UnpackLow(r6, r7);
        Vector256<float> t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44);
        Vector256<float> u1 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> u2 = Avx.Shuffle(t1, t3, 0x44);
        Vector256<float> u3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44);
        Vector256<float> u5 = Avx.Shuffle(t4, t6, 0xEE);
        Vector256<float> u6 = Avx.Shuffle(t5, t7, 0x44);
        Vector256<float> u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Permute2x128(u0, u4, 0x20).StoreUnsafe(ref dst);
        Avx.Permute2x128(u1, u5, 0x20).StoreUnsafe(ref dst, (nuint)ldst);
        Avx.Permute2x128(u2, u6, 0x20).StoreUnsafe(ref dst, (nuint)(2 * ldst));
        Avx.Permute2x128(u3, u7, 0x20).StoreUnsafe(ref dst, (nuint)(3 * ldst));
        Avx.Permute2x128(u0, u4, 0x31).StoreUnsafe(ref dst, (nuint)(4 * ldst));
        Avx.Permute2x128(u1, u5, 0x31).StoreUnsafe(ref dst, (nuint)(5 * ldst));
        Avx.Permute2x128(u2, u6, 0x31).StoreUnsafe(ref dst, (nuint)(6 * ldst));
        Avx.Permute2x128(u3, u7, 0x31).StoreUnsafe(ref dst, (nuint)(7 * ldst));
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
