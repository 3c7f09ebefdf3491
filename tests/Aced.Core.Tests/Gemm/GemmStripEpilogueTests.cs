using System;
using Aced.Core;

namespace Aced.Core.Tests;

/// <summary>
/// An <see cref="IGemmStripEpilogue"/> on the AVX2 strips gets each 6-row strip of a band (the band's last has 4 or
/// fewer rows) as soon as its last k block is done (<see cref="GemmKernels.EpilogueStripDelivery"/>; several k blocks
/// run strip by strip). The tiles must cover the product once, arrive per row in increasing column order from one
/// thread, and hold the scalar kernel's bits, for every transpose, band remainder, column-tile and k-block count and
/// thread count, with the delivery on and off.
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public sealed class GemmStripEpilogueTests
{
    /// <summary><see cref="RecordingEpilogue"/> that asks for strip tiles and records the largest tile height.</summary>
    private readonly struct RecordingStripEpilogue : IGemmStripEpilogue
    {
        private readonly RecordingEpilogue _inner;
        private readonly int[] _maxRows;

        public RecordingStripEpilogue(int m, int n)
        {
            _inner = new RecordingEpilogue(m, n);
            _maxRows = new int[3];
            _maxRows[2] = m;
        }

        public RecordingEpilogue Inner => _inner;

        public int TargetCalls => _maxRows[1];

        /// <summary>The product rows of the next tile (prefetch hints), and one past the array's end (must be ignored).</summary>
        public int Targets(int rowStart, int rows, int columnStart, int columns, Span<StripTarget> targets)
        {
            System.Threading.Interlocked.Increment(ref _maxRows[1]);

            float[] product = _inner.Product;
            int n = product.Length / Math.Max(1, _maxRows[2]);
            targets[0] = new StripTarget(product, (rowStart * n) + columnStart, n, columns);
            targets[1] = new StripTarget(product, product.Length, n, columns);
            return 2;
        }

        public int MaxRows => _maxRows[0];

        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
            lock (_maxRows)
            {
                _maxRows[0] = Math.Max(_maxRows[0], rows);
            }

            _inner.Apply(rowStart, columnStart, rows, columns, tile, stride);
        }
    }

    private static (float[] Product, int MaxRows, int TargetCalls) Run(bool delivery, GemmIsa isa, int degree, Transpose ta, Transpose tb, int m, int n, int k, float alpha, int seed)
    {
        bool old = GemmKernels.EpilogueStripDelivery;
        float[] result = Array.Empty<float>();
        int maxRows = 0;
        int targetCalls = 0;
        try
        {
            GemmKernels.EpilogueStripDelivery = delivery;
            GemmTestHelpers.WithSettings(degree, degree == 1 ? double.MaxValue : 0, isa, () =>
            {
                var rng = new System.Random(seed);
                MatrixView a = ta == Transpose.None ? GemmTestHelpers.RandomView(rng, m, k, 3, 1) : GemmTestHelpers.RandomView(rng, k, m, 3, 1);
                MatrixView b = tb == Transpose.None ? GemmTestHelpers.RandomView(rng, k, n, 5) : GemmTestHelpers.RandomView(rng, n, k, 5);
                var recorder = new RecordingStripEpilogue(m, n);
                Gemm.MultiplyWithEpilogue(ta, tb, alpha, a, b, recorder);
                recorder.Inner.AssertCompleteAndOrdered();
                result = recorder.Inner.Product;
                maxRows = recorder.MaxRows;
                targetCalls = recorder.TargetCalls;
            });
            return (result, maxRows, targetCalls);
        }
        finally
        {
            GemmKernels.EpilogueStripDelivery = old;
        }
    }

    [Theory]
    [InlineData(Transpose.None, Transpose.None)]
    [InlineData(Transpose.None, Transpose.Transposed)]
    [InlineData(Transpose.Transposed, Transpose.None)]
    [InlineData(Transpose.Transposed, Transpose.Transposed)]
    public void MultiplyWithEpilogue_StripEpilogue_StripTilesBitIdenticalToScalarAtAnyDegree(Transpose ta, Transpose tb)
    {
        // Bands of every length mod 6, one to three column tiles with partial half-panels, one to three k blocks (385,
        // 800: strip-major order across k blocks, with one and with several column tiles), k = 0 and alpha = 0.
        (int M, int N, int K, float Alpha)[] shapes =
        {
            (37, 21, 50, 1.25f), (128, 300, 385, -0.5f), (200, 536, 97, 1f), (257, 16, 7, 2f), (323, 289, 800, 0.75f),
            (130, 128, 512, 1f), (5, 40, 9, 1f), (1, 33, 17, 1f), (48, 70, 33, 1f), (66, 256, 128, 1f), (70, 130, 0, 1f), (12, 48, 5, 0f),
        };
        int seed = 170;
        foreach ((int m, int n, int k, float alpha) in shapes)
        {
            (float[] scalar, _, _) = Run(true, GemmIsa.Scalar, 1, ta, tb, m, n, k, alpha, seed);
            foreach (int degree in new[] { 1, 2, 3 })
            {
                string label = $"m={m} n={n} k={k} {ta}/{tb} degree={degree}";
                (float[] strips, int stripRows, int targetCalls) = Run(true, GemmIsa.Vector256, degree, ta, tb, m, n, k, alpha, seed);
                GemmTestHelpers.AssertBitIdentical(scalar, strips, "strip tiles " + label);
                Assert.True(stripRows <= 6, $"strip tiles of {stripRows} rows, {label}");
                Assert.True(m <= 6 || targetCalls > 0, $"no prefetch targets asked for, {label}");
                (float[] bands, int bandRows, _) = Run(false, GemmIsa.Vector256, degree, ta, tb, m, n, k, alpha, seed);
                GemmTestHelpers.AssertBitIdentical(scalar, bands, "band tiles " + label);
                Assert.Equal(Math.Min(m, new GemmPlan(m, n, k, epilogue: true).Mc), bandRows);
            }

            seed++;
        }
    }

    [Fact]
    public void MultiplyWithEpilogue_StripEpilogueOn8x32Panels_GetsBandTiles()
    {
        bool old = GemmKernels.EpilogueStrips;
        try
        {
            GemmKernels.EpilogueStrips = false;
            (float[] scalar, _, _) = Run(true, GemmIsa.Scalar, 1, Transpose.None, Transpose.None, 150, 300, 400, 1f, 3);
            (float[] panels, int rows, _) = Run(true, GemmIsa.Vector256, 2, Transpose.None, Transpose.None, 150, 300, 400, 1f, 3);
            GemmTestHelpers.AssertBitIdentical(scalar, panels, "8x32 panels");
            Assert.Equal(new GemmPlan(150, 300, 400, epilogue: true).Mc, rows);
        }
        finally
        {
            GemmKernels.EpilogueStrips = old;
        }
    }
}
