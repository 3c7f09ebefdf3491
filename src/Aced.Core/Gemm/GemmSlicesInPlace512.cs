using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Aced.Core;

/// <summary>
/// The AVX-512 dW loop with A^T read in place: op(A)[i, p] = x[p, i], so an 8-row panel of A^T at k step p is the 8
/// contiguous floats x[p, i .. i + 8), which the 8 x 32 tile broadcasts straight from x's row (stride lda) instead of
/// from a packed copy. Only B is packed, as the 32-column panels of each k block and column chunk (as in
/// <see cref="Run"/>). On Zen 5 (fifteenth session), whose 512-bit FMA rate is twice Zen 4's, packing each 256-row k
/// block of both operands was a quarter of a dW product's time (a timing-only run without the packing: 1.09-1.34x);
/// reading A^T in place measured 1.06-1.11x the packed loop on the step's four dW half shapes (one thread, same-process
/// A/B), and a B-panel-outer loop order (each B panel in L1 while the A^T panels pass) 0.96-0.98x this one.
/// </summary>
internal static unsafe partial class GemmSlices
{
    /// <summary>
    /// Whether the AVX-512 dW slices read A^T in place (<see cref="RunInPlaceA512"/>) when m is a multiple of 8 and n of
    /// 32 (an A/B switch; same bits).
    /// </summary>
    internal static bool InPlaceA512 { get; set; } = true;

    /// <summary>
    /// <see cref="Run"/> for m a multiple of 8 and n of 32 on AVX-512: the same k blocks (<see cref="BlockCursor"/>); per
    /// block and column chunk, B packed as in <see cref="Run"/>, then every 8 x 32 tile of C as one
    /// <see cref="SmallGemm.Block8x32"/> call with A^T read from x's rows, adding <c>1 * acc</c> to C: each element is the
    /// same fused multiply-add chain over the block from +0, rounded into C as <c>acc + c</c>, which equals the packed
    /// kernels' <c>fma(acc, 1, 1 * c)</c>; so the bits are those of <see cref="Run"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunInPlaceA512(float* a, nint lda, float* b, nint ldb, float* c, nint ldc, int m, int n, int k, int sliceRows, Scratch scratch)
    {
        int chunk = Math.Min(n, ColumnChunk);
        float* bBlock = scratch.B(chunk * GemmPlan.KcMax);
        bool prefetch = PrefetchEnabled && Sse.IsSupported;
        int mPanels = m / GemmPlan.MR;
        var blocks = new BlockCursor(k, sliceRows);
        while (blocks.Next(out int p0, out int kcb))
        {
            blocks.Peek(out int nextP0, out int nextKc);
            var ahead = new Prefetcher(prefetch ? nextKc : 0, a + ((nint)nextP0 * lda), lda, m, b + ((nint)nextP0 * ldb), ldb, n);
            int chunks = GemmPlan.CeilDiv(n, chunk);
            int steps = chunks * mPanels;
            float* aBlock = a + ((nint)p0 * lda);
            for (int j0 = 0, q = 0; j0 < n; j0 += chunk, q++)
            {
                int ncb = Math.Min(chunk, n - j0);
                PackB(b, ldb, p0, kcb, j0, ncb, bBlock);
                float* cChunk = c + j0;
                for (int ir = 0; ir < m; ir += GemmPlan.MR)
                {
                    for (int jr = 0; jr < ncb; jr += GemmPlan.NR)
                    {
                        Tile(kcb, aBlock + ir, lda, bBlock + ((nint)jr * kcb), cChunk + ((nint)ir * ldc) + jr, ldc);
                    }

                    ahead.Advance((q * mPanels) + (ir / GemmPlan.MR) + 1, steps);
                }
            }
        }
    }

    /// <summary>C[0..8, 0..32] += A^T B over <paramref name="kc"/> steps, A^T row i at step p = <c>a[p lda + i]</c>, B a packed 32-column panel.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tile(int kc, float* a, nint lda, float* b, float* c, nint ldc) =>
        SmallGemm.Block8x32(kc, 1f, ref *a, 1, (int)lda, ref *b, GemmPlan.NR, true, ref *c, (int)ldc);
}
