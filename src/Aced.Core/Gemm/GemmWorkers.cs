using System;
using System.Runtime.ExceptionServices;
using System.Threading;

namespace Aced.Core;

/// <summary>
/// One SGEMM call split into a fixed list of tiles. Threads claim tiles with an interlocked counter,
/// so a thread slowed down by another process delays the call only by the tiles it holds.
/// </summary>
internal abstract unsafe class GemmJob
{
    private const int ClosedBit = 1 << 30;

    private int _nextTile;
    private int _state;
    private ExceptionDispatchInfo? _error;

    internal Transpose TransA;
    internal Transpose TransB;
    internal float* A;
    internal float* B;
    internal nint Lda;
    internal nint Ldb;
    internal float Alpha;
    internal GemmPlan Plan;
    internal long Serial;
    internal GemmIsa Isa;
    internal int TileCount;
    private int _maxHelpers;

    /// <summary>Claims and runs tiles until none are left (called by every participating thread).</summary>
    internal void Work(GemmWorkspace ws)
    {
        try
        {
            RunTiles(ws);
        }
        catch (Exception ex)
        {
            Fail(ex);
        }
    }

    /// <summary>Records the first failure and stops further tiles from being claimed.</summary>
    internal void Fail(Exception ex)
    {
        Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(ex), null);
        Volatile.Write(ref _nextTile, TileCount);
    }

    /// <summary>Next unclaimed tile index, or a value &gt;= <see cref="TileCount"/> when all are claimed.</summary>
    protected int ClaimTile()
    {
        int t = Interlocked.Increment(ref _nextTile) - 1;
        return t < TileCount ? t : TileCount;
    }

    protected abstract void RunTiles(GemmWorkspace ws);

    internal void Open(int tileCount, int maxHelpers)
    {
        TileCount = tileCount;
        _maxHelpers = maxHelpers;
        _error = null;
        _nextTile = 0;
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
/// Persistent GEMM worker threads. They block on a semaphore between calls (no spinning); the calling
/// thread always participates. One call at a time uses the pool: a concurrent or nested call (a GEMM
/// issued from inside a worker or an epilogue) runs serially on its own thread, which gives the same
/// bits because the tile partition is fixed.
/// </summary>
internal static class GemmWorkers
{
    /// <summary>Upper bound on pool threads whatever MaxDegreeOfParallelism says.</summary>
    internal const int MaxWorkers = 63;

    private static readonly SemaphoreSlim s_wake = new(0);
    private static readonly ManualResetEventSlim s_done = new(false);
    private static readonly object s_createLock = new();
    private static GemmJob? s_job;
    private static int s_busy;
    private static int s_workerCount;

    /// <summary>Number of pool threads started so far.</summary>
    internal static int WorkerCount => Volatile.Read(ref s_workerCount);

    /// <summary>
    /// Runs every tile of <paramref name="job"/> using up to <paramref name="degree"/> threads (including the caller).
    /// </summary>
    internal static void Run(GemmJob job, int tileCount, int degree)
    {
        degree = Math.Min(Math.Min(degree, tileCount), MaxWorkers + 1);
        if (degree <= 1 || Interlocked.CompareExchange(ref s_busy, 1, 0) != 0)
        {
            // No helpers may join (a worker holding a stale reference to this job object is refused).
            job.Open(tileCount, maxHelpers: 0);
            RunOnCaller(job);
            job.ThrowIfFailed();
            return;
        }

        try
        {
            job.Open(tileCount, degree - 1);
            EnsureWorkers(degree - 1);
            s_done.Reset();
            Volatile.Write(ref s_job, job);
            s_wake.Release(degree - 1);
            try
            {
                RunOnCaller(job);
            }
            catch (Exception ex)
            {
                // Only reachable if renting the caller's workspace failed; helpers must still be waited for.
                job.Fail(ex);
            }

            if (job.Close())
            {
                s_done.Wait();
            }

            Volatile.Write(ref s_job, null);
        }
        finally
        {
            Volatile.Write(ref s_busy, 0);
        }

        job.ThrowIfFailed();
    }

    private static void RunOnCaller(GemmJob job)
    {
        GemmWorkspace ws = GemmWorkspace.Rent();
        try
        {
            job.Work(ws);
        }
        finally
        {
            GemmWorkspace.Return();
        }
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
                    Name = $"Aced GEMM worker {s_workerCount + 1}",
                };
                thread.Start();
                Volatile.Write(ref s_workerCount, s_workerCount + 1);
            }
        }
    }

    private static void WorkerLoop()
    {
        while (true)
        {
            s_wake.Wait();
            GemmJob? job = Volatile.Read(ref s_job);
            if (job is null || !job.TryEnter())
            {
                continue;
            }

            bool rented = false;
            try
            {
                GemmWorkspace ws = GemmWorkspace.Rent();
                rented = true;
                job.Work(ws);
            }
            catch (Exception ex)
            {
                // Only reachable if renting the workspace failed (Work catches its own exceptions).
                job.Fail(ex);
            }
            finally
            {
                if (rented)
                {
                    GemmWorkspace.Return();
                }

                if (job.Exit())
                {
                    s_done.Set();
                }
            }
        }
    }
}
