using System;
using System.Diagnostics;
using Aced.Core;

namespace Aced.Benchmarks.Models;

/// <summary>Wraps a GEMM provider and accumulates call count, FLOPs (2 m n k) and wall time spent inside it.</summary>
internal sealed class TimingGemmProvider : IGemmProvider
{
    private readonly IGemmProvider _inner;

    public TimingGemmProvider(IGemmProvider inner) => _inner = inner;

    public string Name => "timed " + _inner.Name;

    public long Calls { get; private set; }

    public double Flops { get; private set; }

    public long Ticks { get; private set; }

    public void Reset()
    {
        Calls = 0;
        Flops = 0;
        Ticks = 0;
    }

    public void Sgemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        long start = Stopwatch.GetTimestamp();
        _inner.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        Ticks += Stopwatch.GetTimestamp() - start;
        Calls++;
        Flops += 2.0 * m * n * k;
    }
}
