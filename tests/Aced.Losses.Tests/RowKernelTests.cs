using System;
using Aced.Core;
using Aced.Losses.Internal;

namespace Aced.Losses.Tests;

public class RowKernelTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(37)]
    [InlineData(256)]
    public void SoftmaxBothGradientSeparable_MatchesTwoExponentialForm(int n)
    {
        var rng = new Aced.Core.CounterRng(5, (ulong)n);
        var s = new float[n];
        var colLse = new double[n];
        for (int j = 0; j < n; j++)
        {
            s[j] = rng.NextFloat() * 2 - 1;
            colLse[j] = 20 + (10 * rng.NextFloat());
        }

        const float a = 30f, c = -2f, gScale = 0.01f;
        const double rowLse = 25, pivot = 24;
        var shift = new float[n];
        var factor = new float[n];
        for (int j = 0; j < n; j++)
        {
            shift[j] = (float)(c - colLse[j]);
            factor[j] = (float)Math.Exp(pivot - colLse[j]);
        }

        var s1 = (float[])s.Clone();
        var s2 = (float[])s.Clone();
        double gs1 = 0, g1 = 0, gs2 = 0, g2 = 0;
        int diag = n / 2;
        RowKernels.SoftmaxBothGradient(s1, shift, diag, a, c, rowLse, gScale, ref gs1, ref g1);
        RowKernels.SoftmaxBothGradientSeparable(s2, factor, diag, a, c, rowLse, (float)Math.Exp(rowLse - pivot), gScale, ref gs2, ref g2);
        for (int j = 0; j < n; j++)
        {
            Assert.True(Math.Abs(s1[j] - s2[j]) <= 1e-6 * Math.Max(Math.Abs(s1[j]), 1e-3), $"G[{j}]: {s1[j]} vs {s2[j]}");
        }

        Assert.True(Math.Abs(g1 - g2) <= 1e-5 * Math.Max(1, Math.Abs(g1)));
        Assert.True(Math.Abs(gs1 - gs2) <= 1e-5 * Math.Max(1, Math.Abs(gs1)));
    }

    [Fact]
    public void SoftmaxLoss_WideLogSumExpSpread_UsesExactFallbackAndMatchesReference()
    {
        // a = 100 with diagonal similarities from 0.1 to 1 spreads the log-sum-exps far beyond 40 (two-exponential path).
        const int b = 12, d = 12;
        var img = new Aced.Core.Matrix(b, d);
        var txt = new Aced.Core.Matrix(b, d);
        for (int i = 0; i < b; i++)
        {
            float cos = 0.1f + (0.9f * i / (b - 1));
            img[i, i] = 1f;
            txt[i, i] = cos;
            txt[i, (i + 1) % d] = MathF.Sqrt(1 - (cos * cos));
        }

        var per = new float[b];
        LossResult r = new SoftmaxContrastiveLoss().Compute(img, txt, new LogitParameters(100f, 0f), default, per);
        var refPer = new double[b];
        double expected = Reference.SoftmaxLoss(Reference.ToDouble(img), Reference.ToDouble(txt), 100, 0, refPer);
        TestData.Close(expected, r.Loss, 1e-5, 0.05, "loss");
        TestData.Close(refPer, per, 1e-5, "perExample");
    }

    [Fact]
    public void SoftmaxKd_WideLogSumExpSpread_UsesExactFallbackAndMatchesReference()
    {
        const int b = 12, d = 12;
        var img = new Aced.Core.Matrix(b, d);
        var txt = new Aced.Core.Matrix(b, d);
        for (int i = 0; i < b; i++)
        {
            float cos = 0.1f + (0.9f * i / (b - 1));
            img[i, i] = 1f;
            txt[i, i] = cos;
            txt[i, (i + 1) % d] = MathF.Sqrt(1 - (cos * cos));
        }

        (Aced.Core.Matrix ti, Aced.Core.Matrix tt) = TestData.Pair(b, 5, 3);
        var teachers = new[] { new TeacherEmbeddings(txt, img, new LogitParameters(90f)), new TeacherEmbeddings(ti, tt, new LogitParameters(10f)) };
        var per = new float[b];
        DistillationResult r = new SoftmaxDistillationLoss().Compute(img, txt, new LogitParameters(100f, 0f), teachers, default, per);
        var refPer = new double[b];
        var refTs = new[] { (Reference.ToDouble(txt), Reference.ToDouble(img), 90.0), (Reference.ToDouble(ti), Reference.ToDouble(tt), 10.0) };
        double expected = Reference.SoftmaxKd(Reference.ToDouble(img), Reference.ToDouble(txt), 100, refTs, out double entropy, refPer);
        TestData.Close(expected, r.Loss, 1e-5, 0.05, "loss");
        TestData.Close(entropy, r.TeacherEntropy, 1e-5, 0.05, "entropy");
        TestData.Close(refPer, per, 1e-5, "perExample");
    }
}
