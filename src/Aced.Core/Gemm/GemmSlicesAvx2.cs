using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Aced.Core;

/// <summary>
/// The AVX2 forms of <see cref="GemmSlices"/>: the plain path's layouts (6-row A strip panels, 16-column B half-panels)
/// and kernel (<see cref="GemmKernels.Block256Six"/>), so a half-panel stays in L1 while the strips stream (the
/// 32-column panels of the older <see cref="GemmKernels.Block256"/> loop put a half-panel's rows into half of the L1
/// sets: an L1 miss every k step). Each element is the same fused multiply-add chain over the same k blocks with the
/// same store rule as the packed 8 x 32 kernels, so the bits are those of the other forms.
/// </summary>
internal static unsafe partial class GemmSlices
{
    /// <summary>
    /// Whether the AVX2 forms run the 6-row strips over 16-column half-panels (<see cref="RunSix"/>,
    /// <see cref="RunTransposedSix"/>); off, dW runs the older 8-row panels x 32-column panels strips and dx the plain
    /// path's <see cref="ManagedGemmProvider.Sgemm"/> (an A/B switch for the benchmarks; same bits).
    /// </summary>
    internal static bool SixRowStrips { get; set; } = true;

    /// <summary>Rows of C per group of <see cref="RunSix"/> (a multiple of 6; a group's packed A rows stay in L2 while the column half-panels pass over them).</summary>
    internal static int SliceRowGroup { get; set; } = 96;

    /// <summary>Rows of C per group of <see cref="RunTransposedSix"/> (a multiple of 6; their C rows stay in cache across the k blocks).</summary>
    internal static int SixRowGroup { get; set; } = 96;

    /// <summary>Whether <see cref="RunSix"/>/<see cref="RunTransposedSix"/> apply: the AVX2 kernel with its strips, and the switch on.</summary>
    private static bool SixApplies(GemmIsa isa) => SixRowStrips && isa == GemmIsa.Vector256 && GemmKernels.StripsEnabled;

    /// <summary>
    /// The dW loop of <see cref="Run"/> on AVX2: per k block, A^T packed once as 6-row strip panels
    /// (<see cref="GemmPacking.PackA6Transposed(float*, nint, int, int, int, int, float*)"/>) and each column chunk of B as half-panels, then <see cref="GemmKernels.Block256Six"/>
    /// per 32 columns with C = 1 * acc + 1 * C, the next k block's rows prefetched in between.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunSix(float* a, nint lda, float* b, nint ldb, float* c, nint ldc, int m, int n, int k, int sliceRows, Scratch scratch)
    {
        int mPad = GemmPlan.RoundUp(m, 6);
        int group = Math.Max(6, SliceRowGroup / 6 * 6);
        int chunk = Math.Min(GemmPlan.RoundUp(n, GemmPlan.NR), ColumnChunk);
        float* aBlock = scratch.A(mPad * GemmPlan.KcMax);
        float* bBlock = scratch.B(chunk * GemmPlan.KcMax);
        float* edge = scratch.Edge;
        bool prefetch = PrefetchEnabled && Sse.IsSupported;

        var blocks = new BlockCursor(k, sliceRows);
        while (blocks.Next(out int p0, out int kcb))
        {
            blocks.Peek(out int nextP0, out int nextKc);
            var ahead = new Prefetcher(prefetch ? nextKc : 0, a + ((nint)nextP0 * lda), lda, m, b + ((nint)nextP0 * ldb), ldb, n);
            GemmPacking.PackA6Transposed(a + ((nint)p0 * lda), lda, m, kcb, 0, kcb, aBlock);

            int steps = GemmPlan.CeilDiv(n, GemmPlan.NR) * GemmPlan.CeilDiv(m, group);
            int step = 0;
            for (int j0 = 0; j0 < n; j0 += chunk)
            {
                int ncb = Math.Min(chunk, n - j0);
                PackBHalves(b, ldb, p0, kcb, j0, ncb, bBlock);
                for (int i0 = 0; i0 < m; i0 += group)
                {
                    int rows = Math.Min(group, m - i0);
                    for (int jr = 0; jr < ncb; jr += GemmPlan.NR)
                    {
                        GemmKernels.Block256Six(aBlock + ((nint)i0 * kcb), rows, bBlock + ((nint)jr * kcb), kcb, Math.Min(GemmPlan.NR, ncb - jr), c + ((nint)i0 * ldc) + j0 + jr, ldc, 1f, 1f, edge);
                        ahead.Advance(++step, steps);
                    }
                }
            }
        }
    }

    /// <summary>
    /// The dx loop of <see cref="RunTransposedManaged"/> on AVX2 (C = A B^T, or C += when <paramref name="accumulate"/>):
    /// per column chunk, op(B) packed once for all k as half-panels (k block kb at <c>p0 * ncPad</c>); per group of
    /// <see cref="SixRowGroup"/> rows and k block, the group's rows of A packed as 6-row strip panels
    /// (<see cref="GemmPacking.PackA6"/>) and <see cref="GemmKernels.Block256Six"/> with the plain path's beta rule (the
    /// first k block overwrites C unless accumulating).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunTransposedSix(float* a, nint lda, float* b, nint ldb, float* c, nint ldc, int m, int n, int k, bool accumulate, Scratch scratch)
    {
        var plan = new GemmPlan(m, n, k, false);
        int group = Math.Max(6, SixRowGroup / 6 * 6);
        int chunk = TransposedChunk(n, k);
        float* aBlock = scratch.A(group * GemmPlan.KcMax);
        float* bAll = scratch.B(chunk * k);
        float* edge = scratch.Edge;
        bool prefetch = PrefetchEnabled && Sse.IsSupported;
        for (int j0 = 0; j0 < n; j0 += chunk)
        {
            int ncb = Math.Min(chunk, n - j0);
            int ncPad = GemmPlan.RoundUp(ncb, GemmPlan.NR);
            float* bPacked = PackedTransposedChunk(b, ldb, plan, k, n, j0, ncb, ncPad, bAll);
            for (int i0 = 0; i0 < m; i0 += group)
            {
                int rows = Math.Min(group, m - i0);
                float* cRows = c + ((nint)i0 * ldc) + j0;
                for (int kb = 0; kb < plan.KBlocks; kb++)
                {
                    int p0 = kb * plan.Kc;
                    int kcb = Math.Min(plan.Kc, k - p0);
                    float beta = kb == 0 && !accumulate ? 0f : 1f;
                    for (int ir = 0; ir < rows; ir += 6)
                    {
                        if (prefetch && ir + PackAheadRows < rows)
                        {
                            // The rows' k-block segments are short streams for the hardware prefetcher (1 KiB at kc = 256).
                            int ahead = Math.Min(6, rows - ir - PackAheadRows);
                            for (int r = 0; r < ahead; r++)
                            {
                                PrefetchLines((byte*)(a + ((nint)(i0 + ir + PackAheadRows + r) * lda) + p0), kcb * sizeof(float));
                            }
                        }

                        GemmPacking.PackA6(Transpose.None, a, lda, i0 + ir, Math.Min(6, rows - ir), p0, kcb, aBlock + ((nint)ir * kcb));
                    }

                    float* bBlock = bPacked + ((nint)p0 * ncPad);
                    float* bFollow = kb + 1 < plan.KBlocks ? bBlock + ((nint)kcb * ncPad) : bPacked;

                    // The rows of A the next (group, k block) packs, pulled into L2 over this one's kernel calls: from its
                    // first row's k block to its last row's end (with two k blocks, the rows of this group's next block
                    // or both blocks of the next group's rows).
                    int followRow = kb + 1 < plan.KBlocks ? i0 : i0 + group;
                    int followP0 = kb + 1 < plan.KBlocks ? p0 + kcb : 0;
                    int followRows = Math.Min(group, m - followRow);
                    float* aFollow = NextRowsPrefetch && ncb <= NextRowsMaxColumns && followRows > 0 ? a + ((nint)followRow * lda) + followP0 : null;
                    int aFollowFloats = aFollow is null ? 0 : (int)Math.Min(int.MaxValue, ((long)(followRows - 1) * lda) + k - followP0);
                    GemmKernels.Block256Six(aBlock, rows, bBlock, kcb, ncb, cRows, ldc, 1f, beta, edge, bFollow, aFollow, aFollowFloats);
                }
            }
        }
    }

    /// <summary>Columns of C per chunk of <see cref="RunTransposedSix"/> (op(B) of a chunk packed for all k fits the scratch).</summary>
    private static int TransposedChunk(int n, int k)
    {
        int chunk = Math.Min(GemmPlan.RoundUp(n, GemmPlan.NR), TransposedColumnChunk);
        return Math.Max(GemmPlan.NR, Math.Min(chunk, TransposedPackedFloats / k / GemmPlan.NR * GemmPlan.NR));
    }

    /// <summary>Packs op(B) = B^T's columns j0 .. +ncb (B n x k) for all k as 16-column half-panels, k block kb at <c>p0 * ncPad</c>.</summary>
    private static void PackTransposedChunk(float* b, nint ldb, GemmPlan plan, int k, int j0, int ncb, int ncPad, float* bAll)
    {
        for (int kb = 0; kb < plan.KBlocks; kb++)
        {
            int p0 = kb * plan.Kc;
            int kcb = Math.Min(plan.Kc, k - p0);
            for (int jr = 0; jr < ncPad; jr += GemmPlan.NR)
            {
                GemmPacking.PackBHalves(Transpose.Transposed, b, ldb, p0, kcb, j0 + jr, Math.Min(GemmPlan.NR, ncb - jr), bAll + ((nint)p0 * ncPad) + ((nint)jr * kcb));
            }
        }
    }

    /// <summary>How many rows ahead <see cref="RunTransposedSix"/> prefetches the rows of A it packs.</summary>
    internal static int PackAheadRows { get; set; } = 12;

    /// <summary>
    /// Whether <see cref="RunTransposedSix"/> has each <see cref="GemmKernels.Block256Six"/> call pull the rows of A that the
    /// next (group, k block) packs into L2, a few lines per kernel call, for column chunks of at most
    /// <see cref="NextRowsMaxColumns"/> (an A/B switch; no effect on results). Packing the group's rows from memory cost
    /// 12-40 % of the step's 128-column dx blocks (one thread, Zen 3) but ~1 % of the 512-column ones, where the
    /// prefetch measured 0.88-0.96x.
    /// </summary>
    internal static bool NextRowsPrefetch { get; set; } = true;

    /// <summary>Widest column chunk for which <see cref="NextRowsPrefetch"/> applies.</summary>
    internal static int NextRowsMaxColumns { get; set; } = 128;

    /// <summary>Packs B[p0 .. +kc, j0 .. +ncb] (B not transposed) as 16-column half-panels at <c>dst + jh * kc</c>, as the plain path does.</summary>
    private static void PackBHalves(float* b, nint ldb, int p0, int kc, int j0, int ncb, float* dst)
    {
        int full = ncb / GemmPlan.NR * GemmPlan.NR;
        if (full > 0)
        {
            GemmPacking.PackBRowsHalves(b, ldb, p0, kc, j0, full, dst);
        }

        if (full < ncb)
        {
            GemmPacking.PackBHalves(Transpose.None, b, ldb, p0, kc, j0 + full, ncb - full, dst + ((nint)full * kc));
        }
    }
}
