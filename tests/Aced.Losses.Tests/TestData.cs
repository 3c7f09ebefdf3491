using System;
using Aced.Core;
using Xunit;

namespace Aced.Losses.Tests;

internal static class TestData
{
    /// <summary>A b x d matrix of standard normals (fixed seed/stream), rows L2-normalised when asked.</summary>
    public static Matrix Random(int rows, int columns, ulong seed, ulong stream, bool normalize = true)
    {
        var rng = new CounterRng(seed, stream);
        var m = new Matrix(rows, columns);
        for (int i = 0; i < m.Data.Length; i++)
        {
            m.Data[i] = rng.NextNormal();
        }

        if (normalize)
        {
            var norms = new float[rows];
            StableMath.L2NormalizeRows(m, m, norms);
        }

        return m;
    }

    /// <summary>A correlated pair (text = image + noise), so positives have high similarity, like trained towers.</summary>
    public static (Matrix Image, Matrix Text) Pair(int b, int d, ulong seed, float noise = 0.7f)
    {
        Matrix image = Random(b, d, seed, 1);
        Matrix noiseM = Random(b, d, seed, 2, normalize: false);
        var text = new Matrix(b, d);
        for (int i = 0; i < text.Data.Length; i++)
        {
            text.Data[i] = image.Data[i] + (noise * noiseM.Data[i] / MathF.Sqrt(d));
        }

        StableMath.L2NormalizeRows(text, text, new float[b]);
        return (image, text);
    }

    /// <summary>Asserts |actual - expected| &lt;= rel * max(|expected|, floor).</summary>
    public static void Close(double expected, double actual, double rel, double floor = 1e-6, string what = "")
    {
        double tol = rel * Math.Max(Math.Abs(expected), floor);
        Assert.True(Math.Abs(actual - expected) <= tol, $"{what}: expected {expected:R}, got {actual:R} (tolerance {tol:G3})");
    }

    /// <summary>Asserts every element is within rel * max(max|expected|, 0.05) (a scale-aware matrix comparison).</summary>
    public static void Close(double[,] expected, MatrixView actual, double rel, string what)
    {
        double scale = 0.05;
        foreach (double v in expected)
        {
            scale = Math.Max(scale, Math.Abs(v));
        }

        for (int i = 0; i < actual.Rows; i++)
        {
            for (int j = 0; j < actual.Columns; j++)
            {
                double diff = Math.Abs(actual[i, j] - expected[i, j]);
                Assert.True(diff <= rel * scale, $"{what}[{i},{j}]: expected {expected[i, j]:R}, got {actual[i, j]:R} (scale {scale:G3})");
            }
        }
    }

    public static void Close(double[] expected, ReadOnlySpan<float> actual, double rel, string what)
    {
        double scale = 0.05;
        foreach (double v in expected)
        {
            scale = Math.Max(scale, Math.Abs(v));
        }

        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(actual[i] - expected[i]) <= rel * scale, $"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R}");
        }
    }
}
