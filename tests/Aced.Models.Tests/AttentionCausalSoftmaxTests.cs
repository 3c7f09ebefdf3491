using System;
using Aced.Core;
using Aced.Models.Layers;
using Aced.Models.Training;
using FsCheck;
using FsCheck.Fluent;

namespace Aced.Models.Tests;

/// <summary>
/// The causal softmax's vector rows (<see cref="AttentionSoftmax.VectorCausal"/>: a row's prefix tail as one masked
/// vector) against <see cref="RowMath.SoftmaxPrefix"/> bit for bit, directly and through the real attention calls
/// (the projection with the forward inside its epilogue, training) with the switch on and off at 1, 2 and 3 threads.
/// </summary>
[Collection(GemmProviderCollection.Name)]
public sealed class AttentionCausalSoftmaxTests
{
    public static TheoryData<int, int> Blocks => new()
    {
        { 8, 8 }, { 16, 16 }, { 24, 24 }, { 32, 32 }, { 32, 29 }, { 40, 40 }, { 64, 64 }, { 128, 128 }, { 32, 1 }, { 16, 5 },
    };

    [Theory]
    [MemberData(nameof(Blocks))]
    public void Forward_CausalVectorRows_AreBitIdenticalToOneRowSoftmax(int t, int rows)
    {
        foreach (float scale in new[] { 1f, 4f, 60f, 1e-30f })
        {
            float[] logits = Logits(rows, t, (ulong)(t + rows), scale);
            AssertBits(OneRow(logits, rows, t), Vector(logits, rows, t, true));
            AssertBits(OneRow(logits, rows, t), Vector(logits, rows, t, false));
        }
    }

    [Fact]
    public void Forward_CausalVectorRows_RandomBlocksWithSpecialValues_AreBitIdenticalToOneRowSoftmax()
    {
        float[] specials = { float.NaN, BitConverter.Int32BitsToSingle(unchecked((int)0xFFC00005)), float.PositiveInfinity, float.NegativeInfinity, -0f, 0f, 1e-40f, -1e-40f, 88f, -88f, 3e38f, -3e38f };
        Gen<(int T, int Rows, float Scale, int Specials, int Seed)> cases =
            from t in Gen.Elements(8, 16, 24, 32, 40, 56, 64)
            from rows in Gen.Choose(1, t)
            from scale in Gen.Elements(1f, 8f, 50f, 200f)
            from count in Gen.Choose(0, 6)
            from seed in Gen.Choose(0, int.MaxValue)
            select (t, rows, scale, count, seed);
        Prop.ForAll(cases.ToArbitrary(), c =>
        {
            float[] logits = TestData.Random(c.Rows * c.T, (ulong)c.Seed, c.Scale);
            var random = new Random(c.Seed);
            for (int i = 0; i < c.Specials; i++)
            {
                logits[random.Next(logits.Length)] = specials[random.Next(specials.Length)];
            }

            AssertBits(OneRow(logits, c.Rows, c.T), Vector(logits, c.Rows, c.T, true));
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(300));
    }

    [Theory]
    [InlineData(7, 32, 4, 32)]
    [InlineData(5, 16, 2, 24)]
    [InlineData(3, 40, 3, 8)]
    public void ProjectAndForward_Causal_VectorRowsOnAndOff_AreBitIdenticalForAnyThreadCount(int batch, int tokens, int heads, int headDim)
    {
        int width = heads * headDim;
        int n = batch * tokens;
        Matrix x = TestData.RandomMatrix(n, width, 71, 2f);
        Matrix w = TestData.RandomMatrix(width, 3 * width, 72, 0.5f);
        float[] bias = TestData.Random(3 * width, 73);
        x.Data[5] = float.NaN;
        x.Data[(2 * width) + 1] = float.PositiveInfinity;
        (float[] Output, float[] Probs, float[] Qkv) Run(bool on, int threads)
        {
            int savedThreads = GemmControl.MaxDegreeOfParallelism;
            try
            {
                AttentionSoftmax.VectorCausal = on;
                GemmControl.MaxDegreeOfParallelism = threads;
                var qkv = new Matrix(n, 3 * width);
                var output = new Matrix(n, width);
                float[] probs = new float[batch * heads * tokens * tokens];
                Array.Fill(probs, float.NaN);
                Array.Fill(output.Data, float.NaN);
                Attention.ProjectAndForward(x, w, bias, qkv, batch, tokens, heads, true, probs, output);
                return (output.Data, probs, qkv.Data);
            }
            finally
            {
                AttentionSoftmax.VectorCausal = true;
                GemmControl.MaxDegreeOfParallelism = savedThreads;
            }
        }

        (float[] output, float[] probs, float[] qkv) = Run(false, 1);
        Assert.Contains(probs, float.IsNaN);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            (float[] o, float[] p, float[] q) = Run(true, threads);
            AssertBits(qkv, q);
            AssertBits(probs, p);
            AssertBits(output, o);
        }
    }

    [Fact]
    public void Training_CausalText_VectorRowsOnAndOff_AreBitIdenticalForAnyThreadCount()
    {
        // Reference widths with the causal text tower (T = 32) of the step; 2 steps, so the softmax's outputs feed the
        // backward and the updated parameters.
        var config = new TwoTowerConfig
        {
            Image = new VisionTransformerConfig { ImageSize = 16, Channels = 3, PatchSize = 4, Width = 128, Depth = 1, Heads = 4, MlpWidth = 256, EmbeddingDimension = 64, Pooling = PoolingKind.GlobalAverage },
            Text = new TextTransformerConfig { VocabularySize = 64, ContextLength = 32, Width = 128, Depth = 2, Heads = 4, MlpWidth = 256, EmbeddingDimension = 64, Pooling = PoolingKind.FirstToken, Causal = true },
        };
        float[][] Run(bool on, int threads)
        {
            try
            {
                AttentionSoftmax.VectorCausal = on;
                return TestTrainer.TrainedParameters(config, 81, 9, 82, new ConstantSchedule(1e-3f), 2, threads);
            }
            finally
            {
                AttentionSoftmax.VectorCausal = true;
            }
        }

        float[][] off = Run(false, 2);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            float[][] on = Run(true, threads);
            for (int i = 0; i < off.Length; i++)
            {
                Assert.Equal(off[i], on[i]);
            }
        }
    }

    private static float[] OneRow(float[] logits, int rows, int t)
    {
        float[] expected = (float[])logits.Clone();
        for (int r = 0; r < rows; r++)
        {
            RowMath.SoftmaxPrefix(expected.AsSpan(r * t, t), r + 1);
        }

        return expected;
    }

    private static float[] Vector(float[] logits, int rows, int t, bool on)
    {
        float[] actual = (float[])logits.Clone();
        try
        {
            AttentionSoftmax.VectorCausal = on;
            AttentionSoftmax.Forward(actual, rows, t, true);
        }
        finally
        {
            AttentionSoftmax.VectorCausal = true;
        }

        return actual;
    }

    /// <summary>
    /// Random logits times <paramref name="scale"/> with special rows: NaN inside and beyond the causal prefix, +Inf
    /// inside and beyond it, all -Inf, some -Inf, signed zeros, the maximum in the tail, NaN payloads, underflowing terms.
    /// </summary>
    private static float[] Logits(int rows, int t, ulong seed, float scale)
    {
        float[] x = TestData.Random(rows * t, seed, scale);
        void Row(int r, Func<int, float, float> f)
        {
            if (r < rows)
            {
                for (int j = 0; j < t; j++)
                {
                    x[(r * t) + j] = f(j, x[(r * t) + j]);
                }
            }
        }

        Row(1, (j, v) => j == t - 1 ? float.NaN : v);
        Row(2, (j, v) => j == 0 ? float.PositiveInfinity : v);
        Row(3, (j, v) => j == 3 ? float.NaN : v);
        Row(4, (j, v) => j % 3 == 0 ? float.NegativeInfinity : v);
        Row(5, (j, v) => j % 2 == 0 ? -0f : 0f);
        Row(6, (j, v) => -0f);
        Row(7, (j, v) => j == 7 ? float.PositiveInfinity : j > 7 ? float.PositiveInfinity : v);
        Row(8, (j, v) => float.NegativeInfinity);
        Row(9, (j, v) => j > 9 ? float.NaN : v * 60f);
        Row(10, (j, v) => j == 0 ? BitConverter.Int32BitsToSingle(0x7FC00001) : j == 3 ? BitConverter.Int32BitsToSingle(0x7FC00002) : j == t - 1 ? BitConverter.Int32BitsToSingle(unchecked((int)0xFFC00003)) : v);
        Row(11, (j, v) => j == 11 ? 50f : j < 8 ? -60f : v);
        Row(13, (j, v) => j == 12 ? 100f : v);
        Row(14, (j, v) => j == 14 ? -0f : j < 14 ? -1e-40f : v);
        Row(17, (j, v) => j == 16 ? 3e38f : j == 0 ? -3e38f : v);
        Row(20, (j, v) => j == 20 ? float.PositiveInfinity : v);
        return x;
    }

    private static void AssertBits(float[] expected, float[] actual)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]), $"element {i}: {expected[i]:R} vs {actual[i]:R}");
        }
    }
}
