using System;
using System.Linq;
using System.Runtime.Intrinsics;
using Aced.Core;

namespace Aced.Core.Tests;

/// <summary>
/// A group product may give op(A) as rows of A by index (<see cref="EpilogueProduct{TEpilogue}.Rows"/>): the AVX-512
/// direct kernel and the AVX2 epilogue strips read those rows where they lie (in place or while packing,
/// <see cref="Gemm.ReadsRowsByIndex"/>), every other path gathers them into scratch first. These tests pin that every
/// tile has the bits of the same group run on a copy of the gathered rows, whichever panel or strip (full, partial, in
/// place, packed) a row lands in, on each SIMD path the machine has, at 1, 2 and 3 threads.
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public sealed class GemmRowsByIndexTests
{
    private static T WithSettings<T>(int degree, GemmIsa isa, int maxColumns, Func<T> action)
    {
        int oldMaxColumns = GemmDirectA256.MaxColumns;
        int oldDegree = GemmControl.MaxDegreeOfParallelism;
        double oldThreshold = GemmControl.ParallelThreshold;
        GemmIsa oldIsa = GemmKernels.ForcedIsa;
        try
        {
            GemmDirectA256.MaxColumns = maxColumns;
            GemmControl.MaxDegreeOfParallelism = degree;
            GemmControl.ParallelThreshold = 0;
            GemmKernels.ForcedIsa = isa;
            return action();
        }
        finally
        {
            GemmDirectA256.MaxColumns = oldMaxColumns;
            GemmControl.MaxDegreeOfParallelism = oldDegree;
            GemmControl.ParallelThreshold = oldThreshold;
            GemmKernels.ForcedIsa = oldIsa;
        }
    }

    /// <summary>The row sets of A (<paramref name="total"/> rows) that the tests pick.</summary>
    private static int[] Rows(int total, string kind, int seed)
    {
        var rng = new System.Random(seed);
        return kind switch
        {
            "all" => Enumerable.Range(0, total).ToArray(),
            "ends" => Enumerable.Range(0, total).Where(i => i == 0 || i == total - 1 || rng.Next(5) != 0).ToArray(), // first and last kept
            "inner" => Enumerable.Range(1, total - 2).Where(i => rng.Next(3) != 0).ToArray(), // first and last dropped
            "sparse" => Enumerable.Range(0, total).Where(i => rng.Next(7) == 0).ToArray(),
            _ => Enumerable.Range(0, total).Select(_ => rng.Next(total)).Take((total / 2) + 1).ToArray(), // any order, repeats
        };
    }

    /// <summary>
    /// The group's products (A strided with NaN padding, B transposed as in the selection) over <paramref name="rows"/>
    /// of A, each recorded in full: by index, or (<paramref name="byIndex"/> false) on a gathered copy of those rows.
    /// </summary>
    private static float[][] Group(int total, int[] rows, int[] widths, int k, int seed, bool byIndex)
    {
        var rng = new System.Random(seed);
        int m = rows.Length;
        var products = new EpilogueProduct<RecordingEpilogue>[widths.Length];
        var recorders = new RecordingEpilogue[widths.Length];
        for (int q = 0; q < widths.Length; q++)
        {
            recorders[q] = new RecordingEpilogue(m, widths[q]);
            float alpha = q == 1 ? -0.5f : 1.25f;
            MatrixView a = GemmTestHelpers.RandomView(rng, total, k, pad: 3, offset: 2);
            MatrixView b = GemmTestHelpers.RandomView(rng, widths[q], k, pad: 1);
            if (byIndex)
            {
                products[q] = new(rows.AsMemory(), Transpose.Transposed, alpha, a, b, recorders[q]);
            }
            else
            {
                // The copy: the same rows, strided and padded with NaN as A is.
                MatrixView copy = GemmTestHelpers.RandomView(new System.Random(1), m, k, pad: 3, offset: 1);
                for (int i = 0; i < m; i++)
                {
                    a.Row(rows[i]).CopyTo(copy.Row(i));
                }

                products[q] = new(Transpose.None, Transpose.Transposed, alpha, copy, b, recorders[q]);
            }
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
    [InlineData(211, "ends", new[] { 64, 64, 64, 64 }, 256, 64)]  // the 5120 selection's shape: rows read in place
    [InlineData(211, "inner", new[] { 64, 64, 64, 64 }, 256, 64)]
    [InlineData(509, "sparse", new[] { 64, 16 }, 96, 64)]
    [InlineData(517, "ends", new[] { 256, 256 }, 255, 64)]          // the 20480 selection's shape: rows packed by index
    [InlineData(300, "any", new[] { 16, 48, 63, 256 }, 255, 64)]    // any order, repeats; a partial half-panel (packed)
    [InlineData(131, "inner", new[] { 32, 80 }, 401, int.MaxValue)] // two k blocks (beta 1), both widths in place
    [InlineData(700, "ends", new[] { 300 }, 64, 64)]                // two column blocks: the band's strips packed once and reused
    [InlineData(97, "all", new[] { 64, 64 }, 33, 64)]               // every row: the index is the identity
    [InlineData(13, "sparse", new[] { 64 }, 7, 64)]                 // one short strip
    public void MultiplyWithEpilogues_RowsByIndex_BitIdenticalToTheGatheredRowsAtEveryDegree(int total, string kind, int[] widths, int k, int maxColumns)
    {
        int[] rows = Rows(total, kind, total + k);
        Assert.NotEmpty(rows);
        float[][] scalar = WithSettings(1, GemmIsa.Scalar, maxColumns, () => Group(total, rows, widths, k, 41, byIndex: false));
        foreach (GemmIsa isa in SimdPaths())
        {
            float[][] expected = WithSettings(1, isa, maxColumns, () => Group(total, rows, widths, k, 41, byIndex: false));
            for (int degree = 1; degree <= 3; degree++)
            {
                float[][] actual = WithSettings(degree, isa, maxColumns, () => Group(total, rows, widths, k, 41, byIndex: true));
                float[][] gathered = WithSettings(degree, GemmIsa.Scalar, maxColumns, () => Group(total, rows, widths, k, 41, byIndex: true));
                for (int q = 0; q < widths.Length; q++)
                {
                    string label = $"{isa}: {total} rows ({kind}, {rows.Length}) x{widths[q]}x{k} product {q} degree {degree}";
                    GemmTestHelpers.AssertBitIdentical(expected[q], actual[q], label + " by index vs gathered copy");
                    GemmTestHelpers.AssertBitIdentical(scalar[q], actual[q], label + " by index vs scalar kernel");
                    GemmTestHelpers.AssertBitIdentical(scalar[q], gathered[q], label + " scalar path (gathers first)");
                }
            }
        }
    }

    /// <summary>The SIMD paths this machine runs (AVX-512 and AVX2 where accelerated; else the default).</summary>
    private static GemmIsa[] SimdPaths() =>
        Vector512.IsHardwareAccelerated ? [GemmIsa.Vector512, GemmIsa.Vector256]
            : Vector256.IsHardwareAccelerated ? [GemmIsa.Vector256] : [GemmIsa.Auto];

    [Fact]
    public void ReadsRowsByIndex_TheManagedAvx512DirectKernel_UnlessSwitchedOff()
    {
        if (!Vector512.IsHardwareAccelerated)
        {
            return;
        }

        Assert.True(WithSettings(2, GemmIsa.Vector512, 64, () => Gemm.ReadsRowsByIndex(5000, 64, 256) && Gemm.ReadsRowsByIndex(20000, 256, 256) && Gemm.ReadsRowsByIndex(7, 300, 3) && Gemm.ReadsRowsByIndex(9, 16, 0)));
        Assert.False(WithSettings(2, GemmIsa.Vector512, 64, () => Gemm.ReadsRowsByIndex(5000, 0, 256)));
        bool direct = Gemm.DirectRowsByIndex;
        try
        {
            Gemm.DirectRowsByIndex = false;
            Assert.False(WithSettings(2, GemmIsa.Vector512, 64, () => Gemm.ReadsRowsByIndex(5000, 64, 256)));
        }
        finally
        {
            Gemm.DirectRowsByIndex = direct;
        }
    }

    [Fact]
    public void ReadsRowsByIndex_OnlyTheManagedAvx2GroupStrips()
    {
        if (Vector256.IsHardwareAccelerated)
        {
            Assert.True(WithSettings(2, GemmIsa.Vector256, 64, () => Gemm.ReadsRowsByIndex(5000, 64, 256) && Gemm.ReadsRowsByIndex(20000, 256, 256) && Gemm.ReadsRowsByIndex(7, 48, 3)));
            Assert.False(WithSettings(2, GemmIsa.Vector256, 64, () => Gemm.ReadsRowsByIndex(5000, 0, 256)));
        }

        Assert.False(WithSettings(2, GemmIsa.Scalar, 64, () => Gemm.ReadsRowsByIndex(5000, 64, 256)));
        bool group = Gemm.GroupEnabled;
        try
        {
            Gemm.GroupEnabled = false;
            Assert.False(WithSettings(2, GemmIsa.Vector256, 64, () => Gemm.ReadsRowsByIndex(5000, 64, 256)));
        }
        finally
        {
            Gemm.GroupEnabled = group;
        }
    }

    [Fact]
    public void MultiplyWithEpilogues_RowIndexOutsideA_Throws()
    {
        var rng = new System.Random(3);
        MatrixView a = GemmTestHelpers.RandomView(rng, 10, 8);
        MatrixView b = GemmTestHelpers.RandomView(rng, 16, 8);
        foreach (int bad in new[] { -1, 10 })
        {
            var products = new[] { new EpilogueProduct<RecordingEpilogue>(new[] { 0, bad, 3 }.AsMemory(), Transpose.Transposed, 1f, a, b, new RecordingEpilogue(3, 16)) };
            Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.MultiplyWithEpilogues<RecordingEpilogue>(products));
        }
    }
}
