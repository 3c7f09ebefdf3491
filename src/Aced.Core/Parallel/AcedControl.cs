using System;

namespace Aced.Core;

/// <summary>
/// Library-wide settings of Aced (modelled on Math.NET Numerics' <c>Control</c>): the degree of parallelism of every
/// parallel loop in the library, the managed GEMM's products and <see cref="ParallelPartition"/>'s partitioned work
/// alike. GEMM-specific settings (the provider, the parallel threshold) are in <see cref="GemmControl"/>.
/// </summary>
public static class AcedControl
{
    private static int s_maxDegreeOfParallelism = Environment.ProcessorCount;

    /// <summary>
    /// Upper bound on the threads (the caller included) a single parallel call may use: a managed GEMM product or a
    /// <see cref="ParallelPartition.Run{TBody}(int, in TBody)"/> loop. Default: the processor count. Results are
    /// bit-identical for every value: work partitions depend only on the problem size. A non-managed GEMM provider
    /// manages its own threads; this setting still governs Aced's own partitioned work.
    /// <see cref="GemmControl.MaxDegreeOfParallelism"/> is the same setting.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set below 1.</exception>
    public static int MaxDegreeOfParallelism
    {
        get => s_maxDegreeOfParallelism;
        set
        {
            Guard.Positive(value);
            s_maxDegreeOfParallelism = value;
        }
    }

    /// <summary>One line for logs and benchmark headers: the parallelism, the worker threads started and the GEMM settings.</summary>
    public static string Describe() =>
        $"MaxDegreeOfParallelism={s_maxDegreeOfParallelism}; PoolThreads={WorkerPool.WorkerCount}; Gemm: {GemmControl.Describe()}";
}
