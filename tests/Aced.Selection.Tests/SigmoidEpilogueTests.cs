using System;
using System.Linq;
using System.Runtime.Intrinsics;
using Aced.Core;

namespace Aced.Selection.Tests;

/// <summary>
/// The sigmoid chunk products' epilogue (<see cref="SoftplusRowSumEpilogue"/>): its paired softplus sums
/// (<see cref="SelectionKernels.PairedSums"/>, taken where Vector256 is the widest width; with
/// <see cref="SelectionKernels.PipelinedSums"/> a tile's pairs as one stream, each pair's exponentials a step ahead), its prefetches of the next
/// product's candidate rows (<see cref="ConditionalScorer.PrefetchNextOperand"/>, <see cref="ConditionalScorer.PrefetchNextBand"/>,
/// where the GEMM packs A; only each band's first strip with <see cref="ConditionalScorer.PrefetchLeadStrip"/> where the
/// AVX2 GEMM reads A's strips in place, here the chunk of 64 members) and its skipping of the members' rows (<see cref="ConditionalScorer.SkipMemberRows"/>) are
/// performance switches: the non-members' conditional scores must have the same bits with them on or off, at 1, 2 and
/// 3 threads.
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public class SigmoidEpilogueTests
{
    [Theory]
    [InlineData(333, 48, new[] { 40, 17, 90 })]
    [InlineData(700, 256, new[] { 64, 300 })] // 300 members: two column tiles of the epilogue path
    [InlineData(650, 64, new[] { 16, 32, 64, 48 })] // the in-place strips (whole 16-column half-panels up to 64 members)
    public void Conditional_PairedSumsAndPrefetchOnOrOff_SameBitsAtEveryThreadCount(int count, int dim, int[] chunkSizes)
    {
        SuperBatch batch = TestData.Batch(count, dim, 31, ContrastiveKind.Sigmoid);
        int[] order = TestData.Distinct(count, chunkSizes.Sum(), 8);
        double[][] expected = Scores(batch, order, chunkSizes, threads: 1, on: false);
        int saved = GemmControl.MaxDegreeOfParallelism;
        try
        {
            for (int threads = 1; threads <= 3; threads++)
            {
                double[][] actual = Scores(batch, order, chunkSizes, threads, on: true);
                for (int k = 0; k < chunkSizes.Length; k++)
                {
                    bool[] member = new bool[count];
                    foreach (int m in order.Take(chunkSizes.Take(k + 1).Sum()))
                    {
                        member[m] = true;
                    }

                    for (int x = 0; x < count; x++)
                    {
                        if (member[x])
                        {
                            continue;
                        }

                        Assert.True(BitConverter.DoubleToInt64Bits(expected[k][x]) == BitConverter.DoubleToInt64Bits(actual[k][x]), $"threads {threads}, chunk {k}, x = {x}: {actual[k][x]:R} vs {expected[k][x]:R}");
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
    [InlineData(64, 64, 72, 0)]    // the 5120 selection's band tile (64 rows of 64 columns)
    [InlineData(7, 16, 20, 1)]     // one pair per row
    [InlineData(9, 48, 48, 2)]     // three pairs per row, rows back to back
    [InlineData(1, 32, 32, 3)]     // a single row
    public void SoftplusRowSumEpilogue_PipelinedOnOrOff_SameSums(int rows, int columns, int stride, int seed)
    {
        // Logits over the softplus's branches: the confident negatives' short log1p (|x| > 8), the full one, scales
        // below 2^-126 (x < -87), large positives, +-0, infinities; rows skipped alone, in runs, first and last.
        var rng = new CounterRng((ulong)(40 + seed));
        float[] tile = new float[((rows - 1) * stride) + columns + 5];
        float[] special = [0f, -0f, -90f, -100f, 95f, float.NegativeInfinity, float.PositiveInfinity, -8.01f, 7.99f];
        for (int i = 0; i < tile.Length; i++)
        {
            float u = rng.NextFloat();
            tile[i] = i % 97 == 5 ? special[(i / 97) % special.Length]
                : (i / stride) % 3 == 0 ? -10f - (6f * u) // rows of confident negatives only: every pair takes the short log1p
                : 30f * (u - 0.7f);
        }

        bool[][] skips = [null!, new bool[rows + 3], new bool[rows + 3], new bool[rows + 3]];
        for (int r = 0; r < rows + 3; r++)
        {
            skips[1][r] = r % 3 == 1;
            skips[2][r] = r < 4 || r >= rows - 1; // the tile starts at row 2: its first two rows and its last skipped
            skips[3][r] = true;
        }

        bool saved = SelectionKernels.PipelinedSums;
        try
        {
            foreach (bool[]? skip in skips)
            {
                double[] expected = Enumerable.Range(0, rows + 3).Select(i => 0.5 * i).ToArray();
                double[] actual = (double[])expected.Clone();
                SelectionKernels.PipelinedSums = false;
                new SoftplusRowSumEpilogue(expected, -1.5f, 0.75, skip).Apply(2, 0, rows, columns, tile, stride);
                SelectionKernels.PipelinedSums = true;
                Assert.Equal(Vector256.IsHardwareAccelerated && !Vector512.IsHardwareAccelerated, SelectionKernels.PipelinedSumsApply(columns));
                new SoftplusRowSumEpilogue(actual, -1.5f, 0.75, skip).Apply(2, 0, rows, columns, tile, stride);
                Assert.Equal(expected.Select(BitConverter.DoubleToInt64Bits), actual.Select(BitConverter.DoubleToInt64Bits));
            }
        }
        finally
        {
            SelectionKernels.PipelinedSums = saved;
        }
    }

    [Fact]
    public void SoftplusRowSumEpilogue_PrefetchingRowsOfAnotherMatrix_SameSums()
    {
        // The prefetching copy reads the other matrix's rows [rowStart, rowStart + rows) only as a hint.
        var rng = new CounterRng(5);
        float[] tile = new float[7 * 40];
        for (int i = 0; i < tile.Length; i++)
        {
            tile[i] = 20f * (rng.NextFloat() - 0.7f);
        }

        double[] plain = new double[10];
        new SoftplusRowSumEpilogue(plain, -1.5f, 0.75).Apply(3, 0, 7, 37, tile, 40);
        var next = new MatrixView(new float[10 * 5], 10, 5);
        foreach (int offset in new[] { 0, 1, 6, 7, 64 })
        {
            // Rows past the end of the other matrix are not prefetched (offset 64: none).
            double[] prefetching = new double[10];
            new SoftplusRowSumEpilogue(prefetching, -1.5f, 0.75).PrefetchingRowsOf(next, offset).Apply(3, 0, 7, 37, tile, 40);
            Assert.Equal(plain.Select(BitConverter.DoubleToInt64Bits), prefetching.Select(BitConverter.DoubleToInt64Bits));
        }

        Assert.Equal(0, plain[2]);
        Assert.NotEqual(0, plain[3]);
    }

    [Fact]
    public void SoftplusRowSumEpilogue_PrefetchingLeadRowsOnly_SameSums()
    {
        // The lead limits the prefetched rows of a tile to its first ones; the sums stay the same (lead 0: none).
        var rng = new CounterRng(6);
        float[] tile = new float[9 * 24];
        for (int i = 0; i < tile.Length; i++)
        {
            tile[i] = 16f * (rng.NextFloat() - 0.6f);
        }

        double[] plain = new double[12];
        new SoftplusRowSumEpilogue(plain, -2f, -1.25).Apply(2, 0, 9, 24, tile, 24);
        var next = new MatrixView(new float[40 * 8], 40, 8);
        foreach (int lead in new[] { 0, 1, 6, 9, int.MaxValue })
        {
            double[] prefetching = new double[12];
            new SoftplusRowSumEpilogue(prefetching, -2f, -1.25).PrefetchingRowsOf(next, 3, lead).Apply(2, 0, 9, 24, tile, 24);
            Assert.Equal(plain.Select(BitConverter.DoubleToInt64Bits), prefetching.Select(BitConverter.DoubleToInt64Bits));
        }
    }

    private static double[][] Scores(SuperBatch batch, int[] order, int[] chunkSizes, int threads, bool on)
    {
        bool pairs = SelectionKernels.PairedSums, pipelined = SelectionKernels.PipelinedSums, prefetch = ConditionalScorer.PrefetchNextOperand, band = ConditionalScorer.PrefetchNextBand, skip = ConditionalScorer.SkipMemberRows, lead = ConditionalScorer.PrefetchLeadStrip;
        GemmControl.MaxDegreeOfParallelism = threads;
        ConditionalScorer.PrefetchLeadStrip = on;
        SelectionKernels.PairedSums = on;
        SelectionKernels.PipelinedSums = on;
        ConditionalScorer.PrefetchNextOperand = on;
        ConditionalScorer.PrefetchNextBand = on;
        ConditionalScorer.SkipMemberRows = on;
        try
        {
            var scorer = new ConditionalScorer();
            scorer.Begin(batch, ScoringMethod.Learnability, ScoreLoss.Sigmoid, order.Length);
            return TestData.ChunkScores(scorer, batch.Count, order, chunkSizes);
        }
        finally
        {
            SelectionKernels.PairedSums = pairs;
            SelectionKernels.PipelinedSums = pipelined;
            ConditionalScorer.PrefetchNextOperand = prefetch;
            ConditionalScorer.PrefetchNextBand = band;
            ConditionalScorer.SkipMemberRows = skip;
            ConditionalScorer.PrefetchLeadStrip = lead;
        }
    }
}
