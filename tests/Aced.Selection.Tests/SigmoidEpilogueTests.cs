using System;
using System.Linq;
using Aced.Core;

namespace Aced.Selection.Tests;

/// <summary>
/// The sigmoid chunk products' epilogue (<see cref="SoftplusRowSumEpilogue"/>): its paired softplus sums
/// (<see cref="SelectionKernels.PairedSums"/>, taken where Vector256 is the widest width), its prefetches of the next
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
        bool pairs = SelectionKernels.PairedSums, prefetch = ConditionalScorer.PrefetchNextOperand, band = ConditionalScorer.PrefetchNextBand, skip = ConditionalScorer.SkipMemberRows, lead = ConditionalScorer.PrefetchLeadStrip;
        GemmControl.MaxDegreeOfParallelism = threads;
        ConditionalScorer.PrefetchLeadStrip = on;
        SelectionKernels.PairedSums = on;
        ConditionalScorer.PrefetchNextOperand = on;
        ConditionalScorer.PrefetchNextBand = on;
        ConditionalScorer.SkipMemberRows = on;
        try
        {
            var scorer = new ConditionalScorer();
            scorer.Begin(batch, ScoringMethod.Learnability, ScoreLoss.Sigmoid, order.Length);
            double[][] scores = new double[chunkSizes.Length][];
            int filled = 0;
            for (int k = 0; k < chunkSizes.Length; k++)
            {
                scorer.AddMembers(order.AsSpan(filled, chunkSizes[k]));
                filled += chunkSizes[k];
                scores[k] = new double[batch.Count];
                scorer.Conditional(scores[k]);
            }

            return scores;
        }
        finally
        {
            SelectionKernels.PairedSums = pairs;
            ConditionalScorer.PrefetchNextOperand = prefetch;
            ConditionalScorer.PrefetchNextBand = band;
            ConditionalScorer.SkipMemberRows = skip;
            ConditionalScorer.PrefetchLeadStrip = lead;
        }
    }
}
