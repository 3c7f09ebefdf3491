using System;
using Aced.Benchmarks.Common;
using Aced.Core;
using BenchmarkDotNet.Attributes;

namespace Aced.Benchmarks.GemmSuite;

/// <summary>Random operands shared by the GEMM benchmarks.</summary>
internal static class GemmOperands
{
    public static Matrix Random(int rows, int columns, int seed)
    {
        var m = new Matrix(rows, columns);
        var rng = new Random(seed);
        for (int i = 0; i < m.Data.Length; i++)
        {
            m.Data[i] = (float)(rng.NextDouble() - 0.5);
        }

        return m;
    }
}

/// <summary>Square C = A * B (NN) at 1023 (odd: padded edges) and 1024, on 1 and 2 threads.</summary>
[MemoryDiagnoser]
[GflopsColumn]
public class GemmSquareBenchmarks : IFlopCount
{
    private Matrix _a = null!;
    private Matrix _b = null!;
    private Matrix _c = null!;

    [Params(1023, 1024)]
    public int N { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    public double FlopCount(string method) => 2.0 * N * N * N;

    [GlobalSetup]
    public void Setup()
    {
        GemmControl.MaxDegreeOfParallelism = Threads;
        Console.WriteLine("// " + GemmControl.Describe());
        _a = GemmOperands.Random(N, N, 1);
        _b = GemmOperands.Random(N, N, 2);
        _c = new Matrix(N, N);
    }

    [Benchmark(Baseline = true)]
    public float MultiplyNN()
    {
        Gemm.Multiply(Transpose.None, Transpose.None, 1f, _a, _b, 0f, _c);
        return _c.Data[_c.Data.Length - 1];
    }

    [Benchmark]
    public float MultiplyNT()
    {
        Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, _a, _b, 0f, _c);
        return _c.Data[_c.Data.Length - 1];
    }
}

/// <summary>4096^3 NN: few iterations (one call is about a second on one core).</summary>
[MemoryDiagnoser]
[GflopsColumn]
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 3)]
public class GemmLargeBenchmarks : IFlopCount
{
    private const int Size = 4096;
    private Matrix _a = null!;
    private Matrix _b = null!;
    private Matrix _c = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    public double FlopCount(string method) => 2.0 * Size * Size * Size;

    [GlobalSetup]
    public void Setup()
    {
        GemmControl.MaxDegreeOfParallelism = Threads;
        _a = GemmOperands.Random(Size, Size, 1);
        _b = GemmOperands.Random(Size, Size, 2);
        _c = new Matrix(Size, Size);
    }

    [Benchmark(Baseline = true)]
    public float Multiply4096()
    {
        Gemm.Multiply(Transpose.None, Transpose.None, 1f, _a, _b, 0f, _c);
        return _c.Data[_c.Data.Length - 1];
    }
}

/// <summary>
/// The selection-sampler shape: (B x d) * (c x d)^T with B = 20480, d = 256, c = 256 (m = 20480, k = 256,
/// n = 256, NT), as a plain product into C and through the fused epilogue with softplus + row sums.
/// </summary>
[MemoryDiagnoser]
[GflopsColumn]
public class GemmSamplerBenchmarks : IFlopCount
{
    private const int Batch = 20480;
    private const int Dim = 256;
    private const int Members = 256;
    private Matrix _x = null!;
    private Matrix _w = null!;
    private Matrix _c = null!;
    private float[] _rowSums = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    public double FlopCount(string method) => 2.0 * Batch * Dim * Members;

    [GlobalSetup]
    public void Setup()
    {
        GemmControl.MaxDegreeOfParallelism = Threads;
        _x = GemmOperands.Random(Batch, Dim, 1);
        _w = GemmOperands.Random(Members, Dim, 2);
        _c = new Matrix(Batch, Members);
        _rowSums = new float[Batch];
    }

    [Benchmark(Baseline = true)]
    public float PlainNT()
    {
        Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, _x, _w, 0f, _c);
        return _c.Data[0];
    }

    /// <summary>The fused path with only a (vectorised) row sum: measures the GEMM machinery of the epilogue path.</summary>
    [Benchmark]
    public float EpilogueRowSumNT()
    {
        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, 1f, _x, _w, new RowSumEpilogue(_rowSums, softplus: false));
        return _rowSums[0];
    }

    /// <summary>The sampler's full epilogue: softplus (StableMath, element-wise) then row sums.</summary>
    [Benchmark]
    public float EpilogueSoftplusRowSumNT()
    {
        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, 1f, _x, _w, new RowSumEpilogue(_rowSums, softplus: true));
        return _rowSums[0];
    }

    /// <summary>Optionally softplus of each product element, then summed per row (overwrites on the first column block).</summary>
    private readonly struct RowSumEpilogue : IGemmEpilogue
    {
        private readonly float[] _sums;
        private readonly bool _softplus;

        public RowSumEpilogue(float[] sums, bool softplus)
        {
            _sums = sums;
            _softplus = softplus;
        }

        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
            for (int r = 0; r < rows; r++)
            {
                Span<float> row = tile.Slice(r * stride, columns);
                if (_softplus)
                {
                    StableMath.Softplus(row, row);
                }

                float sum = System.Numerics.Tensors.TensorPrimitives.Sum(row);
                _sums[rowStart + r] = columnStart == 0 ? sum : _sums[rowStart + r] + sum;
            }
        }
    }
}

/// <summary>Small odd size against a naive triple loop (the baseline), single thread.</summary>
[MemoryDiagnoser]
[GflopsColumn]
public class GemmSmallBenchmarks : IFlopCount
{
    private Matrix _a = null!;
    private Matrix _b = null!;
    private Matrix _c = null!;

    [Params(257)]
    public int N { get; set; }

    public double FlopCount(string method) => 2.0 * N * N * N;

    [GlobalSetup]
    public void Setup()
    {
        GemmControl.MaxDegreeOfParallelism = 1;
        _a = GemmOperands.Random(N, N, 1);
        _b = GemmOperands.Random(N, N, 2);
        _c = new Matrix(N, N);
    }

    [Benchmark(Baseline = true)]
    public float Naive()
    {
        int n = N;
        float[] a = _a.Data, b = _b.Data, c = _c.Data;
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                float sum = 0f;
                for (int p = 0; p < n; p++)
                {
                    sum += a[(i * n) + p] * b[(p * n) + j];
                }

                c[(i * n) + j] = sum;
            }
        }

        return c[c.Length - 1];
    }

    [Benchmark]
    public float AcedGemm()
    {
        Gemm.Multiply(Transpose.None, Transpose.None, 1f, _a, _b, 0f, _c);
        return _c.Data[_c.Data.Length - 1];
    }
}
