using System;
using Aced.Core;

namespace Aced.Losses.Tests;

/// <summary>
/// Tests that change process-wide GEMM state (the thread count) run in this collection, alone: a test running beside
/// them would see the state change under it (a steady-state allocation check, for one).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GemmGlobalStateCollection
{
    public const string Name = "GEMM global state";
}

[Collection(GemmGlobalStateCollection.Name)]
public class SigmoidContrastiveLossTests
{
    [Theory]
    [InlineData(1, 3, 10f, -10f)]
    [InlineData(3, 1, 10f, -10f)]
    [InlineData(7, 5, 10f, -10f)]
    [InlineData(17, 33, 100f, -20f)]
    [InlineData(40, 9, 1f, 0f)]
    [InlineData(150, 16, 25f, -5f)]
    public void Compute_RandomBatch_MatchesDoubleReference(int b, int d, float a, float c)
    {
        (Matrix img, Matrix txt) = TestData.Pair(b, d, (ulong)(b * 100 + d));
        var rows = new float[b];
        var cols = new float[b];
        var loss = new SigmoidContrastiveLoss();
        LossResult r = loss.Compute(img, txt, new LogitParameters(a, c), default, rows, cols);

        var refRows = new double[b];
        var refCols = new double[b];
        double expected = Reference.SigmoidLoss(Reference.ToDouble(img), Reference.ToDouble(txt), a, c, refRows, refCols);
        TestData.Close(expected, r.Loss, 1e-5, 1e-6, "loss");
        TestData.Close(refRows, rows, 1e-5, "rows");
        TestData.Close(refCols, cols, 1e-5, "cols");
    }

    [Theory]
    [InlineData(1, 4)]
    [InlineData(6, 5)]
    [InlineData(9, 3)]
    public void Compute_Gradients_MatchCentralFiniteDifferences(int b, int d)
    {
        (Matrix img, Matrix txt) = TestData.Pair(b, d, 77);
        const float a = 7.5f, c = -3f;
        var dImg = new Matrix(b, d);
        var dTxt = new Matrix(b, d);
        LossResult r = new SigmoidContrastiveLoss().Compute(img, txt, new LogitParameters(a, c), new EmbeddingGradients(dImg, dTxt));

        double[,] x = Reference.ToDouble(img), y = Reference.ToDouble(txt);
        TestData.Close(Reference.FiniteDifference(x, () => Reference.SigmoidLoss(x, y, a, c)), dImg, 1e-4, "dImage");
        TestData.Close(Reference.FiniteDifference(y, () => Reference.SigmoidLoss(x, y, a, c)), dTxt, 1e-4, "dText");
        TestData.Close(Reference.FiniteDifference(s => Reference.SigmoidLoss(x, y, s, c), a), r.ScaleGradient, 1e-4, 1e-3, "dL/da");
        TestData.Close(Reference.FiniteDifference(t => Reference.SigmoidLoss(x, y, Math.Exp(t), c), Math.Log(a)), r.LogScaleGradient, 1e-4, 1e-3, "dL/dt");
        TestData.Close(Reference.FiniteDifference(cc => Reference.SigmoidLoss(x, y, a, cc), c), r.BiasGradient, 1e-4, 1e-3, "dL/dc");
    }

    [Fact]
    public void Compute_RowChunks_EqualFullMatrixResult()
    {
        const int b = 53, d = 12;
        (Matrix img, Matrix txt) = TestData.Pair(b, d, 5);
        var p = new LogitParameters(10f, -10f);
        var fullGrad = (new Matrix(b, d), new Matrix(b, d));
        var chunkGrad = (new Matrix(b, d), new Matrix(b, d));
        var fullCols = new float[b];
        var chunkCols = new float[b];
        LossResult full = new SigmoidContrastiveLoss().Compute(img, txt, p, new EmbeddingGradients(fullGrad.Item1, fullGrad.Item2), default, fullCols);
        var chunked = new SigmoidContrastiveLoss(new LossWorkspaceOptions { RowChunkSize = 8 });
        LossResult part = chunked.Compute(img, txt, p, new EmbeddingGradients(chunkGrad.Item1, chunkGrad.Item2), default, chunkCols);
        TestData.Close(full.Loss, part.Loss, 1e-6, 1e-6, "loss");
        TestData.Close(full.ScaleGradient, part.ScaleGradient, 1e-5, 1e-6, "dL/da");
        TestData.Close(Reference.ToDouble(fullGrad.Item1), chunkGrad.Item1, 1e-5, "dImage");
        TestData.Close(Reference.ToDouble(fullGrad.Item2), chunkGrad.Item2, 1e-5, "dText");
        for (int j = 0; j < b; j++)
        {
            TestData.Close(fullCols[j], chunkCols[j], 1e-5, 1e-6, "cols");
        }
    }

    [Fact]
    public void Compute_ThreadCount_DoesNotChangeBits()
    {
        const int b = 257, d = 20;
        (Matrix img, Matrix txt) = TestData.Pair(b, d, 9);
        var p = new LogitParameters(10f, -10f);
        int saved = GemmControl.MaxDegreeOfParallelism;
        try
        {
            GemmControl.MaxDegreeOfParallelism = 1;
            var g1 = new Matrix(b, d);
            var cols1 = new float[b];
            LossResult r1 = new SigmoidContrastiveLoss().Compute(img, txt, p, new EmbeddingGradients(g1, default), default, cols1);
            GemmControl.MaxDegreeOfParallelism = 4;
            var g2 = new Matrix(b, d);
            var cols2 = new float[b];
            LossResult r2 = new SigmoidContrastiveLoss().Compute(img, txt, p, new EmbeddingGradients(g2, default), default, cols2);
            Assert.Equal(r1.Loss, r2.Loss);
            Assert.Equal(r1.ScaleGradient, r2.ScaleGradient);
            Assert.Equal(g1.Data, g2.Data);
            Assert.Equal(cols1, cols2);
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = saved;
        }
    }

    [Fact]
    public void Compute_AccumulateWithWeight_AddsWeightedGradient()
    {
        const int b = 11, d = 6;
        (Matrix img, Matrix txt) = TestData.Pair(b, d, 3);
        var p = new LogitParameters(10f, -10f);
        var plain = new Matrix(b, d);
        var loss = new SigmoidContrastiveLoss();
        loss.Compute(img, txt, p, new EmbeddingGradients(plain, default));
        var acc = new Matrix(b, d);
        Array.Fill(acc.Data, 1f);
        loss.Compute(img, txt, p, new EmbeddingGradients(acc, default, 0.5f, accumulate: true));
        for (int i = 0; i < acc.Data.Length; i++)
        {
            TestData.Close(1 + (0.5 * plain.Data[i]), acc.Data[i], 1e-6, 1e-6, "accumulated");
        }
    }

    [Fact]
    public void Compute_ExtremeLogits_StayFinite()
    {
        const int b = 20, d = 4;
        (Matrix img, Matrix txt) = TestData.Pair(b, d, 4);
        Matrix big = TestData.Random(b, d, 4, 9, normalize: false);
        foreach ((Matrix x, Matrix y, LogitParameters p) in new[]
        {
            (img, txt, new LogitParameters(100f, -20f)),
            (img, txt, new LogitParameters(1e-30f, 20f)),
            (big, big, new LogitParameters(1e6f, -1e6f)),
        })
        {
            var g = new Matrix(b, d);
            var rows = new float[b];
            LossResult r = new SigmoidContrastiveLoss().Compute(x, y, p, new EmbeddingGradients(g, default), rows);
            Assert.True(double.IsFinite(r.Loss) && double.IsFinite(r.ScaleGradient) && double.IsFinite(r.BiasGradient), r.ToString());
            Assert.DoesNotContain(g.Data, v => !float.IsFinite(v));
            Assert.DoesNotContain(rows, v => !float.IsFinite(v) || v < 0);
        }
    }

    [Fact]
    public void Compute_SteadyState_AllocatesNothing()
    {
        const int b = 96, d = 16;
        (Matrix img, Matrix txt) = TestData.Pair(b, d, 6);
        var g1 = new Matrix(b, d);
        var g2 = new Matrix(b, d);
        var rows = new float[b];
        var cols = new float[b];
        var loss = new SigmoidContrastiveLoss();
        var p = new LogitParameters(10f, -10f);
        var grads = new EmbeddingGradients(g1, g2);

        long allocated = SteadyStateAllocation.MinimumBytes(() => loss.Compute(img, txt, p, grads, rows, cols), callsPerRound: 1, warmUp: 1, currentThread: true);

        Assert.Equal(0, allocated);
    }
}
