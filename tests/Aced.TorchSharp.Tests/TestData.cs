using System;
using Aced.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Aced.TorchSharp.Tests;

internal static class TestData
{
    /// <summary>Random rows with unit L2 norm (seeded).</summary>
    public static Matrix UnitRows(int rows, int columns, int seed)
    {
        var random = new Random(seed);
        var m = new Matrix(rows, columns);
        for (int i = 0; i < rows; i++)
        {
            double norm = 0;
            for (int j = 0; j < columns; j++)
            {
                float v = (float)(random.NextDouble() * 2 - 1);
                m[i, j] = v;
                norm += v * v;
            }

            float inv = (float)(1 / Math.Sqrt(norm));
            for (int j = 0; j < columns; j++)
            {
                m[i, j] *= inv;
            }
        }

        return m;
    }

    public static Matrix Gaussian(int rows, int columns, int seed, float scale = 1f)
    {
        var random = new Random(seed);
        var m = new Matrix(rows, columns);
        for (int i = 0; i < m.Data.Length; i++)
        {
            m.Data[i] = scale * (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        }

        return m;
    }

    public static Tensor ToTensor(Matrix m, ScalarType dtype = ScalarType.Float64, bool requiresGrad = false)
    {
        using Tensor f = torch.tensor(m.Data, new long[] { m.Rows, m.Columns });
        Tensor t = f.to_type(dtype);
        if (requiresGrad)
        {
            t.requires_grad_(true);
        }

        return t;
    }

    public static double[] ToDoubles(Tensor t)
    {
        using Tensor d = t.detach().cpu().to_type(ScalarType.Float64).contiguous();
        return d.data<double>().ToArray();
    }

    /// <summary>Asserts |a - e| &lt;= tol * max(|e|, floor) element-wise, with floor = max |e| of the whole array (relative to the array's scale).</summary>
    public static void AssertClose(ReadOnlySpan<float> expected, double[] actual, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            scale = Math.Max(scale, Math.Abs(expected[i]));
        }

        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs(actual[i] - expected[i]);
            Assert.True(error <= tolerance * Math.Max(scale, 1e-30), $"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R} (error {error:E2}, scale {scale:E2})");
        }
    }

    public static void AssertRelative(double expected, double actual, double tolerance, string what)
    {
        double error = Math.Abs(actual - expected);
        Assert.True(error <= tolerance * Math.Max(Math.Abs(expected), 1e-12), $"{what}: expected {expected:R}, got {actual:R} (relative error {error / Math.Max(Math.Abs(expected), 1e-30):E2})");
    }
}
