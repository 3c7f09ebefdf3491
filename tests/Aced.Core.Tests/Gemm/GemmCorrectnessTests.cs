using System;
using Aced.Core;
using FsCheck;
using FsCheck.Fluent;

namespace Aced.Core.Tests;

/// <summary>
/// SGEMM against a double-precision triple loop. Tolerance: |C - C_ref| &lt;= 2e-7 * (k + 2) * (|alpha| sum_p |a b| + |beta c0|).
/// </summary>
public sealed class GemmCorrectnessTests
{
    private static readonly Transpose[] s_modes = { Transpose.None, Transpose.Transposed };

    public sealed record Case(int M, int N, int K, Transpose TransA, Transpose TransB, float Alpha, float Beta, int Pad, int Seed);

    private static Gen<Case> CaseGen(int maxSize) =>
        from m in Gen.Choose(0, maxSize)
        from n in Gen.Choose(0, maxSize)
        from k in Gen.Choose(0, maxSize)
        from ta in Gen.Elements(Transpose.None, Transpose.Transposed)
        from tb in Gen.Elements(Transpose.None, Transpose.Transposed)
        from alpha in Gen.Elements(1f, -1f, 0.5f, 2.5f, 0f)
        from beta in Gen.Elements(0f, 1f, -0.75f, 2f)
        from pad in Gen.Choose(0, 3)
        from seed in Gen.Choose(0, int.MaxValue)
        select new Case(m, n, k, ta, tb, alpha, beta, pad, seed);

    internal static void CheckProperty(int maxTest, int maxSize)
    {
        Prop.ForAll(CaseGen(maxSize).ToArbitrary(), c =>
        {
            GemmTestHelpers.CheckCase(new System.Random(c.Seed), c.TransA, c.TransB, c.M, c.N, c.K, c.Alpha, c.Beta, c.Pad);
            return true;
        }).Check(Config.QuickThrowOnFailure
            .WithMaxTest(maxTest)
            .WithReplay(Microsoft.FSharp.Core.FSharpOption<Replay>.Some(new Replay(new Rnd(20251122UL, 0x9E3779B97F4A7C15UL), Microsoft.FSharp.Core.FSharpOption<int>.None))));
    }

    [Fact]
    public void Multiply_RandomShapesUpTo70_MatchesDoubleReference() => CheckProperty(maxTest: 150, maxSize: 70);

    public static TheoryData<int, int, int> EdgeShapes()
    {
        var data = new TheoryData<int, int, int>
        {
            { 1, 1, 1 },
            { 13, 17, 19 },
            { 7, 5, 1 },
            { 1, 33, 1 },
            { 31, 1, 9 },
            { 8, 32, 8 },
            { 9, 33, 9 },
            { 0, 5, 3 },
            { 5, 0, 3 },
            { 5, 3, 0 },
            { 0, 0, 0 },
            { GemmPlan.McMax + 1, 40, 24 },
            { 20, GemmPlan.NcMax + 1, 11 },
            { 17, 35, GemmPlan.KcMax + 1 },
            { GemmPlan.McEpilogue + 1, 31, 2 * GemmPlan.KcMax + 3 },
        };
        return data;
    }

    [Theory]
    [MemberData(nameof(EdgeShapes))]
    public void Multiply_EdgeShapes_AllModesMatchReference(int m, int n, int k)
    {
        var rng = new System.Random(m + (31 * n) + (977 * k));
        foreach (Transpose ta in s_modes)
        {
            foreach (Transpose tb in s_modes)
            {
                GemmTestHelpers.CheckCase(rng, ta, tb, m, n, k, 1f, 0f, 0);
                GemmTestHelpers.CheckCase(rng, ta, tb, m, n, k, -0.5f, 1.5f, 3);
            }
        }
    }

    [Theory]
    [InlineData(Transpose.None, Transpose.None)]
    [InlineData(Transpose.None, Transpose.Transposed)]
    [InlineData(Transpose.Transposed, Transpose.None)]
    [InlineData(Transpose.Transposed, Transpose.Transposed)]
    public void Multiply_Large300x257x520_MatchesReference(Transpose ta, Transpose tb) =>
        GemmTestHelpers.CheckCase(new System.Random(300), ta, tb, 300, 257, 520, 0.75f, -1f, 2);

    [Fact]
    public void Multiply_BetaZero_IgnoresNaNInC()
    {
        var rng = new System.Random(5);
        GemmTestHelpers.CheckCase(rng, Transpose.None, Transpose.None, 37, 45, 29, 1f, 0f, 2, nanInC: true);
        GemmTestHelpers.CheckCase(rng, Transpose.None, Transpose.Transposed, 37, 45, 0, 1f, 0f, 2, nanInC: true);
        GemmTestHelpers.CheckCase(rng, Transpose.Transposed, Transpose.None, 37, 45, 29, 0f, 0f, 2, nanInC: true);
    }

    [Fact]
    public void Multiply_KZero_ScalesCByBeta()
    {
        var c = new Matrix(3, 4);
        c.Span.Fill(2f);
        Gemm.Multiply(Transpose.None, Transpose.None, 1f, new Matrix(3, 0), new Matrix(0, 4), 0.5f, c);
        Assert.All(c.Data, x => Assert.Equal(1f, x));
    }

    [Fact]
    public void Multiply_IdentityTimesMatrix_IsExact()
    {
        var rng = new System.Random(9);
        int n = 45;
        var identity = new Matrix(n, n);
        for (int i = 0; i < n; i++)
        {
            identity[i, i] = 1f;
        }

        MatrixView b = GemmTestHelpers.RandomView(rng, n, 77);
        var c = new Matrix(n, 77);
        Gemm.Multiply(identity, b, c);
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < 77; j++)
            {
                Assert.Equal(b[i, j], c[i, j]);
            }
        }
    }

    [Fact]
    public void Multiply_ShapeMismatch_NamesArgument()
    {
        var ex = Assert.Throws<ArgumentException>(() => Gemm.Multiply(new Matrix(3, 4), new Matrix(5, 2), new Matrix(3, 2)));
        Assert.Equal("b", ex.ParamName);
        var exC = Assert.Throws<ArgumentException>(() => Gemm.Multiply(new Matrix(3, 4), new Matrix(4, 2), new Matrix(2, 3)));
        Assert.Equal("c", exC.ParamName);
    }

    [Fact]
    public void Multiply_CBesideAInOneMatrix_IsAcceptedAndCorrect()
    {
        // C = columns [4, 8) and A = columns [0, 4) of one 6 x 8 matrix: interleaved address ranges but disjoint
        // elements. The range-based overlap check used to reject this valid call.
        var rng = new System.Random(19);
        var data = new float[6 * 8];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = (float)((rng.NextDouble() * 2) - 1);
        }

        var a = new MatrixView(data, 0, 6, 4, 8);
        var c = new MatrixView(data, 4, 6, 4, 8);
        MatrixView b = GemmTestHelpers.RandomView(rng, 4, 4);
        Matrix aCopy = a.ToMatrix();
        var c0 = c.ToMatrix();
        (double[] expected, double[] scale) = GemmTestHelpers.Reference(Transpose.None, Transpose.None, 1f, aCopy, b, 0.5f, c0, 6, 4, 4);

        Gemm.Multiply(Transpose.None, Transpose.None, 1f, a, b, 0.5f, c);

        GemmTestHelpers.AssertClose(expected, scale, c, 6, 4, 4, "C beside A");
        Assert.Equal(aCopy.Data, a.ToMatrix().Data);
    }

    [Fact]
    public void Multiply_OverlappingC_Throws()
    {
        var data = new float[100];
        var a = new MatrixView(data, 0, 4, 4, 4);
        var b = new MatrixView(data, 40, 4, 4, 4);
        var c = new MatrixView(data, 10, 4, 4, 4);
        var ex = Assert.Throws<ArgumentException>(() => Gemm.Multiply(a, b, c));
        Assert.Equal("c", ex.ParamName);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void Multiply_NonFiniteAlphaOrBeta_Throws(float bad)
    {
        var a = new Matrix(2, 2);
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(Transpose.None, Transpose.None, bad, a, a, 0f, new Matrix(2, 2)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(Transpose.None, Transpose.None, 1f, a, a, bad, new Matrix(2, 2)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, bad, a, a, default(NoOpEpilogue)));
    }

    [Fact]
    public void Sgemm_SpanTooShort_Throws()
    {
        var a = new float[5];
        var b = new float[6];
        var c = new float[6];
        var ex = Assert.Throws<ArgumentException>(() => ManagedGemmProvider.Instance.Sgemm(Transpose.None, Transpose.None, 2, 3, 3, 1f, a, 3, b, 3, 0f, c, 3));
        Assert.Equal("a", ex.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => ManagedGemmProvider.Instance.Sgemm(Transpose.None, Transpose.None, 2, 3, 3, 1f, new float[6], 2, b, 3, 0f, c, 3));
    }

    [Fact]
    public void Describe_MentionsProviderAndKernel()
    {
        string text = GemmControl.Describe();
        Assert.Contains("Aced managed SGEMM", text);
        Assert.Contains(GemmKernels.TileDescription(GemmKernels.ActiveIsa), text);
        Assert.Contains(GemmKernels.ActiveIsa == GemmIsa.Vector256 ? "6x16" : "8x32", text);
    }

    private readonly struct NoOpEpilogue : IGemmEpilogue
    {
        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
        }
    }
}
