using System;
using System.Linq;
using System.Runtime.Intrinsics;
using Aced.Core;

namespace Aced.Selection.Tests;

/// <summary>
/// <see cref="ConditionalScorer.SoftmaxFillByIndex"/>: a softmax chunk's cache fill runs over the cached candidates that
/// were not members before the chunk, by index, and the old members' running log-sum-exps fold the new members' logits
/// from the new members' cache rows. A performance switch: every non-member's conditional score (which reads every
/// member's log-sum-exps through its shifts), and so every chosen index, must have the same bits on or off, at 1, 2 and
/// 3 threads, with full, partial (rows beyond the budget, exponentials for a prefix) and spilling caches. The by-index fill
/// reads the old members' logits from the cache, so these tests keep the exp-cached rows' logits
/// (<see cref="ConditionalScorer.LogitFreeExpRows"/> off; on, the fill runs over all rows wherever rows are exp-cached).
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public class SoftmaxFillByIndexTests
{
    [Theory]
    [InlineData(1003, 64, new[] { 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4 }, 1.0, 1.0, false)] // small chunks: the in-place strips
    [InlineData(641, 48, new[] { 64, 64, 64, 64, 64 }, 1.0, 1.0, true)]                  // 64-member chunks, first and last rows members
    [InlineData(777, 256, new[] { 80, 80, 80 }, 1.0, 0.5, false)]                         // 80 columns; exponentials for half the rows
    [InlineData(700, 256, new[] { 64, 300, 7 }, 1.0, 1.0, false)]                         // 300 members: two column tiles of the fold
    [InlineData(700, 40, new[] { 64, 64, 30, 17 }, 0.7, 0.2, false)]                      // rows beyond the cache: some chunks fall back
    [InlineData(333, 40, new[] { 16, 16, 16, 16, 16, 16 }, 1.0, 1.0, false, true)]         // extreme values
    [InlineData(150, 24, new[] { 9, 50, 13, 21 }, 1.0, 1.0, false)]                         // row bands of 48 and 40 rows, more bands than old members' blocks
    public void Conditional_FillByIndexOnOrOff_SameBitsAtEveryThreadCount(int count, int dim, int[] chunkSizes, double cachedShare, double expShare, bool ends, bool extreme = false)
    {
        SuperBatch batch = extreme ? ActiveRowsTests.Extreme(count, dim) : TestData.Batch(count, dim, 47, ContrastiveKind.Softmax);
        int[] order = TestData.Distinct(count, chunkSizes.Sum(), 12);
        if (ends)
        {
            order = new[] { 0, count - 1 }.Concat(order.Where(x => x != 0 && x != count - 1)).Take(order.Length).ToArray();
        }

        long rowBytes = 2L * 2 * ConditionalScorer.CacheStride(order.Length) * sizeof(float);
        int cachedRows = (int)(cachedShare * count);
        if (cachedRows < count)
        {
            order = Arrange(TestData.Distinct(count, count, 12), chunkSizes, cachedRows);
        }
        long budget = (cachedRows * rowBytes) + ((long)(expShare * cachedRows) * rowBytes);
        (double[][] expected, _) = Scores(batch, order, chunkSizes, budget, threads: 1, on: false, inFill: false, fused: false);
        for (int run = 0; run < 9; run++)
        {
            // Each thread count with the pass fused into the fill, and unfused with the old members folded from the
            // fill's bands or as a job of their own.
            int threads = 1 + (run / 3);
            (double[][] actual, int byIndex) = Scores(batch, order, chunkSizes, budget, threads, on: true, inFill: run % 3 == 1, fused: run % 3 == 0);
            for (int k = 0; k < chunkSizes.Length; k++)
            {
                var member = new bool[count];
                foreach (int m in order.Take(chunkSizes.Take(k + 1).Sum()))
                {
                    member[m] = true;
                }

                for (int x = 0; x < count; x++)
                {
                    if (!member[x])
                    {
                        Assert.True(BitConverter.DoubleToInt64Bits(expected[k][x]) == BitConverter.DoubleToInt64Bits(actual[k][x]), $"threads {threads}, run {run}, chunk {k}, x = {x}: {actual[k][x]:R} vs {expected[k][x]:R}");
                    }
                }
            }

            // On the AVX2 and AVX-512 paths every chunk after the first runs by index when all rows are cached; with rows
            // beyond the cache, only the chunks whose new members are all cached.
            bool simd = Vector256.IsHardwareAccelerated;
            int eligible = 0;
            for (int k = 1, filled = chunkSizes[0]; k < chunkSizes.Length; filled += chunkSizes[k], k++)
            {
                eligible += order.Skip(filled).Take(chunkSizes[k]).All(x => x < cachedRows) ? 1 : 0;
            }

            Assert.Equal(simd ? eligible : 0, byIndex);
            Assert.True(!simd || eligible > 0, "the case must exercise the by-index fill");
        }
    }

    [Theory]
    [InlineData(1003, 64, 16, false, 256L << 20)]
    [InlineData(517, 256, 16, true, 256L << 20)]   // greedy: the top scores, ties decided by the bits
    [InlineData(389, 40, 8, false, 300_000L)]      // a budget that spills rows beyond the cache (292 rows cached)
    public void Sample_FillByIndexOnOrOff_SameIndicesAndScoresAtEveryThreadCount(int count, int batchSize, int chunks, bool greedy, long budget)
    {
        SuperBatch batch = new(TestData.Model(count, 32, 5, 100f, 0f, 0.3f), TestData.Model(count, 32, 6, 10f, 0f, 0.8f));
        (int[] expected, float[] expectedScores) = Sample(batch, batchSize, chunks, greedy, budget, threads: 1, on: false);
        Assert.Equal(batchSize, expected.Distinct().Count());
        for (int threads = 1; threads <= 3; threads++)
        {
            (int[] actual, float[] scores) = Sample(batch, batchSize, chunks, greedy, budget, threads, on: true);
            Assert.Equal(expected, actual);
            Assert.Equal(expectedScores.Select(BitConverter.SingleToInt32Bits), scores.Select(BitConverter.SingleToInt32Bits));
        }
    }

    /// <summary>
    /// Members drawn from <paramref name="order"/> (all candidates, shuffled) so that, with rows beyond the cache, every
    /// second chunk holds cached rows only (a chunk by index) and the others mix cached and uncached rows (a chunk over all
    /// rows).
    /// </summary>
    private static int[] Arrange(int[] order, int[] chunkSizes, int cachedRows)
    {
        var cached = new System.Collections.Generic.Queue<int>(order.Where(x => x < cachedRows));
        var rest = new System.Collections.Generic.Queue<int>(order.Where(x => x >= cachedRows));
        var arranged = new System.Collections.Generic.List<int>();
        for (int k = 0; k < chunkSizes.Length; k++)
        {
            for (int i = 0; i < chunkSizes[k]; i++)
            {
                bool fromRest = k % 2 == 0 && rest.Count > 0 && (i % 2 == 0 || cached.Count == 0);
                arranged.Add(fromRest ? rest.Dequeue() : cached.Dequeue());
            }
        }

        return arranged.ToArray();
    }

    private static (double[][] Scores, int ByIndex) Scores(SuperBatch batch, int[] order, int[] chunkSizes, long budget, int threads, bool on, bool inFill, bool fused)
    {
        int saved = GemmControl.MaxDegreeOfParallelism;
        bool switchSaved = ConditionalScorer.SoftmaxFillByIndex, inFillSaved = ConditionalScorer.FoldInFill, fusedSaved = ConditionalScorer.FusedPass, logitFreeSaved = ConditionalScorer.LogitFreeExpRows;
        GemmControl.MaxDegreeOfParallelism = threads;
        ConditionalScorer.SoftmaxFillByIndex = on;
        ConditionalScorer.LogitFreeExpRows = false;
        ConditionalScorer.FoldInFill = inFill;
        ConditionalScorer.FusedPass = fused;
        try
        {
            var scorer = new ConditionalScorer();
            scorer.Begin(batch, ScoringMethod.Learnability, ScoreLoss.Softmax, order.Length, cacheBytes: budget);
            double[][] scores = TestData.ChunkScores(scorer, batch.Count, order, chunkSizes);
            return (scores, scorer.SoftmaxChunksByIndex);
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = saved;
            ConditionalScorer.SoftmaxFillByIndex = switchSaved;
            ConditionalScorer.FoldInFill = inFillSaved;
            ConditionalScorer.FusedPass = fusedSaved;
            ConditionalScorer.LogitFreeExpRows = logitFreeSaved;
        }
    }

    private static (int[] Indices, float[] Scores) Sample(SuperBatch batch, int batchSize, int chunks, bool greedy, long budget, int threads, bool on)
    {
        int saved = GemmControl.MaxDegreeOfParallelism;
        bool switchSaved = ConditionalScorer.SoftmaxFillByIndex, logitFreeSaved = ConditionalScorer.LogitFreeExpRows;
        GemmControl.MaxDegreeOfParallelism = threads;
        ConditionalScorer.SoftmaxFillByIndex = on;
        ConditionalScorer.LogitFreeExpRows = false;
        try
        {
            var options = new ActiveBatchSamplerOptions { BatchSize = batchSize, Chunks = chunks, Greedy = greedy, Loss = ContrastiveKind.Softmax, SoftmaxLogitCacheBytes = budget, Seed = 4 };
            SelectionResult result = new ActiveBatchSampler(options).Sample(batch, 3);
            return (result.ToArray(), result.Scores.ToArray());
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = saved;
            ConditionalScorer.SoftmaxFillByIndex = switchSaved;
            ConditionalScorer.LogitFreeExpRows = logitFreeSaved;
        }
    }
}
