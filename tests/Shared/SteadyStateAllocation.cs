using System;
using System.Threading;

namespace Aced.Tests;

/// <summary>
/// Measures what a hot path allocates once warm. The count is process-wide (the pool's workers allocate on their own
/// threads), so it also sees the runtime's background work (tiered JIT, a worker's first late participation under
/// load); those come and go, while an allocation in the measured code shows in every round. The result is the
/// smallest count over up to <paramref name="rounds"/> rounds, with a short pause between rounds. With
/// <paramref name="currentThread"/> only the calling thread's allocations count; a one-time growth of its workspace
/// (the first time the pool hands it some kind of tile, which depends on timing) then shows in one round only, and so
/// does the runtime's own occasional work on the thread (2,560 B once in a CI run of 2026-12-02 inside five calls of a
/// serial GEMM path that allocates nothing). Compiled into every test project (tests/Directory.Build.props).
/// </summary>
internal static class SteadyStateAllocation
{
    public static long MinimumBytes(Action call, int callsPerRound, long enough = 0, int warmUp = 5, int rounds = 40, bool currentThread = false)
    {
        for (int warm = 0; warm < warmUp; warm++)
        {
            call();
        }

        long smallest = long.MaxValue;
        for (int round = 0; round < rounds && smallest > enough; round++)
        {
            if (round > 0)
            {
                Thread.Sleep(10);
            }

            long before = Allocated(currentThread);
            for (int i = 0; i < callsPerRound; i++)
            {
                call();
            }

            smallest = Math.Min(smallest, Allocated(currentThread) - before);
        }

        return smallest;
    }

    private static long Allocated(bool currentThread) =>
        currentThread ? GC.GetAllocatedBytesForCurrentThread() : GC.GetTotalAllocatedBytes(precise: true);
}
