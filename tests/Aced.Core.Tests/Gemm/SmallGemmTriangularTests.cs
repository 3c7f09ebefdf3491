using System;
using Aced.Core;

namespace Aced.Core.Tests;

/// <summary>
/// <see cref="SmallGemm"/>'s triangular entries (the causal attention's products) against the full products, bit for
/// bit: the lower result where it is defined, and with a lower triangular A every element of C, including the cases
/// where a skipped term would have changed a bit (a stopped chain at -0, a non-finite value in a skipped row of B, a
/// NaN in A's upper triangle through <see cref="SmallGemm.UpperIsZero"/>), with the six-row tiles on and off.
/// </summary>
public sealed class SmallGemmTriangularTests
{
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 32, 32, 32 }, { 64, 32, 64 }, { 64, 64, 32 }, { 32, 16, 32 }, { 4, 16, 4 }, { 5, 16, 8 }, { 6, 16, 6 },
        { 7, 32, 7 }, { 8, 16, 8 }, { 10, 16, 16 }, { 13, 48, 13 }, { 16, 16, 24 }, { 26, 32, 26 }, { 40, 16, 40 },
        { 3, 16, 3 }, { 12, 24, 12 }, { 32, 32, 5 }, { 9, 16, 40 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MultiplyNNLowerResult_OnAndBelowTheDiagonal_IsBitIdenticalToMultiplyNN(int m, int n, int k)
    {
        ForTiles(() =>
        {
            foreach (float alpha in new[] { 1f, 0.1767767f, -2f })
            {
                int lda = k + 3, ldb = n + 5, ldc = n + 2;
                float[] a = Random(m, k, lda, 1, false);
                float[] b = Random(k, n, ldb, 2, false);
                float[] expected = Filled(m * ldc, float.NaN);
                float[] actual = Filled(m * ldc, 7.5f);
                SmallGemm.MultiplyNN(m, n, k, alpha, a, lda, b, ldb, false, expected, ldc);
                SmallGemm.MultiplyNNLowerResult(m, n, k, alpha, a, lda, b, ldb, actual, ldc);
                for (int i = 0; i < m; i++)
                {
                    for (int j = 0; j < n; j++)
                    {
                        float e = expected[(i * ldc) + j];
                        float x = actual[(i * ldc) + j];
                        bool same = BitConverter.SingleToInt32Bits(e) == BitConverter.SingleToInt32Bits(x);
                        Assert.True(same || (j > i && x == 7.5f), $"{m}x{n}x{k} alpha {alpha} C[{i}, {j}]: {x} vs {e}");
                    }
                }

                for (int i = 0; i < m * ldc; i++)
                {
                    Assert.True(i % ldc < n || actual[i] == 7.5f, $"padding {i} written");
                }
            }
        });
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MultiplyNNLowerA_LowerTriangularA_IsBitIdenticalToMultiplyNN(int m, int n, int k) => CheckLowerA(m, n, k, false);

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MultiplyTNLowerA_LowerTriangularA_IsBitIdenticalToMultiplyTN(int m, int n, int k) => CheckLowerA(m, n, k, true);

    /// <summary>
    /// The NN (A m x k) or TN (A k x m) entry with a lower triangular A against the full product, bit for bit, for
    /// every special case and alpha, with the six-row tiles on and off.
    /// </summary>
    private static void CheckLowerA(int m, int n, int k, bool transA)
    {
        ForTiles(() =>
        {
            foreach (int special in new[] { -1, 0, 1, 2, 3, 4, 5 })
            {
                foreach (float alpha in new[] { 1f, 0.1767767f, -1f, 0f })
                {
                    int aRows = transA ? k : m;
                    int aCols = transA ? m : k;
                    int lda = aCols + 3, ldb = n + 5, ldc = n + 2;
                    float[] a = Random(aRows, aCols, lda, 3 + special, true);
                    float[] b = Random(k, n, ldb, 4 + special, false);
                    Special(special, a, lda, aRows, aCols, b, ldb, k, n);
                    float[] expected = Filled(m * ldc, float.NaN);
                    float[] actual = Filled(m * ldc, 7.5f);
                    if (transA)
                    {
                        SmallGemm.MultiplyTN(m, n, k, alpha, a, lda, b, ldb, false, expected, ldc);
                        SmallGemm.MultiplyTNLowerA(m, n, k, alpha, a, lda, b, ldb, actual, ldc);
                    }
                    else
                    {
                        SmallGemm.MultiplyNN(m, n, k, alpha, a, lda, b, ldb, false, expected, ldc);
                        SmallGemm.MultiplyNNLowerA(m, n, k, alpha, a, lda, b, ldb, actual, ldc);
                    }

                    AssertRows(expected, actual, m, n, ldc, $"{(transA ? "TN" : "NN")} {m}x{n}x{k} alpha {alpha} special {special}");
                }
            }
        });
    }

    [Fact]
    public void UpperIsZero_FindsEveryNonZeroAboveTheDiagonal()
    {
        var rng = new System.Random(9);
        foreach (int n in new[] { 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 40, 64 })
        {
            int ld = n + 3;
            float[] a = Random(n, n, ld, n, true);
            Assert.True(SmallGemm.UpperIsZero(a, n, ld), $"n {n}: lower triangular");
            for (int i = 0; i < n; i++)
            {
                for (int p = i + 1; p < n; p++)
                {
                    float saved = a[(i * ld) + p];
                    a[(i * ld) + p] = (rng.Next(3)) switch { 0 => float.NaN, 1 => float.Epsilon, _ => -1f };
                    Assert.False(SmallGemm.UpperIsZero(a, n, ld), $"n {n}: ({i}, {p})");
                    a[(i * ld) + p] = saved;
                }
            }
        }
    }

    /// <summary>
    /// Special values: 0 a stopped chain at -0 in row 0 (a tiny product that rounds to -0, then +0 terms against positive
    /// B rows); 1 an Inf in B's last row; 2 a NaN in B's row 6; 3 -0 and denormals in A's lower part and B; 4 NaN in A's
    /// lower part; 5 an Inf in B's row 0 (a leading row for TN).
    /// </summary>
    private static void Special(int special, float[] a, int lda, int aRows, int aCols, float[] b, int ldb, int bRows, int n)
    {
        switch (special)
        {
            case 0:
                // Row 0: 1e-30 x -1e-30 rounds to -0; -0 terms keep it -0 through the first strip, +0 terms after it
                // (against B rows >= +0) make the full chain +0.
                a[0] = 1e-30f;
                for (int p = 1; p < aCols; p++)
                {
                    a[p] = p < 6 ? -0f : 0f;
                }

                b[0] = -1e-30f;
                for (int p = 1; p < bRows; p++)
                {
                    b[p * ldb] = Math.Abs(b[p * ldb]);
                }

                break;
            case 1:
                b[((bRows - 1) * ldb) + (n - 1)] = float.PositiveInfinity;
                break;
            case 2:
                b[(Math.Min(6, bRows - 1) * ldb) + 3] = float.NaN;
                break;
            case 3:
                a[0] = -0f;
                b[1] = 1e-40f;
                b[ldb] = -0f;
                break;
            case 4:
                a[(aRows - 1) * lda] = float.NaN;
                break;
            case 5:
                b[2] = float.NegativeInfinity;
                break;
        }
    }

    private static void AssertRows(float[] expected, float[] actual, int m, int n, int ldc, string label)
    {
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                float e = expected[(i * ldc) + j];
                float x = actual[(i * ldc) + j];
                Assert.True(BitConverter.SingleToInt32Bits(e) == BitConverter.SingleToInt32Bits(x), $"{label} C[{i}, {j}]: {x} vs {e}");
            }
        }

        for (int i = 0; i < m * ldc; i++)
        {
            Assert.True(i % ldc < n || actual[i] == 7.5f, $"{label}: padding {i} written");
        }
    }

    private static void ForTiles(Action body)
    {
        bool saved = SmallGemm.Avx2SixRowTiles;
        try
        {
            foreach (bool six in new[] { true, false })
            {
                SmallGemm.Avx2SixRowTiles = six;
                body();
            }
        }
        finally
        {
            SmallGemm.Avx2SixRowTiles = saved;
        }
    }

    private static float[] Filled(int length, float value)
    {
        float[] x = new float[Math.Max(1, length)];
        Array.Fill(x, value);
        return x;
    }

    /// <summary>rows x cols values in [-1, 1) (row stride ld, gaps NaN); lower: ±0 above the diagonal (random signs).</summary>
    private static float[] Random(int rows, int cols, int ld, int seed, bool lower)
    {
        var rng = new System.Random(seed);
        float[] x = new float[Math.Max(1, rows * ld)];
        for (int i = 0; i < x.Length; i++)
        {
            int r = i / ld;
            int c = i % ld;
            x[i] = c >= cols ? float.NaN : lower && c > r ? (rng.Next(2) == 0 ? 0f : -0f) : (float)((rng.NextDouble() * 2) - 1);
        }

        return x;
    }
}
