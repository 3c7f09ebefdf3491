using System;

namespace Aced.Core;

/// <summary>
/// One partition of a problem split by <see cref="ParallelPartition.Run{TBody}(int, in TBody)"/>. Implement it on a
/// struct that holds references to the inputs and outputs (a class also works, at the cost of an interface call
/// per partition).
/// </summary>
public interface IPartitionBody
{
    /// <summary>
    /// Runs partition <paramref name="partition"/> (0 &lt;= partition &lt; partition count). It may run on any thread,
    /// concurrently with other partitions, and must write only to memory owned by this partition (for example its
    /// own slot of a reduction array).
    /// </summary>
    /// <param name="partition">Index of the partition to run.</param>
    void Execute(int partition);
}

/// <summary>
/// Deterministic fixed-partition parallel loop on Aced's persistent worker threads (the pool the managed GEMM also
/// uses; it does not depend on the GEMM provider installed).
/// </summary>
/// <remarks>
/// <para>
/// The caller chooses the partition count from the problem size alone; partitions are claimed dynamically by the
/// calling thread and by up to <see cref="AcedControl.MaxDegreeOfParallelism"/> - 1 pool workers, which spin for a
/// fraction of a millisecond after a call and then block on a semaphore until the next. If every partition writes
/// only its own outputs, results are bit-identical whatever the degree of parallelism and whichever thread ran which
/// partition.
/// </para>
/// <para>
/// No allocation in steady state. A call made while the pool is busy (a concurrent call from another thread, a call
/// from inside a partition body or a GEMM epilogue) runs all its partitions serially on its own thread, which gives
/// the same results. The first exception thrown by a body stops the claiming of further partitions and is rethrown
/// to the caller once every running partition has finished.
/// </para>
/// </remarks>
public static class ParallelPartition
{
    /// <summary>
    /// Runs <c>body.Execute(p)</c> for every <c>p</c> in [0, <paramref name="partitionCount"/>) exactly once and returns
    /// when all have finished. Each participating thread works on its own copy of a struct <paramref name="body"/>.
    /// </summary>
    /// <typeparam name="TBody">The body type (a struct for zero-overhead dispatch).</typeparam>
    /// <param name="partitionCount">Number of partitions; 0 returns immediately.</param>
    /// <param name="body">The work; see <see cref="IPartitionBody.Execute(int)"/> for the rules it must follow.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="partitionCount"/> is negative.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="body"/> is a null reference.</exception>
    /// <remarks>Any exception thrown by a partition is rethrown with its original stack trace.</remarks>
    public static void Run<TBody>(int partitionCount, in TBody body)
        where TBody : IPartitionBody
    {
        Guard.NonNegative(partitionCount);
        if (body is null)
        {
            throw new ArgumentNullException(nameof(body), "pass a partition body instance");
        }

        int degree = Math.Min(AcedControl.MaxDegreeOfParallelism, partitionCount);
        if (degree <= 1)
        {
            bool timed = PoolTiming.Enabled && WorkerPool.Depth == 0;
            long start = timed ? PoolTiming.Now() : 0;
            TBody local = body;
            for (int p = 0; p < partitionCount; p++)
            {
                local.Execute(p);
            }

            if (timed)
            {
                PoolTiming.RecordSerial(typeof(PartitionJob<TBody>), partitionCount, PoolTiming.Now() - start);
            }

            return;
        }

        PartitionJob<TBody> job = PartitionJob<TBody>.ForCurrentDepth();
        job.Body = body;
        try
        {
            WorkerPool.Run(job, partitionCount, degree);
        }
        finally
        {
            job.Body = default!;
        }
    }
}

/// <summary>Partitions of one <see cref="ParallelPartition"/> call, run as items of the <see cref="WorkerPool"/>.</summary>
internal sealed class PartitionJob<TBody> : PoolJob
    where TBody : IPartitionBody
{
    [ThreadStatic]
    private static PartitionJob<TBody>?[]? t_jobs;

    internal TBody Body = default!;

    /// <summary>The job object owned by the current thread at the current nesting depth (nested calls get their own).</summary>
    internal static PartitionJob<TBody> ForCurrentDepth()
    {
        PartitionJob<TBody>?[] jobs = t_jobs ??= new PartitionJob<TBody>?[4];
        int depth = WorkerPool.Depth;
        if (depth >= jobs.Length)
        {
            Array.Resize(ref jobs, Math.Max(depth + 1, jobs.Length * 2));
            t_jobs = jobs;
        }

        return jobs[depth] ??= new PartitionJob<TBody>();
    }

    protected override void RunItems()
    {
        TBody body = Body;
        int p;
        while ((p = ClaimItem()) < ItemCount)
        {
            body.Execute(p);
        }
    }
}
