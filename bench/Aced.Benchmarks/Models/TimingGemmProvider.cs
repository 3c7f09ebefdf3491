using System;
using System.Collections.Generic;
using System.Diagnostics;
using Aced.Core;

namespace Aced.Benchmarks.Models;

/// <summary>
/// Wraps a GEMM provider and accumulates call count, FLOPs (2 m n k) and wall time spent inside it, in total and per
/// shape (transA, transB, m, n, k); batched small products (<see cref="IGemmBatchedProvider"/>, the attention) are
/// recorded per product shape in <see cref="BatchedShapes"/> with the product count in <c>Calls</c>; fused products
/// (<see cref="IGemmEpilogueProvider"/>, the forward's bias/residual/GELU epilogues) in <see cref="EpilogueShapes"/>,
/// epilogue time included. The inner provider must have both capabilities (the managed one does). Profiling only:
/// the per-shape table allocates on its first sight of a shape.
/// </summary>
internal sealed class TimingGemmProvider : IGemmBatchedProvider, IGemmEpilogueProvider
{
    private readonly IGemmProvider _inner;
    private readonly Dictionary<(Transpose, Transpose, int, int, int), ShapeStats> _shapes = new();
    private readonly Dictionary<(Transpose, Transpose, int, int, int), ShapeStats> _batched = new();
    private readonly Dictionary<(Transpose, Transpose, int, int, int), ShapeStats> _epilogue = new();

    public TimingGemmProvider(IGemmProvider inner) => _inner = inner;

    public string Name => "timed " + _inner.Name;

    public long Calls { get; private set; }

    public double Flops { get; private set; }

    public long Ticks { get; private set; }

    public IReadOnlyDictionary<(Transpose, Transpose, int, int, int), ShapeStats> Shapes => _shapes;

    public IReadOnlyDictionary<(Transpose, Transpose, int, int, int), ShapeStats> BatchedShapes => _batched;

    public IReadOnlyDictionary<(Transpose, Transpose, int, int, int), ShapeStats> EpilogueShapes => _epilogue;

    public void Reset()
    {
        Calls = 0;
        Flops = 0;
        Ticks = 0;
        _shapes.Clear();
        _batched.Clear();
        _epilogue.Clear();
    }

    public void SgemmWithEpilogue<TEpilogue>(Transpose transA, Transpose transB, float alpha, MatrixView a, MatrixView b, TEpilogue epilogue)
        where TEpilogue : IGemmEpilogue
    {
        long start = Stopwatch.GetTimestamp();
        ((IGemmEpilogueProvider)_inner).SgemmWithEpilogue(transA, transB, alpha, a, b, epilogue);
        long ticks = Stopwatch.GetTimestamp() - start;
        int m = transA == Transpose.None ? a.Rows : a.Columns;
        int k = transA == Transpose.None ? a.Columns : a.Rows;
        int n = transB == Transpose.None ? b.Columns : b.Rows;
        Record(_epilogue, (transA, transB, m, n, k), 1, ticks);
    }

    private static void Record(Dictionary<(Transpose, Transpose, int, int, int), ShapeStats> table, (Transpose, Transpose, int, int, int) key, long calls, long ticks)
    {
        // Products may run concurrently (Linear's backward runs dW and dx as concurrent single-threaded products).
        lock (table)
        {
            RecordLocked(table, key, calls, ticks);
        }
    }

    private static void RecordLocked(Dictionary<(Transpose, Transpose, int, int, int), ShapeStats> table, (Transpose, Transpose, int, int, int) key, long calls, long ticks)
    {
        if (!table.TryGetValue(key, out ShapeStats? stats))
        {
            stats = new ShapeStats();
            table[key] = stats;
        }

        stats.Calls += calls;
        stats.Ticks += ticks;
    }

    public void SgemmBatched(Transpose transA, Transpose transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, GemmBatchStrides strideA, ReadOnlySpan<float> b, int ldb, GemmBatchStrides strideB, float beta, Span<float> c, int ldc, GemmBatchStrides strideC, int outerCount, int innerCount)
    {
        long start = Stopwatch.GetTimestamp();
        if (_inner is IGemmBatchedProvider batched)
        {
            batched.SgemmBatched(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, outerCount, innerCount);
        }
        else
        {
            GemmBatch.Fallback(_inner, transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, outerCount, innerCount);
        }

        Record(_batched, (transA, transB, m, n, k), (long)outerCount * innerCount, Stopwatch.GetTimestamp() - start);
    }

    public void Sgemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        long start = Stopwatch.GetTimestamp();
        _inner.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        long ticks = Stopwatch.GetTimestamp() - start;
        lock (_shapes)
        {
            Ticks += ticks;
            Calls++;
            Flops += 2.0 * m * n * k;
            RecordLocked(_shapes, (transA, transB, m, n, k), 1, ticks);
        }
    }

    /// <summary>Calls and ticks of one shape.</summary>
    internal sealed class ShapeStats
    {
        public long Calls { get; set; }

        public long Ticks { get; set; }
    }
}
