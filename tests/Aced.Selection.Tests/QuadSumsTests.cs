using System;
using System.Linq;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Aced.Core;

namespace Aced.Selection.Tests;

/// <summary>
/// <see cref="SelectionKernels.QuadSums"/>: on AVX-512 the sigmoid epilogue's softplus sums run four vectors per step
/// (<see cref="VectorMath.AddSoftplusQuad"/>, per row) and, for rows of whole 64-column steps, two rows at a time
/// (<see cref="SelectionKernels.AddSoftplusRowPairSums"/>, <see cref="VectorMath.AddSoftplusOcto"/>). A performance
/// switch: every sum, every non-member's conditional score and every chosen index must have the same bits on or off, at
/// 1, 2 and 3 threads (elsewhere both settings run the same code).
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public class QuadSumsTests
{
    [Theory]
    [InlineData(64, 64, 72, 0)]     // the 5120 selection's band tile: 32 row pairs of one 64-column step
    [InlineData(63, 128, 128, 1)]   // an odd row count: the last row alone; two steps per row
    [InlineData(9, 80, 84, 2)]      // 80 columns: row by row, one quad step and one single vector
    [InlineData(5, 200, 200, 3)]    // three quad steps, a single vector and a 256-bit step per row
    [InlineData(1, 64, 64, 4)]      // a single row
    [InlineData(11, 37, 40, 5)]     // no quad step: single vectors, a 256-bit step and the double tail
    public void SoftplusRowSumEpilogue_QuadSumsOnOrOff_SameSums(int rows, int columns, int stride, int seed)
    {
        // Logits over the softplus's regimes: confident negatives, the full log1p, scales below 2^-126 (x < -87), the
        // lower clamp (x < -104), large positives, +-0, infinities; rows skipped alone, in runs, first and last, and
        // rows by index.
        var rng = new CounterRng((ulong)(60 + seed));
        float[] tile = new float[((rows - 1) * stride) + columns + 5];
        float[] special = [0f, -0f, -90f, -100f, -110f, 95f, float.NegativeInfinity, float.PositiveInfinity, -8.01f, 7.99f, 1e-40f, -1e-40f];
        for (int i = 0; i < tile.Length; i++)
        {
            float u = rng.NextFloat();
            tile[i] = i % 89 == 5 ? special[(i / 89) % special.Length]
                : (i / stride) % 3 == 0 ? -10f - (6f * u)
                : (i / stride) % 3 == 1 ? 250f * (u - 0.6f)
                : 30f * (u - 0.7f);
        }

        bool[][] skips = [null!, new bool[rows + 3], new bool[rows + 3], new bool[rows + 3]];
        for (int r = 0; r < rows + 3; r++)
        {
            skips[1][r] = r % 3 == 1;
            skips[2][r] = r < 4 || r >= rows - 1; // the tile starts at row 2: its first two rows and its last skipped
            skips[3][r] = true;
        }

        int[] index = Enumerable.Range(0, rows + 3).Select(i => (i * 7) % (rows + 3)).ToArray();
        bool saved = SelectionKernels.QuadSums;
        try
        {
            for (int variant = 0; variant <= skips.Length; variant++)
            {
                double[] expected = Enumerable.Range(0, rows + 3).Select(i => 0.5 * i).ToArray();
                double[] actual = (double[])expected.Clone();
                SelectionKernels.QuadSums = false;
                Epilogue(expected, variant, skips, index, rows).Apply(2, 0, rows, columns, tile, stride);
                SelectionKernels.QuadSums = true;
                Assert.Equal(Avx512F.IsSupported && Vector512.IsHardwareAccelerated && columns % 64 == 0, SelectionKernels.RowPairSumsApply(columns));
                Epilogue(actual, variant, skips, index, rows).Apply(2, 0, rows, columns, tile, stride);
                Assert.Equal(expected.Select(BitConverter.DoubleToInt64Bits), actual.Select(BitConverter.DoubleToInt64Bits));
            }
        }
        finally
        {
            SelectionKernels.QuadSums = saved;
        }
    }

    [Theory]
    [InlineData(641, 48, 5, 64, false)]     // 64-member chunks: the row pairs
    [InlineData(700, 256, 2, 256, false)]   // 256 columns: the 20480 selection's chunks, four steps per row
    [InlineData(1003, 64, 12, 48, false)]   // 48 columns: single vectors only
    [InlineData(777, 80, 3, 80, false)]     // 80 columns: a quad step and a single vector per row
    [InlineData(333, 40, 4, 64, true)]      // extreme values: logits past overflow, subnormals, exact zeros
    public void Conditional_QuadSumsOnOrOff_SameBitsAtEveryThreadCount(int count, int dim, int chunks, int chunk, bool extreme)
    {
        SuperBatch batch = extreme ? ActiveRowsTests.Extreme(count, dim) : TestData.Batch(count, dim, 73, ContrastiveKind.Sigmoid);
        int[] order = TestData.Distinct(count, chunks * chunk, 11);
        double[][] expected = Scores(batch, order, chunks, chunk, threads: 1, on: false, gather: true);
        for (int run = 0; run < 6; run++)
        {
            // Each thread count with the products over the non-members by index and over all rows (the members' rows skipped).
            int threads = 1 + (run / 2);
            double[][] actual = Scores(batch, order, chunks, chunk, threads, on: true, gather: run % 2 == 0);
            TestData.AssertNonMemberScoresBitEqual(expected, actual, order, chunk, $"threads {threads}, run {run}");
        }
    }

    [Theory]
    [InlineData(1100, 1024, 16, false)]   // 64-member chunks
    [InlineData(517, 256, 16, true)]      // greedy: the top scores, ties decided by the bits
    [InlineData(700, 512, 2, false)]      // 256-member chunks
    public void Sample_QuadSumsOnOrOff_SameIndicesAtEveryThreadCount(int count, int batchSize, int chunks, bool greedy)
    {
        SuperBatch batch = new(TestData.Model(count, 32, 15, 100f, -20f, 0.3f), TestData.Model(count, 32, 16, 10f, -10f, 0.8f));
        int[] expected = Sample(batch, batchSize, chunks, greedy, threads: 1, on: false);
        for (int threads = 1; threads <= 3; threads++)
        {
            Assert.Equal(expected, Sample(batch, batchSize, chunks, greedy, threads, on: true));
        }
    }

    private static SoftplusRowSumEpilogue Epilogue(double[] accumulator, int variant, bool[][] skips, int[] index, int rows) =>
        variant < skips.Length ? new SoftplusRowSumEpilogue(accumulator, -1.5f, 0.75, skips[variant])
        : new SoftplusRowSumEpilogue(accumulator, -1.5f, 0.75, index, rows + 2);

    private static double[][] Scores(SuperBatch batch, int[] order, int chunks, int chunk, int threads, bool on, bool gather)
    {
        int saved = GemmControl.MaxDegreeOfParallelism;
        bool quad = SelectionKernels.QuadSums, active = ConditionalScorer.GatherActiveRows;
        GemmControl.MaxDegreeOfParallelism = threads;
        SelectionKernels.QuadSums = on;
        ConditionalScorer.GatherActiveRows = gather;
        try
        {
            var scorer = new ConditionalScorer();
            scorer.Begin(batch, ScoringMethod.Learnability, ScoreLoss.Sigmoid, order.Length);
            return TestData.ChunkScores(scorer, batch.Count, order, TestData.EqualChunks(chunks, chunk));
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = saved;
            SelectionKernels.QuadSums = quad;
            ConditionalScorer.GatherActiveRows = active;
        }
    }

    private static int[] Sample(SuperBatch batch, int batchSize, int chunks, bool greedy, int threads, bool on)
    {
        int saved = GemmControl.MaxDegreeOfParallelism;
        bool quad = SelectionKernels.QuadSums;
        GemmControl.MaxDegreeOfParallelism = threads;
        SelectionKernels.QuadSums = on;
        try
        {
            var sampler = new ActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = batchSize, Chunks = chunks, Greedy = greedy, Seed = 4 });
            return sampler.Sample(batch, 3).ToArray();
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = saved;
            SelectionKernels.QuadSums = quad;
        }
    }
}
