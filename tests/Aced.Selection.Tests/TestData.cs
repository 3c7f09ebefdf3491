using System;
using Aced.Core;
using Aced.Selection;

namespace Aced.Selection.Tests;

internal static class TestData
{
    /// <summary>Random L2-normalised rows; text rows are the image rows plus noise so positives are aligned.</summary>
    public static ModelEmbeddings Model(int count, int dim, ulong seed, float scale, float bias, float noise = 0.8f)
    {
        var rng = new CounterRng(seed, 7);
        var image = new Matrix(count, dim);
        var text = new Matrix(count, dim);
        for (int i = 0; i < count; i++)
        {
            for (int j = 0; j < dim; j++)
            {
                float v = rng.NextNormal();
                image[i, j] = v;
                text[i, j] = v + (noise * rng.NextNormal());
            }
        }

        Normalize(image);
        Normalize(text);
        return new ModelEmbeddings(image, text, new LogitParameters(scale, bias));
    }

    public static SuperBatch Batch(int count, int dim, ulong seed, ContrastiveKind loss)
    {
        (float a, float c) = loss == ContrastiveKind.Softmax ? (8f, 0.5f) : (10f, -10f);
        ModelEmbeddings student = Model(count, dim, seed, a, c, 1.2f);
        ModelEmbeddings reference = Model(count, dim + 2, seed + 1000, a * 1.3f, c * 0.8f, 0.5f);
        return new SuperBatch(student, reference);
    }

    public static void Normalize(Matrix m)
    {
        for (int i = 0; i < m.Rows; i++)
        {
            Span<float> row = m.Row(i);
            float n = System.Numerics.Tensors.TensorPrimitives.Norm(row);
            System.Numerics.Tensors.TensorPrimitives.Divide(row, n, row);
        }
    }

    public static int[] Distinct(int count, int k, ulong seed)
    {
        var rng = new CounterRng(seed, 3);
        int[] dest = new int[k];
        Sampling.UniformWithoutReplacement(count, k, ref rng, dest, new int[count]);
        return dest;
    }
}
