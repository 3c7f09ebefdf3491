using Aced.Core;
using System;
using System.Linq;
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
            ScorerTests.AssertClose(expectedShifted, SelectionKernels.SoftplusSumShifted(x, shift), 1e-5, $"shifted n={n}");

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
    public void SoftplusSumShifted_TinyTermsOfConfidentNegatives_KeepRelativeAccuracy()
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

            double actual = SelectionKernels.SoftplusSumShifted(x, shift);
            Assert.True(Math.Abs(actual - expected) <= 2e-6 * expected, $"n={n}: {actual} vs {expected}");
        }
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

            var v512 = System.Runtime.Intrinsics.Vector512.Create(x);
            var e512 = VectorMath.ExpNonPositive(v512);
            var e256 = VectorMath.ExpNonPositive(System.Runtime.Intrinsics.Vector256.Create(x));
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

        Assert.Equal(0f, VectorMath.ExpNonPositive(System.Runtime.Intrinsics.Vector512.Create(-90f))[0]);
        Assert.Equal(0f, VectorMath.ExpNonPositive(System.Runtime.Intrinsics.Vector512.Create(float.NegativeInfinity))[0]);
    }
}
