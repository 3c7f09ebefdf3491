using System;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Aced.Core;
using BenchmarkDotNet.Attributes;

namespace Aced.Benchmarks.Kernels;

/// <summary>
/// <see cref="VectorMath"/> against the runtime's exponential: sum of exp / softplus over one odd-length span of
/// non-positive arguments (the shape of a shifted log-sum-exp or <c>exp(-|x|)</c>), 256-bit bodies.
/// </summary>
[MemoryDiagnoser]
public class VectorMathBenchmarks
{
    private float[] _x = Array.Empty<float>();
    private float[] _destination = Array.Empty<float>();

    /// <summary>Span length (odd).</summary>
    [Params(4099)]
    public int Length { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _x = new float[Length];
        _destination = new float[Length];
        CounterRng.FillNormal(1, 1, _x);
        TensorPrimitives.Abs(_x, _x);
        TensorPrimitives.Multiply(_x, -10f, _x);
    }

    /// <summary>Baseline: TensorPrimitives.Exp into a buffer, then TensorPrimitives.Sum.</summary>
    [Benchmark(Baseline = true)]
    public float TensorPrimitivesExpSum()
    {
        TensorPrimitives.Exp(_x, _destination);
        return TensorPrimitives.Sum(_destination);
    }

    [Benchmark]
    public double RuntimeVector256ExpSum() => Sum256(_x, default(RuntimeExp));

    [Benchmark]
    public double VectorMathExpSum() => Sum256(_x, default(Exp));

    [Benchmark]
    public double VectorMathExpNonPositiveSum() => Sum256(_x, default(ExpNonPositive));

    [Benchmark]
    public double VectorMathSoftplusSum() => Sum256(_x, default(Softplus));

    private interface IOperator
    {
        Vector256<float> Invoke(Vector256<float> x);
    }

    private readonly struct RuntimeExp : IOperator
    {
        public Vector256<float> Invoke(Vector256<float> x) => Vector256.Exp(x);
    }

    private readonly struct Exp : IOperator
    {
        public Vector256<float> Invoke(Vector256<float> x) => VectorMath.Exp(x);
    }

    private readonly struct ExpNonPositive : IOperator
    {
        public Vector256<float> Invoke(Vector256<float> x) => VectorMath.ExpNonPositive(x);
    }

    private readonly struct Softplus : IOperator
    {
        public Vector256<float> Invoke(Vector256<float> x) => VectorMath.Softplus(x, out _);
    }

    private static double Sum256<TOperator>(float[] x, TOperator op)
        where TOperator : struct, IOperator
    {
        ref float r = ref MemoryMarshal.GetArrayDataReference(x);
        Vector256<float> acc = Vector256<float>.Zero;
        int i = 0;
        for (; i <= x.Length - 8; i += 8)
        {
            acc += op.Invoke(Vector256.LoadUnsafe(ref r, (nuint)i));
        }

        double total = VectorMath.HorizontalSum(acc);
        for (; i < x.Length; i++)
        {
            total += VectorMath.Exp(x[i]);
        }

        return total;
    }
}
