using System;
using System.Collections.Generic;
using Aced.Core;
using Aced.Models.Layers;
using Xunit;

namespace Aced.Models.Tests;

/// <summary>
/// The towers' element-wise passes on the worker pool (<see cref="TowerPasses"/>, step13): patchify, the image finite
/// check, the position add, the token gather, the pooling passes, the position-gradient sum, the embedding scatter-adds
/// and the gradient clears give the serial form's bits at 1, 2 and 3 threads through the real training step, with
/// every pass forced onto the pool (<see cref="TowerPasses.MinimumFloats"/> 0); a bad image is reported as before.
/// </summary>
[Collection(GemmProviderCollection.Name)]
public sealed class TowerPassesTests
{
    /// <summary>
    /// The reference widths (image mean pooling, text first token, causal) and two variants that send gradient to
    /// every text token (last-token pooling under causal attention, mean pooling without) and take the image's
    /// first-token and last-token backward.
    /// </summary>
    public static IEnumerable<object[]> Configs()
    {
        yield return [0];
        yield return [1];
        yield return [2];
    }

    private static TwoTowerConfig Config(int which)
    {
        TwoTowerConfig reference = AttentionFusedTests.ReferenceWidths;
        return which switch
        {
            0 => reference,
            1 => reference with
            {
                Image = reference.Image with { Pooling = PoolingKind.FirstToken },
                Text = reference.Text with { Pooling = PoolingKind.LastToken },
            },
            _ => reference with
            {
                Image = reference.Image with { Pooling = PoolingKind.LastToken },
                Text = reference.Text with { Pooling = PoolingKind.GlobalAverage, Causal = false },
            },
        };
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void Training_TowerPassesOnAndOff_AreBitIdenticalForAnyThreadCount(int which)
    {
        int savedMinimum = TowerPasses.MinimumFloats;
        try
        {
            TowerPasses.MinimumFloats = 0;
            TestTrainer.AssertSwitchIsBitIdenticalForAnyThreadCount(Config(which), on => TowerPasses.Parallel = on, 7);
        }
        finally
        {
            TowerPasses.Parallel = true;
            TowerPasses.MinimumFloats = savedMinimum;
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Forward_NonFiniteImages_ThrowsTheSerialCheckMessageForTheFirstBadImage(int threads)
    {
        TwoTowerConfig config = AttentionFusedTests.ReferenceWidths;
        string Message(bool parallel)
        {
            int savedThreads = GemmControl.MaxDegreeOfParallelism;
            int savedMinimum = TowerPasses.MinimumFloats;
            try
            {
                GemmControl.MaxDegreeOfParallelism = threads;
                TowerPasses.MinimumFloats = 0;
                TowerPasses.Parallel = parallel;
                var model = new TwoTowerModel(config, 3);
                (Matrix images, int[] tokens) = TestTrainer.Pairs(model, 9, 4);
                images[5, 17] = float.PositiveInfinity;
                images[3, 100] = float.NaN;
                images[7, 0] = float.NaN;
                return Assert.Throws<ArgumentException>(() => model.Forward(images, tokens)).Message;
            }
            finally
            {
                TowerPasses.Parallel = true;
                TowerPasses.MinimumFloats = savedMinimum;
                GemmControl.MaxDegreeOfParallelism = savedThreads;
            }
        }

        string serial = Message(false);
        Assert.Contains("NaN", serial, StringComparison.Ordinal);
        Assert.Equal(serial, Message(true));
    }
}
