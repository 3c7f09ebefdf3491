using System;
using Aced.Models.Layers;

namespace Aced.Models.Tests;

/// <summary>
/// <see cref="AttentionSoftmax"/>'s four-rows-at-a-time passes against the one-row <see cref="RowMath"/> passes they
/// interleave, bit for bit: widths with and without a vector tail, row counts that leave a remainder, causal blocks,
/// rows with NaN, infinities, large logits and signed zeros (a NaN matches any NaN: see <see cref="AssertBits"/>).
/// </summary>
public sealed class AttentionSoftmaxTests
{
    public static TheoryData<int, int, bool> Blocks => new()
    {
        { 64, 64, false }, { 32, 32, false }, { 32, 32, true }, { 64, 64, true }, { 8, 8, false }, { 16, 7, false },
        { 24, 9, false }, { 40, 13, false }, { 12, 12, false }, { 5, 6, false }, { 1, 3, false }, { 16, 16, true },
    };

    [Theory]
    [MemberData(nameof(Blocks))]
    public void Forward_IsBitIdenticalToOneRowSoftmax(int t, int rows, bool causal)
    {
        float[] logits = Logits(rows, t, 21);
        float[] expected = (float[])logits.Clone();
        for (int r = 0; r < rows; r++)
        {
            RowMath.SoftmaxPrefix(expected.AsSpan(r * t, t), causal ? r + 1 : t);
        }

        float[] actual = (float[])logits.Clone();
        AttentionSoftmax.Forward(actual, rows, t, causal);
        AssertBits(expected, actual);
    }

    [Theory]
    [MemberData(nameof(Blocks))]
    public void Backward_IsBitIdenticalToOneRowSoftmaxBackward(int t, int rows, bool causal)
    {
        float[] p = Logits(rows, t, 22);
        AttentionSoftmax.Forward(p, rows, t, causal);
        float[] dp = TestData.Random(rows * t, 23, 3f);
        dp[Math.Min(5, dp.Length - 1)] = float.NaN;
        float[] expected = (float[])dp.Clone();
        for (int r = 0; r < rows; r++)
        {
            RowMath.SoftmaxBackward(p.AsSpan(r * t, t), expected.AsSpan(r * t, t));
        }

        float[] actual = (float[])dp.Clone();
        AttentionSoftmax.Backward(p, actual, rows, t);
        AssertBits(expected, actual);
    }

    /// <summary>Random logits with a few special rows: with a NaN, with +Inf, with -Inf, of signed zeros, of huge spread, with NaNs of three payloads.</summary>
    internal static float[] Logits(int rows, int t, ulong seed)
    {
        float[] x = TestData.Random(rows * t, seed, 4f);
        void Row(int r, Func<int, float, float> f) => SetRow(x, rows, t, r, f);

        Row(1, (j, v) => j == t - 1 ? float.NaN : v);
        Row(2, (j, v) => j == 0 ? float.PositiveInfinity : v);
        Row(4, (j, v) => j % 3 == 0 ? float.NegativeInfinity : v);
        Row(5, (j, v) => j % 2 == 0 ? -0f : 0f);
        Row(6, (j, v) => j % 2 == 0 ? -0f : -0f);
        Row(9, (j, v) => v * 60f);
        Row(10, (j, v) => j == 0 ? BitConverter.Int32BitsToSingle(0x7FC00001) : j == 3 ? BitConverter.Int32BitsToSingle(0x7FC00002) : j == t - 1 ? BitConverter.Int32BitsToSingle(unchecked((int)0xFFC00003)) : v);
        return x;
    }

    /// <summary>Row r of the rows x t block x (if it exists): element j becomes f(j, element j).</summary>
    internal static void SetRow(float[] x, int rows, int t, int r, Func<int, float, float> f)
    {
        if (r < rows)
        {
            for (int j = 0; j < t; j++)
            {
                x[(r * t) + j] = f(j, x[(r * t) + j]);
            }
        }
    }

    /// <summary>
    /// The same bits element by element, except that a NaN matches any NaN: which of several NaN payloads a max or an
    /// add propagates is not the same in the JIT's tier-0 and optimized code (RowMath.SoftmaxPrefix of this file's
    /// three-payload row kept each element's payload under DOTNET_JITMinOpts=1 and gave 0x7FC00001 everywhere with
    /// DOTNET_TieredCompilation=0, 2026-12-02). When the method tiered up between the expected and the actual pass
    /// (other tests calling it concurrently), the payloads differed and the test failed at random. Signed zeros and
    /// every finite or infinite value still have to match bit for bit.
    /// </summary>
    internal static void AssertBits(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            bool same = float.IsNaN(expected[i])
                ? float.IsNaN(actual[i])
                : BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]);
            Assert.True(same, $"element {i}: {expected[i]:R} vs {actual[i]:R}");
        }
    }
}
