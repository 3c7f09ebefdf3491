using System;
using System.Runtime.Intrinsics;
using Aced.Losses.Internal;

namespace Aced.Losses.Tests;

public class VectorMathTests
{
    [Fact]
    public void Exp_Grid_WithinTwoUlpsAndMatchesScalarTwin()
    {
        for (double x = -87.0; x <= 88.0; x += 0.0137)
        {
            float xf = (float)x;
            float v = VectorMath.Exp(Vector256.Create(xf)).GetElement(0);
            float s = VectorMath.Exp(xf);
            double exact = Math.Exp(xf);
            Assert.True(Math.Abs(v - exact) <= 2.5e-7 * exact, $"exp({xf}) = {v}, exact {exact}");
            Assert.Equal(v, s);
        }

        Assert.Equal(1f, VectorMath.Exp(Vector256<float>.Zero).GetElement(0));
        Assert.Equal(0f, VectorMath.Exp(Vector256.Create(-1000f)).GetElement(0));
        Assert.True(float.IsFinite(VectorMath.Exp(Vector256.Create(1000f)).GetElement(0)));
    }

    [Fact]
    public void Log1pUnit_Grid_RelativeAccuracyIncludingTinyArguments()
    {
        foreach (double e in new[] { 0.0, 1e-38, 1e-30, 1e-12, 1e-7, 3e-4, 0.01, 0.1, 0.3, 0.5, 0.77, 0.999, 1.0 })
        {
            float ef = (float)e;
            float v = VectorMath.Log1pUnit(Vector256.Create(ef)).GetElement(0);
            double ed = ef;
            double exact = ed < 1e-4 ? ed - (ed * ed / 2) + (ed * ed * ed / 3) : Math.Log(1 + ed); // series where 1 + e would round

            Assert.True(Math.Abs(v - exact) <= 3e-7 * Math.Max(exact, 1e-45), $"log1p({ef}) = {v}, exact {exact}");
            Assert.Equal(v, VectorMath.Log1pUnit(ef));
        }
    }

    [Fact]
    public void Softplus_Extremes_AreExact()
    {
        float big = VectorMath.Softplus(Vector256.Create(100f), out _).GetElement(0);
        float tiny = VectorMath.Softplus(Vector256.Create(-30f), out _).GetElement(0);
        Assert.Equal(100f, big);
        Assert.True(Math.Abs(tiny - Math.Exp(-30)) <= 3e-7 * Math.Exp(-30), $"softplus(-30) = {tiny}");
    }
}
