using System;
using System.Collections.Generic;
using System.Diagnostics;
using Aced.Benchmarks.Models;
using Aced.Core;
using Aced.Losses;
using Aced.Models;
using Aced.Models.Training;

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
        Aced.Benchmarks.Common.DiagSwitches.ApplyFromEnvironment();

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

        PhaseAllocations(batch);

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

        SerialStretches(bench, steps);
    }

    /// <summary>
    /// The step's serial stretches: the gaps between consecutive top-level pool calls (and before the first and after
    /// the last), averaged per position in the step's call sequence over <paramref name="steps"/> steps, largest first.
    /// </summary>
    private static void SerialStretches(TrainingStepBenchmarks bench, int steps)
    {
        double[]? gaps = null;
        string[]? after = null, before = null;
        double ms = 1e3 / Stopwatch.Frequency;
        PoolTiming.TakeAll();
        PoolTiming.TakeSequence();
        PoolTiming.RecordSequence = true;
        for (int s = 0; s < steps; s++)
        {
            PoolTiming.Enabled = true;
            long start = Stopwatch.GetTimestamp();
            bench.TrainingStep();
            long end = Stopwatch.GetTimestamp();
            PoolTiming.Enabled = false;
            List<(string Kind, long Start, long End)> calls = PoolTiming.TakeSequence();
            PoolTiming.TakeAll();
            if (gaps is null)
            {
                gaps = new double[calls.Count + 1];
                after = new string[calls.Count + 1];
                before = new string[calls.Count + 1];
            }

            if (calls.Count + 1 != gaps.Length)
            {
                Console.WriteLine($"serial stretches: the call sequence changed length ({calls.Count + 1} gaps against {gaps.Length}); skipped");
                PoolTiming.RecordSequence = false;
                return;
            }

            for (int i = 0; i <= calls.Count; i++)
            {
                long from = i == 0 ? start : calls[i - 1].End;
                long to = i == calls.Count ? end : calls[i].Start;
                gaps[i] += Math.Max(0, to - from) * ms / steps;
                after![i] = i == 0 ? "(step start)" : calls[i - 1].Kind;
                before![i] = i == calls.Count ? "(step end)" : calls[i].Kind;
            }
        }

        PoolTiming.RecordSequence = false;
        int[] order = new int[gaps!.Length];
        for (int i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        Array.Sort(order, (a, b) => gaps[b].CompareTo(gaps[a]));
        double sum = 0;
        foreach (double g in gaps)
        {
            sum += g;
        }

        Console.WriteLine($"serial stretches between pool calls: {sum:F2} ms per step in {gaps.Length} gaps; the largest (ms, position, after -> before):");
        for (int j = 0; j < Math.Min(16, order.Length); j++)
        {
            int i = order[j];
            Console.WriteLine($"  {gaps[i],7:F3}  #{i,-4} {after![i]} -> {before![i]}");
        }
    }

    /// <summary>Bytes allocated on this thread per phase of the benchmark's step (a replica of it), after warm-up.</summary>
    private static void PhaseAllocations(int batch)
    {
        var model = new TwoTowerModel(TrainingStepBenchmarks.ReferenceConfig(), 1);
        var optimizer = new AdamW(model.Parameters);
        var schedule = new ConstantSchedule(1e-4f);
        var loss = new SigmoidContrastiveLoss();
        var imageGradient = new Matrix(batch, model.EmbeddingDimension);
        var textGradient = new Matrix(batch, model.EmbeddingDimension);
        (Matrix images, int[] tokens) = TrainingStepBenchmarks.ReferenceBatch(batch);
        var bytes = new long[6];
        long total = 0;
        const int Steps = 6;
        for (int s = 0; s < Steps + 3; s++)
        {
            long t0 = GC.GetTotalAllocatedBytes(precise: true);
            long a0 = GC.GetAllocatedBytesForCurrentThread();
            model.ZeroGradients();
            long a1 = GC.GetAllocatedBytesForCurrentThread();
            (MatrixView zi, MatrixView zt) = model.Forward(images, tokens);
            long a2 = GC.GetAllocatedBytesForCurrentThread();
            LossResult result = loss.Compute(zi, zt, LogitParameters.FromLogScale(model.LogScale.Value[0], model.Bias.Value[0]), new EmbeddingGradients(imageGradient, textGradient));
            long a3 = GC.GetAllocatedBytesForCurrentThread();
            model.Backward(imageGradient, textGradient, (float)result.LogScaleGradient, (float)result.BiasGradient);
            long a4 = GC.GetAllocatedBytesForCurrentThread();
            optimizer.Update(schedule);
            long a5 = GC.GetAllocatedBytesForCurrentThread();
            model.ClampLogScale();
            long a6 = GC.GetAllocatedBytesForCurrentThread();
            long t1 = GC.GetTotalAllocatedBytes(precise: true);
            if (s >= 3)
            {
                bytes[0] += a1 - a0;
                bytes[1] += a2 - a1;
                bytes[2] += a3 - a2;
                bytes[3] += a4 - a3;
                bytes[4] += a5 - a4;
                bytes[5] += a6 - a5;
                total += t1 - t0;
            }
        }

        // Per phase at the pool's degree: wall time, and the part of it outside any pool call (one thread busy).
        var wall = new double[6];
        var outside = new double[6];
        const int Timed = 5;
        for (int s = 0; s < Timed; s++)
        {
            PoolTiming.TakeAll();
            PoolTiming.Enabled = true;
            long p0 = Stopwatch.GetTimestamp();
            model.ZeroGradients();
            long p1 = Stopwatch.GetTimestamp();
            double c1 = InCalls();
            (MatrixView zi, MatrixView zt) = model.Forward(images, tokens);
            long p2 = Stopwatch.GetTimestamp();
            double c2 = InCalls();
            LossResult result = loss.Compute(zi, zt, LogitParameters.FromLogScale(model.LogScale.Value[0], model.Bias.Value[0]), new EmbeddingGradients(imageGradient, textGradient));
            long p3 = Stopwatch.GetTimestamp();
            double c3 = InCalls();
            model.Backward(imageGradient, textGradient, (float)result.LogScaleGradient, (float)result.BiasGradient);
            long p4 = Stopwatch.GetTimestamp();
            double c4 = InCalls();
            optimizer.Update(schedule);
            long p5 = Stopwatch.GetTimestamp();
            double c5 = InCalls();
            model.ClampLogScale();
            long p6 = Stopwatch.GetTimestamp();
            PoolTiming.Enabled = false;
            double c6 = InCalls();
            long[] ps = [p0, p1, p2, p3, p4, p5, p6];
            double[] cs = [0, c1, c2, c3, c4, c5, c6];
            for (int i = 0; i < 6; i++)
            {
                double w = (ps[i + 1] - ps[i]) * 1e3 / Stopwatch.Frequency;
                wall[i] += w / Timed;
                outside[i] += (w - cs[i + 1]) / Timed;
            }
        }

        Console.WriteLine(
            $"replica step, ms per phase (outside pool calls): zero {wall[0]:F2} ({outside[0]:F2}), forward {wall[1]:F1} ({outside[1]:F2}), loss {wall[2]:F2} ({outside[2]:F2}), " +
            $"backward {wall[3]:F1} ({outside[3]:F2}), AdamW {wall[4]:F2} ({outside[4]:F2}), clamp {wall[5]:F3}");
        Console.WriteLine(
            $"replica step, B per step on the calling thread: zero {bytes[0] / Steps}, forward {bytes[1] / Steps}, loss {bytes[2] / Steps}, " +
            $"backward {bytes[3] / Steps}, AdamW {bytes[4] / Steps}, clamp {bytes[5] / Steps}; all threads {total / Steps}");
    }

    /// <summary>Milliseconds in top-level pool calls since the last call (clears the totals).</summary>
    private static double InCalls()
    {
        long ticks = 0;
        foreach ((string _, PoolTiming.Totals t) in PoolTiming.TakeAll())
        {
            ticks += t.WallTicks + t.SerialTicks;
        }

        return ticks * 1e3 / Stopwatch.Frequency;
    }

    private static double Idle(PoolTiming.Totals t, int threads) =>
        (threads * (double)(t.WallTicks + t.SerialTicks)) - t.CallerBusyTicks - t.HelperBusyTicks - t.SerialTicks;
}
