using System;
using Aced.Models.Layers;

namespace Aced.Models.Tests;

/// <summary>
/// <see cref="AttentionSoftmax.Wide512"/> (the full rows' exponentials and normalisation 16 at a time on Vector512) on
/// against off, bit for bit: on the blocks of <see cref="AttentionSoftmaxTests"/> (widths with and without a 16-wide
/// tail, special rows) and through two real training steps of the reference widths (the image tower's T = 64 heads run
/// the full-row pass) at 1, 2 and 3 threads. Without Vector512 the switch changes nothing and the tests pass trivially.
/// </summary>
[Collection(GemmProviderCollection.Name)]
public sealed class AttentionSoftmaxWideTests
{
    [Theory]
    [MemberData(nameof(AttentionSoftmaxTests.Blocks), MemberType = typeof(AttentionSoftmaxTests))]
    public void Forward_WideOnAndOff_AreBitIdentical(int t, int rows, bool causal)
    {
        float[] logits = AttentionSoftmaxTests.Logits(rows, t, 31);
        float[] Run(bool wide)
        {
            bool saved = AttentionSoftmax.Wide512;
            try
            {
                AttentionSoftmax.Wide512 = wide;
                float[] block = (float[])logits.Clone();
                AttentionSoftmax.Forward(block, rows, t, causal);
                return block;
            }
            finally
            {
                AttentionSoftmax.Wide512 = saved;
            }
        }

        float[] off = Run(false);
        float[] on = Run(true);
        for (int i = 0; i < off.Length; i++)
        {
            Assert.True(BitConverter.SingleToInt32Bits(off[i]) == BitConverter.SingleToInt32Bits(on[i]) || (float.IsNaN(off[i]) && float.IsNaN(on[i])), $"element {i}: {off[i]} vs {on[i]}");
        }
    }

    [Fact]
    public void Training_WideOnAndOff_AreBitIdenticalForAnyThreadCount()
    {
        bool saved = AttentionSoftmax.Wide512;
        try
        {
            TestTrainer.AssertSwitchIsBitIdenticalForAnyThreadCount(AttentionFusedTests.ReferenceWidths, on => AttentionSoftmax.Wide512 = on);
        }
        finally
        {
            AttentionSoftmax.Wide512 = saved;
        }
    }
}
