using System;
using Aced.Core;
using FsCheck;
using FsCheck.Fluent;

namespace Aced.Core.Tests;

/// <summary>
/// The AVX2 forms of <see cref="GemmSlices"/> (6-row strip panels x 16-column half-panels): pinned bit for bit to the
/// forms they replace (the per-slice <see cref="Gemm.Multiply(Transpose, Transpose, float, MatrixView, MatrixView, float, MatrixView)"/>
/// calls and the plain NT product, on 1-3 threads) and to the older 8-row strips, with the AVX2 kernel forced; shapes
/// span several row groups, partial strips and half-panels.
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public sealed class GemmSlicesAvx2Tests
{
    public sealed record Case(int M, int N, int K, int Slice, int Pad, int Seed);

    private static MatrixView Copy(MatrixView v) => GemmTestHelpers.CopyView(v);

    private static void WithSix(bool six, int degree, Action action)
    {
        bool saved = GemmSlices.SixRowStrips;
        try
        {
            GemmSlices.SixRowStrips = six;
            GemmTestHelpers.WithSettings(degree, 0, GemmIsa.Vector256, action);
        }
        finally
        {
            GemmSlices.SixRowStrips = saved;
        }
    }

    private static void WithPipelined(bool pipelined, Action action)
    {
        bool saved = GemmSlices.PipelinedPacking;
        try
        {
            GemmSlices.PipelinedPacking = pipelined;
            action();
        }
        finally
        {
            GemmSlices.PipelinedPacking = saved;
        }
    }

    private static void CheckTn(Case c)
    {
        var rng = new System.Random(c.Seed);
        MatrixView a = GemmTestHelpers.RandomView(rng, c.K, c.M, pad: c.Pad + 1, offset: 3);
        MatrixView b = GemmTestHelpers.RandomView(rng, c.K, c.N, pad: c.Pad, offset: 1);
        MatrixView c0 = GemmTestHelpers.RandomView(rng, c.M, c.N, pad: c.Pad + 2, offset: 5);
        MatrixView six = Copy(c0);
        MatrixView packedPerBlock = Copy(c0);
        MatrixView eight = Copy(c0);
        WithSix(true, 1, () => GemmSlices.AddTransposedProducts(a, b, six, c.Slice));
        WithPipelined(false, () => WithSix(true, 1, () => GemmSlices.AddTransposedProducts(a, b, packedPerBlock, c.Slice)));
        WithSix(false, 1, () => GemmSlices.AddTransposedProducts(a, b, eight, c.Slice));
        Assert.Equal(eight.Array, six.Array);
        Assert.Equal(packedPerBlock.Array, six.Array);

        // The pipelined form's panels packed back to back instead of a cache line apart: the same values, the same bits.
        MatrixView unpadded = Copy(c0);
        bool savedPadded = GemmSlices.PaddedPanels;
        try
        {
            GemmSlices.PaddedPanels = false;
            WithSix(true, 1, () => GemmSlices.AddTransposedProducts(a, b, unpadded, c.Slice));
        }
        finally
        {
            GemmSlices.PaddedPanels = savedPadded;
        }

        Assert.Equal(unpadded.Array, six.Array);

        // The last strip of at most 4 rows through the 6-row kernel (its zero rows computed) instead of the 4-row one.
        MatrixView sixRowTail = Copy(c0);
        bool savedTail = GemmSlices.FourRowTail;
        try
        {
            GemmSlices.FourRowTail = !savedTail;
            WithSix(true, 1, () => GemmSlices.AddTransposedProducts(a, b, sixRowTail, c.Slice));
        }
        finally
        {
            GemmSlices.FourRowTail = savedTail;
        }

        Assert.Equal(sixRowTail.Array, six.Array);

        // Other row groups, unit widths and prefetch distances move only the loop and the hints, never a bit.
        MatrixView otherLoop = Copy(c0);
        int savedGroup = GemmSlices.SliceRowGroup;
        int savedDistance = GemmSlices.PiecePrefetchCalls;
        int savedUnit = GemmSlices.UnitColumns;
        try
        {
            GemmSlices.SliceRowGroup = 18;
            GemmSlices.PiecePrefetchCalls = 3;
            GemmSlices.UnitColumns = c.N % 2 == 0 ? 32 : 128;
            WithSix(true, 1, () => GemmSlices.AddTransposedProducts(a, b, otherLoop, c.Slice));
        }
        finally
        {
            GemmSlices.SliceRowGroup = savedGroup;
            GemmSlices.PiecePrefetchCalls = savedDistance;
            GemmSlices.UnitColumns = savedUnit;
        }

        Assert.Equal(six.Array, otherLoop.Array);
        for (int degree = 1; degree <= 3; degree++)
        {
            MatrixView bySlices = Copy(c0);
            WithSix(true, degree, () =>
            {
                for (int k0 = 0; k0 < c.K; k0 += c.Slice)
                {
                    int rows = Math.Min(c.Slice, c.K - k0);
                    Gemm.Multiply(Transpose.Transposed, Transpose.None, 1f, a.RowRange(k0, rows), b.RowRange(k0, rows), 1f, bySlices);
                }
            });
            Assert.Equal(bySlices.Array, six.Array);
        }
    }

    private static void CheckNt(Case c, bool accumulate)
    {
        var rng = new System.Random(c.Seed);
        MatrixView a = GemmTestHelpers.RandomView(rng, c.M, c.K, pad: c.Pad + 1, offset: 2);
        MatrixView b = GemmTestHelpers.RandomView(rng, c.N, c.K, pad: c.Pad, offset: 1);
        MatrixView c0 = GemmTestHelpers.RandomView(rng, c.M, c.N, pad: c.Pad + 2, offset: 4);
        if (!accumulate)
        {
            // Overwritten: NaN in C must not propagate.
            for (int i = 0; i < c.M; i++)
            {
                c0.Row(i).Fill(float.NaN);
            }
        }

        MatrixView six = Copy(c0);
        MatrixView direct = Copy(c0);
        MatrixView plain = Copy(c0);
        int saved = GemmSlices.DirectMaxColumns256;
        try
        {
            // The packed six-row form, and the unpacked-A form up to 128 columns.
            GemmSlices.DirectMaxColumns256 = 0;
            WithSix(true, 1, () => GemmSlices.MultiplyTransposed(a, b, six, accumulate));
            GemmSlices.DirectMaxColumns256 = 128;
            WithSix(true, 1, () => GemmSlices.MultiplyTransposed(a, b, direct, accumulate));
        }
        finally
        {
            GemmSlices.DirectMaxColumns256 = saved;
        }

        WithSix(false, 1, () => GemmSlices.MultiplyTransposed(a, b, plain, accumulate));
        Assert.Equal(plain.Array, six.Array);

        // Without the next rows' prefetch (a hint only), and with it on the widest chunks too.
        MatrixView noFollow = Copy(c0);
        MatrixView wideFollow = Copy(c0);
        bool savedFollow = GemmSlices.NextRowsPrefetch;
        int savedFollowColumns = GemmSlices.NextRowsMaxColumns;
        try
        {
            GemmSlices.NextRowsPrefetch = false;
            WithSix(true, 1, () => GemmSlices.MultiplyTransposed(a, b, noFollow, accumulate));
            GemmSlices.NextRowsPrefetch = true;
            GemmSlices.NextRowsMaxColumns = int.MaxValue;
            WithSix(true, 1, () => GemmSlices.MultiplyTransposed(a, b, wideFollow, accumulate));
        }
        finally
        {
            GemmSlices.NextRowsPrefetch = savedFollow;
            GemmSlices.NextRowsMaxColumns = savedFollowColumns;
        }

        Assert.Equal(six.Array, noFollow.Array);
        Assert.Equal(six.Array, wideFollow.Array);
        CheckNtKeyed(a, b, c0, six, accumulate);
        Assert.Equal(plain.Array, direct.Array);
        for (int degree = 1; degree <= 3; degree++)
        {
            MatrixView gemm = Copy(c0);
            WithSix(true, degree, () => Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, a, b, accumulate ? 1f : 0f, gemm));
            Assert.Equal(gemm.Array, six.Array);
        }
    }

    /// <summary>
    /// A split into row blocks, each block's product a <see cref="GemmSlices.MultiplyTransposedKeyed"/> call with one key
    /// for all of them (as Linear's dx items), on 1-3 threads concurrently and with <see cref="GemmSlices.SharedTransposedB"/>
    /// off: every form gives <paramref name="expected"/>'s bits.
    /// </summary>
    private static void CheckNtKeyed(MatrixView a, MatrixView b, MatrixView c0, MatrixView expected, bool accumulate)
    {
        int m = a.Rows;
        int blockRows = Math.Max(1, (m + 3) / 4);
        int blocks = (m + blockRows - 1) / blockRows;
        bool saved = GemmSlices.SharedTransposedB;
        try
        {
            foreach (bool shared in new[] { true, false })
            {
                GemmSlices.SharedTransposedB = shared;
                for (int threads = 1; threads <= 3; threads++)
                {
                    MatrixView keyed = Copy(c0);
                    long key = GemmSlices.NewOperandKey();
                    WithSix(true, 1, () => System.Threading.Tasks.Parallel.For(0, blocks, new System.Threading.Tasks.ParallelOptions { MaxDegreeOfParallelism = threads }, block =>
                    {
                        int start = block * blockRows;
                        int count = Math.Min(blockRows, m - start);
                        GemmSlices.MultiplyTransposedKeyed(a.RowRange(start, count), b, keyed.RowRange(start, count), accumulate, key);
                    }));
                    Assert.Equal(expected.Array, keyed.Array);
                }
            }
        }
        finally
        {
            GemmSlices.SharedTransposedB = saved;
        }
    }

    [Theory]
    [InlineData(200, 128, 512)]
    [InlineData(97, 40, 130)]
    [InlineData(50, 512, 128)]
    public void MultiplyTransposedKeyed_NewKeyOrOtherOperand_PacksAgain(int m, int n, int k)
    {
        // One thread, so each call sees the packed op(B) the previous keyed call kept.
        var rng = new System.Random(m + n + k);
        MatrixView a = GemmTestHelpers.RandomView(rng, m, k, pad: 1, offset: 2);
        MatrixView b = GemmTestHelpers.RandomView(rng, n, k, pad: 2, offset: 1);
        MatrixView other = GemmTestHelpers.RandomView(rng, n, k, pad: 2, offset: 1);
        WithSix(true, 1, () =>
        {
            long key = GemmSlices.NewOperandKey();
            Assert.Equal(Expected(a, b), Keyed(a, b, key));

            // The same key and storage but views of fewer rows or fewer columns of B: packed for that view.
            MatrixView fewerRows = b.RowRange(0, n - 1);
            Assert.Equal(Expected(a, fewerRows), Keyed(a, fewerRows, key));
            MatrixView shorterA = a.ColumnRange(0, k - 1);
            MatrixView shorterB = b.ColumnRange(0, k - 1);
            Assert.Equal(Expected(shorterA, shorterB), Keyed(shorterA, shorterB, key));
            Assert.Equal(Expected(a, b), Keyed(a, b, key));

            // Another operand under the same key, then B's values changed in place under a new key.
            Assert.Equal(Expected(a, other), Keyed(a, other, key));
            Assert.Equal(Expected(a, b), Keyed(a, b, key));
            for (int i = 0; i < n; i++)
            {
                for (int j = 0; j < k; j++)
                {
                    b[i, j] = (b[i, j] * 0.5f) + 0.25f;
                }
            }

            Assert.Equal(Expected(a, b), Keyed(a, b, GemmSlices.NewOperandKey()));
        });

        float[] Expected(MatrixView av, MatrixView bv)
        {
            var c = new Matrix(m, bv.Rows);
            Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, av, bv, 0f, c);
            return c.Data;
        }

        float[] Keyed(MatrixView av, MatrixView bv, long key)
        {
            var c = new Matrix(m, bv.Rows);
            GemmSlices.MultiplyTransposedKeyed(av, bv, c, false, key);
            return c.Data;
        }
    }

    [Fact]
    public void AddTransposedProducts_RandomShapes_BitIdenticalToSliceCallsAndEightRowStrips()
    {
        Prop.ForAll(
            (from m in Gen.Choose(1, 300)
             from n in Gen.Choose(1, 300)
             from k in Gen.Choose(1, 1300)
             from slice in Gen.Elements(1, 7, 300, 384, 512, 900)
             from pad in Gen.Choose(0, 3)
             from seed in Gen.Choose(0, int.MaxValue)
             select new Case(m, n, k, slice, pad, seed)).ToArbitrary(),
            c =>
            {
                CheckTn(c);
                return true;
            }).Check(Config.QuickThrowOnFailure
            .WithMaxTest(40)
            .WithReplay(Microsoft.FSharp.Core.FSharpOption<Replay>.Some(new Replay(new Rnd(20261203UL, 0x9E3779B97F4A7C15UL), Microsoft.FSharp.Core.FSharpOption<int>.None))));
    }

    [Theory]
    [InlineData(128, 256, 1300, 512)]
    [InlineData(128, 192, 1100, 512)]
    [InlineData(64, 128, 1024, 512)]
    [InlineData(256, 128, 1536, 512)]
    [InlineData(97, 17, 800, 384)]
    [InlineData(7, 33, 400, 512)]
    [InlineData(130, 80, 1100, 512)]
    [InlineData(3, 1, 9, 7)]
    public void AddTransposedProducts_StepShapes_BitIdentical(int m, int n, int k, int slice) =>
        CheckTn(new Case(m, n, k, slice, 1, m + n + k));

    [Fact]
    public void MultiplyTransposed_RandomShapes_BitIdenticalToGemmAndPlainPath()
    {
        Prop.ForAll(
            (from m in Gen.Choose(1, 300)
             from n in Gen.Frequency((2, Gen.Choose(1, 130)), (1, Gen.Choose(131, 600)))
             from k in Gen.Choose(1, 900)
             from accumulate in Gen.Elements(false, true)
             from pad in Gen.Choose(0, 3)
             from seed in Gen.Choose(0, int.MaxValue)
             select (new Case(m, n, k, 0, pad, seed), accumulate)).ToArbitrary(),
            t =>
            {
                CheckNt(t.Item1, t.accumulate);
                return true;
            }).Check(Config.QuickThrowOnFailure
            .WithMaxTest(40)
            .WithReplay(Microsoft.FSharp.Core.FSharpOption<Replay>.Some(new Replay(new Rnd(20261204UL, 0x9E3779B97F4A7C15UL), Microsoft.FSharp.Core.FSharpOption<int>.None))));
    }

    [Theory]
    [InlineData(1024, 128, 512, false)]
    [InlineData(1024, 512, 128, true)]
    [InlineData(1000, 128, 384, false)]
    [InlineData(301, 130, 700, true)]
    [InlineData(1024, 128, 128, false)]
    [InlineData(1000, 128, 384, true)]
    [InlineData(17, 100, 1536, true)]
    [InlineData(5, 7, 3, false)]
    public void MultiplyTransposed_StepShapes_BitIdentical(int m, int n, int k, bool accumulate) =>
        CheckNt(new Case(m, n, k, 0, 1, m + n + k), accumulate);

    [Fact]
    public void PackA6Transposed_PacksStripPanelsAndWritesNothingPastTheBlock()
    {
        Prop.ForAll(
            (from m in Gen.Choose(1, 140)
             from kc in Gen.Choose(1, 40)
             from pad in Gen.Choose(0, 9)
             from seed in Gen.Choose(0, int.MaxValue)
             select (m, kc, pad, seed)).ToArbitrary(),
            t =>
            {
                (int m, int kc, int pad, int seed) = t;
                var rng = new System.Random(seed);
                MatrixView a = GemmTestHelpers.RandomView(rng, kc, m, pad: pad, offset: 0);
                int strips = (m + 5) / 6;
                int floats = strips * 6 * kc;
                float[] expected = new float[floats + 16];
                float[] actual = new float[floats + 16];
                expected.AsSpan().Fill(float.NaN);
                actual.AsSpan().Fill(float.NaN);
                // Strip s at 6 s kc, k step p at + 6 p, row r of the strip = op(A)[6 s + r, p] = a[p, 6 s + r], zero past m.
                for (int s = 0; s < strips; s++)
                {
                    for (int p = 0; p < kc; p++)
                    {
                        for (int r = 0; r < 6; r++)
                        {
                            int i = (s * 6) + r;
                            expected[(s * 6 * kc) + (p * 6) + r] = i < m ? a[p, i] : 0f;
                        }
                    }
                }

                GemmPacking.PackA6Transposed(a.Array, a.Stride, m, kc, 0, kc, actual.AsSpan(0, floats));

                Assert.Equal(expected, actual);
                return true;
            }).Check(Config.QuickThrowOnFailure.WithMaxTest(200));
    }

    [Fact]
    public void PackA6Transposed_InConsecutiveRanges_EqualsTheWholeBlock()
    {
        Prop.ForAll(
            (from m in Gen.Choose(1, 140)
             from kc in Gen.Choose(1, 60)
             from cuts in Gen.Choose(1, 6)
             from seed in Gen.Choose(0, int.MaxValue)
             select (m, kc, cuts, seed)).ToArbitrary(),
            t =>
            {
                (int m, int kc, int cuts, int seed) = t;
                var rng = new System.Random(seed);
                MatrixView a = GemmTestHelpers.RandomView(rng, kc, m, pad: 3, offset: 1);
                int floats = (m + 5) / 6 * 6 * kc;
                float[] whole = new float[floats + 16];
                float[] ranges = new float[floats + 16];
                whole.AsSpan().Fill(float.NaN);
                ranges.AsSpan().Fill(float.NaN);
                GemmPacking.PackA6Transposed(a.Array.AsSpan(a.Offset), a.Stride, m, kc, 0, kc, whole.AsSpan(0, floats));

                // Random cut points in increasing order, as RunPiped's pieces pack a block.
                int[] bounds = IncreasingCuts(rng, cuts, kc);

                for (int i = 0; i < cuts; i++)
                {
                    GemmPacking.PackA6Transposed(a.Array.AsSpan(a.Offset), a.Stride, m, kc, bounds[i], bounds[i + 1], ranges.AsSpan(0, floats));
                }

                Assert.Equal(whole, ranges);
                return true;
            }).Check(Config.QuickThrowOnFailure.WithMaxTest(200));
    }

    [Fact]
    public void PackA6Transposed_StripsApart_EachStripAsBackToBackAndNothingBetween()
    {
        Prop.ForAll(
            (from m in Gen.Choose(1, 140)
             from kc in Gen.Choose(1, 60)
             from gap in Gen.Choose(1, 20)
             from cuts in Gen.Choose(1, 5)
             from seed in Gen.Choose(0, int.MaxValue)
             select (m, kc, gap, cuts, seed)).ToArbitrary(),
            t =>
            {
                (int m, int kc, int gap, int cuts, int seed) = t;
                var rng = new System.Random(seed);
                MatrixView a = GemmTestHelpers.RandomView(rng, kc, m, pad: 2, offset: 1);
                int strips = (m + 5) / 6;
                int strip = (6 * kc) + gap;
                float[] whole = new float[strips * 6 * kc];
                float[] apart = new float[(strips * strip) + 16];
                apart.AsSpan().Fill(float.NaN);
                GemmPacking.PackA6Transposed(a.Array.AsSpan(a.Offset), a.Stride, m, kc, 0, kc, whole);

                // In increasing k ranges, as RunPiped's pieces pack a block into its padded buffer.
                int[] bounds = IncreasingCuts(rng, cuts, kc);

                for (int i = 0; i < cuts; i++)
                {
                    GemmPacking.PackA6Transposed(a.Array.AsSpan(a.Offset), a.Stride, m, kc, bounds[i], bounds[i + 1], apart.AsSpan(0, ((strips - 1) * strip) + (6 * kc)), strip);
                }

                for (int s = 0; s < strips; s++)
                {
                    Assert.Equal(whole.AsSpan(s * 6 * kc, 6 * kc).ToArray(), apart.AsSpan(s * strip, 6 * kc).ToArray());
                    Assert.All(apart.AsSpan((s * strip) + (6 * kc), gap).ToArray(), v => Assert.True(float.IsNaN(v)));
                }

                return true;
            }).Check(Config.QuickThrowOnFailure.WithMaxTest(200));
    }

    /// <summary>0 = b[0] &lt;= b[1] &lt;= ... &lt;= b[cuts] = <paramref name="kc"/>, random: the k ranges a block is packed in.</summary>
    private static int[] IncreasingCuts(System.Random rng, int cuts, int kc)
    {
        var bounds = new int[cuts + 1];
        bounds[cuts] = kc;
        for (int i = 1; i < cuts; i++)
        {
            bounds[i] = rng.Next(bounds[i - 1], kc + 1);
        }

        return bounds;
    }
}
