using System;
using System.Linq;
using Aced.Core;
using Aced.Selection;
using Xunit;

namespace Aced.Selection.Tests;

/// <summary>
/// The softmax cache with every cached row exp-cached (<see cref="ConditionalScorer.ExpRowsOnly"/>, with
/// <see cref="ConditionalScorer.LogitFreeExpRows"/> under the managed provider): the budget's rows keep their
/// exponentials instead of their logits, and every score and selection must equal the budget's old split (logits for
/// the rows that fit, exponentials for a prefix) bit for bit at any thread count.
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public sealed class ExpRowsOnlyTests
{
    private const int Count = 333;
    private static readonly int[] Chunks = { 40, 17, 90, 44 };

    // Bytes per cached row for learnability (two models, two directions, float32 per member, rows padded to the stride).
    private static long RowBytes(int capacity) => 2L * 2 * ConditionalScorer.CacheStride(capacity) * sizeof(float);

    [Theory]
    [InlineData(0, 0, 0)]         // no cache
    [InlineData(1, 1, 0)]         // one row: logits only before
    [InlineData(150, 150, 0)]     // a prefix of the rows, the rest recomputed
    [InlineData(333, 333, 0)]     // every row, logits only before
    [InlineData(483, 333, 150)]   // every row, exponentials for a prefix before
    [InlineData(666, 333, 333)]   // every row with exponentials either way
    public void Begin_ExpRowsOnly_EveryCachedRowKeepsItsExponentials(int budgetRows, int cachedRows, int expRowsOff)
    {
        SuperBatch batch = TestData.Batch(Count, 10, 77, ContrastiveKind.Softmax);
        int capacity = Chunks.Sum();
        long budget = budgetRows * RowBytes(capacity);
        (int Cached, int Exp) on = Split(batch, capacity, budget, true);
        (int Cached, int Exp) off = Split(batch, capacity, budget, false);
        Assert.Equal((cachedRows, cachedRows), on);
        Assert.Equal((cachedRows, expRowsOff), off);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(64)]   // one band
    [InlineData(150)]  // a prefix, the rest recomputed
    [InlineData(333)]  // every row: logits only when off
    [InlineData(483)]  // every row: exponentials for 150 rows when off
    public void Conditional_ExpRowsOnlyOnOrOff_SameBitsAtEveryThreadCount(int budgetRows)
    {
        SuperBatch batch = LogitFreeExpRowsTests.FallbackBatch(Count, 48, 29);
        int[] order = TestData.Distinct(Count, Chunks.Sum(), 4);
        long budget = budgetRows * RowBytes(order.Length);
        double[][] expected = Scores(batch, order, 1, budget, on: false);
        TestData.AssertScoresBitEqualAtThreads(expected, threads => Scores(batch, order, threads, budget, on: true));
    }

    [Fact]
    public void Sample_ExpRowsOnlyOnOrOff_SameSelectionAndScoresAtEveryThreadCount()
    {
        // 1100 rows at b = 256: the budget holds 1500 rows, so off caches every row's logits and 400 rows' exponentials.
        SuperBatch batch = LogitFreeExpRowsTests.FallbackBatch(1100, 64, 12);
        var options = new ActiveBatchSamplerOptions { BatchSize = 256, Chunks = 4, Loss = ContrastiveKind.Softmax, Seed = 5, SoftmaxLogitCacheBytes = 1500 * RowBytes(256) };
        TestData.AssertSelectionSwitchBitEqual(batch, options, () => ConditionalScorer.ExpRowsOnly, on => ConditionalScorer.ExpRowsOnly = on);
    }

    private static T WithSwitch<T>(bool on, Func<T> run) => TestData.WithSwitch(() => ConditionalScorer.ExpRowsOnly, value => ConditionalScorer.ExpRowsOnly = value, on, run);

    private static (int Cached, int Exp) Split(SuperBatch batch, int capacity, long budget, bool on) => WithSwitch(on, () =>
    {
        var scorer = new ConditionalScorer();
        scorer.Begin(batch, ScoringMethod.Learnability, ScoreLoss.Softmax, capacity, cacheBytes: budget);
        return (scorer.CachedRows, scorer.ExpCachedRows);
    });

    private static double[][] Scores(SuperBatch batch, int[] order, int threads, long budget, bool on)
    {
        GemmControl.MaxDegreeOfParallelism = threads;
        return WithSwitch(on, () =>
        {
            var scorer = new ConditionalScorer();
            scorer.Begin(batch, ScoringMethod.Learnability, ScoreLoss.Softmax, order.Length, cacheBytes: budget);
            return TestData.ChunkScores(scorer, batch.Count, order, Chunks);
        });
    }
}
