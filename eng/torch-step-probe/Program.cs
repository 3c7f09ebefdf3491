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
    private const int SgemmCalls = 5;
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

            bench.Sgemm1024();
            bench.OpenBlasSgemm1024();
        }

        var acedRatio = new double[rounds];
        var torchRatio = new double[rounds];
        var acedVsOpenBlas = new double[rounds];
        var torchVsOpenBlas = new double[rounds];
        var timeRatio = new double[rounds];
        float acedLoss = 0;
        float torchLoss = 0;
        for (int r = 0; r < rounds; r++)
        {
            (double acedSgemm, _) = Time(() => bench.Sgemm1024(), SgemmCalls);
            (double openBlasSgemm, _) = Time(() => bench.OpenBlasSgemm1024(), SgemmCalls);
            (double Wall, double Cpu) aced = default;
            (double Wall, double Cpu) libtorch = default;
            (double Forward, double Backward, double Update) phases = default;
            for (int turn = 0; turn < 2; turn++)
            {
                // Alternate which step goes first, so neither always follows the SGEMMs.
                if ((turn + r) % 2 == 0)
                {
                    aced = Time(() => acedLoss = bench.TrainingStep(), StepCalls);
                }
                else
                {
                    phases = default;
                    libtorch = Time(
                        () =>
                        {
                            torchLoss = torchStep.Step();
                            phases = (phases.Forward + torchStep.LastPhases.Forward, phases.Backward + torchStep.LastPhases.Backward, phases.Update + torchStep.LastPhases.Update);
                        },
                        StepCalls);
                }
            }

            double acedPeak = sgemmFlops / acedSgemm;
            double openBlasPeak = sgemmFlops / openBlasSgemm;
            double acedRate = stepFlops / aced.Wall;
            double torchRate = stepFlops / libtorch.Wall;
            acedRatio[r] = acedRate / acedPeak;
            torchRatio[r] = torchRate / acedPeak;
            acedVsOpenBlas[r] = acedRate / openBlasPeak;
            torchVsOpenBlas[r] = torchRate / openBlasPeak;
            timeRatio[r] = libtorch.Wall / aced.Wall;
            Console.WriteLine(
                $"  round {r} {DateTime.UtcNow:HH:mm:ss}: SGEMM Aced {acedPeak / 1e9:F1}, OpenBLAS {openBlasPeak / 1e9:F1} GFLOP/s | " +
                $"Aced step {aced.Wall * 1e3:F0} ms wall, {aced.Cpu * 1e3:F0} ms CPU, {acedRate / 1e9:F1} GFLOP/s = {acedRatio[r]:F3} / {acedVsOpenBlas[r]:F3} | " +
                $"libtorch step {libtorch.Wall * 1e3:F0} ms wall, {libtorch.Cpu * 1e3:F0} ms CPU (fwd+loss {phases.Forward / StepCalls * 1e3:F0}, bwd {phases.Backward / StepCalls * 1e3:F0}, clip+AdamW {phases.Update / StepCalls * 1e3:F0}), " +
                $"{torchRate / 1e9:F1} GFLOP/s = {torchRatio[r]:F3} / {torchVsOpenBlas[r]:F3} | libtorch/Aced time {timeRatio[r]:F2}");
        }

        Console.WriteLine(
            $"batch {batch} medians over {rounds} rounds (of Aced's SGEMM / of OpenBLAS's SGEMM): Aced step {Median(acedRatio):F3} / {Median(acedVsOpenBlas):F3}, " +
            $"libtorch step {Median(torchRatio):F3} / {Median(torchVsOpenBlas):F3}; libtorch/Aced time {Median(timeRatio):F2} (range {Min(timeRatio):F2}-{Max(timeRatio):F2}); " +
            $"last losses Aced {acedLoss:F6}, libtorch {torchLoss:F6}");
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

    /// <summary>Mean wall and process CPU seconds per call over <paramref name="calls"/> calls, after a 20 ms pause.</summary>
    private static (double Wall, double Cpu) Time(Action call, int calls)
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

        double wall = Stopwatch.GetElapsedTime(start).TotalSeconds / calls;
        process.Refresh();
        return (wall, (process.TotalProcessorTime - cpu0).TotalSeconds / calls);
    }

    private static double Median(double[] values)
    {
        double[] sorted = (double[])values.Clone();
        Array.Sort(sorted);
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[(n / 2) - 1] + sorted[n / 2]) / 2;
    }

    private static double Min(double[] values)
    {
        double min = double.MaxValue;
        foreach (double v in values)
        {
            min = Math.Min(min, v);
        }

        return min;
    }

    private static double Max(double[] values)
    {
        double max = double.MinValue;
        foreach (double v in values)
        {
            max = Math.Max(max, v);
        }

        return max;
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
