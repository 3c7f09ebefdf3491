using System;
using Aced.Core;
using Aced.Models.Layers;
using FsCheck;
using FsCheck.Fluent;

namespace Aced.Models.Tests;

/// <summary>
/// The causal softmax's vector rows (<see cref="AttentionSoftmax.VectorCausal"/>: a row's prefix tail as one masked
/// vector; <see cref="AttentionSoftmax.CausalGroups"/>: four such rows phase by phase) against <see cref="RowMath.SoftmaxPrefix"/> bit for bit, directly and through the real attention calls
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
            AttentionSoftmaxTests.AssertBits(OneRow(logits, rows, t), Vector(logits, rows, t, true));
            AttentionSoftmaxTests.AssertBits(OneRow(logits, rows, t), Vector(logits, rows, t, true, false));
            AttentionSoftmaxTests.AssertBits(OneRow(logits, rows, t), Vector(logits, rows, t, false));
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

            AttentionSoftmaxTests.AssertBits(OneRow(logits, c.Rows, c.T), Vector(logits, c.Rows, c.T, true));
            AttentionSoftmaxTests.AssertBits(OneRow(logits, c.Rows, c.T), Vector(logits, c.Rows, c.T, true, false));
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(300));
    }

    [Theory]
    [InlineData(7, 32, 4, 32)]
    [InlineData(5, 16, 2, 24)]
    [InlineData(3, 40, 3, 8)]
    public void ProjectAndForward_Causal_VectorRowsOnAndOff_AreBitIdenticalForAnyThreadCount(int batch, int tokens, int heads, int headDim)
    {
        int width = heads * headDim;
        float[] probs = AssertProjectAndForwardSwitch(batch, tokens, heads, headDim, on => AttentionSoftmax.VectorCausal = on, 71, x =>
        {
            x[5] = float.NaN;
            x[(2 * width) + 1] = float.PositiveInfinity;
        });
        Assert.Contains(probs, float.IsNaN);
    }

    /// <summary>
    /// The real causal forward call (the projection with the attention inside its epilogue) with <paramref name="set"/>
    /// off at 1 thread and on (restored afterwards) at 1, 2 and 3 threads: qkv, probabilities and output bit for bit;
    /// x, W and b from the seed, <paramref name="special"/> applied to x. Returns the probabilities.
    /// </summary>
    internal static float[] AssertProjectAndForwardSwitch(int batch, int tokens, int heads, int headDim, Action<bool> set, ulong seed, Action<float[]> special)
    {
        int width = heads * headDim;
        int n = batch * tokens;
        Matrix x = TestData.RandomMatrix(n, width, seed, 2f);
        Matrix w = TestData.RandomMatrix(width, 3 * width, seed + 1, 0.5f);
        float[] bias = TestData.Random(3 * width, seed + 2);
        special(x.Data);
        (float[] Output, float[] Probs, float[] Qkv) Run(bool on, int threads)
        {
            int savedThreads = GemmControl.MaxDegreeOfParallelism;
            try
            {
                set(on);
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
                set(true);
                GemmControl.MaxDegreeOfParallelism = savedThreads;
            }
        }

        (float[] output, float[] probs, float[] qkv) = Run(false, 1);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            (float[] o, float[] p, float[] q) = Run(true, threads);
            AttentionSoftmaxTests.AssertBits(qkv, q);
            AttentionSoftmaxTests.AssertBits(probs, p);
            AttentionSoftmaxTests.AssertBits(output, o);
        }

        return probs;
    }

    [Fact]
    public void Training_CausalText_VectorRowsOnAndOff_AreBitIdenticalForAnyThreadCount() =>
        TestTrainer.AssertSwitchIsBitIdenticalForAnyThreadCount(AttentionFusedTests.ReferenceWidths, on => AttentionSoftmax.VectorCausal = on);

    [Fact]
    public void Training_CausalText_FourRowGroupsOnAndOff_AreBitIdenticalForAnyThreadCount() =>
        TestTrainer.AssertSwitchIsBitIdenticalForAnyThreadCount(AttentionFusedTests.ReferenceWidths, on => AttentionSoftmax.CausalGroups = on);

    private static float[] OneRow(float[] logits, int rows, int t)
    {
        float[] expected = (float[])logits.Clone();
        for (int r = 0; r < rows; r++)
        {
            RowMath.SoftmaxPrefix(expected.AsSpan(r * t, t), r + 1);
        }

        return expected;
    }

    /// <summary>The block through <see cref="AttentionSoftmax.Forward"/> with the vector rows and their four-row groups as given.</summary>
    private static float[] Vector(float[] logits, int rows, int t, bool on, bool groups = true)
    {
        float[] actual = (float[])logits.Clone();
        try
        {
            AttentionSoftmax.VectorCausal = on;
            AttentionSoftmax.CausalGroups = groups;
            AttentionSoftmax.Forward(actual, rows, t, true);
        }
        finally
        {
            AttentionSoftmax.VectorCausal = true;
            AttentionSoftmax.CausalGroups = true;
        }

        return actual;
    }

    /// <summary>
    /// <see cref="AttentionSoftmaxTests.Logits"/> (NaN, infinities, signed zeros, NaN payloads) times scale / 4, plus rows
    /// that test the prefix: NaN inside it and beyond it, +Inf beyond it, all -Inf, the maximum in the tail, underflowing
    /// terms, denormals.
    /// </summary>
    private static float[] Logits(int rows, int t, ulong seed, float scale)
    {
        float[] x = AttentionSoftmaxTests.Logits(rows, t, seed);
        for (int i = 0; i < x.Length; i++)
        {
            x[i] *= scale / 4f;
        }

        void Row(int r, Func<int, float, float> f) => AttentionSoftmaxTests.SetRow(x, rows, t, r, f);
        Row(3, (j, v) => j == 3 ? float.NaN : v);
        Row(7, (j, v) => j >= 7 ? float.PositiveInfinity : v);
        Row(8, (j, v) => float.NegativeInfinity);
        Row(11, (j, v) => j == 11 ? 50f : j < 8 ? -60f : v);
        Row(12, (j, v) => j > 12 ? float.NaN : v * 60f);
        Row(13, (j, v) => j == 12 ? 100f : v);
        Row(14, (j, v) => j == 14 ? -0f : j < 14 ? -1e-40f : v);
        Row(17, (j, v) => j == 16 ? 3e38f : j == 0 ? -3e38f : v);
        Row(20, (j, v) => j == 20 ? float.PositiveInfinity : v);
        return x;
    }
}
