using System;
using System.Diagnostics;
using System.Reflection;
using Aced.Benchmarks.Models;
using Aced.Core;

namespace Aced.BlasProbe;

/// <summary>
/// Same-process on/off A/B of internal static bool switches on the benchmark's whole training step (the reference
/// configuration), alternating on and off in each round (the order flips every round), with the 1024^3 SGEMM of the
/// round as a load gauge: prints per round and as medians of the per-round ratios on / off of wall and process CPU
/// time. Usage: AcedProbe step-ab [batch=256] [rounds=15] [threads=2] [Aced.Core.WorkerPool.SpinBeforeBlocking,...]
/// (full type names, switches of any Aced assembly the benchmark loads). With ACED_STEPAB_KIND set to a kind of pool call
/// (e.g. Attention.FusedBody), the timed steps run under <see cref="PoolTiming"/> and that kind's wall time per step is
/// compared as well (median on/off and each side's median ms).
/// </summary>
internal static class StepAb
{
    public static void Run(int batch, int rounds, int threads, string switchNames)
    {
        var bench = new TrainingStepBenchmarks { Batch = batch };
        bench.Setup();
        string[] names = switchNames.Split(',');
        var switches = new PropertyInfo[names.Length];
        for (int i = 0; i < names.Length; i++)
        {
            int dot = names[i].LastIndexOf('.');
            string typeName = names[i][..dot];
            Type? owner = null;
            foreach (Assembly assembly in AppDomain.CurrentDomain.GetAssemblies())
            {
                owner ??= assembly.GetType(typeName);
            }

            switches[i] = owner?.GetProperty(names[i][(dot + 1)..], BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Static)
                ?? throw new ArgumentException($"No switch {names[i]}.", nameof(switchNames));
        }

        void Set(bool on)
        {
            foreach (PropertyInfo s in switches)
            {
                s.SetValue(null, on);
            }
        }

        AcedControl.MaxDegreeOfParallelism = threads;
        for (int warm = 0; warm < 6; warm++)
        {
            Set(warm % 2 == 0);
            bench.TrainingStep();
        }

        double stepFlops = bench.FlopCount(nameof(TrainingStepBenchmarks.TrainingStep));
        Console.WriteLine($"step-ab: batch {batch}, {threads} threads, {rounds} rounds, switches {switchNames}; {DateTime.UtcNow:HH:mm:ss} UTC, load {Load()}");
        var wall = new double[rounds];
        var cpu = new double[rounds];
        var onRate = new double[rounds];
        string? kind = Environment.GetEnvironmentVariable("ACED_STEPAB_KIND");
        var kindRatio = new double[rounds];
        var kindOn = new double[rounds];
        var kindOff = new double[rounds];
        var offRate = new double[rounds];
        using Process process = Process.GetCurrentProcess();
        try
        {
            for (int r = 0; r < rounds; r++)
            {
                Set(true);
                long s0 = Stopwatch.GetTimestamp();
                bench.Sgemm1024();
                double sgemm = 2.0 * 1024 * 1024 * 1024 / Stopwatch.GetElapsedTime(s0).TotalSeconds;
                double onWall = 0, onCpu = 0, offWall = 0, offCpu = 0;
                for (int half = 0; half < 2; half++)
                {
                    bool on = (half == 0) == (r % 2 == 0);
                    Set(on);
                    process.Refresh();
                    TimeSpan c0 = process.TotalProcessorTime;
                    PoolTiming.TakeAll();
                    PoolTiming.Enabled = kind is not null;
                    long t0 = Stopwatch.GetTimestamp();
                    bench.TrainingStep();
                    double w = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                    PoolTiming.Enabled = false;
                    if (kind is not null)
                    {
                        double kindMs = 0;
                        foreach ((string k, PoolTiming.Totals t) in PoolTiming.TakeAll())
                        {
                            if (k == kind)
                            {
                                kindMs += (t.WallTicks + t.SerialTicks) * 1e3 / Stopwatch.Frequency;
                            }
                        }

                        if (on)
                        {
                            kindOn[r] = kindMs;
                        }
                        else
                        {
                            kindOff[r] = kindMs;
                        }
                    }

                    process.Refresh();
                    double c = (process.TotalProcessorTime - c0).TotalSeconds;
                    if (on)
                    {
                        (onWall, onCpu) = (w, c);
                    }
                    else
                    {
                        (offWall, offCpu) = (w, c);
                    }
                }

                kindRatio[r] = kindOff[r] > 0 ? kindOn[r] / kindOff[r] : 0;
                wall[r] = onWall / offWall;
                cpu[r] = onCpu / offCpu;
                onRate[r] = stepFlops / onWall / sgemm;
                offRate[r] = stepFlops / offWall / sgemm;
                Console.WriteLine(
                    $"round {r}: on {onWall * 1e3:F0} ms ({onCpu / onWall:F2} busy), off {offWall * 1e3:F0} ms ({offCpu / offWall:F2} busy), " +
                    $"on/off wall {wall[r]:F3}, CPU {cpu[r]:F3}; SGEMM {sgemm / 1e9:F1} GFLOP/s");
            }
        }
        finally
        {
            Set(true);
        }

        Array.Sort(wall);
        Array.Sort(cpu);
        Array.Sort(onRate);
        Array.Sort(offRate);
        if (kind is not null)
        {
            Array.Sort(kindRatio);
            Array.Sort(kindOn);
            Array.Sort(kindOff);
            Console.WriteLine(
                $"{kind} per step: median on/off {kindRatio[rounds / 2]:F3} (quartiles {kindRatio[rounds / 4]:F3}-{kindRatio[(3 * rounds) / 4]:F3}); " +
                $"median on {kindOn[rounds / 2]:F2} ms, off {kindOff[rounds / 2]:F2} ms");
        }

        Console.WriteLine(
            $"median on/off: wall {wall[rounds / 2]:F3} (quartiles {wall[rounds / 4]:F3}-{wall[(3 * rounds) / 4]:F3}), CPU {cpu[rounds / 2]:F3}; " +
            $"step over the round's Aced SGEMM: on {onRate[rounds / 2]:F3}, off {offRate[rounds / 2]:F3}; end {DateTime.UtcNow:HH:mm:ss} UTC, load {Load()}");
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
