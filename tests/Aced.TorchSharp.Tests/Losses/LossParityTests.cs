using System;
using System.Collections.Generic;
using Aced.Core;
using Aced.Losses;
using Aced.TorchSharp.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace Aced.TorchSharp.Tests.Losses;

public sealed class LossParityTests
{
    private const double Tolerance = 1e-5;
    private static readonly LogitParameters Student = LogitParameters.FromLogScale(2.1f, -3.5f);

    /// <summary>The torch side of one comparison: inputs with gradients, in float64.</summary>
    private sealed class TorchSide : IDisposable
    {
        public TorchSide(Matrix image, Matrix text, LogitParameters logits)
        {
            Image = TestData.ToTensor(image, requiresGrad: true);
            Text = TestData.ToTensor(text, requiresGrad: true);
            Logits = TorchLogits.Create(logits, ScalarType.Float64, requiresGrad: true);
        }

        public Tensor Image { get; }

        public Tensor Text { get; }

        public TorchLogits Logits { get; }

        public void AssertMatches(double loss, Tensor value, Matrix gradImage, Matrix gradText, double logScaleGradient, double biasGradient, string what)
        {
            value.backward();
            TestData.AssertRelative(loss, value.ToDouble(), Tolerance, what + " loss");
            TestData.AssertClose(gradImage.Data, TestData.ToDoubles(Image.grad!), Tolerance, what + " dL/dimg");
            TestData.AssertClose(gradText.Data, TestData.ToDoubles(Text.grad!), Tolerance, what + " dL/dtxt");
            TestData.AssertRelative(logScaleGradient, Logits.LogScale.grad!.ToDouble(), Tolerance, what + " dL/dt");
            if (biasGradient == 0)
            {
                Assert.Equal(0.0, Logits.Bias.grad!.ToDouble());
            }
            else
            {
                TestData.AssertRelative(biasGradient, Logits.Bias.grad!.ToDouble(), Tolerance, what + " dL/dc");
            }
        }

        public void Dispose()
        {
            Image.Dispose();
            Text.Dispose();
            Logits.LogScale.Dispose();
            Logits.Bias.Dispose();
        }
    }

    [Theory]
    [InlineData(1, 3, 11)]
    [InlineData(9, 6, 12)]
    [InlineData(33, 17, 13)]
    public void SigmoidContrastive_RandomInputs_MatchesManagedLossAndGradients(int b, int d, int seed)
    {
        Matrix image = TestData.UnitRows(b, d, seed);
        Matrix text = TestData.UnitRows(b, d, seed + 100);
        var gi = new Matrix(b, d);
        var gt = new Matrix(b, d);
        LossResult expected = new SigmoidContrastiveLoss().Compute(image, text, Student, new EmbeddingGradients(gi, gt));

        using var side = new TorchSide(image, text, Student);
        using Tensor loss = TorchLosses.SigmoidContrastive(side.Image, side.Text, side.Logits);

        side.AssertMatches(expected.Loss, loss, gi, gt, expected.LogScaleGradient, expected.BiasGradient, "sigmoid");
    }

    [Theory]
    [InlineData(1, 3, 21)]
    [InlineData(9, 6, 22)]
    [InlineData(33, 17, 23)]
    public void SoftmaxContrastive_RandomInputs_MatchesManagedLossAndGradients(int b, int d, int seed)
    {
        Matrix image = TestData.UnitRows(b, d, seed);
        Matrix text = TestData.UnitRows(b, d, seed + 100);
        var gi = new Matrix(b, d);
        var gt = new Matrix(b, d);
        LossResult expected = new SoftmaxContrastiveLoss().Compute(image, text, Student, new EmbeddingGradients(gi, gt));

        using var side = new TorchSide(image, text, Student);
        using Tensor loss = TorchLosses.SoftmaxContrastive(side.Image, side.Text, side.Logits);

        Assert.Equal(0.0, expected.BiasGradient);
        side.AssertMatches(expected.Loss, loss, gi, gt, expected.LogScaleGradient, expected.BiasGradient, "softmax");
    }

    [Theory]
    [InlineData(9, 6, 1, 31)]
    [InlineData(12, 5, 3, 32)]
    public void SoftmaxDistillation_TeacherEnsemble_MatchesManaged(int b, int d, int teacherCount, int seed)
    {
        Matrix image = TestData.UnitRows(b, d, seed);
        Matrix text = TestData.UnitRows(b, d, seed + 100);
        (TeacherEmbeddings[] managed, List<TorchTeacher> teachers) = Teachers(b, teacherCount, seed);
        var gi = new Matrix(b, d);
        var gt = new Matrix(b, d);
        DistillationResult expected = new SoftmaxDistillationLoss().Compute(image, text, Student, managed, new EmbeddingGradients(gi, gt));

        using var side = new TorchSide(image, text, Student);
        using Tensor loss = TorchLosses.SoftmaxDistillation(side.Image, side.Text, side.Logits, teachers);

        side.AssertMatches(expected.Loss, loss, gi, gt, expected.LogScaleGradient, expected.BiasGradient, "softmax-KD");
        DisposeAll(teachers);
    }

    [Theory]
    [InlineData(9, 6, 1, 41)]
    [InlineData(12, 5, 3, 42)]
    public void SigmoidDistillation_TeacherEnsemble_MatchesManaged(int b, int d, int teacherCount, int seed)
    {
        Matrix image = TestData.UnitRows(b, d, seed);
        Matrix text = TestData.UnitRows(b, d, seed + 100);
        (TeacherEmbeddings[] managed, List<TorchTeacher> teachers) = Teachers(b, teacherCount, seed);
        var gi = new Matrix(b, d);
        var gt = new Matrix(b, d);
        DistillationResult expected = new SigmoidDistillationLoss().Compute(image, text, Student, managed, new EmbeddingGradients(gi, gt));

        using var side = new TorchSide(image, text, Student);
        using Tensor loss = TorchLosses.SigmoidDistillation(side.Image, side.Text, side.Logits, teachers);

        side.AssertMatches(expected.Loss, loss, gi, gt, expected.LogScaleGradient, expected.BiasGradient, "sigmoid-KD");
        DisposeAll(teachers);
    }

    [Fact]
    public void FeatureMatching_WithProjection_MatchesManagedIncludingHeadGradient()
    {
        const int b = 10, ds = 6, dt = 4;
        Matrix image = TestData.UnitRows(b, ds, 51);
        Matrix text = TestData.UnitRows(b, ds, 52);
        Matrix teacherImage = TestData.UnitRows(b, dt, 53);
        Matrix teacherText = TestData.UnitRows(b, dt, 54);
        Matrix projection = TestData.Gaussian(ds, dt, 55, 0.5f);
        var gi = new Matrix(b, ds);
        var gt = new Matrix(b, ds);
        var gp = new Matrix(ds, dt);
        double expected = new FeatureMatchingLoss().Compute(image, text, teacherImage, teacherText, projection, new EmbeddingGradients(gi, gt), gp);

        using Tensor ti = TestData.ToTensor(image, requiresGrad: true);
        using Tensor tt = TestData.ToTensor(text, requiresGrad: true);
        using Tensor tp = TestData.ToTensor(projection, requiresGrad: true);
        using Tensor tti = TestData.ToTensor(teacherImage);
        using Tensor ttt = TestData.ToTensor(teacherText);
        using Tensor loss = TorchLosses.FeatureMatching(ti, tt, tti, ttt, tp);
        loss.backward();

        TestData.AssertRelative(expected, loss.ToDouble(), Tolerance, "fm loss");
        TestData.AssertClose(gi.Data, TestData.ToDoubles(ti.grad!), Tolerance, "fm dL/dimg");
        TestData.AssertClose(gt.Data, TestData.ToDoubles(tt.grad!), Tolerance, "fm dL/dtxt");
        TestData.AssertClose(gp.Data, TestData.ToDoubles(tp.grad!), Tolerance, "fm dL/dP");
    }

    [Theory]
    [InlineData("sigmoid")]
    [InlineData("softmax")]
    [InlineData("none")]
    public void Combined_AllTermsTwoTeachers_MatchesManagedObjective(string name)
    {
        ContrastiveKind? kind = name == "none" ? null : name == "softmax" ? ContrastiveKind.Softmax : ContrastiveKind.Sigmoid;
        const int b = 11, d = 4;
        var options = new CombinedObjectiveOptions
        {
            Contrastive = kind,
            SoftmaxDistillationWeight = 0.7f,
            SigmoidDistillationWeight = 1.3f,
            FeatureMatchingWeight = 2.0f,
        };
        Matrix image = TestData.UnitRows(b, d, 61);
        Matrix text = TestData.UnitRows(b, d, 62);
        (TeacherEmbeddings[] managed, List<TorchTeacher> teachers) = Teachers(b, 2, 63, d);
        var gi = new Matrix(b, d);
        var gt = new Matrix(b, d);
        CombinedResult expected = new CombinedObjective(options).Compute(image, text, Student, managed, default, new EmbeddingGradients(gi, gt));

        using var side = new TorchSide(image, text, Student);
        using TorchCombinedTerms terms = new TorchCombinedObjective(options).Compute(side.Image, side.Text, side.Logits, teachers);

        Assert.Equal(kind is null, terms.Contrastive is null);
        TestData.AssertRelative(expected.FeatureMatching, terms.FeatureMatching!.ToDouble(), Tolerance, "fm term");
        TestData.AssertRelative(expected.SigmoidDistillation, terms.SigmoidDistillation!.ToDouble(), Tolerance, "sig term");
        TestData.AssertRelative(expected.SoftmaxDistillation, terms.SoftmaxDistillation!.ToDouble(), Tolerance, "smax term");
        side.AssertMatches(expected.Total, terms.Total, gi, gt, expected.LogScaleGradient, expected.BiasGradient, "combined " + name);
        DisposeAll(teachers);
    }

    [Fact]
    public void SigmoidContrastive_Float32OnFloat32Inputs_MatchesManagedWithinFloatRounding()
    {
        Matrix image = TestData.UnitRows(16, 8, 71);
        Matrix text = TestData.UnitRows(16, 8, 72);
        LossResult expected = new SigmoidContrastiveLoss().Compute(image, text, Student);

        using Tensor ti = TestData.ToTensor(image, ScalarType.Float32);
        using Tensor tt = TestData.ToTensor(text, ScalarType.Float32);
        TorchLogits logits = TorchLogits.Create(Student);
        using Tensor loss = TorchLosses.SigmoidContrastive(ti, tt, logits);

        Assert.Equal(ScalarType.Float32, loss.dtype);
        TestData.AssertRelative(expected.Loss, loss.ToDouble(), 1e-5, "float32 sigmoid");
        logits.LogScale.Dispose();
        logits.Bias.Dispose();
    }

    [Fact]
    public void SigmoidContrastive_MismatchedShapes_ThrowsNamingText()
    {
        using Tensor image = torch.zeros(4, 3);
        using Tensor text = torch.zeros(4, 2);
        TorchLogits logits = TorchLogits.Create(Student);
        var e = Assert.Throws<ArgumentException>(() => TorchLosses.SigmoidContrastive(image, text, logits));
        Assert.Equal("text", e.ParamName);
    }

    [Fact]
    public void SoftmaxDistillation_NoTeachers_ThrowsNamingTeachers()
    {
        using Tensor image = torch.zeros(4, 3);
        TorchLogits logits = TorchLogits.Create(Student);
        var e = Assert.Throws<ArgumentException>(() => TorchLosses.SoftmaxDistillation(image, image, logits, new List<TorchTeacher>()));
        Assert.Equal("teachers", e.ParamName);
    }

    private static (TeacherEmbeddings[] Managed, List<TorchTeacher> Torch) Teachers(int b, int count, int seed, int dimension = 0)
    {
        var managed = new TeacherEmbeddings[count];
        var teachers = new List<TorchTeacher>();
        for (int k = 0; k < count; k++)
        {
            int dt = dimension > 0 ? dimension : 3 + k;
            Matrix image = TestData.UnitRows(b, dt, seed + 1000 + k);
            Matrix text = TestData.UnitRows(b, dt, seed + 2000 + k);
            LogitParameters logits = LogitParameters.FromLogScale(1.5f + k, -2f + k);
            managed[k] = new TeacherEmbeddings(image, text, logits);
            teachers.Add(new TorchTeacher(TestData.ToTensor(image), TestData.ToTensor(text), logits));
        }

        return (managed, teachers);
    }

    private static void DisposeAll(List<TorchTeacher> teachers)
    {
        foreach (TorchTeacher teacher in teachers)
        {
            teacher.Image.Dispose();
            teacher.Text.Dispose();
        }
    }
}
