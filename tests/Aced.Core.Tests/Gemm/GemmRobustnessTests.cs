using System;
using System.Threading.Tasks;
using Aced.Core;

namespace Aced.Core.Tests;

/// <summary>
/// Review tests: views that end exactly at the end of their array, very skinny shapes, alpha = 0 and k = 0,
/// epilogue failures under concurrency, and bit-identical results for 1/2/3 threads in every packed-B cache mode.
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public sealed class GemmRobustnessTests
{
    private static void WithPool(int degree, Action action)
    {
        int oldDegree = GemmControl.MaxDegreeOfParallelism;
        double oldThreshold = GemmControl.ParallelThreshold;
        try
        {
            GemmControl.MaxDegreeOfParallelism = degree;
            GemmControl.ParallelThreshold = 0;
            action();
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = oldDegree;
            GemmControl.ParallelThreshold = oldThreshold;
        }
    }

    /// <summary>A strided view whose last element is the last element of its array (no slack for over-reads).</summary>
    private static MatrixView TightView(System.Random rng, int rows, int cols, int pad, int offset)
    {
        int stride = cols + pad;
        var data = new float[offset + ((rows - 1) * stride) + cols];
        data.AsSpan().Fill(float.NaN);
        var view = new MatrixView(data, offset, rows, cols, stride);
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                view[i, j] = (float)((rng.NextDouble() * 2) - 1);
            }
        }

        return view;
    }

    [Theory]
    [InlineData(8, 32, 8)]
    [InlineData(16, 64, 24)]
    [InlineData(33, 97, 41)]
    [InlineData(130, 300, 400)]
    public void Multiply_StridedViewsEndingAtArrayEnd_MatchReferenceInEveryTransposeMode(int m, int n, int k)
    {
        // Full 8 x 32 micro-tiles and 8-wide packing loads touch the last row of each operand; NaN padding in the
        // stride gaps would show up in C if any gap element were read into the product.
        WithPool(2, () =>
        {
            foreach (Transpose ta in new[] { Transpose.None, Transpose.Transposed })
            {
                foreach (Transpose tb in new[] { Transpose.None, Transpose.Transposed })
                {
                    var rng = new System.Random(m + n + k);
                    MatrixView a = ta == Transpose.None ? TightView(rng, m, k, 3, 2) : TightView(rng, k, m, 3, 2);
                    MatrixView b = tb == Transpose.None ? TightView(rng, k, n, 5, 1) : TightView(rng, n, k, 5, 1);
                    MatrixView c = TightView(rng, m, n, 7, 3);
                    float[] before = (float[])c.Array.Clone();
                    var c0 = new MatrixView(before, c.Offset, c.Rows, c.Columns, c.Stride);
                    (double[] expected, double[] scale) = GemmTestHelpers.Reference(ta, tb, 1.5f, a, b, 0.25f, c0, m, n, k);

                    Gemm.Multiply(ta, tb, 1.5f, a, b, 0.25f, c);

                    GemmTestHelpers.AssertClose(expected, scale, c, m, n, k, $"{ta}{tb}");
                    GemmTestHelpers.AssertOutsideUntouched(c, before);
                    var recorder = new RecordingEpilogue(m, n);
                    Gemm.MultiplyWithEpilogue(ta, tb, 1.5f, a, b, recorder);
                    recorder.AssertCompleteAndOrdered();
                }
            }
        });
    }

    [Theory]
    [InlineData(1, 100000, 1)]
    [InlineData(100000, 1, 1)]
    [InlineData(1, 1, 100000)]
    [InlineData(3, 2, 50000)]
    public void Multiply_VerySkinnyShapes_MatchReference(int m, int n, int k)
    {
        WithPool(2, () =>
        {
            foreach (Transpose ta in new[] { Transpose.None, Transpose.Transposed })
            {
                foreach (Transpose tb in new[] { Transpose.None, Transpose.Transposed })
                {
                    GemmTestHelpers.CheckCase(new System.Random(3), ta, tb, m, n, k, 1f, 0.5f, 1);
                }
            }
        });
    }

    [Fact]
    public void Multiply_AlphaZeroOrKZero_ScalesCByBetaAndNeverReadsAOrB()
    {
        var a = new Matrix(5, 7);
        a.Data.AsSpan().Fill(float.NaN);
        var b = new Matrix(7, 9);
        b.Data.AsSpan().Fill(float.PositiveInfinity);
        var c = new Matrix(5, 9);
        c.Data.AsSpan().Fill(2f);

        Gemm.Multiply(Transpose.None, Transpose.None, 0f, a, b, 0.5f, c);
        Assert.All(c.Data, x => Assert.Equal(1f, x));

        var recorder = new RecordingEpilogue(5, 9);
        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 0f, a, b, recorder);
        recorder.AssertCompleteAndOrdered();
        Assert.All(recorder.Product, x => Assert.Equal(0f, x));

        var noColumns = new Matrix(5, 0);
        var noRows = new Matrix(0, 9);
        c.Data.AsSpan().Fill(float.NaN);
        Gemm.Multiply(Transpose.None, Transpose.None, 1f, noColumns, noRows, 0f, c);
        Assert.All(c.Data, x => Assert.Equal(0f, x));
        c.Data.AsSpan().Fill(4f);
        Gemm.Multiply(Transpose.None, Transpose.None, 1f, noColumns, noRows, -0.5f, c);
        Assert.All(c.Data, x => Assert.Equal(-2f, x));
    }

    [Fact]
    public void Multiply_NaNInA_PropagatesToItsRowOnly()
    {
        var rng = new System.Random(29);
        MatrixView a = GemmTestHelpers.RandomView(rng, 20, 40);
        MatrixView b = GemmTestHelpers.RandomView(rng, 40, 70);
        a[3, 17] = float.NaN;
        var c = new Matrix(20, 70);
        Gemm.Multiply(Transpose.None, Transpose.None, 1f, a, b, 0f, c);
        var recorder = new RecordingEpilogue(20, 70);
        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 1f, a, b, recorder);
        for (int i = 0; i < 20; i++)
        {
            for (int j = 0; j < 70; j++)
            {
                Assert.Equal(i == 3, float.IsNaN(c[i, j]));
                Assert.Equal(i == 3, float.IsNaN(recorder.Product[(i * 70) + j]));
            }
        }
    }

    [Fact]
    public void MultiplyWithEpilogue_ThrowingEpiloguesFromFourThreads_PoolRecoversAndLaterCallsAreBitIdentical()
    {
        WithPool(3, () =>
        {
            var rng = new System.Random(5);
            MatrixView a = GemmTestHelpers.RandomView(rng, 700, 30);
            MatrixView b = GemmTestHelpers.RandomView(rng, 30, 300);
            var expected = new Matrix(700, 300);
            Gemm.Multiply(a, b, expected);
            var tasks = new Task[4];
            for (int t = 0; t < tasks.Length; t++)
            {
                int thread = t;
                tasks[t] = Task.Run(() =>
                {
                    for (int iteration = 0; iteration < 15; iteration++)
                    {
                        // The failing band varies, so the throw happens on the caller or on a pool worker.
                        var ex = Assert.Throws<InvalidOperationException>(() => Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 1f, a, b, new ThrowOnBand((iteration + thread) % 11)));
                        Assert.Equal("band failure", ex.Message);
                        var recorder = new RecordingEpilogue(700, 300);
                        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 1f, a, b, recorder);
                        recorder.AssertCompleteAndOrdered();
                        GemmTestHelpers.AssertBitIdentical(expected.Data, recorder.Product, $"epilogue after failure, iteration {iteration}");
                        var c = new Matrix(700, 300);
                        Gemm.Multiply(a, b, c);
                        GemmTestHelpers.AssertBitIdentical(expected.Data, c.Data, $"plain after failure, iteration {iteration}");
                    }
                });
            }

#pragma warning disable xUnit1031 // bounded wait: a deadlocked pool must fail the test, not hang the run
            Assert.True(Task.WaitAll(tasks, TimeSpan.FromSeconds(120)), "GEMM pool deadlocked");
#pragma warning restore xUnit1031
        });
    }

    [Theory]
    [InlineData(1L << 20)] // every column block cached (grouped tile order)
    [InlineData(400_000L)] // groups of two column blocks
    [InlineData(300_000L)] // one column block at a time
    [InlineData(1_000L)] // one k block at a time
    public void Multiply_DegreeOfParallelism123_BitIdenticalInEveryPackedBMode(long budget)
    {
        long old = GemmWorkspace.MultiSlotBudget;
        try
        {
            GemmWorkspace.MultiSlotBudget = budget;
            var rng = new System.Random(23);
            MatrixView a = GemmTestHelpers.RandomView(rng, 150, 800, 2);
            MatrixView b = GemmTestHelpers.RandomView(rng, 600, 800);
            float[]? plain = null;
            float[]? fused = null;
            foreach (int degree in new[] { 1, 2, 3 })
            {
                WithPool(degree, () =>
                {
                    var c = new Matrix(150, 600);
                    Gemm.Multiply(Transpose.None, Transpose.Transposed, 0.75f, a, b, 0f, c);
                    var recorder = new RecordingEpilogue(150, 600);
                    Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, 0.75f, a, b, recorder);
                    recorder.AssertCompleteAndOrdered();
                    plain ??= c.Data;
                    fused ??= recorder.Product;
                    GemmTestHelpers.AssertBitIdentical(plain, c.Data, $"plain, degree {degree}, budget {budget}");
                    GemmTestHelpers.AssertBitIdentical(fused, recorder.Product, $"epilogue, degree {degree}, budget {budget}");
                });
            }
        }
        finally
        {
            GemmWorkspace.MultiSlotBudget = old;
        }
    }

    private readonly struct ThrowOnBand : IGemmEpilogue
    {
        private readonly int _band;

        public ThrowOnBand(int band) => _band = band;

        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
            if (rowStart / 64 == _band)
            {
                throw new InvalidOperationException("band failure");
            }
        }
    }
}
