using System;
using Aced.Core;
using FsCheck;
using FsCheck.Fluent;

namespace Aced.Losses.Tests;

/// <summary>
/// The two teacher-ensemble readings: the mean of per-teacher cross-entropies (Eq. 18, default) and the cross-entropy
/// against the mean of the teachers' logits (the paper's prose), each checked against a float64 reference, by finite
/// differences, and by an FsCheck law through the real path.
/// </summary>
public class TeacherEnsembleTests
{
    private static readonly Config s_config = Config.QuickThrowOnFailure.WithMaxTest(40).WithReplay(new Replay(new Rnd(20261130UL, 0x9E3779B97F4A7C15UL), Microsoft.FSharp.Core.FSharpOption<int>.None));

    [Theory]
    [InlineData(1, 0)]
    [InlineData(9, 0)]
    [InlineData(9, 4)]
    [InlineData(70, 0)]
    public void SoftmaxKd_MeanOfLogits_MatchesDoubleReference(int b, int chunk)
    {
        (Matrix img, Matrix txt) = TestData.Pair(b, 5, 3);
        (TeacherEmbeddings[] ts, double[,] meanLogits) = Teachers(b, 3, 40, biased: false);
        var per = new float[b];
        var loss = new SoftmaxDistillationLoss(new LossWorkspaceOptions { RowChunkSize = chunk }) { Ensemble = TeacherEnsemble.MeanOfLogits };
        DistillationResult r = loss.Compute(img, txt, new LogitParameters(9f, 0f), ts, default, per);
        var refPer = new double[b];
        double expected = SoftmaxKd(Reference.ToDouble(img), Reference.ToDouble(txt), 9, meanLogits, out double entropy, refPer);
        TestData.Close(expected, r.Loss, 1e-5, 1e-6, "loss");
        TestData.Close(entropy, r.TeacherEntropy, 1e-5, 1e-6, "entropy");
        TestData.Close(refPer, per, 1e-5, "perExample");

        // The two readings differ for disagreeing teachers (b > 1), so the option really switches the objective.
        double meanOfLosses = new SoftmaxDistillationLoss().Compute(img, txt, new LogitParameters(9f, 0f), ts).Loss;
        if (b > 1)
        {
            Assert.True(Math.Abs(meanOfLosses - r.Loss) > 1e-3 * Math.Abs(r.Loss), $"{meanOfLosses} vs {r.Loss}");
        }
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(9, 0)]
    [InlineData(9, 4)]
    public void SigmoidKd_MeanOfLogits_MatchesDoubleReference(int b, int chunk)
    {
        (Matrix img, Matrix txt) = TestData.Pair(b, 5, 4);
        (TeacherEmbeddings[] ts, double[,] meanLogits) = Teachers(b, 3, 50, biased: true);
        var rows = new float[b];
        var cols = new float[b];
        var loss = new SigmoidDistillationLoss(new LossWorkspaceOptions { RowChunkSize = chunk }) { Ensemble = TeacherEnsemble.MeanOfLogits };
        DistillationResult r = loss.Compute(img, txt, new LogitParameters(10f, -6f), ts, default, rows, cols);
        var refRows = new double[b];
        var refCols = new double[b];
        double expected = SigmoidKd(Reference.ToDouble(img), Reference.ToDouble(txt), 10, -6, meanLogits, out double entropy, refRows, refCols);
        TestData.Close(expected, r.Loss, 1e-5, 1e-6, "loss");
        TestData.Close(entropy, r.TeacherEntropy, 1e-5, 1e-6, "entropy");
        TestData.Close(refRows, rows, 1e-5, "rows");
        TestData.Close(refCols, cols, 1e-5, "cols");
        double meanOfLosses = new SigmoidDistillationLoss().Compute(img, txt, new LogitParameters(10f, -6f), ts).Loss;
        Assert.True(Math.Abs(meanOfLosses - r.Loss) > 1e-3 * Math.Abs(r.Loss), $"{meanOfLosses} vs {r.Loss}");
    }

    [Theory]
    [InlineData(6, 0)]
    [InlineData(6, 2)]
    public void SoftmaxKd_MeanOfLogits_GradientsMatchCentralFiniteDifferences(int b, int chunk)
    {
        const float a = 7f;
        (Matrix img, Matrix txt) = TestData.Pair(b, 4, 21);
        (TeacherEmbeddings[] ts, double[,] meanLogits) = Teachers(b, 2, 60, biased: false);
        var dImg = new Matrix(b, 4);
        var dTxt = new Matrix(b, 4);
        var loss = new SoftmaxDistillationLoss(new LossWorkspaceOptions { RowChunkSize = chunk }) { Ensemble = TeacherEnsemble.MeanOfLogits };
        DistillationResult r = loss.Compute(img, txt, new LogitParameters(a, 0f), ts, new EmbeddingGradients(dImg, dTxt));
        double[,] x = Reference.ToDouble(img), y = Reference.ToDouble(txt);
        TestData.Close(Reference.FiniteDifference(x, () => SoftmaxKd(x, y, a, meanLogits, out _)), dImg, 1e-4, "dImage");
        TestData.Close(Reference.FiniteDifference(y, () => SoftmaxKd(x, y, a, meanLogits, out _)), dTxt, 1e-4, "dText");
        TestData.Close(Reference.FiniteDifference(s => SoftmaxKd(x, y, s, meanLogits, out _), a), r.ScaleGradient, 1e-4, 1e-4, "dL/da");
    }

    [Fact]
    public void SigmoidKd_MeanOfLogits_GradientsMatchCentralFiniteDifferences()
    {
        const int b = 7;
        const float a = 8f, c = -4f;
        (Matrix img, Matrix txt) = TestData.Pair(b, 4, 22);
        (TeacherEmbeddings[] ts, double[,] meanLogits) = Teachers(b, 3, 70, biased: true);
        var dImg = new Matrix(b, 4);
        var dTxt = new Matrix(b, 4);
        var loss = new SigmoidDistillationLoss { Ensemble = TeacherEnsemble.MeanOfLogits };
        DistillationResult r = loss.Compute(img, txt, new LogitParameters(a, c), ts, new EmbeddingGradients(dImg, dTxt));
        double[,] x = Reference.ToDouble(img), y = Reference.ToDouble(txt);
        TestData.Close(Reference.FiniteDifference(x, () => SigmoidKd(x, y, a, c, meanLogits, out _)), dImg, 1e-4, "dImage");
        TestData.Close(Reference.FiniteDifference(y, () => SigmoidKd(x, y, a, c, meanLogits, out _)), dTxt, 1e-4, "dText");
        TestData.Close(Reference.FiniteDifference(s => SigmoidKd(x, y, s, c, meanLogits, out _), a), r.ScaleGradient, 1e-4, 1e-4, "dL/da");
        TestData.Close(Reference.FiniteDifference(s => SigmoidKd(x, y, a, s, meanLogits, out _), c), r.BiasGradient, 1e-4, 1e-4, "dL/dc");
    }

    [Fact]
    public void MeanOfLogits_EqualsOneConcatenatedTeacher_Property()
    {
        // sum_k (a_k/K) <img_k, txt_k> + mean c = <[img_1 a_1/K, ..., img_K a_K/K], [txt_1, ..., txt_K]> + mean c: a single
        // teacher with scale 1 built from the concatenated rows has exactly the mean logits, so both losses must agree.
        var sigmoid = new SigmoidDistillationLoss { Ensemble = TeacherEnsemble.MeanOfLogits };
        var softmax = new SoftmaxDistillationLoss { Ensemble = TeacherEnsemble.MeanOfLogits };
        var single = new SigmoidDistillationLoss();
        var singleSoftmax = new SoftmaxDistillationLoss();
        Arbitrary<(int B, int K, int Seed)> cases = (from b in Gen.Choose(1, 20) from k in Gen.Choose(1, 4) from seed in Gen.Choose(0, 100_000) select (b, k, seed)).ToArbitrary();
        Check.One(s_config, Prop.ForAll(cases, t =>
        {
            (Matrix img, Matrix txt) = TestData.Pair(t.B, 6, (ulong)t.Seed);
            var ts = new TeacherEmbeddings[t.K];
            int total = 0;
            double bias = 0;
            for (int k = 0; k < t.K; k++)
            {
                (Matrix ti, Matrix tt) = TestData.Pair(t.B, 3 + k, (ulong)(t.Seed + 1000 + k), 0.5f);
                ts[k] = new TeacherEmbeddings(ti, tt, new LogitParameters(5f + (7f * k), -3f - k));
                total += 3 + k;
                bias += -3f - k;
            }

            var catImage = new Matrix(t.B, total);
            var catText = new Matrix(t.B, total);
            int offset = 0;
            for (int k = 0; k < t.K; k++)
            {
                int d = 3 + k;
                float w = ts[k].Logits.Scale / t.K;
                for (int i = 0; i < t.B; i++)
                {
                    for (int j = 0; j < d; j++)
                    {
                        catImage[i, offset + j] = ts[k].Image.Row(i)[j] * w;
                        catText[i, offset + j] = ts[k].Text.Row(i)[j];
                    }
                }

                offset += d;
            }

            var concatenated = new TeacherEmbeddings(catImage, catText, new LogitParameters(1f, (float)(bias / t.K)));
            var logits = new LogitParameters(9f, -5f);
            double a = sigmoid.Compute(img, txt, logits, ts).Loss;
            double e = single.Compute(img, txt, logits, concatenated).Loss;
            double sa = softmax.Compute(img, txt, logits, ts).Loss;
            double se = singleSoftmax.Compute(img, txt, logits, concatenated).Loss;
            return Math.Abs(a - e) <= 1e-5 * Math.Max(1, Math.Abs(e)) && Math.Abs(sa - se) <= 1e-5 * Math.Max(1, Math.Abs(se));
        }));
    }

    [Fact]
    public void CombinedObjective_Ensemble_SwitchesTheDistillationTerms()
    {
        const int b = 8;
        (Matrix img, Matrix txt) = TestData.Pair(b, 5, 31);
        (TeacherEmbeddings[] ts, _) = Teachers(b, 2, 80, biased: true);
        var options = new CombinedObjectiveOptions { SoftmaxDistillationWeight = 1, SigmoidDistillationWeight = 1, Ensemble = TeacherEnsemble.MeanOfLogits };
        CombinedResult r = new CombinedObjective(options).Compute(img, txt, new LogitParameters(10f, -5f), ts);
        double softmax = new SoftmaxDistillationLoss { Ensemble = TeacherEnsemble.MeanOfLogits }.Compute(img, txt, new LogitParameters(10f, -5f), ts).Loss;
        double sigmoid = new SigmoidDistillationLoss { Ensemble = TeacherEnsemble.MeanOfLogits }.Compute(img, txt, new LogitParameters(10f, -5f), ts).Loss;
        TestData.Close(softmax, r.SoftmaxDistillation, 1e-6, 1e-9, "softmax term");
        TestData.Close(sigmoid, r.SigmoidDistillation, 1e-6, 1e-9, "sigmoid term");
        Assert.Throws<ArgumentOutOfRangeException>(() => new CombinedObjectiveOptions { Ensemble = (TeacherEnsemble)7 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new SigmoidDistillationLoss { Ensemble = (TeacherEnsemble)(-1) });
    }

    /// <summary>K disagreeing teachers (different widths, scales and biases) and their mean logit matrix in double.</summary>
    private static (TeacherEmbeddings[] Teachers, double[,] MeanLogits) Teachers(int b, int count, ulong seed, bool biased)
    {
        var ts = new TeacherEmbeddings[count];
        var mean = new double[b, b];
        for (int k = 0; k < count; k++)
        {
            (Matrix ti, Matrix tt) = TestData.Pair(b, 4 + k, seed + (ulong)k, 0.4f + (0.5f * k));
            float at = 6f + (9f * k);
            float ct = biased ? -2f - (3f * k) : 0f;
            ts[k] = new TeacherEmbeddings(ti, tt, new LogitParameters(at, ct));
            double[,] l = Reference.Logits(Reference.ToDouble(ti), Reference.ToDouble(tt), at, ct);
            for (int i = 0; i < b; i++)
            {
                for (int j = 0; j < b; j++)
                {
                    mean[i, j] += l[i, j] / count;
                }
            }
        }

        return (ts, mean);
    }

    /// <summary>Softmax-KD against a given teacher logit matrix: rows and columns, (1/2b) sum of both cross-entropies.</summary>
    private static double SoftmaxKd(double[,] img, double[,] txt, double a, double[,] t, out double entropy, double[]? perExample = null)
    {
        int b = img.GetLength(0);
        double[,] s = Reference.Logits(img, txt, a, 0);
        double ce = 0;
        entropy = 0;
        for (int i = 0; i < b; i++)
        {
            double ceRow = 0, ceColumn = 0;
            for (int direction = 0; direction < 2; direction++)
            {
                double tMax = double.NegativeInfinity, sMax = double.NegativeInfinity;
                for (int j = 0; j < b; j++)
                {
                    tMax = Math.Max(tMax, direction == 0 ? t[i, j] : t[j, i]);
                    sMax = Math.Max(sMax, direction == 0 ? s[i, j] : s[j, i]);
                }

                double tSum = 0, sSum = 0;
                for (int j = 0; j < b; j++)
                {
                    tSum += Math.Exp((direction == 0 ? t[i, j] : t[j, i]) - tMax);
                    sSum += Math.Exp((direction == 0 ? s[i, j] : s[j, i]) - sMax);
                }

                for (int j = 0; j < b; j++)
                {
                    double logP = (direction == 0 ? t[i, j] : t[j, i]) - tMax - Math.Log(tSum);
                    double logQ = (direction == 0 ? s[i, j] : s[j, i]) - sMax - Math.Log(sSum);
                    double term = -Math.Exp(logP) * logQ;
                    entropy += -Math.Exp(logP) * logP;
                    if (direction == 0)
                    {
                        ceRow += term;
                    }
                    else
                    {
                        ceColumn += term;
                    }
                }
            }

            ce += ceRow + ceColumn;
            if (perExample != null)
            {
                perExample[i] = 0.5 * (ceRow + ceColumn);
            }
        }

        entropy /= 2.0 * b;
        return ce / (2.0 * b);
    }

    /// <summary>Sigmoid-KD against a given teacher logit matrix: (1/b) sum of the binary cross-entropies of all pairs.</summary>
    private static double SigmoidKd(double[,] img, double[,] txt, double a, double c, double[,] t, out double entropy, double[]? rows = null, double[]? cols = null)
    {
        int b = img.GetLength(0);
        double[,] s = Reference.Logits(img, txt, a, c);
        double ce = 0;
        entropy = 0;
        for (int i = 0; i < b; i++)
        {
            for (int j = 0; j < b; j++)
            {
                double p = Reference.Sigmoid(t[i, j]);
                double term = (p * Reference.Softplus(-s[i, j])) + ((1 - p) * Reference.Softplus(s[i, j]));
                ce += term;
                entropy += (p * Reference.Softplus(-t[i, j])) + ((1 - p) * Reference.Softplus(t[i, j]));
                if (rows != null)
                {
                    rows[i] += term;
                }

                if (cols != null)
                {
                    cols[j] += term;
                }
            }
        }

        entropy /= b;
        return ce / b;
    }
}
