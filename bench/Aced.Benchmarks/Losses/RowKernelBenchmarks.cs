using System;
using Aced.Core;
using Aced.Losses.Internal;
using Aced.Losses.Tests;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace Aced.Benchmarks.Losses;

/// <summary>
/// Aced.Losses' fused row passes (operator structs over Core's <c>StableMath.RowPass</c>, widest vector width
/// first) against their Vector256-only predecessors (<see cref="LegacyRowKernels"/>, the baseline of each
/// category), on <see cref="Rows"/> rows of <see cref="N"/> similarities. Each call first restores the rows the
/// in-place passes overwrite (the same copy in both methods of a category). Run with
/// <c>DOTNET_EnableAVX512=0</c> to compare at the same width (Vector256 + one Vector128 step).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class RowKernelBenchmarks
{
    private const int Rows = 32;
    private const float A = 10f, C = -2f, GScale = 1f / 1024;
    private float[] _s = Array.Empty<float>();
    private float[] _t = Array.Empty<float>();
    private float[] _m = Array.Empty<float>();
    private float[] _shift = Array.Empty<float>();
    private float[] _work = Array.Empty<float>();
    private float[] _columns = Array.Empty<float>();

    /// <summary>Row length (odd 1531 runs every tail; 4096 is all full vectors).</summary>
    [Params(1531, 4096)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _s = Uniform(1, -1f, 1f);
        _t = Uniform(2, -1f, 1f);
        _m = Uniform(3, 0f, 2f / N);
        _shift = Uniform(4, -14f, -8f);
        _work = new float[Rows * N];
        _columns = new float[N];
    }

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("LogSumExp")]
    public double LogSumExpLegacy()
    {
        double total = 0;
        for (int r = 0; r < Rows; r++)
        {
            total += LegacyRowKernels.LogSumExp(_s.AsSpan(r * N, N), A, C);
        }

        return total;
    }

    [Benchmark]
    [BenchmarkCategory("LogSumExp")]
    public double LogSumExp()
    {
        double total = 0;
        for (int r = 0; r < Rows; r++)
        {
            total += RowKernels.LogSumExp(_s.AsSpan(r * N, N), A, C);
        }

        return total;
    }

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("SigmoidNegatives")]
    public double SigmoidNegativesLegacy()
    {
        _s.CopyTo(_work, 0);
        double loss = 0, gs = 0, g = 0;
        for (int r = 0; r < Rows; r++)
        {
            LegacyRowKernels.SigmoidNegatives(_work.AsSpan(r * N, N), A, C, GScale, _columns, ref loss, ref gs, ref g);
        }

        return loss + gs + g;
    }

    [Benchmark]
    [BenchmarkCategory("SigmoidNegatives")]
    public double SigmoidNegatives()
    {
        _s.CopyTo(_work, 0);
        double loss = 0, gs = 0, g = 0;
        for (int r = 0; r < Rows; r++)
        {
            RowKernels.SigmoidNegatives(_work.AsSpan(r * N, N), A, C, GScale, _columns, ref loss, ref gs, ref g);
        }

        return loss + gs + g;
    }

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("SoftmaxRowGradient")]
    public double SoftmaxRowGradientLegacy()
    {
        _s.CopyTo(_work, 0);
        double gs = 0, g = 0;
        for (int r = 0; r < Rows; r++)
        {
            LegacyRowKernels.SoftmaxRowGradient(_work.AsSpan(r * N, N), r, A, C, 12.5, GScale, ref gs, ref g);
        }

        return gs + g;
    }

    [Benchmark]
    [BenchmarkCategory("SoftmaxRowGradient")]
    public double SoftmaxRowGradient()
    {
        _s.CopyTo(_work, 0);
        double gs = 0, g = 0;
        for (int r = 0; r < Rows; r++)
        {
            RowKernels.SoftmaxRowGradient(_work.AsSpan(r * N, N), r, A, C, 12.5, GScale, ref gs, ref g);
        }

        return gs + g;
    }

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("SoftmaxStudentBoth")]
    public double SoftmaxStudentBothLegacy()
    {
        _s.CopyTo(_work, 0);
        double gs = 0, g = 0;
        for (int r = 0; r < Rows; r++)
        {
            LegacyRowKernels.SoftmaxStudentBoth(_work.AsSpan(r * N, N), _m.AsSpan(r * N, N), _shift.AsSpan(0, N), A, -12f, GScale, default, 0f, ref gs, ref g);
        }

        return gs + g;
    }

    [Benchmark]
    [BenchmarkCategory("SoftmaxStudentBoth")]
    public double SoftmaxStudentBoth()
    {
        _s.CopyTo(_work, 0);
        double gs = 0, g = 0;
        for (int r = 0; r < Rows; r++)
        {
            RowKernels.SoftmaxStudentBoth(_work.AsSpan(r * N, N), _m.AsSpan(r * N, N), _shift.AsSpan(0, N), A, -12f, GScale, default, 0f, ref gs, ref g);
        }

        return gs + g;
    }

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("SoftmaxTeacherBoth")]
    public double SoftmaxTeacherBothLegacy()
    {
        double ce = 0, h = 0;
        for (int r = 0; r < Rows; r++)
        {
            ce += LegacyRowKernels.SoftmaxTeacherBoth(_t.AsSpan(r * N, N), _s.AsSpan(r * N, N), _work.AsSpan(r * N, N), _shift.AsSpan(0, N), _shift.AsSpan(N, N), A, -12f, A, -12f, 0.5f, false, _columns, default, 0f, out double rowH);
            h += rowH;
        }

        return ce + h;
    }

    [Benchmark]
    [BenchmarkCategory("SoftmaxTeacherBoth")]
    public double SoftmaxTeacherBoth()
    {
        double ce = 0, h = 0;
        for (int r = 0; r < Rows; r++)
        {
            ce += RowKernels.SoftmaxTeacherBoth(_t.AsSpan(r * N, N), _s.AsSpan(r * N, N), _work.AsSpan(r * N, N), _shift.AsSpan(0, N), _shift.AsSpan(N, N), A, -12f, A, -12f, 0.5f, false, _columns, default, 0f, out double rowH);
            h += rowH;
        }

        return ce + h;
    }

    private float[] Uniform(ulong stream, float lo, float hi)
    {
        var rng = new CounterRng(7, stream);
        var v = new float[Rows * N];
        for (int i = 0; i < v.Length; i++)
        {
            v[i] = lo + ((hi - lo) * rng.NextFloat());
        }

        return v;
    }
}
