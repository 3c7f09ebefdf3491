using Aced.Core;
using Aced.Models.Layers;

namespace Aced.Models.Tests;

/// <summary>
/// db formed inside a concurrent backward's dx items (<see cref="Linear.BiasGradientInInputItems"/>) against db as a
/// separate item, through the real training step: the parameters after two steps are identical bit for bit with the
/// switch on (1, 2, 3 threads) and off. The layer-level forms (every dx item size, against the sequential products)
/// are in <see cref="LayerTests"/>.
/// </summary>
[Collection(GemmProviderCollection.Name)]
public sealed class LinearBiasGradientTests
{
    [Fact]
    public void Training_BiasGradientInInputItemsOnAndOff_AreBitIdenticalForAnyThreadCount()
    {
        // 40 pairs: 2560 image rows and 1280 text rows, so the MLP, qkv and (image) output projection backward run
        // concurrently (at least Linear.ConcurrentBackwardFlops) with 2 and 3 threads, with a partial last dx item.
        TwoTowerConfig config = AttentionFusedTests.ReferenceWidths;
        Assert.True(2.0 * 40 * config.Text.ContextLength * config.Text.Width * config.Text.MlpWidth >= Linear.ConcurrentBackwardFlops);
        bool saved = Linear.BiasGradientInInputItems;
        try
        {
            TestTrainer.AssertSwitchIsBitIdenticalForAnyThreadCount(config, on => Linear.BiasGradientInInputItems = on, 40);
        }
        finally
        {
            Linear.BiasGradientInInputItems = saved;
        }
    }

    [Fact]
    public void Training_InputGradientTailItemsOnAndOff_AreBitIdenticalForAnyThreadCount()
    {
        // The last dx rows of each concurrent backward in 256-row items (step12) against full-size items throughout;
        // 40 pairs as above (2560 and 1280 rows: big items, then the small tail, the last partial for 1280 - 1024).
        int saved = Linear.InputGradientTailRows;
        try
        {
            TestTrainer.AssertSwitchIsBitIdenticalForAnyThreadCount(AttentionFusedTests.ReferenceWidths, on => Linear.InputGradientTailRows = on ? 1024 : 0, 40);
        }
        finally
        {
            Linear.InputGradientTailRows = saved;
        }
    }
}
