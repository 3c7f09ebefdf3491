using System;
using Aced.Core;

namespace Aced.Losses.Tests;

public class FeatureMatchingAndCombinedTests
{
    [Theory]
    [InlineData(1, 3, 3, false)]
    [InlineData(9, 4, 4, false)]
    [InlineData(9, 4, 7, true)]
    [InlineData(33, 16, 5, true)]
    public void FeatureMatching_RandomBatch_MatchesReferenceAndFiniteDifferences(int b, int ds, int dt, bool projected)
    {
        (Matrix img, Matrix txt) = TestData.Pair(b, ds, 21);
        (Matrix ti, Matrix tt) = TestData.Pair(b, dt, 22);
        Matrix? p = projected ? TestData.Random(ds, dt, 23, 1, normalize: false) : null;
        var dImg = new Matrix(b, ds);
        var dTxt = new Matrix(b, ds);
        Matrix? dP = projected ? new Matrix(ds, dt) : null;
        var per = new float[b];
        double loss = new FeatureMatchingLoss().Compute(img, txt, ti, tt, p?.View ?? default, new EmbeddingGradients(dImg, dTxt), dP?.View ?? default, per);

        double[,] x = Reference.ToDouble(img), y = Reference.ToDouble(txt), tx = Reference.ToDouble(ti), ty = Reference.ToDouble(tt);
        double[,]? pd = p is null ? null : Reference.ToDouble(p);
        var refPer = new double[b];
        TestData.Close(Reference.FeatureMatching(x, y, tx, ty, pd, refPer), loss, 1e-5, 0.05, "loss");
        TestData.Close(refPer, per, 1e-5, "perExample");
        TestData.Close(Reference.FiniteDifference(x, () => Reference.FeatureMatching(x, y, tx, ty, pd)), dImg, 1e-4, "dImage");
        TestData.Close(Reference.FiniteDifference(y, () => Reference.FeatureMatching(x, y, tx, ty, pd)), dTxt, 1e-4, "dText");
        if (pd is not null)
        {
            TestData.Close(Reference.FiniteDifference(pd, () => Reference.FeatureMatching(x, y, tx, ty, pd)), dP!, 1e-4, "dP");
        }
    }

    [Fact]
    public void FeatureMatching_DimensionMismatchWithoutProjection_Throws()
    {
        (Matrix img, Matrix txt) = TestData.Pair(4, 3, 1);
        (Matrix ti, Matrix tt) = TestData.Pair(4, 5, 2);
        var ex = Assert.Throws<ArgumentException>(() => new FeatureMatchingLoss().Compute(img, txt, ti, tt));
        Assert.Contains("projection", ex.Message);
    }

    [Theory]
    [InlineData(ContrastiveKind.Sigmoid)]
    [InlineData(ContrastiveKind.Softmax)]
    public void Combined_AllTerms_EqualWeightedSumOfParts(ContrastiveKind kind)
    {
        const int b = 15, ds = 6, dt = 9;
        (Matrix img, Matrix txt) = TestData.Pair(b, ds, 31);
        (Matrix t1i, Matrix t1t) = TestData.Pair(b, dt, 32);
        (Matrix t2i, Matrix t2t) = TestData.Pair(b, dt, 33);
        var teachers = new[] { new TeacherEmbeddings(t1i, t1t, new LogitParameters(20f, -5f)), new TeacherEmbeddings(t2i, t2t, new LogitParameters(12f, -8f)) };
        Matrix p = TestData.Random(ds, dt, 34, 1, normalize: false);
        var student = new LogitParameters(10f, -10f);
        var options = new CombinedObjectiveOptions { Contrastive = kind, SoftmaxDistillationWeight = 0.5f, SigmoidDistillationWeight = 2f, FeatureMatchingWeight = 0.25f };
        var gI = new Matrix(b, ds);
        var gT = new Matrix(b, ds);
        var gP = new Matrix(ds, dt);
        CombinedResult r = new CombinedObjective(options).Compute(img, txt, student, teachers, p, new EmbeddingGradients(gI, gT), gP);

        // Parts, accumulated by hand.
        var eI = new double[b * ds];
        var eT = new double[b * ds];
        var eP = new double[ds * dt];
        void Add(Matrix m, double[] into, double w)
        {
            for (int i = 0; i < into.Length; i++)
            {
                into[i] += w * m.Data[i];
            }
        }

        var pi = new Matrix(b, ds);
        var pt = new Matrix(b, ds);
        LossResult con = kind == ContrastiveKind.Sigmoid
            ? new SigmoidContrastiveLoss().Compute(img, txt, student, new EmbeddingGradients(pi, pt))
            : new SoftmaxContrastiveLoss().Compute(img, txt, student, new EmbeddingGradients(pi, pt));
        Add(pi, eI, 1);
        Add(pt, eT, 1);
        DistillationResult smax = new SoftmaxDistillationLoss().Compute(img, txt, student, teachers, new EmbeddingGradients(pi, pt));
        Add(pi, eI, 0.5);
        Add(pt, eT, 0.5);
        DistillationResult sig = new SigmoidDistillationLoss().Compute(img, txt, student, teachers, new EmbeddingGradients(pi, pt));
        Add(pi, eI, 2);
        Add(pt, eT, 2);
        double fm = 0;
        var pp = new Matrix(ds, dt);
        foreach (TeacherEmbeddings t in teachers)
        {
            fm += new FeatureMatchingLoss().Compute(img, txt, t.Image, t.Text, p, new EmbeddingGradients(pi, pt), pp) / 2;
            Add(pi, eI, 0.125);
            Add(pt, eT, 0.125);
            Add(pp, eP, 0.125);
        }

        double expected = con.Loss + (0.5 * smax.Loss) + (2 * sig.Loss) + (0.25 * fm);
        TestData.Close(expected, r.Total, 1e-6, 0.05, "total");
        TestData.Close(con.ScaleGradient + (0.5 * smax.ScaleGradient) + (2 * sig.ScaleGradient), r.ScaleGradient, 1e-5, 0.05, "dL/da");
        TestData.Close(con.BiasGradient + (0.5 * smax.BiasGradient) + (2 * sig.BiasGradient), r.BiasGradient, 1e-5, 0.05, "dL/dc");
        for (int i = 0; i < eI.Length; i++)
        {
            TestData.Close(eI[i], gI.Data[i], 1e-4, 0.01, "dImage");
            TestData.Close(eT[i], gT.Data[i], 1e-4, 0.01, "dText");
        }

        for (int i = 0; i < eP.Length; i++)
        {
            TestData.Close(eP[i], gP.Data[i], 1e-4, 0.01, "dP");
        }
    }

    [Fact]
    public void Combined_NoActiveTerm_ReturnsZeroAndClearsGradients()
    {
        (Matrix img, Matrix txt) = TestData.Pair(4, 3, 35);
        var gI = new Matrix(4, 3);
        System.Array.Fill(gI.Data, 5f);
        CombinedResult r = new CombinedObjective(new CombinedObjectiveOptions { Contrastive = null }).Compute(img, txt, new LogitParameters(10f, -10f), System.ReadOnlySpan<TeacherEmbeddings>.Empty, default, new EmbeddingGradients(gI, default));
        Assert.Equal(0, r.Total);
        Assert.All(gI.Data, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Combined_DistillationWithoutTeachers_Throws()
    {
        (Matrix img, Matrix txt) = TestData.Pair(4, 3, 36);
        var objective = new CombinedObjective(new CombinedObjectiveOptions { SoftmaxDistillationWeight = 1f });
        var ex = Assert.Throws<System.ArgumentException>(() => objective.Compute(img, txt, new LogitParameters(10f, -10f), System.ReadOnlySpan<TeacherEmbeddings>.Empty));
        Assert.Equal("teachers", ex.ParamName);
    }

    [Theory]
    [InlineData(ContrastiveKind.Sigmoid)]
    [InlineData(ContrastiveKind.Softmax)]
    public void Contrastive_SmallWorkspaceBudget_ChunksAutomaticallyWithSameResult(ContrastiveKind kind)
    {
        const int b = 45, d = 7;
        (Matrix img, Matrix txt) = TestData.Pair(b, d, 37);
        var small = new LossWorkspaceOptions { MaxWorkspaceElements = 10 * b };
        Assert.Equal(10, small.ChunkRows(b, 1));
        var g1 = new Matrix(b, d);
        var g2 = new Matrix(b, d);
        var p = new LogitParameters(10f, -10f);
        LossResult full, chunked;
        if (kind == ContrastiveKind.Sigmoid)
        {
            full = new SigmoidContrastiveLoss().Compute(img, txt, p, new EmbeddingGradients(g1, default));
            chunked = new SigmoidContrastiveLoss(small).Compute(img, txt, p, new EmbeddingGradients(g2, default));
        }
        else
        {
            full = new SoftmaxContrastiveLoss().Compute(img, txt, p, new EmbeddingGradients(g1, default));
            chunked = new SoftmaxContrastiveLoss(small).Compute(img, txt, p, new EmbeddingGradients(g2, default));
        }

        TestData.Close(full.Loss, chunked.Loss, 1e-6, 0.05, "loss");
        TestData.Close(full.LogScaleGradient, chunked.LogScaleGradient, 1e-5, 0.05, "dL/dt");
        TestData.Close(Reference.ToDouble(g1), g2, 1e-5, "dImage");
    }

    [Fact]
    public void Normalizer_Backward_MatchesFiniteDifferencesThroughSigmoidLoss()
    {
        const int b = 5, d = 4;
        Matrix rawI = TestData.Random(b, d, 41, 1, normalize: false);
        Matrix rawT = TestData.Random(b, d, 41, 2, normalize: false);
        var ni = new EmbeddingNormalizer();
        var nt = new EmbeddingNormalizer();
        var gI = new Matrix(b, d);
        var gT = new Matrix(b, d);
        new SigmoidContrastiveLoss().Compute(ni.Normalize(rawI), nt.Normalize(rawT), new LogitParameters(10f, -10f), new EmbeddingGradients(gI, gT));
        ni.Backward(gI, gI);
        nt.Backward(gT, gT);

        double[,] x = Reference.ToDouble(rawI), y = Reference.ToDouble(rawT);
        double F() => Reference.SigmoidLoss(Normalized(x), Normalized(y), 10, -10);
        TestData.Close(Reference.FiniteDifference(x, F), gI, 1e-4, "dRawImage");
        TestData.Close(Reference.FiniteDifference(y, F), gT, 1e-4, "dRawText");
    }

    private static double[,] Normalized(double[,] x)
    {
        var r = (double[,])x.Clone();
        for (int i = 0; i < x.GetLength(0); i++)
        {
            double ss = 0;
            for (int j = 0; j < x.GetLength(1); j++)
            {
                ss += x[i, j] * x[i, j];
            }

            for (int j = 0; j < x.GetLength(1); j++)
            {
                r[i, j] = x[i, j] / Math.Sqrt(ss);
            }
        }

        return r;
    }
}
