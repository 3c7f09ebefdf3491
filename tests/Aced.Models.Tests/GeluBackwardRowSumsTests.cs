using System;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Aced.Core;
using Aced.Models.Layers;

namespace Aced.Models.Tests;

/// <summary>
/// The GELU backward with the fc1 bias sums runs each row through one software-pipelined pass that also adds dx to the
/// chunk's sums (<c>RowMath.GeluBackwardRowSums</c>, switch <c>RowOps.FusedGeluSums</c>): dx and the sums must keep the
/// bits of <c>RowMath.GeluBackward</c> followed by <c>TensorPrimitives.Add</c>, for every row length (pipeline prologue,
/// steady state, drain, vector and scalar tails), in place, and through the layers at any thread count.
/// </summary>
[Collection(GemmProviderCollection.Name)]
public class GeluBackwardRowSumsTests
{
    public static TheoryData<int> Lengths()
    {
        var data = new TheoryData<int>();
        for (int n = 0; n <= 41; n++)
        {
            data.Add(n);
        }

        foreach (int n in new[] { 63, 64, 65, 128, 131, 512, 515 })
        {
            data.Add(n);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void GeluBackwardRowSums_AnyLength_IsGeluBackwardThenAddBitForBit(int n)
    {
        for (ulong seed = 0; seed < 3; seed++)
        {
            float[] x = TestData.Random(n, 500 + seed, 4f);
            float[] dg = TestData.Random(n, 600 + seed);
            float[] sums = TestData.Random(n, 700 + seed, 10f);
            Extremes(x);
            float[] expectedDx = new float[n];
            float[] expectedSums = (float[])sums.Clone();
            RowMath.GeluBackward(x, dg, expectedDx);
            TensorPrimitives.Add(expectedSums, expectedDx, expectedSums);

            float[] dx = new float[n];
            RowMath.GeluBackwardRowSums(x, dg, dx, sums);
            AssertBits(expectedDx, dx, $"dx n={n}");
            AssertBits(expectedSums, sums, $"sums n={n}");

            // In place (dg and dx one row, as the layers call it).
            float[] inPlace = (float[])dg.Clone();
            float[] sums2 = TestData.Random(n, 700 + seed, 10f);
            RowMath.GeluBackwardRowSums(x, inPlace, inPlace, sums2);
            AssertBits(expectedDx, inPlace, $"in-place dx n={n}");
            AssertBits(expectedSums, sums2, $"in-place sums n={n}");
        }
    }

    [Theory]
    [InlineData(1, 5)]
    [InlineData(257, 13)]
    [InlineData(600, 131)]
    [InlineData(513, 512)]
    public void GeluBackwardWithSums_Fused_BitIdenticalToSeparatePassesAtAnyThreadCount(int rows, int columns)
    {
        Matrix x = TestData.RandomMatrix(rows, columns, 41, 3f);
        Extremes(x.Data);
        Matrix dy = TestData.RandomMatrix(rows, columns, 42);
        float[] seedSums = TestData.Random(columns, 43);
        (float[] dx, float[] sums) reference = Run(x, dy, seedSums, false, 1);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            (float[] dx, float[] sums) fused = Run(x, dy, seedSums, true, threads);
            AssertBits(reference.dx, fused.dx, $"dx rows={rows} columns={columns} threads={threads}");
            AssertBits(reference.sums, fused.sums, $"sums rows={rows} columns={columns} threads={threads}");
        }
    }

    [Fact]
    public void BackwardThroughGelu_Fused_BitIdenticalToSeparatePassesAtAnyThreadCount()
    {
        // The concurrent backward (fc2's shape at a small batch): each dx block applies the GELU backward and its sums.
        int k = 1100;
        Matrix hidden = TestData.RandomMatrix(k, 512, 51, 2f);
        var gelu = new Matrix(k, 512);
        RowOps.GeluForward(hidden, gelu);
        Matrix w = TestData.RandomMatrix(512, 128, 52);
        Matrix dy = TestData.RandomMatrix(k, 128, 53);
        float[] seedHiddenB = TestData.Random(512, 54);
        float[]? reference = null;
        float[]? referenceSums = null;
        int saved = GemmControl.MaxDegreeOfParallelism;
        try
        {
            foreach (bool fused in new[] { false, true })
            {
                RowOps.FusedGeluSums = fused;
                foreach (int threads in new[] { 1, 2, 3 })
                {
                    GemmControl.MaxDegreeOfParallelism = threads;
                    var dHidden = new Matrix(k, 512);
                    float[] dHiddenB = (float[])seedHiddenB.Clone();
                    Linear.BackwardThroughGelu(gelu, hidden, w, dy, dHidden, new Matrix(512, 128), Linear.RowView(new float[128]), dHiddenB);
                    reference ??= dHidden.Data;
                    referenceSums ??= dHiddenB;
                    AssertBits(reference, dHidden.Data, $"dHidden fused={fused} threads={threads}");
                    AssertBits(referenceSums, dHiddenB, $"hidden bias gradient fused={fused} threads={threads}");
                }
            }
        }
        finally
        {
            RowOps.FusedGeluSums = true;
            GemmControl.MaxDegreeOfParallelism = saved;
        }
    }

    private static (float[] Dx, float[] Sums) Run(Matrix x, Matrix dy, float[] seedSums, bool fused, int threads)
    {
        int saved = AcedControl.MaxDegreeOfParallelism;
        try
        {
            RowOps.FusedGeluSums = fused;
            AcedControl.MaxDegreeOfParallelism = threads;
            var dx = new Matrix(x.Rows, x.Columns);
            float[] sums = (float[])seedSums.Clone();
            RowOps.GeluBackward(x, dy, dx, sums);
            return (dx.Data, sums);
        }
        finally
        {
            RowOps.FusedGeluSums = true;
            AcedControl.MaxDegreeOfParallelism = saved;
        }
    }

    /// <summary>Arguments where the exponential overflows, underflows to denormals or to 0, and a NaN.</summary>
    private static void Extremes(float[] x)
    {
        float[] special = { 100f, -100f, 9.5f, -44f, 12f, float.NaN, 0f, -0f, 3e-39f };
        for (int i = 0; i < special.Length && (i * 7) + 3 < x.Length; i++)
        {
            x[(i * 7) + 3] = special[i];
        }
    }

    private static void AssertBits(float[] expected, float[] actual, string label)
    {
        Assert.True(MemoryMarshal.Cast<float, int>(expected).SequenceEqual(MemoryMarshal.Cast<float, int>(actual)), label);
    }
}
