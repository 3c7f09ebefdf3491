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
    private static void AssertSameForAnyThreadCount(Case c, bool headMajor) =>
        AttentionFusedTests.AssertSwitchIsBitIdenticalForAnyThreadCount(c, headMajor, on => Attention.SpreadPrefetch = on);

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
