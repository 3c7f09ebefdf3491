using System;
using System.Collections.Generic;
using System.Diagnostics;
using Aced.Core;

namespace Aced.Benchmarks.Models;

/// <summary>
/// Wraps a GEMM provider and accumulates call count, FLOPs (2 m n k) and wall time spent inside it, in total and per
/// shape (transA, transB, m, n, k). Profiling only: the per-shape table allocates on its first sight of a shape.
/// </summary>
internal sealed class TimingGemmProvider : IGemmProvider
{
    private readonly IGemmProvider _inner;
    private readonly Dictionary<(Transpose, Transpose, int, int, int), ShapeStats> _shapes = new();

    public TimingGemmProvider(IGemmProvider inner) => _inner = inner;

    public string Name => "timed " + _inner.Name;

    public long Calls { get; private set; }

    public double Flops { get; private set; }

    public long Ticks { get; private set; }

    public IReadOnlyDictionary<(Transpose, Transpose, int, int, int), ShapeStats> Shapes => _shapes;

    public void Reset()
    {
        Calls = 0;
        Flops = 0;
        Ticks = 0;
        _shapes.Clear();
    }

    public void Sgemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        long start = Stopwatch.GetTimestamp();
        _inner.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        long ticks = Stopwatch.GetTimestamp() - start;
        Ticks += ticks;
        Calls++;
        Flops += 2.0 * m * n * k;
        var key = (transA, transB, m, n, k);
        if (!_shapes.TryGetValue(key, out ShapeStats? stats))
        {
            stats = new ShapeStats();
            _shapes[key] = stats;
        }

        stats.Calls++;
        stats.Ticks += ticks;
    }

    /// <summary>Calls and ticks of one shape.</summary>
    internal sealed class ShapeStats
    {
        public long Calls { get; set; }

        public long Ticks { get; set; }
    }
}
