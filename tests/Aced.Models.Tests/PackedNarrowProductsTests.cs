using Aced.Core;
using Aced.Models.Layers;

namespace Aced.Models.Tests;

/// <summary>
/// The fifteenth session's AVX-512 weight-gradient and input-gradient forms of Aced.Core's <c>GemmSlices</c> through
/// the real training step: <c>PackedNarrow512</c> (the dW slices and dx blocks of at most 128 columns packed, not
/// unpacked) and <c>InPlaceA512</c> (the dW slices reading A^T from x in place). The parameters after two steps are
/// identical bit for bit with each switch on (1, 2, 3 threads) and off. The product-level forms are in Aced.Core.Tests'
/// GemmSlicesTests. Without AVX-512 the switches change nothing and the tests pass trivially.
/// </summary>
[Collection(GemmProviderCollection.Name)]
public sealed class PackedNarrowProductsTests
{
    [Theory]
    [InlineData("PackedNarrow512")]
    [InlineData("InPlaceA512")]
    public void Training_SwitchOnAndOff_AreBitIdenticalForAnyThreadCount(string name)
    {
        // An internal static bool switch of Aced.Core (this project sees only Aced.Models' internals).
        System.Reflection.PropertyInfo sw = typeof(Gemm).Assembly.GetType("Aced.Core.GemmSlices", throwOnError: true)!
            .GetProperty(name, System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;

        // 40 pairs: 2560 image rows and 1280 text rows, so the dense layers' backward runs concurrently (dW halves of
        // 128 columns for the MLP's second layer and the output projection, dx blocks of 128 columns).
        TwoTowerConfig config = AttentionFusedTests.ReferenceWidths;
        Assert.True(2.0 * 40 * config.Text.ContextLength * config.Text.Width * config.Text.MlpWidth >= Linear.ConcurrentBackwardFlops);
        bool saved = (bool)sw.GetValue(null)!;
        try
        {
            TestTrainer.AssertSwitchIsBitIdenticalForAnyThreadCount(config, on => sw.SetValue(null, on), 40);
        }
        finally
        {
            sw.SetValue(null, saved);
        }
    }
}
