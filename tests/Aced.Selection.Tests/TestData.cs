using System;
using System.Linq;
using Aced.Core;
using Aced.Selection;
using Xunit;

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

    /// <summary>
    /// The conditional scores after each chunk: <paramref name="scorer"/> (begun on a batch of <paramref name="count"/>
    /// examples) takes the members of <paramref name="order"/> <paramref name="chunkSizes"/>[k] at a time, in order, and
    /// scores every example after each chunk.
    /// </summary>
    public static double[][] ChunkScores(ConditionalScorer scorer, int count, int[] order, ReadOnlySpan<int> chunkSizes)
    {
        double[][] scores = new double[chunkSizes.Length][];
        int filled = 0;
        for (int k = 0; k < chunkSizes.Length; k++)
        {
            scorer.AddMembers(order.AsSpan(filled, chunkSizes[k]));
            filled += chunkSizes[k];
            scores[k] = new double[count];
            scorer.Conditional(scores[k]);
        }

        return scores;
    }

    /// <summary><paramref name="chunks"/> chunks of <paramref name="chunk"/> members each (for <see cref="ChunkScores"/>).</summary>
    public static int[] EqualChunks(int chunks, int chunk)
    {
        var sizes = new int[chunks];
        Array.Fill(sizes, chunk);
        return sizes;
    }

    /// <summary>
    /// Asserts that every example that is not a member after chunk c (the first (c + 1) <paramref name="chunk"/> entries
    /// of <paramref name="order"/>) has bit-identical scores in <paramref name="expected"/>[c] and <paramref name="actual"/>[c].
    /// </summary>
    public static void AssertNonMemberScoresBitEqual(double[][] expected, double[][] actual, int[] order, int chunk, string label)
    {
        for (int c = 0; c < expected.Length; c++)
        {
            var member = new bool[expected[c].Length];
            foreach (int m in order.AsSpan(0, (c + 1) * chunk))
            {
                member[m] = true;
            }

            for (int x = 0; x < member.Length; x++)
            {
                if (!member[x])
                {
                    Assert.True(BitConverter.DoubleToInt64Bits(expected[c][x]) == BitConverter.DoubleToInt64Bits(actual[c][x]), $"{label}, chunk {c}, x = {x}: {actual[c][x]:R} vs {expected[c][x]:R}");
                }
            }
        }
    }

    /// <summary>
    /// Asserts that every score of every chunk is bit-identical in <paramref name="expected"/> and
    /// <paramref name="actual"/>; returns how many of them are not NaN (members are NaN), so a caller can check that
    /// anything was scored.
    /// </summary>
    public static int AssertScoresBitEqual(double[][] expected, double[][] actual, string label)
    {
        int scored = 0;
        for (int k = 0; k < expected.Length; k++)
        {
            for (int x = 0; x < expected[k].Length; x++)
            {
                Assert.True(BitConverter.DoubleToInt64Bits(expected[k][x]) == BitConverter.DoubleToInt64Bits(actual[k][x]), $"{label}, chunk {k}, x = {x}: {actual[k][x]:R} vs {expected[k][x]:R}");
                scored += double.IsNaN(actual[k][x]) ? 0 : 1;
            }
        }

        return scored;
    }

    /// <summary>
    /// Asserts that the chunk scores <paramref name="scoresAt"/> computes with 1, 2 and 3 threads (its argument) equal
    /// <paramref name="expected"/> bit for bit and that some of them are numbers; restores the thread count.
    /// </summary>
    public static void AssertScoresBitEqualAtThreads(double[][] expected, Func<int, double[][]> scoresAt)
    {
        int saved = GemmControl.MaxDegreeOfParallelism;
        int scored = 0;
        try
        {
            for (int threads = 1; threads <= 3; threads++)
            {
                scored += AssertScoresBitEqual(expected, scoresAt(threads), $"threads {threads}");
            }
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = saved;
        }

        Assert.True(scored > 0);
    }

    /// <summary>
    /// Runs <paramref name="run"/> with a static switch set to <paramref name="on"/> (through <paramref name="set"/>) and
    /// restores the value <paramref name="get"/> read before.
    /// </summary>
    public static T WithSwitch<T>(Func<bool> get, Action<bool> set, bool on, Func<T> run)
    {
        bool saved = get();
        set(on);
        try
        {
            return run();
        }
        finally
        {
            set(saved);
        }
    }

    /// <summary>
    /// Asserts that a selection (<c>Sample(batch, 2)</c>) with a static switch on at 1, 2 and 3 threads equals the one with
    /// it off at 1 thread: the same indices and the same score bits.
    /// </summary>
    public static void AssertSelectionSwitchBitEqual(SuperBatch batch, ActiveBatchSamplerOptions options, Func<bool> get, Action<bool> set)
    {
        int saved = GemmControl.MaxDegreeOfParallelism;
        try
        {
            GemmControl.MaxDegreeOfParallelism = 1;
            (int[] offIndices, float[] offScores) = WithSwitch(get, set, false, () => Select(batch, options));
            for (int threads = 1; threads <= 3; threads++)
            {
                GemmControl.MaxDegreeOfParallelism = threads;
                (int[] onIndices, float[] onScores) = WithSwitch(get, set, true, () => Select(batch, options));
                Assert.Equal(offIndices, onIndices);
                Assert.Equal(offScores.Select(BitConverter.SingleToInt32Bits), onScores.Select(BitConverter.SingleToInt32Bits));
            }
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = saved;
        }

        static (int[] Indices, float[] Scores) Select(SuperBatch batch, ActiveBatchSamplerOptions options)
        {
            SelectionResult result = new ActiveBatchSampler(options).Sample(batch, 2);
            return (result.ToArray(), result.Scores.ToArray());
        }
    }
}
