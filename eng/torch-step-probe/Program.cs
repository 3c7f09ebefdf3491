using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Threading;
using Aced.Benchmarks.Models;
using Aced.Core;
using Aced.Models;
using TorchSharp;

namespace Aced.TorchStepProbe;

/// <summary>
/// Same-process yardstick of issue 12's training-step target: per round, Aced's managed step (the benchmark's own
/// <see cref="TrainingStepBenchmarks.TrainingStep"/>), the same step on CPU libtorch through TorchSharp
/// (<see cref="TorchStep"/>, same initial weights, same batch, same optimizer), and the 1024^3 SGEMMs of Aced and of
/// OpenBLAS (the benchmark's <c>Sgemm1024</c> and <c>OpenBlasSgemm1024</c>), all at the same thread count. Each step's
/// model GFLOP/s (the benchmark's convention, 3x the forward FLOPs) is printed against both SGEMMs of the same round.
/// Before timing it checks that the two steps do the same work: parameter counts, embedding shapes and values from the
/// same weights, and the losses of the first steps. Usage: <c>TorchStepProbe [rounds=5] [batches=256,61] [threads=2]</c>.
/// </summary>
public static class Program
{
    private const float LearningRate = 1e-4f;
    private const int SgemmCalls = 4;
    private const int StepCalls = 3;
    private const int CheckedSteps = 3;
    private const int WarmupSteps = 3;

    public static void Main(string[] args)
    {
        int rounds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 5;
        string[] batches = (args.Length > 1 ? args[1] : "256,61").Split(',');
        int threads = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 2;
        AcedControl.MaxDegreeOfParallelism = threads;
        torch.set_num_threads(threads);
        Console.WriteLine($"torch-step-probe: {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss} UTC, load {Load()}, {rounds} rounds, {threads} threads");
        Console.WriteLine($"Aced: {AcedControl.Describe()}");
        Console.WriteLine($"libtorch: torch.get_num_threads() {torch.get_num_threads()}, get_num_interop_threads() {torch.get_num_interop_threads()}; OMP_WAIT_POLICY={Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") ?? "(unset)"}");
        Console.WriteLine(LibTorchInfo.Config().TrimEnd());
        Console.WriteLine(LibTorchInfo.ParallelInfo().TrimEnd());
        foreach (string batch in batches)
        {
            Compare(int.Parse(batch, CultureInfo.InvariantCulture), rounds);
        }

        Console.WriteLine($"end {DateTime.UtcNow:HH:mm:ss} UTC, load {Load()}");
    }

    private static void Compare(int batch, int rounds)
    {
        var bench = new TrainingStepBenchmarks { Batch = batch };
        bench.SetupOpenBlas(); // the benchmark's set-up: OpenBLAS at Aced's thread count, model, batch, one step
        TwoTowerConfig config = TrainingStepBenchmarks.ReferenceConfig();
        (Matrix images, int[] tokens) = TrainingStepBenchmarks.ReferenceBatch(batch);
        var initial = new TwoTowerModel(config, 1); // the benchmark's model before its first step
        using var torchStep = new TorchStep(initial, config, images, tokens, LearningRate);
        double stepFlops = bench.FlopCount(nameof(TrainingStepBenchmarks.TrainingStep));
        double sgemmFlops = bench.FlopCount(nameof(TrainingStepBenchmarks.Sgemm1024));
        Console.WriteLine($"batch {batch}: {stepFlops / 1e9:F2} GFLOP/step (3x forward)");
        CheckSameWork(initial, images, tokens, torchStep);

        using var torchSgemm = new TorchSgemm(1024);
        Action[] yardsticks = [() => bench.Sgemm1024(), () => bench.OpenBlasSgemm1024(), torchSgemm.Multiply];

        // Lockstep: the benchmark's set-up made step 1, so torch makes its step 1 here, then both steps 2, 3, ...
        torchStep.Step();
        for (int k = 0; k < CheckedSteps + WarmupSteps; k++)
        {
            float aced = bench.TrainingStep();
            float libtorch = torchStep.Step();
            if (k < CheckedSteps)
            {
                Console.WriteLine($"  step {k + 2}: loss Aced {aced:F6}, libtorch {libtorch:F6} (relative difference {Math.Abs(aced - libtorch) / Math.Abs(aced):E1})");
            }

            TimeEach(yardsticks);
        }

        var results = new RoundResult[rounds];
        float acedLoss = 0;
        float torchLoss = 0;
        Timing TimeAced() => Time(() => acedLoss = bench.TrainingStep(), StepCalls);
        Timing TimeTorch() => Time(() => torchLoss = torchStep.Step(), StepCalls);
        for (int r = 0; r < rounds; r++)
        {
            // The SGEMMs run before, between and after the two steps (which goes first alternates), so their mean
            // brackets the steps in time on a machine whose speed drifts.
            torchStep.ResetPhases();
            bool acedFirst = r % 2 == 0;
            Timing[] sgemms = TimeEach(yardsticks);
            Timing first = acedFirst ? TimeAced() : TimeTorch();
            AddTo(sgemms, TimeEach(yardsticks));
            Timing second = acedFirst ? TimeTorch() : TimeAced();
            AddTo(sgemms, TimeEach(yardsticks));
            (Timing aced, Timing libtorch) = acedFirst ? (first, second) : (second, first);
            results[r] = new RoundResult(sgemms[0] / 3, sgemms[1] / 3, sgemms[2] / 3, aced, libtorch, sgemmFlops, stepFlops);
            Print(r, results[r], torchStep.MeanPhases);
        }

        Console.WriteLine($"batch {batch}, medians of {rounds} rounds:");
        Console.WriteLine($"  Aced     step over Aced's SGEMM {Median(results, x => x.Aced.OverAced)}, over OpenBLAS's {Median(results, x => x.Aced.OverOpenBlas)}");
        Console.WriteLine($"  libtorch step over Aced's SGEMM {Median(results, x => x.Torch.OverAced)}, over OpenBLAS's {Median(results, x => x.Torch.OverOpenBlas)}, over its own {Median(results, x => x.Torch.OverOwn)}");
        Console.WriteLine($"  libtorch/Aced step time {Median(results, x => x.TimeRatio)}; last losses Aced {acedLoss:F6}, libtorch {torchLoss:F6}");
    }

    private static void Print(int round, RoundResult x, (double Forward, double Backward, double Update) phases)
    {
        Console.WriteLine(
            $"  round {round} {DateTime.UtcNow:HH:mm:ss} UTC: 1024^3 SGEMM GFLOP/s (wall) Aced {x.AcedPeak.Wall / 1e9:F1}, OpenBLAS {x.OpenBlasPeak.Wall / 1e9:F1}, libtorch {x.TorchPeak.Wall / 1e9:F1} | " +
            $"libtorch/Aced step time wall {x.TimeRatio.Wall:F2}, CPU {x.TimeRatio.Cpu:F2}");
        Console.WriteLine($"    Aced     step {x.AcedStep.Wall * 1e3,5:F0} ms wall, {x.AcedStep.Cpu * 1e3,5:F0} ms CPU; {x.Aced.Describe()}");
        Console.WriteLine($"    libtorch step {x.TorchStep.Wall * 1e3,5:F0} ms wall, {x.TorchStep.Cpu * 1e3,5:F0} ms CPU; {x.Torch.Describe()}, over its own SGEMM {x.Torch.OverOwn.Wall:F3} (CPU {x.Torch.OverOwn.Cpu:F3})");
        Console.WriteLine($"    libtorch phases: forward + loss {phases.Forward * 1e3:F0} ms, backward {phases.Backward * 1e3:F0} ms, clip + AdamW + clamp {phases.Update * 1e3:F0} ms");
    }

    /// <summary>Median, smallest and largest of a wall and a CPU figure over the rounds.</summary>
    private static string Median(RoundResult[] results, Func<RoundResult, Timing> figure)
    {
        var wall = new double[results.Length];
        var cpu = new double[results.Length];
        for (int i = 0; i < results.Length; i++)
        {
            (wall[i], cpu[i]) = (figure(results[i]).Wall, figure(results[i]).Cpu);
        }

        Array.Sort(wall);
        Array.Sort(cpu);
        int n = results.Length;
        return $"wall {wall[n / 2]:F3} ({wall[0]:F3}-{wall[n - 1]:F3}), CPU {cpu[n / 2]:F3} ({cpu[0]:F3}-{cpu[n - 1]:F3})";
    }

    /// <summary>Prints and checks that both models have the same parameters and encode the batch alike.</summary>
    private static void CheckSameWork(TwoTowerModel managed, Matrix images, int[] tokens, TorchStep torchStep)
    {
        long managedCount = 0;
        foreach (Parameter p in managed.Parameters)
        {
            managedCount += p.Length;
        }

        (MatrixView zi, MatrixView zt) = managed.Forward(images, tokens);
        (float[] ti, float[] tt, long[] shape) = torchStep.Embed();
        double difference = Math.Max(MaxDifference(zi, ti), MaxDifference(zt, tt));
        Console.WriteLine(
            $"  parameters: Aced {managed.Parameters.Count} tensors, {managedCount:N0} floats; libtorch {torchStep.ParameterCount:N0} floats | " +
            $"embeddings [{zi.Rows}, {zi.Columns}] x2 and [{string.Join(", ", shape)}] x2, largest difference {difference:E1}");
        if (managedCount != torchStep.ParameterCount || shape[0] != zi.Rows || shape[1] != zi.Columns || !(difference < 1e-4))
        {
            throw new InvalidOperationException("the libtorch step does not compute what the managed step computes");
        }
    }

    private static double MaxDifference(MatrixView managed, float[] torch)
    {
        double max = 0;
        for (int i = 0; i < managed.Rows; i++)
        {
            for (int j = 0; j < managed.Columns; j++)
            {
                max = Math.Max(max, Math.Abs(managed[i, j] - torch[(i * managed.Columns) + j]));
            }
        }

        return max;
    }

    /// <summary>Seconds per call of each yardstick, <see cref="SgemmCalls"/> calls each.</summary>
    private static Timing[] TimeEach(Action[] yardsticks)
    {
        var timings = new Timing[yardsticks.Length];
        for (int i = 0; i < yardsticks.Length; i++)
        {
            timings[i] = Time(yardsticks[i], SgemmCalls);
        }

        return timings;
    }

    private static void AddTo(Timing[] sums, Timing[] values)
    {
        for (int i = 0; i < sums.Length; i++)
        {
            sums[i] += values[i];
        }
    }

    /// <summary>Wall and process CPU seconds per call over <paramref name="calls"/> calls, after a 20 ms pause.</summary>
    private static Timing Time(Action call, int calls)
    {
        // The pause lets the other side's spinning pool threads (libgomp, OpenBLAS, .NET) go idle first.
        Thread.Sleep(20);
        using Process process = Process.GetCurrentProcess();
        TimeSpan cpu0 = process.TotalProcessorTime;
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < calls; i++)
        {
            call();
        }

        double wall = Stopwatch.GetElapsedTime(start).TotalSeconds;
        process.Refresh();
        return new Timing(wall / calls, (process.TotalProcessorTime - cpu0).TotalSeconds / calls);
    }

    private static string Load()
    {
        try
        {
            return File.ReadAllText("/proc/loadavg").Split(' ')[0];
        }
        catch (IOException)
        {
            return "?";
        }
    }
}
