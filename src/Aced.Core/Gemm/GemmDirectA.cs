using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Aced.Core;

/// <summary>
/// Micro-kernel that reads op(A) straight from a row-major A (no transpose) instead of a packed micro-panel, its rows
/// in place or given by index (a product's <see cref="EpilogueProduct{TEpilogue}.Rows"/>).
/// Used by the epilogue path when a row band meets a single column block (narrow products such as the
/// selection's <c>(B x d) * (c x d)^T</c> with c &lt;= 256): there every A micro-panel would be packed, used for
/// n/32 kernel calls and thrown away, so packing A costs a full extra pass over A for little reuse. The
/// 8 rows x kc floats of the panel (kc &lt;= 384: 12 KiB) stay in L1 between the n/32 calls.
/// </summary>
/// <remarks>
/// Performs exactly the IEEE operations of <see cref="GemmKernels"/> (<c>acc = fma(a[r, p], b[p, j], acc)</c> for
/// p increasing from 0, then the same store rule), so results are bit-identical to the packed path.
/// </remarks>
internal static unsafe class GemmDirectA
{
    /// <summary>Set by tests/benchmarks to disable the direct path (then A is packed as before).</summary>
    internal static bool Enabled { get; set; } = true;

    /// <summary>Set by benchmarks to disable the software prefetch of the next micro-panel (an A/B switch; no effect on results).</summary>
    internal static bool PrefetchEnabled { get; set; } = true;

    /// <summary>Whether the direct kernel can serve a full 8-row micro-panel of op(A) with the given ISA.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool Applies(Transpose transA, GemmIsa isa) =>
        Enabled && transA == Transpose.None && isa == GemmIsa.Vector512;

    /// <summary>
    /// 8 x 32 tile: rows <c>a.Row(r)</c> (r = 0..7, kc contiguous floats each: A's rows in place,
    /// <see cref="StridedRows"/>, or rows of A by index, <see cref="IndexedRows"/>) times the packed B micro-panel
    /// <paramref name="b"/> (<c>b[p * 32 + j]</c>), stored to C with the <see cref="GemmKernels"/> rule.
    /// While it runs it prefetches <paramref name="prefetchRows"/> rows <c>prefetch.Row(r)</c> from
    /// r = <paramref name="prefetchFirst"/> (kc floats each) into L1: the driver points it at the next micro-panel's rows. Rows of 1 KiB are too short a stream for the
    /// hardware prefetcher, and when A does not stay in cache between calls (the selection's four 5 MB candidate
    /// matrices per chunk) every panel would otherwise start with 8 x kc/16 cache misses. A hint only: no effect on
    /// the results.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel512<TRows, TNext>(TRows a, float* b, int kc, float* c, nint ldc, float alpha, float beta, TNext prefetch, int prefetchFirst, int prefetchRows)
        where TRows : struct, IStripRows
        where TNext : struct, IStripRows
    {
        Vector512<float> c00 = Vector512<float>.Zero, c01 = Vector512<float>.Zero;
        Vector512<float> c10 = Vector512<float>.Zero, c11 = Vector512<float>.Zero;
        Vector512<float> c20 = Vector512<float>.Zero, c21 = Vector512<float>.Zero;
        Vector512<float> c30 = Vector512<float>.Zero, c31 = Vector512<float>.Zero;
        Vector512<float> c40 = Vector512<float>.Zero, c41 = Vector512<float>.Zero;
        Vector512<float> c50 = Vector512<float>.Zero, c51 = Vector512<float>.Zero;
        Vector512<float> c60 = Vector512<float>.Zero, c61 = Vector512<float>.Zero;
        Vector512<float> c70 = Vector512<float>.Zero, c71 = Vector512<float>.Zero;
        float* a0 = a.Row(0);
        float* a1 = a.Row(1);
        float* a2 = a.Row(2);
        float* a3 = a.Row(3);
        float* a4 = a.Row(4);
        float* a5 = a.Row(5);
        float* a6 = a.Row(6);
        float* a7 = a.Row(7);

        int prefetchEnd = prefetchFirst + prefetchRows;
        nint p = 0;
        while (p < kc)
        {
            // One cache line of each prefetched row per 16 k steps (one line holds 16 floats).
            for (int r = prefetchFirst; r < prefetchEnd; r++)
            {
                Sse.Prefetch0(prefetch.Row(r) + p);
            }

            nint end = Math.Min(p + 16, kc);
            for (; p < end; p++)
            {
                Vector512<float> b0 = Vector512.Load(b);
                Vector512<float> b1 = Vector512.Load(b + 16);
                Vector512<float> ar = Vector512.Create(a0[p]);
                c00 = Vector512.FusedMultiplyAdd(ar, b0, c00);
                c01 = Vector512.FusedMultiplyAdd(ar, b1, c01);
                ar = Vector512.Create(a1[p]);
                c10 = Vector512.FusedMultiplyAdd(ar, b0, c10);
                c11 = Vector512.FusedMultiplyAdd(ar, b1, c11);
                ar = Vector512.Create(a2[p]);
                c20 = Vector512.FusedMultiplyAdd(ar, b0, c20);
                c21 = Vector512.FusedMultiplyAdd(ar, b1, c21);
                ar = Vector512.Create(a3[p]);
                c30 = Vector512.FusedMultiplyAdd(ar, b0, c30);
                c31 = Vector512.FusedMultiplyAdd(ar, b1, c31);
                ar = Vector512.Create(a4[p]);
                c40 = Vector512.FusedMultiplyAdd(ar, b0, c40);
                c41 = Vector512.FusedMultiplyAdd(ar, b1, c41);
                ar = Vector512.Create(a5[p]);
                c50 = Vector512.FusedMultiplyAdd(ar, b0, c50);
                c51 = Vector512.FusedMultiplyAdd(ar, b1, c51);
                ar = Vector512.Create(a6[p]);
                c60 = Vector512.FusedMultiplyAdd(ar, b0, c60);
                c61 = Vector512.FusedMultiplyAdd(ar, b1, c61);
                ar = Vector512.Create(a7[p]);
                c70 = Vector512.FusedMultiplyAdd(ar, b0, c70);
                c71 = Vector512.FusedMultiplyAdd(ar, b1, c71);
                b += GemmPlan.NR;
            }
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
