using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Aced.Core;

/// <summary>
/// The plain path's AVX-512 loop over one k block of a C tile (<see cref="GemmDriver.PlainTile"/>) when a thread's packed
/// B column group exceeds <see cref="GemmDriver.PlainGroupFloats"/> (so it lives beyond L3's comfortable share): for each
/// 8-row A micro-panel (packed here or read from the cached packed row block), for each 32-column B micro-panel of the
/// L2-resident packed B slice, the 8 x 32 kernel, and every call pulls an equal share of the next k block's packed B
/// slice (when an earlier tile has packed it) into L2. The kernel is <see cref="GemmKernels"/>' 8 x 32 FMA chain (same
/// operations, same store rule, same bits); prefetches never change a bit.
/// </summary>
/// <remarks>
/// Why (Zen 5, 4096^3, one thread, perf samples): with 4-column-block groups (16 MiB of packed B) the kernel ran at ~152
/// GFLOP/s against ~188 with one-block groups (4 MiB) and at 1024^3: the first micro-panel of each k block streams the
/// B slice (kc x nc, 384 KiB) from memory at the kernel's pace (16 bytes a cycle). Spread over the previous k block's
/// 128 calls the same lines are 48 a call. One-block groups instead repack A for every column block (PackA 12 % of the
/// samples), so on one thread the groups stay. The prefetch raised the sampled kernel rate to ~170 GFLOP/s but the
/// wall-time A/B stayed within the noise (see <see cref="Prefetch"/>), so it is off by default.
/// </remarks>
internal static unsafe class PlainBlock512
{
    /// <summary>
    /// Whether the AVX-512 plain path runs this loop for large column groups (off: the plain loop of
    /// <see cref="GemmDriver.PlainTile"/>; same bits). Off by default: same-process A/B at 4096^3 on one thread 0.949-1.041
    /// over seven runs (median 1.015), 2048^3 0.976 (1 thread) and 0.999 (2 threads), not a demonstrated win.
    /// </summary>
    internal static bool Prefetch { get; set; }

    /// <summary>Whether every call pulls its share of the next k block's packed B slice (when already packed; and with <see cref="GemmDriver.FollowA"/> the cached A slice) into L2.</summary>
    internal static bool PrefetchFollow { get; set; } = true;

    /// <summary>
    /// Rows <paramref name="mcb"/> of a C tile over k block (<paramref name="p0"/>, <paramref name="kcb"/>):
    /// C = alpha A B + beta C. <paramref name="aSlice"/>, when not null, is the row block's packed A slice of this k block
    /// (micro-panel ir at <c>+ ir * kcb</c>), already holding the rows when <paramref name="aPacked"/>, else packed here;
    /// when null each micro-panel is packed into <paramref name="aPanel"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Block(GemmJob job, int i0, int mcb, int p0, int kcb, float* aSlice, bool aPacked, float* aPanel, float* bBlock, int ncb, float* cTile, nint ldc, float alpha, float beta, float* edge, float* bFollow, long bFollowFloats, float* aFollow, long aFollowFloats)
    {
        int totalCalls = GemmPlan.CeilDiv(mcb, GemmPlan.MR) * GemmPlan.CeilDiv(ncb, GemmPlan.NR);
        // The follow stream: the lines of the next k block's B slice, then those of its A slice, in equal shares per call.
        bool follow = PrefetchFollow && Sse.IsSupported;
        long bLines = follow && bFollow is not null ? ((bFollowFloats * sizeof(float)) + 63) / 64 : 0;
        long aLines = follow && aFollow is not null ? ((aFollowFloats * sizeof(float)) + 63) / 64 : 0;
        int share = (int)Math.Min(kcb, (bLines + aLines + totalCalls - 1) / totalCalls);
        long line = 0;
        for (int ir = 0; ir < mcb; ir += GemmPlan.MR)
        {
            int rows = Math.Min(GemmPlan.MR, mcb - ir);
            float* a = aSlice is null ? aPanel : aSlice + ((nint)ir * kcb);
            if (!aPacked)
            {
                GemmPacking.PackA(job.TransA, job.A, job.Lda, i0 + ir, rows, p0, kcb, a);
            }

            float* cRow = cTile + ((nint)ir * ldc);
            for (int jr = 0; jr < ncb; jr += GemmPlan.NR)
            {
                int cols = Math.Min(GemmPlan.NR, ncb - jr);
                float* b = bBlock + ((nint)jr * kcb);
                byte* ahead = line < bLines ? (byte*)bFollow + (line * 64) : line < bLines + aLines ? (byte*)aFollow + ((line - bLines) * 64) : null;
                int lines = ahead is null ? 0 : share;
                line += share;
                if (rows == GemmPlan.MR && cols == GemmPlan.NR)
                {
                    Kernel(a, b, kcb, cRow + jr, ldc, alpha, beta, ahead, lines);
                }
                else
                {
                    Kernel(a, b, kcb, edge, GemmPlan.NR, 1f, 0f, ahead, lines);
                    GemmKernels.MergeEdge(edge, rows, cols, cRow + jr, ldc, alpha, beta);
                }
            }
        }
    }

    /// <summary>
    /// The 8 x 32 kernel of <see cref="GemmKernels"/> (Vector512; the same FMA chain per element and the same store
    /// rule) with a prefetch into L2 of line p of <paramref name="ahead"/> at the top of k step p for p &lt; <paramref name="lines"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel(float* a, float* b, int kc, float* c, nint ldc, float alpha, float beta, byte* ahead, int lines)
    {
        Vector512<float> c00 = Vector512<float>.Zero, c01 = Vector512<float>.Zero;
        Vector512<float> c10 = Vector512<float>.Zero, c11 = Vector512<float>.Zero;
        Vector512<float> c20 = Vector512<float>.Zero, c21 = Vector512<float>.Zero;
        Vector512<float> c30 = Vector512<float>.Zero, c31 = Vector512<float>.Zero;
        Vector512<float> c40 = Vector512<float>.Zero, c41 = Vector512<float>.Zero;
        Vector512<float> c50 = Vector512<float>.Zero, c51 = Vector512<float>.Zero;
        Vector512<float> c60 = Vector512<float>.Zero, c61 = Vector512<float>.Zero;
        Vector512<float> c70 = Vector512<float>.Zero, c71 = Vector512<float>.Zero;

        for (int p = 0; p < kc; p++)
        {
            if (p < lines)
            {
                Sse.Prefetch1(ahead + (p * 64));
            }

            Vector512<float> b0 = Vector512.Load(b);
            Vector512<float> b1 = Vector512.Load(b + 16);
            Vector512<float> ar = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(ar, b1, c01);
            ar = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(ar, b1, c11);
            ar = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(ar, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(ar, b1, c21);
            ar = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(ar, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(ar, b1, c31);
            ar = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(ar, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(ar, b1, c41);
            ar = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(ar, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(ar, b1, c51);
            ar = Vector512.Create(a[6]);
            c60 = Vector512.FusedMultiplyAdd(ar, b0, c60);
            c61 = Vector512.FusedMultiplyAdd(ar, b1, c61);
            ar = Vector512.Create(a[7]);
            c70 = Vector512.FusedMultiplyAdd(ar, b0, c70);
            c71 = Vector512.FusedMultiplyAdd(ar, b1, c71);
            a += GemmPlan.MR;
            b += GemmPlan.NR;
        }

        Store(c, c00, c01, alpha, beta);
        Store(c + ldc, c10, c11, alpha, beta);
        Store(c + (2 * ldc), c20, c21, alpha, beta);
        Store(c + (3 * ldc), c30, c31, alpha, beta);
        Store(c + (4 * ldc), c40, c41, alpha, beta);
        Store(c + (5 * ldc), c50, c51, alpha, beta);
        Store(c + (6 * ldc), c60, c61, alpha, beta);
        Store(c + (7 * ldc), c70, c71, alpha, beta);
    }

    /// <summary>The store rule of <see cref="GemmKernels"/>: <c>beta == 0 ? alpha * acc : fma(acc, alpha, beta * c)</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, Vector512<float> x0, Vector512<float> x1, float alpha, float beta)
    {
        Vector512<float> va = Vector512.Create(alpha);
        if (beta == 0f)
        {
            Vector512.Store(x0 * va, c);
            Vector512.Store(x1 * va, c + 16);
        }
        else
        {
            Vector512<float> vb = Vector512.Create(beta);
            Vector512.Store(Vector512.FusedMultiplyAdd(x0, va, vb * Vector512.Load(c)), c);
            Vector512.Store(Vector512.FusedMultiplyAdd(x1, va, vb * Vector512.Load(c + 16)), c + 16);
        }
    }
}
