using System;
using FsCheck;
using FsCheck.Fluent;

namespace Aced.Core.Tests.Kernels;

/// <summary>The double-precision softplus: full relative accuracy where <c>log(1 + exp(x))</c> rounds to 0 or 1 + tiny.</summary>
public class StableMathDoubleTests
{
    // Reference: for x <= -1, softplus(x) = e - e^2/2 + e^3/3 - e^4/4 + ... with e = exp(x) <= 0.37, summed until the
    // terms vanish (alternating, so the error is below the first omitted term); for -1 < x <= 0 the naive formula loses
    // at most an ulp of 1 + e (about 4e-16 relative, as log(1 + e) > 0.31); for x > 0 softplus(x) = x + softplus(-x).
    private static double Reference(double x)
    {
        if (x > 0)
        {
            return x + Reference(-x);
        }

        if (x > -1)
        {
            return Math.Log(1 + Math.Exp(x));
        }

        double e = Math.Exp(x);
        double sum = 0;
        double power = e;
        for (int k = 1; k < 200 && power != 0; k++)
        {
            sum += ((k & 1) == 1 ? power : -power) / k;
            power *= e;
        }

        return sum;
    }

    [Theory]
    [InlineData(-36.8)]
    [InlineData(-40)]
    [InlineData(-100)]
    [InlineData(-700)]
    [InlineData(-1e-3)]
    [InlineData(-20)]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(40)]
    [InlineData(1e6)]
    public void Softplus_Double_MatchesSeriesReferenceToFullPrecision(double x)
    {
        double expected = Reference(x);
        double actual = StableMath.Softplus(x);
        Assert.True(Math.Abs(actual - expected) <= 4e-16 * Math.Abs(expected), $"softplus({x}) = {actual:R}, reference {expected:R}");
        Assert.True(actual > 0);
    }

    [Fact]
    public void Softplus_Double_Extremes()
    {
        Assert.Equal(Math.Exp(-745), StableMath.Softplus(-745.0));
        Assert.Equal(0.0, StableMath.Softplus(-800.0));
        Assert.Equal(0.0, StableMath.Softplus(double.NegativeInfinity));
        Assert.Equal(double.PositiveInfinity, StableMath.Softplus(double.PositiveInfinity));
        Assert.True(double.IsNaN(StableMath.Softplus(double.NaN)));
        Assert.Equal(1e300, StableMath.Softplus(1e300));
    }

    [Fact]
    public void Softplus_Double_DenseGrid_MatchesReference_Property()
    {
        Prop.ForAll(Gen.Choose(-740_000, 60_000).Select(i => i / 1000.0).ToArbitrary(), x =>
        {
            double expected = Reference(x);
            double actual = StableMath.Softplus(x);
            return Math.Abs(actual - expected) <= 1e-15 * expected
                && Math.Abs(StableMath.Softplus(x) - StableMath.Softplus(-x) - x) <= 1e-15 * Math.Max(1, Math.Abs(x));
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(2000));
    }
}
