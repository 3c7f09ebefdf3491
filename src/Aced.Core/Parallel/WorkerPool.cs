using System;
using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Runtime.Intrinsics.X86;
using System.Threading;

namespace Aced.Core;

/// <summary>
/// One parallel call split into a fixed list of work items (GEMM tiles or row bands, <see cref="ParallelPartition"/>
/// partitions). Threads claim items with an interlocked counter, so a thread slowed down by another process delays
/// the call only by the items it holds; which thread runs which item never changes a result as long as every item
/// writes only its own outputs.
/// </summary>
internal abstract class PoolJob
{
    private const int ClosedBit = 1 << 30;

    private int _nextItem;
    private int _state;
    private int _maxHelpers;
    private ExceptionDispatchInfo? _error;

    /// <summary>Number of work items of the current call.</summary>
    internal int ItemCount { get; private set; }

    /// <summary>Claims and runs items until none are left (called by every participating thread).</summary>
    internal void Work()
    {
        WorkerPool.EnterJob();
        try
        {
            RunItems();
        }
        catch (Exception ex)
        {
            Fail(ex);
        }
        finally
        {
            WorkerPool.ExitJob();
        }
    }

    /// <summary>Records the first failure and stops further items from being claimed.</summary>
    internal void Fail(Exception ex)
    {
        Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(ex), null);
        Volatile.Write(ref _nextItem, ItemCount);
    }

    /// <summary>Next unclaimed item index, or a value &gt;= <see cref="ItemCount"/> when all are claimed.</summary>
    protected int ClaimItem()
    {
        int t = Interlocked.Increment(ref _nextItem) - 1;
        return t < ItemCount ? t : ItemCount;
    }

    /// <summary>Claims items with <see cref="ClaimItem"/> and runs them until none are left.</summary>
    protected abstract void RunItems();

    internal void Open(int itemCount, int maxHelpers)
    {
        ItemCount = itemCount;
        _maxHelpers = maxHelpers;
        _error = null;
        _nextItem = 0;
        Volatile.Write(ref _state, 0);
    }

    /// <summary>Registers a helper thread; false once the caller has closed the job.</summary>
    internal bool TryEnter()
    {
        while (true)
        {
            int s = Volatile.Read(ref _state);
            if ((s & ClosedBit) != 0 || s >= _maxHelpers)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _state, s + 1, s) == s)
            {
                return true;
            }
        }
    }

    /// <summary>Unregisters a helper; true when it was the last one after the caller closed the job.</summary>
    internal bool Exit() => Interlocked.Decrement(ref _state) == ClosedBit;

    /// <summary>Stops new helpers from joining; true when helpers are still inside (the caller must wait).</summary>
    internal bool Close() => (Interlocked.Or(ref _state, ClosedBit) & ~ClosedBit) != 0;

    /// <summary>Rethrows the first exception raised by any participating thread.</summary>
    internal void ThrowIfFailed()
    {
        ExceptionDispatchInfo? error = _error;
        _error = null;
        error?.Throw();
    }
}

/// <summary>
/// The library's persistent worker threads, shared by the managed GEMM (<see cref="ManagedGemmProvider"/>) and
/// <see cref="ParallelPartition"/>, neither of which depends on the other: with another GEMM provider installed the
/// pool still serves the partitioned element-wise work. Between calls a worker spins for a fraction of a millisecond
/// (<see cref="SpinBeforeBlocking"/>), then blocks on a semaphore; the calling thread always participates. One call at a time uses the pool: a concurrent or nested call (issued from
/// inside a work item or a GEMM epilogue) runs serially on its own thread, which gives the same results because the
/// item partition is fixed by the caller. The number of threads a call may use is capped by
/// <see cref="AcedControl.MaxDegreeOfParallelism"/> (the caller passes its degree).
/// </summary>
internal static class WorkerPool
{
    /// <summary>Upper bound on pool threads whatever MaxDegreeOfParallelism says.</summary>
    internal const int MaxWorkers = 63;

    private static readonly SemaphoreSlim s_wake = new(0);
    private static readonly ManualResetEventSlim s_done = new(false);
    private static readonly object s_createLock = new();
    private static PoolJob? s_job;
    private static int s_busy;
    private static int s_workerCount;
    private static long s_generation;
    private static int s_sleepers;
    private static bool s_timed;
    private static long s_callStart;

    [ThreadStatic]
    private static int t_depth;

    /// <summary>
    /// Whether the threads spin for a while before blocking (default on): a worker that finished an item waits up to
    /// <see cref="SpinMicroseconds"/> for the next call before it blocks on the semaphore, and the caller waits as long
    /// for the helpers' last items before it blocks on the done event. A step issues ~140 calls; waking a blocked
    /// thread costs ~0.1 ms on the VMs measured (step12). Off: every call releases the semaphore and the caller
    /// blocks at once (the form before step12). Results never depend on it (it changes only who waits how).
    /// </summary>
    internal static bool SpinBeforeBlocking { get; set; } = true;

    /// <summary>
    /// How long a thread spins before it blocks when <see cref="SpinBeforeBlocking"/> is on; 0 turns the spin off.
    /// Public as <see cref="AcedControl.PoolSpinMicroseconds"/>.
    /// </summary>
    internal static int SpinMicroseconds { get; set; } = DefaultSpinMicroseconds;

    /// <summary>The default of <see cref="SpinMicroseconds"/>.</summary>
    internal const int DefaultSpinMicroseconds = 200;

    /// <summary>Whether the threads spin before they block: <see cref="SpinBeforeBlocking"/> with a spin time above 0.</summary>
    private static bool Spinning => SpinBeforeBlocking && SpinMicroseconds > 0;

    /// <summary>Number of pool threads started so far.</summary>
    internal static int WorkerCount => Volatile.Read(ref s_workerCount);

    /// <summary>
    /// Number of pool jobs the current thread is inside (0 outside any): a job object reused per thread must be
    /// taken per depth, so that a nested call does not reuse the object of the call it runs in.
    /// </summary>
    internal static int Depth => t_depth;

    internal static void EnterJob() => t_depth++;

    internal static void ExitJob() => t_depth--;

    /// <summary>
    /// Runs every item of <paramref name="job"/> using up to <paramref name="degree"/> threads (including the caller).
    /// </summary>
    internal static void Run(PoolJob job, int itemCount, int degree)
    {
        degree = Math.Min(Math.Min(degree, itemCount), MaxWorkers + 1);
        bool timed = PoolTiming.Enabled && t_depth == 0;
        long start = timed ? PoolTiming.Now() : 0;
        if (degree <= 1 || Interlocked.CompareExchange(ref s_busy, 1, 0) != 0)
        {
            // No helpers may join (a worker holding a stale reference to this job object is refused).
            job.Open(itemCount, maxHelpers: 0);
            job.Work();
            if (timed)
            {
                PoolTiming.RecordSerial(job.GetType(), itemCount, PoolTiming.Now() - start);
            }

            job.ThrowIfFailed();
            return;
        }

        try
        {
            job.Open(itemCount, degree - 1);
            EnsureWorkers(degree - 1);
            s_done.Reset();
            if (timed)
            {
                PoolTiming.s_helperBusy = 0;
                PoolTiming.s_firstJoin = 0;
                PoolTiming.s_helpers = 0;
                s_callStart = start;
            }

            s_timed = timed;
            Volatile.Write(ref s_job, job);
            bool spin = Spinning;
            if (spin)
            {
                // The full fence of the increment orders the job's publication before the read of the sleepers: a
                // worker either sees the new generation before it blocks or is counted here and released.
                Interlocked.Increment(ref s_generation);
                int sleepers = Volatile.Read(ref s_sleepers);
                if (sleepers > 0)
                {
                    s_wake.Release(Math.Min(sleepers, degree - 1));
                }
            }
            else
            {
                s_wake.Release(degree - 1);
            }

            job.Work();
            long callerEnd = timed ? PoolTiming.Now() : 0;
            if (job.Close())
            {
                if (!spin || !SpinUntilDone())
                {
                    s_done.Wait();
                }
            }

            Volatile.Write(ref s_job, null);
            if (timed)
            {
                long end = PoolTiming.Now();
                PoolTiming.RecordParallel(
                    job.GetType(), itemCount, end - start, callerEnd - start, Volatile.Read(ref PoolTiming.s_helperBusy),
                    Volatile.Read(ref PoolTiming.s_firstJoin), Volatile.Read(ref PoolTiming.s_helpers), end - callerEnd);
            }
        }
        finally
        {
            Volatile.Write(ref s_busy, 0);
        }

        job.ThrowIfFailed();
    }

    private static void EnsureWorkers(int count)
    {
        if (Volatile.Read(ref s_workerCount) >= count)
        {
            return;
        }

        lock (s_createLock)
        {
            while (s_workerCount < count)
            {
                var thread = new Thread(WorkerLoop)
                {
                    IsBackground = true,
                    Name = $"Aced worker {s_workerCount + 1}",
                };
                thread.Start();
                Volatile.Write(ref s_workerCount, s_workerCount + 1);
            }
        }
    }

    /// <summary>
    /// Spins (pause instructions) until the last helper of the current call has signalled <c>s_done</c>, at most
    /// <see cref="SpinMicroseconds"/>; false when the time ran out (the caller then blocks).
    /// </summary>
    private static bool SpinUntilDone()
    {
        long deadline = Stopwatch.GetTimestamp() + SpinTicks();
        int i = 0;
        while (!s_done.IsSet)
        {
            Pause();
            if ((++i & 31) == 0 && Stopwatch.GetTimestamp() > deadline)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Spins until a call newer than <paramref name="seen"/> is published, at most <see cref="SpinMicroseconds"/>;
    /// false when the time ran out.
    /// </summary>
    private static bool SpinForCall(long seen)
    {
        long deadline = Stopwatch.GetTimestamp() + SpinTicks();
        int i = 0;
        while (Volatile.Read(ref s_generation) == seen)
        {
            Pause();
            if ((++i & 31) == 0 && Stopwatch.GetTimestamp() > deadline)
            {
                return false;
            }
        }

        return true;
    }

    private static long SpinTicks() => SpinMicroseconds * Stopwatch.Frequency / 1_000_000;

    private static void Pause()
    {
        if (X86Base.IsSupported)
        {
            X86Base.Pause();
        }
        else
        {
            Thread.SpinWait(1);
        }
    }

    private static void WorkerLoop()
    {
        long seen = Volatile.Read(ref s_generation);
        while (true)
        {
            if (!Spinning || !SpinForCall(seen))
            {
                // Counted as a sleeper, then a last look: a call published after the count is released to us.
                Interlocked.Increment(ref s_sleepers);
                if (!Spinning || Volatile.Read(ref s_generation) == seen)
                {
                    s_wake.Wait();
                }

                Interlocked.Decrement(ref s_sleepers);
            }

            seen = Volatile.Read(ref s_generation);
            PoolJob? job = Volatile.Read(ref s_job);
            if (job is null || !job.TryEnter())
            {
                continue;
            }

            bool timed = s_timed;
            long start = timed ? PoolTiming.Now() : 0;
            try
            {
                job.Work();
            }
            finally
            {
                if (timed)
                {
                    PoolTiming.HelperDone(start, PoolTiming.Now(), s_callStart);
                }

                if (job.Exit())
                {
                    s_done.Set();
                }
            }
        }
    }
}
