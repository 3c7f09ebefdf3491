using System;
using Aced.Benchmarks.Common;
using Aced.Core;
using BenchmarkDotNet.Attributes;

namespace Aced.Benchmarks.Models;

/// <summary>
/// The slice length of the training step's weight gradients (<c>Linear.WeightGradientSlice</c>): one transformer
/// block's four <c>dW += x^T dy</c> products (qkv 128 x 384, out 128 x 128, fc1 128 x 512, fc2 512 x 128; k = batch x
/// tokens = 16384 at batch 256) issued as fixed k-slices of <see cref="Slice"/> rows (16384 = one call), with a 1024^3
/// SGEMM in the same run as the yardstick ("vs SGEMM").
/// </summary>
[MemoryDiagnoser]
[GflopsColumn]
[SgemmRatioColumn]
public class WeightGradientSliceBenchmarks : IFlopCount
{
    private const int K = 16384;
    private static readonly (int M, int N)[] s_shapes = [(128, 384), (128, 128), (128, 512), (512, 128)];
    private Matrix[] _x = [];
    private Matrix[] _dy = [];
    private Matrix[] _dw = [];
    private Matrix _sa = null!;
    private Matrix _sb = null!;
    private Matrix _sc = null!;

    /// <summary>Rows of x and dy per product.</summary>
    [Params(256, 512, 1024, 2048, 16384)]
    public int Slice { get; set; } = 512;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new CounterRng(5, 0);
        _x = new Matrix[s_shapes.Length];
        _dy = new Matrix[s_shapes.Length];
        _dw = new Matrix[s_shapes.Length];
        for (int s = 0; s < s_shapes.Length; s++)
        {
            (int m, int n) = s_shapes[s];
            _x[s] = new Matrix(K, m);
            _dy[s] = new Matrix(K, n);
            _dw[s] = new Matrix(m, n);
            for (int i = 0; i < _x[s].Data.Length; i++)
            {
                _x[s].Data[i] = rng.NextFloat() - 0.5f;
            }

            for (int i = 0; i < _dy[s].Data.Length; i++)
            {
                _dy[s].Data[i] = rng.NextFloat() - 0.5f;
            }
        }

        _sa = new Matrix(1024, 1024);
        _sb = new Matrix(1024, 1024);
        _sc = new Matrix(1024, 1024);
        _sa.Span.Fill(0.5f);
        _sb.Span.Fill(0.25f);
    }

    /// <inheritdoc/>
    public double FlopCount(string method)
    {
        if (method == nameof(Sgemm1024))
        {
            return 2.0 * 1024 * 1024 * 1024;
        }

        double flops = 0;
        foreach ((int m, int n) in s_shapes)
        {
            flops += 2.0 * m * n * K;
        }

        return flops;
    }

    /// <summary>The yardstick: one 1024^3 SGEMM in the same run.</summary>
    [Benchmark]
    public float Sgemm1024()
    {
        Aced.Core.Gemm.Multiply(_sa, _sb, _sc);
        return _sc.Data[0];
    }

    /// <summary>The four weight gradients of one block, k-sliced.</summary>
    [Benchmark(Baseline = true)]
    public float BlockWeightGradients()
    {
        float sum = 0;
        for (int s = 0; s < s_shapes.Length; s++)
        {
            _dw[s].Span.Clear();
            for (int k0 = 0; k0 < K; k0 += Slice)
            {
                int rows = Math.Min(Slice, K - k0);
                Aced.Core.Gemm.Multiply(Transpose.Transposed, Transpose.None, 1f, _x[s].RowRange(k0, rows), _dy[s].RowRange(k0, rows), 1f, _dw[s]);
            }

            sum += _dw[s][0, 0];
        }

        return sum;
    }
}
