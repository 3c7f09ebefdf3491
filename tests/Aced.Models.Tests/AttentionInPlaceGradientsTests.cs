using System;
using Aced.Core;
using Aced.Models.Layers;
using FsCheck;
using FsCheck.Fluent;
using Case = Aced.Models.Tests.AttentionFusedTests.Case;

namespace Aced.Models.Tests;

/// <summary>
/// The packed backward's in-place dO reads and dQ, dK, dV writes (<see cref="Attention.InPlaceGradients"/>): data
/// movement only, so the attention's outputs, probabilities and dqkv (its padding untouched) and a whole training step
/// keep every bit with it on or off, for token-row and head-major qkv, padded row strides, 1, 2 and 3 threads.
/// </summary>
[Collection(GemmProviderCollection.Name)]
public sealed class AttentionInPlaceGradientsTests
{
    private static void Set(bool on) => Attention.InPlaceGradients = on;

    /// <summary>
    /// Forward then backward on padded qkv, dOutput and dqkv rows (padding NaN) with the switch off at 2 threads, then
    /// on at 1, 2 and 3: every float of the output, probability and dqkv arrays, padding included, bit for bit.
    /// </summary>
    private static void AssertPaddedSameForAnyThreadCount(Case c)
    {
        int n = c.Batch * c.Tokens;
        MatrixView qkv = AttentionFusedTests.Padded(n, 3 * c.Width, c.PadQkv, (ulong)c.Seed);
        MatrixView dOutput = AttentionFusedTests.Padded(n, c.Width, c.PadOutput, (ulong)c.Seed + 1);
        (float[] Output, float[] Probs, float[] DQkv) Run(bool on, int threads)
        {
            try
            {
                Set(on);
                return AttentionFusedTests.With(true, true, threads, () => AttentionFusedTests.Run(c, qkv, dOutput));
            }
            finally
            {
                Set(true);
            }
        }

        (float[] output, float[] probs, float[] dqkv) = Run(false, 2);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            (float[] so, float[] sp, float[] sd) = Run(true, threads);
            AttentionSoftmaxTests.AssertBits(output, so);
            AttentionSoftmaxTests.AssertBits(probs, sp);
            AttentionSoftmaxTests.AssertBits(dqkv, sd);
        }
    }

    [Fact]
    public void InPlace_RandomShapesOnPaddedStorage_IsBitIdenticalToPackedCopiesForAnyThreadCount() =>
        Prop.ForAll(AttentionFusedTests.Cases().ToArbitrary(), AssertPaddedSameForAnyThreadCount).Check(Config.QuickThrowOnFailure.WithMaxTest(40));

    [Fact]
    public void InPlace_RandomShapesHeadMajor_IsBitIdenticalToPackedCopiesForAnyThreadCount() =>
        Prop.ForAll(AttentionFusedTests.Cases().ToArbitrary(), c => AttentionFusedTests.AssertSwitchIsBitIdenticalForAnyThreadCount(c, true, Set)).Check(Config.QuickThrowOnFailure.WithMaxTest(30));

    [Theory]
    [InlineData(61, 32, true, true)]
    [InlineData(7, 32, true, false)]
    [InlineData(5, 64, false, true)]
    [InlineData(61, 64, false, true)]
    public void InPlace_ReferenceWidths_IsBitIdenticalToPackedCopiesForAnyThreadCount(int batch, int tokens, bool causal, bool headMajor) =>
        AttentionFusedTests.AssertSwitchIsBitIdenticalForAnyThreadCount(new Case(batch, tokens, 4, 32, causal, 0, 0, 0, 23), headMajor, Set);

    [Theory]
    [InlineData(9, 64, false, 3, 5, 7)]
    [InlineData(13, 32, true, 0, 16, 1)]
    public void InPlace_ReferenceWidthsOnPaddedStorage_IsBitIdenticalToPackedCopiesForAnyThreadCount(int batch, int tokens, bool causal, int padQkv, int padOutput, int padDQkv) =>
        AssertPaddedSameForAnyThreadCount(new Case(batch, tokens, 4, 32, causal, padQkv, padOutput, padDQkv, 29));

    [Fact]
    public void Training_InPlaceGradientsOnAndOff_AreBitIdenticalForAnyThreadCount() =>
        TestTrainer.AssertSwitchIsBitIdenticalForAnyThreadCount(AttentionFusedTests.ReferenceWidths, Set);
}
