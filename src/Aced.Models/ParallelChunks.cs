using System;
using System.Threading;
using Aced.Core;

namespace Aced.Models;

/// <summary>A unit of data-parallel work split into a fixed number of chunks that may run in any order.</summary>
internal interface IChunkBody
{
    /// <summary>Runs chunk <paramref name="chunk"/>; must only write memory owned by that chunk.</summary>
    void Execute(int chunk);
}

/// <summary>
/// Runs a fixed partition of chunks on up to <see cref="GemmControl.MaxDegreeOfParallelism"/> threads (at most the
/// processor count). The partition
/// depends only on the problem size, never on the thread count, and every chunk writes disjoint memory, so results are
/// bit-identical for any degree of parallelism. Threads pull chunks dynamically, so a busy core delays the result by
/// its share only. No allocation per call after a thread's first call.
/// </summary>
internal static class ParallelChunks
{
    [ThreadStatic]
    private static Job? t_job;

    public static void Run(IChunkBody body, int chunkCount)
    {
        int degree = Math.Min(Math.Min(GemmControl.MaxDegreeOfParallelism, Environment.ProcessorCount), chunkCount);
        if (degree <= 1)
        {
            for (int c = 0; c < chunkCount; c++)
            {
                body.Execute(c);
            }

            return;
        }

        Job job = t_job ??= new Job();
        job.Run(body, chunkCount, degree - 1);
    }

    /// <summary>Number of chunks of <paramref name="chunkSize"/> needed to cover <paramref name="count"/> items.</summary>
    public static int CountChunks(int count, int chunkSize) => (count + chunkSize - 1) / chunkSize;

    private sealed class Job : IThreadPoolWorkItem
    {
        private readonly ManualResetEventSlim _done = new(false);
        private IChunkBody? _body;
        private int _count;
        private int _next;
        private int _pending;
        private Exception? _error;

        public void Run(IChunkBody body, int count, int helpers)
        {
            _body = body;
            _count = count;
            _next = 0;
            _error = null;
            _pending = helpers;
            _done.Reset();
            for (int h = 0; h < helpers; h++)
            {
                ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
            }

            Drain();
            _done.Wait();
            _body = null;
            if (_error is not null)
            {
                Exception error = _error;
                _error = null;
                throw new InvalidOperationException("A parallel model kernel failed: " + error.Message, error);
            }
        }

        public void Execute()
        {
            Drain();
            if (Interlocked.Decrement(ref _pending) == 0)
            {
                _done.Set();
            }
        }

        private void Drain()
        {
            IChunkBody body = _body!;
            while (true)
            {
                int chunk = Interlocked.Increment(ref _next) - 1;
                if (chunk >= _count)
                {
                    return;
                }

                try
                {
                    body.Execute(chunk);
                }
                catch (Exception ex)
                {
                    Interlocked.CompareExchange(ref _error, ex, null);
                }
            }
        }
    }
}
