using Aced.Core;
using System;
using System.Linq;
using System.Runtime.Intrinsics;
using Aced.Selection;

namespace Aced.Selection.Tests;

public class IncrementalScorerTests
{
    [Theory]
    [InlineData(ContrastiveKind.Sigmoid, 41, 6, new[] { 3, 9, 1, 7 })]
    [InlineData(ContrastiveKind.Softmax, 41, 6, new[] { 3, 9, 1, 7 })]
    [InlineData(ContrastiveKind.Sigmoid, 333, 10, new[] { 17, 150, 110 })]
    [InlineData(ContrastiveKind.Softmax, 333, 10, new[] { 17, 150, 110 })]
    public void AddMembers_InSeveralChunks_EqualsBruteForceAfterEveryChunk(ContrastiveKind loss, int count, int dim, int[] chunkSizes)
    {
        // Chunk by chunk, as the joint sampler does; large chunks exercise the 512-bit, 256-bit and tail paths
        // and the 16-factor product blocks of the softplus sums.
        SuperBatch batch = TestData.Batch(count, dim, 77, loss);
        int[] order = TestData.Distinct(count, chunkSizes.Sum(), 5);
        var scorer = new ConditionalScorer();
        scorer.Begin(batch, ScoringMethod.Learnability, (ScoreLoss)loss, order.Length);
        double[] scores = new double[count];
        int filled = 0;
        foreach (int size in chunkSizes)
        {
            scorer.AddMembers(order.AsSpan(filled, size));
            filled += size;
            int[] members = order.Take(filled).ToArray();
            scorer.Conditional(scores);
            double baseScore = Scorers.BatchScore(batch, ScoringMethod.Learnability, loss, members);
            int checkedCount = 0;
            for (int x = 0; x < count && checkedCount < 12; x += 7)
            {
                if (members.Contains(x))
                {
                    continue;
                }

                checkedCount++;
                double expected = Scorers.BatchScore(batch, ScoringMethod.Learnability, loss, members.Append(x).ToArray()) - baseScore;
                ScorerTests.AssertClose(expected, scores[x], 5e-4, $"{loss} after {filled} members, x={x}");
            }
        }
    }

    [Fact]
    public void SoftplusSum_AllLengthsAndMagnitudes_MatchesDoubleReference()
    {
        var rng = new Aced.Core.CounterRng(3);
        for (int n = 0; n <= 300; n++)
        {
            float[] x = new float[n];
            float[] shift = new float[n];
            for (int i = 0; i < n; i++)
            {
                x[i] = 30 * rng.NextNormal();
                shift[i] = 5 * rng.NextNormal();
            }

            double expected = 0, expectedShifted = 0;
            for (int i = 0; i < n; i++)
            {
                expected += StableMath.Softplus(x[i] - 2.5);
                expectedShifted += StableMath.Softplus((double)x[i] - shift[i]);
            }

            ScorerTests.AssertClose(expected, SelectionKernels.SoftplusSum(x, -2.5f), 1e-5, $"n={n}");
            ScorerTests.AssertClose(expectedShifted, SoftmaxTerms(x, shift), 1e-5, $"shifted n={n}");

            double max = double.NegativeInfinity, sum = 0;
            SelectionKernels.AccumulateLogSumExp(x.AsSpan(0, n / 2), 1.5f, ref max, ref sum);
            SelectionKernels.AccumulateLogSumExp(x.AsSpan(n / 2), 1.5f, ref max, ref sum);
            if (n > 0)
            {
                double m = x.Max() + 1.5;
                double reference = m + Math.Log(x.Sum(v => Math.Exp(v + 1.5 - m)));
                ScorerTests.AssertClose(reference, max + Math.Log(sum), 1e-6, $"lse n={n}");
            }
        }
    }

    [Fact]
    public void SoftplusSum_TinyTermsOfConfidentNegatives_KeepRelativeAccuracy()
    {
        // SigLIP negatives sit near l = -10: softplus(l) ~ 4.5e-5. The sum must be accurate relative to itself.
        var rng = new Aced.Core.CounterRng(8);
        for (int n = 1; n <= 257; n += 8)
        {
            float[] x = Enumerable.Range(0, n).Select(_ => -12f + (4f * rng.NextFloat())).ToArray();
            double expected = x.Sum(v => Math.Log(1 + Math.Exp(v)));
            double actual = SelectionKernels.SoftplusSum(x, 0f);
            Assert.True(Math.Abs(actual - expected) <= 2e-6 * expected, $"n={n}: {actual} vs {expected}");
        }
    }

    [Fact]
    public void SoftmaxTermSum_TinyTermsOfConfidentNegatives_KeepRelativeAccuracy()
    {
        // Softmax members' terms softplus(l - C_m) with l far below C_m: the sum must be accurate relative to itself,
        // whichever lanes and tail the terms fall in.
        var rng = new Aced.Core.CounterRng(9);
        for (int n = 1; n <= 257; n += 4)
        {
            float[] x = Enumerable.Range(0, n).Select(_ => -12f + (4f * rng.NextFloat())).ToArray();
            float[] shift = Enumerable.Range(0, n).Select(_ => 2f + (6f * rng.NextFloat())).ToArray();
            double expected = 0;
            for (int i = 0; i < n; i++)
            {
                expected += Math.Log(1 + Math.Exp((double)x[i] - shift[i]));
            }

            double actual = SoftmaxTerms(x, shift);
            Assert.True(Math.Abs(actual - expected) <= 2e-6 * expected, $"n={n}: {actual} vs {expected}");
        }
    }

    [Theory]
    [InlineData(10f, 0f)] // SigLIP-like logits: every term on the cached-exponential path
    [InlineData(100f, 0f)] // CLIP scale: exponentials overflow and gains underflow, so whole pieces take the fallback
    [InlineData(100f, 0.02f)] // a few fallback elements scattered among normal ones
    public void SoftmaxTermSum_AllLengthsAndRanges_MatchesDoubleReferenceAndCachedPathBitForBit(float scale, float outlierRate)
    {
        // softplus(l - shift) from the logits (the epilogue's path) and from the cached exp(l - t) (the cache's path):
        // the same bits for every length (vector widths and tails) and the double reference within 1e-5 relative.
        var rng = new Aced.Core.CounterRng(11);
        for (int n = 0; n <= 300; n++)
        {
            float[] logits = new float[n];
            float[] reference = new float[n];
            float[] shift = new float[n];
            float[] gain = new float[n];
            for (int i = 0; i < n; i++)
            {
                reference[i] = scale * ((0.6f * rng.NextFloat()) - 0.1f);
                logits[i] = scale * ((2f * rng.NextFloat()) - 1f) * 0.5f;
                if (rng.NextFloat() < outlierRate)
                {
                    logits[i] = reference[i] + (scale * (0.5f + rng.NextFloat()));
                }

                // A member's log-sum-exp is at least its positive logit (up to a margin of a few log(k)).
                shift[i] = reference[i] + (scale * 0.3f * rng.NextFloat()) + 2f;
                gain[i] = SoftmaxTerm.Gain(reference[i], shift[i]);
            }

            double expected = 0;
            for (int i = 0; i < n; i++)
            {
                expected += StableMath.Softplus((double)logits[i] - shift[i]);
            }

            double fromLogits = SelectionKernels.SoftmaxTermSum(logits, reference, gain, shift);
            float[] exps = new float[n];
            SelectionKernels.ExpDifference(logits, reference, exps);
            double fromExps = SelectionKernels.SoftmaxTermSumCached(exps, logits, reference, gain, shift);
            Assert.Equal(BitConverter.DoubleToInt64Bits(fromLogits), BitConverter.DoubleToInt64Bits(fromExps));
            ScorerTests.AssertClose(expected, fromLogits, 1e-5, $"scale={scale} n={n}");
        }
    }

    [Theory]
    [InlineData(10f, 0f)]
    [InlineData(100f, 0f)]
    [InlineData(100f, 0.02f)]
    [InlineData(10f, 0.01f)]
    public void SoftmaxTermSumsCached_BothDirectionsAllLengthsAndTiles_EqualPerDirectionTileSumsBitForBit(float scale, float outlierRate)
    {
        // The pass's two-direction row kernel against the per-direction, per-tile sums it replaces: every length
        // (vector widths and tails), tile widths that split the row unevenly, fallback pieces in either direction.
        var rng = new Aced.Core.CounterRng(17);
        int[] tiles = { 1, 7, 16, 64, 100, 256 };
        for (int n = 0; n <= 300; n += (n < 40 ? 1 : 13))
        {
            float[] reference = new float[n];
            float[][] logits = { new float[n], new float[n] };
            float[][] shift = { new float[n], new float[n] };
            float[][] gain = { new float[n], new float[n] };
            float[][] exps = { new float[n], new float[n] };
            for (int i = 0; i < n; i++)
            {
                reference[i] = scale * ((0.6f * rng.NextFloat()) - 0.1f);
            }

            for (int d = 0; d < 2; d++)
            {
                for (int i = 0; i < n; i++)
                {
                    logits[d][i] = scale * ((2f * rng.NextFloat()) - 1f) * 0.5f;
                    if (rng.NextFloat() < outlierRate)
                    {
                        logits[d][i] = reference[i] + (scale * (0.5f + rng.NextFloat()));
                    }

                    shift[d][i] = reference[i] + (scale * 0.3f * rng.NextFloat()) + 2f;
                    gain[d][i] = SoftmaxTerm.Gain(reference[i], shift[d][i]);
                }

                SelectionKernels.ExpDifference(logits[d], reference, exps[d]);
            }

            foreach (int tile in tiles)
            {
                double expected1 = 0, expected2 = 0;
                for (int j0 = 0; j0 < n; j0 += tile)
                {
                    int width = Math.Min(tile, n - j0);
                    expected1 += SelectionKernels.SoftmaxTermSumCached(exps[0].AsSpan(j0, width), logits[0].AsSpan(j0, width), reference.AsSpan(j0, width), gain[0].AsSpan(j0, width), shift[0].AsSpan(j0, width));
                    expected2 += SelectionKernels.SoftmaxTermSumCached(exps[1].AsSpan(j0, width), logits[1].AsSpan(j0, width), reference.AsSpan(j0, width), gain[1].AsSpan(j0, width), shift[1].AsSpan(j0, width));
                }

                SelectionKernels.SoftmaxTermSumsCached(exps[0], logits[0], gain[0], shift[0], exps[1], logits[1], gain[1], shift[1], reference, tile, tile % 2 == 0 ? 0 : 1000, out double actual1, out double actual2);
                Assert.True(BitConverter.DoubleToInt64Bits(expected1) == BitConverter.DoubleToInt64Bits(actual1), $"n={n} tile={tile}: {actual1} vs {expected1}");
                Assert.True(BitConverter.DoubleToInt64Bits(expected2) == BitConverter.DoubleToInt64Bits(actual2), $"n={n} tile={tile}: {actual2} vs {expected2}");
            }
        }
    }

    [Theory]
    [InlineData(10f, -1)]
    [InlineData(100f, -1)]
    [InlineData(100f, 0)] // a NaN logit
    [InlineData(10f, 1)] // an infinite logit
    [InlineData(10f, 2)] // zeros of both signs
    public void StoreLogitsAndExps_AllLengths_EqualsCopyExpDifferenceAndMaxBitForBit(float scale, int special)
    {
        // The fill's one-pass store: the logits copied, the exponentials of ExpDifference and TensorPrimitives.Max's
        // maximum (NaN when any element is NaN), for every length (vector widths and tails).
        var rng = new Aced.Core.CounterRng(23);
        for (int n = 1; n <= 300; n += (n < 40 ? 1 : 11))
        {
            float[] logits = new float[n];
            float[] reference = new float[n];
            for (int i = 0; i < n; i++)
            {
                reference[i] = scale * ((0.6f * rng.NextFloat()) - 0.1f);
                logits[i] = scale * ((2f * rng.NextFloat()) - 1f);
            }

            int at = (int)(rng.NextFloat() * n);
            switch (special)
            {
                case 0:
                    logits[at] = float.NaN;
                    break;
                case 1:
                    logits[at] = float.PositiveInfinity;
                    break;
                case 2:
                    for (int i = 0; i < n; i++)
                    {
                        logits[i] = i % 2 == 0 ? -0f : 0f;
                    }

                    break;
                default:
                    break;
            }

            float[] expectedExps = new float[n];
            SelectionKernels.ExpDifference(logits, reference, expectedExps);
            float expectedMax = System.Numerics.Tensors.TensorPrimitives.Max(logits);
            float[] cache = new float[n];
            float[] exps = new float[n];
            float max = SelectionKernels.StoreLogitsAndExps(logits, reference, cache, exps);
            Assert.Equal(BitConverter.SingleToInt32Bits(expectedMax), BitConverter.SingleToInt32Bits(max));
            for (int i = 0; i < n; i++)
            {
                Assert.Equal(BitConverter.SingleToInt32Bits(logits[i]), BitConverter.SingleToInt32Bits(cache[i]));
                Assert.Equal(BitConverter.SingleToInt32Bits(expectedExps[i]), BitConverter.SingleToInt32Bits(exps[i]));
            }
        }
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(-10f)]
    [InlineData(3.5f)]
    public void SoftplusSum_AllLengths_EqualsWidestLanesOne256StepDoubleTailBitForBit(float bias)
    {
        // The sigmoid epilogue's row sum pins its order (the sigmoid scores' bits): float lanes in the widest width,
        // then at most one 256-bit step, each summed horizontally in double, then the tail in double softplus; no
        // 128-bit step. The reference is that loop written out.
        var rng = new Aced.Core.CounterRng(29);
        for (int n = 0; n <= 300; n += (n < 40 ? 1 : 7))
        {
            float[] x = new float[n];
            for (int i = 0; i < n; i++)
            {
                x[i] = 12f * ((2f * rng.NextFloat()) - 1f);
            }

            double expected = 0;
            int j = 0;
            if (Vector512.IsHardwareAccelerated && n >= 16)
            {
                Vector512<float> acc = Vector512<float>.Zero;
                for (; j <= n - 16; j += 16)
                {
                    acc += VectorMath.Softplus(Vector512.Create(x.AsSpan(j, 16)) + Vector512.Create(bias), out _);
                }

                expected += VectorMath.HorizontalSum(acc);
            }

            if (Vector256.IsHardwareAccelerated && n - j >= 8)
            {
                Vector256<float> acc = Vector256<float>.Zero;
                for (; j <= n - 8; j += 8)
                {
                    acc += VectorMath.Softplus(Vector256.Create(x.AsSpan(j, 8)) + Vector256.Create(bias), out _);
                }

                expected += VectorMath.HorizontalSum(acc);
            }

            for (; j < n; j++)
            {
                expected += StableMath.Softplus((double)(x[j] + bias));
            }

            double actual = SelectionKernels.SoftplusSum(x, bias);
            Assert.True(BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(actual), $"n={n}: {actual} vs {expected}");
        }
    }

    [Fact]
    public void SoftmaxTermSum_NaNLogit_GivesNaN()
    {
        float[] logits = Enumerable.Repeat(-3f, 40).ToArray();
        logits[33] = float.NaN;
        float[] reference = new float[40];
        float[] shift = Enumerable.Repeat(1f, 40).ToArray();
        float[] gain = shift.Select(s => SoftmaxTerm.Gain(0f, s)).ToArray();
        float[] exps = new float[40];
        SelectionKernels.ExpDifference(logits, reference, exps);
        Assert.True(double.IsNaN(SelectionKernels.SoftmaxTermSum(logits, reference, gain, shift)));
        Assert.True(double.IsNaN(SelectionKernels.SoftmaxTermSumCached(exps, logits, reference, gain, shift)));
    }

    [Fact]
    public void SoftmaxTermLog1p_SeriesAndLog1pFastRanges_WithinTwoUlpsOfDouble()
    {
        // The series below 1/16 and Log1pFast above, element by element and in every vector width (the widths agree).
        float[] u = new float[4096];
        for (int i = 0; i < u.Length; i++)
        {
            u[i] = i < 2048 ? MathF.Pow(2f, -40f + (40f * i / 2048f)) : (i - 2048) / 2047f;
        }

        for (int i = 0; i < u.Length; i++)
        {
            float actual = SoftmaxTerm.Log1p(u[i]);
            double w = 1 + (double)u[i];
            double expected = w == 1 ? u[i] : Math.Log(w) * u[i] / (w - 1); // log1p in double, accurate for tiny u
            double ulp = Math.Max(MathF.BitIncrement((float)expected) - (float)expected, float.Epsilon);
            Assert.True(Math.Abs(actual - expected) <= 2 * ulp, $"u={u[i]}: {actual} vs {expected}");
            Assert.Equal(actual, SoftmaxTerm.Log1p(Vector128.Create(u[i])).GetElement(0));
            Assert.Equal(actual, SoftmaxTerm.Log1p(Vector256.Create(u[i])).GetElement(3));
            Assert.Equal(actual, SoftmaxTerm.Log1p(Vector512.Create(u[i])).GetElement(9));
        }
    }

    /// <summary>The member-term sum of the softmax kernels with the references at 0 (so the gains are exp(-shift)).</summary>
    private static double SoftmaxTerms(float[] x, float[] shift)
    {
        float[] reference = new float[x.Length];
        float[] gain = shift.Select(s => SoftmaxTerm.Gain(0f, s)).ToArray();
        return SelectionKernels.SoftmaxTermSum(x, reference, gain, shift);
    }

    [Fact]
    public void ExpNonPositive_WholeRange_RelativeErrorBelowFourUlps()
    {
        float[] x = new float[16];
        // The epilogues' exp is Aced.Core's VectorMath.ExpNonPositive: exact relative accuracy down to -87,
        // and exactly 0 (never a denormal or garbage) below the smallest normal result.
        for (int start = 0; start < 87_008; start += 16)
        {
            for (int i = 0; i < 16; i++)
            {
                x[i] = -Math.Min(start + i, 87_000) / 1000f; // 0 .. -87 in steps of 0.001
            }

            var v512 = Vector512.Create(x);
            var e512 = VectorMath.ExpNonPositive(v512);
            var e256 = VectorMath.ExpNonPositive(Vector256.Create(x));
            for (int i = 0; i < 16; i++)
            {
                double exact = Math.Exp(x[i]);
                Assert.True(Math.Abs(e512[i] - exact) <= 4.8e-7 * exact, $"x={x[i]}: {e512[i]} vs {exact}");
                if (i < 8)
                {
                    Assert.True(Math.Abs(e256[i] - exact) <= 4.8e-7 * exact, $"256 x={x[i]}: {e256[i]} vs {exact}");
                }
            }
        }

        Assert.Equal(0f, VectorMath.ExpNonPositive(Vector512.Create(-90f))[0]);
        Assert.Equal(0f, VectorMath.ExpNonPositive(Vector512.Create(float.NegativeInfinity))[0]);
    }
}
