using System;
using Aced.Core;

namespace Aced.Core.Tests;

/// <summary>
/// <see cref="Gemm.MultiplyWithEpilogues{TEpilogue}"/> runs a group of fused products as one parallel job; every row
/// must see exactly the tile sequence of consecutive <see cref="Gemm.MultiplyWithEpilogue{TEpilogue}"/> calls, so an
/// order-sensitive per-row fold gives the same bits.
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public sealed class GemmEpilogueGroupTests
{
    /// <summary>An order-sensitive per-row fold of every tile: acc = acc * 1.000001 + tag + sum(tile row), in double.</summary>
    internal readonly struct FoldEpilogue : IGemmEpilogue
    {
        private readonly double[] _acc;
        private readonly double _tag;

        public FoldEpilogue(double[] acc, double tag)
        {
            _acc = acc;
            _tag = tag;
        }

        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
            for (int r = 0; r < rows; r++)
            {
                double s = 0;
                foreach (float v in tile.Slice(r * stride, columns))
                {
                    s += v;
                }

                ref double a = ref _acc[rowStart + r];
                a = (a * 1.000001) + _tag + (columnStart * 1e-3) + s;
            }
        }
    }

    private static EpilogueProduct<FoldEpilogue>[] Products(int m, double[] acc, int seed)
    {
        var rng = new System.Random(seed);

        // Mixed shapes: one and two column blocks, one and two k blocks, strided and transposed A, alpha 0.
        return
        [
            new(Transpose.None, Transpose.Transposed, 0.75f, GemmTestHelpers.RandomView(rng, m, 255, 3), GemmTestHelpers.RandomView(rng, 64, 255, 1), new FoldEpilogue(acc, 1)),
            new(Transpose.None, Transpose.Transposed, 1.5f, GemmTestHelpers.RandomView(rng, m, 401), GemmTestHelpers.RandomView(rng, 300, 401), new FoldEpilogue(acc, 2)),
            new(Transpose.Transposed, Transpose.None, 1f, GemmTestHelpers.RandomView(rng, 37, m, 2), GemmTestHelpers.RandomView(rng, 37, 33), new FoldEpilogue(acc, 3)),
            new(Transpose.None, Transpose.None, 0f, GemmTestHelpers.RandomView(rng, m, 16), GemmTestHelpers.RandomView(rng, 16, 5), new FoldEpilogue(acc, 4)),
        ];
    }

    private static double[] Run(int m, int degree, GemmIsa isa, bool grouped, int count)
    {
        int oldDegree = GemmControl.MaxDegreeOfParallelism;
        double oldThreshold = GemmControl.ParallelThreshold;
        GemmIsa oldIsa = GemmKernels.ForcedIsa;
        try
        {
            GemmControl.MaxDegreeOfParallelism = degree;
            GemmControl.ParallelThreshold = 0;
            GemmKernels.ForcedIsa = isa;
            double[] acc = new double[m];
            EpilogueProduct<FoldEpilogue>[] products = Products(m, acc, 5);
            if (grouped)
            {
                Gemm.MultiplyWithEpilogues<FoldEpilogue>(products.AsSpan(0, count));
            }
            else
            {
                for (int q = 0; q < count; q++)
                {
                    EpilogueProduct<FoldEpilogue> p = products[q];
                    Gemm.MultiplyWithEpilogue(p.TransA, p.TransB, p.Alpha, p.A, p.B, p.Epilogue);
                }
            }

            return acc;
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = oldDegree;
            GemmControl.ParallelThreshold = oldThreshold;
            GemmKernels.ForcedIsa = oldIsa;
        }
    }

    [Theory]
    [InlineData(1, 4)]
    [InlineData(7, 4)]
    [InlineData(64, 2)]
    [InlineData(200, 4)]
    [InlineData(517, 3)]
    public void MultiplyWithEpilogues_AnyDegreeAndIsa_BitIdenticalToConsecutiveCalls(int m, int count)
    {
        double[] expected = Run(m, 1, GemmIsa.Auto, grouped: false, count);
        Assert.Contains(expected, v => v != 0);
        foreach (int degree in new[] { 1, 2, 3 })
        {
            Assert.Equal(expected, Run(m, degree, GemmIsa.Auto, grouped: true, count));
        }

        // The AVX2 and scalar kernels give the same bits as AVX-512 (packed A instead of the direct path).
        Assert.Equal(expected, Run(m, 2, GemmIsa.Vector256, grouped: true, count));
        Assert.Equal(expected, Run(m, 3, GemmIsa.Scalar, grouped: true, count));
    }

    [Fact]
    public void MultiplyWithEpilogues_RowCountsDiffer_Throws()
    {
        var rng = new System.Random(1);
        double[] acc = new double[10];
        EpilogueProduct<FoldEpilogue>[] products =
        [
            new(Transpose.None, Transpose.Transposed, 1f, GemmTestHelpers.RandomView(rng, 10, 8), GemmTestHelpers.RandomView(rng, 4, 8), new FoldEpilogue(acc, 1)),
            new(Transpose.None, Transpose.Transposed, 1f, GemmTestHelpers.RandomView(rng, 9, 8), GemmTestHelpers.RandomView(rng, 4, 8), new FoldEpilogue(acc, 2)),
        ];
        ArgumentException ex = Assert.Throws<ArgumentException>(() => Gemm.MultiplyWithEpilogues<FoldEpilogue>(products));
        Assert.Contains("product 1 has 9 rows", ex.Message);
        Assert.All(acc, v => Assert.Equal(0, v));
    }

    [Fact]
    public void MultiplyWithEpilogues_SteadyState_AllocatesNothing()
    {
        int oldDegree = GemmControl.MaxDegreeOfParallelism;
        try
        {
            GemmControl.MaxDegreeOfParallelism = 2;
            double[] acc = new double[600];
            EpilogueProduct<FoldEpilogue>[] products = Products(600, acc, 9);
            long allocated = SteadyStateAllocation.MinimumBytes(() => Gemm.MultiplyWithEpilogues<FoldEpilogue>(products), callsPerRound: 20);

            Assert.Equal(0, allocated);
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = oldDegree;
        }
    }
}
