using System;
using Aced.Core;

namespace Aced.Core.Tests.Contrastive;

public class LogitParametersTests
{
    [Fact]
    public void Initial_Sigmoid_IsSigLipInitialisation()
    {
        LogitParameters p = LogitParameters.Initial(ContrastiveKind.Sigmoid);
        Assert.Equal(10f, p.Scale);
        Assert.Equal(MathF.Log(10f), p.LogScale);
        Assert.Equal(-10f, p.Bias);
        Assert.Equal(LogitParameters.SigmoidDefault, p);
    }

    [Fact]
    public void Initial_Softmax_IsClipInitialisationWithoutBias()
    {
        LogitParameters p = LogitParameters.Initial(ContrastiveKind.Softmax);
        Assert.Equal(1f / 0.07f, p.Scale);
        Assert.Equal(MathF.Log(1f / 0.07f), p.LogScale);
        Assert.Equal(0f, p.Bias);
        Assert.Equal(LogitParameters.SoftmaxDefault, p);
    }

    [Fact]
    public void Initial_UndefinedKind_ThrowsNamingKind()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => LogitParameters.Initial((ContrastiveKind)7));
        Assert.Equal("kind", e.ParamName);
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(2.302585f)]
    [InlineData(-3.7f)]
    [InlineData(4.6051702f)]
    public void FromLogScale_AnyFiniteT_KeepsTExactlyAndScaleIsExp(float t)
    {
        LogitParameters p = LogitParameters.FromLogScale(t, 0.25f);
        Assert.Equal(t, p.LogScale);
        Assert.Equal(MathF.Exp(t), p.Scale);
        Assert.Equal(0.25f, p.Bias);
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(-2.3f)]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void Constructor_NonPositiveOrNonFiniteScale_ThrowsPointingToFromLogScale(float scale)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new LogitParameters(scale, 0f));
        Assert.Equal("scale", e.ParamName);
        Assert.Contains("FromLogScale", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromLogScale_OverflowingT_ThrowsNamingLogScale()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => LogitParameters.FromLogScale(100f));
        Assert.Equal("logScale", e.ParamName);
    }

    [Fact]
    public void Default_IsDefault_TrueOnlyForTheZeroValue()
    {
        Assert.True(default(LogitParameters).IsDefault);
        Assert.False(LogitParameters.SigmoidDefault.IsDefault);
    }
}
