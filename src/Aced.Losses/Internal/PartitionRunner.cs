using System;
using System.Threading;
using Aced.Core;

namespace Aced.Losses.Internal;

/// <summary>A unit of work split into a fixed number of independent partitions.</summary>
internal interface IPartitionBody
{
    /// <summary>Runs partition <paramref name="partition"/>; must write only to that partition's outputs.</summary>
    void Execute(int partition);
}

/// <summary>
/// Runs the partitions of an <see cref="IPartitionBody"/> on the calling thread plus up to
/// <c>GemmControl.MaxDegreeOfParallelism - 1</c> thread-pool helpers, without allocating.
/// </summary>
/// <remarks>
/// The partition is fixed by the caller (it depends only on the problem size), and every partition
/// writes its own slot of any reduction, so results are bit-identical whatever the number of threads.
/// Partitions are claimed dynamically, so a helper that is delayed by a busy core only delays the
/// partitions it actually claimed: the calling thread never waits for a helper to wake up.
/// One runner belongs to one loss instance; a loss instance is not thread-safe (like its workspace).
/// </remarks>
internal sealed class PartitionRunner : IThreadPoolWorkItem
{
    private readonly ManualResetEventSlim _done = new(false);
    private IPartitionBody? _body;

    // Packed claim word: generation (bits 32..63), partition count (bits 16..31), next index (bits 0..15).
    private long _state;
    private int _completed;
    private int _count;

    /// <summary>Largest partition count accepted.</summary>
    public const int MaxPartitions = 0xFFFF;

    /// <summary>Runs partitions [0, <paramref name="count"/>) of <paramref name="body"/> and returns when all are finished.</summary>
    public void Run(IPartitionBody body, int count)
    {
        if (count <= 0)
        {
            return;
        }

        int helpers = Math.Min(GemmControl.MaxDegreeOfParallelism, count) - 1;
        if (helpers <= 0)
        {
            for (int p = 0; p < count; p++)
            {
                body.Execute(p);
            }

            return;
        }

        _body = body;
        _count = count;
        Volatile.Write(ref _completed, 0);
        _done.Reset();
        long generation = (Volatile.Read(ref _state) >> 32) + 1;
        Volatile.Write(ref _state, (generation << 32) | ((long)count << 16));
        for (int h = 0; h < helpers; h++)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }

        ClaimAndRun();
        if (Volatile.Read(ref _completed) != count)
        {
            _done.Wait();
        }

        _body = null;
    }

    /// <inheritdoc/>
    void IThreadPoolWorkItem.Execute() => ClaimAndRun();

    private void ClaimAndRun()
    {
        while (true)
        {
            long state = Volatile.Read(ref _state);
            int next = (int)(state & 0xFFFF);
            int count = (int)((state >> 16) & 0xFFFF);
            if (next >= count)
            {
                return;
            }

            if (Interlocked.CompareExchange(ref _state, state + 1, state) != state)
            {
                continue;
            }

            _body!.Execute(next);
            if (Interlocked.Increment(ref _completed) == _count)
            {
                _done.Set();
            }
        }
    }
}
