using System;
using Aced.Core;
using FsCheck;
using FsCheck.Fluent;

namespace Aced.Losses.Tests;

/// <summary>FsCheck laws of the objectives over random batch sizes, dimensions, seeds and logit parameters.</summary>
public class PropertyTests
{
    private static readonly Config s_config = Config.QuickThrowOnFailure.WithMaxTest(60).WithReplay(new Replay(new Rnd(20261122UL, 0x9E3779B97F4A7C15UL), Microsoft.FSharp.Core.FSharpOption<int>.None));

    private static Arbitrary<(int B, int D, int Seed, float A, float C)> Cases(int maxB = 24) =>
        (from b in Gen.Choose(1, maxB)
         from d in Gen.Choose(1, 12)
         from seed in Gen.Choose(0, 1_000_000)
         from a in Gen.Choose(1, 100)
         from c in Gen.Choose(-20, 5)
         select (b, d, seed, (float)a, (float)c)).ToArbitrary();

    private static bool Near(double x, double y, double rel, double abs) => Math.Abs(x - y) <= Math.Max(abs, rel * Math.Max(Math.Abs(x), Math.Abs(y)));

    [Fact]
    public void Sigmoid_AnchoredSums_EqualBatchTotal()
    {
        var loss = new SigmoidContrastiveLoss();
        Check.One(s_config, Prop.ForAll(Cases(), t =>
        {
            (Matrix img, Matrix txt) = TestData.Pair(t.B, t.D, (ulong)t.Seed);
            var rows = new float[t.B];
            var cols = new float[t.B];
            LossResult r = loss.Compute(img, txt, new LogitParameters(t.A, t.C), default, rows, cols);
            double sr = 0, sc = 0;
            for (int i = 0; i < t.B; i++)
            {
                sr += rows[i];
                sc += cols[i];
            }

            return Near(sr, t.B * r.Loss, 1e-5, 1e-5) && Near(sc, t.B * r.Loss, 1e-5, 1e-5);
        }));
    }

    [Fact]
    public void SigmoidKd_AnchoredSums_EqualBatchTotal()
    {
        var loss = new SigmoidDistillationLoss();
        Check.One(s_config, Prop.ForAll(Cases(), t =>
        {
            (Matrix img, Matrix txt) = TestData.Pair(t.B, t.D, (ulong)t.Seed);
            (Matrix ti, Matrix tt) = TestData.Pair(t.B, t.D + 1, (ulong)t.Seed + 1);
            var rows = new float[t.B];
            var cols = new float[t.B];
            DistillationResult r = loss.Compute(img, txt, new LogitParameters(t.A, t.C), new TeacherEmbeddings(ti, tt, new LogitParameters(20f, -10f)), default, rows, cols);
            double sr = 0, sc = 0;
            for (int i = 0; i < t.B; i++)
            {
                sr += rows[i];
                sc += cols[i];
            }

            return Near(sr, t.B * r.Loss, 1e-5, 1e-5) && Near(sc, t.B * r.Loss, 1e-5, 1e-5) && r.KlDivergence > -1e-4;
        }));
    }

    [Fact]
    public void SoftmaxKd_TeacherEqualsStudent_LossEqualsEntropyAndGradientVanishes()
    {
        var loss = new SoftmaxDistillationLoss();
        Check.One(s_config, Prop.ForAll(Cases(), t =>
        {
            (Matrix img, Matrix txt) = TestData.Pair(t.B, t.D, (ulong)t.Seed);
            var p = new LogitParameters(t.A, 0f);
            var g = new Matrix(t.B, t.D);
            DistillationResult r = loss.Compute(img, txt, p, new TeacherEmbeddings(img, txt, p), new EmbeddingGradients(g, default));
            double maxGrad = 0;
            foreach (float v in g.Data)
            {
                maxGrad = Math.Max(maxGrad, Math.Abs(v));
            }

            return Near(r.Loss, r.TeacherEntropy, 1e-5, 1e-5) && maxGrad < 1e-4 && Math.Abs(r.ScaleGradient) < 1e-4;
        }));
    }

    [Fact]
    public void FeatureMatching_StudentEqualsProjectedTeacher_GradientsVanish()
    {
        var loss = new FeatureMatchingLoss();
        Check.One(s_config, Prop.ForAll(Cases(), t =>
        {
            (Matrix img, Matrix txt) = TestData.Pair(t.B, t.D, (ulong)t.Seed);
            int dt = 1 + (t.Seed % 9);
            Matrix p = TestData.Random(t.D, dt, (ulong)t.Seed, 7, normalize: false);
            var ti = new Matrix(t.B, dt);
            var tt = new Matrix(t.B, dt);
            Gemm.Multiply(img, p, ti);
            Gemm.Multiply(txt, p, tt);
            var gI = new Matrix(t.B, t.D);
            var gT = new Matrix(t.B, t.D);
            var gP = new Matrix(t.D, dt);
            double projected = loss.Compute(img, txt, ti, tt, p, new EmbeddingGradients(gI, gT), gP);
            double identity = loss.Compute(img, txt, img, txt, default, new EmbeddingGradients(gI, gT));
            double max = 0;
            foreach (float v in gP.Data)
            {
                max = Math.Max(max, Math.Abs(v));
            }

            foreach (float v in gI.Data)
            {
                max = Math.Max(max, Math.Abs(v));
            }

            return projected < 1e-10 && identity == 0 && max < 1e-5;
        }));
    }

    [Fact]
    public void Softmax_ConstantShiftOfAllLogits_LeavesLossAndGradientsUnchanged()
    {
        var loss = new SoftmaxContrastiveLoss();
        var shifted = new SoftmaxContrastiveLoss();
        Check.One(s_config, Prop.ForAll(Cases(), t =>
        {
            (Matrix img, Matrix txt) = TestData.Pair(t.B, t.D, (ulong)t.Seed);
            float k = (t.Seed % 41) - 20f;

            // Shift through the embeddings: [img, 1] . [txt, k/a] = img . txt + k/a, so every logit moves by k.
            var img2 = new Matrix(t.B, t.D + 1);
            var txt2 = new Matrix(t.B, t.D + 1);
            for (int i = 0; i < t.B; i++)
            {
                img.Row(i).CopyTo(img2.Row(i));
                txt.Row(i).CopyTo(txt2.Row(i));
                img2[i, t.D] = 1f;
                txt2[i, t.D] = k / t.A;
            }

            var p = new LogitParameters(t.A, 0f);
            var g1 = new Matrix(t.B, t.D);
            var g2 = new Matrix(t.B, t.D + 1);
            var per1 = new float[t.B];
            var per2 = new float[t.B];
            LossResult r1 = loss.Compute(img, txt, p, new EmbeddingGradients(g1, default), per1);
            LossResult r2 = shifted.Compute(img2, txt2, p, new EmbeddingGradients(g2, default), per2);
            LossResult r3 = shifted.Compute(img, txt, new LogitParameters(t.A, t.C));
            bool ok = Near(r1.Loss, r2.Loss, 1e-4, 1e-4) && Near(r1.Loss, r3.Loss, 1e-4, 1e-4);
            for (int i = 0; i < t.B && ok; i++)
            {
                ok = Near(per1[i], per2[i], 1e-4, 1e-4);
                for (int j = 0; j < t.D && ok; j++)
                {
                    ok = Near(g1[i, j], g2[i, j], 1e-3, 1e-4);
                }
            }

            return ok;
        }));
    }

    [Fact]
    public void SoftmaxKd_BiasesOfEitherSide_DoNotChangeTheLoss()
    {
        var loss = new SoftmaxDistillationLoss();
        Check.One(s_config, Prop.ForAll(Cases(), t =>
        {
            (Matrix img, Matrix txt) = TestData.Pair(t.B, t.D, (ulong)t.Seed);
            (Matrix ti, Matrix tt) = TestData.Pair(t.B, 5, (ulong)t.Seed + 3);
            DistillationResult r1 = loss.Compute(img, txt, new LogitParameters(t.A, 0f), new TeacherEmbeddings(ti, tt, new LogitParameters(30f, 0f)));
            DistillationResult r2 = loss.Compute(img, txt, new LogitParameters(t.A, t.C), new TeacherEmbeddings(ti, tt, new LogitParameters(30f, -t.C)));
            return Near(r1.Loss, r2.Loss, 1e-4, 1e-4) && Near(r1.TeacherEntropy, r2.TeacherEntropy, 1e-4, 1e-4) && r1.KlDivergence > -1e-4;
        }));
    }
}
