using System;
using System.Linq;
using Aced.Core;
using Aced.Selection;
using Xunit;

namespace Aced.Selection.Tests;

/// <summary>
/// The softmax cache without the exp-cached rows' logits (<see cref="ConditionalScorer.LogitFreeExpRows"/>): the fallback
/// tiles' logits recomputed by <see cref="SelectionKernels.ProductRow"/> must be the fill product's bits, and every score
/// and selection must equal the switch off bit for bit at any thread count.
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public sealed class LogitFreeExpRowsTests
{
    [Theory]
    [InlineData(1, 1f)]
    [InlineData(7, 8f)]
    [InlineData(64, 8f)]
    [InlineData(256, 10.4f)]
    [InlineData(385, 8f)] // two k blocks (kc = 193)
    [InlineData(900, -3.5f)] // three k blocks, a negative scale
    public void ProductRow_EqualsTheFusedProductBitForBit(int dim, float scale)
    {
        const int rows = 37, members = 70;
        var rng = new CounterRng((ulong)dim, 11);
        float[] a = Random(rows * dim, ref rng);
        float[] b = Random(members * dim, ref rng);

        // Signed zeros: a zero row (every product +0 or -0, the chain from +0), a row and a member with -0 entries.
        Array.Clear(a, 3 * dim, dim);
        for (int p = 0; p < dim; p += 2)
        {
            a[(5 * dim) + p] = -0f;
            b[(9 * dim) + p] = -0f;
        }

        var fused = new float[rows * members];
        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, scale, new MatrixView(a, rows, dim), new MatrixView(b, members, dim), new CopyEpilogue(fused, members));
        var row = new float[members];
        for (int i = 0; i < rows; i++)
        {
            SelectionKernels.ProductRow(a.AsSpan(i * dim, dim), b, scale, row);
            for (int j = 0; j < members; j++)
            {
                Assert.True(BitConverter.SingleToInt32Bits(fused[(i * members) + j]) == BitConverter.SingleToInt32Bits(row[j]), $"dim {dim}, row {i}, member {j}: {row[j]:R} vs {fused[(i * members) + j]:R}");
            }
        }
    }

    [Theory]
    [InlineData(64, 16)]
    [InlineData(200, 48)]
    [InlineData(256, 256)]
    public void SoftmaxTermSumsCached_RecomputedFallback_EqualsCachedLogitsBitForBit(int k, int tile)
    {
        const int dim = 96;
        const float scale = 9f;
        var rng = new CounterRng((ulong)k, 5);
        float[] image = Random(dim, ref rng);
        float[] text = Random(dim, ref rng);
        float[] memberText = Random(k * dim, ref rng);
        float[] memberImage = Random(k * dim, ref rng);
        var logits1 = new float[k];
        var logits2 = new float[k];
        SelectionKernels.ProductRow(image, memberText, scale, logits1);
        SelectionKernels.ProductRow(text, memberImage, scale, logits2);
        var reference = new float[k];
        var shift1 = new float[k];
        var shift2 = new float[k];
        var gain1 = new float[k];
        var gain2 = new float[k];
        for (int j = 0; j < k; j++)
        {
            reference[j] = scale * (0.5f - rng.NextFloat());

            // Shifts below some logits (u > 1: the tile falls back), others far above (the series).
            shift1[j] = j % 5 == 0 ? logits1[j] - 1f : logits1[j] + 3f;
            shift2[j] = j % 7 == 3 ? logits2[j] - 0.25f : logits2[j] + 6f;
            gain1[j] = SoftmaxTerm.Gain(reference[j], shift1[j]);
            gain2[j] = SoftmaxTerm.Gain(reference[j], shift2[j]);
        }

        var exps1 = new float[k];
        var exps2 = new float[k];
        SelectionKernels.ExpDifference(logits1, reference, exps1);
        SelectionKernels.ExpDifference(logits2, reference, exps2);
        SelectionKernels.SoftmaxTermSumsCached(exps1, logits1, gain1, shift1, exps2, logits2, gain2, shift2, reference, tile, 0, out double expected1, out double expected2);
        var matrix = new MatrixView(image.Concat(text).ToArray(), 2, dim);
        SelectionKernels.SoftmaxTermSumsCached(exps1, new RecomputedLogits(matrix, 0, memberText, scale), gain1, shift1, exps2, new RecomputedLogits(matrix, 1, memberImage, scale), gain2, shift2, reference, tile, 0, out double actual1, out double actual2);
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected1), BitConverter.DoubleToInt64Bits(actual1));
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected2), BitConverter.DoubleToInt64Bits(actual2));

        // The fallback did run: the per-tile sums without it are NaN somewhere.
        Assert.True(double.IsNaN(SelectionKernels.SoftmaxTermSumCached(exps1, logits1.Select(_ => float.NaN).ToArray(), reference, gain1, shift1)));
    }

    [Fact]
    public void StoreLogitsAndExps_EmptyCache_SameExpsMaxAndSumsWithoutLogits()
    {
        var rng = new CounterRng(3, 9);
        for (int n = 1; n <= 70; n++)
        {
            float[] logits = Random(n, ref rng).Select(v => 12f * v).ToArray();
            float[] reference = Random(n, ref rng);
            var cache = new float[n];
            var exps0 = new float[n];
            var exps1 = new float[n];
            float max0 = SelectionKernels.StoreLogitsAndExps(logits, reference, cache, exps0);
            float max1 = SelectionKernels.StoreLogitsAndExps(logits, reference, Span<float>.Empty, exps1);
            Assert.Equal(BitConverter.SingleToInt32Bits(max0), BitConverter.SingleToInt32Bits(max1));
            Assert.Equal(exps0.Select(BitConverter.SingleToInt32Bits), exps1.Select(BitConverter.SingleToInt32Bits));
            if (n % 16 == 0 && SelectionKernels.WideFusedFillApplies)
            {
                float wide0 = SelectionKernels.StoreLogitsAndExpsAndSumWide(logits, reference, cache, exps0, 1.5f, out double sum0);
                float wide1 = SelectionKernels.StoreLogitsAndExpsAndSumWide(logits, reference, Span<float>.Empty, exps1, 1.5f, out double sum1);
                Assert.Equal(BitConverter.SingleToInt32Bits(wide0), BitConverter.SingleToInt32Bits(wide1));
                Assert.Equal(BitConverter.DoubleToInt64Bits(sum0), BitConverter.DoubleToInt64Bits(sum1));
                Assert.Equal(exps0.Select(BitConverter.SingleToInt32Bits), exps1.Select(BitConverter.SingleToInt32Bits));
            }

            if (SelectionKernels.FusedFillApplies)
            {
                for (int stream = 0; stream < 2; stream++)
                {
                    float fused0 = SelectionKernels.StoreLogitsAndExpsAndSum(logits, reference, cache, exps0, stream == 1, 1.5f, out double sum0);
                    float fused1 = SelectionKernels.StoreLogitsAndExpsAndSum(logits, reference, Span<float>.Empty, exps1, stream == 1, 1.5f, out double sum1);
                    Assert.Equal(BitConverter.SingleToInt32Bits(fused0), BitConverter.SingleToInt32Bits(fused1));
                    Assert.Equal(BitConverter.DoubleToInt64Bits(sum0), BitConverter.DoubleToInt64Bits(sum1));
                    Assert.Equal(exps0.Select(BitConverter.SingleToInt32Bits), exps1.Select(BitConverter.SingleToInt32Bits));
                }
            }
        }
    }

    [Theory]
    [InlineData(333, 48, new[] { 40, 17, 90 }, 1L << 28)]
    [InlineData(700, 256, new[] { 64, 64, 300 }, 1L << 28)] // 300 members: a second column tile of 44
    [InlineData(600, 40, new[] { 64, 64, 64, 64 }, 1L << 28)]
    [InlineData(500, 40, new[] { 64, 64, 64 }, 2_400_000L)] // the first 221 rows exp-cached, the others logits only
    [InlineData(420, 400, new[] { 32, 48, 64 }, 1L << 28)] // two k blocks in the fill and the recompute
    public void Conditional_LogitFreeExpRowsOnOrOff_SameBitsAtEveryThreadCount(int count, int dim, int[] chunkSizes, long cacheBytes)
    {
        SuperBatch batch = FallbackBatch(count, dim, 43);
        int[] order = TestData.Distinct(count, chunkSizes.Sum(), 10);
        double[][] expected = Scores(batch, order, chunkSizes, threads: 1, cacheBytes, on: false);
        TestData.AssertScoresBitEqualAtThreads(expected, threads => Scores(batch, order, chunkSizes, threads, cacheBytes, on: true));
    }

    [Fact]
    public void Sample_LogitFreeExpRowsOnOrOff_SameSelectionAndScoresAtEveryThreadCount()
    {
        SuperBatch batch = FallbackBatch(1100, 64, 12);
        var options = new ActiveBatchSamplerOptions { BatchSize = 256, Chunks = 4, Loss = ContrastiveKind.Softmax, Seed = 5 };
        TestData.AssertSelectionSwitchBitEqual(batch, options, () => ConditionalScorer.LogitFreeExpRows, on => ConditionalScorer.LogitFreeExpRows = on);
    }

    /// <summary>
    /// A softmax batch where every fourth candidate's student image is another candidate's student text: that
    /// candidate's logit against the other one, once a member, is the scale itself, above the member's log-sum-exp, so
    /// the cached pass takes the exact fallback for its tile.
    /// </summary>
    internal static SuperBatch FallbackBatch(int count, int dim, ulong seed)
    {
        SuperBatch batch = TestData.Batch(count, dim, seed, ContrastiveKind.Softmax);
        for (int x = 0; x + 1 < count; x += 4)
        {
            batch.Student.Text.Row(x + 1).CopyTo(batch.Student.Image.Row(x));
        }

        return batch;
    }

    private static float[] Random(int n, ref CounterRng rng)
    {
        var values = new float[n];
        for (int i = 0; i < n; i++)
        {
            values[i] = rng.NextNormal() * 0.2f;
        }

        return values;
    }

    private static T WithSwitch<T>(bool on, Func<T> run) => TestData.WithSwitch(() => ConditionalScorer.LogitFreeExpRows, value => ConditionalScorer.LogitFreeExpRows = value, on, run);

    private static double[][] Scores(SuperBatch batch, int[] order, int[] chunkSizes, int threads, long cacheBytes, bool on)
    {
        GemmControl.MaxDegreeOfParallelism = threads;
        return WithSwitch(on, () =>
        {
            var scorer = new ConditionalScorer();
            scorer.Begin(batch, ScoringMethod.Learnability, ScoreLoss.Softmax, order.Length, cacheBytes: cacheBytes);
            Assert.True(scorer.ExpCachedRows > 0);
            return TestData.ChunkScores(scorer, batch.Count, order, chunkSizes);
        });
    }

    /// <summary>Copies each tile into a row-major m x n array.</summary>
    private readonly struct CopyEpilogue : IGemmEpilogue
    {
        private readonly float[] _destination;
        private readonly int _columns;

        public CopyEpilogue(float[] destination, int columns)
        {
            _destination = destination;
            _columns = columns;
        }

        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
            for (int r = 0; r < rows; r++)
            {
                tile.Slice(r * stride, columns).CopyTo(_destination.AsSpan(((rowStart + r) * _columns) + columnStart, columns));
            }
        }
    }
}
