using System;
using System.Runtime.Intrinsics;

namespace Aced.Core.Tests.Kernels;

/// <summary>
/// <see cref="StableMath.RowPassPair{TOperator}"/>: two rows in one loop must give each row's
/// <see cref="StableMath.RowPass{TOperator}"/> sums bit for bit, with values whose float sums depend on the lane order
/// (so a different width split, lane order or tail would show), for every length 0..257, tile width and prefetch distance.
/// </summary>
public class StableMathRowPassPairTests
{
    [Theory]
    [MemberData(nameof(StableMathRowPassTests.AllLengths), MemberType = typeof(StableMathRowPassTests))]
    public void RowPassPair_RandomRowsAnyTile_EqualsRowPassPerTileBitForBit(int n)
    {
        float[] p1 = Random(n, 1), x1 = Random(n, 2), p2 = Random(n, 3), x2 = Random(n, 4);
        foreach (int tile in new[] { 1, 7, 16, 37, 64, 100, 256, 1000 })
        {
            int tiles = (n + tile - 1) / tile;
            var a1 = new StableMath.RowSums[tiles + 1];
            var a2 = new StableMath.RowSums[tiles + 1];
            foreach (nuint ahead in new nuint[] { 0, 1, 4096 })
            {
                StableMath.RowPassPair(new TestProducts(), p1, x1, p2, x2, tile, ahead, a1, a2);
                for (int t = 0; t < tiles; t++)
                {
                    int j0 = t * tile, width = Math.Min(tile, n - j0);
                    StableMath.RowSums e1 = StableMath.RowPass(new TestProducts(), p1.AsSpan(j0, width), x1.AsSpan(j0, width), default, default, default, default, false, default);
                    StableMath.RowSums e2 = StableMath.RowPass(new TestProducts(), p2.AsSpan(j0, width), x2.AsSpan(j0, width), default, default, default, default, false, default);
                    AssertBits(e1, a1[t], n);
                    AssertBits(e2, a2[t], n);
                }

                // Nothing written beyond the tiles.
                Assert.Equal(0, a1[tiles].Sum0);
                Assert.Equal(0, a2[tiles].Sum0);
            }
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(100)]
    public void RowPassPair_NoAuxiliaryInput_EqualsTwoRowPassesBitForBit(int n)
    {
        float[] p1 = Random(n, 5), p2 = Random(n, 6);
        StableMath.RowSums e1 = StableMath.RowPass(new TestSquare(), p1, default, default, default, default, default, false, default);
        StableMath.RowSums e2 = StableMath.RowPass(new TestSquare(), p2, default, default, default, default, default, false, default);
        var a1 = new StableMath.RowSums[1];
        var a2 = new StableMath.RowSums[1];
        StableMath.RowPassPair(new TestSquare(), p1, default, p2, default, Math.Max(n, 1), 0, a1, a2);
        AssertBits(e1, a1[0], n);
        AssertBits(e2, a2[0], n);
        Assert.Equal(0, a1[0].Sum1);
        Assert.Equal(0, a1[0].Sum2);
    }

    [Fact]
    public void RowPassPair_OperatorWithTwoInputs_Throws()
    {
        float[] row = new float[4];
        var sums = new StableMath.RowSums[4];
        Assert.Throws<ArgumentException>(() => StableMath.RowPassPair(new TestTwoInputs(), row, row, row, row, 4, 0, sums, sums));
    }

    [Theory]
    [InlineData(0, 4)]   // tile not positive
    [InlineData(-3, 4)]
    [InlineData(3, 1)]   // 2 tiles, room for 1
    public void RowPassPair_BadTileOrTooFewSums_Throws(int tile, int room)
    {
        float[] row = new float[4];
        var sums = new StableMath.RowSums[room];
        Assert.Throws<ArgumentException>(() => StableMath.RowPassPair(new TestProducts(), row, row, row, row, tile, 0, sums, sums));
    }

    private static void AssertBits(StableMath.RowSums expected, StableMath.RowSums actual, int n)
    {
        Assert.True(BitConverter.DoubleToInt64Bits(expected.Sum0) == BitConverter.DoubleToInt64Bits(actual.Sum0), $"n={n}: sum0 {actual.Sum0} vs {expected.Sum0}");
        Assert.True(BitConverter.DoubleToInt64Bits(expected.Sum1) == BitConverter.DoubleToInt64Bits(actual.Sum1), $"n={n}: sum1 {actual.Sum1} vs {expected.Sum1}");
        Assert.True(BitConverter.DoubleToInt64Bits(expected.Sum2) == BitConverter.DoubleToInt64Bits(actual.Sum2), $"n={n}: sum2 {actual.Sum2} vs {expected.Sum2}");
    }

    /// <summary>Floats in [-1, 1) with full mantissas: their float partial sums depend on the order.</summary>
    private static float[] Random(int n, ulong stream)
    {
        var rng = new CounterRng(91, (stream * 1000) + (ulong)n);
        var v = new float[n];
        for (int j = 0; j < n; j++)
        {
            v[j] = (2f * rng.NextFloat()) - 1f;
        }

        return v;
    }

    /// <summary>Sums (p x, p, x x); output and column ignored by the pair driver.</summary>
    private readonly struct TestProducts : StableMath.IRowOperator
    {
        public int Inputs => 1;

        public int Sums => 3;

        public bool SubtractsColumn => false;

        public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
        {
            (sum0, sum1, sum2, column) = (p * x, p, x * x, p);
            return p;
        }

        public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
        {
            (sum0, sum1, sum2, column) = (p * x, p, x * x, p);
            return p;
        }

        public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
        {
            (sum0, sum1, sum2, column) = (p * x, p, x * x, p);
            return p;
        }

        public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
        {
            (sum0, sum1, sum2, column) = (p * x, p, x * x, p);
            return p;
        }
    }

    /// <summary>One sum, p p; no auxiliary input (the pair driver passes zeros and reads no x row).</summary>
    private readonly struct TestSquare : StableMath.IRowOperator
    {
        public int Inputs => 0;

        public int Sums => 1;

        public bool SubtractsColumn => false;

        public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
        {
            (sum0, sum1, sum2, column) = (p * p, 7f, 7f, 0f);
            return 0f;
        }

        public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
        {
            (sum0, sum1, sum2, column) = (p * p, Vector128.Create(7f), Vector128.Create(7f), Vector128<float>.Zero);
            return Vector128<float>.Zero;
        }

        public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
        {
            (sum0, sum1, sum2, column) = (p * p, Vector256.Create(7f), Vector256.Create(7f), Vector256<float>.Zero);
            return Vector256<float>.Zero;
        }

        public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
        {
            (sum0, sum1, sum2, column) = (p * p, Vector512.Create(7f), Vector512.Create(7f), Vector512<float>.Zero);
            return Vector512<float>.Zero;
        }
    }

    /// <summary>Declares two auxiliary inputs, which the pair driver does not read.</summary>
    private readonly struct TestTwoInputs : StableMath.IRowOperator
    {
        public int Inputs => 2;

        public int Sums => 1;

        public bool SubtractsColumn => false;

        public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
        {
            (sum0, sum1, sum2, column) = (p + y, 0f, 0f, 0f);
            return 0f;
        }

        public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
        {
            (sum0, sum1, sum2, column) = (p + y, Vector128<float>.Zero, Vector128<float>.Zero, Vector128<float>.Zero);
            return Vector128<float>.Zero;
        }

        public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
        {
            (sum0, sum1, sum2, column) = (p + y, Vector256<float>.Zero, Vector256<float>.Zero, Vector256<float>.Zero);
            return Vector256<float>.Zero;
        }

        public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
        {
            (sum0, sum1, sum2, column) = (p + y, Vector512<float>.Zero, Vector512<float>.Zero, Vector512<float>.Zero);
            return Vector512<float>.Zero;
        }
    }
}
