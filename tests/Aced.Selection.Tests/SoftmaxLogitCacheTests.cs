using System;
using System.Linq;
using Aced.Core;

namespace Aced.Selection.Tests;

/// <summary>
/// The softmax logit cache (<see cref="ActiveBatchSamplerOptions.SoftmaxLogitCacheBytes"/>) must change only the cost:
/// full, partial and no cache give the brute-force conditional scores, bit for bit the same as each other, and the same
/// selections.
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public class SoftmaxLogitCacheTests
{
    // Bytes per cached row for learnability (two models, two directions, float32 per member, rows padded to the stride);
    // the same again caches the row's exponentials.
    private static long RowBytes(int capacity) => 2L * 2 * ConditionalScorer.CacheStride(capacity) * sizeof(float);

    [Theory]
    [InlineData(0)]        // no cache: every row recomputed
    [InlineData(1)]        // one cached row
    [InlineData(150)]      // a prefix of the rows, not a multiple of the 64-row band
    [InlineData(333)]      // every row
    public void AddMembers_CachedRowsAnyBudget_EqualBruteForceAndUncached(int cachedRows)
    {
        AssertCachedEqualsUncached(cachedRows, 10);
    }

    [Fact]
    public void AddMembers_DimensionAboveOneKBlock_CachedEqualsUncached()
    {
        // d > 384: the products run in two k blocks; the cache must still hold the fused product's exact logits.
        AssertCachedEqualsUncached(333, 400);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(200)]
    [InlineData(620)]
    public void AddMembers_ChunkWiderThanOneColumnTile_CachedEqualsUncached(int cachedRows)
    {
        // 300 and 280 new members per chunk: their logits are folded into the running log-sum-exps in two column tiles
        // (at most 256 wide), from the cache and in the recomputed product alike.
        AssertCachedEqualsUncached(cachedRows, 12, 620, new[] { 300, 280, 20 });
    }

    [Theory]
    [InlineData(333, 0)]   // logits only: every term from the cached logit
    [InlineData(333, 150)] // exponentials for a prefix of the cached rows
    [InlineData(333, 333)] // every row with its exponentials
    [InlineData(333, 64)]  // exponentials for one band
    public void AddMembers_ExpCachedRowsAnyBudget_EqualBruteForceAndUncached(int cachedRows, int expRows)
    {
        AssertCachedEqualsUncached(cachedRows, 10, 333, new[] { 17, 70, 40, 50 }, expRows);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(333, 0)]
    [InlineData(333, 333)]
    public void AddMembers_ClipScale_FallbackTermsEqualUncachedAndBruteForce(int cachedRows, int expRows)
    {
        // Scale 100 (CLIP): logit differences beyond 88.7 overflow the cached exponentials and large log-sum-exp gaps
        // underflow the gains, so whole pieces take the exact fallback from the logits; still the same bits as the
        // uncached path and the brute-force scores.
        AssertCachedEqualsUncached(cachedRows, 6, 333, new[] { 17, 70, 40, 50 }, expRows, scale: 100f);
    }

    private static void AssertCachedEqualsUncached(int cachedRows, int dim) => AssertCachedEqualsUncached(cachedRows, dim, 333, new[] { 17, 70, 40, 50 });

    // The budget's split into logit rows and exp rows (ExpRowsOnly off; on, every cached row keeps exponentials only,
    // see ExpRowsOnlyTests).
    private static void AssertCachedEqualsUncached(int cachedRows, int dim, int count, int[] chunkSizes, int expRows = 0, float scale = 0f) =>
        TestData.WithSwitch(() => ConditionalScorer.ExpRowsOnly, on => ConditionalScorer.ExpRowsOnly = on, false, () => AssertSplitEqualsUncached(cachedRows, dim, count, chunkSizes, expRows, scale));

    private static bool AssertSplitEqualsUncached(int cachedRows, int dim, int count, int[] chunkSizes, int expRows, float scale)
    {
        SuperBatch batch = scale == 0f
            ? TestData.Batch(count, dim, 77, ContrastiveKind.Softmax)
            : new SuperBatch(TestData.Model(count, dim, 77, scale, 0.5f, 1.2f), TestData.Model(count, dim + 2, 1077, scale, -2f, 0.5f));
        int[] order = TestData.Distinct(count, chunkSizes.Sum(), 5);
        int capacity = order.Length;
        var cached = new ConditionalScorer();
        var plain = new ConditionalScorer();
        cached.Begin(batch, ScoringMethod.Learnability, ScoreLoss.Softmax, capacity, double.PositiveInfinity, (cachedRows + expRows) * RowBytes(capacity));
        Assert.Equal(cachedRows, cached.CachedRows);
        Assert.Equal(expRows, cached.ExpCachedRows);
        plain.Begin(batch, ScoringMethod.Learnability, ScoreLoss.Softmax, capacity, double.PositiveInfinity, 0);
        double[] scores = new double[count];
        double[] plainScores = new double[count];
        int filled = 0;
        foreach (int size in chunkSizes)
        {
            cached.AddMembers(order.AsSpan(filled, size));
            plain.AddMembers(order.AsSpan(filled, size));
            filled += size;
            int[] members = order.Take(filled).ToArray();
            cached.Conditional(scores);
            plain.Conditional(plainScores);
            for (int x = 0; x < count; x++)
            {
                if (!members.Contains(x))
                {
                    // Same logits, same column tiles, same summation order: the same bits.
                    Assert.True(plainScores[x].Equals(scores[x]), $"cached rows {cachedRows}, {filled} members, x={x}: {scores[x]} vs uncached {plainScores[x]}");
                }
            }

            double baseScore = Scorers.BatchScore(batch, ScoringMethod.Learnability, ContrastiveKind.Softmax, members);
            // Both sides of the cache boundary and the last row.
            foreach (int x in new[] { 0, 1, 63, 64, 149, 150, 151, 200, count - 1 })
            {
                if (members.Contains(x))
                {
                    continue;
                }

                double expected = Scorers.BatchScore(batch, ScoringMethod.Learnability, ContrastiveKind.Softmax, members.Append(x).ToArray()) - baseScore;
                ScorerTests.AssertClose(expected, scores[x], 5e-4, $"cached rows {cachedRows}, {filled} members, x={x}");
            }
        }

        return true;
    }

    [Theory]
    [InlineData(ScoringMethod.Learnability, true)]
    [InlineData(ScoringMethod.Learnability, false)]
    [InlineData(ScoringMethod.EasyReference, false)]
    [InlineData(ScoringMethod.Hard, true)]
    public void Sample_CacheOnPartialOff_SameSelection(ScoringMethod scoring, bool greedy)
    {
        SuperBatch batch = TestData.Batch(600, 24, 11, ContrastiveKind.Softmax);
        int[][] runs = new int[3][];
        float[][] scores = new float[3][];
        long[] budgets = { ActiveBatchSamplerOptions.DefaultSoftmaxLogitCacheBytes, 250 * RowBytes(120), 0 };
        for (int i = 0; i < budgets.Length; i++)
        {
            var options = new ActiveBatchSamplerOptions
            {
                BatchSize = 120,
                Chunks = 8,
                Loss = ContrastiveKind.Softmax,
                Scoring = scoring,
                Greedy = greedy,
                Seed = 4,
                SoftmaxLogitCacheBytes = budgets[i],
            };
            SelectionResult result = new ActiveBatchSampler(options).Sample(batch, 2);
            runs[i] = result.ToArray();
            scores[i] = result.Scores.ToArray();
        }

        Assert.Equal(runs[2], runs[0]);
        Assert.Equal(runs[2], runs[1]);
        Assert.Equal(scores[2], scores[0]);
        Assert.Equal(scores[2], scores[1]);
    }

    [Fact]
    public void Sample_CachedSoftmaxAnyThreadCount_BitIdenticalScores()
    {
        SuperBatch batch = TestData.Batch(700, 32, 5, ContrastiveKind.Softmax);
        int saved = GemmControl.MaxDegreeOfParallelism;
        try
        {
            float[][] scores = new float[2][];
            int[][] runs = new int[2][];
            for (int t = 1; t <= 2; t++)
            {
                GemmControl.MaxDegreeOfParallelism = t;
                var options = new ActiveBatchSamplerOptions { BatchSize = 140, Loss = ContrastiveKind.Softmax, Seed = 9 };
                SelectionResult result = new ActiveBatchSampler(options).Sample(batch, 3);
                runs[t - 1] = result.ToArray();
                scores[t - 1] = result.Scores.ToArray();
            }

            Assert.Equal(runs[0], runs[1]);
            Assert.Equal(scores[0], scores[1]);
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = saved;
        }
    }

    [Fact]
    public void Options_NegativeCacheBudget_ThrowsNamingTheOption()
    {
        var options = new ActiveBatchSamplerOptions { SoftmaxLogitCacheBytes = -1 };
        var ex = Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
        Assert.Equal(nameof(ActiveBatchSamplerOptions.SoftmaxLogitCacheBytes), ex.ParamName);
    }
}
