using System;
using Aced.Benchmarks.Common;
using Aced.Core;
using BenchmarkDotNet.Attributes;

namespace Aced.Benchmarks.Models;

/// <summary>
/// The training step's input-gradient blocks <c>dx = dy W^T</c> (NT) as the concurrent backward runs them: the 16384
/// rows of dy (batch 256) in 1024-row blocks, each one single-threaded <see cref="GemmSlices.MultiplyTransposed"/> call,
/// as <c>ParallelPartition</c> items on every thread. <see cref="Current"/> runs the default forms; the others switch
/// AVX2's six-row strips off (the plain path's product per block) or the unpacked-A form on (same bits).
/// </summary>
[MemoryDiagnoser]
[GflopsColumn]
public class InputGradientBlockBenchmarks : IFlopCount
{
    private const int Rows = 16384;
    private const int BlockRows = 1024;
    private Matrix _dy = null!;
    private Matrix _w = null!;
    private Matrix _dx = null!;

    /// <summary>n x k of the product (dx width x dy width): fc2 (128 x 512), fc1 (512 x 128), qkv (128 x 384), out (128 x 128).</summary>
    [Params("128x512", "512x128", "128x384", "128x128")]
    public string Shape { get; set; } = "128x512";

    [GlobalSetup]
    public void Setup()
    {
        string[] parts = Shape.Split('x');
        int n = int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
        int k = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        var rng = new CounterRng(7, 0);
        _dy = new Matrix(Rows, k);
        _w = new Matrix(n, k);
        _dx = new Matrix(Rows, n);
        for (int i = 0; i < _dy.Data.Length; i++)
        {
            _dy.Data[i] = rng.NextFloat() - 0.5f;
        }

        for (int i = 0; i < _w.Data.Length; i++)
        {
            _w.Data[i] = rng.NextFloat() - 0.5f;
        }
    }

    /// <inheritdoc/>
    public double FlopCount(string method)
    {
        // Called on an instance BenchmarkDotNet has not set up: the shape from the parameter.
        string[] parts = Shape.Split('x');
        return 2.0 * Rows * int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture) * int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Benchmark(Baseline = true)]
    public float PlainPath() => Run(six: false, directColumns: 0);

    [Benchmark]
    public float Current() => Run(six: true, directColumns: GemmSlices.DirectMaxColumns256);

    /// <summary>With the unpacked-A form (off by default) up to 128 columns.</summary>
    [Benchmark]
    public float UnpackedA() => Run(six: true, directColumns: 128);

    private float Run(bool six, int directColumns)
    {
        bool savedSix = GemmSlices.SixRowStrips;
        int savedDirect = GemmSlices.DirectMaxColumns256;
        GemmSlices.SixRowStrips = six;
        GemmSlices.DirectMaxColumns256 = directColumns;
        try
        {
            ParallelPartition.Run(Rows / BlockRows, new BlockBody(_dy, _w, _dx));
        }
        finally
        {
            GemmSlices.SixRowStrips = savedSix;
            GemmSlices.DirectMaxColumns256 = savedDirect;
        }

        return _dx[0, 0];
    }

    private readonly struct BlockBody : IPartitionBody
    {
        private readonly MatrixView _dy;
        private readonly MatrixView _w;
        private readonly MatrixView _dx;

        public BlockBody(MatrixView dy, MatrixView w, MatrixView dx)
        {
            _dy = dy;
            _w = w;
            _dx = dx;
        }

        public void Execute(int partition)
        {
            int start = partition * BlockRows;
            GemmSlices.MultiplyTransposed(_dy.RowRange(start, BlockRows), _w, _dx.RowRange(start, BlockRows), false);
        }
    }
}
