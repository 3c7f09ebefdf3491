using System;
using Aced.Core;

namespace Aced.Core.Tests;

/// <summary>
/// The AVX2 plain path packs B in 16-column micro-panels (<see cref="GemmKernels.HalfPanels"/>) so that the half-panel
/// the 6 x 16 strips reuse stays in L1. Only the order of the packed floats changes, so results must be the same bits
/// as the 32-column layout and the scalar kernel, for every transpose, partial panel and thread count; likewise the
/// strips' unrolled kernels that prefetch A and the next half-panel (<see cref="GemmKernels.StreamPrefetch"/>) and the
/// 6-row A strip panels (<see cref="GemmKernels.SixRowPanels"/>, on by default with half-panels).
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public sealed class GemmHalfPanelTests
{
    private static float[] Run(bool halfPanels, bool streamPrefetch, GemmIsa isa, int degree, Transpose ta, Transpose tb, int m, int n, int k, int seed, bool sixRows = true)
    {
        bool oldSix = GemmKernels.SixRowPanels;
        bool oldHalves = GemmKernels.HalfPanels;
        bool oldStream = GemmKernels.StreamPrefetch;
        float[] result = Array.Empty<float>();
        try
        {
            GemmKernels.HalfPanels = halfPanels;
            GemmKernels.SixRowPanels = sixRows;
            GemmKernels.StreamPrefetch = streamPrefetch;
            GemmTestHelpers.WithSettings(degree, degree == 1 ? double.MaxValue : 0, isa, () =>
            {
                var rng = new System.Random(seed);
                MatrixView a = ta == Transpose.None ? GemmTestHelpers.RandomView(rng, m, k, 3) : GemmTestHelpers.RandomView(rng, k, m, 3);
                MatrixView b = tb == Transpose.None ? GemmTestHelpers.RandomView(rng, k, n, 5) : GemmTestHelpers.RandomView(rng, n, k, 5);
                MatrixView c = GemmTestHelpers.RandomView(rng, m, n, 1);
                Gemm.Multiply(ta, tb, 1.25f, a, b, 0.5f, c);
                result = c.Array;
            });
            return result;
        }
        finally
        {
            GemmKernels.HalfPanels = oldHalves;
            GemmKernels.SixRowPanels = oldSix;
            GemmKernels.StreamPrefetch = oldStream;
        }
    }

    [Theory]
    [InlineData(Transpose.None, Transpose.None)]
    [InlineData(Transpose.None, Transpose.Transposed)]
    [InlineData(Transpose.Transposed, Transpose.None)]
    [InlineData(Transpose.Transposed, Transpose.Transposed)]
    public void Multiply_HalfPanelsAndStreamPrefetchOnAndOff_BitIdenticalToScalarAtAnyDegree(Transpose ta, Transpose tb)
    {
        // n mod 32 in (0, 16], (16, 32) and 0 (the second half-panel empty, partial, full), partial row blocks with
        // every strip remainder, one and two k blocks, several column blocks (n > 256).
        (int M, int N, int K)[] shapes = { (37, 21, 50), (131, 300, 385), (263, 536, 97), (40, 16, 7), (301, 289, 400), (5, 40, 9), (1, 33, 17), (11, 64, 1) };
        int seed = 40;
        foreach ((int m, int n, int k) in shapes)
        {
            float[] scalar = Run(true, true, GemmIsa.Scalar, 1, ta, tb, m, n, k, seed);
            foreach (int degree in new[] { 1, 2, 3 })
            {
                string label = $"m={m} n={n} k={k} {ta}/{tb} degree={degree}";
                GemmTestHelpers.AssertBitIdentical(scalar, Run(true, true, GemmIsa.Vector256, degree, ta, tb, m, n, k, seed), "half-panels " + label);
                GemmTestHelpers.AssertBitIdentical(scalar, Run(false, true, GemmIsa.Vector256, degree, ta, tb, m, n, k, seed), "32-column panels " + label);
                GemmTestHelpers.AssertBitIdentical(scalar, Run(true, false, GemmIsa.Vector256, degree, ta, tb, m, n, k, seed, sixRows: false), "half-panels, 8-row A panels, no stream prefetch " + label);
                GemmTestHelpers.AssertBitIdentical(scalar, Run(true, true, GemmIsa.Vector256, degree, ta, tb, m, n, k, seed, sixRows: false), "half-panels, 8-row A panels " + label);
            }

            seed++;
        }
    }
}
