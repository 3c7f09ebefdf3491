using System;
using Aced.Core;
using Aced.Models.Layers;

namespace Aced.Models.Tests;

/// <summary>
/// The forward inside the qkv projection prefetches what each next head writes (<see cref="Attention.PrefetchHeadTargets"/>):
/// a hint only, so qkv, the probabilities and the output keep every bit with it on or off, at 1, 2 and 3 threads, for
/// an output view with an offset and padded rows (whose padding must stay untouched) and exactly sized probabilities.
/// </summary>
[Collection(GemmProviderCollection.Name)]
public sealed class AttentionTargetPrefetchTests
{
    [Theory]
    [InlineData(5, 64, 4, 32, false)]
    [InlineData(7, 32, 4, 32, true)]
    [InlineData(3, 13, 3, 8, false)]
    [InlineData(2, 40, 1, 24, true)]
    public void ProjectAndForward_HeadTargetPrefetchOnAndOff_AreBitIdenticalForAnyThreadCount(int batch, int tokens, int heads, int headDim, bool causal)
    {
        int width = heads * headDim;
        int n = batch * tokens;
        Matrix x = TestData.RandomMatrix(n, width, 91, 2f);
        Matrix w = TestData.RandomMatrix(width, 3 * width, 92, 0.5f);
        float[] bias = TestData.Random(3 * width, 93);
        (float[] Output, float[] Probs, float[] Qkv) Run(bool on, int threads)
        {
            int savedThreads = GemmControl.MaxDegreeOfParallelism;
            try
            {
                Attention.PrefetchHeadTargets = on;
                GemmControl.MaxDegreeOfParallelism = threads;
                var qkv = new Matrix(n, 3 * width);
                float[] outputData = new float[5 + (n * (width + 7))];
                Array.Fill(outputData, float.NaN);
                var output = new MatrixView(outputData, 5, n, width, width + 7);
                float[] probs = new float[batch * heads * tokens * tokens];
                Array.Fill(probs, float.NaN);
                Attention.ProjectAndForward(x, w, bias, qkv, batch, tokens, heads, causal, probs, output);
                return (outputData, probs, qkv.Data);
            }
            finally
            {
                Attention.PrefetchHeadTargets = true;
                GemmControl.MaxDegreeOfParallelism = savedThreads;
            }
        }

        (float[] output, float[] probs, float[] qkv) = Run(false, 1);
        Assert.True(float.IsNaN(output[4]) && float.IsNaN(output[5 + width]), "the view's padding was written");
        foreach (int threads in new[] { 1, 2, 3 })
        {
            (float[] o, float[] p, float[] q) = Run(true, threads);
            Assert.Equal(qkv, q);
            Assert.Equal(probs, p);
            Assert.Equal(output, o);
        }
    }

    [Fact]
    public void Training_HeadTargetPrefetchOnAndOff_AreBitIdenticalForAnyThreadCount() =>
        TestTrainer.AssertSwitchIsBitIdenticalForAnyThreadCount(AttentionFusedTests.ReferenceWidths, on => Attention.PrefetchHeadTargets = on);
}
