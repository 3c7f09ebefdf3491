using System;
using Aced.Core;

namespace Aced.Core.Tests;

/// <summary>
/// <see cref="SmallGemm"/>: every element of C is one fused multiply-add chain over k in increasing order, times alpha,
/// plus C when accumulating — checked bit for bit against that scalar chain for every tile path (the AVX2 6- and 4-row
/// strips and the previous 4-row kernel, the AVX-512 tiles where the machine has them, the row loop), with operands in
/// padded storage whose gaps hold NaN.
/// </summary>
public sealed class SmallGemmTests
{
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 64, 64, 32 }, { 64, 32, 64 }, { 32, 32, 32 }, { 32, 64, 32 },
        { 1, 16, 5 }, { 2, 16, 3 }, { 3, 32, 1 }, { 4, 16, 7 }, { 5, 48, 9 }, { 6, 16, 4 }, { 7, 32, 2 }, { 8, 16, 16 },
        { 10, 64, 3 }, { 11, 16, 6 }, { 12, 32, 5 }, { 13, 48, 3 }, { 14, 16, 8 }, { 20, 32, 11 }, { 26, 16, 4 },
        { 9, 24, 5 }, { 7, 5, 3 }, { 6, 16, 0 }, { 0, 16, 4 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Multiply_EveryTilePath_IsBitIdenticalToTheScalarChain(int m, int n, int k)
    {
        bool saved = SmallGemm.Avx2SixRowTiles;
        try
        {
            foreach (bool sixRows in new[] { true, false })
            {
                SmallGemm.Avx2SixRowTiles = sixRows;
                foreach (bool transA in new[] { false, true })
                {
                    foreach (bool accumulate in new[] { false, true })
                    {
                        Check(m, n, k, transA, accumulate, $"{m}x{n}x{k} transA {transA} accumulate {accumulate} six-row {sixRows}");
                    }
                }
            }
        }
        finally
        {
            SmallGemm.Avx2SixRowTiles = saved;
        }
    }

    private static void Check(int m, int n, int k, bool transA, bool accumulate, string label)
    {
        const float Alpha = 0.37f;
        int lda = (transA ? m : k) + 3;
        int ldb = n + 5;
        int ldc = n + 2;
        int aRows = transA ? k : m;
        float[] a = Padded(aRows, transA ? m : k, lda, 11);
        float[] b = Padded(k, n, ldb, 12);
        float[] c = Padded(m, n, ldc, 13);
        float[] expected = (float[])c.Clone();
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                float sum = 0f;
                for (int p = 0; p < k; p++)
                {
                    float av = transA ? a[(p * lda) + i] : a[(i * lda) + p];
                    sum = MathF.FusedMultiplyAdd(av, b[(p * ldb) + j], sum);
                }

                ref float dst = ref expected[(i * ldc) + j];
                dst = accumulate ? dst + (Alpha * sum) : Alpha * sum;
            }
        }

        float[] actual = (float[])c.Clone();
        if (transA)
        {
            SmallGemm.MultiplyTN(m, n, k, Alpha, a, lda, b, ldb, accumulate, actual, ldc);
        }
        else
        {
            SmallGemm.MultiplyNN(m, n, k, Alpha, a, lda, b, ldb, accumulate, actual, ldc);
        }

        GemmTestHelpers.AssertBitIdentical(expected, actual, label);
    }

    /// <summary>rows x cols random values in [-1, 1) with row stride ld; the gap columns hold NaN.</summary>
    private static float[] Padded(int rows, int cols, int ld, int seed)
    {
        var rng = new System.Random(seed);
        float[] x = new float[Math.Max(1, rows * ld)];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = i % ld < cols ? (float)((rng.NextDouble() * 2) - 1) : float.NaN;
        }

        return x;
    }
}
