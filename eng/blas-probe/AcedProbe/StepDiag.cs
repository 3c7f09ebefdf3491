using System;
using System.Collections.Generic;
using System.Diagnostics;
using Aced.Benchmarks.Models;
using Aced.Core;

namespace Aced.BlasProbe;

/// <summary>
/// Where the 2-thread training step's non-kernel time goes, outside the kernels: garbage collections and bytes
/// allocated per step after warm-up, and per kind of pool call (<see cref="PoolTiming"/>) how often it runs, its wall
/// time and how long the threads idle in it (a helper not yet joined, or the caller waiting for the helper after its
/// own last item), plus the step's time outside any pool call (the other thread idles all of it).
/// Usage: AcedProbe step-diag [batch=256] [steps=10] [threads=2].
/// </summary>
internal static class StepDiag
{
    public static void Run(int batch, int steps, int threads)
    {
        var bench = new TrainingStepBenchmarks { Batch = batch };
        bench.Setup();
        AcedControl.MaxDegreeOfParallelism = threads;
        for (int warm = 0; warm < 8; warm++)
        {
            bench.TrainingStep();
        }

        // Allocation and GC counts over untimed steps.
        int g0 = GC.CollectionCount(0), g1 = GC.CollectionCount(1), g2 = GC.CollectionCount(2);
        long total = GC.GetTotalAllocatedBytes(precise: true);
        long mine = GC.GetAllocatedBytesForCurrentThread();
        long startPlain = Stopwatch.GetTimestamp();
        using Process process = Process.GetCurrentProcess();
        TimeSpan cpu0 = process.TotalProcessorTime;
        for (int s = 0; s < steps; s++)
        {
            bench.TrainingStep();
        }

        double plainWall = Stopwatch.GetElapsedTime(startPlain).TotalSeconds / steps;
        process.Refresh();
        double plainCpu = (process.TotalProcessorTime - cpu0).TotalSeconds / steps;
        Console.WriteLine(
            $"step-diag: batch {batch}, {threads} threads, {steps} steps; {DateTime.UtcNow:HH:mm:ss} UTC; {AcedControl.Describe()}");
        Console.WriteLine(
            $"per step: {plainWall * 1e3:F1} ms wall, {plainCpu * 1e3:F1} ms CPU ({plainCpu / plainWall:F3} threads busy); " +
            $"allocated {(GC.GetTotalAllocatedBytes(precise: true) - total) / (double)steps:F0} B (this thread {(GC.GetAllocatedBytesForCurrentThread() - mine) / (double)steps:F0} B); " +
            $"GCs gen0 {GC.CollectionCount(0) - g0}, gen1 {GC.CollectionCount(1) - g1}, gen2 {GC.CollectionCount(2) - g2} over the {steps} steps");

        // Pool timing over timed steps.
        PoolTiming.TakeAll();
        PoolTiming.Enabled = true;
        long startTimed = Stopwatch.GetTimestamp();
        for (int s = 0; s < steps; s++)
        {
            bench.TrainingStep();
        }

        long stepTicks = Stopwatch.GetTimestamp() - startTimed;
        PoolTiming.Enabled = false;
        List<(string Kind, PoolTiming.Totals Totals)> all = PoolTiming.TakeAll();
        all.Sort((a, b) => Idle(b.Totals, threads).CompareTo(Idle(a.Totals, threads)));
        double ms = 1e3 / Stopwatch.Frequency / steps;
        double stepMs = stepTicks * ms;
        double inCalls = 0, idle = 0, parallelCalls = 0, serialCalls = 0;
        Console.WriteLine($"timed: {stepMs:F1} ms per step. Per step, per kind of pool call (ms; idle = {threads} x wall - busy of all threads):");
        Console.WriteLine($"{"kind",-44} {"par",5} {"ser",5} {"items",6} {"wall",7} {"serial",7} {"caller",7} {"helper",7} {"idle",6} {"join",6} {"wait",6}");
        foreach ((string kind, PoolTiming.Totals t) in all)
        {
            double callIdle = Idle(t, threads) * ms;
            inCalls += (t.WallTicks + t.SerialTicks) * ms;
            idle += callIdle;
            parallelCalls += t.ParallelCalls / (double)steps;
            serialCalls += t.SerialCalls / (double)steps;
            Console.WriteLine(
                $"{kind,-44} {t.ParallelCalls / (double)steps,5:F0} {t.SerialCalls / (double)steps,5:F0} {t.Items / (double)steps,6:F0} " +
                $"{t.WallTicks * ms,7:F2} {t.SerialTicks * ms,7:F2} {t.CallerBusyTicks * ms,7:F2} {t.HelperBusyTicks * ms,7:F2} {callIdle,6:F2} " +
                $"{(t.HelpersJoined == 0 ? 0 : t.HelperJoinTicks / (double)t.HelpersJoined * 1e6 / Stopwatch.Frequency),6:F1} " +
                $"{(t.ParallelCalls == 0 ? 0 : t.CallerWaitTicks / (double)t.ParallelCalls * 1e6 / Stopwatch.Frequency),6:F1}");
        }

        Console.WriteLine(
            $"calls per step: {parallelCalls:F0} parallel, {serialCalls:F0} serial; in calls {inCalls:F1} ms, outside any call {stepMs - inCalls:F1} ms " +
            $"(the other threads idle: {(threads - 1) * (stepMs - inCalls):F1} ms); idle inside calls {idle:F1} ms; " +
            $"total idle {idle + ((threads - 1) * (stepMs - inCalls)):F1} ms = {(idle + ((threads - 1) * (stepMs - inCalls))) / (threads * stepMs):P1} of {threads} x wall. " +
            "join = mean us until the first helper starts; wait = mean us the caller waits after its last item");
    }

    private static double Idle(PoolTiming.Totals t, int threads) =>
        (threads * (double)(t.WallTicks + t.SerialTicks)) - t.CallerBusyTicks - t.HelperBusyTicks - t.SerialTicks;
}
