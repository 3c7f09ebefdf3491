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
    private static int s_workerSpinMicroseconds = DefaultWorkerSpinMicroseconds;

    /// <summary>Default of <see cref="WorkerSpinMicroseconds"/>.</summary>
    internal const int DefaultWorkerSpinMicroseconds = 50;

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

    /// <summary>
    /// How long, in microseconds, an idle pool thread polls for the next parallel call before it blocks, and how long
    /// the calling thread polls for the pool threads to finish their last items before it blocks. A blocked thread
    /// is woken through the operating system, which on a virtual machine can cost tens of microseconds per call; a
    /// polling thread takes the next call at once but keeps its core busy while it polls. 0 blocks at once (no
    /// polling beyond the runtime's own brief spin). Default: 50. Never changes results, only the scheduling.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a negative value.</exception>
    public static int WorkerSpinMicroseconds
    {
        get => s_workerSpinMicroseconds;
        set
        {
            Guard.NonNegative(value);
            s_workerSpinMicroseconds = value;
        }
    }

    /// <summary>One line for logs and benchmark headers: the parallelism, the worker threads started and the GEMM settings.</summary>
    public static string Describe() =>
        $"MaxDegreeOfParallelism={s_maxDegreeOfParallelism}; WorkerSpinMicroseconds={s_workerSpinMicroseconds}; PoolThreads={WorkerPool.WorkerCount}; Gemm: {GemmControl.Describe()}";
}
