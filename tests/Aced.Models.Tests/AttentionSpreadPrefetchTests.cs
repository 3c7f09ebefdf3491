using System;
using Aced.Core;
using Aced.Models.Layers;
using Aced.Models.Training;
using FsCheck;
using FsCheck.Fluent;
using Case = Aced.Models.Tests.AttentionFusedTests.Case;

namespace Aced.Models.Tests;

/// <summary>
/// The packed backward's spread prefetch (<see cref="Attention.SpreadPrefetch"/>): a hint only, so the attention's
/// outputs, probabilities and dqkv keep every bit with it on or off, for token-row and head-major qkv, 1, 2 and 3
/// threads, odd batch sizes, T = 64 and T = 32 causal.
/// </summary>
[Collection(GemmProviderCollection.Name)]
public sealed class AttentionSpreadPrefetchTests
{
    /// <summary>
    /// Forward then backward on the fused, packed path with the spread prefetch as given (qkv token rows, or head-major
    /// blocks when <paramref name="headMajor"/>; contiguous rows, the cases' paddings not used): output, probabilities, dqkv.
    /// </summary>
    private static (float[] Output, float[] Probs, float[] DQkv) Run(Case c, bool headMajor, bool spread, int threads)
    {
        int rows = c.Batch * c.Tokens;
        MatrixView qkv = TestData.RandomMatrix(rows, 3 * c.Width, (ulong)c.Seed, 2f);
        MatrixView dOutput = TestData.RandomMatrix(rows, c.Width, (ulong)c.Seed + 1);
        bool saved = Attention.SpreadPrefetch;
        try
        {
            Attention.SpreadPrefetch = spread;
            return AttentionFusedTests.With(true, true, threads, () =>
            {
                float[] probs = new float[c.Batch * c.Heads * c.Tokens * c.Tokens];
                Array.Fill(probs, float.NaN);
                var output = new MatrixView(new float[rows * c.Width], rows, c.Width);
                Array.Fill(output.Array, float.NaN);
                Attention.Forward(qkv, headMajor, c.Batch, c.Tokens, c.Heads, c.Causal, probs, output);
                var dqkv = new MatrixView(new float[rows * 3 * c.Width], rows, 3 * c.Width);
                Array.Fill(dqkv.Array, float.NaN);
                Attention.Backward(qkv, headMajor, c.Batch, c.Tokens, c.Heads, probs, dOutput, dqkv, new float[probs.Length]);
                return (output.Array, probs, dqkv.Array);
            });
        }
        finally
        {
            Attention.SpreadPrefetch = saved;
        }
    }

    private static void AssertSameForAnyThreadCount(Case c, bool headMajor)
    {
        (float[] output, float[] probs, float[] dqkv) = Run(c, headMajor, false, 2);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            (float[] so, float[] sp, float[] sd) = Run(c, headMajor, true, threads);
            Assert.Equal(output, so);
            Assert.Equal(probs, sp);
            Assert.Equal(dqkv, sd);
        }
    }

    [Fact]
    public void SpreadPrefetch_RandomShapes_IsBitIdenticalToBurstForAnyThreadCount() =>
        Prop.ForAll(AttentionFusedTests.Cases().ToArbitrary(), c => AssertSameForAnyThreadCount(c, (c.Seed & 1) == 0)).Check(Config.QuickThrowOnFailure.WithMaxTest(30));

    [Theory]
    [InlineData(61, 32, true, true)]
    [InlineData(7, 32, true, false)]
    [InlineData(5, 64, false, true)]
    [InlineData(61, 64, false, true)]
    public void SpreadPrefetch_ReferenceWidths_IsBitIdenticalToBurstForAnyThreadCount(int batch, int tokens, bool causal, bool headMajor) =>
        AssertSameForAnyThreadCount(new Case(batch, tokens, 4, 32, causal, 0, 0, 0, 17), headMajor);

    [Theory]
    [InlineData(32, true)]
    [InlineData(64, false)]
    public void SpreadsBackwardPrefetch_ReferenceWidths_SpreadsTextButNotImage(int tokens, bool expected)
    {
        // One example at 4 heads of 32 (D = 128): qkv 3 T D, scores 4 T T, dO T D, dqkv 3 T D floats.
        long floats = (3L * tokens * 128) + (4L * tokens * tokens) + (tokens * 128L) + (3L * tokens * 128);
        Assert.Equal(expected, Attention.SpreadsBackwardPrefetch(floats, 4));
        bool saved = Attention.SpreadPrefetch;
        try
        {
            Attention.SpreadPrefetch = false;
            Assert.False(Attention.SpreadsBackwardPrefetch(floats, 4));
        }
        finally
        {
            Attention.SpreadPrefetch = saved;
        }
    }

    [Fact]
    public void Training_SpreadPrefetchOnAndOff_AreBitIdentical()
    {
        float[][] Train(bool spread)
        {
            bool saved = Attention.SpreadPrefetch;
            try
            {
                Attention.SpreadPrefetch = spread;
                return TestTrainer.TrainedParameters(AttentionFusedTests.ReferenceWidths, 61, 6, 62, new ConstantSchedule(1e-3f), 2, 3);
            }
            finally
            {
                Attention.SpreadPrefetch = saved;
            }
        }

        float[][] off = Train(false);
        float[][] on = Train(true);
        for (int i = 0; i < off.Length; i++)
        {
            Assert.Equal(off[i], on[i]);
        }
    }
}
