using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Aced.Core;

/// <summary>
/// Copies blocks of op(A) and op(B) into the contiguous, zero-padded micro-panels read by
/// <see cref="GemmKernels"/>. Strided reads (A not transposed, B transposed) use an AVX 8 x 8
/// in-register transpose when available.
/// </summary>
internal static unsafe class GemmPacking
{
    /// <summary>
    /// Packs op(A)[i0 .. i0+rows, p0 .. p0+kc] (rows &lt;= 8) as <c>dst[p * 8 + r]</c>, zero rows past <paramref name="rows"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackA(Transpose transA, float* a, nint lda, int i0, int rows, int p0, int kc, float* dst)
    {
        const int MR = GemmPlan.MR;
        if (transA == Transpose.Transposed)
        {
            // A is stored k x m: op(A)[i, p] = a[p * lda + i]; each p gives MR contiguous values.
            float* src = a + ((nint)p0 * lda) + i0;
            if (rows == MR && Vector256.IsHardwareAccelerated)
            {
                for (int p = 0; p < kc; p++)
                {
                    Vector256.Store(Vector256.Load(src + (p * lda)), dst + (p * MR));
                }
            }
            else
            {
                for (int p = 0; p < kc; p++)
                {
                    float* s = src + (p * lda);
                    float* d = dst + (p * MR);
                    int r = 0;
                    for (; r < rows; r++)
                    {
                        d[r] = s[r];
                    }

                    for (; r < MR; r++)
                    {
                        d[r] = 0f;
                    }
                }
            }

            return;
        }

        // A is stored m x k: op(A)[i, p] = a[i * lda + p]; gather MR rows.
        float* rowBase = a + ((nint)i0 * lda) + p0;
        int pDone = 0;
        if (rows == MR && Avx.IsSupported)
        {
            for (; pDone + 8 <= kc; pDone += 8)
            {
                Transpose8x8(rowBase + pDone, lda, dst + (pDone * MR), MR);
            }
        }

        for (int p = pDone; p < kc; p++)
        {
            float* d = dst + (p * MR);
            int r = 0;
            for (; r < rows; r++)
            {
                d[r] = rowBase[(r * lda) + p];
            }

            for (; r < MR; r++)
            {
                d[r] = 0f;
            }
        }
    }

    /// <summary>
    /// Packs op(A)[i0 .. i0+rows, p0 .. p0+kc] (rows &lt;= 6) as one 6-row strip panel, <c>dst[p * 6 + r]</c>, zero rows
    /// past <paramref name="rows"/> (the A layout of <see cref="GemmKernels.Block256Six"/>: a strip reads one stream).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackA6(Transpose transA, float* a, nint lda, int i0, int rows, int p0, int kc, float* dst)
    {
        if (transA == Transpose.Transposed)
        {
            // A is stored k x m: op(A)[i, p] = a[p * lda + i]; each p gives up to 6 contiguous values.
            PackA6Transposed(a + ((nint)p0 * lda) + i0, lda, rows, kc, 0, kc, dst);
            return;
        }

        // A is stored m x k: op(A)[i, p] = a[i * lda + p].
        PackA6Rows(new StridedRows(a + ((nint)i0 * lda) + p0, lda), rows, kc, dst);
    }

    /// <summary>
    /// <see cref="PackA6"/> of a non-transposed A given as rows by index: op(A)[i, p] = A[index[i0 + i], p0 + p] for the
    /// <paramref name="rows"/> (&lt;= 6) rows <paramref name="index"/>[i0 ..]; the same layout and values as packing those
    /// rows from a copy of them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void PackA6Indexed(float* a, nint lda, int* index, int i0, int rows, int p0, int kc, float* dst) =>
        PackA6Rows(new IndexedRows(a + p0, lda, index + i0), rows, kc, dst);

    /// <summary>
    /// Packs k steps [0, <paramref name="kc"/>) of the <paramref name="rows"/> (&lt;= 6) rows of <paramref name="src"/> as
    /// one 6-row strip panel, <c>dst[p * 6 + r]</c>, zero rows past <paramref name="rows"/> (only rows below
    /// <paramref name="rows"/> are addressed).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA6Rows<TRows>(TRows src, int rows, int kc, float* dst)
        where TRows : struct, IStripRows
    {
        const int Six = 6;

        // Transpose 6 rows x 8 k steps at a time into 48 contiguous floats.
        int pDone = 0;
        if (rows >= 4 && Avx.IsSupported)
        {
            // Also the 4-row last strip of a 64-row epilogue band (its zero rows come from zero vectors).
            for (; pDone + 8 <= kc; pDone += 8)
            {
                Transpose6x8(src, pDone, dst + (pDone * Six), rows);
            }
        }

        for (int p = pDone; p < kc; p++)
        {
            float* d = dst + (p * Six);
            int r = 0;
            for (; r < rows; r++)
            {
                d[r] = src.Row(r)[p];
            }

            for (; r < Six; r++)
            {
                d[r] = 0f;
            }
        }
    }

    /// <summary>
    /// Packs k steps [<paramref name="pBegin"/>, <paramref name="pEnd"/>) of rows 0 .. m of op(A) = A^T, A stored k x m
    /// (row p at <c>a + p * lda</c>; <paramref name="a"/> and <paramref name="dst"/> are the k block's starts), as the 6-row
    /// strip panels of <see cref="PackA6"/> of a block of <paramref name="kc"/> k steps (strip s at <c>dst + 6 s kc</c>,
    /// <c>[6 p + r]</c>, zero rows past m), reading each k row once from left to right (A streams from memory; a
    /// strip-by-strip order measured slower). A full strip whose 8-float load stays inside the row (6 s + 8 &lt;= m) is one
    /// 8-float load and store, whose two extra floats land in k step p + 1's slot, written later (the block's last k step
    /// copies as below), so a block packed as consecutive ranges in increasing order is the block packed at once; another
    /// full strip (the last, or <see cref="PackA6"/>'s one strip) is two overlapping 4-float copies; a partial one element
    /// by element. Both the plain path's transposed strips (<see cref="PackA6"/>) and the dW slices (GemmSlices) pack with it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void PackA6Transposed(float* a, nint lda, int m, int kc, int pBegin, int pEnd, float* dst) =>
        PackA6Transposed(a, lda, m, kc, pBegin, pEnd, dst, (nint)6 * kc);

    /// <summary>
    /// <see cref="PackA6Transposed(float*, nint, int, int, int, int, float*)"/> with strip s at <c>dst + s *
    /// <paramref name="strip"/></c> (at least <c>6 kc</c> floats apart; the floats between strips are not written). The dW
    /// slices pad the strips by a cache line: 6 kc floats is 6 KiB at kc = 256, 1.5 pages, so one k step's stores
    /// into the strips fall into two L1 sets.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackA6Transposed(float* a, nint lda, int m, int kc, int pBegin, int pEnd, float* dst, nint strip)
    {
        int strips = (m + 5) / 6;
        int wide = m >= 8 && Vector256.IsHardwareAccelerated ? ((m - 8) / 6) + 1 : 0;
        bool quads = Vector128.IsHardwareAccelerated;
        for (int p = pBegin; p < pEnd; p++)
        {
            float* src = a + (p * lda);
            float* d = dst + (p * 6);
            int s = 0;
            if (p + 1 < kc)
            {
                for (; s < wide; s++)
                {
                    Vector256.Store(Vector256.Load(src + (s * 6)), d + (s * strip));
                }
            }

            for (; s < strips; s++)
            {
                float* ds = d + (s * strip);
                float* ss = src + (s * 6);
                int rows = Math.Min(6, m - (s * 6));
                if (rows == 6 && quads)
                {
                    Vector128.Store(Vector128.Load(ss), ds);
                    Vector128.Store(Vector128.Load(ss + 2), ds + 2);
                    continue;
                }

                int r = 0;
                for (; r < rows; r++)
                {
                    ds[r] = ss[r];
                }

                for (; r < 6; r++)
                {
                    ds[r] = 0f;
                }
            }
        }
    }

    /// <summary>
    /// <see cref="PackA6Transposed(float*, nint, int, int, int, int, float*, nint)"/> on spans (checked bounds; for tests),
    /// strips <paramref name="strip"/> floats apart (0: <c>6 kc</c>, packed back to back).
    /// </summary>
    internal static void PackA6Transposed(ReadOnlySpan<float> a, int lda, int m, int kc, int pBegin, int pEnd, Span<float> dst, int strip = 0)
    {
        strip = strip == 0 ? 6 * kc : strip;
        if (kc > 0 && (strip < 6 * kc || a.Length < ((kc - 1) * lda) + m || dst.Length < ((((m + 5) / 6) - 1) * strip) + (6 * kc)))
        {
            Guard.ThrowArgument(nameof(dst), "an operand is too short for its shape");
        }

        if (pBegin < 0 || pEnd > kc || pBegin > pEnd)
        {
            Guard.ThrowArgument(nameof(pEnd), "the k steps must lie in [0, kc]");
        }

        fixed (float* pa = a)
        fixed (float* pd = dst)
        {
            PackA6Transposed(pa, lda, m, kc, pBegin, pEnd, pd, strip);
        }
    }

    /// <summary>
    /// Reads <paramref name="rows"/> (4 to 6) rows of 8 floats (<c>src.Row(r)[p + q]</c>) and writes column q's 6
    /// values at <c>dst + 6 q</c>, zero past <paramref name="rows"/> (48 floats, nothing past them).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose6x8<TRows>(TRows src, int p, float* dst, int rows)
        where TRows : struct, IStripRows
    {
        Vector256<float> zero = Vector256<float>.Zero;
        Vector256<float> r0 = Avx.LoadVector256(src.Row(0) + p);
        Vector256<float> r1 = Avx.LoadVector256(src.Row(1) + p);
        Vector256<float> r2 = Avx.LoadVector256(src.Row(2) + p);
        Vector256<float> r3 = Avx.LoadVector256(src.Row(3) + p);
        Vector256<float> r4 = rows > 4 ? Avx.LoadVector256(src.Row(4) + p) : zero;
        Vector256<float> r5 = rows > 5 ? Avx.LoadVector256(src.Row(5) + p) : zero;

        Vector256<float> t0 = Avx.UnpackLow(r0, r1);
        Vector256<float> t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3);
        Vector256<float> t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5);
        Vector256<float> t5 = Avx.UnpackHigh(r4, r5);
        Vector256<float> t6 = Avx.UnpackLow(zero, zero);
        Vector256<float> t7 = t6;

        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44);
        Vector256<float> u1 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> u2 = Avx.Shuffle(t1, t3, 0x44);
        Vector256<float> u3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44);
        Vector256<float> u5 = Avx.Shuffle(t4, t6, 0xEE);
        Vector256<float> u6 = Avx.Shuffle(t5, t7, 0x44);
        Vector256<float> u7 = Avx.Shuffle(t5, t7, 0xEE);

        // Column q (rows 0..5 valid, 6..7 zero) is stored 8 wide at dst + 6 q; the next column overwrites the two extra
        // floats, and the last column is stored 6 wide so nothing past the 48 floats is touched.
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + 6, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 12, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 18, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 24, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 30, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 36, Avx.Permute2x128(u2, u6, 0x31));
        Vector256<float> last = Avx.Permute2x128(u3, u7, 0x31);
        Sse.Store(dst + 42, last.GetLower());
        dst[46] = last.GetElement(4);
        dst[47] = last.GetElement(5);
    }

    /// <summary>
    /// Packs op(B)[p0 .. p0+kc, j0 .. j0+cols] (cols &lt;= 32) as <c>dst[p * 32 + j]</c>, zero columns past <paramref name="cols"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackB(Transpose transB, float* b, nint ldb, int p0, int kc, int j0, int cols, float* dst) =>
        PackBPanel(transB, b, ldb, p0, kc, j0, cols, dst, GemmPlan.NR);

    /// <summary>
    /// Packs op(B)[p0 .. p0+kc, j0 .. j0+cols] (cols &lt;= 32) as two 16-column micro-panels, <c>dst[p * 16 + j]</c> for
    /// j &lt; 16 and <c>dst[16 kc + p * 16 + j - 16]</c> for the rest, zero columns past <paramref name="cols"/>: the same
    /// region and floats as <see cref="PackB"/>, in the order <see cref="GemmKernels.Block256"/> reads with half-panels.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackBHalves(Transpose transB, float* b, nint ldb, int p0, int kc, int j0, int cols, float* dst)
    {
        const int Half = GemmPlan.NR / 2;
        PackBPanel(transB, b, ldb, p0, kc, j0, Math.Min(cols, Half), dst, Half);
        PackBPanel(transB, b, ldb, p0, kc, j0 + Half, Math.Max(0, cols - Half), dst + ((nint)Half * kc), Half);
    }

    /// <summary>Packs op(B)[p0 .. p0+kc, j0 .. j0+cols] (cols &lt;= <paramref name="width"/>, a multiple of 8) as <c>dst[p * width + j]</c>, zero columns past <paramref name="cols"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackBPanel(Transpose transB, float* b, nint ldb, int p0, int kc, int j0, int cols, float* dst, int width)
    {
        if (transB == Transpose.None)
        {
            // B is stored k x n: each p gives width contiguous values.
            float* src = b + ((nint)p0 * ldb) + j0;
            if (cols == width && Vector256.IsHardwareAccelerated)
            {
                for (int p = 0; p < kc; p++)
                {
                    float* s = src + (p * ldb);
                    float* d = dst + (p * width);
                    for (int j = 0; j < width; j += 8)
                    {
                        Vector256.Store(Vector256.Load(s + j), d + j);
                    }
                }
            }
            else
            {
                for (int p = 0; p < kc; p++)
                {
                    float* s = src + (p * ldb);
                    float* d = dst + (p * width);
                    int j = 0;
                    for (; j < cols; j++)
                    {
                        d[j] = s[j];
                    }

                    for (; j < width; j++)
                    {
                        d[j] = 0f;
                    }
                }
            }

            return;
        }

        // B is stored n x k: op(B)[p, j] = b[j * ldb + p]; transpose groups of 8 columns.
        float* colBase = b + ((nint)j0 * ldb) + p0;
        int groupsDone = 0;
        if (Avx.IsSupported)
        {
            for (; (groupsDone + 1) * 8 <= cols; groupsDone++)
            {
                float* g = colBase + ((nint)groupsDone * 8 * ldb);
                int p = 0;
                for (; p + 8 <= kc; p += 8)
                {
                    Transpose8x8(g + p, ldb, dst + (p * width) + (groupsDone * 8), width);
                }

                for (; p < kc; p++)
                {
                    float* d = dst + (p * width) + (groupsDone * 8);
                    for (int j = 0; j < 8; j++)
                    {
                        d[j] = g[(j * ldb) + p];
                    }
                }
            }
        }

        int jStart = groupsDone * 8;
        for (int p = 0; p < kc; p++)
        {
            float* d = dst + (p * width);
            int j = jStart;
            for (; j < cols; j++)
            {
                d[j] = colBase[(j * ldb) + p];
            }

            for (; j < width; j++)
            {
                d[j] = 0f;
            }
        }
    }

    /// <summary>
    /// Packs op(B)[p0 .. p0+kc, j0 .. j0+cols] of a not-transposed B, <paramref name="cols"/> a multiple of 32, as the
    /// <c>cols / 32</c> micro-panels of <see cref="PackB"/> one after the other (panel q at <c>dst + q * 32 * kc</c>),
    /// reading each k row once from left to right.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackBRows(float* b, nint ldb, int p0, int kc, int j0, int cols, float* dst)
    {
        const int NR = GemmPlan.NR;
        nint panel = (nint)NR * kc;
        for (int p = 0; p < kc; p++)
        {
            float* s = b + ((nint)(p0 + p) * ldb) + j0;
            float* d = dst + (p * NR);
            for (int j = 0; j < cols; j += NR)
            {
                if (Vector256.IsHardwareAccelerated)
                {
                    Vector256.Store(Vector256.Load(s + j), d);
                    Vector256.Store(Vector256.Load(s + j + 8), d + 8);
                    Vector256.Store(Vector256.Load(s + j + 16), d + 16);
                    Vector256.Store(Vector256.Load(s + j + 24), d + 24);
                }
                else
                {
                    new ReadOnlySpan<float>(s + j, NR).CopyTo(new Span<float>(d, NR));
                }

                d += panel;
            }
        }
    }

    /// <summary>
    /// <see cref="PackBRows"/> into the layout of <see cref="PackBHalves"/>: the <c>cols / 16</c> 16-column micro-panels
    /// one after the other (panel q at <c>dst + q * 16 * kc</c>), reading each k row once from left to right.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackBRowsHalves(float* b, nint ldb, int p0, int kc, int j0, int cols, float* dst)
    {
        const int Half = GemmPlan.NR / 2;
        nint panel = (nint)Half * kc;
        for (int p = 0; p < kc; p++)
        {
            float* s = b + ((nint)(p0 + p) * ldb) + j0;
            float* d = dst + (p * Half);
            for (int j = 0; j < cols; j += Half)
            {
                if (Vector256.IsHardwareAccelerated)
                {
                    Vector256.Store(Vector256.Load(s + j), d);
                    Vector256.Store(Vector256.Load(s + j + 8), d + 8);
                }
                else
                {
                    new ReadOnlySpan<float>(s + j, Half).CopyTo(new Span<float>(d, Half));
                }

                d += panel;
            }
        }
    }

    /// <summary>
    /// Reads 8 rows of 8 floats (<c>src[r * srcStride + q]</c>) and writes column q as 8 contiguous floats at
    /// <c>dst + q * dstStride</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* src, nint srcStride, float* dst, nint dstStride)
    {
        Vector256<float> r0 = Avx.LoadVector256(src);
        Vector256<float> r1 = Avx.LoadVector256(src + srcStride);
        Vector256<float> r2 = Avx.LoadVector256(src + (2 * srcStride));
        Vector256<float> r3 = Avx.LoadVector256(src + (3 * srcStride));
        Vector256<float> r4 = Avx.LoadVector256(src + (4 * srcStride));
        Vector256<float> r5 = Avx.LoadVector256(src + (5 * srcStride));
        Vector256<float> r6 = Avx.LoadVector256(src + (6 * srcStride));
        Vector256<float> r7 = Avx.LoadVector256(src + (7 * srcStride));

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

        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + dstStride, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + (2 * dstStride), Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + (3 * dstStride), Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + (4 * dstStride), Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + (5 * dstStride), Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + (6 * dstStride), Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + (7 * dstStride), Avx.Permute2x128(u3, u7, 0x31));
    }
}
