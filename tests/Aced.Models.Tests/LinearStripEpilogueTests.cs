using System;
using Aced.Core;
using Aced.Models.Layers;
using Aced.Models.Training;

namespace Aced.Models.Tests;

/// <summary>
/// On AVX2 the dense layers' forward epilogue (bias, residual, GELU, the next layer norm) takes the GEMM's 6-row strips
/// one by one with the next strip's rows prefetched (the switches GemmKernels.EpilogueStripDelivery and
/// GemmKernels.EpilogueStripPrefetch of Aced.Core). Every output must keep the bits of the band-tile path, for any
/// thread count, and training must give the same parameters either way.
/// </summary>
[Collection(GemmProviderCollection.Name)]
public class LinearStripEpilogueTests
{
    private sealed record Outputs(float[] Y, float[] Residual, float[] Hidden, float[] Gelu, float[] Norm, float[] Mean, float[] Rstd);

    /// <summary>An internal static bool switch of Aced.Core's GemmKernels (this project sees only Aced.Models' internals).</summary>
    private static System.Reflection.PropertyInfo Switch(string name) =>
        typeof(Gemm).Assembly.GetType("Aced.Core.GemmKernels", throwOnError: true)!.GetProperty(name, System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;

    private static readonly System.Reflection.PropertyInfo Delivery = Switch("EpilogueStripDelivery");

    private static readonly System.Reflection.PropertyInfo Prefetch = Switch("EpilogueStripPrefetch");

    private static void Set(bool delivery, bool prefetch)
    {
        Delivery.SetValue(null, delivery);
        Prefetch.SetValue(null, prefetch);
    }

    private static Outputs Forwards(int n, int inDim, int outDim, bool delivery, bool prefetch, int threads)
    {
        int savedThreads = GemmControl.MaxDegreeOfParallelism;
        double savedThreshold = GemmControl.ParallelThreshold;
        try
        {
            Set(delivery, prefetch);
            GemmControl.MaxDegreeOfParallelism = threads;
            GemmControl.ParallelThreshold = 0;
            Matrix x = TestData.RandomMatrix(n, inDim, 61);
            Matrix w = TestData.RandomMatrix(inDim, outDim, 62);
            float[] b = TestData.Random(outDim, 63);
            Matrix residual = TestData.RandomMatrix(n, outDim, 64, 3f);
            float[] gamma = TestData.Random(outDim, 65);
            float[] beta = TestData.Random(outDim, 66);
            var y = new Matrix(n, outDim);
            var withResidual = new Matrix(n, outDim);
            var hidden = new Matrix(n, outDim);
            var gelu = new Matrix(n, outDim);
            var norm = new Matrix(n, outDim);
            float[] mean = new float[n];
            float[] rstd = new float[n];
            Array.Fill(norm.Data, float.NaN);
            Linear.Forward(x, w, b, y);
            Linear.ForwardResidual(x, w, b, residual, withResidual, new LayerNormTarget(gamma, beta, norm, mean, rstd));
            Linear.ForwardGelu(x, w, b, hidden, gelu);
            return new Outputs(y.Data, withResidual.Data, hidden.Data, gelu.Data, norm.Data, mean, rstd);
        }
        finally
        {
            Set(true, true);
            GemmControl.MaxDegreeOfParallelism = savedThreads;
            GemmControl.ParallelThreshold = savedThreshold;
        }
    }

    private static void AssertSame(Outputs expected, Outputs actual, string label)
    {
        Assert.True(expected.Y.AsSpan().SequenceEqual(actual.Y), "y " + label);
        Assert.True(expected.Residual.AsSpan().SequenceEqual(actual.Residual), "y + residual " + label);
        Assert.True(expected.Hidden.AsSpan().SequenceEqual(actual.Hidden), "hidden " + label);
        Assert.True(expected.Gelu.AsSpan().SequenceEqual(actual.Gelu), "gelu " + label);
        Assert.True(expected.Norm.AsSpan().SequenceEqual(actual.Norm), "norm " + label);
        Assert.True(expected.Mean.AsSpan().SequenceEqual(actual.Mean), "mean " + label);
        Assert.True(expected.Rstd.AsSpan().SequenceEqual(actual.Rstd), "rstd " + label);
    }

    [Theory]
    [InlineData(131, 9, 290)] // two column tiles, a 3-row last band
    [InlineData(200, 128, 384)] // the qkv width: two column tiles of 192
    [InlineData(70, 512, 128)] // fc2's inner width: two k blocks, one column tile
    [InlineData(257, 48, 512)] // fc1's width: two column tiles of 256
    [InlineData(5, 7, 3)] // a single partial strip
    public void Linear_Forwards_StripDeliveryAndPrefetch_BitIdenticalToBandTilesAtAnyThreadCount(int n, int inDim, int outDim)
    {
        // The band tiles on one thread (the GEMM tests prove them equal to the scalar kernel's); on this AVX2 path the
        // switches select the strip delivery, elsewhere they change nothing.
        Outputs bands = Forwards(n, inDim, outDim, false, false, 1);
        Assert.DoesNotContain(bands.Norm, float.IsNaN);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            string label = $"n={n} in={inDim} out={outDim} threads={threads}";
            AssertSame(bands, Forwards(n, inDim, outDim, false, false, threads), "band tiles " + label);
            AssertSame(bands, Forwards(n, inDim, outDim, true, false, threads), "strips " + label);
            AssertSame(bands, Forwards(n, inDim, outDim, true, true, threads), "strips + prefetch " + label);
        }
    }

    [Fact]
    public void Training_StripEpiloguesOnAndOff_AreBitIdentical()
    {
        // Reference widths (128, MLP 512: the qkv, out, fc1 and fc2 shapes with every epilogue form), 2 threads.
        var config = new TwoTowerConfig
        {
            Image = new VisionTransformerConfig { ImageSize = 32, Channels = 3, PatchSize = 4, Width = 128, Depth = 2, Heads = 4, MlpWidth = 512, EmbeddingDimension = 64, Pooling = PoolingKind.GlobalAverage },
            Text = new TextTransformerConfig { VocabularySize = 64, ContextLength = 32, Width = 128, Depth = 1, Heads = 4, MlpWidth = 512, EmbeddingDimension = 64, Pooling = PoolingKind.FirstToken, Causal = true },
        };
        float[][] Run(bool on)
        {
            try
            {
                Set(on, on);
                return TestTrainer.TrainedParameters(config, 71, 6, 72, new ConstantSchedule(1e-3f), 2, 2);
            }
            finally
            {
                Set(true, true);
            }
        }

        float[][] off = Run(false);
        float[][] on = Run(true);
        for (int i = 0; i < off.Length; i++)
        {
            Assert.Equal(off[i], on[i]);
        }
    }
}
