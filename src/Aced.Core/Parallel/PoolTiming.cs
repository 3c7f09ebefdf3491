using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;

namespace Aced.Core;

/// <summary>
/// Diagnostic timing of the <see cref="WorkerPool"/>'s calls (off by default; probes switch it on): per kind of call
/// (the job's type), how many top-level calls ran in parallel or serially, their wall time, the caller's and the
/// helpers' busy time inside them, how long the first helper took to join and how long the caller waited for the
/// helpers after its own last item. Idle time of a call at 2 threads is <c>2 * wall - caller busy - helper busy</c>.
/// Only calls made outside any pool job are recorded (nested calls run serially inside their parent's item).
/// </summary>
internal static class PoolTiming
{
    /// <summary>Whether calls are timed (not thread-safe to flip while calls run).</summary>
    internal static bool Enabled;

    /// <summary>
    /// Whether each top-level call's kind, start and end are also appended to <see cref="TakeSequence"/>'s list (with
    /// <see cref="Enabled"/>), so a probe can find the serial stretches between calls.
    /// </summary>
    internal static bool RecordSequence;

    private static readonly object s_lock = new();
    private static readonly Dictionary<Type, Totals> s_totals = [];
    private static readonly List<(Type Kind, long Start, long End)> s_sequence = [];

    /// <summary>Accumulated ticks of one kind of call.</summary>
    internal sealed class Totals
    {
        public long ParallelCalls;
        public long SerialCalls;
        public long Items;
        public long WallTicks;
        public long SerialTicks;
        public long CallerBusyTicks;
        public long HelperBusyTicks;
        public long HelperJoinTicks;
        public long HelpersJoined;
        public long CallerWaitTicks;
    }

    internal static void RecordParallel(Type kind, int items, long wall, long callerBusy, long helperBusy, long firstJoin, int helpers, long callerWait)
    {
        lock (s_lock)
        {
            Append(kind, wall);
            Totals t = Get(kind);
            t.ParallelCalls++;
            t.Items += items;
            t.WallTicks += wall;
            t.CallerBusyTicks += callerBusy;
            t.HelperBusyTicks += helperBusy;
            t.HelpersJoined += helpers;
            t.HelperJoinTicks += helpers > 0 ? firstJoin : 0;
            t.CallerWaitTicks += callerWait;
        }
    }

    internal static void RecordSerial(Type kind, int items, long wall)
    {
        lock (s_lock)
        {
            Append(kind, wall);
            Totals t = Get(kind);
            t.SerialCalls++;
            t.Items += items;
            t.SerialTicks += wall;
        }
    }

    /// <summary>Copies and clears the totals.</summary>
    internal static List<(string Kind, Totals Totals)> TakeAll()
    {
        lock (s_lock)
        {
            var list = new List<(string, Totals)>(s_totals.Count);
            foreach (KeyValuePair<Type, Totals> entry in s_totals)
            {
                list.Add((Name(entry.Key), entry.Value));
            }

            s_totals.Clear();
            return list;
        }
    }

    /// <summary>Copies and clears the recorded calls (kind name, start and end timestamps), in the order they ended.</summary>
    internal static List<(string Kind, long Start, long End)> TakeSequence()
    {
        lock (s_lock)
        {
            var list = new List<(string, long, long)>(s_sequence.Count);
            foreach ((Type kind, long start, long end) in s_sequence)
            {
                list.Add((Name(kind), start, end));
            }

            s_sequence.Clear();
            return list;
        }
    }

    internal static long Now() => Stopwatch.GetTimestamp();

    private static void Append(Type kind, long wall)
    {
        if (RecordSequence)
        {
            long end = Now();
            s_sequence.Add((kind, end - wall, end));
        }
    }

    private static Totals Get(Type kind)
    {
        if (!s_totals.TryGetValue(kind, out Totals? t))
        {
            t = new Totals();
            s_totals[kind] = t;
        }

        return t;
    }

    private static string Name(Type kind)
    {
        if (!kind.IsGenericType)
        {
            return kind.Name;
        }

        Type argument = kind.GetGenericArguments()[0];
        string inner = argument.DeclaringType is null ? argument.Name : argument.DeclaringType.Name + "." + argument.Name;
        return argument.IsGenericType ? inner + "<" + Name(argument) + ">" : inner;
    }

    /// <summary>Helper-side accumulators of the current call (written by helpers, read by the caller after the join).</summary>
    internal static long s_helperBusy;
    internal static long s_firstJoin;
    internal static int s_helpers;

    internal static void HelperDone(long start, long end, long callStart)
    {
        Interlocked.Add(ref s_helperBusy, end - start);
        Interlocked.Increment(ref s_helpers);
        long join = start - callStart;
        long seen;
        while ((seen = Volatile.Read(ref s_firstJoin)) == 0 || join < seen)
        {
            if (Interlocked.CompareExchange(ref s_firstJoin, join, seen) == seen)
            {
                break;
            }
        }
    }
}
