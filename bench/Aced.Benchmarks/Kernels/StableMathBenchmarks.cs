using System;
using Aced.Core;
using BenchmarkDotNet.Attributes;

namespace Aced.Benchmarks.Kernels;

/// <summary>Element-wise stable kernels and fused reductions over one long odd-length span.</summary>
[MemoryDiagnoser]
public class StableMathSpanBenchmarks
{
    private float[] _x = Array.Empty<float>();
    private float[] _destination = Array.Empty<float>();

    /// <summary>Span length (odd, so every vector tail runs).</summary>
    [Params(4099)]
    public int Length { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _x = new float[Length];
        _destination = new float[Length];
        CounterRng.FillNormal(1, 1, _x);
        System.Numerics.Tensors.TensorPrimitives.Multiply(_x, 10f, _x);
    }

    /// <summary>Baseline: the scalar kernel applied element by element.</summary>
    [Benchmark(Baseline = true)]
    public float SoftplusScalarLoop()
    {
        float[] x = _x;
        float[] d = _destination;
        for (int i = 0; i < x.Length; i++)
        {
            d[i] = StableMath.Softplus(x[i]);
        }

        return d[^1];
    }

    [Benchmark]
    public float Softplus()
    {
        StableMath.Softplus(_x, _destination);
        return _destination[^1];
    }

    [Benchmark]
    public float LogSigmoid()
    {
        StableMath.LogSigmoid(_x, _destination);
        return _destination[^1];
    }

    [Benchmark]
    public float Sigmoid()
    {
        StableMath.Sigmoid(_x, _destination);
        return _destination[^1];
    }

    [Benchmark]
    public double SoftplusSum() => StableMath.SoftplusSum(_x);

    [Benchmark]
    public float LogSumExp() => StableMath.LogSumExp(_x);
}

/// <summary>Row- and column-wise log-sum-exp and softmax on an odd square matrix.</summary>
[MemoryDiagnoser]
public class StableMathMatrixBenchmarks
{
    private Matrix _x = new(0, 0);
    private Matrix _y = new(0, 0);
    private float[] _lse = Array.Empty<float>();
    private float[] _columnScratch = Array.Empty<float>();
    private double[] _columnSums = Array.Empty<double>();

    /// <summary>Rows and columns of the square matrix.</summary>
    [Params(1023)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _x = new Matrix(Size, Size);
        _y = new Matrix(Size, Size);
        CounterRng.FillNormal(2, 1, _x.Data);
        System.Numerics.Tensors.TensorPrimitives.Multiply(_x.Data, 10f, _x.Data);
        _lse = new float[Size];
        _columnScratch = new float[Size];
        _columnSums = new double[Size];
    }

    /// <summary>Baseline: a straightforward scalar max-shifted log-sum-exp per row in double.</summary>
    [Benchmark(Baseline = true)]
    public float LogSumExpRowsScalar()
    {
        for (int r = 0; r < _x.Rows; r++)
        {
            Span<float> row = _x.Row(r);
            float max = float.NegativeInfinity;
            for (int c = 0; c < row.Length; c++)
            {
                max = MathF.Max(max, row[c]);
            }

            double sum = 0;
            for (int c = 0; c < row.Length; c++)
            {
                sum += Math.Exp(row[c] - max);
            }

            _lse[r] = max + (float)Math.Log(sum);
        }

        return _lse[^1];
    }

    [Benchmark]
    public float LogSumExpRows()
    {
        StableMath.LogSumExpRows(_x, _lse);
        return _lse[^1];
    }

    [Benchmark]
    public float LogSumExpColumns()
    {
        StableMath.LogSumExpColumns(_x, _lse, _columnSums);
        return _lse[^1];
    }

    [Benchmark]
    public float SoftmaxRows()
    {
        StableMath.SoftmaxRows(_x, _y);
        return _y.Data[^1];
    }

    [Benchmark]
    public float SoftmaxColumns()
    {
        StableMath.SoftmaxColumns(_x, _y, _columnScratch, _columnSums);
        return _y.Data[^1];
    }

    [Benchmark]
    public double SoftplusSumRows()
    {
        double total = 0;
        for (int r = 0; r < _x.Rows; r++)
        {
            total += StableMath.SoftplusSum(_x.Row(r));
        }

        return total;
    }
}
