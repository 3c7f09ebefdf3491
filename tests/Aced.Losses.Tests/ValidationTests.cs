using System;
using Aced.Core;

namespace Aced.Losses.Tests;

public class ValidationTests
{
    private static readonly LogitParameters s_p = new(10f, -10f);

    [Fact]
    public void Compute_EmptyBatch_ThrowsNamingImage()
    {
        var ex = Assert.Throws<ArgumentException>(() => new SigmoidContrastiveLoss().Compute(new Matrix(0, 4), new Matrix(0, 4), s_p));
        Assert.Equal("image", ex.ParamName);
        Assert.Contains("b = 0", ex.Message);
    }

    [Fact]
    public void Compute_ShapeMismatch_ThrowsNamingText()
    {
        var ex = Assert.Throws<ArgumentException>(() => new SoftmaxContrastiveLoss().Compute(new Matrix(3, 4), new Matrix(3, 5), s_p));
        Assert.Equal("text", ex.ParamName);
        Assert.Contains("3x5", ex.Message);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void Compute_NonFiniteEmbedding_ThrowsWithPosition(float bad)
    {
        var img = TestData.Random(4, 3, 1, 1);
        img[2, 1] = bad;
        var ex = Assert.Throws<ArgumentException>(() => new SigmoidContrastiveLoss().Compute(img, TestData.Random(4, 3, 1, 2), s_p));
        Assert.Equal("image", ex.ParamName);
        Assert.Contains("row 2, column 1", ex.Message);
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(-1f)]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void LogitParameters_BadScale_Throws(float scale) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new LogitParameters(scale, 0f));

    [Fact]
    public void Compute_DefaultLogitParameters_Throws()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new SigmoidContrastiveLoss().Compute(TestData.Random(2, 2, 1, 1), TestData.Random(2, 2, 1, 2), default));
        Assert.Equal("logits", ex.ParamName);
    }

    [Fact]
    public void Compute_OverflowingLogits_Throws()
    {
        var img = TestData.Random(3, 2, 1, 1, normalize: false);
        img[0, 0] = 1e18f;
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new SigmoidContrastiveLoss().Compute(img, img.View.ToMatrix(), new LogitParameters(1e6f, 0f)));
        Assert.Contains("normalise", ex.Message);
    }

    [Fact]
    public void Compute_GradientOverlapsInput_Throws()
    {
        var img = TestData.Random(3, 2, 1, 1);
        var ex = Assert.Throws<ArgumentException>(() => new SigmoidContrastiveLoss().Compute(img, TestData.Random(3, 2, 1, 2), s_p, new EmbeddingGradients(img, default)));
        Assert.Equal("gradients.Image", ex.ParamName);
    }

    [Fact]
    public void Compute_GradientWrongShape_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => new SoftmaxContrastiveLoss().Compute(TestData.Random(3, 2, 1, 1), TestData.Random(3, 2, 1, 2), s_p, new EmbeddingGradients(default, new Matrix(2, 3))));
        Assert.Equal("gradients.Text", ex.ParamName);
    }

    [Fact]
    public void Compute_PerExampleTooShort_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => new SigmoidContrastiveLoss().Compute(TestData.Random(3, 2, 1, 1), TestData.Random(3, 2, 1, 2), s_p, default, new float[2]));
        Assert.Equal("imageAnchored", ex.ParamName);
    }

    [Fact]
    public void Distillation_TeacherRowsDiffer_ThrowsNamingTeacher()
    {
        var t = new TeacherEmbeddings(TestData.Random(4, 2, 1, 3), TestData.Random(4, 2, 1, 4), s_p);
        var ex = Assert.Throws<ArgumentException>(() => new SoftmaxDistillationLoss().Compute(TestData.Random(3, 2, 1, 1), TestData.Random(3, 2, 1, 2), s_p, t));
        Assert.Equal("teachers[0].Image", ex.ParamName);
    }

    [Fact]
    public void Distillation_NoTeachers_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => new SigmoidDistillationLoss().Compute(TestData.Random(3, 2, 1, 1), TestData.Random(3, 2, 1, 2), s_p, ReadOnlySpan<TeacherEmbeddings>.Empty));
        Assert.Equal("teachers", ex.ParamName);
    }

    [Fact]
    public void Options_NegativeWeight_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new CombinedObjectiveOptions { SigmoidDistillationWeight = -1f });
}
