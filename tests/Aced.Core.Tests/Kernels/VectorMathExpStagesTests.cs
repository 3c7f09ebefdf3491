using System;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Aced.Core.Tests.Kernels;

/// <summary>
/// The stages of <see cref="VectorMath.Exp(Vector256{float})"/> that software-pipelined loops run apart
/// (<c>ExpClamp</c>, <c>ExpRound</c>, <c>ExpReduction</c>, <c>ExpPolynomial</c>, <c>ExpScale</c>) must compose to
/// exactly its bits: across the whole argument range, at the clamp, overflow and underflow edges, and for NaN and infinities.
/// </summary>
public class VectorMathExpStagesTests
{
    [Fact]
    public void ExpStages_Composed_EqualExpBitForBit()
    {
        var values = new System.Collections.Generic.List<float>
        {
            0f, -0f, 1f, -1f, 88.72f, 89f, 89.5f, 1e4f, -87.33654f, -87.4f, -100f, -103.9f, -104f, -104.5f, -1e4f,
            float.MaxValue, float.MinValue, float.Epsilon, -float.Epsilon, float.PositiveInfinity, float.NegativeInfinity,
            float.NaN, 0.34657359f, -0.34657359f, 0.3465736f, MathF.Log(float.MaxValue),
        };
        var rng = new System.Random(11);
        for (int i = 0; i < 200_000; i++)
        {
            values.Add((float)((rng.NextDouble() * 200) - 108));
        }

        // Every 2^-8 step through [-110, 95]: the rounding of n flips at each half multiple of ln 2.
        for (float x = -110f; x <= 95f; x += 1f / 256f)
        {
            values.Add(x);
        }

        while (values.Count % 8 != 0)
        {
            values.Add(0.5f);
        }

        Span<float> all = CollectionsMarshal.AsSpan(values);
        for (int i = 0; i < all.Length; i += 8)
        {
            Vector256<float> x = Vector256.Create<float>(all.Slice(i, 8));
            Vector256<float> expected = VectorMath.Exp(x);
            Vector256<float> clamped = VectorMath.ExpClamp(x);
            Vector256<float> n = VectorMath.ExpRound(clamped);
            Vector256<float> actual = VectorMath.ExpScale(VectorMath.ExpPolynomial(VectorMath.ExpReduction(clamped, n)), n);
            Assert.True(expected.AsInt32() == actual.AsInt32(), $"x = {x}: Exp {expected}, stages {actual}");
        }
    }
}
