using System;
using Aced.Core;
using Aced.Models.Layers;
using Aced.Models.Text;
using Aced.Models.Training;
using FsCheck;
using FsCheck.Fluent;

namespace Aced.Models.Tests;

/// <summary>
/// The fused per-head attention path (<see cref="Attention.FusedEnabled"/>, the managed provider's default) against the
/// batched path it replaces and a float64 reference of forward and backward.
/// </summary>
[Collection(GemmProviderCollection.Name)]
public sealed class FusedAttentionTests
{
    private readonly record struct Shape(int Batch, int Tokens, int Heads, int HeadDim, bool Causal)
    {
        public int Width => Heads * HeadDim;
    }

    private static Gen<Shape> Shapes() =>
        from batch in Gen.Choose(1, 5)
        from tokens in Gen.Choose(1, 40)
        from heads in Gen.Choose(1, 3)
        from hd in Gen.Choose(1, 20)
        from causal in Gen.Elements(false, true)
        select new Shape(batch, tokens, heads, hd, causal);

    /// <summary>Forward then backward: (output, probs, dqkv) with the fused path on or off.</summary>
    private static (float[] Output, float[] Probs, float[] DQkv) Run(Shape s, Matrix qkv, Matrix dOutput, bool fused)
    {
        bool saved = Attention.FusedEnabled;
        try
        {
            Attention.FusedEnabled = fused;
            int n = s.Batch * s.Tokens;
            float[] probs = new float[s.Batch * s.Heads * s.Tokens * s.Tokens];
            Array.Fill(probs, float.NaN);
            var output = new Matrix(n, s.Width);
            Array.Fill(output.Data, float.NaN);
            Attention.Forward(qkv, s.Batch, s.Tokens, s.Heads, s.Causal, probs, output);
            var dqkv = new Matrix(n, 3 * s.Width);
            Array.Fill(dqkv.Data, float.NaN);
            Attention.Backward(qkv, s.Batch, s.Tokens, s.Heads, probs, dOutput, dqkv, new float[probs.Length]);
            return (output.Data, probs, dqkv.Data);
        }
        finally
        {
            Attention.FusedEnabled = saved;
        }
    }

    [Fact]
    public void Fused_RandomShapes_IsBitIdenticalToBatchedPathForAnyThreadCount_AndMatchesDoubleReference()
    {
        int savedThreads = GemmControl.MaxDegreeOfParallelism;
        try
        {
            Prop.ForAll(Shapes().ToArbitrary(), Gen.Choose(0, int.MaxValue).ToArbitrary(), (s, seed) =>
            {
                int n = s.Batch * s.Tokens;
                Matrix qkv = TestData.RandomMatrix(n, 3 * s.Width, (ulong)seed, 2f);
                Matrix dOutput = TestData.RandomMatrix(n, s.Width, (ulong)seed + 1);
                GemmControl.MaxDegreeOfParallelism = 2;
                (float[] output, float[] probs, float[] dqkv) = Run(s, qkv, dOutput, fused: false);
                foreach (int threads in new[] { 1, 2, 3 })
                {
                    GemmControl.MaxDegreeOfParallelism = threads;
                    (float[] fo, float[] fp, float[] fd) = Run(s, qkv, dOutput, fused: true);
                    Assert.Equal(output, fo);
                    Assert.Equal(probs, fp);
                    Assert.Equal(dqkv, fd);
                }

                AssertMatchesReference(s, qkv, dOutput, output, probs, dqkv);
            }).Check(Config.QuickThrowOnFailure.WithMaxTest(40));
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = savedThreads;
        }
    }

    [Theory]
    [InlineData(256, 64, false)]
    [InlineData(256, 32, true)]
    public void Fused_ReferenceConfigShapes_IsBitIdenticalToBatchedPath(int batch, int tokens, bool causal)
    {
        var s = new Shape(batch, tokens, 4, 32, causal);
        int n = batch * tokens;
        Matrix qkv = TestData.RandomMatrix(n, 3 * s.Width, 91);
        Matrix dOutput = TestData.RandomMatrix(n, s.Width, 92);
        (float[] output, float[] probs, float[] dqkv) = Run(s, qkv, dOutput, fused: false);
        (float[] fo, float[] fp, float[] fd) = Run(s, qkv, dOutput, fused: true);
        Assert.Equal(output, fo);
        Assert.Equal(probs, fp);
        Assert.Equal(dqkv, fd);
    }

    [Fact]
    public void Training_AttentionKernelsOnAndOff_AreBitIdentical()
    {
        // Reference widths (head dim 32, T = 64 image, T = 32 causal text): the AVX2 6 x 16 tiles, the interleaved
        // softmax rows and the output prefetch on, then all three off (the previous kernels), at 2 threads.
        var config = new TwoTowerConfig
        {
            Image = new VisionTransformerConfig { ImageSize = 32, Channels = 3, PatchSize = 4, Width = 128, Depth = 1, Heads = 4, MlpWidth = 256, EmbeddingDimension = 64, Pooling = PoolingKind.GlobalAverage },
            Text = new TextTransformerConfig { VocabularySize = 64, ContextLength = 32, Width = 128, Depth = 1, Heads = 4, MlpWidth = 256, EmbeddingDimension = 64, Pooling = PoolingKind.FirstToken, Causal = true },
        };
        float[][] Run(bool on)
        {
            try
            {
                Attention.TunedKernels = on;
                return TestTrainer.TrainedParameters(config, 61, 6, 62, new ConstantSchedule(1e-3f), 2, 2);
            }
            finally
            {
                Attention.TunedKernels = true;
            }
        }

        float[][] off = Run(false);
        float[][] on = Run(true);
        for (int i = 0; i < off.Length; i++)
        {
            Assert.Equal(off[i], on[i]);
        }
    }

    /// <summary>
    /// Forward and backward in float64: P = softmax(Q K^T / sqrt(hd)) (causal mask), O = P V, dV = P^T dO,
    /// dS = P o (dO V^T - rowsum), dQ = dS K / sqrt(hd), dK = dS^T Q / sqrt(hd).
    /// </summary>
    private static void AssertMatchesReference(Shape s, Matrix qkv, Matrix dOutput, float[] output, float[] probs, float[] dqkv)
    {
        int t = s.Tokens, hd = s.HeadDim, d = s.Width;
        double scale = 1 / Math.Sqrt(hd);
        for (int e = 0; e < s.Batch; e++)
        {
            for (int h = 0; h < s.Heads; h++)
            {
                double[,] p = new double[t, t];
                double[,] ds = new double[t, t];
                for (int i = 0; i < t; i++)
                {
                    int valid = s.Causal ? i + 1 : t;
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < valid; j++)
                    {
                        double dot = 0;
                        for (int k = 0; k < hd; k++)
                        {
                            dot += (double)Q(qkv, s, e, h, i, k, 0) * Q(qkv, s, e, h, j, k, 1);
                        }

                        p[i, j] = dot * scale;
                        max = Math.Max(max, p[i, j]);
                    }

                    double z = 0;
                    for (int j = 0; j < valid; j++)
                    {
                        p[i, j] = Math.Exp(p[i, j] - max);
                        z += p[i, j];
                    }

                    double rowDot = 0;
                    for (int j = 0; j < valid; j++)
                    {
                        p[i, j] /= z;
                        double dp = 0;
                        for (int k = 0; k < hd; k++)
                        {
                            dp += (double)dOutput[(e * t) + i, (h * hd) + k] * Q(qkv, s, e, h, j, k, 2);
                        }

                        ds[i, j] = dp;
                        rowDot += p[i, j] * dp;
                    }

                    for (int j = 0; j < t; j++)
                    {
                        ds[i, j] = j < valid ? p[i, j] * (ds[i, j] - rowDot) : 0;
                        TestData.Close(p[i, j], probs[((((e * s.Heads) + h) * t) + i) * t + j], 1e-5, 1e-6, "probability");
                    }
                }

                for (int i = 0; i < t; i++)
                {
                    for (int k = 0; k < hd; k++)
                    {
                        double o = 0, dv = 0, dq = 0, dk = 0, oScale = 0, dvScale = 0, dqScale = 0, dkScale = 0;
                        for (int j = 0; j < t; j++)
                        {
                            o += p[i, j] * Q(qkv, s, e, h, j, k, 2);
                            oScale += Math.Abs(p[i, j] * Q(qkv, s, e, h, j, k, 2));
                            dv += p[j, i] * dOutput[(e * t) + j, (h * hd) + k];
                            dvScale += Math.Abs(p[j, i] * dOutput[(e * t) + j, (h * hd) + k]);
                            dq += ds[i, j] * Q(qkv, s, e, h, j, k, 1) * scale;
                            dqScale += Math.Abs(ds[i, j] * Q(qkv, s, e, h, j, k, 1) * scale);
                            dk += ds[j, i] * Q(qkv, s, e, h, j, k, 0) * scale;
                            dkScale += Math.Abs(ds[j, i] * Q(qkv, s, e, h, j, k, 0) * scale);
                        }

                        int row = (e * t) + i, column = (h * hd) + k;
                        TestData.Close(o, output[(row * d) + column], 1e-5, 1e-5 * (1 + oScale), "output");
                        TestData.Close(dv, dqkv[(row * 3 * d) + (2 * d) + column], 1e-5, 1e-5 * (1 + dvScale), "dV");
                        TestData.Close(dq, dqkv[(row * 3 * d) + column], 1e-4, 1e-4 * (1 + dqScale), "dQ");
                        TestData.Close(dk, dqkv[(row * 3 * d) + d + column], 1e-4, 1e-4 * (1 + dkScale), "dK");
                    }
                }
            }
        }
    }

    /// <summary>Element k of token i's head h in third <paramref name="third"/> (0 Q, 1 K, 2 V) of example e's qkv rows.</summary>
    private static float Q(Matrix qkv, Shape s, int e, int h, int i, int k, int third) => qkv[(e * s.Tokens) + i, (third * s.Width) + (h * s.HeadDim) + k];
}
