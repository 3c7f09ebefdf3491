using System;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using Aced.Core;
using Aced.Losses.Internal;

namespace Aced.Losses.Tests;

/// <summary>
/// Every RowKernels pass against <see cref="LegacyRowKernels"/> (the Vector256-only code before the operator +
/// driver rewrite) for every row length 0..257, so each vector tail path (512, 256, 128 bits, scalar) runs.
/// Element-wise outputs (gradients, targets, column terms) must be bit-identical: the per-element formulas did
/// not change and <see cref="VectorMath"/> gives the same bits at every width. Row reductions keep their float
/// lanes but now use 16 of them on AVX-512 (the legacy code used 8), so their last bits differ: they are compared
/// within the float-lane rounding bound (<see cref="AssertClose"/>). Commit c9993f5 ran this file with exact
/// equality of the reductions too, with the new driver restricted to the legacy Vector256 + scalar widths.
/// </summary>
public class RowKernelOracleTests
{
    private const int MaxLength = 257;
    private const float A = 7.5f, C = -3f, GScale = 0.37f, Weight = 0.6f;

    public static TheoryData<bool> Flags => new() { false, true };

    [Fact]
    public void LogSumExp_EveryLength_MatchesLegacy()
    {
        for (int n = 1; n <= MaxLength; n++)
        {
            float[] s = Row(n, 1);
            AssertSum(LegacyRowKernels.LogSumExp(s, A, C), RowKernels.LogSumExp(s, A, C), n, "lse");
        }
    }

    [Theory]
    [MemberData(nameof(Flags))]
    public void SigmoidNegatives_EveryLength_MatchesLegacy(bool withColumns)
    {
        for (int n = 0; n <= MaxLength; n++)
        {
            float[] s0 = Row(n, 2), s1 = Copy(s0);
            float[] input = Copy(s0);
            float[] c0 = withColumns ? Row(n, 3) : [], c1 = Copy(c0);
            double l0 = 0.5, gs0 = 0.25, g0 = -1, l1 = 0.5, gs1 = 0.25, g1 = -1;
            LegacyRowKernels.SigmoidNegatives(s0, A, C, GScale, c0, ref l0, ref gs0, ref g0);
            RowKernels.SigmoidNegatives(s1, A, C, GScale, c1, ref l1, ref gs1, ref g1);
            AssertSame(s0, s1, n, "G");
            AssertSame(c0, c1, n, "columns");
            AssertSum(l0, l1, n, "loss");
            AssertGradientSums(gs0, gs1, g0, g1, input, s0, n);
        }
    }

    [Fact]
    public void SoftmaxRowGradient_EveryLength_MatchesLegacy()
    {
        for (int n = 0; n <= MaxLength; n++)
        {
            float[] s0 = Row(n, 4), s1 = Copy(s0);
            float[] input = Copy(s0);
            int diag = n == 0 ? -1 : n / 3;
            double lse = n == 0 ? 0 : LegacyRowKernels.LogSumExp(s0, A, C);
            double gs0 = 0, g0 = 0, gs1 = 0, g1 = 0;
            LegacyRowKernels.SoftmaxRowGradient(s0, diag, A, C, lse, GScale, ref gs0, ref g0);
            RowKernels.SoftmaxRowGradient(s1, diag, A, C, lse, GScale, ref gs1, ref g1);
            AssertSame(s0, s1, n, "G");
            AssertGradientSums(gs0, gs1, g0, g1, input, s0, n);
        }
    }

    [Theory]
    [MemberData(nameof(Flags))]
    public void SoftmaxBothGradient_EveryLength_MatchesLegacy(bool separable)
    {
        for (int n = 0; n <= MaxLength; n++)
        {
            float[] s0 = Row(n, 5), s1 = Copy(s0);
            float[] input = Copy(s0);
            float[] column = separable ? Row(n, 6, 0.5f, 1.5f) : Row(n, 6, -12f, -6f);
            int diag = n == 0 ? -1 : (2 * n) / 3;
            double rowLse = 8.25;
            double gs0 = 0, g0 = 0, gs1 = 0, g1 = 0;
            if (separable)
            {
                LegacyRowKernels.SoftmaxBothGradientSeparable(s0, column, diag, A, C, rowLse, 1.25f, GScale, ref gs0, ref g0);
                RowKernels.SoftmaxBothGradientSeparable(s1, column, diag, A, C, rowLse, 1.25f, GScale, ref gs1, ref g1);
            }
            else
            {
                LegacyRowKernels.SoftmaxBothGradient(s0, column, diag, A, C, rowLse, GScale, ref gs0, ref g0);
                RowKernels.SoftmaxBothGradient(s1, column, diag, A, C, rowLse, GScale, ref gs1, ref g1);
            }

            AssertSame(s0, s1, n, "G");
            AssertGradientSums(gs0, gs1, g0, g1, input, s0, n);
        }
    }

    [Theory]
    [MemberData(nameof(Flags))]
    public void SoftmaxTeacherRow_EveryLength_MatchesLegacy(bool accumulate)
    {
        for (int n = 1; n <= MaxLength; n++)
        {
            float[] t = Row(n, 7);
            float[] m0 = accumulate ? Row(n, 8, 0f, 1f) : new float[n], m1 = Copy(m0);
            double lse = LegacyRowKernels.LogSumExp(t, A, C);
            double h0 = LegacyRowKernels.SoftmaxTeacherRow(t, m0, A, C, lse, Weight, accumulate);
            double h1 = RowKernels.SoftmaxTeacherRow(t, m1, A, C, lse, Weight, accumulate);
            AssertSame(m0, m1, n, "M");
            AssertSum(h0, h1, n, "entropy");

            // In place (m is t itself).
            float[] u0 = Copy(t), u1 = Copy(t);
            h0 = LegacyRowKernels.SoftmaxTeacherRow(u0, u0, A, C, lse, Weight, accumulate);
            h1 = RowKernels.SoftmaxTeacherRow(u1, u1, A, C, lse, Weight, accumulate);
            AssertSame(u0, u1, n, "M in place");
            AssertSum(h0, h1, n, "entropy in place");
        }
    }

    [Fact]
    public void SoftmaxStudentRow_EveryLength_MatchesLegacy()
    {
        for (int n = 1; n <= MaxLength; n++)
        {
            float[] s0 = Row(n, 9), s1 = Copy(s0);
            float[] input = Copy(s0);
            float[] m = Row(n, 10, 0f, 2f / n);
            double lse = LegacyRowKernels.LogSumExp(s0, A, C);
            double gs0 = 0, g0 = 0, gs1 = 0, g1 = 0;
            double ce0 = LegacyRowKernels.SoftmaxStudentRow(s0, m, A, C, lse, GScale, ref gs0, ref g0);
            double ce1 = RowKernels.SoftmaxStudentRow(s1, m, A, C, lse, GScale, ref gs1, ref g1);
            AssertSame(s0, s1, n, "G");
            AssertSum(ce0, ce1, n, "ce");
            AssertGradientSums(gs0, gs1, g0, g1, input, s0, n);
        }
    }

    [Theory]
    [MemberData(nameof(Flags))]
    public void SigmoidTeacherRow_EveryLength_MatchesLegacy(bool accumulate)
    {
        for (int n = 0; n <= MaxLength; n++)
        {
            float[] t = Row(n, 11);
            float[] m0 = accumulate ? Row(n, 12, 0f, 1f) : new float[n], m1 = Copy(m0);
            double h0 = LegacyRowKernels.SigmoidTeacherRow(t, m0, A, C, Weight, accumulate);
            double h1 = RowKernels.SigmoidTeacherRow(t, m1, A, C, Weight, accumulate);
            AssertSame(m0, m1, n, "M");
            AssertSum(h0, h1, n, "entropy");
        }
    }

    [Theory]
    [MemberData(nameof(Flags))]
    public void SigmoidStudentRow_EveryLength_MatchesLegacy(bool withColumns)
    {
        for (int n = 0; n <= MaxLength; n++)
        {
            float[] s0 = Row(n, 13), s1 = Copy(s0);
            float[] input = Copy(s0);
            float[] m = Row(n, 14, 0f, 1f);
            float[] c0 = withColumns ? Row(n, 15) : [], c1 = Copy(c0);
            double gs0 = 0, g0 = 0, gs1 = 0, g1 = 0;
            double l0 = LegacyRowKernels.SigmoidStudentRow(s0, m, A, C, GScale, c0, ref gs0, ref g0);
            double l1 = RowKernels.SigmoidStudentRow(s1, m, A, C, GScale, c1, ref gs1, ref g1);
            AssertSame(s0, s1, n, "G");
            AssertSame(c0, c1, n, "columns");
            AssertSum(l0, l1, n, "loss");
            AssertGradientSums(gs0, gs1, g0, g1, input, s0, n);
        }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void SoftmaxTeacherBoth_EveryLength_MatchesLegacy(bool separable, bool accumulate)
    {
        for (int n = 0; n <= MaxLength; n++)
        {
            float[] t = Row(n, 16), s = Row(n, 17);
            // Log-probabilities stay negative (aT t + shift <= -0.5), so every entropy and cross-entropy term is >= 0.
            float[] shiftT = Row(n, 18, -14f, -8f), shiftS = Row(n, 19, -12f, -6f);
            float[] factor = separable ? Row(n, 20, 0.5f, 1.5f) : [];
            float[] m0 = accumulate ? Row(n, 21, 0f, 1f) : new float[n], m1 = Copy(m0);
            float[] cc0 = Row(n, 22), cc1 = Copy(cc0);
            double ce0 = LegacyRowKernels.SoftmaxTeacherBoth(t, s, m0, shiftT, shiftS, A, -9f, 6f, -8f, Weight, accumulate, cc0, factor, 0.75f, out double h0);
            double ce1 = RowKernels.SoftmaxTeacherBoth(t, s, m1, shiftT, shiftS, A, -9f, 6f, -8f, Weight, accumulate, cc1, factor, 0.75f, out double h1);
            AssertSame(m0, m1, n, "M");
            AssertSame(cc0, cc1, n, "columnCe");
            AssertSum(ce0, ce1, n, "ce");
            AssertSum(h0, h1, n, "entropy");
        }
    }

    [Theory]
    [MemberData(nameof(Flags))]
    public void SoftmaxStudentBoth_EveryLength_MatchesLegacy(bool separable)
    {
        for (int n = 0; n <= MaxLength; n++)
        {
            float[] s0 = Row(n, 23), s1 = Copy(s0);
            float[] input = Copy(s0);
            float[] m = Row(n, 24, 0f, 1f);
            float[] shift = Row(n, 25, -12f, -6f);
            float[] factor = separable ? Row(n, 26, 0.5f, 1.5f) : [];
            double gs0 = 0, g0 = 0, gs1 = 0, g1 = 0;
            LegacyRowKernels.SoftmaxStudentBoth(s0, m, shift, A, -8f, GScale, factor, 1.25f, ref gs0, ref g0);
            RowKernels.SoftmaxStudentBoth(s1, m, shift, A, -8f, GScale, factor, 1.25f, ref gs1, ref g1);
            AssertSame(s0, s1, n, "G");
            AssertGradientSums(gs0, gs1, g0, g1, input, s0, n);
        }
    }

    private static float[] Row(int n, ulong stream, float lo = -1f, float hi = 1f)
    {
        var rng = new CounterRng(2024, stream * 1000 + (ulong)n);
        var row = new float[n];
        for (int j = 0; j < n; j++)
        {
            row[j] = lo + ((hi - lo) * rng.NextFloat());
        }

        return row;
    }

    private static float[] Copy(float[] x) => (float[])x.Clone();

    /// <summary>
    /// Element-wise outputs: bit-identical where <c>MultiplyAddEstimate</c> is a fused multiply-add (x64 with FMA,
    /// Arm64), as <c>MathF.FusedMultiplyAdd</c> in the scalar tail is; elsewhere (e.g. <c>DOTNET_EnableAVX2=0</c>)
    /// the separable passes round the product once more in their vector lanes, so allow 1e-6 * max(|G|, 1) there.
    /// </summary>
    private static void AssertSame(float[] expected, float[] actual, int n, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        bool fusedEverywhere = Fma.IsSupported || AdvSimd.Arm64.IsSupported;
        for (int j = 0; j < expected.Length; j++)
        {
            bool same = BitConverter.SingleToInt32Bits(expected[j]) == BitConverter.SingleToInt32Bits(actual[j]);
            if (!same && (fusedEverywhere || Math.Abs(expected[j] - actual[j]) > 1e-6f * Math.Max(Math.Abs(expected[j]), 1f)))
            {
                Assert.Fail($"n = {n}, {what}[{j}]: legacy {expected[j]:R}, now {actual[j]:R}");
            }
        }
    }

    /// <summary>
    /// A reduction of non-negative terms (loss, entropy, cross-entropy, log-sum-exp): the legacy kernel summed
    /// 8 float lanes, the new one sums 16 (then 8, 4) on AVX-512, so the last bits differ; both are within the
    /// float-lane bound <c>(n / lanes) * 2^-24 * sum|terms|</c> of the exact sum, and <c>sum|terms| = |sum|</c>.
    /// </summary>
    private static void AssertSum(double expected, double actual, int n, string what)
    {
        AssertClose(expected, actual, Math.Abs(expected), n, what);
    }

    /// <summary>Sum G*s and sum G with <c>sum|terms|</c> taken from the (bit-identical) gradient row.</summary>
    private static void AssertGradientSums(double gsExpected, double gsActual, double gExpected, double gActual, float[] input, float[] gradient, int n)
    {
        double magnitudeGs = 2 * GScale, magnitudeG = 2 * GScale;
        for (int j = 0; j < n; j++)
        {
            magnitudeGs += Math.Abs((double)gradient[j] * input[j]);
            magnitudeG += Math.Abs(gradient[j]);
        }

        AssertClose(gsExpected, gsActual, magnitudeGs, n, "gs");
        AssertClose(gExpected, gActual, magnitudeG, n, "g");
    }

    private static void AssertClose(double expected, double actual, double magnitude, int n, string what)
    {
        double tolerance = (n + 8) * 6e-8 * magnitude;
        Assert.True(Math.Abs(expected - actual) <= tolerance, $"n = {n}, {what}: legacy {expected:R}, now {actual:R} (tolerance {tolerance:G3})");
    }
}
