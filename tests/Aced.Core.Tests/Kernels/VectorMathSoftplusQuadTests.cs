using System;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Aced.Core.Tests.Kernels;

/// <summary>
/// <see cref="VectorMath.AddSoftplusQuad"/> and <see cref="VectorMath.AddSoftplusOcto"/> against
/// <see cref="VectorMath.Softplus(Vector512{float}, out Vector512{float})"/> added one vector at a time, bit for bit
/// (NaN where the reference is NaN: which NaN a sum of NaN terms carries depends on the JIT's operand order): over a
/// stride through every float bit pattern, every float around the exponential's thresholds, and the special values,
/// each vector alone (the others -Inf, whose softplus is exactly +0) and four consecutive ones summed. Only where
/// AVX-512 runs (exhaustively over all 2^32 patterns: <c>eng/torch-reference/AcedSelect bits quad</c>).
/// </summary>
public class VectorMathSoftplusQuadTests
{
    [Fact]
    public void SoftplusQuadAndOcto_StrideThroughEveryBitPattern_EqualSoftplusBitForBit()
    {
        // 2^32 / 4093 = about a million patterns: every exponent, both signs, NaNs and infinities.
        const uint Stride = 4093;
        float[] x = new float[(int)((1L << 32) / Stride) + 1];
        int count = 0;
        for (ulong bits = 0; bits <= uint.MaxValue; bits += Stride)
        {
            x[count++] = BitConverter.UInt32BitsToSingle((uint)bits);
        }

        AssertEqualSoftplus(x.AsSpan(0, count));
    }

    [Theory]
    [InlineData(-87.8f, -86.9f)] // n = round(x log2 e) crosses -126 near x = -87.3: the scale's denormal results
    [InlineData(-104.1f, -102.9f)] // the lower clamp of exp and the last denormals
    public void SoftplusQuadAndOcto_EveryFloatAroundAThreshold_EqualSoftplusBitForBit(float from, float to)
    {
        int first = BitConverter.SingleToInt32Bits(from), last = BitConverter.SingleToInt32Bits(to);
        int step = first <= last ? 1 : -1;
        float[] x = new float[Math.Abs(last - first) + 1];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = BitConverter.Int32BitsToSingle(first + (i * step));
        }

        AssertEqualSoftplus(x);
    }

    [Fact]
    public void SoftplusQuadAndOcto_SpecialValues_EqualSoftplusBitForBit()
    {
        float[] specials =
        [
            0f, -0f, float.Epsilon, -float.Epsilon, 1e-30f, -1e-30f, 1f, -1f, -7.97f, -8f, -20f, -87.33654f, -87.5f, -88f,
            -100f, -104f, -105f, -1e4f, 1e4f, float.MaxValue, float.MinValue, float.PositiveInfinity,
            float.NegativeInfinity, float.NaN, -float.NaN, 88.7f, 89f, 100f,
        ];
        float[] x = new float[specials.Length * 64];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = specials[(i * 5 + (i / specials.Length)) % specials.Length];
        }

        AssertEqualSoftplus(x);
    }

    /// <summary>Runs both forms over consecutive 64-float steps, each vector alone and the four summed, and compares every lane.</summary>
    private static void AssertEqualSoftplus(ReadOnlySpan<float> x)
    {
        if (!Avx512F.IsSupported || !Vector512.IsHardwareAccelerated)
        {
            return;
        }

        Vector512<float> none = Vector512.Create(float.NegativeInfinity);
        for (int i = 0; i + 64 <= x.Length; i += 64)
        {
            Vector512<float>[] v = [Vector512.Create(x.Slice(i, 16)), Vector512.Create(x.Slice(i + 16, 16)), Vector512.Create(x.Slice(i + 32, 16)), Vector512.Create(x.Slice(i + 48, 16))];
            for (int alone = 0; alone <= 4; alone++)
            {
                // alone < 4: vector `alone` with three -Inf; 4: the four summed.
                Vector512<float> Pick(int q) => alone == 4 || alone == q ? v[q] : none;
                Vector512<float> expected = Vector512<float>.Zero;
                for (int q = 0; q < 4; q++)
                {
                    expected += VectorMath.Softplus(Pick(q), out _);
                }

                Vector512<float> quad = VectorMath.AddSoftplusQuad(Vector512<float>.Zero, Pick(0), Pick(1), Pick(2), Pick(3));
                Vector512<float> a = Vector512<float>.Zero, b = Vector512<float>.Zero;
                VectorMath.AddSoftplusOcto(ref a, ref b, Pick(0), Pick(1), Pick(2), Pick(3), Pick(3), Pick(2), Pick(1), Pick(0));
                Vector512<float> reversed = Vector512<float>.Zero;
                for (int q = 3; q >= 0; q--)
                {
                    reversed += VectorMath.Softplus(Pick(q), out _);
                }

                AssertLanes(x.Slice(i, 64), expected, quad, "quad", alone);
                AssertLanes(x.Slice(i, 64), expected, a, "octo first row", alone);
                AssertLanes(x.Slice(i, 64), reversed, b, "octo second row", alone);
            }
        }
    }

    private static void AssertLanes(ReadOnlySpan<float> x, Vector512<float> expected, Vector512<float> actual, string form, int alone)
    {
        for (int j = 0; j < 16; j++)
        {
            float e = expected.GetElement(j), a = actual.GetElement(j);
            bool same = BitConverter.SingleToInt32Bits(e) == BitConverter.SingleToInt32Bits(a) || (float.IsNaN(e) && float.IsNaN(a));
            Assert.True(same, $"{form}, vector {alone} (4: all), lane {j}: x = {x[j]:R}, {x[16 + j]:R}, {x[32 + j]:R}, {x[48 + j]:R}: {a:R} vs {e:R}");
        }
    }
}
