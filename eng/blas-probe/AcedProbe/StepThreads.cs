using System;
using System.Diagnostics;
using Aced.Benchmarks.Models;
using Aced.Core;

namespace Aced.BlasProbe;

/// <summary>
/// Same-process comparison of the training step (the benchmark's reference configuration) at 1 and at 2 threads,
/// alternating, each against the 1024^3 SGEMM at the same thread count measured in the same round: is the gap to the
/// SGEMM peak idle threads (the 2-thread step's CPU time well above the 1-thread step's) or per-thread kernel
/// efficiency (the 1-thread step itself far from the 1-thread SGEMM)? Usage: AcedProbe step-threads [batch] [rounds].
/// </summary>
internal static class StepThreads
{
    public static void Run(int batch, int rounds)
    {
        // The benchmark's own step, SGEMM and model-FLOP convention (set-up: model, batch, one step).
        var bench = new TrainingStepBenchmarks { Batch = batch };
        bench.Setup();
        void Step() => bench.TrainingStep();
        void Sgemm() => bench.Sgemm1024();
        double stepFlops = bench.FlopCount(nameof(TrainingStepBenchmarks.TrainingStep));
        double sgemmFlops = bench.FlopCount(nameof(TrainingStepBenchmarks.Sgemm1024));
        int original = AcedControl.MaxDegreeOfParallelism;
        for (int warm = 0; warm < 6; warm++)
        {
            AcedControl.MaxDegreeOfParallelism = 1 + (warm % 2);
            Step();
            Sgemm();
        }

        Console.WriteLine($"step-threads: batch {batch}, {stepFlops / 1e9:F2} GFLOP/step; {DateTime.UtcNow:HH:mm:ss} UTC, load {Load()}; {AcedControl.Describe()}");
        for (int round = 0; round < rounds; round++)
        {
            foreach (int threads in new[] { 1, 2 })
            {
                AcedControl.MaxDegreeOfParallelism = threads;
                (double sgemmWall, _) = Time(Sgemm, 5);
                (double wall, double cpu) = Time(Step, 3);
                double peak = sgemmFlops / sgemmWall;
                Console.WriteLine(
                    $"round {round} threads {threads}: step {wall * 1e3,6:F0} ms wall, {cpu * 1e3,6:F0} ms CPU ({cpu / wall:F2} threads busy) | " +
                    $"SGEMM {peak / 1e9,6:F1} GFLOP/s | step {stepFlops / wall / 1e9,5:F1} GFLOP/s = {stepFlops / wall / peak:F3} of it");
            }
        }

        AcedControl.MaxDegreeOfParallelism = original;
        Console.WriteLine($"end {DateTime.UtcNow:HH:mm:ss} UTC, load {Load()}");
    }

    /// <summary>Mean wall and process CPU seconds per call over <paramref name="calls"/> calls.</summary>
    private static (double Wall, double Cpu) Time(Action call, int calls)
    {
        using Process process = Process.GetCurrentProcess();
        TimeSpan cpu0 = process.TotalProcessorTime;
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < calls; i++)
        {
            call();
        }

        double wall = Stopwatch.GetElapsedTime(start).TotalSeconds / calls;
        process.Refresh();
        return (wall, (process.TotalProcessorTime - cpu0).TotalSeconds / calls);
    }

    private static string Load()
    {
        try
        {
            return System.IO.File.ReadAllText("/proc/loadavg").Split(' ')[0];
        }
        catch (System.IO.IOException)
        {
            return "?";
        }
    }
}
