using System;
using System.Runtime.Intrinsics;
using Aced.Core;

namespace Aced.Core.Tests;

/// <summary>
/// The AVX2 epilogue group path reads full 6-row strips of a non-transposed A in place (<see cref="GemmDirectA256"/>)
/// where a band meets one column block, instead of packing them. These tests pin that every product tile keeps its bits:
/// against the packed strips, the plain product and the scalar kernel, at 1, 2 and 3 threads.
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public sealed class GemmDirectA256Tests
{
    private static T WithSettings<T>(bool direct, int degree, GemmIsa isa, Func<T> action)
    {
        bool oldDirect = GemmDirectA256.Enabled;
        int oldMaxColumns = GemmDirectA256.MaxColumns;
        int oldDegree = GemmControl.MaxDegreeOfParallelism;
        double oldThreshold = GemmControl.ParallelThreshold;
        GemmIsa oldIsa = GemmKernels.ForcedIsa;
        try
        {
            GemmDirectA256.Enabled = direct;
            GemmDirectA256.MaxColumns = int.MaxValue; // the kernel at every width, not only the default's narrow blocks
            GemmControl.MaxDegreeOfParallelism = degree;
            GemmControl.ParallelThreshold = 0;
            GemmKernels.ForcedIsa = isa;
            return action();
        }
        finally
        {
            GemmDirectA256.Enabled = oldDirect;
            GemmDirectA256.MaxColumns = oldMaxColumns;
            GemmControl.MaxDegreeOfParallelism = oldDegree;
            GemmControl.ParallelThreshold = oldThreshold;
            GemmKernels.ForcedIsa = oldIsa;
        }
    }

    /// <summary>The group's products (A strided with NaN padding, B transposed as in the selection), each recorded in full.</summary>
    private static float[][] Group(int m, int[] widths, int k, int seed)
    {
        var rng = new System.Random(seed);
        var products = new EpilogueProduct<RecordingEpilogue>[widths.Length];
        var recorders = new RecordingEpilogue[widths.Length];
        for (int q = 0; q < widths.Length; q++)
        {
            recorders[q] = new RecordingEpilogue(m, widths[q]);
            products[q] = new(Transpose.None, Transpose.Transposed, q == 1 ? -0.5f : 1.25f, GemmTestHelpers.RandomView(rng, m, k, pad: 3, offset: 2), GemmTestHelpers.RandomView(rng, widths[q], k, pad: 1), recorders[q]);
        }

        Gemm.MultiplyWithEpilogues<RecordingEpilogue>(products);
        float[][] result = new float[widths.Length][];
        for (int q = 0; q < widths.Length; q++)
        {
            recorders[q].AssertCompleteAndOrdered();
            result[q] = recorders[q].Product;
        }

        return result;
    }

    [Theory]
    [InlineData(203, new[] { 64, 64, 64, 64 }, 256)] // the selection's shape: 64-row bands end with a 4-row strip
    [InlineData(517, new[] { 16, 48, 63, 256 }, 255)] // one half-panel, three, a partial one (packed), four 64-column tiles
    [InlineData(131, new[] { 32, 80 }, 401)]          // two k blocks: the second accumulates onto the first (beta 1)
    [InlineData(7, new[] { 64 }, 1)]                  // one full strip and a one-row strip, k = 1
    public void MultiplyWithEpilogues_DirectStrips_BitIdenticalToPackedPlainAndScalarAtEveryDegree(int m, int[] widths, int k)
    {
        if (!Vector256.IsHardwareAccelerated)
        {
            return; // the strips are the AVX2 kernels' (forcing Vector256 needs the hardware)
        }

        float[][] packed = WithSettings(false, 1, GemmIsa.Vector256, () => Group(m, widths, k, 41));
        float[][] scalar = WithSettings(true, 1, GemmIsa.Scalar, () => Group(m, widths, k, 41));
        for (int degree = 1; degree <= 3; degree++)
        {
            float[][] direct = WithSettings(true, degree, GemmIsa.Vector256, () => Group(m, widths, k, 41));
            for (int q = 0; q < widths.Length; q++)
            {
                string label = $"{m}x{widths[q]}x{k} product {q} degree {degree}";
                GemmTestHelpers.AssertBitIdentical(packed[q], direct[q], label + " direct vs packed");
                GemmTestHelpers.AssertBitIdentical(scalar[q], direct[q], label + " direct vs scalar kernel");
            }
        }

        // The plain product of the first one, beta = 0 ignoring a NaN C.
        var rng = new System.Random(41);
        MatrixView a = GemmTestHelpers.RandomView(rng, m, k, pad: 3, offset: 2);
        MatrixView b = GemmTestHelpers.RandomView(rng, widths[0], k, pad: 1);
        var c = new Matrix(m, widths[0]);
        c.Data.AsSpan().Fill(float.NaN);
        WithSettings(true, 1, GemmIsa.Vector256, () =>
        {
            Gemm.Multiply(Transpose.None, Transpose.Transposed, 1.25f, a, b, 0f, c.View);
            return 0;
        });
        float[] first = WithSettings(true, 1, GemmIsa.Vector256, () => Group(m, widths, k, 41))[0];
        GemmTestHelpers.AssertBitIdentical(c.Data, first, "direct vs plain Multiply");
    }

    [Fact]
    public void Applies_OnlyFullStripsOfWholeHalfPanelsOfAPlainA()
    {
        bool old = GemmDirectA256.Enabled;
        try
        {
            GemmDirectA256.Enabled = true;
            Assert.True(GemmDirectA256.Applies(Transpose.None, 6, 64));
            Assert.True(GemmDirectA256.Applies(Transpose.None, 6, 16));
            Assert.False(GemmDirectA256.Applies(Transpose.None, 4, 64));
            Assert.False(GemmDirectA256.Applies(Transpose.None, 6, 63));
            Assert.False(GemmDirectA256.Applies(Transpose.Transposed, 6, 64));
            Assert.False(GemmDirectA256.Applies(Transpose.None, 6, 80)); // wider than the default MaxColumns: packed
            Assert.False(GemmDirectA256.Applies(Transpose.None, 6, 256));
            GemmDirectA256.Enabled = false;
            Assert.False(GemmDirectA256.Applies(Transpose.None, 6, 64));
        }
        finally
        {
            GemmDirectA256.Enabled = old;
        }
    }

    [Fact]
    public void ReadsGroupInPlace_TheAvx2GroupUpToTheDirectWidth()
    {
        // The selection's lead-strip prefetch (ConditionalScorer.PrefetchLeadStrip) relies on this: the managed AVX2
        // group reads whole 16-column half-panels of A in place up to MaxColumns columns, and nothing else does.
        Assert.True(WithSettings(true, 2, GemmIsa.Vector256, () => { GemmDirectA256.MaxColumns = 64; return GemmDirectA256.ReadsGroupInPlace(64) && GemmDirectA256.ReadsGroupInPlace(16); }));
        Assert.False(WithSettings(true, 2, GemmIsa.Vector256, () => { GemmDirectA256.MaxColumns = 64; return GemmDirectA256.ReadsGroupInPlace(72) || GemmDirectA256.ReadsGroupInPlace(40) || GemmDirectA256.ReadsGroupInPlace(0); }));
        Assert.False(WithSettings(false, 2, GemmIsa.Vector256, () => GemmDirectA256.ReadsGroupInPlace(64)));
        Assert.False(WithSettings(true, 2, GemmIsa.Scalar, () => GemmDirectA256.ReadsGroupInPlace(64)));
        bool group = Gemm.GroupEnabled;
        try
        {
            Gemm.GroupEnabled = false;
            Assert.False(WithSettings(true, 2, GemmIsa.Vector256, () => GemmDirectA256.ReadsGroupInPlace(64)));
        }
        finally
        {
            Gemm.GroupEnabled = group;
        }
    }
}
