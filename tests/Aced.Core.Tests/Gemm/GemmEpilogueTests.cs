using System;
using System.Collections.Generic;
using System.Threading;
using Aced.Core;

namespace Aced.Core.Tests;

/// <summary>Shared state of a <see cref="RecordingEpilogue"/>: the assembled product, coverage counts and tile log.</summary>
internal sealed class EpilogueRecording
{
    public EpilogueRecording(int m, int n)
    {
        M = m;
        N = n;
        Product = new float[m * n];
        Coverage = new int[m * n];
    }

    public int M { get; }

    public int N { get; }

    public float[] Product { get; }

    public int[] Coverage { get; }

    public List<(int RowStart, int ColumnStart, int Rows, int Columns, int Thread)> Tiles { get; } = new();
}

/// <summary>Copies every tile into a full product and logs the delivery order (tests only).</summary>
internal readonly struct RecordingEpilogue : IGemmEpilogue
{
    private readonly EpilogueRecording _state;

    public RecordingEpilogue(int m, int n) => _state = new EpilogueRecording(m, n);

    public float[] Product => _state.Product;

    public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
    {
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++)
            {
                int index = ((rowStart + r) * _state.N) + columnStart + c;
                _state.Product[index] = tile[(r * stride) + c];
                Interlocked.Increment(ref _state.Coverage[index]);
            }
        }

        // Scribble over the tile: it is scratch and must not leak into other tiles.
        tile.Fill(float.NaN);
        lock (_state.Tiles)
        {
            _state.Tiles.Add((rowStart, columnStart, rows, columns, Environment.CurrentManagedThreadId));
        }
    }

    /// <summary>Every element exactly once; each row band delivered by one thread in increasing, contiguous column order.</summary>
    public void AssertCompleteAndOrdered()
    {
        for (int i = 0; i < _state.Coverage.Length; i++)
        {
            Assert.True(_state.Coverage[i] == 1, $"element {i / _state.N},{i % _state.N} delivered {_state.Coverage[i]} times");
        }

        var bands = new Dictionary<int, (int NextColumn, int Rows, int Thread)>();
        foreach (var t in _state.Tiles)
        {
            if (!bands.TryGetValue(t.RowStart, out var band))
            {
                Assert.Equal(0, t.ColumnStart);
                bands[t.RowStart] = (t.Columns, t.Rows, t.Thread);
                continue;
            }

            Assert.Equal(band.NextColumn, t.ColumnStart);
            Assert.Equal(band.Rows, t.Rows);
            Assert.Equal(band.Thread, t.Thread);
            bands[t.RowStart] = (band.NextColumn + t.Columns, band.Rows, band.Thread);
        }

        foreach (var band in bands.Values)
        {
            Assert.Equal(_state.N, band.NextColumn);
        }
    }
}

public sealed class GemmEpilogueTests
{
    private static float[] PlainProduct(Transpose ta, Transpose tb, float alpha, MatrixView a, MatrixView b, int m, int n)
    {
        var c = new Matrix(m, n);
        Gemm.Multiply(ta, tb, alpha, a, b, 0f, c);
        return c.Data;
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(13, 17, 19)]
    [InlineData(65, 257, 3)]
    [InlineData(97, 300, 450)]
    [InlineData(64, 256, 256)]
    [InlineData(7, 9, 0)]
    public void MultiplyWithEpilogue_AllModes_CoversOnceInOrderAndEqualsPlainProductBitwise(int m, int n, int k)
    {
        var rng = new System.Random((m * 7) + n + k);
        foreach (Transpose ta in new[] { Transpose.None, Transpose.Transposed })
        {
            foreach (Transpose tb in new[] { Transpose.None, Transpose.Transposed })
            {
                MatrixView a = ta == Transpose.None ? GemmTestHelpers.RandomView(rng, m, k, 2, 1) : GemmTestHelpers.RandomView(rng, k, m, 2, 1);
                MatrixView b = tb == Transpose.None ? GemmTestHelpers.RandomView(rng, k, n, 1, 3) : GemmTestHelpers.RandomView(rng, n, k, 1, 3);
                var recorder = new RecordingEpilogue(m, n);
                Gemm.MultiplyWithEpilogue(ta, tb, 0.5f, a, b, recorder);
                recorder.AssertCompleteAndOrdered();
                float[] plain = PlainProduct(ta, tb, 0.5f, a, b, m, n);
                for (int i = 0; i < plain.Length; i++)
                {
                    Assert.Equal(BitConverter.SingleToInt32Bits(plain[i]), BitConverter.SingleToInt32Bits(recorder.Product[i]));
                }

                var c0 = new MatrixView(new float[Math.Max(1, m * n)], 0, m, n, n);
                (double[] expected, double[] scale) = GemmTestHelpers.Reference(ta, tb, 0.5f, a, b, 0f, c0, m, n, k);
                GemmTestHelpers.AssertClose(expected, scale, new MatrixView(recorder.Product.Length == 0 ? new float[1] : recorder.Product, 0, m, n, n), m, n, k, $"epilogue {ta}{tb}");
            }
        }
    }

    [Fact]
    public void MultiplyWithEpilogue_SoftplusRowSum_MatchesDoubleReference()
    {
        // The selection-sampler pattern at reduced size: (B x d) * (c x d)^T, softplus, row sums.
        const int rows = 700, d = 256, members = 256;
        var rng = new System.Random(12);
        MatrixView x = GemmTestHelpers.RandomView(rng, rows, d);
        MatrixView w = GemmTestHelpers.RandomView(rng, members, d);
        var sums = new double[rows];
        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, 0.25f, x, w, new SoftplusRowSum(sums));
        for (int i = 0; i < rows; i++)
        {
            double expected = 0;
            for (int j = 0; j < members; j++)
            {
                double dot = 0;
                for (int p = 0; p < d; p++)
                {
                    dot += (double)x[i, p] * w[j, p];
                }

                double z = 0.25 * dot;
                expected += Math.Max(z, 0) + Math.Log(1 + Math.Exp(-Math.Abs(z)));
            }

            Assert.True(Math.Abs(sums[i] - expected) <= 1e-4 * expected, $"row {i}: {sums[i]} vs {expected}");
        }
    }

    [Fact]
    public void MultiplyWithEpilogue_ShapeMismatch_NamesB()
    {
        var ex = Assert.Throws<ArgumentException>(() => Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 1f, new Matrix(3, 4), new Matrix(5, 2), new RecordingEpilogue(3, 2)));
        Assert.Equal("b", ex.ParamName);
    }

    [Fact]
    public void MultiplyWithEpilogue_EmptyOutput_NeverCallsEpilogue()
    {
        var recorder = new RecordingEpilogue(0, 5);
        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 1f, new Matrix(0, 3), new Matrix(3, 5), recorder);
        recorder.AssertCompleteAndOrdered();
    }

    private readonly struct SoftplusRowSum : IGemmEpilogue
    {
        private readonly double[] _sums;

        public SoftplusRowSum(double[] sums) => _sums = sums;

        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
            for (int r = 0; r < rows; r++)
            {
                double s = 0;
                for (int c = 0; c < columns; c++)
                {
                    s += StableMath.Softplus(tile[(r * stride) + c]);
                }

                _sums[rowStart + r] += s;
            }
        }
    }
}
