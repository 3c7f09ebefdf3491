using System;
using Aced.Core;
using FsCheck;
using FsCheck.Fluent;

namespace Aced.Core.Tests;

/// <summary>
/// <see cref="GemmSlices.AddTransposedProducts"/>: C += A^T B over fixed k-slices in one serial call. Pinned bit for bit to
/// the sequence of per-slice <see cref="Gemm.Multiply(Transpose, Transpose, float, MatrixView, MatrixView, float, MatrixView)"/>
/// calls (every kernel ISA, any thread count of those calls), and against a double reference.
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public sealed class GemmSlicesTests
{
    public sealed record Case(int M, int N, int K, int Slice, int Pad, int Seed);

    private static Gen<Case> CaseGen() =>
        from m in Gen.Choose(1, 80)
        from n in Gen.Choose(1, 300)
        from k in Gen.Choose(1, 1200)
        from slice in Gen.Elements(1, 7, 64, 300, 384, 385, 512, 900)
        from pad in Gen.Choose(0, 3)
        from seed in Gen.Choose(0, int.MaxValue)
        select new Case(m, n, k, slice, pad, seed);

    private static (MatrixView A, MatrixView B, MatrixView C) Operands(int m, int n, int k, int pad, int seed)
    {
        var rng = new System.Random(seed);

        // Offset and stride padding filled with NaN: a read outside a view poisons the result.
        MatrixView a = GemmTestHelpers.RandomView(rng, k, m, pad: pad + 1, offset: 3);
        MatrixView b = GemmTestHelpers.RandomView(rng, k, n, pad: pad, offset: 1);
        MatrixView c = GemmTestHelpers.RandomView(rng, m, n, pad: pad + 2, offset: 5);
        return (a, b, c);
    }

    private static MatrixView Copy(MatrixView v) => GemmTestHelpers.CopyView(v);

    /// <summary>The form the entry point must reproduce: one product per slice, accumulated into C.</summary>
    private static void BySlices(MatrixView a, MatrixView b, MatrixView c, int slice)
    {
        for (int k0 = 0; k0 < a.Rows; k0 += slice)
        {
            int rows = Math.Min(slice, a.Rows - k0);
            Gemm.Multiply(Transpose.Transposed, Transpose.None, 1f, a.RowRange(k0, rows), b.RowRange(k0, rows), 1f, c);
        }
    }

    private static void WithSettings(GemmIsa isa, int degree, Action action)
    {
        GemmIsa oldIsa = GemmKernels.ForcedIsa;
        int oldDegree = GemmControl.MaxDegreeOfParallelism;
        double oldThreshold = GemmControl.ParallelThreshold;
        try
        {
            GemmKernels.ForcedIsa = isa;
            GemmControl.MaxDegreeOfParallelism = degree;
            GemmControl.ParallelThreshold = 0;
            action();
        }
        finally
        {
            GemmKernels.ForcedIsa = oldIsa;
            GemmControl.MaxDegreeOfParallelism = oldDegree;
            GemmControl.ParallelThreshold = oldThreshold;
        }
    }

    private static void CheckCase(Case c, GemmIsa isa)
    {
        (MatrixView a, MatrixView b, MatrixView c0) = Operands(c.M, c.N, c.K, c.Pad, c.Seed);
        MatrixView expected = Copy(c0);
        MatrixView actual = Copy(c0);
        WithSettings(isa, 2, () => BySlices(a, b, expected, c.Slice));
        WithSettings(isa, 1, () => GemmSlices.AddTransposedProducts(a, b, actual, c.Slice));

        // The whole arrays, padding included: bit-identical inside C, untouched (NaN) outside.
        Assert.Equal(expected.Array, actual.Array);

        (double[] reference, double[] scale) = GemmTestHelpers.Reference(Transpose.Transposed, Transpose.None, 1f, a, b, 1f, c0, c.M, c.N, c.K);
        for (int i = 0; i < c.M; i++)
        {
            for (int j = 0; j < c.N; j++)
            {
                double tolerance = GemmTestHelpers.RelativeTolerancePerK * (c.K + 2) * scale[(i * c.N) + j];
                double error = Math.Abs(actual[i, j] - reference[(i * c.N) + j]);
                Assert.True(error <= tolerance, $"C[{i},{j}] = {actual[i, j]} vs {reference[(i * c.N) + j]} (tolerance {tolerance}) in {c} with {isa}");
            }
        }
    }

    [Fact]
    public void AddTransposedProducts_RandomShapes_BitIdenticalToSliceCallsAndMatchesDoubleReference()
    {
        Prop.ForAll(CaseGen().ToArbitrary(), c =>
        {
            CheckCase(c, GemmIsa.Auto);
            return true;
        }).Check(Config.QuickThrowOnFailure
            .WithMaxTest(60)
            .WithReplay(Microsoft.FSharp.Core.FSharpOption<Replay>.Some(new Replay(new Rnd(20261201UL, 0x9E3779B97F4A7C15UL), Microsoft.FSharp.Core.FSharpOption<int>.None))));
    }

    /// <summary>
    /// The AVX-512 dW loop with A^T read in place (<see cref="GemmSlices.InPlaceA512"/>, m a multiple of 8 and n of 32)
    /// against the switch off (the packed loop) and against the slice calls of the plain GEMM, with signed zeros,
    /// infinities and a NaN among the operands, and the step's dW half shapes.
    /// </summary>
    [Fact]
    public void AddTransposedProducts_InPlaceA_IsBitIdenticalToPackedAndSliceCalls()
    {
        bool saved = GemmSlices.InPlaceA512;
        try
        {
            var shapes = new System.Collections.Generic.List<Case>
            {
                new(128, 256, 1300, 512, 0, 1), new(128, 192, 1024, 512, 1, 2), new(64, 128, 700, 512, 0, 3), new(256, 128, 1536, 512, 2, 4),
            };
            var rng = new System.Random(20261202);
            for (int i = 0; i < 40; i++)
            {
                shapes.Add(new Case(8 * rng.Next(1, 40), 32 * rng.Next(1, 10), rng.Next(1, 1300), new[] { 1, 7, 64, 300, 384, 385, 512, 900 }[rng.Next(8)], rng.Next(4), rng.Next()));
            }

            foreach (Case c in shapes)
            {
                (MatrixView a, MatrixView b, MatrixView c0) = Operands(c.M, c.N, c.K, c.Pad, c.Seed);
                if (c.Seed % 3 == 0)
                {
                    a[0, 0] = -0f;
                    b[0, 0] = float.PositiveInfinity;
                    a[c.K - 1, c.M - 1] = float.NaN;
                    c0[0, c.N - 1] = -0f;
                }

                MatrixView expected = Copy(c0);
                MatrixView packed = Copy(c0);
                MatrixView inPlace = Copy(c0);
                WithSettings(GemmIsa.Auto, 2, () => BySlices(a, b, expected, c.Slice));
                GemmSlices.InPlaceA512 = false;
                WithSettings(GemmIsa.Auto, 1, () => GemmSlices.AddTransposedProducts(a, b, packed, c.Slice));
                GemmSlices.InPlaceA512 = true;
                WithSettings(GemmIsa.Auto, 1, () => GemmSlices.AddTransposedProducts(a, b, inPlace, c.Slice));
                Assert.Equal(expected.Array, packed.Array);
                Assert.Equal(expected.Array, inPlace.Array);
            }
        }
        finally
        {
            GemmSlices.InPlaceA512 = saved;
        }
    }

    /// <summary>
    /// The unpacked (direct) and packed dW forms on AVX-512, reached both ways: <see cref="GemmSlices.DirectMaxColumns"/>
    /// 0 against the width limit with <see cref="GemmSlices.PackedNarrow512"/> off, and the switch on (packed at every
    /// width) against it off.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AddTransposedProducts_DirectAndPackedForms_AreBitIdentical(bool bySwitch)
    {
        int saved = GemmSlices.DirectMaxColumns;
        bool savedSwitch = GemmSlices.PackedNarrow512;
        try
        {
            Prop.ForAll(CaseGen().ToArbitrary(), c =>
            {
                (MatrixView a, MatrixView b, MatrixView c0) = Operands(c.M, c.N, c.K, c.Pad, c.Seed);
                MatrixView packed = Copy(c0);
                MatrixView direct = Copy(c0);
                SetPacked(bySwitch, true, int.MaxValue);
                GemmSlices.AddTransposedProducts(a, b, packed, c.Slice);
                SetPacked(bySwitch, false, int.MaxValue);
                GemmSlices.AddTransposedProducts(a, b, direct, c.Slice);
                Assert.Equal(packed.Array, direct.Array);
                return true;
            }).Check(Config.QuickThrowOnFailure.WithMaxTest(60));

            // The step's fc2 and out-projection dW halves (k = 3 slices, the last one short).
            foreach ((int m, int n) in new[] { (256, 128), (64, 128), (128, 128) })
            {
                (MatrixView a, MatrixView b, MatrixView c0) = Operands(m, n, 1300, 0, m + n);
                MatrixView packed = Copy(c0);
                MatrixView direct = Copy(c0);
                SetPacked(bySwitch, true, 128);
                GemmSlices.AddTransposedProducts(a, b, packed, 512);
                SetPacked(bySwitch, false, 128);
                GemmSlices.AddTransposedProducts(a, b, direct, 512);
                Assert.Equal(packed.Array, direct.Array);
            }
        }
        finally
        {
            GemmSlices.DirectMaxColumns = saved;
            GemmSlices.PackedNarrow512 = savedSwitch;
        }
    }

    /// <summary>
    /// Selects the packed (<paramref name="packed"/>) or the unpacked AVX-512 form up to <paramref name="limit"/> columns:
    /// by <see cref="GemmSlices.PackedNarrow512"/> (<paramref name="bySwitch"/>), else by the width limit with the switch off.
    /// </summary>
    private static void SetPacked(bool bySwitch, bool packed, int limit)
    {
        GemmSlices.PackedNarrow512 = bySwitch && packed;
        GemmSlices.DirectMaxColumns = bySwitch || !packed ? limit : 0;
    }

    [Theory]
    [InlineData((int)GemmIsa.Vector512)]
    [InlineData((int)GemmIsa.Vector256)]
    [InlineData((int)GemmIsa.Vector256Quarters)]
    [InlineData((int)GemmIsa.Scalar)]
    public void AddTransposedProducts_EveryKernel_BitIdenticalToSliceCalls(int kernel)
    {
        var isa = (GemmIsa)kernel;
        if (isa == GemmIsa.Vector512 && !System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
        {
            return;
        }

        // The training step's shapes (one dW half, k = a few slices with a short last one) and odd edges.
        CheckCase(new Case(128, 256, 1440, 512, 0, 1), isa);
        CheckCase(new Case(256, 128, 1100, 512, 1, 2), isa);
        CheckCase(new Case(61, 97, 777, 300, 2, 3), isa);
        CheckCase(new Case(8, 32, 384, 384, 0, 4), isa);
        CheckCase(new Case(50, 290, 65, 512, 3, 5), isa);
    }

    [Fact]
    public void AddTransposedProducts_OtherProvider_UsesSliceCallsThroughIt()
    {
        (MatrixView a, MatrixView b, MatrixView c0) = Operands(40, 70, 900, 1, 11);
        MatrixView expected = Copy(c0);
        MatrixView actual = Copy(c0);
        BySlices(a, b, expected, 512);
        var counting = new CountingProvider();
        GemmTestHelpers.WithProvider(counting, () => GemmSlices.AddTransposedProducts(a, b, actual, 512));

        Assert.Equal(2, counting.Calls);
        Assert.Equal(expected.Array, actual.Array);
    }

    [Fact]
    public void AddTransposedProducts_SlicesProvider_ReceivesTheWholeCall()
    {
        (MatrixView a, MatrixView b, MatrixView c0) = Operands(24, 40, 700, 0, 13);
        MatrixView expected = Copy(c0);
        MatrixView actual = Copy(c0);
        BySlices(a, b, expected, 256);
        var hooked = new SlicesProvider();
        GemmTestHelpers.WithProvider(hooked, () => GemmSlices.AddTransposedProducts(a, b, actual, 256));

        Assert.Equal(1, hooked.SliceCalls);
        Assert.Equal(0, hooked.Calls);
        Assert.Equal(expected.Array, actual.Array);
    }

    [Theory]
    [InlineData((int)GemmIsa.Auto)]
    [InlineData((int)GemmIsa.Vector256)]
    [InlineData((int)GemmIsa.Scalar)]
    public void MultiplyTransposed_SlicesProvider_ReceivesTheWholeCallAndNoSgemm(int kernel)
    {
        // A wrapping provider (the benchmarks' timing wrapper) must see one MultiplyTransposed call and no Sgemm: the
        // managed serial path must not go back through the process-wide provider (on AVX2 it did, so the profile
        // recorded every dx product twice).
        var rng = new System.Random(kernel);
        MatrixView a = GemmTestHelpers.RandomView(rng, 70, 300, pad: 1, offset: 2);
        MatrixView b = GemmTestHelpers.RandomView(rng, 40, 300, pad: 0, offset: 1);
        MatrixView c0 = GemmTestHelpers.RandomView(rng, 70, 40, pad: 2, offset: 4);
        MatrixView expected = Copy(c0);
        MatrixView actual = Copy(c0);
        var hooked = new SlicesProvider();
        WithSettings((GemmIsa)kernel, 2, () =>
        {
            Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, a, b, 1f, expected);
            GemmTestHelpers.WithProvider(hooked, () => GemmSlices.MultiplyTransposed(a, b, actual, true));
        });

        Assert.Equal(1, hooked.SliceCalls);
        Assert.Equal(0, hooked.Calls);
        Assert.Equal(expected.Array, actual.Array);
    }

    public sealed record NtCase(int M, int N, int K, bool Accumulate, int Pad, int Seed);

    private static void CheckTransposed(NtCase c, int degree)
    {
        var rng = new System.Random(c.Seed);
        MatrixView a = GemmTestHelpers.RandomView(rng, c.M, c.K, pad: c.Pad + 1, offset: 2);
        MatrixView b = GemmTestHelpers.RandomView(rng, c.N, c.K, pad: c.Pad, offset: 1);
        MatrixView c0 = GemmTestHelpers.RandomView(rng, c.M, c.N, pad: c.Pad + 2, offset: 4);
        if (!c.Accumulate)
        {
            // Overwritten: NaN in C must not propagate.
            for (int i = 0; i < c.M; i++)
            {
                c0.Row(i).Fill(float.NaN);
            }
        }

        MatrixView expected = Copy(c0);
        MatrixView actual = Copy(c0);
        float beta = c.Accumulate ? 1f : 0f;
        WithSettings(GemmIsa.Auto, degree, () => Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, a, b, beta, expected));
        WithSettings(GemmIsa.Auto, 1, () => GemmSlices.MultiplyTransposed(a, b, actual, c.Accumulate));
        Assert.Equal(expected.Array, actual.Array);

        (double[] reference, double[] scale) = GemmTestHelpers.Reference(Transpose.None, Transpose.Transposed, 1f, a, b, beta, c0, c.M, c.N, c.K);
        for (int i = 0; i < c.M; i++)
        {
            for (int j = 0; j < c.N; j++)
            {
                double tolerance = GemmTestHelpers.RelativeTolerancePerK * (c.K + 2) * scale[(i * c.N) + j];
                Assert.True(Math.Abs(actual[i, j] - reference[(i * c.N) + j]) <= tolerance, $"C[{i},{j}] in {c}");
            }
        }
    }

    [Fact]
    public void MultiplyTransposed_RandomShapes_BitIdenticalToGemmAndMatchesDoubleReference()
    {
        Prop.ForAll(
            (from m in Gen.Choose(1, 90)
             from n in Gen.Choose(1, 600)
             from k in Gen.Choose(0, 900)
             from accumulate in Gen.Elements(false, true)
             from pad in Gen.Choose(0, 3)
             from seed in Gen.Choose(0, int.MaxValue)
             select new NtCase(m, n, k, accumulate, pad, seed)).ToArbitrary(),
            c =>
            {
                CheckTransposed(c, 2);
                return true;
            }).Check(Config.QuickThrowOnFailure
            .WithMaxTest(60)
            .WithReplay(Microsoft.FSharp.Core.FSharpOption<Replay>.Some(new Replay(new Rnd(20261202UL, 0x9E3779B97F4A7C15UL), Microsoft.FSharp.Core.FSharpOption<int>.None))));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MultiplyTransposed_DirectAndPackedForms_AreBitIdentical(bool bySwitch)
    {
        int saved = GemmSlices.DirectMaxColumns;
        bool savedSwitch = GemmSlices.PackedNarrow512;
        try
        {
            Prop.ForAll(
                (from m in Gen.Choose(1, 200)
                 from n in Gen.Choose(1, 130)
                 from k in Gen.Choose(1, 900)
                 from accumulate in Gen.Elements(false, true)
                 from pad in Gen.Choose(0, 3)
                 from seed in Gen.Choose(0, int.MaxValue)
                 select new NtCase(m, n, k, accumulate, pad, seed)).ToArbitrary(),
                c =>
                {
                    var rng = new System.Random(c.Seed);
                    MatrixView a = GemmTestHelpers.RandomView(rng, c.M, c.K, pad: c.Pad + 1, offset: 2);
                    MatrixView b = GemmTestHelpers.RandomView(rng, c.N, c.K, pad: c.Pad, offset: 1);
                    MatrixView c0 = GemmTestHelpers.RandomView(rng, c.M, c.N, pad: c.Pad + 2, offset: 4);
                    MatrixView packed = Copy(c0);
                    MatrixView direct = Copy(c0);
                    SetPacked(bySwitch, true, int.MaxValue);
                    WithSettings(GemmIsa.Auto, 1, () => GemmSlices.MultiplyTransposed(a, b, packed, c.Accumulate));
                    SetPacked(bySwitch, false, int.MaxValue);
                    WithSettings(GemmIsa.Auto, 1, () => GemmSlices.MultiplyTransposed(a, b, direct, c.Accumulate));
                    Assert.Equal(packed.Array, direct.Array);
                    return true;
                }).Check(Config.QuickThrowOnFailure.WithMaxTest(60));
        }
        finally
        {
            GemmSlices.DirectMaxColumns = saved;
            GemmSlices.PackedNarrow512 = savedSwitch;
        }
    }

    [Theory]
    [InlineData(1024, 128, 512, false)]
    [InlineData(1024, 512, 128, true)]
    [InlineData(300, 128, 384, true)]
    [InlineData(77, 513, 129, false)]
    [InlineData(1024, 128, 128, false)]
    [InlineData(1000, 120, 700, true)]
    public void MultiplyTransposed_StepShapes_BitIdenticalToGemm(int m, int n, int k, bool accumulate)
    {
        for (int degree = 1; degree <= 3; degree++)
        {
            CheckTransposed(new NtCase(m, n, k, accumulate, 1, m + n + k), degree);
        }
    }

    [Fact]
    public void MultiplyTransposed_Mismatch_Throws()
    {
        Assert.Throws<ArgumentException>(() => GemmSlices.MultiplyTransposed(new Matrix(4, 5), new Matrix(3, 6), new Matrix(4, 3), false));
        Assert.Throws<ArgumentException>(() => GemmSlices.RunTransposedManaged(new Matrix(4, 5), new Matrix(3, 6), new Matrix(4, 3), false));
        Assert.Throws<ArgumentException>(() => GemmSlices.RunTransposedManaged(new Matrix(4, 5), new Matrix(3, 5), new Matrix(4, 4), false));
    }

    [Fact]
    public void AddTransposedProducts_Mismatch_Throws()
    {
        var a = new Matrix(10, 4);
        var b = new Matrix(9, 5);
        var c = new Matrix(4, 5);
        Assert.Throws<ArgumentException>(() => GemmSlices.AddTransposedProducts(a, b, c, 4));
        Assert.Throws<ArgumentException>(() => GemmSlices.AddTransposedProducts(a, new Matrix(10, 5), new Matrix(5, 5), 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => GemmSlices.AddTransposedProducts(a, new Matrix(10, 5), c, 0));
        var shared = new Matrix(10, 8);
        Assert.Throws<ArgumentException>(() => GemmSlices.AddTransposedProducts(shared.View.ColumnRange(0, 4), shared.View.ColumnRange(4, 4), shared.View.RowRange(0, 4).ColumnRange(0, 4), 4));
    }

    [Fact]
    public void AddTransposedProducts_SteadyState_AllocatesNothing()
    {
        (MatrixView a, MatrixView b, MatrixView c) = Operands(64, 96, 1500, 0, 12);

        long allocated = SteadyStateAllocation.MinimumBytes(() => GemmSlices.AddTransposedProducts(a, b, c, 512), callsPerRound: 5, warmUp: 1, currentThread: true);

        Assert.Equal(0, allocated);
    }

    /// <summary>Takes the slice calls itself (through the managed serial path) and counts them.</summary>
    private sealed class SlicesProvider : IGemmProvider, IGemmSlicesProvider
    {
        public int Calls { get; private set; }

        public int SliceCalls { get; private set; }

        public string Name => "slices";

        public void Sgemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
        {
            Calls++;
            ManagedGemmProvider.Instance.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        }

        public void AddTransposedProducts(MatrixView a, MatrixView b, MatrixView c, int sliceRows)
        {
            SliceCalls++;
            GemmSlices.RunManaged(a, b, c, sliceRows);
        }

        public void MultiplyTransposed(MatrixView a, MatrixView b, MatrixView c, bool accumulate)
        {
            SliceCalls++;
            GemmSlices.RunTransposedManaged(a, b, c, accumulate);
        }
    }

    /// <summary>Forwards to the managed provider and counts the calls.</summary>
    private sealed class CountingProvider : IGemmProvider
    {
        public int Calls { get; private set; }

        public string Name => "counting";

        public bool IsAvailable => true;

        public string Describe() => Name;

        public void Sgemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
        {
            Calls++;
            ManagedGemmProvider.Instance.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        }
    }
}
