using System;
using Aced.Core;
using Aced.Models.Layers;
using FsCheck;
using FsCheck.Fluent;
using Case = Aced.Models.Tests.AttentionFusedTests.Case;

namespace Aced.Models.Tests;

/// <summary>
/// The causal heads' zero triangle skipped in the fused path's products (<see cref="Attention.CausalTriangles"/>):
/// forward output, probabilities and dqkv (and through the projection, qkv) identical bit for bit with the switch on
/// (1, 2, 3 threads) and off, including inputs whose non-finite values or signed zeros make the triangular products
/// fall back to the full ones.
/// </summary>
[Collection(GemmProviderCollection.Name)]
public sealed class AttentionCausalTrianglesTests
{
    private static void AssertSameForAnyThreadCount(Case c, bool headMajor, Action<float[], float[]>? special = null) =>
        AttentionFusedTests.AssertSwitchIsBitIdenticalForAnyThreadCount(c, headMajor, on => Attention.CausalTriangles = on, special);

    [Fact]
    public void CausalTriangles_RandomShapes_AreBitIdenticalForAnyThreadCount() =>
        Prop.ForAll(AttentionFusedTests.Cases().ToArbitrary(), c => AssertSameForAnyThreadCount(c, (c.Seed & 1) == 0)).Check(Config.QuickThrowOnFailure.WithMaxTest(30));

    [Theory]
    [InlineData(61, 32, 4, 32, true)]
    [InlineData(7, 32, 4, 32, false)]
    [InlineData(5, 48, 2, 16, true)]
    [InlineData(3, 64, 4, 32, true)]
    [InlineData(4, 40, 2, 16, true)]
    public void CausalTriangles_ReferenceAndTileWidths_AreBitIdenticalForAnyThreadCount(int batch, int tokens, int heads, int headDim, bool headMajor) =>
        AssertSameForAnyThreadCount(new Case(batch, tokens, heads, headDim, true, 0, 0, 0, 23), headMajor);

    /// <summary>
    /// Inputs that make a skipped term matter (the full products must run): an Inf and a NaN in late V rows (the
    /// forward's skipped B rows), an Inf in dO's first rows (dV's skipped rows), a huge dO that overflows dP (so dS's
    /// upper triangle holds NaN), and tiny values whose products round to -0.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void CausalTriangles_SpecialValues_AreBitIdenticalForAnyThreadCount(int kind)
    {
        const int Tokens = 32, Heads = 4, HeadDim = 32, Width = Heads * HeadDim;
        void Special(float[] qkv, float[] dOutput)
        {
            // Token rows: q at columns [0, D), k at [D, 2D), v at [2D, 3D); example 1, head 1.
            int row = 1 * Tokens;
            int ld = 3 * Width;
            switch (kind)
            {
                case 0:
                    qkv[((row + 30) * ld) + (2 * Width) + HeadDim + 3] = float.PositiveInfinity;
                    qkv[((row + 20) * ld) + (2 * Width) + 5] = float.NaN;
                    break;
                case 1:
                    dOutput[(row * Width) + HeadDim + 7] = float.NegativeInfinity;
                    break;
                case 2:
                    for (int c = 0; c < Width; c++)
                    {
                        dOutput[((row + 3) * Width) + c] = 3e38f;
                    }

                    break;
                case 3:
                    // Tiny V and dO entries: the products underflow, some chains to -0.
                    for (int r = 0; r < Tokens; r++)
                    {
                        for (int c = 0; c < Width; c++)
                        {
                            float sign = ((r + c) & 1) == 0 ? 1f : -1f;
                            qkv[((row + r) * ld) + (2 * Width) + c] = sign * 1e-38f * (r + 1);
                            dOutput[((row + r) * Width) + c] = -sign * 1e-30f;
                        }
                    }

                    break;
                case 4:
                    // -0 everywhere in one head's V and q: zero products with both signs.
                    for (int r = 0; r < Tokens; r++)
                    {
                        for (int c = 0; c < HeadDim; c++)
                        {
                            qkv[((row + r) * ld) + (2 * Width) + (2 * HeadDim) + c] = r % 3 == 0 ? 0.5f : -0f;
                            qkv[((row + r) * ld) + (2 * HeadDim) + c] = -0f;
                        }
                    }

                    break;
            }
        }

        AssertSameForAnyThreadCount(new Case(3, Tokens, Heads, HeadDim, true, 0, 0, 0, 31 + kind), false, Special);
    }

    [Theory]
    [InlineData(7, 32, 4, 32)]
    [InlineData(3, 48, 2, 16)]
    public void ProjectAndForward_CausalTrianglesOnAndOff_AreBitIdenticalForAnyThreadCount(int batch, int tokens, int heads, int headDim) =>
        AttentionCausalSoftmaxTests.AssertProjectAndForwardSwitch(batch, tokens, heads, headDim, on => Attention.CausalTriangles = on, 81, x => x[(tokens + 20) * heads * headDim] = float.PositiveInfinity);

    [Fact]
    public void Training_CausalTrianglesOnAndOff_AreBitIdenticalForAnyThreadCount() =>
        TestTrainer.AssertSwitchIsBitIdenticalForAnyThreadCount(AttentionFusedTests.ReferenceWidths, on => Attention.CausalTriangles = on);
}
