using System;
using System.Linq;
using System.Runtime.Intrinsics;
using Aced.Core;

namespace Aced.Selection.Tests;

/// <summary>
/// <see cref="ConditionalScorer.GatherActiveRows"/>: the sigmoid chunk products run over the non-members' rows only, read
/// by index (<see cref="Gemm.ReadsRowsByIndex"/>), instead of over all rows with the members' sums skipped. A performance
/// switch: every non-member's conditional score, and so every chosen index, must have the same bits on or off, at 1, 2
/// and 3 threads, wherever the rows land in the GEMM's strips and bands.
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public class ActiveRowsTests
{
    [Theory]
    [InlineData(1003, 64, 16, 4, false, false)]    // B not a multiple of 6 or 64; 16 chunks of 4 (the in-place strips)
    [InlineData(1003, 64, 16, 4, true, false)]     // the first and last candidates in the first chunk
    [InlineData(641, 48, 5, 64, true, false)]      // 64-member chunks: a quarter... half of the rows members by the end
    [InlineData(777, 256, 3, 80, false, false)]    // 80 columns: the packed strips gather their rows
    [InlineData(700, 256, 2, 256, true, false)]    // 256 columns: the 20480 selection's packed path
    [InlineData(333, 40, 16, 16, true, true)]      // extreme values: logits past overflow, subnormals, exact zeros
    [InlineData(1003, 64, 12, 48, false, true)]
    public void Conditional_GatherActiveRowsOnOrOff_SameBitsAtEveryThreadCount(int count, int dim, int chunks, int chunk, bool ends, bool extreme)
    {
        SuperBatch batch = extreme ? Extreme(count, dim) : TestData.Batch(count, dim, 71, ContrastiveKind.Sigmoid);
        int[] order = Order(count, chunks * chunk, ends);
        double[][] expected = Scores(batch, order, chunks, chunk, threads: 1, on: false, pipelined: false);
        for (int run = 0; run < 6; run++)
        {
            // Each thread count with the row-by-row sums and with the pipelined stream (SelectionKernels.PipelinedSums).
            int threads = 1 + (run / 2);
            double[][] actual = Scores(batch, order, chunks, chunk, threads, on: true, pipelined: run % 2 == 1);
            TestData.AssertNonMemberScoresBitEqual(expected, actual, order, chunk, $"threads {threads}, run {run}");
        }
    }

    [Theory]
    [InlineData(1003, 64, 16, false)]
    [InlineData(517, 256, 16, true)]   // greedy: the top scores, ties decided by the bits
    [InlineData(389, 40, 8, false)]
    public void Sample_GatherActiveRowsOnOrOff_SameIndicesAtEveryThreadCount(int count, int batchSize, int chunks, bool greedy)
    {
        SuperBatch batch = new(TestData.Model(count, 32, 5, 100f, -20f, 0.3f), TestData.Model(count, 32, 6, 10f, -10f, 0.8f));
        int[] expected = Sample(batch, batchSize, chunks, greedy, threads: 1, on: false);
        Assert.Equal(batchSize, expected.Distinct().Count());
        for (int threads = 1; threads <= 3; threads++)
        {
            Assert.Equal(expected, Sample(batch, batchSize, chunks, greedy, threads, on: true));
        }
    }

    /// <summary>Distinct candidates; with <paramref name="ends"/> the first chunk starts with the first and last.</summary>
    private static int[] Order(int count, int members, bool ends)
    {
        int[] order = TestData.Distinct(count, members, 9);
        return ends ? new[] { 0, count - 1 }.Concat(order.Where(x => x != 0 && x != count - 1)).Take(members).ToArray() : order;
    }

    /// <summary>Rows scaled far beyond unit norm (logits overflow to infinity), to subnormals, and to zero; no NaN.</summary>
    internal static SuperBatch Extreme(int count, int dim)
    {
        ModelEmbeddings student = TestData.Model(count, dim, 81, 100f, -20f, 0.3f);
        ModelEmbeddings reference = TestData.Model(count, dim + 3, 82, 10f, 5f, 0.8f);
        foreach (ModelEmbeddings model in new[] { student, reference })
        {
            for (int i = 0; i < count; i++)
            {
                float factor = (i % 7) switch { 0 => 1e18f, 1 => 1e-30f, 2 => 0f, 3 => -3e4f, _ => 1f };
                foreach (MatrixView m in new[] { model.Image, model.Text })
                {
                    Span<float> row = m.Row(i);
                    for (int j = 0; j < row.Length; j++)
                    {
                        row[j] *= (i + j) % 5 == 0 ? factor : 1f;
                    }
                }
            }
        }

        return new SuperBatch(student, reference);
    }

    private static double[][] Scores(SuperBatch batch, int[] order, int chunks, int chunk, int threads, bool on, bool pipelined)
    {
        int saved = GemmControl.MaxDegreeOfParallelism;
        bool gather = ConditionalScorer.GatherActiveRows, stream = SelectionKernels.PipelinedSums;
        GemmControl.MaxDegreeOfParallelism = threads;
        ConditionalScorer.GatherActiveRows = on;
        SelectionKernels.PipelinedSums = pipelined;
        try
        {
            var scorer = new ConditionalScorer();
            scorer.Begin(batch, ScoringMethod.Learnability, ScoreLoss.Sigmoid, order.Length);
            double[][] scores = TestData.ChunkScores(scorer, batch.Count, order, TestData.EqualChunks(chunks, chunk));

            // On the AVX2 and AVX-512 paths the switch really reads rows by index, every chunk (its own members are
            // already out; elsewhere both settings run the old path).
            Assert.Equal(on && Vector256.IsHardwareAccelerated ? chunks : 0, scorer.ChunksByIndex);
            return scores;
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = saved;
            ConditionalScorer.GatherActiveRows = gather;
            SelectionKernels.PipelinedSums = stream;
        }
    }

    private static int[] Sample(SuperBatch batch, int batchSize, int chunks, bool greedy, int threads, bool on)
    {
        int saved = GemmControl.MaxDegreeOfParallelism;
        bool gather = ConditionalScorer.GatherActiveRows;
        GemmControl.MaxDegreeOfParallelism = threads;
        ConditionalScorer.GatherActiveRows = on;
        try
        {
            var sampler = new ActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = batchSize, Chunks = chunks, Greedy = greedy, Seed = 4 });
            return sampler.Sample(batch, 3).ToArray();
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = saved;
            ConditionalScorer.GatherActiveRows = gather;
        }
    }
}
