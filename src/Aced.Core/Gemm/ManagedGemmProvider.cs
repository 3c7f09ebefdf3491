using System;

namespace Aced.Core;

/// <summary>
/// The always-available managed SGEMM provider: packed, cache-blocked, with an 8 x 32 Vector512 FMA
/// micro-kernel (Vector256 and scalar fallbacks that give the same bits) and persistent worker threads
/// over a fixed tile partition, so results are bit-identical for every
/// <see cref="GemmControl.MaxDegreeOfParallelism"/>.
/// </summary>
/// <remarks>
/// Summation order: every element of C is accumulated with one fused multiply-add per k index, in
/// increasing k, in blocks of at most 384; the block partials are added into C in increasing block order.
/// Steady-state calls allocate nothing: packing buffers are per thread and reused.
/// </remarks>
public sealed class ManagedGemmProvider : IGemmEpilogueProvider
{
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
        $"L2={CpuCaches.L2 / 1024} KiB ({(CpuCaches.FromMachine ? "sysfs" : "fallback")}); kc<={GemmPlan.KcMax}, nc<={GemmPlan.NcPlain}, mc<={GemmPlan.McPlain}";

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
            try
            {
                GemmWorkers.Run(job, tiles, GemmDriver.Degree(m, n, k, tiles));
            }
            finally
            {
                job.A = null;
                job.B = null;
                job.C = null;
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
            job.Epilogue = epilogue;
            try
            {
                GemmWorkers.Run(job, plan.RowTiles, GemmDriver.Degree(m, n, k, plan.RowTiles));
            }
            finally
            {
                job.Epilogue = default!;
                job.A = null;
                job.B = null;
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
