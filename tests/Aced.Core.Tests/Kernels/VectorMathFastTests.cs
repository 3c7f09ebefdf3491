using System;
using System.Runtime.Intrinsics;
using Xunit.Abstractions;

namespace Aced.Core.Tests.Kernels;

/// <summary>
/// <see cref="VectorMath.Log1pFast(float)"/> and <see cref="VectorMath.SoftplusFast(float)"/> against double precision,
/// in float ulps of the exact result; every width (scalar, 128, 256, 512 bits) must give the same bits.
/// </summary>
public class VectorMathFastTests
{
    private const int SweepPoints = 200_003;
    private readonly ITestOutputHelper _output;

    public VectorMathFastTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void Log1pFast_UnitInterval_WithinTwoUlpsIncludingDenormals()
    {
        double maxUlp = 0;
        for (int i = 0; i < SweepPoints; i++)
        {
            float u = (float)((double)i / (SweepPoints - 1));
            maxUlp = Math.Max(maxUlp, Ulps(AllWidthsLog1p(u), Log1pExact(u)));
        }

        // Tiny and denormal arguments, logarithmically spaced.
        for (int i = 0; i <= 2000; i++)
        {
            float u = (float)Math.Pow(2, -149 + (149.0 * i / 2000));
            maxUlp = Math.Max(maxUlp, Ulps(AllWidthsLog1p(u), Log1pExact(u)));
        }

        _output.WriteLine($"Log1pFast max error: {maxUlp:F3} ulp");
        Assert.True(maxUlp <= 2.0, $"Log1pFast error {maxUlp} ulp");
        Assert.Equal(0f, VectorMath.Log1pFast(0f));
        Assert.Equal(float.Epsilon, VectorMath.Log1pFast(float.Epsilon));
        Assert.True(float.IsNaN(VectorMath.Log1pFast(Vector256.Create(float.NaN)).GetElement(2)));
    }

    [Fact]
    public void SoftplusFast_Sweep_WithinTwoAndAHalfUlpsAboveTheNormalRange()
    {
        double maxUlp = 0;
        for (int i = 0; i < SweepPoints; i++)
        {
            float x = (float)(-87.3 + (197.3 * i / (SweepPoints - 1)));
            maxUlp = Math.Max(maxUlp, Ulps(AllWidthsSoftplus(x), SoftplusExact(x)));
        }

        _output.WriteLine($"SoftplusFast max error: {maxUlp:F3} ulp");
        Assert.True(maxUlp <= 2.5, $"SoftplusFast error {maxUlp} ulp");
    }

    [Fact]
    public void SoftplusFast_Extremes_ExactAndFlushedBelowTheNormalRange()
    {
        Assert.Equal(100f, AllWidthsSoftplus(100f));
        Assert.Equal(1e4f, AllWidthsSoftplus(1e4f));
        Assert.Equal(float.MaxValue, AllWidthsSoftplus(float.MaxValue));
        Assert.Equal(float.PositiveInfinity, AllWidthsSoftplus(float.PositiveInfinity));
        Assert.Equal(0f, AllWidthsSoftplus(float.NegativeInfinity));
        Assert.Equal(0f, AllWidthsSoftplus(-88f));
        Assert.Equal(0f, AllWidthsSoftplus(-1e4f));
        Assert.True(float.IsNaN(VectorMath.SoftplusFast(float.NaN)));
        Assert.True(float.IsNaN(VectorMath.SoftplusFast(Vector512.Create(float.NaN)).GetElement(3)));
        float tiny = AllWidthsSoftplus(-80f);
        Assert.True(Math.Abs(tiny - Math.Exp(-80)) <= 3e-7 * Math.Exp(-80), $"softplus(-80) = {tiny}");
    }

    [Fact]
    public void SoftplusFast_RandomArguments_WithinThreeEMinus7OfSoftplus()
    {
        var rng = new System.Random(12);
        for (int i = 0; i < 100_000; i++)
        {
            float x = (float)((rng.NextDouble() - 0.5) * 60);
            float fast = VectorMath.SoftplusFast(x);
            float reference = VectorMath.Softplus(x, out _);
            Assert.True(Math.Abs(fast - reference) <= 3e-7 * reference, $"x = {x}: {fast} vs {reference}");
        }
    }

    private static double SoftplusExact(double x) => Math.Max(x, 0) + Log1pExact(Math.Exp(-Math.Abs(x)));

    private static double Log1pExact(double u) =>
        u < 1e-4 ? u * (1 - (u * (0.5 - (u * ((1.0 / 3) - (u * 0.25)))))) : Math.Log(1 + u);

    private static double Ulps(float value, double exact)
    {
        if (value == exact)
        {
            return 0;
        }

        float rounded = (float)exact;
        double ulp = Math.Max(MathF.BitIncrement(MathF.Abs(rounded)) - MathF.Abs(rounded), float.Epsilon);
        return Math.Abs(value - exact) / ulp;
    }

    private static float AllWidthsLog1p(float u)
    {
        float scalar = VectorMath.Log1pFast(u);
        AssertSameBits(scalar, VectorMath.Log1pFast(Vector128.Create(u)).GetElement(2));
        AssertSameBits(scalar, VectorMath.Log1pFast(Vector256.Create(u)).GetElement(4));
        AssertSameBits(scalar, VectorMath.Log1pFast(Vector512.Create(u)).GetElement(15));
        return scalar;
    }

    private static float AllWidthsSoftplus(float x)
    {
        float scalar = VectorMath.SoftplusFast(x);
        AssertSameBits(scalar, VectorMath.SoftplusFast(Vector128.Create(x)).GetElement(0));
        AssertSameBits(scalar, VectorMath.SoftplusFast(Vector256.Create(x)).GetElement(3));
        AssertSameBits(scalar, VectorMath.SoftplusFast(Vector512.Create(x)).GetElement(8));
        return scalar;
    }

    private static void AssertSameBits(float expected, float actual)
    {
        if (BitConverter.SingleToInt32Bits(expected) != BitConverter.SingleToInt32Bits(actual))
        {
            Assert.Fail($"width mismatch: {expected:R} vs {actual:R}");
        }
    }
}
