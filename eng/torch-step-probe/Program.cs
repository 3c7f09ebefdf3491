using System;
using System.Collections.Generic;
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
/// Same-process yardstick of issue 12's training-step target. Per round, in rotating order: Aced's managed step (the
/// benchmark's own <see cref="TrainingStepBenchmarks.TrainingStep"/>) and the same step on CPU libtorch through
/// TorchSharp twice (<see cref="TorchStep"/>: Aced.TorchSharp's towers, and <see cref="FusedTowers"/>), all from the
/// same initial weights on the same batch with the same optimizer; between them, the 1024^3 SGEMMs of Aced and
/// OpenBLAS (the benchmark's <c>Sgemm1024</c> and <c>OpenBlasSgemm1024</c>) and of libtorch (<see cref="TorchSgemm"/>),
/// all at the same thread count. Each step's model GFLOP/s (the benchmark's convention, 3x the forward FLOPs) is
/// printed over each SGEMM's GFLOP/s of the same round, by wall and by process CPU time. Before timing it checks that
/// the steps do the same work: parameter counts, embedding shapes and values from the same weights, and the losses of
/// the first steps. Usage: <c>TorchStepProbe [rounds=5] [batches=256,61] [threads=2] [contenders=all|aced]</c>; with
/// <c>aced</c> the rounds time only Aced's step between the SGEMMs (many short rounds for the step-over-SGEMM ratio
/// alone, without libtorch's steps in between). <c>ACED_DIAG_OFF</c> turns internal switches off for the run
/// (<see cref="Aced.Benchmarks.Common.DiagSwitches"/>).
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
        string contenders = args.Length > 3 ? args[3] : "all";
        if (contenders is not ("all" or "aced"))
        {
            throw new ArgumentException($"contenders must be 'all' or 'aced', not '{contenders}'", nameof(args));
        }
        Aced.Benchmarks.Common.DiagSwitches.ApplyFromEnvironment();
        AcedControl.MaxDegreeOfParallelism = threads;
        torch.set_num_threads(threads);
        Console.WriteLine($"torch-step-probe: {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss} UTC, load {Load()}, {rounds} rounds, {threads} threads");
        Console.WriteLine($"Aced: {AcedControl.Describe()}");
        Console.WriteLine($"libtorch: torch.get_num_threads() {torch.get_num_threads()}, get_num_interop_threads() {torch.get_num_interop_threads()}; OMP_WAIT_POLICY={Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") ?? "(unset)"}");
        Console.WriteLine(LibTorchInfo.Config().TrimEnd());
        Console.WriteLine(LibTorchInfo.ParallelInfo().TrimEnd());
        foreach (string batch in batches)
        {
            Compare(int.Parse(batch, CultureInfo.InvariantCulture), rounds, acedOnly: contenders == "aced");
        }

        Console.WriteLine($"end {DateTime.UtcNow:HH:mm:ss} UTC, load {Load()}");
    }

    private static void Compare(int batch, int rounds, bool acedOnly)
    {
        var bench = new TrainingStepBenchmarks { Batch = batch };
        bench.SetupOpenBlas(); // the benchmark's set-up: OpenBLAS at Aced's thread count, model, batch, one step
        TwoTowerConfig config = TrainingStepBenchmarks.ReferenceConfig();
        (Matrix images, int[] tokens) = TrainingStepBenchmarks.ReferenceBatch(batch);
        var initial = new TwoTowerModel(config, 1); // the benchmark's model before its first step
        using TorchStep? towers = acedOnly ? null : new TorchStep(initial, config, images, tokens, LearningRate, fused: false);
        using TorchStep? fused = acedOnly ? null : new TorchStep(initial, config, images, tokens, LearningRate, fused: true);
        double stepFlops = bench.FlopCount(nameof(TrainingStepBenchmarks.TrainingStep));
        double sgemmFlops = bench.FlopCount(nameof(TrainingStepBenchmarks.Sgemm1024));
        Console.WriteLine($"batch {batch}: {stepFlops / 1e9:F2} GFLOP/step (3x forward)");
        var steps = new List<Contender> { new("Aced", () => bench.TrainingStep(), null) };
        if (towers is not null && fused is not null)
        {
            CheckSameWork(initial, images, tokens, "libtorch (Aced.TorchSharp's towers)", towers);
            CheckSameWork(initial, images, tokens, "libtorch (fused ops)", fused);
            steps.Add(new("libtorch towers", towers.Step, towers));
            steps.Add(new("libtorch fused", fused.Step, fused));
        }

        using var torchSgemm = new TorchSgemm(1024);
        Action[] yardsticks = [() => bench.Sgemm1024(), () => bench.OpenBlasSgemm1024(), torchSgemm.Multiply];

        Contender[] all = [.. steps];
        Lockstep(all, yardsticks);
        var results = new RoundResult[rounds];
        for (int r = 0; r < rounds; r++)
        {
            results[r] = Round(r, all, yardsticks, sgemmFlops, stepFlops);
            Print(r, results[r], all);
        }

        Console.WriteLine($"batch {batch}, medians of {rounds} rounds (range), step model GFLOP/s over each SGEMM's GFLOP/s and step time over Aced's:");
        for (int s = 0; s < all.Length; s++)
        {
            Console.WriteLine(
                $"  {all[s].Name,-16} over Aced's SGEMM {Median(results, x => x.OverSgemm(s, 0))}; over OpenBLAS's {Median(results, x => x.OverSgemm(s, 1))}; " +
                $"over libtorch's {Median(results, x => x.OverSgemm(s, 2))}; time / Aced's {Median(results, x => x.Steps[s] / x.Steps[0])}; last loss {all[s].LastLoss:F6}");
        }
    }

    /// <summary>
    /// The benchmark's set-up made Aced's step 1, so the torch models make theirs here; then all make steps 2, 3, ...
    /// in turn (the first losses printed), with the yardsticks between, as the warm-up.
    /// </summary>
    private static void Lockstep(Contender[] steps, Action[] yardsticks)
    {
        foreach (Contender c in steps)
        {
            c.Torch?.Step();
        }

        for (int k = 0; k < CheckedSteps + WarmupSteps; k++)
        {
            string line = $"  step {k + 2}: loss";
            foreach (Contender c in steps)
            {
                c.LastLoss = c.Step();
                line += $" {c.Name} {c.LastLoss:F6}";
            }

            if (k < CheckedSteps)
            {
                Console.WriteLine(line);
            }

            TimeEach(yardsticks);
        }
    }

    /// <summary>
    /// One round: the SGEMMs run before, between and after the steps (whose order rotates from round to round), so
    /// their mean brackets the steps in time on a machine whose speed drifts.
    /// </summary>
    private static RoundResult Round(int round, Contender[] steps, Action[] yardsticks, double sgemmFlops, double stepFlops)
    {
        Timing[] sgemms = TimeEach(yardsticks);
        var timings = new Timing[steps.Length];
        for (int i = 0; i < steps.Length; i++)
        {
            Contender c = steps[(i + round) % steps.Length];
            c.Torch?.ResetPhases();
            timings[(i + round) % steps.Length] = Time(() => c.LastLoss = c.Step(), StepCalls);
            AddTo(sgemms, TimeEach(yardsticks));
        }

        for (int y = 0; y < sgemms.Length; y++)
        {
            sgemms[y] /= steps.Length + 1;
        }

        return new RoundResult(sgemms, timings, sgemmFlops, stepFlops);
    }

    private static void Print(int round, RoundResult x, Contender[] steps)
    {
        Console.WriteLine(
            $"  round {round} {DateTime.UtcNow:HH:mm:ss} UTC: 1024^3 SGEMM GFLOP/s (wall) Aced {x.Peak(0).Wall / 1e9:F1}, OpenBLAS {x.Peak(1).Wall / 1e9:F1}, libtorch {x.Peak(2).Wall / 1e9:F1}");
        for (int s = 0; s < steps.Length; s++)
        {
            Timing t = x.Steps[s];
            string phases = "";
            if (steps[s].Torch is { } torch)
            {
                (double f, double b, double u) = torch.MeanPhases;
                phases = $"; forward + loss {f * 1e3:F0} ms, backward {b * 1e3:F0} ms, clip + AdamW + clamp {u * 1e3:F0} ms";
            }

            Console.WriteLine(
                $"    {steps[s].Name,-16} {t.Wall * 1e3,5:F0} ms wall, {t.Cpu * 1e3,5:F0} ms CPU, time / Aced's {t.Wall / x.Steps[0].Wall:F2}; over the SGEMM of Aced {x.OverSgemm(s, 0).Wall:F3}, " +
                $"OpenBLAS {x.OverSgemm(s, 1).Wall:F3}, libtorch {x.OverSgemm(s, 2).Wall:F3} (CPU time: {x.OverSgemm(s, 0).Cpu:F3}, {x.OverSgemm(s, 1).Cpu:F3}, {x.OverSgemm(s, 2).Cpu:F3}){phases}");
        }
    }

    /// <summary>Median, quartiles, smallest and largest of a wall and a CPU figure over the rounds.</summary>
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
        return $"wall {Spread(wall)}, CPU {Spread(cpu)}";

        // median (quartiles; smallest-largest) of sorted values; the quartiles are the middle half's ends
        static string Spread(double[] v) =>
            $"{v[v.Length / 2]:F3} (quartiles {v[v.Length / 4]:F3}-{v[(3 * v.Length) / 4]:F3}; {v[0]:F3}-{v[^1]:F3})";
    }

    /// <summary>A timed training step: its name, the call, the torch step behind it (for the phase times), its last loss.</summary>
    private sealed class Contender(string name, Func<float> step, TorchStep? torch)
    {
        public string Name { get; } = name;

        public Func<float> Step { get; } = step;

        public TorchStep? Torch { get; } = torch;

        public float LastLoss { get; set; }
    }

    /// <summary>Prints and checks that both models have the same parameters and encode the batch alike.</summary>
    private static void CheckSameWork(TwoTowerModel managed, Matrix images, int[] tokens, string label, TorchStep torchStep)
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
            $"  {label} against Aced: parameters {torchStep.ParameterCount:N0} and {managedCount:N0} floats ({managed.Parameters.Count} tensors); " +
            $"embeddings [{zi.Rows}, {zi.Columns}] x2 and [{string.Join(", ", shape)}] x2, largest difference {difference:E1}");
        if (managedCount != torchStep.ParameterCount || shape[0] != zi.Rows || shape[1] != zi.Columns || !(difference < 1e-4))
        {
            throw new InvalidOperationException($"{label} does not compute what the managed step computes");
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
