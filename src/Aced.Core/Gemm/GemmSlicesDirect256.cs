using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Aced.Core;

/// <summary>
/// The AVX2 unpacked-A form of <see cref="GemmSlices.MultiplyTransposed"/> (dx = dy W^T): op(B) packed once as 16-column
/// half-panels, A's rows read in place by a 6 x 16 kernel, 6 rows at a time across all k blocks and columns, so A
/// streams from memory once with no packing pass. Off by default (<see cref="DirectMaxColumns256"/>).
/// </summary>
internal static unsafe partial class GemmSlices
{
    /// <summary>
    /// Widest C (columns) that <see cref="RunTransposedDirect256"/> computes; 0 (the default) switches it off (an A/B
    /// switch, same bits). Off because it measured 1.07-1.11x the plain path with one thread but 0.91-0.94x with two
    /// threads running blocks concurrently, as the step's backward does, where the packed six-row form measured
    /// 0.99-1.04x (docs/PERFORMANCE.md, "Issue 12, fifth session, per branch", slices5).
    /// </summary>
    internal static int DirectMaxColumns256 { get; set; }

    /// <summary>
    /// C = A B^T (C += when <paramref name="accumulate"/>) with A's rows in place: per column chunk, op(B) packed as in
    /// <see cref="RunTransposedSix"/>; then per 6-row strip of A, for each k block of <see cref="GemmPlan"/> and each
    /// half-panel, <see cref="KernelRows"/> with the plain path's beta rule. The strip's 6 rows (6 kc floats per k block)
    /// stay in L1 across the half-panels and its C rows across the k blocks; while a strip's first k block runs, the next
    /// strip's rows are prefetched. Each element is the same fused multiply-add chain per k block and the same store rule
    /// as the packed kernels: the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunTransposedDirect256(float* a, nint lda, float* b, nint ldb, float* c, nint ldc, int m, int n, int k, bool accumulate, Scratch scratch)
    {
        const int Half = GemmPlan.NR / 2;
        var plan = new GemmPlan(m, n, k, false);
        int ncPad = GemmPlan.RoundUp(n, GemmPlan.NR);
        float* bAll = scratch.B(ncPad * k);
        float* edge = scratch.Edge;
        bool prefetch = PrefetchEnabled && Sse.IsSupported;
        for (int kb = 0; kb < plan.KBlocks; kb++)
        {
            int p0 = kb * plan.Kc;
            int kcb = Math.Min(plan.Kc, k - p0);
            for (int jr = 0; jr < ncPad; jr += GemmPlan.NR)
            {
                GemmPacking.PackBHalves(Transpose.Transposed, b, ldb, p0, kcb, jr, Math.Min(GemmPlan.NR, n - jr), bAll + ((nint)p0 * ncPad) + ((nint)jr * kcb));
            }
        }

        for (int i = 0; i < m; i += 6)
        {
            int rows = Math.Min(6, m - i);
            float* a0 = a + ((nint)i * lda);
            float* cRows = c + ((nint)i * ldc);

            // The next strip's rows, prefetched during this strip's first k block (a hint only).
            int nextRows = prefetch ? Math.Min(6, m - i - 6) : 0;
            for (int kb = 0; kb < plan.KBlocks; kb++)
            {
                int p0 = kb * plan.Kc;
                int kcb = Math.Min(plan.Kc, k - p0);
                float beta = kb == 0 && !accumulate ? 0f : 1f;
                float* bBlock = bAll + ((nint)p0 * ncPad);
                for (int jh = 0; jh < n; jh += Half)
                {
                    int cols = Math.Min(Half, n - jh);
                    bool first = kb == 0 && jh == 0;
                    float* pf = first && nextRows > 0 ? a0 + (6 * lda) : null;
                    if (rows == 6 && cols == Half)
                    {
                        KernelRows(a0 + p0, lda, bBlock + ((nint)jh * kcb), kcb, cRows + jh, ldc, beta, pf, nextRows, k, 6);
                    }
                    else
                    {
                        // Missing rows repeat the strip's last row (computed into the edge tile, never stored).
                        KernelRows(a0 + p0, lda, bBlock + ((nint)jh * kcb), kcb, edge, GemmPlan.NR, 0f, pf, nextRows, k, rows);
                        GemmKernels.MergeEdge(edge, rows, cols, cRows + jh, ldc, 1f, beta);
                    }
                }
            }
        }
    }

    /// <summary>
    /// 6 x 16 with Vector256 (the register tile of the AVX2 kernels): row r of op(A) for k step p at
    /// <c>a + r' * lda + p</c> (r' = r, or for a partial strip of <paramref name="validRows"/> rows, the last valid row
    /// when r is past it), B a 16-column half-panel (<c>b[16 p + j]</c>); C = acc (beta 0) or fma(acc, 1, beta * C).
    /// Prefetches <paramref name="prefetchRows"/> rows from <paramref name="prefetch"/> (stride lda, <paramref name="prefetchFloats"/>
    /// floats each), one line of each per 16 k steps, spread over the call.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void KernelRows(float* a, nint lda, float* b, int kc, float* c, nint ldc, float beta, float* prefetch, int prefetchRows, int prefetchFloats, int validRows)
    {
        const int Half = GemmPlan.NR / 2;
        float* a0 = a;
        float* a1 = a + (Math.Min(1, validRows - 1) * lda);
        float* a2 = a + (Math.Min(2, validRows - 1) * lda);
        float* a3 = a + (Math.Min(3, validRows - 1) * lda);
        float* a4 = a + (Math.Min(4, validRows - 1) * lda);
        float* a5 = a + (Math.Min(5, validRows - 1) * lda);
        Vector256<float> c00 = Vector256<float>.Zero, c01 = Vector256<float>.Zero;
        Vector256<float> c10 = Vector256<float>.Zero, c11 = Vector256<float>.Zero;
        Vector256<float> c20 = Vector256<float>.Zero, c21 = Vector256<float>.Zero;
        Vector256<float> c30 = Vector256<float>.Zero, c31 = Vector256<float>.Zero;
        Vector256<float> c40 = Vector256<float>.Zero, c41 = Vector256<float>.Zero;
        Vector256<float> c50 = Vector256<float>.Zero, c51 = Vector256<float>.Zero;

        // Lines to prefetch: prefetchRows rows of ceil(prefetchFloats / 16) lines, spread evenly over the 16-step chunks.
        int lines = prefetch is null ? 0 : prefetchRows * ((prefetchFloats + 15) / 16);
        int line = 0;
        int linesPerChunk = lines == 0 ? 0 : Math.Max(1, (lines * 16 + kc - 1) / kc);
        int lineRows = (prefetchFloats + 15) / 16;
        nint p = 0;
        while (p < kc)
        {
            for (int q = 0; q < linesPerChunk && line < lines; q++, line++)
            {
                int r = line / lineRows;
                Sse.Prefetch0(prefetch + (r * lda) + ((line - (r * lineRows)) * 16));
            }

            nint end = Math.Min(p + 16, kc);
            for (; p < end; p++)
            {
                Vector256<float> b0 = Vector256.Load(b);
                Vector256<float> b1 = Vector256.Load(b + 8);
                Vector256<float> ar = Vector256.Create(a0[p]);
                c00 = Vector256.FusedMultiplyAdd(ar, b0, c00);
                c01 = Vector256.FusedMultiplyAdd(ar, b1, c01);
                ar = Vector256.Create(a1[p]);
                c10 = Vector256.FusedMultiplyAdd(ar, b0, c10);
                c11 = Vector256.FusedMultiplyAdd(ar, b1, c11);
                ar = Vector256.Create(a2[p]);
                c20 = Vector256.FusedMultiplyAdd(ar, b0, c20);
                c21 = Vector256.FusedMultiplyAdd(ar, b1, c21);
                ar = Vector256.Create(a3[p]);
                c30 = Vector256.FusedMultiplyAdd(ar, b0, c30);
                c31 = Vector256.FusedMultiplyAdd(ar, b1, c31);
                ar = Vector256.Create(a4[p]);
                c40 = Vector256.FusedMultiplyAdd(ar, b0, c40);
                c41 = Vector256.FusedMultiplyAdd(ar, b1, c41);
                ar = Vector256.Create(a5[p]);
                c50 = Vector256.FusedMultiplyAdd(ar, b0, c50);
                c51 = Vector256.FusedMultiplyAdd(ar, b1, c51);
                b += Half;
            }
        }

        GemmKernels.Store256(c, c00, c01, 1f, beta);
        GemmKernels.Store256(c + ldc, c10, c11, 1f, beta);
        GemmKernels.Store256(c + (2 * ldc), c20, c21, 1f, beta);
        GemmKernels.Store256(c + (3 * ldc), c30, c31, 1f, beta);
        GemmKernels.Store256(c + (4 * ldc), c40, c41, 1f, beta);
        GemmKernels.Store256(c + (5 * ldc), c50, c51, 1f, beta);
    }
}
