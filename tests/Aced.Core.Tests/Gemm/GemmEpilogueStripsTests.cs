using System;
using Aced.Core;

namespace Aced.Core.Tests;

/// <summary>
/// The AVX2 epilogue path runs its row bands as the plain path's strips (<see cref="GemmKernels.EpilogueStrips"/>: the
/// band packed as 6-row strip panels, B as 16-column half-panels, <see cref="GemmKernels.Block256Six"/>). The tiles
/// handed to the epilogue, their order and their bits must be those of the 8 x 32 panels and of the scalar kernel, for
/// every transpose, band remainder (rows mod 6), partial column tile, k-block count and thread count, through single
/// calls and groups.
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public sealed class GemmEpilogueStripsTests
{
    private static float[] Run(bool strips, GemmIsa isa, int degree, Transpose ta, Transpose tb, int m, int n, int k, float alpha, int seed)
    {
        bool old = GemmKernels.EpilogueStrips;
        float[] result = Array.Empty<float>();
        try
        {
            GemmKernels.EpilogueStrips = strips;
            GemmTestHelpers.WithSettings(degree, degree == 1 ? double.MaxValue : 0, isa, () =>
            {
                var rng = new System.Random(seed);
                MatrixView a = ta == Transpose.None ? GemmTestHelpers.RandomView(rng, m, k, 3, 1) : GemmTestHelpers.RandomView(rng, k, m, 3, 1);
                MatrixView b = tb == Transpose.None ? GemmTestHelpers.RandomView(rng, k, n, 5) : GemmTestHelpers.RandomView(rng, n, k, 5);
                var recorder = new RecordingEpilogue(m, n);
                Gemm.MultiplyWithEpilogue(ta, tb, alpha, a, b, recorder);
                recorder.AssertCompleteAndOrdered();
                result = recorder.Product;
            });
            return result;
        }
        finally
        {
            GemmKernels.EpilogueStrips = old;
        }
    }

    [Theory]
    [InlineData(Transpose.None, Transpose.None)]
    [InlineData(Transpose.None, Transpose.Transposed)]
    [InlineData(Transpose.Transposed, Transpose.None)]
    [InlineData(Transpose.Transposed, Transpose.Transposed)]
    public void MultiplyWithEpilogue_StripsOnAndOff_BitIdenticalToScalarAtAnyDegree(Transpose ta, Transpose tb)
    {
        // Bands of every length mod 6 (48; 37, 43 = last of 323; 26 = last of 66, 32 = last of 200, 56; 33 = last of 257;
        // 64; 5), one to three column tiles with partial half-panels, one to three k blocks, k = 0 and alpha = 0.
        (int M, int N, int K, float Alpha)[] shapes =
        {
            (37, 21, 50, 1.25f), (128, 300, 385, -0.5f), (200, 536, 97, 1f), (257, 16, 7, 2f), (323, 289, 800, 0.75f),
            (5, 40, 9, 1f), (1, 33, 17, 1f), (48, 70, 33, 1f), (66, 256, 128, 1f), (70, 130, 0, 1f), (12, 48, 5, 0f),
        };
        int seed = 70;
        foreach ((int m, int n, int k, float alpha) in shapes)
        {
            float[] scalar = Run(true, GemmIsa.Scalar, 1, ta, tb, m, n, k, alpha, seed);
            foreach (int degree in new[] { 1, 2, 3 })
            {
                string label = $"m={m} n={n} k={k} {ta}/{tb} degree={degree}";
                GemmTestHelpers.AssertBitIdentical(scalar, Run(true, GemmIsa.Vector256, degree, ta, tb, m, n, k, alpha, seed), "strips " + label);
                GemmTestHelpers.AssertBitIdentical(scalar, Run(false, GemmIsa.Vector256, degree, ta, tb, m, n, k, alpha, seed), "8x32 panels " + label);
            }

            seed++;
        }
    }

    private static double[] RunGroup(bool strips, GemmIsa isa, int degree, int m)
    {
        bool old = GemmKernels.EpilogueStrips;
        double[] acc = new double[m];
        try
        {
            GemmKernels.EpilogueStrips = strips;
            GemmTestHelpers.WithSettings(degree, 0, isa, () =>
            {
                var rng = new System.Random(m);
                // The group tests' order-sensitive per-row fold of every tile.
                EpilogueProduct<GemmEpilogueGroupTests.FoldEpilogue>[] products =
                [
                    new(Transpose.None, Transpose.Transposed, 1.5f, GemmTestHelpers.RandomView(rng, m, 401, 2), GemmTestHelpers.RandomView(rng, 300, 401), new(acc, 1)),
                    new(Transpose.None, Transpose.None, 1f, GemmTestHelpers.RandomView(rng, m, 64), GemmTestHelpers.RandomView(rng, 64, 40, 1), new(acc, 2)),
                    new(Transpose.Transposed, Transpose.Transposed, 0.5f, GemmTestHelpers.RandomView(rng, 129, m), GemmTestHelpers.RandomView(rng, 17, 129), new(acc, 3)),
                ];
                Gemm.MultiplyWithEpilogues<GemmEpilogueGroupTests.FoldEpilogue>(products);
            });
            return acc;
        }
        finally
        {
            GemmKernels.EpilogueStrips = old;
        }
    }

    [Theory]
    [InlineData(7)]
    [InlineData(130)]
    [InlineData(451)]
    public void MultiplyWithEpilogues_StripsOnAndOff_BitIdenticalToScalarAtAnyDegree(int m)
    {
        double[] scalar = RunGroup(true, GemmIsa.Scalar, 1, m);
        Assert.Contains(scalar, v => v != 0);
        foreach (int degree in new[] { 1, 2, 3 })
        {
            Assert.Equal(scalar, RunGroup(true, GemmIsa.Vector256, degree, m));
            Assert.Equal(scalar, RunGroup(false, GemmIsa.Vector256, degree, m));
        }
    }
}
