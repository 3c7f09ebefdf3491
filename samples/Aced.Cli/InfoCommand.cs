using System;
using System.CommandLine;
using System.Diagnostics;
using Aced.Core;

namespace Aced.Cli;

/// <summary><c>aced info</c>: describes the compute back-end and measures SGEMM throughput on this machine.</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var size = CliOptions.Number("--size", "Square GEMM size used for the throughput check, in [1, 8192].", 1024);
        var repeats = CliOptions.Number("--repeats", "Timed repetitions (the best is reported).", 3);
        var command = new Command("info", "Describe the SGEMM provider and measure its GFLOP/s on this machine.") { size, repeats };
        command.SetAction(parse => CommandRunner.Run(() => Execute(parse.GetValue(size), parse.GetValue(repeats), parse.InvocationConfiguration.Output), parse.InvocationConfiguration.Error));
        return command;
    }

    private static int Execute(int n, int repeats, System.IO.TextWriter stdout)
    {
        if (n < 1 || n > 8192)
        {
            throw new CliException($"--size must be in [1, 8192] (was {n})");
        }

        if (repeats < 1)
        {
            throw new CliException($"--repeats must be at least 1 (was {repeats})");
        }

        var rng = new CounterRng(1);
        var a = new Matrix(n, n);
        var b = new Matrix(n, n);
        var c = new Matrix(n, n);
        for (int i = 0; i < a.Data.Length; i++)
        {
            a.Data[i] = rng.NextNormal();
            b.Data[i] = rng.NextNormal();
        }

        Gemm.Multiply(a, b, c); // warm-up (JIT, thread pool)
        double best = double.MaxValue;
        for (int r = 0; r < repeats; r++)
        {
            long start = Stopwatch.GetTimestamp();
            Gemm.Multiply(a, b, c);
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }

        double gflops = 2.0 * n * n * n / best / 1e9;
        var summary = new
        {
            provider = GemmControl.Describe(),
            size = n,
            seconds = best,
            gflops,
        };
        stdout.WriteLine(CliJson.Serialize(summary));
        return 0;
    }
}
