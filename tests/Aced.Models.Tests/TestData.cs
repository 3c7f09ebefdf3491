using System;
using System.Collections.Generic;
using Aced.Core;
using Aced.Models.Text;

namespace Aced.Models.Tests;

internal static class TestData
{
    public static float[] Random(int length, ulong seed, float scale = 1f)
    {
        var rng = new CounterRng(seed, 7);
        float[] x = new float[length];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = scale * rng.NextNormal();
        }

        return x;
    }

    public static Matrix RandomMatrix(int rows, int columns, ulong seed, float scale = 1f) => new(rows, columns, Random(rows * columns, seed, scale));

    public static TwoTowerConfig TinyConfig(PoolingKind imagePooling = PoolingKind.GlobalAverage, PoolingKind textPooling = PoolingKind.FirstToken, int vocabulary = 40, int context = 6, bool causal = false) => new()
    {
        Image = new VisionTransformerConfig { ImageSize = 8, Channels = 3, PatchSize = 4, Width = 8, Depth = 1, Heads = 2, MlpWidth = 16, EmbeddingDimension = 6, Pooling = imagePooling },
        Text = new TextTransformerConfig { VocabularySize = vocabulary, ContextLength = context, Width = 8, Depth = 1, Heads = 2, MlpWidth = 16, EmbeddingDimension = 6, Pooling = textPooling, Causal = causal },
    };

    public static readonly string[] Captions =
    [
        "a red circle on the left",
        "a blue square at the top",
        "two green triangles",
        "a yellow star in the middle",
        "three red squares",
        "a purple circle at the bottom",
        "one blue triangle on the right",
        "four small green stars",
    ];

    public static int[] Tokens(Tokenizer tokenizer, IReadOnlyList<string> captions, int context) => tokenizer.EncodeBatch(captions, context);

    public static double Sum(MatrixView y, float[] r)
    {
        double s = 0;
        for (int i = 0; i < y.Rows; i++)
        {
            for (int j = 0; j < y.Columns; j++)
            {
                s += (double)y[i, j] * r[(i * y.Columns) + j];
            }
        }

        return s;
    }

    /// <summary>Asserts |a - n| &lt;= rel * max(|a|, |n|) + abs.</summary>
    public static void Close(double numeric, double analytic, double rel, double abs, string what)
    {
        double err = Math.Abs(numeric - analytic);
        double tol = (rel * Math.Max(Math.Abs(numeric), Math.Abs(analytic))) + abs;
        Assert.True(err <= tol, $"{what}: numeric {numeric:G9} vs analytic {analytic:G9} (|diff| {err:G3} > tol {tol:G3})");
    }
}

internal static class FiniteDifference
{
    /// <summary>
    /// Central differences (L(x + eps) - L(x - eps)) / 2 eps for up to <paramref name="maxChecks"/> evenly spread
    /// entries of <paramref name="values"/>, compared with <paramref name="analytic"/>.
    /// </summary>
    public static void Check(float[] values, float[] analytic, Func<double> loss, string name, float eps = 1e-2f, double rel = 1e-2, double abs = 1e-3, int maxChecks = 40)
    {
        int step = Math.Max(1, values.Length / maxChecks);
        for (int i = 0; i < values.Length; i += step)
        {
            float saved = values[i];
            values[i] = saved + eps;
            double up = loss();
            values[i] = saved - eps;
            double down = loss();
            values[i] = saved;
            double numeric = (up - down) / (2.0 * eps);
            TestData.Close(numeric, analytic[i], rel, abs, $"{name}[{i}]");
        }
    }
}
