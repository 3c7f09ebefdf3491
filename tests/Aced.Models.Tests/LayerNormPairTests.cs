using System;
using Aced.Core;
using Aced.Models.Layers;

namespace Aced.Models.Tests;

/// <summary>
/// The fused layer norm of the residual epilogues normalises a strip's rows two at a time
/// (<c>RowMath.LayerNormPair</c>, switch <c>LayerNormTarget.PairedRows</c>): every row and its statistics must keep the
/// bits of <c>RowMath.LayerNorm</c>, and the layers' outputs those of the row-by-row path at any thread count.
/// </summary>
[Collection(GemmProviderCollection.Name)]
public class LayerNormPairTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(13)]
    [InlineData(64)]
    [InlineData(128)]
    [InlineData(131)]
    [InlineData(512)]
    public void LayerNormPair_IsTwoLayerNormsBitForBit(int d)
    {
        for (ulong seed = 0; seed < 4; seed++)
        {
            // Rows of different scales and offsets, so the two rows' statistics differ.
            float[] x0 = TestData.Random(d, 100 + seed, 3f);
            float[] x1 = TestData.Random(d, 200 + seed, 0.01f);
            for (int i = 0; i < d; i++)
            {
                x1[i] += 5f;
            }

            float[] gamma = TestData.Random(d, 300 + seed);
            float[] beta = TestData.Random(d, 400 + seed);
            float[] expected0 = new float[d];
            float[] expected1 = new float[d];
            (float mean0, float rstd0) = RowMath.LayerNorm(x0, gamma, beta, expected0);
            (float mean1, float rstd1) = RowMath.LayerNorm(x1, gamma, beta, expected1);
            float[] y0 = new float[d];
            float[] y1 = new float[d];
            (float m0, float r0, float m1, float r1) = RowMath.LayerNormPair(x0, x1, gamma, beta, y0, y1);
            Assert.Equal(BitConverter.SingleToInt32Bits(mean0), BitConverter.SingleToInt32Bits(m0));
            Assert.Equal(BitConverter.SingleToInt32Bits(rstd0), BitConverter.SingleToInt32Bits(r0));
            Assert.Equal(BitConverter.SingleToInt32Bits(mean1), BitConverter.SingleToInt32Bits(m1));
            Assert.Equal(BitConverter.SingleToInt32Bits(rstd1), BitConverter.SingleToInt32Bits(r1));
            Assert.True(expected0.AsSpan().SequenceEqual(y0), $"row 0, d={d}");
            Assert.True(expected1.AsSpan().SequenceEqual(y1), $"row 1, d={d}");
        }
    }

    [Theory]
    [InlineData(131, 9, 290)] // two column tiles, a 3-row last band: an odd row left for the single-row norm
    [InlineData(200, 128, 128)] // the attention output's shape
    [InlineData(70, 512, 128)] // fc2's shape: two k blocks
    [InlineData(5, 7, 3)] // one partial strip
    public void ForwardResidualWithNorm_PairedRows_BitIdenticalToRowByRowAtAnyThreadCount(int n, int inDim, int outDim)
    {
        (float[] Y, float[] Norm, float[] Mean, float[] Rstd) reference = Run(n, inDim, outDim, false, 1);
        Assert.DoesNotContain(reference.Norm, float.IsNaN);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            (float[] Y, float[] Norm, float[] Mean, float[] Rstd) paired = Run(n, inDim, outDim, true, threads);
            string label = $"n={n} in={inDim} out={outDim} threads={threads}";
            Assert.True(reference.Y.AsSpan().SequenceEqual(paired.Y), "y " + label);
            Assert.True(reference.Norm.AsSpan().SequenceEqual(paired.Norm), "norm " + label);
            Assert.True(reference.Mean.AsSpan().SequenceEqual(paired.Mean), "mean " + label);
            Assert.True(reference.Rstd.AsSpan().SequenceEqual(paired.Rstd), "rstd " + label);
        }
    }

    private static (float[] Y, float[] Norm, float[] Mean, float[] Rstd) Run(int n, int inDim, int outDim, bool paired, int threads)
    {
        int savedThreads = GemmControl.MaxDegreeOfParallelism;
        double savedThreshold = GemmControl.ParallelThreshold;
        try
        {
            LayerNormTarget.PairedRows = paired;
            GemmControl.MaxDegreeOfParallelism = threads;
            GemmControl.ParallelThreshold = 0;
            Matrix x = TestData.RandomMatrix(n, inDim, 81);
            Matrix w = TestData.RandomMatrix(inDim, outDim, 82);
            float[] b = TestData.Random(outDim, 83);
            Matrix residual = TestData.RandomMatrix(n, outDim, 84, 3f);
            float[] gamma = TestData.Random(outDim, 85);
            float[] beta = TestData.Random(outDim, 86);
            var y = new Matrix(n, outDim);
            var norm = new Matrix(n, outDim);
            float[] mean = new float[n];
            float[] rstd = new float[n];
            Array.Fill(norm.Data, float.NaN);
            Linear.ForwardResidual(x, w, b, residual, y, new LayerNormTarget(gamma, beta, norm, mean, rstd));
            return (y.Data, norm.Data, mean, rstd);
        }
        finally
        {
            LayerNormTarget.PairedRows = true;
            GemmControl.MaxDegreeOfParallelism = savedThreads;
            GemmControl.ParallelThreshold = savedThreshold;
        }
    }
}
