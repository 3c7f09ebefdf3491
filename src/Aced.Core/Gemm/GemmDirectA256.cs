using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Aced.Core;

/// <summary>
/// The AVX2 counterpart of <see cref="GemmDirectA"/>: a 6-row strip of op(A) read in place from a row-major A (no
/// transpose) against the 16-column B half-panels of the epilogue path (<see cref="GemmKernels.Strip256"/>'s loop order),
/// instead of packing the strip first (<see cref="GemmPacking.PackA6"/>). Used where a row band meets a single column
/// block (the selection's <c>(B x d) * (c x d)^T</c> products with c &lt;= 256): there each strip is packed, used for
/// c/16 kernel calls and thrown away, so the packing is an extra pass over A. The 6 rows x kc floats stay in L1 between
/// the half-panels; while the strip runs, its kernel calls prefetch the next strip's rows into L1, line by line.
/// </summary>
/// <remarks>
/// Performs exactly the IEEE operations of the packed strip (<c>acc = fma(a[r, p], b[p, j], acc)</c> for p increasing
/// from 0, then <see cref="GemmKernels.Store256"/>), so the tile has the same bits.
/// </remarks>
internal static unsafe class GemmDirectA256
{
    private const int Half = GemmPlan.NR / 2;

    /// <summary>Rows of a strip read in place.</summary>
    internal const int StripRows = 6;

    /// <summary>Set by tests/benchmarks to disable the direct strips (then every strip is packed as before).</summary>
    internal static bool Enabled { get; set; } = true;

    /// <summary>Set by benchmarks to disable the prefetch of the next strip's rows (an A/B switch; no effect on results).</summary>
    internal static bool PrefetchEnabled { get; set; } = true;

    /// <summary>
    /// The widest column block read in place (default 64: four half-panels). A packed strip is reused by every
    /// half-panel, so the wider the block, the better its packing pays: at the selection's 256-column blocks
    /// (B = 20480, b = 4096, n = 16) the direct strips took 1.054x the packed ones' time, at 64 columns (B = 5120) 0.978x
    /// (same-process A/B, AcedSelect ab, Zen 3, 2026-12-01). Tests raise it to run the direct kernel at every width.
    /// </summary>
    internal static int MaxColumns { get; set; } = 64;

    /// <summary>
    /// Whether a strip of <paramref name="rows"/> rows of an epilogue band with one column block of
    /// <paramref name="ncb"/> columns runs in place: A not transposed, a full 6-row strip and whole 16-column
    /// half-panels, at most <see cref="MaxColumns"/> of them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool Applies(Transpose transA, int rows, int ncb) =>
        Enabled && transA == Transpose.None && rows == 6 && (ncb & (Half - 1)) == 0 && ncb <= MaxColumns;

    /// <summary>
    /// Whether <see cref="Gemm.MultiplyWithEpilogues{TEpilogue}"/> on a group of at most four products whose op(A) is A
    /// itself and whose op(B) has <paramref name="n"/> &gt; 0 columns reads every full 6-row strip of A in place here
    /// (the managed provider's group job, the AVX2 epilogue strips, one column block, <see cref="Applies"/>; epilogues
    /// that are not <see cref="IGemmStripEpilogue"/>). Each strip's kernel calls then prefetch the next strip's rows, so a
    /// caller that wants a band's A rows at hand need only bring in its first strip.
    /// </summary>
    internal static bool ReadsGroupInPlace(int n) =>
        Gemm.GroupEnabled && ReferenceEquals(GemmControl.Provider, ManagedGemmProvider.Instance)
            && GemmKernels.ActiveIsa == GemmIsa.Vector256 && GemmKernels.StripsEnabled && GemmKernels.EpilogueStrips
            && n > 0 && n <= GemmPlan.NcMax && Applies(Transpose.None, 6, n);

    /// <summary>
    /// C[0..6, 0..ncb] = alpha * A B + beta * C for the 6 rows <c>a + r * lda</c> (kc contiguous floats each) and the
    /// packed half-panels <paramref name="bBlock"/> (<c>ncb / 16</c> of them, kc x 16 floats each). The calls share out
    /// the prefetch of <paramref name="nextRows"/> rows <c>next + r * lda</c> (the next strip's; 0 for none).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Strip(float* a, nint lda, float* bBlock, int kc, int ncb, float* c, nint ldc, float alpha, float beta, float* next, int nextRows) =>
        Strip(new StridedRows(a, lda), bBlock, kc, ncb, c, ldc, alpha, beta, new StridedRows(next, lda), nextRows);

    /// <summary>
    /// <see cref="Strip(float*, nint, float*, int, int, float*, nint, float, float, float*, int)"/> for the 6 rows
    /// <paramref name="a"/> names (in place, or gathered by index: <see cref="IndexedRows"/>), prefetching
    /// <paramref name="nextRows"/> rows of <paramref name="next"/>. Every element is the same FMA chain whatever the rows'
    /// addresses, so a row's tile has the same bits in any strip.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Strip<TRows>(TRows a, float* bBlock, int kc, int ncb, float* c, nint ldc, float alpha, float beta, TRows next, int nextRows)
        where TRows : struct, IStripRows
    {
        nint ahead = GemmKernels.EpilogueBAheadBytes;
        int halves = ncb / Half;
        int perCall = halves == 0 ? 0 : (nextRows + halves - 1) / halves;
        int first = 0;
        for (int jh = 0; jh < ncb; jh += Half)
        {
            int rows = Math.Clamp(nextRows - first, 0, perCall);
            Kernel(a, bBlock + ((nint)jh * kc), kc, c + jh, ldc, alpha, beta, ahead, next, first, rows);
            first += perCall;
        }
    }

    /// <summary>
    /// 6 x 16 tile, rows in place: the register tile and FMA order of the packed 6-row kernel. Every 16 k steps it
    /// prefetches one line of each of <paramref name="prefetchRows"/> rows <c>prefetch.Row(prefetchFirst + r)</c>; every
    /// two k steps (the loop is unrolled by two, as the packed kernel's) two lines of B <paramref name="bAhead"/> bytes ahead.
    /// One loop with the row prefetch as a branch every 8 iterations (not a nested loop): with the nested loops the JIT
    /// spilled two to five of the row pointers and reloaded them every k step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel<TRows>(TRows a, float* b, int kc, float* c, nint ldc, float alpha, float beta, nint bAhead, TRows prefetch, int prefetchFirst, int prefetchRows)
        where TRows : struct, IStripRows
    {
        Vector256<float> c00 = Vector256<float>.Zero, c01 = Vector256<float>.Zero;
        Vector256<float> c10 = Vector256<float>.Zero, c11 = Vector256<float>.Zero;
        Vector256<float> c20 = Vector256<float>.Zero, c21 = Vector256<float>.Zero;
        Vector256<float> c30 = Vector256<float>.Zero, c31 = Vector256<float>.Zero;
        Vector256<float> c40 = Vector256<float>.Zero, c41 = Vector256<float>.Zero;
        Vector256<float> c50 = Vector256<float>.Zero, c51 = Vector256<float>.Zero;

        // Row 0 walks along k; rows 1-5 are fixed offsets from it ([a0 + 4 d_r] in one addressing mode), so the loop holds
        // one moving pointer and five offsets instead of six pointers and a counter: the row source's registers are free
        // and nothing is spilled, whichever rows (in place or by index) the strip reads.
        float* a0 = a.Row(0);
        nint d1 = (nint)(a.Row(1) - a0);
        nint d2 = (nint)(a.Row(2) - a0);
        nint d3 = (nint)(a.Row(3) - a0);
        nint d4 = (nint)(a.Row(4) - a0);
        nint d5 = (nint)(a.Row(5) - a0);

        // The rows to prefetch, as byte offsets from a0 (so from the current k step), resolved once into the frame.
        RowAddresses ahead = default;
        prefetchRows = Math.Min(prefetchRows, StripRows);
        for (int r = 0; r < prefetchRows; r++)
        {
            ahead[r] = (nint)((byte*)prefetch.Row(prefetchFirst + r) - (byte*)a0);
        }

        float* pairsEnd = a0 + (kc & ~1);
        float* nextLines = a0;
        for (; a0 < pairsEnd; a0 += 2)
        {
            if (a0 == nextLines && Sse.IsSupported)
            {
                // One line of each prefetched row per 16 k steps (one line holds 16 floats).
                for (int r = 0; r < prefetchRows; r++)
                {
                    Sse.Prefetch0((byte*)a0 + Unsafe.Add(ref ahead[0], r));
                }

                nextLines = a0 + 16;
            }

            if (Sse.IsSupported)
            {
                Sse.Prefetch0((byte*)b + bAhead);
                Sse.Prefetch0((byte*)b + bAhead + 64);
            }

            Vector256<float> b0 = Vector256.Load(b);
            Vector256<float> b1 = Vector256.Load(b + 8);
            Vector256<float> ar = Vector256.Create(a0[0]);
            c00 = Vector256.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ar, b1, c01);
            ar = Vector256.Create(a0[d1]);
            c10 = Vector256.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ar, b1, c11);
            ar = Vector256.Create(a0[d2]);
            c20 = Vector256.FusedMultiplyAdd(ar, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(ar, b1, c21);
            ar = Vector256.Create(a0[d3]);
            c30 = Vector256.FusedMultiplyAdd(ar, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(ar, b1, c31);
            ar = Vector256.Create(a0[d4]);
            c40 = Vector256.FusedMultiplyAdd(ar, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(ar, b1, c41);
            ar = Vector256.Create(a0[d5]);
            c50 = Vector256.FusedMultiplyAdd(ar, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(ar, b1, c51);
            b0 = Vector256.Load(b + Half);
            b1 = Vector256.Load(b + Half + 8);
            ar = Vector256.Create(a0[1]);
            c00 = Vector256.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ar, b1, c01);
            ar = Vector256.Create(a0[d1 + 1]);
            c10 = Vector256.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ar, b1, c11);
            ar = Vector256.Create(a0[d2 + 1]);
            c20 = Vector256.FusedMultiplyAdd(ar, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(ar, b1, c21);
            ar = Vector256.Create(a0[d3 + 1]);
            c30 = Vector256.FusedMultiplyAdd(ar, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(ar, b1, c31);
            ar = Vector256.Create(a0[d4 + 1]);
            c40 = Vector256.FusedMultiplyAdd(ar, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(ar, b1, c41);
            ar = Vector256.Create(a0[d5 + 1]);
            c50 = Vector256.FusedMultiplyAdd(ar, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(ar, b1, c51);
            b += 2 * Half;
        }

        if ((kc & 1) != 0)
        {
            Vector256<float> b0 = Vector256.Load(b);
            Vector256<float> b1 = Vector256.Load(b + 8);
            Vector256<float> ar = Vector256.Create(a0[0]);
            c00 = Vector256.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ar, b1, c01);
            ar = Vector256.Create(a0[d1]);
            c10 = Vector256.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ar, b1, c11);
            ar = Vector256.Create(a0[d2]);
            c20 = Vector256.FusedMultiplyAdd(ar, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(ar, b1, c21);
            ar = Vector256.Create(a0[d3]);
            c30 = Vector256.FusedMultiplyAdd(ar, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(ar, b1, c31);
            ar = Vector256.Create(a0[d4]);
            c40 = Vector256.FusedMultiplyAdd(ar, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(ar, b1, c41);
            ar = Vector256.Create(a0[d5]);
            c50 = Vector256.FusedMultiplyAdd(ar, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(ar, b1, c51);
        }

        GemmKernels.Store256(c, c00, c01, alpha, beta);
        GemmKernels.Store256(c + ldc, c10, c11, alpha, beta);
        GemmKernels.Store256(c + (2 * ldc), c20, c21, alpha, beta);
        GemmKernels.Store256(c + (3 * ldc), c30, c31, alpha, beta);
        GemmKernels.Store256(c + (4 * ldc), c40, c41, alpha, beta);
        GemmKernels.Store256(c + (5 * ldc), c50, c51, alpha, beta);
    }
}

/// <summary>Up to six row addresses on the stack (<see cref="GemmDirectA256"/>'s prefetched rows).</summary>
[InlineArray(GemmDirectA256.StripRows)]
internal struct RowAddresses
{
    private nint _element;
}

/// <summary>The rows of a 6-row strip of A (<see cref="GemmDirectA256.Strip{TRows}"/>): each row's first float of the k block.</summary>
internal unsafe interface IStripRows
{
    /// <summary>Row <paramref name="r"/> of the strip.</summary>
    float* Row(int r);
}

/// <summary>Rows <c>lda</c> floats apart from <c>first</c> (A in place).</summary>
internal readonly unsafe struct StridedRows : IStripRows
{
    private readonly float* _first;
    private readonly nint _lda;

    public StridedRows(float* first, nint lda)
    {
        _first = first;
        _lda = lda;
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float* Row(int r) => _first + (r * _lda);
}

/// <summary>
/// Row r is row <c>index[r]</c> of A: <c>a + index[r] * lda</c> (<c>a</c> is A's first row at the k block's first
/// column), for an A given as rows by index (<see cref="EpilogueProduct{TEpilogue}.Rows"/>).
/// </summary>
internal readonly unsafe struct IndexedRows : IStripRows
{
    private readonly float* _a;
    private readonly nint _lda;
    private readonly int* _index;

    public IndexedRows(float* a, nint lda, int* index)
    {
        _a = a;
        _lda = lda;
        _index = index;
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float* Row(int r) => _a + (_index[r] * _lda);

    /// <summary>The rows <paramref name="offset"/> further on in the index.</summary>
    public IndexedRows Skip(int offset) => new(_a, _lda, _index + offset);
}
