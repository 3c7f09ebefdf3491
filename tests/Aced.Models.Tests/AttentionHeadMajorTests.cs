using System;
using Aced.Core;
using Aced.Models.Layers;
using Aced.Models.Training;
using FsCheck;
using FsCheck.Fluent;

namespace Aced.Models.Tests;

/// <summary>
/// The head-major qkv layout (<see cref="QkvLayout.HeadMajor"/>): the projection that writes it
/// (<see cref="Attention.ProjectHeadMajor"/>) against the dense layer's token rows, and every attention path on it against
/// the same path on token rows, bit for bit, for 1, 2 and 3 threads; and training with it on and off.
/// </summary>
[Collection(GemmProviderCollection.Name)]
public sealed class AttentionHeadMajorTests
{
    private readonly record struct Case(int Batch, int Tokens, int Heads, int HeadDim, bool Causal, int Inputs, int Seed)
    {
        public int Width => Heads * HeadDim;

        public int Rows => Batch * Tokens;
    }

    private static Gen<Case> Cases() =>
        from batch in Gen.Choose(1, 5)
        from tokens in Gen.Choose(1, 40)
        from heads in Gen.Choose(1, 4)
        from hd in Gen.OneOf(Gen.Choose(1, 20), Gen.Elements(8, 16, 32))
        from causal in Gen.Elements(false, true)
        from inputs in Gen.Choose(1, 70)
        from seed in Gen.Choose(0, int.MaxValue)
        select new Case(batch, tokens, heads, hd, causal, inputs, seed);

    /// <summary>Element (row, column) of the token-row matrix at its head-major place (the layout's formula, written out).</summary>
    private static int HeadMajorIndex(Case c, int row, int column)
    {
        int e = row / c.Tokens;
        int t = row % c.Tokens;
        int s = column / c.HeadDim;
        return (e * c.Tokens * 3 * c.Width) + (s * c.Tokens * c.HeadDim) + (t * c.HeadDim) + (column % c.HeadDim);
    }

    /// <summary>The token rows of <paramref name="rows"/> (B T x 3D) copied to the head-major layout, at offset 1 of an array with NaN around.</summary>
    private static MatrixView ToHeadMajor(Case c, MatrixView rows)
    {
        int floats = c.Rows * 3 * c.Width;
        float[] data = new float[floats + 3];
        Array.Fill(data, float.NaN);
        for (int r = 0; r < c.Rows; r++)
        {
            for (int j = 0; j < 3 * c.Width; j++)
            {
                data[1 + HeadMajorIndex(c, r, j)] = rows.Row(r)[j];
            }
        }

        return new MatrixView(data, 1, c.Rows, 3 * c.Width, 3 * c.Width);
    }

    private static T With<T>(bool fused, bool packed, int threads, Func<T> action) => AttentionFusedTests.With(fused, packed, threads, action);

    /// <summary>Forward then backward; the output, probability and dqkv arrays.</summary>
    private static (float[] Output, float[] Probs, float[] DQkv) Run(Case c, MatrixView qkv, bool headMajor, MatrixView dOutput)
    {
        float[] probs = new float[c.Batch * c.Heads * c.Tokens * c.Tokens];
        Array.Fill(probs, float.NaN);
        var output = new MatrixView(new float[c.Rows * c.Width], c.Rows, c.Width);
        Array.Fill(output.Array, float.NaN);
        Attention.Forward(qkv, headMajor, c.Batch, c.Tokens, c.Heads, c.Causal, probs, output);
        var dqkv = new MatrixView(new float[c.Rows * 3 * c.Width], c.Rows, 3 * c.Width);
        Array.Fill(dqkv.Array, float.NaN);
        Attention.Backward(qkv, headMajor, c.Batch, c.Tokens, c.Heads, probs, dOutput, dqkv, new float[probs.Length]);
        return (output.Array, probs, dqkv.Array);
    }

    private static void AssertSame((float[] Output, float[] Probs, float[] DQkv) expected, (float[] Output, float[] Probs, float[] DQkv) actual)
    {
        Assert.Equal(expected.Output, actual.Output);
        Assert.Equal(expected.Probs, actual.Probs);
        Assert.Equal(expected.DQkv, actual.DQkv);
    }

    /// <summary>ProjectHeadMajor into a fresh head-major buffer (NaN around it) and the dense layer's token rows.</summary>
    private static (float[] HeadMajor, Matrix Rows) Project(Case c, int threads)
    {
        Matrix x = TestData.RandomMatrix(c.Rows, c.Inputs, (ulong)c.Seed, 2f);
        Matrix w = TestData.RandomMatrix(c.Inputs, 3 * c.Width, (ulong)c.Seed + 1);
        float[] bias = TestData.RandomMatrix(1, 3 * c.Width, (ulong)c.Seed + 2).Data;
        var rows = new Matrix(c.Rows, 3 * c.Width);
        float[] data = new float[(c.Rows * 3 * c.Width) + 3];
        Array.Fill(data, float.NaN);
        With(true, true, threads, () =>
        {
            Linear.Forward(x, w, bias, rows);
            Attention.ProjectHeadMajor(x, w, bias, new MatrixView(data, 1, c.Rows, 3 * c.Width, 3 * c.Width), c.Tokens, c.Heads);
            return 0;
        });
        return (data, rows);
    }

    private static void AssertHeadMajorOf(Case c, Matrix rows, float[] headMajor)
    {
        Assert.True(float.IsNaN(headMajor[0]) && float.IsNaN(headMajor[^1]) && float.IsNaN(headMajor[^2]));
        for (int r = 0; r < c.Rows; r++)
        {
            for (int j = 0; j < 3 * c.Width; j++)
            {
                float expected = rows[r, j];
                float actual = headMajor[1 + HeadMajorIndex(c, r, j)];
                if (BitConverter.SingleToInt32Bits(expected) != BitConverter.SingleToInt32Bits(actual))
                {
                    Assert.Fail($"({r}, {j}): {actual} != {expected}");
                }
            }
        }
    }

    [Fact]
    public void ProjectHeadMajor_RandomShapes_IsTheDenseLayersOutputAtHeadMajorPlaces()
    {
        Prop.ForAll(Cases().ToArbitrary(), c =>
        {
            foreach (int threads in new[] { 1, 2, 3 })
            {
                (float[] headMajor, Matrix rows) = Project(c, threads);
                AssertHeadMajorOf(c, rows, headMajor);
            }
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(30));
    }

    [Theory]
    [InlineData(61, 32, 4, 32, 128)]
    [InlineData(9, 64, 4, 32, 128)]
    [InlineData(7, 50, 6, 20, 33)]
    public void ProjectHeadMajor_ReferenceShapes_IsTheDenseLayersOutputAtHeadMajorPlaces(int batch, int tokens, int heads, int hd, int inputs)
    {
        var c = new Case(batch, tokens, heads, hd, false, inputs, 41);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            (float[] headMajor, Matrix rows) = Project(c, threads);
            AssertHeadMajorOf(c, rows, headMajor);
        }
    }

    /// <summary>
    /// <see cref="Attention.ProjectAndForward"/> (the forward in the projection's epilogue) against the dense layer and
    /// the attention on token rows: the head-major qkv, the probabilities and the output, bit for bit, for 1, 2, 3 threads.
    /// </summary>
    private static void AssertProjectAndForwardMatches(Case c)
    {
        Matrix x = TestData.RandomMatrix(c.Rows, c.Inputs, (ulong)c.Seed, 2f);
        Matrix w = TestData.RandomMatrix(c.Inputs, 3 * c.Width, (ulong)c.Seed + 1);
        float[] bias = TestData.RandomMatrix(1, 3 * c.Width, (ulong)c.Seed + 2).Data;
        var rows = new Matrix(c.Rows, 3 * c.Width);
        float[] probs = new float[c.Batch * c.Heads * c.Tokens * c.Tokens];
        var output = new Matrix(c.Rows, c.Width);
        With(true, true, 2, () =>
        {
            Linear.Forward(x, w, bias, rows);
            Attention.Forward(rows, false, c.Batch, c.Tokens, c.Heads, c.Causal, probs, output);
            return 0;
        });
        foreach (int threads in new[] { 1, 2, 3 })
        {
            float[] data = new float[(c.Rows * 3 * c.Width) + 3];
            Array.Fill(data, float.NaN);
            float[] p = new float[probs.Length];
            Array.Fill(p, float.NaN);
            var o = new Matrix(c.Rows, c.Width);
            Array.Fill(o.Data, float.NaN);
            With(true, true, threads, () =>
            {
                Attention.ProjectAndForward(x, w, bias, new MatrixView(data, 1, c.Rows, 3 * c.Width, 3 * c.Width), c.Batch, c.Tokens, c.Heads, c.Causal, p, o);
                return 0;
            });
            AssertHeadMajorOf(c, rows, data);
            Assert.Equal(probs, p);
            Assert.Equal(output.Data, o.Data);
        }
    }

    [Fact]
    public void ProjectAndForward_RandomShapes_IsBitIdenticalToTheSeparateCalls()
    {
        Prop.ForAll(Cases().ToArbitrary(), AssertProjectAndForwardMatches).Check(Config.QuickThrowOnFailure.WithMaxTest(30));
    }

    [Theory]
    [InlineData(61, 32, 4, 32, 128, true)]
    [InlineData(9, 64, 4, 32, 128, false)]
    [InlineData(7, 50, 6, 20, 33, false)]
    [InlineData(40, 5, 2, 16, 24, true)]
    public void ProjectAndForward_ReferenceAndOddShapes_IsBitIdenticalToTheSeparateCalls(int batch, int tokens, int heads, int hd, int inputs, bool causal)
    {
        AssertProjectAndForwardMatches(new Case(batch, tokens, heads, hd, causal, inputs, 43));
    }

    [Fact]
    public void HeadMajor_RandomShapes_IsBitIdenticalToTokenRowsOnEveryPathForAnyThreadCount()
    {
        Prop.ForAll(Cases().ToArbitrary(), c =>
        {
            MatrixView qkv = TestData.RandomMatrix(c.Rows, 3 * c.Width, (ulong)c.Seed, 2f);
            MatrixView headMajor = ToHeadMajor(c, qkv);
            MatrixView dOutput = TestData.RandomMatrix(c.Rows, c.Width, (ulong)c.Seed + 1, 2f);
            var expected = With(true, true, 2, () => Run(c, qkv, false, dOutput));
            foreach ((bool fused, bool packed) in new[] { (true, true), (true, false), (false, true) })
            {
                foreach (int threads in new[] { 1, 2, 3 })
                {
                    AssertSame(expected, With(fused, packed, threads, () => Run(c, headMajor, true, dOutput)));
                }
            }
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(30));
    }

    [Theory]
    [InlineData(256, 64, false)]
    [InlineData(61, 32, true)]
    public void HeadMajor_ReferenceShapes_IsBitIdenticalToPackedTokenRows(int batch, int tokens, bool causal)
    {
        var c = new Case(batch, tokens, 4, 32, causal, 1, 95);
        MatrixView qkv = TestData.RandomMatrix(c.Rows, 3 * c.Width, 95, 2f);
        MatrixView headMajor = ToHeadMajor(c, qkv);
        MatrixView dOutput = TestData.RandomMatrix(c.Rows, c.Width, 96, 2f);
        AssertSame(With(true, true, 2, () => Run(c, qkv, false, dOutput)), With(true, true, 2, () => Run(c, headMajor, true, dOutput)));
    }

    [Fact]
    public void HeadMajor_PaddedRowsOrPartialExamples_Throw()
    {
        var padded = new MatrixView(new float[4 * 13], 0, 4, 12, 13);
        var rows = new MatrixView(new float[6 * 12], 6, 12);
        float[] probs = new float[64];
        var output = new MatrixView(new float[6 * 4], 6, 4);
        Assert.Throws<ArgumentException>(() => Attention.Forward(padded, true, 2, 2, 2, false, probs, new MatrixView(new float[16], 4, 4)));
        Assert.Throws<ArgumentException>(() => Attention.Forward(rows, true, 1, 4, 2, false, probs, output));
        Assert.Throws<ArgumentException>(() => Attention.ProjectHeadMajor(new Matrix(6, 3), new Matrix(3, 12), new float[12], rows, 4, 2));
        Assert.Throws<ArgumentException>(() => Attention.ProjectHeadMajor(new Matrix(6, 3), new Matrix(3, 12), new float[11], rows, 3, 2));
        Assert.Throws<ArgumentException>(() => Attention.ProjectHeadMajor(new Matrix(6, 3), new Matrix(3, 12), new float[12], rows, 3, 5));
        Assert.Throws<ArgumentException>(() => Attention.ProjectAndForward(new Matrix(6, 3), new Matrix(3, 12), new float[12], rows, 3, 3, 2, false, new float[54], output));
    }

    [Fact]
    public void Training_HeadMajorQkvOnAndOff_AreBitIdenticalForAnyThreadCount() =>
        TestTrainer.AssertSwitchIsBitIdenticalForAnyThreadCount(AttentionFusedTests.ReferenceWidths, on => Attention.HeadMajorQkv = on);
}
