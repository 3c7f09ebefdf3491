using System;
using System.Runtime.Intrinsics;

namespace Aced.Core.Tests.Kernels;

/// <summary>
/// <see cref="VectorMath.ExpPair"/> and <see cref="VectorMath.ExpNonPositivePair"/> (two vectors' operations interleaved)
/// must give exactly the bits of <see cref="VectorMath.Exp(Vector256{float})"/> and
/// <see cref="VectorMath.ExpNonPositive(Vector256{float})"/> for every float: sampled here over the whole bit-pattern
/// range (every 1021st pattern, both signs, NaN payloads, subnormals, infinities) and densely through the ranges where
/// the rounding of n, the clamps and the underflow edge act. (An exhaustive run over all 2^32 patterns is recorded in
/// docs/PERFORMANCE.md, "sel13".)
/// </summary>
public class VectorMathExpPairTests
{
    [Fact]
    public void ExpPairs_EqualSingleExpsBitForBit()
    {
        float[] edges =
        {
            0f, -0f, float.Epsilon, -float.Epsilon, float.NaN, -float.NaN, BitConverter.Int32BitsToSingle(0x7FC12345), float.PositiveInfinity,
            float.NegativeInfinity, float.MaxValue, float.MinValue, 88.72f, 88.7228f, 89f, 89.5f, -87.33654f, -87.336548f,
            -87.34f, -103.9f, -104f, -104.5f, -150f, 0.34657359f, -0.34657359f,
        };
        Check(edges);

        // Every 1021st bit pattern: both signs, all exponents, NaN payloads.
        float[] block = new float[4096];
        int filled = 0;
        for (long bits = 0; bits <= uint.MaxValue; bits += 1021)
        {
            block[filled++] = BitConverter.Int32BitsToSingle((int)(uint)bits);
            if (filled == block.Length)
            {
                Check(block);
                filled = 0;
            }
        }

        // Every 2^-10 step through [-110, 95]: the rounding of n flips at each half multiple of ln 2.
        for (float x = -110f; x <= 95f; x += 1f / 1024f)
        {
            block[filled++] = x;
            if (filled == block.Length)
            {
                Check(block);
                filled = 0;
            }
        }

        Check(block.AsSpan(0, filled));
    }

    private static void Check(ReadOnlySpan<float> values)
    {
        Span<float> padded = stackalloc float[16];
        for (int i = 0; i < values.Length; i += 16)
        {
            padded.Fill(0.5f);
            values.Slice(i, Math.Min(16, values.Length - i)).CopyTo(padded);
            // x1 is x0 reversed, so each lane pairs different values.
            Vector256<float> x0 = Vector256.Create<float>(padded[..8]);
            Vector256<float> x1 = Vector256.Create<float>(padded[8..]);
            VectorMath.ExpPair(x0, x1, out Vector256<float> e0, out Vector256<float> e1);
            Assert.True(e0.AsInt32() == VectorMath.Exp(x0).AsInt32() && e1.AsInt32() == VectorMath.Exp(x1).AsInt32(), $"Exp at {x0}, {x1}");
            VectorMath.ExpNonPositivePair(x0, x1, out Vector256<float> n0, out Vector256<float> n1);
            Assert.True(n0.AsInt32() == VectorMath.ExpNonPositive(x0).AsInt32() && n1.AsInt32() == VectorMath.ExpNonPositive(x1).AsInt32(), $"ExpNonPositive at {x0}, {x1}");
        }
    }
}
