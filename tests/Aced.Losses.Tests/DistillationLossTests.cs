using System;
using Aced.Core;

namespace Aced.Losses.Tests;

public class DistillationLossTests
{
    private static (Matrix Img, Matrix Txt) Teacher(int b, int d, ulong seed) => TestData.Pair(b, d, seed, 0.5f);

    [Theory]
    [InlineData(1, 3, 5, 1, 0)]
    [InlineData(5, 4, 6, 1, 0)]
    [InlineData(19, 8, 3, 1, 0)]
    [InlineData(19, 8, 3, 2, 0)]
    [InlineData(19, 8, 3, 3, 4)]
    [InlineData(130, 16, 24, 2, 0)]
    public void SoftmaxKd_RandomBatch_MatchesDoubleReference(int b, int ds, int dt, int teachers, int chunk)
    {
        (Matrix img, Matrix txt) = TestData.Pair(b, ds, (ulong)b);
        var ts = new TeacherEmbeddings[teachers];
        var refTs = new (double[,], double[,], double)[teachers];
        for (int k = 0; k < teachers; k++)
        {
            (Matrix ti, Matrix tt) = Teacher(b, dt, (ulong)(100 + k));
            float at = 8f + (4 * k);
            ts[k] = new TeacherEmbeddings(ti, tt, new LogitParameters(at, 0f));
            refTs[k] = (Reference.ToDouble(ti), Reference.ToDouble(tt), at);
        }

        var per = new float[b];
        var loss = new SoftmaxDistillationLoss(new LossWorkspaceOptions { RowChunkSize = chunk });
        DistillationResult r = loss.Compute(img, txt, new LogitParameters(10f, 0f), ts, default, per);
        var refPer = new double[b];
        double expected = Reference.SoftmaxKd(Reference.ToDouble(img), Reference.ToDouble(txt), 10, refTs, out double entropy, refPer);
        TestData.Close(expected, r.Loss, 1e-5, 0.05, "loss");
        TestData.Close(entropy, r.TeacherEntropy, 1e-5, 1e-5, "entropy");
        TestData.Close(refPer, per, 1e-5, "perExample");
        Assert.True(r.KlDivergence > -1e-5);
    }

    [Theory]
    [InlineData(1, 2, 0)]
    [InlineData(7, 1, 0)]
    [InlineData(7, 2, 0)]
    [InlineData(7, 2, 3)]
    public void SoftmaxKd_Gradients_MatchCentralFiniteDifferences(int b, int teachers, int chunk)
    {
        const int ds = 4, dt = 6;
        const float a = 9f;
        (Matrix img, Matrix txt) = TestData.Pair(b, ds, 12);
        var ts = new TeacherEmbeddings[teachers];
        var refTs = new (double[,], double[,], double)[teachers];
        for (int k = 0; k < teachers; k++)
        {
            (Matrix ti, Matrix tt) = Teacher(b, dt, (ulong)(200 + k));
            ts[k] = new TeacherEmbeddings(ti, tt, new LogitParameters(15f, 0f));
            refTs[k] = (Reference.ToDouble(ti), Reference.ToDouble(tt), 15);
        }

        var dImg = new Matrix(b, ds);
        var dTxt = new Matrix(b, ds);
        var loss = new SoftmaxDistillationLoss(new LossWorkspaceOptions { RowChunkSize = chunk });
        DistillationResult r = loss.Compute(img, txt, new LogitParameters(a, 0f), ts, new EmbeddingGradients(dImg, dTxt));
        double[,] x = Reference.ToDouble(img), y = Reference.ToDouble(txt);
        TestData.Close(Reference.FiniteDifference(x, () => Reference.SoftmaxKd(x, y, a, refTs, out _)), dImg, 1e-4, "dImage");
        TestData.Close(Reference.FiniteDifference(y, () => Reference.SoftmaxKd(x, y, a, refTs, out _)), dTxt, 1e-4, "dText");
        TestData.Close(Reference.FiniteDifference(s => Reference.SoftmaxKd(x, y, s, refTs, out _), a), r.ScaleGradient, 1e-4, 1e-3, "dL/da");
    }

    [Theory]
    [InlineData(48, 0)]
    [InlineData(48, 5)]
    public void SoftmaxKd_AnyBias_BiasGradientIsExactlyZero(int b, int chunk)
    {
        // Every softmax of Eq. 13 is shift-invariant in the student bias: dL/dc is exactly 0, not a rounding residue.
        (Matrix img, Matrix txt) = TestData.Pair(b, 8, 77);
        (Matrix ti, Matrix tt) = Teacher(b, 12, 78);
        var teacher = new TeacherEmbeddings(ti, tt, new LogitParameters(20f, 1f));
        var loss = new SoftmaxDistillationLoss(new LossWorkspaceOptions { RowChunkSize = chunk });
        DistillationResult r = loss.Compute(img, txt, new LogitParameters(1f / 0.07f, -4f), new[] { teacher }, new EmbeddingGradients(new Matrix(b, 8), new Matrix(b, 8)));
        Assert.Equal(0.0, r.BiasGradient);
    }

    [Theory]
    [InlineData(1, 3, 1, 0)]
    [InlineData(6, 5, 1, 0)]
    [InlineData(21, 8, 2, 0)]
    [InlineData(21, 8, 2, 5)]
    [InlineData(140, 12, 1, 0)]
    public void SigmoidKd_RandomBatch_MatchesDoubleReference(int b, int d, int teachers, int chunk)
    {
        (Matrix img, Matrix txt) = TestData.Pair(b, d, (ulong)(b + 1));
        var ts = new TeacherEmbeddings[teachers];
        var refTs = new (double[,], double[,], double, double)[teachers];
        for (int k = 0; k < teachers; k++)
        {
            (Matrix ti, Matrix tt) = Teacher(b, d + 2, (ulong)(300 + k));
            ts[k] = new TeacherEmbeddings(ti, tt, new LogitParameters(12f + k, -8f - k));
            refTs[k] = (Reference.ToDouble(ti), Reference.ToDouble(tt), 12 + k, -8 - k);
        }

        var rows = new float[b];
        var cols = new float[b];
        var loss = new SigmoidDistillationLoss(new LossWorkspaceOptions { RowChunkSize = chunk });
        DistillationResult r = loss.Compute(img, txt, new LogitParameters(10f, -10f), ts, default, rows, cols);
        var refRows = new double[b];
        var refCols = new double[b];
        double expected = Reference.SigmoidKd(Reference.ToDouble(img), Reference.ToDouble(txt), 10, -10, refTs, out double entropy, refRows, refCols);
        TestData.Close(expected, r.Loss, 1e-5, 0.05, "loss");
        TestData.Close(entropy, r.TeacherEntropy, 1e-5, 1e-5, "entropy");
        TestData.Close(refRows, rows, 1e-5, "rows");
        TestData.Close(refCols, cols, 1e-5, "cols");
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(8, 1)]
    [InlineData(8, 2)]
    public void SigmoidKd_Gradients_MatchCentralFiniteDifferences(int b, int teachers)
    {
        const int d = 5;
        const float a = 10f, c = -6f;
        (Matrix img, Matrix txt) = TestData.Pair(b, d, 13);
        var ts = new TeacherEmbeddings[teachers];
        var refTs = new (double[,], double[,], double, double)[teachers];
        for (int k = 0; k < teachers; k++)
        {
            (Matrix ti, Matrix tt) = Teacher(b, 3, (ulong)(400 + k));
            ts[k] = new TeacherEmbeddings(ti, tt, new LogitParameters(20f, -5f));
            refTs[k] = (Reference.ToDouble(ti), Reference.ToDouble(tt), 20, -5);
        }

        var dImg = new Matrix(b, d);
        var dTxt = new Matrix(b, d);
        DistillationResult r = new SigmoidDistillationLoss().Compute(img, txt, new LogitParameters(a, c), ts, new EmbeddingGradients(dImg, dTxt));
        double[,] x = Reference.ToDouble(img), y = Reference.ToDouble(txt);
        TestData.Close(Reference.FiniteDifference(x, () => Reference.SigmoidKd(x, y, a, c, refTs, out _)), dImg, 1e-4, "dImage");
        TestData.Close(Reference.FiniteDifference(y, () => Reference.SigmoidKd(x, y, a, c, refTs, out _)), dTxt, 1e-4, "dText");
        TestData.Close(Reference.FiniteDifference(s => Reference.SigmoidKd(x, y, s, c, refTs, out _), a), r.ScaleGradient, 1e-4, 1e-3, "dL/da");
        TestData.Close(Reference.FiniteDifference(cc => Reference.SigmoidKd(x, y, a, cc, refTs, out _), c), r.BiasGradient, 1e-4, 1e-3, "dL/dc");
    }

    [Fact]
    public void SigmoidKd_TeacherEqualsStudent_LossIsEntropyAndGradientVanishes()
    {
        const int b = 33, d = 8;
        (Matrix img, Matrix txt) = TestData.Pair(b, d, 14);
        var p = new LogitParameters(10f, -10f);
        var g = new Matrix(b, d);
        DistillationResult r = new SigmoidDistillationLoss().Compute(img, txt, p, new TeacherEmbeddings(img, txt, p), new EmbeddingGradients(g, default));
        TestData.Close(r.TeacherEntropy, r.Loss, 1e-5, 1e-6, "loss vs entropy");
        Assert.True(Math.Abs(r.ScaleGradient) < 1e-5 && Math.Abs(r.BiasGradient) < 1e-5, r.ToString());
        Assert.All(g.Data, v => Assert.True(Math.Abs(v) < 1e-5));
    }

    [Fact]
    public void SoftmaxKd_SteadyState_AllocatesNothing()
    {
        const int b = 64, d = 8;
        (Matrix img, Matrix txt) = TestData.Pair(b, d, 15);
        (Matrix ti, Matrix tt) = Teacher(b, d, 16);
        var teachers = new[] { new TeacherEmbeddings(ti, tt, new LogitParameters(20f)), new TeacherEmbeddings(tt, ti, new LogitParameters(5f)) };
        var grads = new EmbeddingGradients(new Matrix(b, d), new Matrix(b, d));
        var per = new float[b];
        var loss = new SoftmaxDistillationLoss();

        long allocated = SteadyStateAllocation.MinimumBytes(() => loss.Compute(img, txt, LogitParameters.SoftmaxDefault, teachers, grads, per), callsPerRound: 1, warmUp: 1, currentThread: true);

        Assert.Equal(0, allocated);
    }
}
