using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Aced.Core;

/// <summary>
/// The AVX2 dW kernel that reads A^T's 6-row strips from A's rows in place (<see cref="RunPiped"/> with
/// <see cref="InPlaceRows"/>): for k step p, rows i .. i + 5 of A^T are the 6 consecutive floats <c>a[p lda + i ..]</c>,
/// so the kernel broadcasts them from x's row p instead of from a packed strip, and the x^T packing disappears.
/// </summary>
internal static unsafe partial class GemmSlices
{
    /// <summary>
    /// Whether <see cref="RunPiped"/> reads full 6-row strips of A^T from A's rows in place instead of packing them (only a
    /// last partial strip is packed). An A/B switch; same bits (the same fused multiply-add chain per element).
    /// </summary>
    internal static bool InPlaceRows { get; set; }

    /// <summary>Rows ahead of the current k step that <see cref="InPlaceRows"/>'s kernel prefetches A at (0: none).</summary>
    internal static int InPlaceAheadRows { get; set; } = 16;

    /// <summary>
    /// The 6 x 16 AVX2 kernel of <see cref="GemmKernels.Kernel256SixPanel{TPrefetch}"/> with A^T read in place: row r of the
    /// strip at k step p is <c>a[p lda + r]</c>; B a 16-column half-panel (<c>b[16 p + j]</c>); C = fma(acc, 1, beta * C)
    /// (acc when beta is 0). The same fused multiply-add order per element, so the same bits as the packed kernel.
    /// <paramref name="prefetch"/> gets the pair's A row and B pointers every two k steps.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void KernelInPlace<TPrefetch>(float* a, nint lda, float* b, int kc, float* c, nint ldc, float beta, TPrefetch prefetch)
        where TPrefetch : struct, GemmKernels.IStripPrefetch
    {
        const int Half = GemmPlan.NR / 2;
        Vector256<float> c00 = Vector256<float>.Zero, c01 = Vector256<float>.Zero;
        Vector256<float> c10 = Vector256<float>.Zero, c11 = Vector256<float>.Zero;
        Vector256<float> c20 = Vector256<float>.Zero, c21 = Vector256<float>.Zero;
        Vector256<float> c30 = Vector256<float>.Zero, c31 = Vector256<float>.Zero;
        Vector256<float> c40 = Vector256<float>.Zero, c41 = Vector256<float>.Zero;
        Vector256<float> c50 = Vector256<float>.Zero, c51 = Vector256<float>.Zero;
        float* bPairsEnd = b + ((kc & ~1) * Half);
        for (; b < bPairsEnd; b += 2 * Half)
        {
            if (Sse.IsSupported)
            {
                prefetch.Step(a, b);
            }

            Vector256<float> b0 = Vector256.Load(b);
            Vector256<float> b1 = Vector256.Load(b + 8);
            Vector256<float> ar = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ar, b1, c01);
            ar = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ar, b1, c11);
            ar = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(ar, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(ar, b1, c21);
            ar = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(ar, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(ar, b1, c31);
            ar = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(ar, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(ar, b1, c41);
            ar = Vector256.Create(a[5]);
            c50 = Vector256.FusedMultiplyAdd(ar, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(ar, b1, c51);
            float* a1 = a + lda;
            b0 = Vector256.Load(b + Half);
            b1 = Vector256.Load(b + Half + 8);
            ar = Vector256.Create(a1[0]);
            c00 = Vector256.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ar, b1, c01);
            ar = Vector256.Create(a1[1]);
            c10 = Vector256.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ar, b1, c11);
            ar = Vector256.Create(a1[2]);
            c20 = Vector256.FusedMultiplyAdd(ar, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(ar, b1, c21);
            ar = Vector256.Create(a1[3]);
            c30 = Vector256.FusedMultiplyAdd(ar, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(ar, b1, c31);
            ar = Vector256.Create(a1[4]);
            c40 = Vector256.FusedMultiplyAdd(ar, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(ar, b1, c41);
            ar = Vector256.Create(a1[5]);
            c50 = Vector256.FusedMultiplyAdd(ar, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(ar, b1, c51);
            a = a1 + lda;
        }

        if ((kc & 1) != 0)
        {
            Vector256<float> b0 = Vector256.Load(b);
            Vector256<float> b1 = Vector256.Load(b + 8);
            Vector256<float> ar = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ar, b1, c01);
            ar = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ar, b1, c11);
            ar = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(ar, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(ar, b1, c21);
            ar = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(ar, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(ar, b1, c31);
            ar = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(ar, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(ar, b1, c41);
            ar = Vector256.Create(a[5]);
            c50 = Vector256.FusedMultiplyAdd(ar, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(ar, b1, c51);
        }

        GemmKernels.Store256(c, c00, c01, 1f, beta);
        GemmKernels.Store256(c + ldc, c10, c11, 1f, beta);
        GemmKernels.Store256(c + (2 * ldc), c20, c21, 1f, beta);
        GemmKernels.Store256(c + (3 * ldc), c30, c31, 1f, beta);
        GemmKernels.Store256(c + (4 * ldc), c40, c41, 1f, beta);
        GemmKernels.Store256(c + (5 * ldc), c50, c51, 1f, beta);
    }
}
