using System;
using System.Linq;
using Aced.Core;

namespace Aced.Selection.Tests;

/// <summary>
/// The softmax cache fill (<see cref="CacheAndLogSumExpEpilogue"/>): its paired exponentials
/// (<see cref="SelectionKernels.PairedExps"/>, taken where Vector256 is the widest width), its prefetch of the next
/// product's candidate rows (<see cref="ConditionalScorer.PrefetchSoftmaxFill"/>, where the GEMM packs A) and its
/// skipping of the members' cache rows (<see cref="ConditionalScorer.SkipMemberFill"/>) are performance switches: the
/// non-members' conditional scores and the selections must have the same bits with them on or off, at 1, 2 and 3 threads.
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public class SoftmaxFillTests
{
    [Theory]
    [InlineData(333, 48, 333, 333, new[] { 40, 17, 90 })]
    [InlineData(700, 256, 700, 700, new[] { 64, 300 })] // 300 members: two column tiles of the epilogue path
    [InlineData(700, 40, 500, 150, new[] { 64, 64, 30 })] // a partial cache, exponentials for a prefix of it
    public void Conditional_FillSwitchesOnOrOff_SameBitsAtEveryThreadCount(int count, int dim, int cachedRows, int expRows, int[] chunkSizes)
    {
        SuperBatch batch = TestData.Batch(count, dim, 37, ContrastiveKind.Softmax);
        int[] order = TestData.Distinct(count, chunkSizes.Sum(), 8);
        long rowBytes = 2L * 2 * ConditionalScorer.CacheStride(order.Length) * sizeof(float);
        long budget = (cachedRows * rowBytes) + (expRows * rowBytes);
        double[][] expected = Scores(batch, order, chunkSizes, budget, threads: 1, on: false);
        int saved = GemmControl.MaxDegreeOfParallelism;
        try
        {
            for (int threads = 1; threads <= 3; threads++)
            {
                double[][] actual = Scores(batch, order, chunkSizes, budget, threads, on: true);
                for (int k = 0; k < chunkSizes.Length; k++)
                {
                    bool[] member = new bool[count];
                    foreach (int m in order.Take(chunkSizes.Take(k + 1).Sum()))
                    {
                        member[m] = true;
                    }

                    for (int x = 0; x < count; x++)
                    {
                        if (!member[x])
                        {
                            Assert.True(BitConverter.DoubleToInt64Bits(expected[k][x]) == BitConverter.DoubleToInt64Bits(actual[k][x]), $"threads {threads}, chunk {k}, x = {x}: {actual[k][x]:R} vs {expected[k][x]:R}");
                        }
                    }
                }
            }
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = saved;
        }
    }

    [Theory]
    [InlineData(333, 48, new[] { 40, 17, 90 })]
    [InlineData(700, 256, new[] { 64, 64, 300 })]
    [InlineData(650, 64, new[] { 16, 32, 64, 48 })] // every whole 16-column width of a chunk
    public void Conditional_LeanFillOnOrOff_SameBitsAtEveryThreadCount(int count, int dim, int[] chunkSizes)
    {
        SuperBatch batch = TestData.Batch(count, dim, 41, ContrastiveKind.Softmax);
        int[] order = TestData.Distinct(count, chunkSizes.Sum(), 9);
        double[][] expected = Scores(batch, order, chunkSizes, 1L << 28, threads: 1, on: true, lean: false);
        TestData.AssertScoresBitEqualAtThreads(expected, threads => Scores(batch, order, chunkSizes, 1L << 28, threads, on: true, lean: true));
    }

    /// <summary>
    /// <see cref="SelectionKernels.LeanFill"/> on against off in <see cref="SelectionKernels.StoreLogitsAndExpsAndSum"/>:
    /// the stores, the returned max (the sign of a zero max, NaN) and the shifted sum, bit for bit, for rows of special
    /// values (signed zeros as the max, NaN at every position of a step, infinities, subnormals, the underflow and
    /// overflow edges of both exponentials), every length up to 80 and both kinds of stores.
    /// </summary>
    [Theory]
    [InlineData(0f)]
    [InlineData(9.5f)]
    [InlineData(-40f)]
    [InlineData(float.NegativeInfinity)]
    public void StoreLogitsAndExpsAndSum_LeanFillOnOrOff_SameBits(float shift)
    {
        if (!SelectionKernels.FusedFillApplies)
        {
            return;
        }

        var rng = new CounterRng(77);
        float[] specials =
        {
            0f, -0f, float.Epsilon, -float.Epsilon, 1e-40f, -1e-40f, float.NaN, float.PositiveInfinity, float.NegativeInfinity,
            float.MaxValue, float.MinValue, 88.72f, 89f, 89.5f, -87.33654f, -87.34f, -103.9f, -104f, -104.5f, -200f, 1f, -1f,
        };
        var rows = new System.Collections.Generic.List<float[]>();
        for (int r = 0; r < 40; r++)
        {
            float[] row = new float[80];
            for (int j = 0; j < row.Length; j++)
            {
                row[j] = r % 4 == 0 ? specials[(int)(rng.NextFloat() * specials.Length) % specials.Length] : 30f * (rng.NextFloat() - 0.5f);
            }

            rows.Add(row);
        }

        float[] zeros = new float[80];
        float[] negativeZeros = Enumerable.Repeat(-0f, 80).ToArray();
        float[] mixedZeros = Enumerable.Range(0, 80).Select(j => j % 3 == 0 ? 0f : j % 3 == 1 ? -0f : -5f).ToArray();
        float[] lateZero = Enumerable.Range(0, 80).Select(j => j == 37 ? 0f : j % 2 == 0 ? -0f : -1f).ToArray();
        // One +0 in one lane, then -0 in the same lane of the same step's other vector or of the next steps: the max
        // is +0, which a plain vmaxps (returning its second operand for equal values) would turn into -0.
        float[] pairZeros = Enumerable.Range(0, 80).Select(j => j == 0 ? 0f : j == 8 ? -0f : -1f).ToArray();
        float[] laterZeros = Enumerable.Range(0, 80).Select(j => j == 5 ? 0f : j % 8 == 5 ? -0f : -1f).ToArray();
        rows.AddRange(new[] { zeros, negativeZeros, mixedZeros, lateZero, pairZeros, laterZeros });
        for (int at = 0; at < 16; at++)
        {
            float[] row = Enumerable.Range(0, 80).Select(j => -0.25f * j).ToArray();
            row[at] = float.NaN;
            rows.Add(row);
        }

        float[] reference = Enumerable.Range(0, 80).Select(j => j % 5 == 0 ? specials[j % specials.Length] : 4f * (rng.NextFloat() - 0.5f)).ToArray();
        var cache = new CacheBuffer();
        var exps = new CacheBuffer();
        cache.Grow(4 * 96);
        exps.Grow(4 * 96);
        bool saved = SelectionKernels.LeanFill;
        try
        {
            foreach (float[] row in rows)
            {
                for (int n = 1; n <= row.Length; n++)
                {
                    foreach ((int offset, bool stream) in new[] { (0, true), (0, false), (96 + 3, true) })
                    {
                        SelectionKernels.LeanFill = false;
                        float max0 = SelectionKernels.StoreLogitsAndExpsAndSum(row.AsSpan(0, n), reference, cache.AsSpan(offset, n), exps.AsSpan(offset, n), stream, shift, out double sum0);
                        int[] cache0 = Bits(cache.AsSpan(offset, n)), exps0 = Bits(exps.AsSpan(offset, n));
                        cache.AsSpan(offset, n).Fill(123f);
                        exps.AsSpan(offset, n).Fill(123f);
                        SelectionKernels.LeanFill = true;
                        float max1 = SelectionKernels.StoreLogitsAndExpsAndSum(row.AsSpan(0, n), reference, cache.AsSpan(offset, n), exps.AsSpan(offset, n), stream, shift, out double sum1);
                        System.Runtime.Intrinsics.X86.Sse.StoreFence();
                        Assert.True(BitConverter.SingleToInt32Bits(max0) == BitConverter.SingleToInt32Bits(max1), $"n = {n}: max {max1:R} vs {max0:R}");
                        Assert.True(BitConverter.DoubleToInt64Bits(sum0) == BitConverter.DoubleToInt64Bits(sum1), $"n = {n}: sum {sum1:R} vs {sum0:R}");
                        Assert.Equal(cache0, Bits(cache.AsSpan(offset, n)));
                        Assert.Equal(exps0, Bits(exps.AsSpan(offset, n)));
                    }
                }
            }
        }
        finally
        {
            SelectionKernels.LeanFill = saved;
        }

        static int[] Bits(Span<float> x) => x.ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();
    }

    [Fact]
    public void Sample_FillSwitchesOnOrOff_SameSelectionAndScores()
    {
        SuperBatch batch = TestData.Batch(900, 64, 11, ContrastiveKind.Softmax);
        var options = new ActiveBatchSamplerOptions { BatchSize = 180, Chunks = 6, Loss = ContrastiveKind.Softmax, Seed = 4 };
        (int[] offIndices, float[] offScores) = Sample(batch, options, on: false);
        (int[] onIndices, float[] onScores) = Sample(batch, options, on: true);
        Assert.Equal(offIndices, onIndices);
        Assert.Equal(offScores.Select(BitConverter.SingleToInt32Bits), onScores.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void StoreLogitsAndExps_PairedOrNot_SameBitsEveryLength()
    {
        var rng = new CounterRng(21);
        float[] logits = new float[257], reference = new float[257];
        for (int i = 0; i < logits.Length; i++)
        {
            logits[i] = 60f * (rng.NextFloat() - 0.5f);
            reference[i] = 20f * (rng.NextFloat() - 0.5f);
        }

        logits[100] = float.NaN; // only lengths above 100 see it
        for (int n = 1; n <= 257; n++)
        {
            float[] cache0 = new float[n], exps0 = new float[n], cache1 = new float[n], exps1 = new float[n];
            float max0 = WithPairs(false, () => SelectionKernels.StoreLogitsAndExps(logits.AsSpan(0, n), reference, cache0, exps0));
            float max1 = WithPairs(true, () => SelectionKernels.StoreLogitsAndExps(logits.AsSpan(0, n), reference, cache1, exps1));
            Assert.Equal(BitConverter.SingleToInt32Bits(max0), BitConverter.SingleToInt32Bits(max1));
            Assert.Equal(cache0.Select(BitConverter.SingleToInt32Bits), cache1.Select(BitConverter.SingleToInt32Bits));
            Assert.Equal(exps0.Select(BitConverter.SingleToInt32Bits), exps1.Select(BitConverter.SingleToInt32Bits));
            Assert.Equal(n > 100, float.IsNaN(max1));
        }
    }

    [Fact]
    public void AccumulateLogSumExp_PairedOrNot_SameBitsEveryLength()
    {
        var rng = new CounterRng(22);
        float[] x = new float[257];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = 30f * (rng.NextFloat() - 0.5f);
        }

        for (int n = 1; n <= 257; n++)
        {
            // A state with a smaller max (rescaled) and one with a larger max (kept).
            foreach ((double max, double sum) in new[] { (-3.0, 1.25), (40.0, 2.5), (double.NegativeInfinity, 0.0) })
            {
                double m0 = max, s0 = sum, m1 = max, s1 = sum;
                WithPairs(false, () => { SelectionKernels.AccumulateLogSumExp(x.AsSpan(0, n), 0.75f, ref m0, ref s0); return 0f; });
                WithPairs(true, () => { SelectionKernels.AccumulateLogSumExp(x.AsSpan(0, n), 0.75f, ref m1, ref s1); return 0f; });
                Assert.Equal(BitConverter.DoubleToInt64Bits(m0), BitConverter.DoubleToInt64Bits(m1));
                Assert.True(BitConverter.DoubleToInt64Bits(s0) == BitConverter.DoubleToInt64Bits(s1), $"n = {n}, max {max}: {s1:R} vs {s0:R}");
            }
        }
    }

    [Fact]
    public void CacheAndLogSumExpEpilogue_SkipRowsAndPrefetch_LeavesSkippedCacheRowsAndFoldsEveryRow()
    {
        const int Rows = 6, Columns = 37, Stride = 48, Start = 5;
        var rng = new CounterRng(23);
        float[] tile = new float[Rows * 40];
        for (int i = 0; i < tile.Length; i++)
        {
            tile[i] = 20f * (rng.NextFloat() - 0.5f);
        }

        float[] reference = Enumerable.Range(0, Stride).Select(i => 0.1f * i).ToArray();
        bool[] skip = [false, false, true, false, true, true, false, false, false];
        var (plainCache, plainExps, plainMax, plainSum) = Fill(tile, reference, null, default);
        var next = new MatrixView(new float[9 * 5], 9, 5);
        var (skipCache, skipExps, skipMax, skipSum) = Fill(tile, reference, skip, next);
        Assert.Equal(plainMax.Select(BitConverter.DoubleToInt64Bits), skipMax.Select(BitConverter.DoubleToInt64Bits));
        Assert.Equal(plainSum.Select(BitConverter.DoubleToInt64Bits), skipSum.Select(BitConverter.DoubleToInt64Bits));
        for (int r = 0; r < Rows; r++)
        {
            int i = 2 + r;
            float[] expectedCache = skip[i] ? new float[Columns] : plainCache.Skip((i * Stride) + Start).Take(Columns).ToArray();
            Assert.Equal(expectedCache, skipCache.Skip((i * Stride) + Start).Take(Columns).ToArray());
            float[] expectedExps = skip[i] ? new float[Columns] : plainExps.Skip((i * Stride) + Start).Take(Columns).ToArray();
            Assert.Equal(expectedExps, skipExps.Skip((i * Stride) + Start).Take(Columns).ToArray());
        }

        Assert.NotEqual(0f, plainCache[(4 * Stride) + Start]);

        (float[] Cache, float[] Exps, double[] Max, double[] Sum) Fill(float[] t, float[] r, bool[]? s, MatrixView n)
        {
            var cache = new CacheBuffer();
            var exps = new CacheBuffer();
            cache.Grow(9 * Stride);
            exps.Grow(9 * Stride);
            cache.AsSpan(0, 9 * Stride).Clear();
            exps.AsSpan(0, 9 * Stride).Clear();
            double[] max = Enumerable.Repeat(double.NegativeInfinity, 9).ToArray();
            double[] sum = new double[9];
            var epilogue = new CacheAndLogSumExpEpilogue(cache, exps, r, expRows: 9, Stride, Start, max, sum, 0.5f, s);
            if (!n.IsEmpty)
            {
                epilogue = epilogue.PrefetchingRowsOf(n, 1);
            }

            epilogue.Apply(2, 0, Rows, Columns, t, 40);
            return (cache.AsSpan(0, 9 * Stride).ToArray(), exps.AsSpan(0, 9 * Stride).ToArray(), max, sum);
        }
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(9.5f)]   // above most elements: the terms of a kept max
    [InlineData(-40f)]   // below them: arguments above 0, still the separate pass's bits
    public void StoreLogitsAndExpsAndSum_EqualsStoreThenSum_EveryLengthBothStores(float shift)
    {
        if (!SelectionKernels.FusedFillApplies)
        {
            return; // the fused pass is for the machines where Vector256 is the widest width (the caller checks)
        }

        var rng = new CounterRng(24);
        float[] logits = new float[257], reference = new float[257];
        for (int i = 0; i < logits.Length; i++)
        {
            logits[i] = 20f * (rng.NextFloat() - 0.5f);
            reference[i] = 5f * (rng.NextFloat() - 0.5f);
        }

        logits[7] = -200f; // an underflowed term
        var cache = new CacheBuffer();
        var exps = new CacheBuffer();
        cache.Grow(2 * 264);
        exps.Grow(2 * 264);
        for (int n = 1; n <= 257; n++)
        {
            float[] cache0 = new float[n], exps0 = new float[n];
            float max0 = SelectionKernels.StoreLogitsAndExps(logits.AsSpan(0, n), reference, cache0, exps0);
            double expectedSum = SumOnly(logits.AsSpan(0, n), shift);
            foreach ((int offset, bool stream) in new[] { (0, true), (0, false), (264 + 3, true) })
            {
                // offset 0 is 32-byte aligned (the non-temporal stores run), offset 267 is not.
                float max1 = SelectionKernels.StoreLogitsAndExpsAndSum(logits.AsSpan(0, n), reference, cache.AsSpan(offset, n), exps.AsSpan(offset, n), stream, shift, out double shifted);
                System.Runtime.Intrinsics.X86.Sse.StoreFence();
                Assert.Equal(BitConverter.SingleToInt32Bits(max0), BitConverter.SingleToInt32Bits(max1));
                Assert.Equal(cache0.Select(BitConverter.SingleToInt32Bits), cache.AsSpan(offset, n).ToArray().Select(BitConverter.SingleToInt32Bits));
                Assert.Equal(exps0.Select(BitConverter.SingleToInt32Bits), exps.AsSpan(offset, n).ToArray().Select(BitConverter.SingleToInt32Bits));
                Assert.True(BitConverter.DoubleToInt64Bits(expectedSum) == BitConverter.DoubleToInt64Bits(shifted), $"n = {n}, offset {offset}: {shifted:R} vs {expectedSum:R}");
            }

        }

        // The sum AccumulateLogSumExp adds for a state whose max stays at shift + bias (bias 0.25, exact for these shifts).
        static double SumOnly(ReadOnlySpan<float> x, float s)
        {
            double max = s + 0.25, sum = 0.0;
            SelectionKernels.AccumulateLogSumExp(x, 0.25f, float.NegativeInfinity, ref max, ref sum);
            return sum;
        }
    }

    [Fact]
    public void AccumulateLogSumExp_PrecomputedSum_UsedOnlyWhenTheMaxStays()
    {
        float[] x = Enumerable.Range(0, 37).Select(i => 0.3f * (i % 11)).ToArray();
        double max = 10.0, sum = 2.0;
        SelectionKernels.AccumulateLogSumExp(x, 0.5f, x.Max(), ref max, ref sum, sumAtMax: 123.0);
        Assert.Equal(10.0, max);
        Assert.Equal(125.0, sum); // kept max: the given sum is taken as is

        double max1 = 1.0, sum1 = 2.0, max2 = 1.0, sum2 = 2.0;
        SelectionKernels.AccumulateLogSumExp(x, 0.5f, x.Max(), ref max1, ref sum1, sumAtMax: 123.0);
        SelectionKernels.AccumulateLogSumExp(x, 0.5f, x.Max(), ref max2, ref sum2);
        Assert.Equal(BitConverter.DoubleToInt64Bits(sum2), BitConverter.DoubleToInt64Bits(sum1)); // a new max: summed again
        Assert.Equal(max2, max1);
    }

    private static float WithPairs(bool on, Func<float> run)
    {
        bool saved = SelectionKernels.PairedExps;
        SelectionKernels.PairedExps = on;
        try
        {
            return run();
        }
        finally
        {
            SelectionKernels.PairedExps = saved;
        }
    }

    private static (int[] Indices, float[] Scores) Sample(SuperBatch batch, ActiveBatchSamplerOptions options, bool on) =>
        WithSwitches(on, () =>
        {
            SelectionResult result = new ActiveBatchSampler(options).Sample(batch, 2);
            return (result.ToArray(), result.Scores.ToArray());
        });

    /// <summary>Runs <paramref name="run"/> with every fill switch set to <paramref name="on"/>, then restores them.</summary>
    private static T WithSwitches<T>(bool on, Func<T> run, bool? lean = null)
    {
        bool pairs = SelectionKernels.PairedExps, stream = SelectionKernels.StreamFill, fused = SelectionKernels.FusedFill, leanFill = SelectionKernels.LeanFill;
        bool prefetch = ConditionalScorer.PrefetchSoftmaxFill, skip = ConditionalScorer.SkipMemberFill;
        SelectionKernels.LeanFill = lean ?? on;
        SelectionKernels.PairedExps = on;
        SelectionKernels.StreamFill = on;
        SelectionKernels.FusedFill = on;
        ConditionalScorer.PrefetchSoftmaxFill = on;
        ConditionalScorer.SkipMemberFill = on;
        try
        {
            return run();
        }
        finally
        {
            SelectionKernels.PairedExps = pairs;
            SelectionKernels.StreamFill = stream;
            SelectionKernels.FusedFill = fused;
            SelectionKernels.LeanFill = leanFill;
            ConditionalScorer.PrefetchSoftmaxFill = prefetch;
            ConditionalScorer.SkipMemberFill = skip;
        }
    }

    private static double[][] Scores(SuperBatch batch, int[] order, int[] chunkSizes, long budget, int threads, bool on, bool? lean = null)
    {
        GemmControl.MaxDegreeOfParallelism = threads;
        return WithSwitches(on, () =>
        {
            var scorer = new ConditionalScorer();
            scorer.Begin(batch, ScoringMethod.Learnability, ScoreLoss.Softmax, order.Length, cacheBytes: budget);
            return TestData.ChunkScores(scorer, batch.Count, order, chunkSizes);
        }, lean);
    }
}
