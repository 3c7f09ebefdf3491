using System;

namespace Aced.Core;

/// <summary>
/// The always-available managed SGEMM provider: packed, cache-blocked, with an 8 x 32 Vector512 FMA
/// micro-kernel (Vector256 and scalar fallbacks that give the same bits) and persistent worker threads
/// over a fixed tile partition, so results are bit-identical for every
/// <see cref="GemmControl.MaxDegreeOfParallelism"/>. Its <see cref="IGemmBatchedProvider"/> capability runs batches of
/// small products with an unpacked vectorised kernel, one outer batch index per parallel partition.
/// </summary>
/// <remarks>
/// Summation order: every element of C is accumulated with one fused multiply-add per k index, in
/// increasing k, in blocks of at most 384; the block partials are added into C in increasing block order.
/// Steady-state calls allocate nothing: packing buffers are per thread and reused.
/// </remarks>
public sealed class ManagedGemmProvider : IGemmEpilogueProvider, IGemmBatchedProvider
{
    [ThreadStatic]
    private static float[]? t_batchScratch;

    private ManagedGemmProvider()
    {
    }

    /// <summary>The process-wide instance.</summary>
    public static ManagedGemmProvider Instance { get; } = new();

    /// <inheritdoc/>
    public bool IsAvailable => true;

    /// <inheritdoc/>
    public string Describe() =>
        $"{Name}; Vector512={System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}; Vector256={System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated}; " +
        $"Fma={System.Runtime.Intrinsics.X86.Fma.IsSupported}; Processors={Environment.ProcessorCount}; " +
        $"L1d={CpuCaches.L1Data / 1024} KiB, L2={CpuCaches.L2 / 1024} KiB ({CpuCaches.Source}); kc<={GemmPlan.KcMax}, nc<={GemmPlan.NcPlain}, mc<={GemmPlan.McPlain}";

    /// <inheritdoc/>
    public void SgemmWithEpilogue<TEpilogue>(Transpose transA, Transpose transB, float alpha, MatrixView a, MatrixView b, TEpilogue epilogue)
        where TEpilogue : IGemmEpilogue
    {
        int m = transA == Transpose.None ? a.Rows : a.Columns;
        int k = transA == Transpose.None ? a.Columns : a.Rows;
        int n = transB == Transpose.None ? b.Columns : b.Rows;
        SgemmWithEpilogue(transA, transB, m, n, k, alpha, a, b, epilogue);
    }

    /// <inheritdoc/>
    public string Name => $"Aced managed SGEMM ({GemmKernels.ActiveIsa}, {GemmKernels.TileDescription(GemmKernels.ActiveIsa)})";

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">A span is too short for its shape and leading dimension.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is negative or a leading dimension is too small.</exception>
    public unsafe void Sgemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        Guard.NonNegative(m);
        Guard.NonNegative(n);
        Guard.NonNegative(k);
        CheckOperand(transA == Transpose.None ? m : k, transA == Transpose.None ? k : m, a.Length, lda, nameof(a), nameof(lda));
        CheckOperand(transB == Transpose.None ? k : n, transB == Transpose.None ? n : k, b.Length, ldb, nameof(b), nameof(ldb));
        CheckOperand(m, n, c.Length, ldc, nameof(c), nameof(ldc));
        if (m == 0 || n == 0)
        {
            return;
        }

        if (k == 0 || alpha == 0f)
        {
            GemmDriver.ScaleC(m, n, beta, c, ldc);
            return;
        }

        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            var plan = new GemmPlan(m, n, k, epilogue: false);
            PlainGemmJob job = PlainGemmJob.ForCurrentDepth();
            job.TransA = transA;
            job.TransB = transB;
            job.A = pa;
            job.B = pb;
            job.Lda = lda;
            job.Ldb = ldb;
            job.Alpha = alpha;
            job.Plan = plan;
            job.Serial = GemmDriver.NextSerial();
            job.Isa = GemmKernels.ActiveIsa;
            job.C = pc;
            job.Ldc = ldc;
            job.Beta = beta;
            int tiles = plan.RowTiles * plan.ColTiles;
            int degree = GemmDriver.Degree(m, n, k, tiles);
            int items = GemmDriver.PreparePlain(job, degree);
            try
            {
                WorkerPool.Run(job, items, degree);
            }
            finally
            {
                job.A = null;
                job.B = null;
                job.C = null;
                job.SharedB = null;
            }
        }
    }

    /// <summary>
    /// Fused path of <see cref="Gemm.MultiplyWithEpilogue{TEpilogue}"/>: row bands of
    /// <see cref="GemmPlan.McEpilogue"/> rows are the work items; each band computes its full-k product tiles
    /// (at most 64 x 256) in per-thread scratch and delivers them in increasing column order. The band and
    /// column partition depends only on m and n.
    /// </summary>
    internal unsafe void SgemmWithEpilogue<TEpilogue>(Transpose transA, Transpose transB, int m, int n, int k, float alpha, MatrixView a, MatrixView b, TEpilogue epilogue)
        where TEpilogue : IGemmEpilogue
    {
        if (m == 0 || n == 0)
        {
            return;
        }

        if (alpha == 0f)
        {
            k = 0;
        }

        fixed (float* pa = a.Span)
        fixed (float* pb = b.Span)
        {
            var plan = new GemmPlan(m, n, k, epilogue: true);
            EpilogueGemmJob<TEpilogue> job = EpilogueGemmJob<TEpilogue>.ForCurrentDepth();
            job.TransA = transA;
            job.TransB = transB;
            job.A = pa;
            job.B = pb;
            job.Lda = a.Stride;
            job.Ldb = b.Stride;
            job.Alpha = alpha;
            job.Plan = plan;
            job.Serial = GemmDriver.NextSerial();
            job.Isa = GemmKernels.ActiveIsa;
            job.HalfPanels = GemmDriver.EpilogueStrips(plan, job.Isa);
            job.Epilogue = epilogue;
            try
            {
                WorkerPool.Run(job, plan.RowTiles, GemmDriver.Degree(m, n, k, plan.RowTiles));
            }
            finally
            {
                job.Epilogue = default!;
                job.A = null;
                job.B = null;
            }
        }
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Each product runs single-threaded with the small-matrix kernel (4 x 16 Vector512 tiles, Vector256 and scalar
    /// edges; a transposed B is first copied into per-thread scratch, a transposed A is read in place): every element
    /// of C is one fused multiply-add chain over k in increasing order, times alpha, plus beta C. The outer indices
    /// are the parallel partitions (all inner products of one outer index run in order on one thread) when the batch
    /// has at least <see cref="GemmControl.ParallelThreshold"/> flops, so the bits never depend on the thread count.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException">A dimension, count or stride is negative, a leading dimension is too small, or alpha/beta is not finite.</exception>
    /// <exception cref="ArgumentException">A span is too short for the last product of the batch.</exception>
    public unsafe void SgemmBatched(Transpose transA, Transpose transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, GemmBatchStrides strideA, ReadOnlySpan<float> b, int ldb, GemmBatchStrides strideB, float beta, Span<float> c, int ldc, GemmBatchStrides strideC, int outerCount, int innerCount)
    {
        GemmBatch.Validate(transA, transB, m, n, k, alpha, a.Length, lda, strideA, b.Length, ldb, strideB, beta, c.Length, ldc, strideC, outerCount, innerCount);
        if (m == 0 || n == 0 || outerCount == 0 || innerCount == 0)
        {
            return;
        }

        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            var body = new BatchedBody(transA, transB, m, n, k, alpha, pa, lda, strideA, pb, ldb, strideB, beta, pc, ldc, strideC, innerCount);
            if (2.0 * m * n * k * outerCount * innerCount < GemmControl.ParallelThreshold)
            {
                for (int o = 0; o < outerCount; o++)
                {
                    body.Execute(o);
                }
            }
            else
            {
                ParallelPartition.Run(outerCount, body);
            }
        }
    }

    /// <summary>The per-thread scratch of the batched path (grows, never shrinks).</summary>
    private static Span<float> BatchScratch(int length)
    {
        float[]? scratch = t_batchScratch;
        if (scratch is null || scratch.Length < length)
        {
            scratch = new float[Math.Max(length, 4096)];
            t_batchScratch = scratch;
        }

        return scratch.AsSpan(0, length);
    }

    /// <summary>One outer index of a batched call: its inner products in increasing order.</summary>
    private readonly unsafe struct BatchedBody : IPartitionBody
    {
        private readonly Transpose _transA;
        private readonly Transpose _transB;
        private readonly int _m;
        private readonly int _n;
        private readonly int _k;
        private readonly float _alpha;
        private readonly float* _a;
        private readonly int _lda;
        private readonly GemmBatchStrides _strideA;
        private readonly float* _b;
        private readonly int _ldb;
        private readonly GemmBatchStrides _strideB;
        private readonly float _beta;
        private readonly float* _c;
        private readonly int _ldc;
        private readonly GemmBatchStrides _strideC;
        private readonly int _innerCount;

        public BatchedBody(Transpose transA, Transpose transB, int m, int n, int k, float alpha, float* a, int lda, GemmBatchStrides strideA, float* b, int ldb, GemmBatchStrides strideB, float beta, float* c, int ldc, GemmBatchStrides strideC, int innerCount)
        {
            _transA = transA;
            _transB = transB;
            _m = m;
            _n = n;
            _k = k;
            _alpha = alpha;
            _a = a;
            _lda = lda;
            _strideA = strideA;
            _b = b;
            _ldb = ldb;
            _strideB = strideB;
            _beta = beta;
            _c = c;
            _ldc = ldc;
            _strideC = strideC;
            _innerCount = innerCount;
        }

        public void Execute(int outer)
        {
            int lengthC = ((_m - 1) * _ldc) + _n;
            bool skipProduct = _k == 0 || _alpha == 0f;
            int lengthA = skipProduct ? 0 : _transA == Transpose.None ? ((_m - 1) * _lda) + _k : ((_k - 1) * _lda) + _m;
            int lengthB = skipProduct ? 0 : _transB == Transpose.None ? ((_k - 1) * _ldb) + _n : ((_n - 1) * _ldb) + _k;
            Span<float> scratch = !skipProduct && _transB != Transpose.None ? BatchScratch(_k * _n) : default;
            for (int i = 0; i < _innerCount; i++)
            {
                var c = new Span<float>(_c + _strideC.Offset(outer, i), lengthC);
                if (_beta != 0f && _beta != 1f)
                {
                    GemmDriver.ScaleC(_m, _n, _beta, c, _ldc);
                }

                if (skipProduct)
                {
                    if (_beta == 0f)
                    {
                        GemmDriver.ScaleC(_m, _n, 0f, c, _ldc);
                    }

                    continue;
                }

                var a = new ReadOnlySpan<float>(_a + _strideA.Offset(outer, i), lengthA);
                var b = new ReadOnlySpan<float>(_b + _strideB.Offset(outer, i), lengthB);
                SmallGemm.Multiply(_transA, _transB, _m, _n, _k, _alpha, a, _lda, b, _ldb, _beta != 0f, c, _ldc, scratch);
            }
        }
    }

    private static void CheckOperand(int rows, int columns, int length, int ld, string name, string ldName)
    {
        if (ld < columns)
        {
            Guard.ThrowOutOfRange(ldName, ld, $"must be at least {columns} (the stored column count)");
        }

        long needed = rows == 0 || columns == 0 ? 0 : ((long)(rows - 1) * ld) + columns;
        if (length < needed)
        {
            Guard.ThrowArgument(name, $"has {length} elements but a {rows}x{columns} operand with leading dimension {ld} needs {needed}");
        }
    }
}
