using System;
using System.Collections.Generic;
using System.Diagnostics;
using Aced.Core;
using Aced.Models.Layers;

namespace Aced.Benchmarks.Models;

/// <summary>
/// Wraps a GEMM provider and accumulates call count, FLOPs (2 m n k) and wall time spent inside it, in total and per
/// shape (transA, transB, m, n, k); batched small products (<see cref="IGemmBatchedProvider"/>, the attention) are
/// recorded per product shape in <see cref="BatchedShapes"/> with the product count in <c>Calls</c>; fused products
/// (<see cref="IGemmEpilogueProvider"/>, the forward's bias/residual/GELU epilogues) in <see cref="EpilogueShapes"/>,
/// epilogue time included. The inner provider must have both capabilities (the managed one does). Profiling only:
/// the per-shape table allocates on its first sight of a shape.
/// <para>
/// Products may run concurrently (Aced.Models' Linear backward runs dW and dx as concurrent single-threaded products,
/// the attention runs its batched products per example group on every thread): per-shape ticks are then thread time
/// (their sum can exceed the step), while <see cref="WallTicks"/> / <see cref="BatchedWallTicks"/> count the wall time
/// during which at least one product (one batched product) was running.
/// </para>
/// <para>
/// Wrapping the managed provider it is also the attention's <see cref="IAttentionProfiler"/>: the attention then runs
/// its fused path (the one the step runs) and reports its products under the batched shapes (<see cref="BatchedShapes"/>,
/// thread time) and its row passes in <see cref="AttentionPasses"/>; <see cref="BatchedWallTicks"/> is then the wall
/// time of the attention layer calls (products and row passes).
/// </para>
/// </summary>
internal sealed class TimingGemmProvider : IGemmBatchedProvider, IGemmEpilogueProvider, IGemmSlicesProvider, IAttentionProfiler
{
    private readonly IGemmProvider _inner;
    private readonly Dictionary<(Transpose, Transpose, int, int, int), ShapeStats> _shapes = new();
    private readonly Dictionary<(Transpose, Transpose, int, int, int), ShapeStats> _batched = new();
    private readonly Dictionary<(Transpose, Transpose, int, int, int), ShapeStats> _epilogue = new();
    private readonly Dictionary<string, ShapeStats> _passes = new();

    private readonly object _gate = new();
    private int _active;
    private int _activeBatched;
    private long _wallStart;
    private long _batchedWallStart;

    public TimingGemmProvider(IGemmProvider inner) => _inner = inner;

    /// <summary>Wall time (Stopwatch ticks) during which at least one product of any kind was running.</summary>
    public long WallTicks { get; private set; }

    /// <summary>Wall time during which at least one batched product was running.</summary>
    public long BatchedWallTicks { get; private set; }

    public string Name => "timed " + _inner.Name;

    public long Calls { get; private set; }

    public double Flops { get; private set; }

    public long Ticks { get; private set; }

    public IReadOnlyDictionary<(Transpose, Transpose, int, int, int), ShapeStats> Shapes => _shapes;

    public IReadOnlyDictionary<(Transpose, Transpose, int, int, int), ShapeStats> BatchedShapes => _batched;

    public IReadOnlyDictionary<(Transpose, Transpose, int, int, int), ShapeStats> EpilogueShapes => _epilogue;

    /// <summary>The fused attention's row passes (softmax, packing) by name: heads in <c>Calls</c>, thread time in <c>Ticks</c>.</summary>
    public IReadOnlyDictionary<string, ShapeStats> AttentionPasses => _passes;

    /// <inheritdoc/>
    public bool WrapsManagedProvider => ReferenceEquals(_inner, ManagedGemmProvider.Instance);

    /// <inheritdoc/>
    public void EnterLayer() => Enter(true);

    /// <inheritdoc/>
    public void ExitLayer() => Exit(true);

    /// <inheritdoc/>
    public void RecordProducts(Transpose transA, Transpose transB, int m, int n, int k, long count, long ticks) => Record(_batched, (transA, transB, m, n, k), count, ticks);

    /// <inheritdoc/>
    public void RecordPass(string name, long count, long ticks)
    {
        lock (_gate)
        {
            if (!_passes.TryGetValue(name, out ShapeStats? stats))
            {
                stats = new ShapeStats();
                _passes[name] = stats;
            }

            stats.Calls += count;
            stats.Ticks += ticks;
        }
    }

    public void Reset()
    {
        Calls = 0;
        Flops = 0;
        Ticks = 0;
        WallTicks = 0;
        BatchedWallTicks = 0;
        _shapes.Clear();
        _batched.Clear();
        _epilogue.Clear();
        _passes.Clear();
    }

    public void SgemmWithEpilogue<TEpilogue>(Transpose transA, Transpose transB, float alpha, MatrixView a, MatrixView b, TEpilogue epilogue)
        where TEpilogue : IGemmEpilogue
    {
        Enter(false);
        long start = Stopwatch.GetTimestamp();
        ((IGemmEpilogueProvider)_inner).SgemmWithEpilogue(transA, transB, alpha, a, b, epilogue);
        long ticks = Stopwatch.GetTimestamp() - start;
        int m = transA == Transpose.None ? a.Rows : a.Columns;
        int k = transA == Transpose.None ? a.Columns : a.Rows;
        int n = transB == Transpose.None ? b.Columns : b.Rows;
        Exit(false);
        Record(_epilogue, (transA, transB, m, n, k), 1, ticks);
    }

    private void Record(Dictionary<(Transpose, Transpose, int, int, int), ShapeStats> table, (Transpose, Transpose, int, int, int) key, long calls, long ticks)
    {
        // Products may run concurrently (Linear's backward runs dW and dx as concurrent single-threaded products).
        lock (_gate)
        {
            RecordLocked(table, key, calls, ticks);
        }
    }

    /// <summary>Adds one plain (m x n x k) product to the totals and its shape's row.</summary>
    private void RecordPlain(Transpose transA, Transpose transB, int m, int n, int k, long ticks)
    {
        lock (_gate)
        {
            Ticks += ticks;
            Calls++;
            Flops += 2.0 * m * n * k;
            RecordLocked(_shapes, (transA, transB, m, n, k), 1, ticks);
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
        Enter(true);
        long start = Stopwatch.GetTimestamp();
        if (_inner is IGemmBatchedProvider batched)
        {
            batched.SgemmBatched(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, outerCount, innerCount);
        }
        else
        {
            GemmBatch.Fallback(_inner, transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, outerCount, innerCount);
        }

        long batchedTicks = Stopwatch.GetTimestamp() - start;
        Exit(true);
        Record(_batched, (transA, transB, m, n, k), (long)outerCount * innerCount, batchedTicks);
    }

    public void Sgemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        Enter(false);
        long start = Stopwatch.GetTimestamp();
        _inner.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        long ticks = Stopwatch.GetTimestamp() - start;
        Exit(false);
        RecordPlain(transA, transB, m, n, k, ticks);
    }

    /// <summary>
    /// Times a whole k-slice weight-gradient call (recorded as one TN product with k = all rows): through the managed
    /// serial path when wrapping the managed provider, else as the slice products through this wrapper.
    /// </summary>
    public void AddTransposedProducts(MatrixView a, MatrixView b, MatrixView c, int sliceRows)
    {
        if (!ReferenceEquals(_inner, ManagedGemmProvider.Instance))
        {
            for (int k0 = 0; k0 < a.Rows; k0 += sliceRows)
            {
                int rows = Math.Min(sliceRows, a.Rows - k0);
                Aced.Core.Gemm.Multiply(Transpose.Transposed, Transpose.None, 1f, a.RowRange(k0, rows), b.RowRange(k0, rows), 1f, c);
            }

            return;
        }

        Enter(false);
        long start = Stopwatch.GetTimestamp();
        GemmSlices.RunManaged(a, b, c, sliceRows);
        long ticks = Stopwatch.GetTimestamp() - start;
        Exit(false);
        RecordPlain(Transpose.Transposed, Transpose.None, a.Columns, b.Columns, a.Rows, ticks);
    }

    /// <summary>Times a serial input-gradient product (recorded as an NT product; the managed serial path when wrapping the managed provider).</summary>
    public void MultiplyTransposed(MatrixView a, MatrixView b, MatrixView c, bool accumulate)
    {
        if (!ReferenceEquals(_inner, ManagedGemmProvider.Instance))
        {
            Aced.Core.Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, a, b, accumulate ? 1f : 0f, c);
            return;
        }

        Enter(false);
        long start = Stopwatch.GetTimestamp();
        GemmSlices.RunTransposedManaged(a, b, c, accumulate);
        long ticks = Stopwatch.GetTimestamp() - start;
        Exit(false);
        RecordPlain(Transpose.None, Transpose.Transposed, a.Rows, b.Rows, a.Columns, ticks);
    }

    private void Enter(bool batched)
    {
        lock (_gate)
        {
            long now = Stopwatch.GetTimestamp();
            if (_active++ == 0)
            {
                _wallStart = now;
            }

            if (batched && _activeBatched++ == 0)
            {
                _batchedWallStart = now;
            }
        }
    }

    private void Exit(bool batched)
    {
        lock (_gate)
        {
            long now = Stopwatch.GetTimestamp();
            if (--_active == 0)
            {
                WallTicks += now - _wallStart;
            }

            if (batched && --_activeBatched == 0)
            {
                BatchedWallTicks += now - _batchedWallStart;
            }
        }
    }

    /// <summary>Calls and ticks of one shape.</summary>
    internal sealed class ShapeStats
    {
        public long Calls { get; set; }

        public long Ticks { get; set; }
    }
}
