using System;
using Aced.Core;

namespace Aced.Core.Tests;

/// <summary>Operands with gaps (offset and stride padding) and a double-precision reference product.</summary>
internal static class GemmTestHelpers
{
    /// <summary>Relative tolerance per unit of k (float rounding of a k-term dot product is about k * 2^-24).</summary>
    public const double RelativeTolerancePerK = 2e-7;

    /// <summary>Fails with the first element whose bits differ, naming <paramref name="label"/>.</summary>
    public static void AssertBitIdentical(float[] expected, float[] actual, string label)
    {
        Xunit.Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
            {
                Xunit.Assert.Fail($"{label}: element {i} differs: {expected[i]:R} vs {actual[i]:R}");
            }
        }
    }

    /// <summary>Runs <paramref name="action"/> with the given GEMM thread count, parallel threshold and forced ISA, then restores all three.</summary>
    public static void WithSettings(int degree, double threshold, GemmIsa isa, Action action)
    {
        int oldDegree = GemmControl.MaxDegreeOfParallelism;
        double oldThreshold = GemmControl.ParallelThreshold;
        GemmIsa oldIsa = GemmKernels.ForcedIsa;
        try
        {
            GemmControl.MaxDegreeOfParallelism = degree;
            GemmControl.ParallelThreshold = threshold;
            GemmKernels.ForcedIsa = isa;
            action();
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = oldDegree;
            GemmControl.ParallelThreshold = oldThreshold;
            GemmKernels.ForcedIsa = oldIsa;
        }
    }

    /// <summary>Runs <paramref name="action"/> with <paramref name="provider"/> installed as the process-wide GEMM provider, then restores the previous one.</summary>
    public static void WithProvider(IGemmProvider provider, Action action)
    {
        IGemmProvider old = GemmControl.Provider;
        try
        {
            GemmControl.Provider = provider;
            action();
        }
        finally
        {
            GemmControl.Provider = old;
        }
    }

    /// <summary>A rows x cols view at offset <paramref name="offset"/> with stride cols + <paramref name="pad"/>, random in [-1, 1).</summary>
    public static MatrixView RandomView(System.Random rng, int rows, int cols, int pad = 0, int offset = 0, float fill = float.NaN)
    {
        int stride = cols + pad;
        int length = offset + (rows * stride) + 5;
        var data = new float[length];
        data.AsSpan().Fill(fill);
        var view = new MatrixView(data, offset, rows, cols, stride);
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                view[i, j] = (float)((rng.NextDouble() * 2) - 1);
            }
        }

        return view;
    }

    /// <summary>A view of the same shape, offset and stride over a copy of <paramref name="v"/>'s whole array (padding included).</summary>
    public static MatrixView CopyView(MatrixView v) => new((float[])v.Array.Clone(), v.Offset, v.Rows, v.Columns, v.Stride);

    public static float OpElement(MatrixView x, Transpose t, int i, int j) => t == Transpose.None ? x[i, j] : x[j, i];

    /// <summary>
    /// Reference <c>alpha * op(A) op(B) + beta * C0</c> in double, and per element the scale
    /// <c>|alpha| * sum_p |a_ip b_pj| + |beta c0_ij|</c> used for the relative tolerance.
    /// </summary>
    public static (double[] Expected, double[] Scale) Reference(Transpose ta, Transpose tb, float alpha, MatrixView a, MatrixView b, float beta, MatrixView c0, int m, int n, int k)
    {
        var expected = new double[m * n];
        var scale = new double[m * n];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                double abs = 0;
                for (int p = 0; p < k; p++)
                {
                    double term = (double)OpElement(a, ta, i, p) * OpElement(b, tb, p, j);
                    sum += term;
                    abs += Math.Abs(term);
                }

                double cOld = beta == 0f ? 0 : beta * (double)c0[i, j];
                expected[(i * n) + j] = (alpha * sum) + cOld;
                scale[(i * n) + j] = (Math.Abs(alpha) * abs) + Math.Abs(cOld);
            }
        }

        return (expected, scale);
    }

    /// <summary>Asserts C matches the reference within <c>RelativeTolerancePerK * (k + 2) * scale</c> (plus a tiny absolute floor).</summary>
    public static void AssertClose(double[] expected, double[] scale, MatrixView c, int m, int n, int k, string label)
    {
        double tol = RelativeTolerancePerK * (k + 2);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double e = expected[(i * n) + j];
                double got = c[i, j];
                double allowed = (tol * scale[(i * n) + j]) + 1e-30;
                if (!(Math.Abs(got - e) <= allowed))
                {
                    Assert.Fail($"{label}: C[{i},{j}] = {got:R}, expected {e:R} (allowed error {allowed:E2})");
                }
            }
        }
    }

    /// <summary>Asserts that every element of the backing array outside the view equals its original value.</summary>
    public static void AssertOutsideUntouched(MatrixView c, float[] original)
    {
        var inside = new bool[original.Length];
        for (int i = 0; i < c.Rows; i++)
        {
            for (int j = 0; j < c.Columns; j++)
            {
                inside[c.Offset + (i * c.Stride) + j] = true;
            }
        }

        for (int x = 0; x < original.Length; x++)
        {
            if (!inside[x])
            {
                Assert.True(BitConverter.SingleToInt32Bits(original[x]) == BitConverter.SingleToInt32Bits(c.Array[x]), $"element {x} outside the C view was modified");
            }
        }
    }

    /// <summary>Runs one GEMM case against the reference; returns nothing, throws on mismatch.</summary>
    public static void CheckCase(System.Random rng, Transpose ta, Transpose tb, int m, int n, int k, float alpha, float beta, int pad, bool nanInC = false)
    {
        MatrixView a = ta == Transpose.None ? RandomView(rng, m, k, pad, pad) : RandomView(rng, k, m, pad, pad);
        MatrixView b = tb == Transpose.None ? RandomView(rng, k, n, pad, 2 * pad) : RandomView(rng, n, k, pad, 2 * pad);
        MatrixView c = RandomView(rng, m, n, pad, pad);
        if (nanInC)
        {
            c.Array.AsSpan().Fill(float.NaN);
        }

        float[] before = (float[])c.Array.Clone();
        var c0 = new MatrixView(before, c.Offset, c.Rows, c.Columns, c.Stride);
        (double[] expected, double[] scale) = Reference(ta, tb, alpha, a, b, beta, c0, m, n, k);
        Gemm.Multiply(ta, tb, alpha, a, b, beta, c);
        AssertClose(expected, scale, c, m, n, k, $"{ta}{tb} m={m} n={n} k={k} alpha={alpha} beta={beta} pad={pad}");
        AssertOutsideUntouched(c, before);
    }
}
