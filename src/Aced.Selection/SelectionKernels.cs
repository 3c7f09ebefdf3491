using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Aced.Core;

namespace Aced.Selection;

/// <summary>
/// Vectorised row reductions used inside the GEMM epilogues of the samplers, built on Aced.Core's
/// <see cref="VectorMath"/>: softplus sums use <c>softplus(v) = max(v, 0) + log1p(exp(-|v|))</c>, whose log1p keeps
/// full relative accuracy for the tiny terms of confident negatives (no logarithm call).
/// </summary>
internal static class SelectionKernels
{
    /// <summary>Column tiles per <see cref="StableMath.RowPassPair{TOperator}"/> call of <see cref="SoftmaxTermSumsCached"/>.</summary>
    private const int PairTiles = 16;

    /// <summary>
    /// Whether <see cref="SoftplusSum"/> computes two vectors per step where Vector256 is the widest width
    /// (<see cref="VectorMath.SoftplusPair"/>; default true, the same bits either way): the switch of a same-process A/B
    /// measurement.
    /// </summary>
    internal static bool PairedSums { get; set; } = true;

    /// <summary>
    /// Whether the softmax cache fill's exponentials (<see cref="StoreLogitsAndExps"/> and the log-sum-exp terms of
    /// <see cref="AccumulateLogSumExp(ReadOnlySpan{float}, float, float, ref double, ref double, double)"/>) run two vectors per
    /// step where Vector256 is the widest width (default true; the same bits either way: each element's exponential is
    /// the same and the lane sums add in the same order): the switch of a same-process A/B measurement.
    /// </summary>
    internal static bool PairedExps { get; set; } = true;

    /// <summary>
    /// Whether the softmax cache fill writes the exp-cached rows with non-temporal stores where Vector256 is the widest
    /// width (with <see cref="PairedExps"/>; the same values): the switch of a same-process A/B measurement.
    /// </summary>
    internal static bool StreamFill { get; set; } = true;

    /// <summary>
    /// Whether <see cref="SoftplusRowSumEpilogue"/> sums a tile's rows through <see cref="AddSoftplusRowSums"/> (the
    /// exponentials of each pair of vectors one step ahead of their logarithms) where that applies (the same bits as
    /// <see cref="SoftplusSum"/> row by row). Default false: alone it takes 0.69x the time of the row-by-row sums, but
    /// in the whole selection it measured 0.99 at (5120, 1024, 256, 16) and 1.045 at (20480, 4096, 256, 16) on a
    /// Zen 3 (docs/PERFORMANCE.md, tenth session); kept, tested on and off, as the switch of a same-process A/B.
    /// </summary>
    internal static bool PipelinedSums { get; set; }

    /// <summary>
    /// Whether <see cref="SoftplusRowSumEpilogue"/> sums its rows four 512-bit vectors per step
    /// (<see cref="SoftplusSum"/> through <see cref="VectorMath.AddSoftplusQuad"/>), rows of whole 64-column steps two at a
    /// time (<see cref="AddSoftplusRowPairSums"/>), where Vector512 is accelerated with AVX-512 (default true; the same
    /// bits as <see cref="SoftplusSum"/> row by row): the switch of a same-process A/B measurement.
    /// </summary>
    internal static bool QuadSums { get; set; } = true;

    /// <summary>
    /// Whether <see cref="AddSoftplusRowSums"/> applies to rows of <paramref name="columns"/> columns: Vector256 the
    /// widest width, <see cref="PairedSums"/> and <see cref="PipelinedSums"/> set, and whole 16-column steps (so
    /// <see cref="SoftplusSum"/> sums only pairs: no single vector, no tail).
    /// </summary>
    internal static bool PipelinedSumsApply(int columns) =>
        PipelinedSums && PairedSums && !Vector512.IsHardwareAccelerated && Vector256.IsHardwareAccelerated && columns > 0 && (columns & 15) == 0;

    /// <summary>
    /// For each row r &lt; <paramref name="rows"/> of <paramref name="tile"/> (<paramref name="stride"/> apart) that
    /// <paramref name="skip"/> does not mark at <c>rowStart + r</c>: <c>accumulator[i] += weight *
    /// SoftplusSum(row, bias)</c> with the same bits, rows in increasing order, where i is <c>rowStart + r</c>, or
    /// <c>rowIndex[rowStart + r]</c> when <paramref name="rowIndex"/> is given (a product over rows by index). Only where
    /// <see cref="PipelinedSumsApply"/>(<paramref name="columns"/>). The tile's vector pairs are one stream over the rows:
    /// each step computes the next pair's exponentials (<see cref="VectorMath.ExpNegativeAbsPair"/>) and this pair's
    /// softplus from its exponentials (<see cref="VectorMath.SoftplusPairFromExp"/>), two independent chains of about
    /// half a softplus's latency each, instead of one whole softplus chain per pair (Zen 3's window holds too little of
    /// that chain to overlap the next pairs fully). Each row's pairs are added to its accumulator in order, as
    /// <see cref="StableMath.SumInLanesDoubleTail{TOperator}"/> adds them.
    /// </summary>
    public static void AddSoftplusRowSums(ReadOnlySpan<float> tile, int stride, int rows, int columns, float bias, double weight, double[] accumulator, int rowStart, bool[]? skip, int[]? rowIndex = null)
    {
        if (!PipelinedSumsApply(columns) || rows < 0 || (rows > 0 && tile.Length < ((rows - 1) * stride) + columns))
        {
            Guard.ThrowArgument(nameof(columns), "is not a whole number of 16-column steps on Vector256, or the tile is short");
        }

        int q = Kept(skip, rowStart, 0, rows);
        if (q == rows)
        {
            return;
        }

        ref float t = ref MemoryMarshal.GetReference(tile);
        Vector256<float> b = Vector256.Create(bias);
        int steps = columns / 16;
        int j = 0;
        nint at = (nint)q * stride;
        VectorMath.ExpNegativeAbsPair(Vector256.LoadUnsafe(ref t, (nuint)at) + b, Vector256.LoadUnsafe(ref t, (nuint)(at + 8)) + b, out Vector256<float> e0, out Vector256<float> e1);
        Vector256<float> acc = Vector256<float>.Zero;
        while (true)
        {
            int nq = q, nj = j + 1;
            if (nj == steps)
            {
                nj = 0;
                nq = Kept(skip, rowStart, q + 1, rows);
            }

            // The next pair's exponentials (at the end, this pair's again: a step without a branch on the last pair).
            bool more = nq < rows;
            nint nextAt = more ? ((nint)nq * stride) + (nj * 16) : at;
            VectorMath.ExpNegativeAbsPair(Vector256.LoadUnsafe(ref t, (nuint)nextAt) + b, Vector256.LoadUnsafe(ref t, (nuint)(nextAt + 8)) + b, out Vector256<float> n0, out Vector256<float> n1);
            VectorMath.SoftplusPairFromExp(Vector256.LoadUnsafe(ref t, (nuint)at) + b, Vector256.LoadUnsafe(ref t, (nuint)(at + 8)) + b, e0, e1, out Vector256<float> s0, out Vector256<float> s1);
            acc += s0;
            acc += s1;
            if (nj == 0)
            {
                double total = 0;
                total += VectorMath.HorizontalSum(acc);
                accumulator[rowIndex is null ? rowStart + q : rowIndex[rowStart + q]] += weight * total;
                acc = Vector256<float>.Zero;
            }

            if (!more)
            {
                return;
            }

            q = nq;
            j = nj;
            at = nextAt;
            e0 = n0;
            e1 = n1;
        }
    }

    /// <summary>
    /// Whether <see cref="AddSoftplusRowPairSums"/> applies to rows of <paramref name="columns"/> columns: Vector512
    /// accelerated with AVX-512, <see cref="QuadSums"/> set, and whole 64-column steps (so <see cref="SoftplusSum"/> of a
    /// row is its 512-bit steps alone: no single vector, no 256-bit step, no tail).
    /// </summary>
    internal static bool RowPairSumsApply(int columns) => QuadSumsApply && columns > 0 && (columns & 63) == 0;

    /// <summary>
    /// As <see cref="AddSoftplusRowSums"/> (the same bits as <see cref="SoftplusSum"/> row by row, rows in increasing
    /// order), where <see cref="RowPairSumsApply"/>(<paramref name="columns"/>): the kept rows two at a time through
    /// <see cref="VectorMath.AddSoftplusOcto"/> (eight vectors in flight, each row's four per step added to its own
    /// accumulator in order), a last unpaired row through <see cref="VectorMath.AddSoftplusQuad"/>.
    /// </summary>
    public static void AddSoftplusRowPairSums(ReadOnlySpan<float> tile, int stride, int rows, int columns, float bias, double weight, double[] accumulator, int rowStart, bool[]? skip, int[]? rowIndex = null)
    {
        if (!RowPairSumsApply(columns) || rows < 0 || (rows > 0 && tile.Length < ((rows - 1) * stride) + columns))
        {
            Guard.ThrowArgument(nameof(columns), "is not a whole number of 64-column steps on Vector512, or the tile is short");
        }

        ref float t = ref MemoryMarshal.GetReference(tile);
        Vector512<float> b = Vector512.Create(bias);
        int q = Kept(skip, rowStart, 0, rows);
        while (q < rows)
        {
            int next = Kept(skip, rowStart, q + 1, rows);
            nint at = (nint)q * stride;
            Vector512<float> accA = Vector512<float>.Zero;
            if (next < rows)
            {
                nint atB = (nint)next * stride;
                Vector512<float> accB = Vector512<float>.Zero;
                for (int j = 0; j < columns; j += 64)
                {
                    VectorMath.AddSoftplusOcto(
                        ref accA, ref accB,
                        Vector512.LoadUnsafe(ref t, (nuint)(at + j)) + b, Vector512.LoadUnsafe(ref t, (nuint)(at + j + 16)) + b,
                        Vector512.LoadUnsafe(ref t, (nuint)(at + j + 32)) + b, Vector512.LoadUnsafe(ref t, (nuint)(at + j + 48)) + b,
                        Vector512.LoadUnsafe(ref t, (nuint)(atB + j)) + b, Vector512.LoadUnsafe(ref t, (nuint)(atB + j + 16)) + b,
                        Vector512.LoadUnsafe(ref t, (nuint)(atB + j + 32)) + b, Vector512.LoadUnsafe(ref t, (nuint)(atB + j + 48)) + b);
                }

                AddRowSum(accA, weight, accumulator, rowIndex is null ? rowStart + q : rowIndex[rowStart + q]);
                AddRowSum(accB, weight, accumulator, rowIndex is null ? rowStart + next : rowIndex[rowStart + next]);
                q = Kept(skip, rowStart, next + 1, rows);
                continue;
            }

            for (int j = 0; j < columns; j += 64)
            {
                accA = VectorMath.AddSoftplusQuad(
                    accA, Vector512.LoadUnsafe(ref t, (nuint)(at + j)) + b, Vector512.LoadUnsafe(ref t, (nuint)(at + j + 16)) + b,
                    Vector512.LoadUnsafe(ref t, (nuint)(at + j + 32)) + b, Vector512.LoadUnsafe(ref t, (nuint)(at + j + 48)) + b);
            }

            AddRowSum(accA, weight, accumulator, rowIndex is null ? rowStart + q : rowIndex[rowStart + q]);
            q = next;
        }
    }

    /// <summary><c>accumulator[i] += weight * total</c> with <c>total = 0 + HorizontalSum(acc)</c>, as <see cref="StableMath.SumInLanesDoubleTail{TOperator}"/> totals a row of whole 512-bit steps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddRowSum(Vector512<float> acc, double weight, double[] accumulator, int i)
    {
        double total = 0;
        total += VectorMath.HorizontalSum(acc);
        accumulator[i] += weight * total;
    }

    /// <summary>The first row r in [<paramref name="from"/>, <paramref name="rows"/>) that <paramref name="skip"/> does not mark at <c>rowStart + r</c>; <paramref name="rows"/> if none.</summary>
    private static int Kept(bool[]? skip, int rowStart, int from, int rows)
    {
        int r = from;
        while (r < rows && skip is not null && skip[rowStart + r])
        {
            r++;
        }

        return r;
    }

    /// <summary>
    /// <c>sum_j softplus(x_j + bias)</c>: <see cref="BiasedSoftplusOperator"/> over
    /// <see cref="StableMath.SumInLanesDoubleTail{TOperator}"/> (float lanes in the widest width, at most one 256-bit
    /// step, the tail of at most 7 elements in double; where Vector256 is the widest, two vectors per step through
    /// <see cref="VectorMath.SoftplusPair"/>, the same bits).
    /// </summary>
    public static double SoftplusSum(ReadOnlySpan<float> x, float bias) => StableMath.SumInLanesDoubleTail(new BiasedSoftplusOperator(bias), x);

    /// <summary>Whether <see cref="SoftplusSum"/> runs its 512-bit steps four at a time: Vector512 accelerated with AVX-512 and <see cref="QuadSums"/> set.</summary>
    internal static bool QuadSumsApply => QuadSums && Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    /// <summary>
    /// <c>sum_j softplus(l_j - shift_j)</c>, the softmax member terms of one row piece from its logits <paramref name="logits"/>
    /// (products without the bias), the members' references <paramref name="reference"/> (<c>t_m</c>), gains
    /// <paramref name="gain"/> (<c>g_m = exp(t_m - shift_m)</c>, see <see cref="SoftmaxTerm.Gain"/>) and shifts: each
    /// term is <see cref="SoftmaxTermOperator"/>'s, summed per lane in float and the lanes in double
    /// (<see cref="StableMath.RowPass{TOperator}"/>).
    /// </summary>
    public static double SoftmaxTermSum(ReadOnlySpan<float> logits, ReadOnlySpan<float> reference, ReadOnlySpan<float> gain, ReadOnlySpan<float> shift) =>
        StableMath.RowPass(default(SoftmaxTermOperator), logits, reference, gain, shift, default, default, false, default).Sum0;

    /// <summary>
    /// The same sum as <see cref="SoftmaxTermSum"/> (the same bits) from the cached <c>exp(l_j - t_j)</c>
    /// <paramref name="exps"/>: one multiply and a short series per term; a row piece holding an element whose term
    /// needs the logit (<c>u &gt; 1</c>, an overflowed exponential, NaN) is re-run from <paramref name="logits"/>.
    /// </summary>
    public static double SoftmaxTermSumCached(ReadOnlySpan<float> exps, ReadOnlySpan<float> logits, ReadOnlySpan<float> reference, ReadOnlySpan<float> gain, ReadOnlySpan<float> shift)
    {
        StableMath.RowSums sums = StableMath.RowPass(default(CachedSoftmaxTermOperator), exps, gain, default, default, default, default, false, default);
        return !double.IsNaN(sums.Sum0) ? sums.Sum0 : SoftmaxTermSum(logits, reference, gain, shift);
    }

    /// <summary>
    /// Both directions of one exp-cached row at once: <paramref name="sum1"/> is the sum over the row's column tiles
    /// (<paramref name="tile"/> members each, in order) of <see cref="SoftmaxTermSumCached"/>(<paramref name="exps1"/>,
    /// <paramref name="logits1"/>, <paramref name="reference"/>, <paramref name="gain1"/>, <paramref name="shift1"/>) and
    /// <paramref name="sum2"/> the same of the second direction, bit for bit: per tile, one
    /// <see cref="StableMath.RowPassPair{TOperator}"/> of <see cref="CachedSoftmaxTermOperator"/> reads both directions'
    /// exponentials in one loop (each direction summed exactly as <see cref="StableMath.RowPass{TOperator}"/> sums it),
    /// so a row costs one call instead of two per tile; a tile with an element needing the fallback is re-run from the
    /// logits. With <paramref name="ahead"/> &gt; 0 the loop also prefetches, line by line, the exponentials that many
    /// floats further on (the next cache row's, so its loads do not start with a memory round trip).
    /// </summary>
    public static void SoftmaxTermSumsCached(ReadOnlySpan<float> exps1, ReadOnlySpan<float> logits1, ReadOnlySpan<float> gain1, ReadOnlySpan<float> shift1, ReadOnlySpan<float> exps2, ReadOnlySpan<float> logits2, ReadOnlySpan<float> gain2, ReadOnlySpan<float> shift2, ReadOnlySpan<float> reference, int tile, int ahead, out double sum1, out double sum2)
    {
        int k = reference.Length;
        if (logits1.Length < k || logits2.Length < k)
        {
            Guard.ThrowArgument(nameof(reference), "is longer than another row span");
        }

        SoftmaxTermSumsCached(exps1, new CachedLogits(logits1), gain1, shift1, exps2, new CachedLogits(logits2), gain2, shift2, reference, tile, ahead, out sum1, out sum2);
    }

    /// <summary>
    /// <see cref="SoftmaxTermSumsCached(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, int, out double, out double)"/>
    /// with each direction's fallback tiles summed by <paramref name="fallback1"/> and <paramref name="fallback2"/>: from
    /// the cached logits (<see cref="CachedLogits"/>) or from the logits recomputed with the fill's bits
    /// (<see cref="RecomputedLogits"/>, for exp-cached rows whose logits the cache does not keep).
    /// </summary>
    public static void SoftmaxTermSumsCached<TFallback>(ReadOnlySpan<float> exps1, TFallback fallback1, ReadOnlySpan<float> gain1, ReadOnlySpan<float> shift1, ReadOnlySpan<float> exps2, TFallback fallback2, ReadOnlySpan<float> gain2, ReadOnlySpan<float> shift2, ReadOnlySpan<float> reference, int tile, int ahead, out double sum1, out double sum2)
        where TFallback : ITermFallback, allows ref struct
    {
        int k = reference.Length;
        if (exps1.Length < k || gain1.Length < k || shift1.Length < k || exps2.Length < k || gain2.Length < k || shift2.Length < k)
        {
            Guard.ThrowArgument(nameof(reference), "is longer than another row span");
        }

        if (tile <= 0)
        {
            Guard.ThrowArgument(nameof(tile), "is not positive");
        }

        // The driver sums up to PairTiles tiles per call (the per-tile results on the stack), so a row costs a call or two.
        Span<StableMath.RowSums> tiles1 = stackalloc StableMath.RowSums[PairTiles];
        Span<StableMath.RowSums> tiles2 = stackalloc StableMath.RowSums[PairTiles];
        double s1 = 0, s2 = 0;
        int group = (int)Math.Min((long)PairTiles * tile, int.MaxValue);
        for (int g0 = 0; g0 < k; g0 += group)
        {
            int width = Math.Min(group, k - g0);
            StableMath.RowPassPair(default(CachedSoftmaxTermOperator), exps1.Slice(g0, width), gain1.Slice(g0, width), exps2.Slice(g0, width), gain2.Slice(g0, width), tile, (nuint)ahead, tiles1, tiles2);
            for (int t = 0, j0 = g0; j0 < g0 + width; t++, j0 += tile)
            {
                int w = Math.Min(tile, k - j0);
                double t1 = tiles1[t].Sum0, t2 = tiles2[t].Sum0;
                s1 += !double.IsNaN(t1) ? t1 : fallback1.TermSum(j0, reference.Slice(j0, w), gain1.Slice(j0, w), shift1.Slice(j0, w));
                s2 += !double.IsNaN(t2) ? t2 : fallback2.TermSum(j0, reference.Slice(j0, w), gain2.Slice(j0, w), shift2.Slice(j0, w));
            }
        }

        sum1 = s1;
        sum2 = s2;
    }

    /// <summary>
    /// <c>destination_j = alpha * (a . members_j)</c> for the rows <c>members_j</c> (<c>a.Length</c> floats each, one after
    /// another), with the bits of the managed GEMM's products with inner dimension <c>a.Length</c> (the contract of
    /// <see cref="GemmKernels"/>: per k block of <see cref="GemmPlan"/>, one fused multiply-add chain from +0 over the
    /// block in increasing order; the first block's chain times alpha, each later one added as <c>fma(acc, alpha, c)</c>;
    /// a product of two floats does not depend on their order, so either operand may be A's). Four members' chains at a
    /// time.
    /// </summary>
    public static void ProductRow(ReadOnlySpan<float> a, ReadOnlySpan<float> members, float alpha, Span<float> destination)
    {
        int d = a.Length;
        int count = destination.Length;
        if ((long)count * d > members.Length)
        {
            Guard.ThrowArgument(nameof(members), "is shorter than the destination's rows");
        }

        if (d == 0 || alpha == 0f)
        {
            // The GEMM's tiles with an empty inner dimension or alpha = 0: zero, the operands not read.
            destination.Clear();
            return;
        }

        int kc = new GemmPlan(1, 1, d, epilogue: true).Kc;
        int j = 0;
        for (; j + 4 <= count; j += 4)
        {
            ReadOnlySpan<float> m0 = members.Slice(j * d, d), m1 = members.Slice((j + 1) * d, d), m2 = members.Slice((j + 2) * d, d), m3 = members.Slice((j + 3) * d, d);
            float c0 = 0, c1 = 0, c2 = 0, c3 = 0;
            for (int p0 = 0; p0 < d; p0 += kc)
            {
                float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                for (int p = p0; p < Math.Min(d, p0 + kc); p++)
                {
                    a0 = MathF.FusedMultiplyAdd(a[p], m0[p], a0);
                    a1 = MathF.FusedMultiplyAdd(a[p], m1[p], a1);
                    a2 = MathF.FusedMultiplyAdd(a[p], m2[p], a2);
                    a3 = MathF.FusedMultiplyAdd(a[p], m3[p], a3);
                }

                bool first = p0 == 0;
                c0 = first ? a0 * alpha : MathF.FusedMultiplyAdd(a0, alpha, c0);
                c1 = first ? a1 * alpha : MathF.FusedMultiplyAdd(a1, alpha, c1);
                c2 = first ? a2 * alpha : MathF.FusedMultiplyAdd(a2, alpha, c2);
                c3 = first ? a3 * alpha : MathF.FusedMultiplyAdd(a3, alpha, c3);
            }

            destination[j] = c0;
            destination[j + 1] = c1;
            destination[j + 2] = c2;
            destination[j + 3] = c3;
        }

        for (; j < count; j++)
        {
            ReadOnlySpan<float> mj = members.Slice(j * d, d);
            float c = 0;
            for (int p0 = 0; p0 < d; p0 += kc)
            {
                float acc = 0;
                for (int p = p0; p < Math.Min(d, p0 + kc); p++)
                {
                    acc = MathF.FusedMultiplyAdd(a[p], mj[p], acc);
                }

                c = p0 == 0 ? acc * alpha : MathF.FusedMultiplyAdd(acc, alpha, c);
            }

            destination[j] = c;
        }
    }

    /// <summary>
    /// Checks the spans of a cache fill (<see cref="StoreLogitsAndExps"/> and its fused forms): the row is not empty, is
    /// whole <paramref name="step"/>-element steps, and <paramref name="reference"/>, <paramref name="exps"/> and a
    /// non-empty <paramref name="cache"/> hold it. Returns whether the logits are kept (<paramref name="cache"/> not
    /// empty; an empty one is an exp-cached row of <see cref="ConditionalScorer.LogitFreeExpRows"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool CheckFillSpans(ReadOnlySpan<float> logits, ReadOnlySpan<float> reference, Span<float> cache, Span<float> exps, int step)
    {
        int count = logits.Length;
        if (count == 0 || count % step != 0 || reference.Length < count || (!cache.IsEmpty && cache.Length < count) || exps.Length < count)
        {
            Guard.ThrowArgument(nameof(logits), step == 1 ? "is empty or longer than another span" : $"is empty, not whole {step}-element steps or longer than another span");
        }

        return !cache.IsEmpty;
    }

    /// <summary>
    /// The cache fill of one exp-cached row piece in one pass: copies <paramref name="logits"/> to <paramref name="cache"/>,
    /// writes <c>exp(logits_j - reference_j)</c> to <paramref name="exps"/> (the bits of <see cref="ExpDifference"/>:
    /// <see cref="VectorMath.Exp(float)"/> element by element, any width) and returns the largest logit (NaN when any is
    /// NaN, as <see cref="System.Numerics.Tensors.TensorPrimitives.Max(ReadOnlySpan{float})"/>). The row must not be empty.
    /// An empty <paramref name="cache"/> keeps no logits (an exp-cached row of <see cref="ConditionalScorer.LogitFreeExpRows"/>):
    /// the same exponentials and return value, without the logit stores (likewise in <see cref="StoreLogitsAndExpsAndSum"/> and <see cref="StoreLogitsAndExpsAndSumWide"/>).
    /// </summary>
    /// <remarks>
    /// With <paramref name="stream"/>, where Vector256 is the widest width, <see cref="PairedExps"/> is set and both
    /// destinations are 32-byte aligned, the pairs are stored with non-temporal stores (the caller fences them): the same
    /// values, without reading the destination lines first or evicting the data the GEMM works on.
    /// </remarks>
    public static unsafe float StoreLogitsAndExps(ReadOnlySpan<float> logits, ReadOnlySpan<float> reference, Span<float> cache, Span<float> exps, bool stream = false)
    {
        int count = logits.Length;
        bool keep = CheckFillSpans(logits, reference, cache, exps, 1);
        ref float rl = ref MemoryMarshal.GetReference(logits);
        ref float rr = ref MemoryMarshal.GetReference(reference);
        ref float rc = ref MemoryMarshal.GetReference(cache);
        ref float re = ref MemoryMarshal.GetReference(exps);
        nuint n = (nuint)count;
        nuint i = 0;
        float max = float.NegativeInfinity;
        bool nan = false;
        if (Vector512.IsHardwareAccelerated && i + 16 <= n)
        {
            Vector512<float> m = Vector512.Create(float.NegativeInfinity);
            Vector512<float> bad = Vector512<float>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                Vector512<float> v = Vector512.LoadUnsafe(ref rl, i);
                if (keep)
                {
                    v.StoreUnsafe(ref rc, i);
                }

                VectorMath.Exp(v - Vector512.LoadUnsafe(ref rr, i)).StoreUnsafe(ref re, i);
                m = Vector512.Max(m, v);
                bad |= ~Vector512.Equals(v, v);
            }

            max = MaxLane(Vector128.Max(Vector128.Max(m.GetLower().GetLower(), m.GetLower().GetUpper()), Vector128.Max(m.GetUpper().GetLower(), m.GetUpper().GetUpper())), max);
            nan |= bad != Vector512<float>.Zero;
        }

        if (Vector256.IsHardwareAccelerated && i + 8 <= n)
        {
            Vector256<float> m = Vector256.Create(float.NegativeInfinity);
            Vector256<float> bad = Vector256<float>.Zero;
            if (!Vector512.IsHardwareAccelerated && PairedExps && stream && Avx.IsSupported)
            {
                fixed (float* pc = &rc, pe = &re)
                {
                    if ((((nuint)pc | (nuint)pe) & 31) == 0)
                    {
                        for (; i + 16 <= n; i += 16)
                        {
                            Vector256<float> v0 = Vector256.LoadUnsafe(ref rl, i);
                            Vector256<float> v1 = Vector256.LoadUnsafe(ref rl, i + 8);
                            Vector256<float> e0 = VectorMath.Exp(v0 - Vector256.LoadUnsafe(ref rr, i));
                            Vector256<float> e1 = VectorMath.Exp(v1 - Vector256.LoadUnsafe(ref rr, i + 8));
                            if (keep)
                            {
                                Avx.StoreAlignedNonTemporal(pc + i, v0);
                                Avx.StoreAlignedNonTemporal(pc + i + 8, v1);
                            }

                            Avx.StoreAlignedNonTemporal(pe + i, e0);
                            Avx.StoreAlignedNonTemporal(pe + i + 8, e1);
                            m = Vector256.Max(m, Vector256.Max(v0, v1));
                            bad |= ~Vector256.Equals(v0, v0) | ~Vector256.Equals(v1, v1);
                        }
                    }
                }
            }

            if (!Vector512.IsHardwareAccelerated && PairedExps)
            {
                // Two independent exponentials per step: Zen 3's window holds too few single ones to hide their latency.
                for (; i + 16 <= n; i += 16)
                {
                    Vector256<float> v0 = Vector256.LoadUnsafe(ref rl, i);
                    Vector256<float> v1 = Vector256.LoadUnsafe(ref rl, i + 8);
                    Vector256<float> e0 = VectorMath.Exp(v0 - Vector256.LoadUnsafe(ref rr, i));
                    Vector256<float> e1 = VectorMath.Exp(v1 - Vector256.LoadUnsafe(ref rr, i + 8));
                    if (keep)
                    {
                        v0.StoreUnsafe(ref rc, i);
                        v1.StoreUnsafe(ref rc, i + 8);
                    }

                    e0.StoreUnsafe(ref re, i);
                    e1.StoreUnsafe(ref re, i + 8);
                    m = Vector256.Max(m, Vector256.Max(v0, v1));
                    bad |= ~Vector256.Equals(v0, v0) | ~Vector256.Equals(v1, v1);
                }
            }

            for (; i + 8 <= n; i += 8)
            {
                Vector256<float> v = Vector256.LoadUnsafe(ref rl, i);
                if (keep)
                {
                    v.StoreUnsafe(ref rc, i);
                }

                VectorMath.Exp(v - Vector256.LoadUnsafe(ref rr, i)).StoreUnsafe(ref re, i);
                m = Vector256.Max(m, v);
                bad |= ~Vector256.Equals(v, v);
            }

            max = MaxLane(Vector128.Max(m.GetLower(), m.GetUpper()), max);
            nan |= bad != Vector256<float>.Zero;
        }

        for (; i < n; i++)
        {
            float v = Unsafe.Add(ref rl, i);
            if (keep)
            {
                Unsafe.Add(ref rc, i) = v;
            }

            Unsafe.Add(ref re, i) = VectorMath.Exp(v - Unsafe.Add(ref rr, i));
            max = MathF.Max(max, v);
            nan |= float.IsNaN(v);
        }

        return nan ? float.NaN : max;
    }

    /// <summary>
    /// Whether <see cref="StoreLogitsAndExpsAndSum"/> applies: Vector256 the widest width and <see cref="PairedExps"/> and
    /// <see cref="FusedFill"/> set.
    /// </summary>
    internal static bool FusedFillApplies => FusedFill && PairedExps && !Vector512.IsHardwareAccelerated && Vector256.IsHardwareAccelerated;

    /// <summary>
    /// Whether the softmax cache fill computes a row's log-sum-exp terms in the same pass as its exponentials, shifted by
    /// the running max from before the row (<see cref="StoreLogitsAndExpsAndSum"/>), where that applies (default true;
    /// the same bits: the sum is used only when the row leaves the max unchanged, when it is the sum the separate pass
    /// would compute): the switch of a same-process A/B measurement.
    /// </summary>
    internal static bool FusedFill { get; set; } = true;

    /// <summary>
    /// <see cref="StoreLogitsAndExps"/> (the same stores and return value) that also sets <paramref name="shiftedSum"/> to
    /// <c>sum_j exp(logits_j - shift)</c> with the bits <see cref="AccumulateLogSumExp(ReadOnlySpan{float}, float, float, ref double, ref double, double)"/>
    /// gets from its own pass when its shift is <paramref name="shift"/> (each term <see cref="VectorMath.ExpNonPositive(float)"/>,
    /// summed in Vector256 lanes in index order, then the Vector128 and scalar tails): one pass over the row with four
    /// independent exponentials per step. Only where <see cref="FusedFillApplies"/>.
    /// </summary>
    public static unsafe float StoreLogitsAndExpsAndSum(ReadOnlySpan<float> logits, ReadOnlySpan<float> reference, Span<float> cache, Span<float> exps, bool stream, float shift, out double shiftedSum)
    {
        int count = logits.Length;
        bool keep = CheckFillSpans(logits, reference, cache, exps, 1);
        var op = new ExpNonPositiveShiftOperator(shift);
        ref float rl = ref MemoryMarshal.GetReference(logits);
        ref float rr = ref MemoryMarshal.GetReference(reference);
        ref float rc = ref MemoryMarshal.GetReference(cache);
        ref float re = ref MemoryMarshal.GetReference(exps);
        nuint n = (nuint)count;
        nuint i = 0;
        Vector256<float> m = Vector256.Create(float.NegativeInfinity);
        Vector256<float> bad = Vector256<float>.Zero;
        Vector256<float> acc = Vector256<float>.Zero;
        fixed (float* pc = &rc, pe = &re)
        {
            bool nonTemporal = stream && Avx.IsSupported && (((nuint)pc | (nuint)pe) & 31) == 0;
            if (LeanFill && Avx.IsSupported && n >= 16)
            {
                i = LeanFillPairs(ref rl, ref rr, pc, pe, n, nonTemporal, keep, op, out m, out bad, out acc);
            }

            for (; i + 16 <= n; i += 16)
            {
                Vector256<float> v0 = Vector256.LoadUnsafe(ref rl, i);
                Vector256<float> v1 = Vector256.LoadUnsafe(ref rl, i + 8);
                Vector256<float> e0 = VectorMath.Exp(v0 - Vector256.LoadUnsafe(ref rr, i));
                Vector256<float> e1 = VectorMath.Exp(v1 - Vector256.LoadUnsafe(ref rr, i + 8));
                Vector256<float> s0 = op.Invoke(v0);
                Vector256<float> s1 = op.Invoke(v1);
                if (nonTemporal)
                {
                    if (keep)
                    {
                        Avx.StoreAlignedNonTemporal(pc + i, v0);
                        Avx.StoreAlignedNonTemporal(pc + i + 8, v1);
                    }

                    Avx.StoreAlignedNonTemporal(pe + i, e0);
                    Avx.StoreAlignedNonTemporal(pe + i + 8, e1);
                }
                else
                {
                    if (keep)
                    {
                        v0.StoreUnsafe(ref rc, i);
                        v1.StoreUnsafe(ref rc, i + 8);
                    }

                    e0.StoreUnsafe(ref re, i);
                    e1.StoreUnsafe(ref re, i + 8);
                }

                m = Vector256.Max(m, Vector256.Max(v0, v1));
                bad |= ~Vector256.Equals(v0, v0) | ~Vector256.Equals(v1, v1);
                acc += s0;
                acc += s1;
            }
        }

        for (; i + 8 <= n; i += 8)
        {
            Vector256<float> v = Vector256.LoadUnsafe(ref rl, i);
            if (keep)
            {
                v.StoreUnsafe(ref rc, i);
            }

            VectorMath.Exp(v - Vector256.LoadUnsafe(ref rr, i)).StoreUnsafe(ref re, i);
            m = Vector256.Max(m, v);
            bad |= ~Vector256.Equals(v, v);
            acc += op.Invoke(v);
        }

        float max = MaxLane(Vector128.Max(m.GetLower(), m.GetUpper()), float.NegativeInfinity);
        bool nan = bad != Vector256<float>.Zero;
        double total = 0;
        if (count >= 8)
        {
            total += VectorMath.HorizontalSum(acc);
        }

        // The tails as the two separate passes run them: stores element by element, the sum's Vector128 step then scalars.
        for (nuint j = i; j < n; j++)
        {
            float v = Unsafe.Add(ref rl, j);
            if (keep)
            {
                Unsafe.Add(ref rc, j) = v;
            }

            Unsafe.Add(ref re, j) = VectorMath.Exp(v - Unsafe.Add(ref rr, j));
            max = MathF.Max(max, v);
            nan |= float.IsNaN(v);
        }

        if (i + 4 <= n)
        {
            Vector128<float> acc128 = Vector128<float>.Zero + op.Invoke(Vector128.LoadUnsafe(ref rl, i));
            i += 4;
            total += VectorMath.HorizontalSum(acc128);
        }

        for (; i < n; i++)
        {
            total += op.Invoke(Unsafe.Add(ref rl, i));
        }

        shiftedSum = total;
        return nan ? float.NaN : max;
    }

    /// <summary>
    /// Whether <see cref="StoreLogitsAndExpsAndSumWide"/> applies: Vector512 accelerated and <see cref="WideFusedFill"/>
    /// set (for rows of whole 16-element steps).
    /// </summary>
    internal static bool WideFusedFillApplies => WideFusedFill && Vector512.IsHardwareAccelerated;

    /// <summary>
    /// Whether the AVX-512 softmax cache fill computes a row's log-sum-exp terms in the same pass as its exponentials
    /// (<see cref="StoreLogitsAndExpsAndSumWide"/>, rows of whole 16-element steps), as <see cref="FusedFill"/> does
    /// where Vector256 is the widest width, and its epilogue leaves the next row's destination lines to the hardware
    /// (no software prefetch of them): default true, the same bits; 0.93-0.98 of the time of the old fill in the
    /// softmax selection on Zen 5 (docs/PERFORMANCE.md, "soft16"). The switch of a same-process A/B measurement.
    /// </summary>
    internal static bool WideFusedFill { get; set; } = true;

    /// <summary>
    /// <see cref="StoreLogitsAndExps"/> (the same stores and return value) for a row of whole 16-element steps where
    /// Vector512 is accelerated, also setting <paramref name="shiftedSum"/> to <c>sum_j exp(logits_j - shift)</c> with the
    /// bits <see cref="AccumulateLogSumExp(ReadOnlySpan{float}, float, float, ref double, ref double, double)"/> gets from
    /// its own pass (<see cref="StableMath.SumInLanes{TOperator}"/>: each term <see cref="VectorMath.ExpNonPositive(Vector512{float})"/>,
    /// summed in Vector512 lanes in index order, then horizontally into a double 0): one pass over the row, two vectors
    /// per step, so four independent exponentials are in flight (the lane max and the NaN flag are taken vector by
    /// vector in index order, as the 512-bit loop of <see cref="StoreLogitsAndExps"/> takes them).
    /// </summary>
    public static float StoreLogitsAndExpsAndSumWide(ReadOnlySpan<float> logits, ReadOnlySpan<float> reference, Span<float> cache, Span<float> exps, float shift, out double shiftedSum)
    {
        int count = logits.Length;
        bool keep = CheckFillSpans(logits, reference, cache, exps, 16);
        var op = new ExpNonPositiveShiftOperator(shift);
        ref float rl = ref MemoryMarshal.GetReference(logits);
        ref float rr = ref MemoryMarshal.GetReference(reference);
        ref float rc = ref MemoryMarshal.GetReference(cache);
        ref float re = ref MemoryMarshal.GetReference(exps);
        nuint n = (nuint)count;
        nuint i = 0;
        Vector512<float> m = Vector512.Create(float.NegativeInfinity);
        Vector512<float> bad = Vector512<float>.Zero;
        Vector512<float> acc = Vector512<float>.Zero;
        for (; i + 32 <= n; i += 32)
        {
            Vector512<float> v0 = Vector512.LoadUnsafe(ref rl, i);
            Vector512<float> v1 = Vector512.LoadUnsafe(ref rl, i + 16);
            Vector512<float> e0 = VectorMath.Exp(v0 - Vector512.LoadUnsafe(ref rr, i));
            Vector512<float> e1 = VectorMath.Exp(v1 - Vector512.LoadUnsafe(ref rr, i + 16));
            Vector512<float> s0 = op.Invoke(v0);
            Vector512<float> s1 = op.Invoke(v1);
            if (keep)
            {
                v0.StoreUnsafe(ref rc, i);
                v1.StoreUnsafe(ref rc, i + 16);
            }

            e0.StoreUnsafe(ref re, i);
            e1.StoreUnsafe(ref re, i + 16);
            m = Vector512.Max(m, v0);
            m = Vector512.Max(m, v1);
            bad |= ~Vector512.Equals(v0, v0) | ~Vector512.Equals(v1, v1);
            acc += s0;
            acc += s1;
        }

        if (i < n)
        {
            Vector512<float> v = Vector512.LoadUnsafe(ref rl, i);
            if (keep)
            {
                v.StoreUnsafe(ref rc, i);
            }

            VectorMath.Exp(v - Vector512.LoadUnsafe(ref rr, i)).StoreUnsafe(ref re, i);
            m = Vector512.Max(m, v);
            bad |= ~Vector512.Equals(v, v);
            acc += op.Invoke(v);
        }

        float max = MaxLane(Vector128.Max(Vector128.Max(m.GetLower().GetLower(), m.GetLower().GetUpper()), Vector128.Max(m.GetUpper().GetLower(), m.GetUpper().GetUpper())), float.NegativeInfinity);
        double total = 0;
        total += VectorMath.HorizontalSum(acc);
        shiftedSum = total;
        return bad != Vector512<float>.Zero ? float.NaN : max;
    }

    /// <summary>
    /// Whether <see cref="StoreLogitsAndExpsAndSum"/> runs its 16-element steps as <see cref="LeanFillPairs"/> (default
    /// true; the same stores, max, NaN flag and lane sums): the switch of a same-process A/B measurement.
    /// </summary>
    internal static bool LeanFill { get; set; } = true;

    /// <summary>
    /// The 16-element steps of <see cref="StoreLogitsAndExpsAndSum"/> over the first <c>n - n % 16</c> elements, written
    /// for fewer instructions than that method's own loop, with the same results: the stores and the cached exponentials
    /// (the same <see cref="VectorMath.Exp(Vector256{float})"/> per element) in one loop, the log-sum-exp terms in a
    /// second loop over the same elements (added to <paramref name="acc"/> in the same order, <c>acc += s0; acc += s1</c>
    /// per step), so each loop has two exponentials in flight, as <see cref="VectorMath.SoftplusPair"/> does, and the
    /// JIT keeps their constants as memory operands instead of spilling its registers. The lane max is
    /// <c>vmaxps(m, v) &amp; vmaxps(v, m)</c>: for non-NaN lanes the larger value, and +0 for a +0/-0 pair, i.e.
    /// <see cref="Vector256.Max{T}(Vector256{T}, Vector256{T})"/>'s bits (its NaN handling is not needed: a NaN in the row
    /// makes the caller return NaN through <paramref name="bad"/>, set by one unordered compare per pair).
    /// Returns the index after the last step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe nuint LeanFillPairs(ref float rl, ref float rr, float* pc, float* pe, nuint n, bool nonTemporal, bool keep, ExpNonPositiveShiftOperator op, out Vector256<float> m, out Vector256<float> bad, out Vector256<float> acc)
    {
        nuint end = n & ~(nuint)15;
        Vector256<float> max, unordered;
        if (nonTemporal)
        {
            StoreAndExpPairs<NonTemporalStore>(ref rl, ref rr, pc, pe, end, keep, out max, out unordered);
        }
        else
        {
            StoreAndExpPairs<PlainStore>(ref rl, ref rr, pc, pe, end, keep, out max, out unordered);
        }

        Vector256<float> sum = Vector256<float>.Zero;
        for (nuint j = 0; j < end; j += 16)
        {
            op.InvokePair(Vector256.LoadUnsafe(ref rl, j), Vector256.LoadUnsafe(ref rl, j + 8), out Vector256<float> s0, out Vector256<float> s1);
            sum += s0;
            sum += s1;
        }

        m = max;
        bad = unordered;
        acc = sum;
        return end;
    }

    /// <summary>
    /// The first loop of <see cref="LeanFillPairs"/>: the logits and their cached exponentials stored through
    /// <typeparamref name="TStore"/>, the lane max and the unordered flag of the first <paramref name="end"/> elements.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreAndExpPairs<TStore>(ref float rl, ref float rr, float* pc, float* pe, nuint end, bool keep, out Vector256<float> m, out Vector256<float> bad)
        where TStore : struct, IFillStore
    {
        Vector256<float> max = Vector256.Create(float.NegativeInfinity);
        Vector256<float> unordered = Vector256<float>.Zero;
        for (nuint i = 0; i < end; i += 16)
        {
            Vector256<float> v0 = Vector256.LoadUnsafe(ref rl, i);
            Vector256<float> v1 = Vector256.LoadUnsafe(ref rl, i + 8);
            if (keep)
            {
                TStore.Store(pc + i, v0);
                TStore.Store(pc + i + 8, v1);
            }

            VectorMath.ExpPair(v0 - Vector256.LoadUnsafe(ref rr, i), v1 - Vector256.LoadUnsafe(ref rr, i + 8), out Vector256<float> e0, out Vector256<float> e1);
            TStore.Store(pe + i, e0);
            TStore.Store(pe + i + 8, e1);
            max = PairMax(max, v0, v1);
            unordered |= Avx.Compare(v0, v1, FloatComparisonMode.UnorderedNonSignaling);
        }

        m = max;
        bad = unordered;
    }

    /// <summary>How <see cref="StoreAndExpPairs{TStore}"/> writes a vector.</summary>
    private unsafe interface IFillStore
    {
        static abstract void Store(float* destination, Vector256<float> value);
    }

    /// <summary>A 32-byte aligned non-temporal store (the caller fences).</summary>
    private readonly unsafe struct NonTemporalStore : IFillStore
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Store(float* destination, Vector256<float> value) => Avx.StoreAlignedNonTemporal(destination, value);
    }

    /// <summary>A plain (unaligned) store.</summary>
    private readonly unsafe struct PlainStore : IFillStore
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Store(float* destination, Vector256<float> value) => Avx.Store(destination, value);
    }

    /// <summary>
    /// <c>Max(m, Max(v0, v1))</c> (<see cref="Vector256.Max{T}(Vector256{T}, Vector256{T})"/>) for lanes without NaN, in
    /// six instructions: <c>vmaxps</c> returns its second operand when the two compare equal, so for a +0/-0 pair the two
    /// orders give +0 and -0, whose AND is +0; every other non-NaN pair gives the larger value both ways.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> PairMax(Vector256<float> m, Vector256<float> v0, Vector256<float> v1)
    {
        Vector256<float> v = Avx.Max(v0, v1) & Avx.Max(v1, v0);
        return Avx.Max(m, v) & Avx.Max(v, m);
    }

    private static float MaxLane(Vector128<float> m, float max) =>
        MathF.Max(MathF.Max(MathF.Max(m.GetElement(0), m.GetElement(1)), MathF.Max(m.GetElement(2), m.GetElement(3))), max);

    /// <summary><c>destination_j = exp(logits_j - reference_j)</c> (<see cref="ExpDifferenceOperator"/>), the exponentials the softmax cache keeps.</summary>
    public static void ExpDifference(ReadOnlySpan<float> logits, ReadOnlySpan<float> reference, Span<float> destination) =>
        StableMath.RowPass(default(ExpDifferenceOperator), logits, reference, default, default, default, destination, false, default);

    /// <summary>
    /// Folds <c>x_j + bias</c> into a running log-sum-exp kept as (max, sum of exp(v - max)) in double.
    /// An empty state has max = negative infinity and sum = 0.
    /// </summary>
    public static void AccumulateLogSumExp(ReadOnlySpan<float> x, float bias, ref double max, ref double sum)
    {
        if (x.IsEmpty)
        {
            return;
        }

        AccumulateLogSumExp(x, bias, System.Numerics.Tensors.TensorPrimitives.Max(x), ref max, ref sum);
    }

    /// <summary>
    /// <see cref="AccumulateLogSumExp(ReadOnlySpan{float}, float, ref double, ref double)"/> with the row's largest
    /// element <paramref name="rowMax"/> already known (<see cref="StoreLogitsAndExps"/> finds it while storing the row).
    /// </summary>
    /// <remarks>
    /// <paramref name="sumAtMax"/>, when not NaN, is <c>sum_j exp(x_j - (float)(max - bias))</c> computed beforehand with the
    /// running max from before this tile (<see cref="StoreLogitsAndExpsAndSum"/>): used when the tile leaves the max
    /// unchanged, where it is exactly the sum this method would compute.
    /// </remarks>
    public static void AccumulateLogSumExp(ReadOnlySpan<float> x, float bias, float rowMax, ref double max, ref double sum, double sumAtMax = double.NaN)
    {
        if (x.IsEmpty)
        {
            return;
        }

        double tileMax = rowMax + (double)bias;
        double newMax = Math.Max(max, tileMax);
        bool maxKept = newMax == max;

        // exp(0) = 1 exactly, so the rescale is skipped when the running max stays (the common case once a row has
        // seen a few members): the same bits, one double exp fewer.
        if (sum != 0 && !maxKept)
        {
            sum *= Math.Exp(max - newMax);
        }

        // Every argument is <= 0 up to rounding (shift is the running max), which ExpNonPositive handles.
        double tileSum = maxKept && !double.IsNaN(sumAtMax) ? sumAtMax : SumExpsInLanes(new ExpNonPositiveShiftOperator((float)(newMax - bias)), x);
        sum += tileSum;
        max = newMax;
    }

    /// <summary>
    /// <see cref="StableMath.SumInLanes{TOperator}"/> of <paramref name="op"/> (the same bits), where Vector256 is the
    /// widest width and <see cref="PairedExps"/> is set with two vectors' exponentials per step, added to the lanes in
    /// the same order.
    /// </summary>
    private static double SumExpsInLanes(ExpNonPositiveShiftOperator op, ReadOnlySpan<float> x)
    {
        if (Vector512.IsHardwareAccelerated || !Vector256.IsHardwareAccelerated || !PairedExps || x.Length < 16)
        {
            return StableMath.SumInLanes(op, x);
        }

        ref float src = ref MemoryMarshal.GetReference(x);
        nuint n = (nuint)x.Length;
        nuint i = 0;
        Vector256<float> acc = Vector256<float>.Zero;
        for (; i + 16 <= n; i += 16)
        {
            Vector256<float> e0 = op.Invoke(Vector256.LoadUnsafe(ref src, i));
            Vector256<float> e1 = op.Invoke(Vector256.LoadUnsafe(ref src, i + 8));
            acc += e0;
            acc += e1;
        }

        for (; i + 8 <= n; i += 8)
        {
            acc += op.Invoke(Vector256.LoadUnsafe(ref src, i));
        }

        double total = 0;
        total += VectorMath.HorizontalSum(acc);

        // The tail exactly as SumInLanes runs it after its Vector256 lanes.
        if (Vector128.IsHardwareAccelerated && i + 4 <= n)
        {
            Vector128<float> acc128 = Vector128<float>.Zero;
            for (; i + 4 <= n; i += 4)
            {
                acc128 += op.Invoke(Vector128.LoadUnsafe(ref src, i));
            }

            total += VectorMath.HorizontalSum(acc128);
        }

        for (; i < n; i++)
        {
            total += op.Invoke(Unsafe.Add(ref src, i));
        }

        return total;
    }

    /// <summary><c>exp(x - shift)</c> for arguments at most 0 (<see cref="VectorMath.ExpNonPositive(float)"/>), the terms of a max-shifted log-sum-exp.</summary>
    private readonly struct ExpNonPositiveShiftOperator : StableMath.IUnaryOperator
    {
        private readonly Vector512<float> _shift;

        public ExpNonPositiveShiftOperator(float shift) => _shift = Vector512.Create(shift);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Invoke(float x) => VectorMath.ExpNonPositive(x - _shift.ToScalar());

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector128<float> Invoke(Vector128<float> x) => VectorMath.ExpNonPositive(x - _shift.GetLower().GetLower());

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Invoke(Vector256<float> x) => VectorMath.ExpNonPositive(x - _shift.GetLower());

        /// <summary><see cref="Invoke(Vector256{float})"/> of two vectors (<see cref="VectorMath.ExpNonPositivePair"/>), bit for bit.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void InvokePair(Vector256<float> x0, Vector256<float> x1, out Vector256<float> e0, out Vector256<float> e1) =>
            VectorMath.ExpNonPositivePair(x0 - _shift.GetLower(), x1 - _shift.GetLower(), out e0, out e1);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Invoke(Vector512<float> x) => VectorMath.ExpNonPositive(x - _shift);
    }

    /// <summary><c>softplus(x + bias)</c> (<see cref="VectorMath.Softplus(Vector512{float}, out Vector512{float})"/>); the tail in double (<see cref="StableMath.Softplus(double)"/> of the float <c>x + bias</c>).</summary>
    private readonly struct BiasedSoftplusOperator : StableMath.IDoubleTailOperator
    {
        private readonly Vector512<float> _bias;

        public BiasedSoftplusOperator(float bias) => _bias = Vector512.Create(bias);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Invoke(float x) => VectorMath.Softplus(x + _bias.ToScalar(), out _);

        public bool Pairs => PairedSums;

        public bool Quads => QuadSumsApply;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public double InvokeTail(float x) => StableMath.Softplus((double)(x + _bias.ToScalar()));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Invoke(Vector256<float> x0, Vector256<float> x1, out Vector256<float> s0, out Vector256<float> s1) =>
            VectorMath.SoftplusPair(x0 + _bias.GetLower(), x1 + _bias.GetLower(), out s0, out s1);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Invoke(Vector512<float> acc, Vector512<float> x0, Vector512<float> x1, Vector512<float> x2, Vector512<float> x3) =>
            VectorMath.AddSoftplusQuad(acc, x0 + _bias, x1 + _bias, x2 + _bias, x3 + _bias);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector128<float> Invoke(Vector128<float> x) => VectorMath.Softplus(x + _bias.GetLower().GetLower(), out _);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Invoke(Vector256<float> x) => VectorMath.Softplus(x + _bias.GetLower(), out _);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Invoke(Vector512<float> x) => VectorMath.Softplus(x + _bias, out _);
    }
}

/// <summary>
/// Epilogue adding <c>weight * sum_j softplus(P_ij + bias)</c> to <c>accumulator[i]</c> for each row i of the product
/// that <c>skip[i]</c> does not mark (all rows without <c>skip</c>); for a product over rows by index
/// (<see cref="EpilogueProduct{TEpilogue}.Rows"/>), product row i adds to <c>accumulator[rows[i]]</c>. Optionally
/// (<see cref="PrefetchingRowsOf(MatrixView)"/>) it also prefetches, row by row, the same rows of another matrix (the
/// same candidates, through <c>rows</c> when given).
/// </summary>
internal readonly struct SoftplusRowSumEpilogue : IRowPrefetchingEpilogue<SoftplusRowSumEpilogue>
{
    private readonly double[] _accumulator;
    private readonly float _bias;
    private readonly double _weight;
    private readonly bool[]? _skip;
    private readonly int[]? _rows;
    private readonly int _rowCount;
    private readonly MatrixView _next;
    private readonly int _nextOffset;
    private readonly int _nextLead;

    public SoftplusRowSumEpilogue(double[] accumulator, float bias, double weight, bool[]? skip = null)
        : this(accumulator, bias, weight, skip, null, 0, default, 0, int.MaxValue)
    {
    }

    /// <summary>The epilogue of a product whose row i is candidate <c>rows[i]</c>, i &lt; <paramref name="rowCount"/>.</summary>
    public SoftplusRowSumEpilogue(double[] accumulator, float bias, double weight, int[] rows, int rowCount)
        : this(accumulator, bias, weight, null, rows, rowCount, default, 0, int.MaxValue)
    {
    }

    private SoftplusRowSumEpilogue(double[] accumulator, float bias, double weight, bool[]? skip, int[]? rows, int rowCount, MatrixView next, int nextOffset, int nextLead)
    {
        _accumulator = accumulator;
        _bias = bias;
        _weight = weight;
        _skip = skip;
        _rows = rows;
        _rowCount = rowCount;
        _next = next;
        _nextOffset = nextOffset;
        _nextLead = nextLead;
    }

    /// <summary>
    /// This epilogue, also prefetching into L2, while it sums a band's first column tile, the band's rows of
    /// <paramref name="next"/>: the op(A) of the group's next product, which the GEMM reads right after this band (on
    /// the AVX2 path that packs A, whose first reads of a band's rows otherwise each wait for memory). A hint only: the
    /// sums are the same.
    /// </summary>
    public SoftplusRowSumEpilogue PrefetchingRowsOf(MatrixView next) => PrefetchingRowsOf(next, 0, int.MaxValue);

    /// <summary>
    /// As <see cref="PrefetchingRowsOf(MatrixView)"/> for the rows <paramref name="offset"/> further down (the group's
    /// last product: the band this thread probably computes next, of the first product).
    /// </summary>
    public SoftplusRowSumEpilogue PrefetchingRowsOf(MatrixView next, int offset) => PrefetchingRowsOf(next, offset, int.MaxValue);

    /// <inheritdoc/>
    public SoftplusRowSumEpilogue PrefetchingRowsOf(MatrixView next, int offset, int lead) => new(_accumulator, _bias, _weight, _skip, _rows, _rowCount, next, offset, lead);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
    {
        int productRows = _rows is null ? _next.Rows : _rowCount;
        int prefetchRows = Math.Min(RowPrefetch.Count(_next, productRows, _nextOffset, rowStart, columnStart, rows), _nextLead);
        if (SelectionKernels.RowPairSumsApply(columns))
        {
            for (int r = 0; r < prefetchRows; r++)
            {
                VectorMath.Prefetch(_next.Row(Candidate(rowStart + _nextOffset + r)));
            }

            SelectionKernels.AddSoftplusRowPairSums(tile, stride, rows, columns, _bias, _weight, _accumulator, rowStart, _skip, _rows);
            return;
        }

        if (SelectionKernels.PipelinedSumsApply(columns))
        {
            for (int r = 0; r < prefetchRows; r++)
            {
                VectorMath.Prefetch(_next.Row(Candidate(rowStart + _nextOffset + r)));
            }

            SelectionKernels.AddSoftplusRowSums(tile, stride, rows, columns, _bias, _weight, _accumulator, rowStart, _skip, _rows);
            return;
        }

        for (int r = 0; r < rows; r++)
        {
            if (r < prefetchRows)
            {
                VectorMath.Prefetch(_next.Row(Candidate(rowStart + _nextOffset + r)));
            }

            if (_skip is not null && _skip[rowStart + r])
            {
                continue;
            }

            _accumulator[Candidate(rowStart + r)] += _weight * SelectionKernels.SoftplusSum(tile.Slice(r * stride, columns), _bias);
        }
    }

    /// <summary>The candidate of product row <paramref name="i"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Candidate(int i) => _rows is null ? i : _rows[i];
}

/// <summary>
/// Epilogue for the softmax conditional score of the rows beyond the cache: adds <c>sum_j softplus(P_ij - shift_j)</c>
/// to <c>softplusSum[i]</c> for each row i of the product, per column tile <see cref="SelectionKernels.SoftmaxTermSum"/>
/// with the members' references, gains and shifts (indexed by the product's column).
/// </summary>
internal readonly struct SoftmaxTermRowSumEpilogue : IGemmEpilogue
{
    private readonly double[] _softplusSum;
    private readonly float[] _reference;
    private readonly float[] _gain;
    private readonly float[] _shift;

    public SoftmaxTermRowSumEpilogue(double[] softplusSum, float[] reference, float[] gain, float[] shift)
    {
        _softplusSum = softplusSum;
        _reference = reference;
        _gain = gain;
        _shift = shift;
    }

    public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
    {
        ReadOnlySpan<float> reference = _reference.AsSpan(columnStart, columns);
        ReadOnlySpan<float> gain = _gain.AsSpan(columnStart, columns);
        ReadOnlySpan<float> shift = _shift.AsSpan(columnStart, columns);
        for (int r = 0; r < rows; r++)
        {
            _softplusSum[rowStart + r] += SelectionKernels.SoftmaxTermSum(tile.Slice(r * stride, columns), reference, gain, shift);
        }
    }
}

/// <summary>
/// Epilogue folding each row i of <c>P + bias</c> into a running log-sum-exp (<c>max[offset + i]</c>,
/// <c>sum[offset + i]</c>), one <see cref="SelectionKernels.AccumulateLogSumExp(ReadOnlySpan{float}, float, ref double, ref double)"/> per column tile.
/// </summary>
internal readonly struct RowLogSumExpEpilogue : IGemmEpilogue
{
    private readonly double[] _max;
    private readonly double[] _sum;
    private readonly float _bias;
    private readonly int _offset;

    public RowLogSumExpEpilogue(double[] max, double[] sum, float bias, int offset)
    {
        _max = max;
        _sum = sum;
        _bias = bias;
        _offset = offset;
    }

    public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
    {
        for (int r = 0; r < rows; r++)
        {
            int i = _offset + rowStart + r;
            SelectionKernels.AccumulateLogSumExp(tile.Slice(r * stride, columns), _bias, ref _max[i], ref _sum[i]);
        }
    }
}

/// <summary>
/// Epilogue of the softmax new-member product for the cached rows: stores each row i of <c>P</c> into the logit cache
/// (<c>cache[i * stride + start + j]</c>) and folds <c>P + bias</c> into the row's running log-sum-exp
/// (<c>max[i]</c>, <c>sum[i]</c>), one <see cref="SelectionKernels.AccumulateLogSumExp(ReadOnlySpan{float}, float, ref double, ref double)"/> per column tile, as
/// <see cref="RowLogSumExpEpilogue"/> does for the rows beyond the cache; the first <c>expRows</c> rows also store
/// <c>exp(P_ij - reference_j)</c> into the exponential cache (same layout). The rows <c>skip</c> marks (members: their
/// cache rows are never read again, but their log-sum-exps are, as the members' own) only fold the log-sum-exp.
/// For a product over rows by index (<see cref="EpilogueProduct{TEpilogue}.Rows"/>), product row i is candidate
/// <c>rows[i]</c>: its cache row, state and skip flag are <c>rows[i]</c>'s.
/// Optionally (<see cref="PrefetchingRowsOf(MatrixView, int)"/>) it also prefetches, row by row, the same rows of another
/// matrix (the same candidates, through <c>rows</c> when given).
/// </summary>
internal readonly struct CacheAndLogSumExpEpilogue : IRowPrefetchingEpilogue<CacheAndLogSumExpEpilogue>
{
    private readonly CacheBuffer _cache;
    private readonly CacheBuffer _expCache;
    private readonly float[] _reference;
    private readonly int _expRows;
    private readonly int _stride;
    private readonly int _start;
    private readonly double[] _max;
    private readonly double[] _sum;
    private readonly float _bias;
    private readonly bool[]? _skip;
    private readonly int[]? _rows;
    private readonly int _rowCount;
    private readonly MatrixView _next;
    private readonly int _nextOffset;
    private readonly IFillSideWork? _side;
    private readonly bool _sideRuns;
    private readonly int _columns;
    private readonly int _bandRows;
    private readonly int _nextLead;
    private readonly bool _stream = SelectionKernels.StreamFill && !Vector512.IsHardwareAccelerated;
    private readonly bool _fused = SelectionKernels.FusedFillApplies;
    private readonly bool _fusedWide = SelectionKernels.WideFusedFillApplies;
    private readonly bool _expRowLogits;

    /// <summary>
    /// The epilogue of a product over the candidates from row 0; with <paramref name="expRowLogits"/> false the exp-cached
    /// rows keep only their exponentials (<see cref="ConditionalScorer.LogitFreeExpRows"/>).
    /// </summary>
    public CacheAndLogSumExpEpilogue(CacheBuffer cache, CacheBuffer expCache, float[] reference, int expRows, int stride, int start, double[] max, double[] sum, float bias, bool[]? skip = null, bool expRowLogits = true)
        : this(cache, expCache, reference, expRows, stride, start, max, sum, bias, skip, null, 0, default, 0, int.MaxValue, null, false, 0, 0, expRowLogits)
    {
    }

    /// <summary>The epilogue of a product whose row i is candidate <c>rows[i]</c>, i &lt; <paramref name="rowCount"/>.</summary>
    public CacheAndLogSumExpEpilogue(CacheBuffer cache, CacheBuffer expCache, float[] reference, int expRows, int stride, int start, double[] max, double[] sum, float bias, bool[]? skip, int[] rows, int rowCount, bool expRowLogits = true)
        : this(cache, expCache, reference, expRows, stride, start, max, sum, bias, skip, rows, rowCount, default, 0, int.MaxValue, null, false, 0, 0, expRowLogits)
    {
    }

    private CacheAndLogSumExpEpilogue(CacheBuffer cache, CacheBuffer expCache, float[] reference, int expRows, int stride, int start, double[] max, double[] sum, float bias, bool[]? skip, int[]? rows, int rowCount, MatrixView next, int nextOffset, int nextLead, IFillSideWork? side, bool sideRuns, int columns, int bandRows, bool expRowLogits)
    {
        _expRowLogits = expRowLogits;
        _cache = cache;
        _expCache = expCache;
        _reference = reference;
        _expRows = expRows;
        _stride = stride;
        _start = start;
        _max = max;
        _sum = sum;
        _bias = bias;
        _skip = skip;
        _rows = rows;
        _rowCount = rowCount;
        _next = next;
        _nextOffset = nextOffset;
        _side = side;
        _sideRuns = sideRuns;
        _columns = columns;
        _bandRows = bandRows;
        _nextLead = nextLead;
    }

    /// <inheritdoc cref="SoftplusRowSumEpilogue.PrefetchingRowsOf(MatrixView, int)"/>
    public CacheAndLogSumExpEpilogue PrefetchingRowsOf(MatrixView next, int offset) => PrefetchingRowsOf(next, offset, int.MaxValue);

    /// <summary>
    /// This epilogue, also doing <paramref name="side"/>'s share of each row band (band
    /// <c>rowStart / <paramref name="bandRows"/></c>, the plan's row block) of a product of <paramref name="columns"/>
    /// columns: with <paramref name="runs"/> false its prefetch, on the band's first column tile (the group's first
    /// product); with <paramref name="runs"/> true its work, after the band's last column tile (the group's last product,
    /// when the band's other products have given the prefetched lines time to arrive).
    /// </summary>
    public CacheAndLogSumExpEpilogue WithSideWork(IFillSideWork side, bool runs, int columns, int bandRows) => new(_cache, _expCache, _reference, _expRows, _stride, _start, _max, _sum, _bias, _skip, _rows, _rowCount, _next, _nextOffset, _nextLead, side, runs, columns, bandRows, _expRowLogits);

    /// <inheritdoc/>
    public CacheAndLogSumExpEpilogue PrefetchingRowsOf(MatrixView next, int offset, int lead) => new(_cache, _expCache, _reference, _expRows, _stride, _start, _max, _sum, _bias, _skip, _rows, _rowCount, next, offset, lead, _side, _sideRuns, _columns, _bandRows, _expRowLogits);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
    {
        if (_side is not null && !_sideRuns && columnStart == 0)
        {
            _side.Prefetch(rowStart / _bandRows);
        }

        int prefetchRows = Math.Min(RowPrefetch.Count(_next, _rows is null ? _next.Rows : _rowCount, _nextOffset, rowStart, columnStart, rows), _nextLead);
        for (int r = 0; r < rows; r++)
        {
            int i = Candidate(rowStart + r);
            if (r < prefetchRows)
            {
                VectorMath.Prefetch(_next.Row(Candidate(rowStart + r + _nextOffset)));
            }

            Span<float> row = tile.Slice(r * stride, columns);
            int at = (i * _stride) + _start + columnStart;
            if (r + 1 < rows && !_stream && !_fusedWide && Candidate(rowStart + r + 1) is int following && !Skips(following))
            {
                // The next row's destinations (each on another page): their lines arrive while this row is stored.
                int atFollowing = (following * _stride) + _start + columnStart;
                if (following >= _expRows || _expRowLogits)
                {
                    VectorMath.Prefetch(_cache.AsSpan(atFollowing, columns));
                }

                if (following < _expRows)
                {
                    VectorMath.Prefetch(_expCache.AsSpan(atFollowing, columns));
                }
            }

            if (Skips(i))
            {
                // A member's row: only its log-sum-exp is read from now on.
                SelectionKernels.AccumulateLogSumExp(row, _bias, ref _max[i], ref _sum[i]);
            }
            else if (i < _expRows && (_fused || (_fusedWide && columns % 16 == 0)) && _sum[i] != 0 && double.IsFinite(_max[i]))
            {
                // Logits, exponentials, the row's max and its log-sum-exp terms at the current max in one pass (used when
                // the row keeps the max, the usual case after the first chunks; otherwise the fold sums again).
                float shift = (float)(_max[i] - _bias);
                Span<float> logits = _expRowLogits ? _cache.AsSpan(at, columns) : default;
                double sumAtMax;
                float rowMax = _fused
                    ? SelectionKernels.StoreLogitsAndExpsAndSum(row, _reference.AsSpan(_start + columnStart, columns), logits, _expCache.AsSpan(at, columns), _stream, shift, out sumAtMax)
                    : SelectionKernels.StoreLogitsAndExpsAndSumWide(row, _reference.AsSpan(_start + columnStart, columns), logits, _expCache.AsSpan(at, columns), shift, out sumAtMax);
                SelectionKernels.AccumulateLogSumExp(row, _bias, rowMax, ref _max[i], ref _sum[i], sumAtMax);
            }
            else if (i < _expRows)
            {
                // Logits (where kept), exponentials and the row's max in one pass over the tile row.
                float rowMax = SelectionKernels.StoreLogitsAndExps(row, _reference.AsSpan(_start + columnStart, columns), _expRowLogits ? _cache.AsSpan(at, columns) : default, _expCache.AsSpan(at, columns), _stream);
                SelectionKernels.AccumulateLogSumExp(row, _bias, rowMax, ref _max[i], ref _sum[i]);
            }
            else
            {
                row.CopyTo(_cache.AsSpan(at, columns));
                SelectionKernels.AccumulateLogSumExp(row, _bias, ref _max[i], ref _sum[i]);
            }
        }

        if (_stream && Sse.IsSupported)
        {
            // Orders the non-temporal stores before whatever this thread publishes next.
            Sse.StoreFence();
        }

        if (_side is not null && _sideRuns && columnStart + columns == _columns)
        {
            _side.Run(rowStart / _bandRows);
        }
    }

    private bool Skips(int i) => _skip is not null && _skip[i];

    /// <summary>The candidate of product row <paramref name="i"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Candidate(int i) => _rows is null ? i : _rows[i];
}

/// <summary>
/// Work that a group's row bands share out (see <see cref="CacheAndLogSumExpEpilogue.WithSideWork"/>): band b's share is
/// prefetched by the first product's epilogue and done by the last one's, so the work overlaps the band's products. Each
/// share must be done exactly once and touch nothing the products read or write, so the results do not depend on which
/// thread computes which band.
/// </summary>
internal interface IFillSideWork
{
    /// <summary>Asks for the memory of band <paramref name="band"/>'s share.</summary>
    void Prefetch(int band);

    /// <summary>Does band <paramref name="band"/>'s share.</summary>
    void Run(int band);
}

/// <summary>
/// A product epilogue that can also prefetch, row by row while it works on a band, the same rows (or the rows an offset
/// further down) of another matrix: the op(A) of the product the GEMM computes next (see
/// <see cref="ConditionalScorer.PrefetchNextOperand"/>). A hint only: the results are the same.
/// </summary>
internal interface IRowPrefetchingEpilogue<TSelf> : IGemmEpilogue
    where TSelf : struct, IRowPrefetchingEpilogue<TSelf>
{
    /// <summary>This epilogue, also prefetching the rows <paramref name="offset"/> further down of <paramref name="next"/>.</summary>
    TSelf PrefetchingRowsOf(MatrixView next, int offset);

    /// <summary>
    /// As <see cref="PrefetchingRowsOf(MatrixView, int)"/>, but of each tile's rows only the first
    /// <paramref name="lead"/> (a band's first strip, where the GEMM reads A in place and prefetches each later strip
    /// itself, see <see cref="GemmDirectA256.ReadsGroupInPlace"/>).
    /// </summary>
    TSelf PrefetchingRowsOf(MatrixView next, int offset, int lead);
}

/// <summary>The row count of <see cref="IRowPrefetchingEpilogue{TSelf}"/>'s prefetch for one tile.</summary>
internal static class RowPrefetch
{
    /// <summary>
    /// How many of the tile's <paramref name="rows"/> rows from <paramref name="rowStart"/> have a row
    /// <paramref name="offset"/> further down in <paramref name="next"/> to prefetch: none for an empty matrix or a
    /// column tile after the first (the band's rows are prefetched once).
    /// </summary>
    public static int Count(MatrixView next, int offset, int rowStart, int columnStart, int rows) => Count(next, next.Rows, offset, rowStart, columnStart, rows);

    /// <summary>
    /// As <see cref="Count(MatrixView, int, int, int, int)"/> for a product of <paramref name="productRows"/> rows (its
    /// rows by index into <paramref name="next"/>'s).
    /// </summary>
    public static int Count(MatrixView next, int productRows, int offset, int rowStart, int columnStart, int rows) =>
        columnStart == 0 && !next.IsEmpty ? Math.Clamp(productRows - rowStart - offset, 0, rows) : 0;
}
