using System;
using Aced.Core;

namespace Aced.Losses.Tests;

public class SoftmaxContrastiveLossTests
{
    [Theory]
    [InlineData(1, 3, 14.285714f, 0f, 0)]
    [InlineData(2, 1, 14.285714f, 0f, 0)]
    [InlineData(7, 5, 14.285714f, 0f, 0)]
    [InlineData(17, 33, 100f, -20f, 0)]
    [InlineData(70, 9, 1f, 3f, 0)]
    [InlineData(150, 16, 30f, 0f, 0)]
    [InlineData(17, 33, 100f, -20f, 4)]
    [InlineData(70, 9, 14.285714f, 0f, 13)]
    public void Compute_RandomBatch_MatchesDoubleReference(int b, int d, float a, float c, int chunk)
    {
        (Matrix img, Matrix txt) = TestData.Pair(b, d, (ulong)(b * 31 + d));
        var per = new float[b];
        var loss = new SoftmaxContrastiveLoss(new LossWorkspaceOptions { RowChunkSize = chunk });
        LossResult r = loss.Compute(img, txt, new LogitParameters(a, c), default, per);
        var refPer = new double[b];
        double expected = Reference.SoftmaxLoss(Reference.ToDouble(img), Reference.ToDouble(txt), a, c, refPer);
        TestData.Close(expected, r.Loss, 1e-5, 0.05, "loss");
        TestData.Close(refPer, per, 1e-5, "perExample");
    }

    [Theory]
    [InlineData(1, 4, 0)]
    [InlineData(6, 5, 0)]
    [InlineData(9, 3, 0)]
    [InlineData(9, 3, 2)]
    public void Compute_Gradients_MatchCentralFiniteDifferences(int b, int d, int chunk)
    {
        (Matrix img, Matrix txt) = TestData.Pair(b, d, 78);
        const float a = 12f, c = 0.5f;
        var dImg = new Matrix(b, d);
        var dTxt = new Matrix(b, d);
        var loss = new SoftmaxContrastiveLoss(new LossWorkspaceOptions { RowChunkSize = chunk });
        LossResult r = loss.Compute(img, txt, new LogitParameters(a, c), new EmbeddingGradients(dImg, dTxt));

        double[,] x = Reference.ToDouble(img), y = Reference.ToDouble(txt);
        TestData.Close(Reference.FiniteDifference(x, () => Reference.SoftmaxLoss(x, y, a, c)), dImg, 1e-4, "dImage");
        TestData.Close(Reference.FiniteDifference(y, () => Reference.SoftmaxLoss(x, y, a, c)), dTxt, 1e-4, "dText");
        TestData.Close(Reference.FiniteDifference(s => Reference.SoftmaxLoss(x, y, s, c), a), r.ScaleGradient, 1e-4, 1e-3, "dL/da");
        TestData.Close(Reference.FiniteDifference(t => Reference.SoftmaxLoss(x, y, Math.Exp(t), c), Math.Log(a)), r.LogScaleGradient, 1e-4, 1e-3, "dL/dt");
        Assert.True(Math.Abs(r.BiasGradient) < 1e-5, $"dL/dc should vanish, was {r.BiasGradient}");
    }

    [Theory]
    [InlineData(64, 16, 0)]
    [InlineData(64, 16, 7)]
    [InlineData(33, 9, 0)]
    public void Compute_AnyBias_BiasGradientIsExactlyZero(int b, int d, int chunk)
    {
        // Softmax is shift-invariant, so dL/dc = 0 analytically; summing the b x b gradient matrix in float
        // left a residue of order 1e-7 that users compare against PyTorch (where c gets no gradient at all).
        (Matrix img, Matrix txt) = TestData.Pair(b, d, 4242);
        var loss = new SoftmaxContrastiveLoss(new LossWorkspaceOptions { RowChunkSize = chunk });
        foreach (float c in new[] { 0f, -10f, 3.5f })
        {
            LossResult r = loss.Compute(img, txt, new LogitParameters(1f / 0.07f, c), new EmbeddingGradients(new Matrix(b, d), new Matrix(b, d)));
            Assert.Equal(0.0, r.BiasGradient);
        }
    }

    [Fact]
    public void Compute_DirectionalValues_AverageToPerExample()
    {
        const int b = 23, d = 7;
        (Matrix img, Matrix txt) = TestData.Pair(b, d, 8);
        var per = new float[b];
        var i2t = new float[b];
        var t2i = new float[b];
        LossResult r = new SoftmaxContrastiveLoss().Compute(img, txt, LogitParameters.SoftmaxDefault, default, per, i2t, t2i);
        double mean = 0;
        for (int i = 0; i < b; i++)
        {
            TestData.Close(0.5 * (i2t[i] + t2i[i]), per[i], 1e-6, 1e-6, "per");
            mean += per[i];
        }

        TestData.Close(r.Loss, mean / b, 1e-6, 1e-6, "mean");
    }

    [Fact]
    public void Compute_SteadyState_AllocatesNothing()
    {
        const int b = 80, d = 16;
        (Matrix img, Matrix txt) = TestData.Pair(b, d, 6);
        var grads = new EmbeddingGradients(new Matrix(b, d), new Matrix(b, d));
        var per = new float[b];
        var loss = new SoftmaxContrastiveLoss();

        long allocated = SteadyStateAllocation.MinimumBytes(() => loss.Compute(img, txt, LogitParameters.SoftmaxDefault, grads, per), callsPerRound: 1, warmUp: 1, currentThread: true);

        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Compute_ExtremeLogits_StayFinite()
    {
        const int b = 30, d = 4;
        Matrix big = TestData.Random(b, d, 4, 9, normalize: false);
        foreach (var p in new[] { new LogitParameters(100f, -20f), new LogitParameters(1e8f, 0f), new LogitParameters(1e-20f, 5f) })
        {
            var g = new Matrix(b, d);
            var per = new float[b];
            LossResult r = new SoftmaxContrastiveLoss().Compute(big, TestData.Random(b, d, 5, 1, normalize: false), p, new EmbeddingGradients(g, default), per);
            Assert.True(double.IsFinite(r.Loss) && double.IsFinite(r.ScaleGradient), r.ToString());
            Assert.DoesNotContain(g.Data, v => !float.IsFinite(v));
            Assert.DoesNotContain(per, v => !float.IsFinite(v) || v < 0);
        }
    }
}

[Collection(GemmGlobalStateCollection.Name)]
public class DeterminismTests
{
    [Fact]
    public void SoftmaxAndKd_ThreadCount_DoesNotChangeBits()
    {
        const int b = 300, d = 24;
        (Matrix img, Matrix txt) = TestData.Pair(b, d, 19);
        (Matrix ti, Matrix tt) = TestData.Pair(b, 10, 20);
        var teacher = new TeacherEmbeddings(ti, tt, new LogitParameters(40f));
        int saved = GemmControl.MaxDegreeOfParallelism;
        try
        {
            var results = new (double Softmax, double Kd, float[] G, float[] Per)[2];
            for (int run = 0; run < 2; run++)
            {
                GemmControl.MaxDegreeOfParallelism = run == 0 ? 1 : 3;
                var g = new Matrix(b, d);
                var per = new float[b];
                double softmax = new SoftmaxContrastiveLoss().Compute(img, txt, LogitParameters.SoftmaxDefault, new EmbeddingGradients(g, default), per).Loss;
                double kd = new SoftmaxDistillationLoss().Compute(img, txt, LogitParameters.SoftmaxDefault, teacher, new EmbeddingGradients(default, g, 1f, accumulate: true)).Loss;
                results[run] = (softmax, kd, g.Data, per);
            }

            Assert.Equal(results[0].Softmax, results[1].Softmax);
            Assert.Equal(results[0].Kd, results[1].Kd);
            Assert.Equal(results[0].G, results[1].G);
            Assert.Equal(results[0].Per, results[1].Per);
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = saved;
        }
    }
}
