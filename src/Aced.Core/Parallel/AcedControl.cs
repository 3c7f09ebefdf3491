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

    /// <summary>
    /// How long, in microseconds, Aced's worker threads wait spinning for the next parallel call before they block, and
    /// the calling thread for the workers' last items of a call (default 200). Waking a blocked thread costs about
    /// 0.1 ms on the VMs measured and a training step makes ~140 parallel calls, so the spin saves a few percent of a
    /// step when Aced has the cores to itself. Set 0 when Aced shares its cores with other CPU-heavy processes: the
    /// threads then block at once and leave the cores to them. Results never depend on this setting.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set below 0 or above 1,000,000 (one second).</exception>
    public static int PoolSpinMicroseconds
    {
        get => WorkerPool.SpinMicroseconds;
        set
        {
            if (value is < 0 or > MaxPoolSpinMicroseconds)
            {
                Guard.ThrowOutOfRange(nameof(PoolSpinMicroseconds), value, $"must be between 0 (block at once) and {MaxPoolSpinMicroseconds} microseconds");
            }

            WorkerPool.SpinMicroseconds = value;
        }
    }

    /// <summary>The largest <see cref="PoolSpinMicroseconds"/> accepted: one second.</summary>
    public const int MaxPoolSpinMicroseconds = 1_000_000;

    /// <summary>One line for logs and benchmark headers: the parallelism, the worker threads started, their spin time and the GEMM settings.</summary>
    public static string Describe() =>
        $"MaxDegreeOfParallelism={s_maxDegreeOfParallelism}; PoolThreads={WorkerPool.WorkerCount}; PoolSpinMicroseconds={WorkerPool.SpinMicroseconds}; Gemm: {GemmControl.Describe()}";
}
