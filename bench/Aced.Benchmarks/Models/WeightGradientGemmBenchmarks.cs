using System;
using Aced.Core;
using BenchmarkDotNet.Attributes;

namespace Aced.Benchmarks.Models;

/// <summary>
/// The training step's weight-gradient products <c>dW += x^T dy</c> (TN, k = batch x tokens = 16384 at batch 256) at
/// exactly the step's shapes: one <see cref="Gemm.Multiply(Transpose, Transpose, float, MatrixView, MatrixView, float, MatrixView)"/>
/// call over all of k (baseline) against the fixed 512-row k-slices that <c>Aced.Models</c>' <c>Linear</c> issues.
/// </summary>
[MemoryDiagnoser]
public class WeightGradientGemmBenchmarks
{
    private const int K = 16384;
    private Matrix _x = null!;
    private Matrix _dy = null!;
    private Matrix _dw = null!;
    private Matrix _dwt = null!;

    /// <summary>m x n of dW: fc1 (128 x 512), fc2 (512 x 128), qkv (128 x 384), attention out (128 x 128).</summary>
    [Params("128x512", "512x128", "128x384", "128x128")]
    public string Shape { get; set; } = "128x512";

    [GlobalSetup]
    public void Setup()
    {
        string[] parts = Shape.Split('x');
        int m = int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
        int n = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        var rng = new CounterRng(5, 0);
        _x = new Matrix(K, m);
        _dy = new Matrix(K, n);
        _dw = new Matrix(m, n);
        _dwt = new Matrix(n, m);
        for (int i = 0; i < _x.Data.Length; i++)
        {
            _x.Data[i] = rng.NextFloat() - 0.5f;
        }

        for (int i = 0; i < _dy.Data.Length; i++)
        {
            _dy.Data[i] = rng.NextFloat() - 0.5f;
        }
    }

    [Benchmark(Baseline = true)]
    public float OneCall()
    {
        Aced.Core.Gemm.Multiply(Transpose.Transposed, Transpose.None, 1f, _x, _dy, 0f, _dw);
        return _dw[0, 0];
    }

    [Benchmark]
    public float Slices512()
    {
        _dw.Span.Clear();
        for (int k0 = 0; k0 < K; k0 += 512)
        {
            Aced.Core.Gemm.Multiply(Transpose.Transposed, Transpose.None, 1f, _x.RowRange(k0, 512), _dy.RowRange(k0, 512), 1f, _dw);
        }

        return _dw[0, 0];
    }

    /// <summary>The same slices computed as dW^T += dy^T x (the larger of m, n as the product's rows) into an n x m scratch.</summary>
    [Benchmark]
    public float Slices512Transposed()
    {
        _dwt.Span.Clear();
        for (int k0 = 0; k0 < K; k0 += 512)
        {
            Aced.Core.Gemm.Multiply(Transpose.Transposed, Transpose.None, 1f, _dy.RowRange(k0, 512), _x.RowRange(k0, 512), 1f, _dwt);
        }

        return _dwt[0, 0];
    }
    /// <summary>
    /// The concurrent backward's form: dW in two halves (columns when wider than tall, else rows) as two parallel items,
    /// each its half's 512-row slices as separate single-threaded products (what <c>Linear</c> ran before <see cref="GemmSlices"/>).
    /// </summary>
    [Benchmark]
    public float HalvesBySlices() => Halves(mode: 0);

    /// <summary>The same halves, each one <see cref="GemmSlices.AddTransposedProducts"/> call (same bits).</summary>
    [Benchmark]
    public float HalvesOneCall() => Halves(mode: 1);

    /// <summary>As <see cref="HalvesOneCall"/> without the prefetch of the next k block.</summary>
    [Benchmark]
    public float HalvesOneCallNoPrefetch() => Halves(mode: 2);

    /// <summary>As <see cref="HalvesOneCall"/> with AVX2's older 8-row panel x 32-column panel strips (<see cref="GemmSlices.SixRowStrips"/> off; same bits).</summary>
    [Benchmark]
    public float HalvesOneCallEightRowStrips() => Halves(mode: 3);

    private float Halves(int mode)
    {
        _dw.Span.Clear();
        bool saved = GemmSlices.PrefetchEnabled;
        bool savedSix = GemmSlices.SixRowStrips;
        GemmSlices.PrefetchEnabled = mode != 2;
        GemmSlices.SixRowStrips = mode != 3;
        try
        {
            ParallelPartition.Run(2, new HalfBody(_x, _dy, _dw, mode != 0));
        }
        finally
        {
            GemmSlices.PrefetchEnabled = saved;
            GemmSlices.SixRowStrips = savedSix;
        }

        return _dw[0, 0];
    }

    private readonly struct HalfBody : IPartitionBody
    {
        private readonly MatrixView _x;
        private readonly MatrixView _dy;
        private readonly MatrixView _dw;
        private readonly bool _oneCall;

        public HalfBody(MatrixView x, MatrixView dy, MatrixView dw, bool oneCall)
        {
            _x = x;
            _dy = dy;
            _dw = dw;
            _oneCall = oneCall;
        }

        public void Execute(int partition)
        {
            bool columns = _dw.Rows < _dw.Columns;
            int length = columns ? _dw.Columns : _dw.Rows;
            int granule = columns ? 32 : 8;
            int split = Math.Min(length, (length + (2 * granule) - 1) / (2 * granule) * granule);
            int start = partition == 0 ? 0 : split;
            int count = partition == 0 ? split : length - split;
            MatrixView x = columns ? _x : _x.ColumnRange(start, count);
            MatrixView dy = columns ? _dy.ColumnRange(start, count) : _dy;
            MatrixView dw = columns ? _dw.ColumnRange(start, count) : _dw.RowRange(start, count);
            if (_oneCall)
            {
                GemmSlices.AddTransposedProducts(x, dy, dw, 512);
                return;
            }

            for (int k0 = 0; k0 < K; k0 += 512)
            {
                Aced.Core.Gemm.Multiply(Transpose.Transposed, Transpose.None, 1f, x.RowRange(k0, 512), dy.RowRange(k0, 512), 1f, dw);
            }
        }
    }
}
