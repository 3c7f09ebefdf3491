using System;
using System.Linq;
using System.Runtime.Intrinsics;
using Aced.Core;

namespace Aced.Selection.Tests;

/// <summary>
/// The AVX-512 fused softmax cache fill (<see cref="SelectionKernels.WideFusedFill"/>,
/// <see cref="SelectionKernels.StoreLogitsAndExpsAndSumWide"/>): the stores, the row max and the shifted log-sum-exp sum
/// must be the bits of <see cref="SelectionKernels.StoreLogitsAndExps"/> followed by
/// <see cref="SelectionKernels.AccumulateLogSumExp(ReadOnlySpan{float}, float, float, ref double, ref double, double)"/>'s
/// own pass, and the conditional scores and selections the same with the switch on or off, at 1, 2 and 3 threads
/// (on machines without Vector512 the switch does nothing and the comparisons hold trivially).
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public class WideFusedFillTests
{
    [Theory]
    [InlineData(0f)]
    [InlineData(9.5f)]   // above most elements: the terms of a kept max
    [InlineData(-40f)]   // below them: arguments above 0, still the separate pass's bits
    [InlineData(float.NegativeInfinity)]
    public void StoreLogitsAndExpsAndSumWide_EqualsStoreThenSum_SpecialRowsEveryWholeLength(float shift)
    {
        if (!Vector512.IsHardwareAccelerated)
        {
            return; // the wide fused pass is for Vector512 machines (the epilogue checks)
        }

        var rng = new CounterRng(91);
        float[] specials =
        {
            0f, -0f, float.Epsilon, -float.Epsilon, 1e-40f, -1e-40f, float.PositiveInfinity, float.NegativeInfinity,
            float.MaxValue, float.MinValue, 88.72f, 89f, 89.5f, -87.33654f, -87.34f, -103.9f, -104f, -104.5f, -200f, 1f, -1f,
        };
        const int Length = 160;
        var rows = new System.Collections.Generic.List<float[]>();
        for (int r = 0; r < 40; r++)
        {
            float[] row = new float[Length];
            for (int j = 0; j < row.Length; j++)
            {
                row[j] = r % 4 == 0 ? specials[(int)(rng.NextFloat() * specials.Length) % specials.Length] : 30f * (rng.NextFloat() - 0.5f);
            }

            rows.Add(row);
        }

        rows.Add(new float[Length]);
        rows.Add(Enumerable.Repeat(-0f, Length).ToArray());
        rows.Add(Enumerable.Range(0, Length).Select(j => j % 3 == 0 ? 0f : j % 3 == 1 ? -0f : -5f).ToArray());
        // A +0 in one lane, then -0 in the same lane of the step's other vector and of later steps: the max is +0.
        rows.Add(Enumerable.Range(0, Length).Select(j => j == 0 ? 0f : j % 16 == 0 ? -0f : -1f).ToArray());
        rows.Add(Enumerable.Range(0, Length).Select(j => j == 21 ? 0f : j % 16 == 5 ? -0f : -1f).ToArray());
        for (int at = 0; at < 48; at += 5)
        {
            float[] row = Enumerable.Range(0, Length).Select(j => -0.25f * j).ToArray();
            row[at] = float.NaN;
            rows.Add(row);
        }

        float[] reference = Enumerable.Range(0, Length).Select(j => j % 5 == 0 ? specials[j % specials.Length] : 4f * (rng.NextFloat() - 0.5f)).ToArray();
        var cache = new CacheBuffer();
        var exps = new CacheBuffer();
        cache.Grow(2 * 176);
        exps.Grow(2 * 176);
        foreach (float[] row in rows)
        {
            for (int n = 16; n <= Length; n += 16)
            {
                float[] cache0 = new float[n], exps0 = new float[n];
                float max0 = SelectionKernels.StoreLogitsAndExps(row.AsSpan(0, n), reference, cache0, exps0);
                double sum0 = SumOnly(row.AsSpan(0, n), shift);
                foreach (int offset in new[] { 0, 176 + 3 })
                {
                    cache.AsSpan(offset, n).Fill(123f);
                    exps.AsSpan(offset, n).Fill(123f);
                    float max1 = SelectionKernels.StoreLogitsAndExpsAndSumWide(row.AsSpan(0, n), reference, cache.AsSpan(offset, n), exps.AsSpan(offset, n), shift, out double sum1);
                    Assert.True(BitConverter.SingleToInt32Bits(max0) == BitConverter.SingleToInt32Bits(max1), $"n = {n}: max {max1:R} vs {max0:R}");
                    Assert.True(BitConverter.DoubleToInt64Bits(sum0) == BitConverter.DoubleToInt64Bits(sum1) || (double.IsNaN(sum0) && double.IsNaN(sum1)), $"n = {n}: sum {sum1:R} vs {sum0:R}");
                    Assert.Equal(Bits(cache0), Bits(cache.AsSpan(offset, n)));
                    Assert.Equal(Bits(exps0), Bits(exps.AsSpan(offset, n)));
                }
            }
        }

        // The sum AccumulateLogSumExp adds for a state whose max stays at shift + bias (bias 0.25, exact for these shifts).
        static double SumOnly(ReadOnlySpan<float> x, float s)
        {
            double max = s + 0.25, sum = 0.0;
            SelectionKernels.AccumulateLogSumExp(x, 0.25f, float.NegativeInfinity, ref max, ref sum);
            return sum;
        }

        static int[] Bits(Span<float> x) => x.ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();
    }

    [Fact]
    public void StoreLogitsAndExpsAndSumWide_RejectsRowsOfPartialSteps()
    {
        float[] x = new float[40];
        Assert.Throws<ArgumentException>(() => SelectionKernels.StoreLogitsAndExpsAndSumWide(x.AsSpan(0, 24), x, new float[40], new float[40], 0f, out _));
        Assert.Throws<ArgumentException>(() => SelectionKernels.StoreLogitsAndExpsAndSumWide(ReadOnlySpan<float>.Empty, x, new float[40], new float[40], 0f, out _));
    }

    [Theory]
    [InlineData(333, 48, new[] { 40, 17, 90 })]
    [InlineData(700, 256, new[] { 64, 64, 300 })] // 300 members: a second column tile of 44 (the old path)
    [InlineData(650, 64, new[] { 16, 32, 64, 48 })] // every whole 16-column width of a chunk
    [InlineData(600, 40, new[] { 64, 64, 64, 64 })]
    public void Conditional_WideFusedFillOnOrOff_SameBitsAtEveryThreadCount(int count, int dim, int[] chunkSizes)
    {
        SuperBatch batch = TestData.Batch(count, dim, 43, ContrastiveKind.Softmax);
        int[] order = TestData.Distinct(count, chunkSizes.Sum(), 10);
        double[][] expected = Scores(batch, order, chunkSizes, threads: 1, on: false);
        TestData.AssertScoresBitEqualAtThreads(expected, threads => Scores(batch, order, chunkSizes, threads, on: true));
    }

    [Fact]
    public void Sample_WideFusedFillOnOrOff_SameSelectionAndScoresAtEveryThreadCount()
    {
        SuperBatch batch = TestData.Batch(1100, 64, 12, ContrastiveKind.Softmax);
        var options = new ActiveBatchSamplerOptions { BatchSize = 256, Chunks = 4, Loss = ContrastiveKind.Softmax, Seed = 5 };
        TestData.AssertSelectionSwitchBitEqual(batch, options, () => SelectionKernels.WideFusedFill, on => SelectionKernels.WideFusedFill = on);
    }

    private static T WithSwitch<T>(bool on, Func<T> run) => TestData.WithSwitch(() => SelectionKernels.WideFusedFill, value => SelectionKernels.WideFusedFill = value, on, run);

    private static double[][] Scores(SuperBatch batch, int[] order, int[] chunkSizes, int threads, bool on)
    {
        GemmControl.MaxDegreeOfParallelism = threads;
        return WithSwitch(on, () =>
        {
            var scorer = new ConditionalScorer();
            scorer.Begin(batch, ScoringMethod.Learnability, ScoreLoss.Softmax, order.Length, cacheBytes: 1L << 28);
            return TestData.ChunkScores(scorer, batch.Count, order, chunkSizes);
        });
    }
}
