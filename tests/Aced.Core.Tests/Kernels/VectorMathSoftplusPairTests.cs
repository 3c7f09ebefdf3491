using System;
using System.Runtime.Intrinsics;

namespace Aced.Core.Tests.Kernels;

/// <summary>
/// <see cref="VectorMath.SoftplusPair"/> against <see cref="VectorMath.Softplus(Vector256{float}, out Vector256{float})"/>
/// bit for bit: over a stride through every float bit pattern, every float around the two shortcuts' thresholds (the
/// log1p series' first term near |x| = 8, the single 2^n scale near x = -87.3), the special values, and pairs whose
/// sixteen lanes mix regimes (a shortcut is taken only when all sixteen lanes allow it).
/// </summary>
public class VectorMathSoftplusPairTests
{
    [Fact]
    public void SoftplusPair_StrideThroughEveryBitPattern_EqualsSoftplusBitForBit()
    {
        // 2^32 / 4093 = about a million patterns: every exponent, both signs, NaNs and infinities.
        const uint Stride = 4093;
        float[] x = new float[(int)((1L << 32) / Stride) + 1];
        int count = 0;
        for (ulong bits = 0; bits <= uint.MaxValue; bits += Stride)
        {
            x[count++] = BitConverter.UInt32BitsToSingle((uint)bits);
        }

        AssertPairsEqualSoftplus(x.AsSpan(0, count));
    }

    [Theory]
    [InlineData(7.85f, 8.1f)] // w = (t / 2)^2 crosses 2^-25 at |x| near 7.97
    [InlineData(-8.1f, -7.85f)]
    [InlineData(-87.8f, -86.9f)] // n = round(x log2 e) crosses -126 near x = -87.3
    [InlineData(-104.1f, -102.9f)] // the lower clamp of exp
    public void SoftplusPair_EveryFloatAroundAThreshold_EqualsSoftplusBitForBit(float from, float to)
    {
        int first = BitConverter.SingleToInt32Bits(from), last = BitConverter.SingleToInt32Bits(to);
        int step = first <= last ? 1 : -1;
        float[] x = new float[Math.Abs(last - first) + 1];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = BitConverter.Int32BitsToSingle(first + (i * step));
        }

        AssertPairsEqualSoftplus(x);
    }

    [Fact]
    public void SoftplusPair_MixedRegimesAndSpecialValues_EqualsSoftplusBitForBit()
    {
        float[] specials =
        [
            0f, -0f, float.Epsilon, -float.Epsilon, 1e-30f, -1e-30f, 1f, -1f, -7.97f, -8f, -20f, -87.33654f, -87.5f, -88f,
            -100f, -104f, -105f, -1e4f, 1e4f, float.MaxValue, float.MinValue, float.PositiveInfinity,
            float.NegativeInfinity, float.NaN, -float.NaN, 88.7f, 89f, 100f,
        ];
        var rng = new CounterRng(71);
        float[] x = new float[1 << 16];
        for (int i = 0; i < x.Length; i++)
        {
            // Mostly confident negatives (the shortcuts' regime), with a lane from anywhere in about one pair in two.
            x[i] = rng.NextFloat() < 0.03f ? specials[(int)(rng.NextFloat() * specials.Length) % specials.Length]
                : rng.NextFloat() < 0.5f ? -8f - (20f * rng.NextFloat())
                : 200f * (rng.NextFloat() - 0.75f);
        }

        AssertPairsEqualSoftplus(x);
    }

    /// <summary>Runs <see cref="VectorMath.SoftplusPair"/> over consecutive 16-float pairs and compares every lane.</summary>
    private static void AssertPairsEqualSoftplus(ReadOnlySpan<float> x)
    {
        for (int i = 0; i + 16 <= x.Length; i += 16)
        {
            Vector256<float> x0 = Vector256.Create(x.Slice(i, 8));
            Vector256<float> x1 = Vector256.Create(x.Slice(i + 8, 8));
            VectorMath.SoftplusPair(x0, x1, out Vector256<float> s0, out Vector256<float> s1);
            Vector256<float> e0 = VectorMath.Softplus(x0, out _);
            Vector256<float> e1 = VectorMath.Softplus(x1, out _);
            if (!Vector256.EqualsAll(s0.AsInt32(), e0.AsInt32()) || !Vector256.EqualsAll(s1.AsInt32(), e1.AsInt32()))
            {
                for (int j = 0; j < 16; j++)
                {
                    float actual = j < 8 ? s0.GetElement(j) : s1.GetElement(j - 8);
                    float expected = j < 8 ? e0.GetElement(j) : e1.GetElement(j - 8);
                    Assert.True(BitConverter.SingleToInt32Bits(actual) == BitConverter.SingleToInt32Bits(expected), $"x = {x[i + j]:R} (bits {BitConverter.SingleToInt32Bits(x[i + j]):X8}): {actual:R} vs {expected:R}");
                }
            }
        }
    }
}
