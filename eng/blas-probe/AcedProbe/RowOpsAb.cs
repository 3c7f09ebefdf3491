using System;
using System.IO;
using Aced.Core;
using Aced.Models.Layers;

namespace Aced.BlasProbe;

/// <summary>
/// Same-process A/B of the training step's row passes (<c>AcedProbe rowops &lt;threads&gt; [rounds]</c>) at the image
/// tower's batch-256 shapes, each old form (switch off) against the new one (on): the GELU backward with the fc1 bias sums
/// (<c>RowOps.GeluBackward</c> with column sums, 16384 x 512, as the step's profile times it; <c>RowOps.FusedGeluSums</c>).
/// After a 3 s warm-up of both forms (the tiered JIT), rounds alternate them (best of 3 calls each, CPU time: the thread's at 1 thread, the process's otherwise);
/// prints the medians of the per-round ratios new / old, and checks that both forms give the same bits.
/// </summary>
internal static class RowOpsAb
{
    public static void Run(int threads, int rounds)
    {
        GemmControl.MaxDegreeOfParallelism = threads;
        AcedControl.MaxDegreeOfParallelism = threads;
        Console.WriteLine($"date {DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ}; threads {threads}; rounds {rounds}; load {File.ReadAllText("/proc/loadavg").Trim()}");
        var rng = new Random(1);
        int m = 16384;
        int n = 512;
        var hidden = Matrix(m, n, 3f, rng);
        var dy = Matrix(m, n, 1f, rng);
        var dx = new MatrixView(new float[m * n], m, n);
        float[] sums = new float[n];
        Compare("GELU backward + bias sums 16384x512", on => RowOps.FusedGeluSums = on, () => RowOps.GeluBackward(hidden, dy, dx, sums), [dx.Array, sums], threads, rounds);

        // The same on 256 rows (three 512 KiB operands, from L2/L3: the arithmetic without the memory stream), 64 calls.
        MatrixView hiddenL2 = hidden.RowRange(0, 256);
        MatrixView dyL2 = dy.RowRange(0, 256);
        MatrixView dxL2 = dx.RowRange(0, 256);
        Compare("GELU backward + bias sums 256x512 (cached), 64 calls", on => RowOps.FusedGeluSums = on, () =>
        {
            for (int i = 0; i < 64; i++)
            {
                RowOps.GeluBackward(hiddenL2, dyL2, dxL2, sums);
            }
        }, [dx.Array, sums], threads, rounds);

        Console.WriteLine($"load after {File.ReadAllText("/proc/loadavg").Trim()}");
    }

    private static MatrixView Matrix(int rows, int columns, float scale, Random rng)
    {
        float[] values = Interleaved.Fill(rows * columns, rng);
        for (int i = 0; i < values.Length; i++)
        {
            values[i] *= scale;
        }

        return new MatrixView(values, rows, columns);
    }

    /// <summary>Times <paramref name="call"/> with the switch off and on, alternating; <paramref name="outputs"/> are cleared before each bit check.</summary>
    private static void Compare(string name, Action<bool> set, Action call, float[][] outputs, int threads, int rounds)
    {
        float[][] old = new float[outputs.Length][];
        bool same = true;
        for (int on = 0; on <= 1; on++)
        {
            set(on == 1);
            foreach (float[] o in outputs)
            {
                Array.Clear(o);
            }

            call();
            for (int i = 0; i < outputs.Length; i++)
            {
                if (on == 0)
                {
                    old[i] = (float[])outputs[i].Clone();
                }
                else
                {
                    same &= outputs[i].AsSpan().SequenceEqual(old[i]);
                }
            }
        }

        // Warm-up: both forms for at least 3 s, so the tiered JIT has replaced the loops' first code in both.
        long warm = System.Diagnostics.Stopwatch.GetTimestamp();
        while (System.Diagnostics.Stopwatch.GetElapsedTime(warm).TotalSeconds < 3)
        {
            set(false);
            call();
            set(true);
            call();
        }

        var ratios = new double[rounds];
        var times = new double[2][];
        times[0] = new double[rounds];
        times[1] = new double[rounds];
        try
        {
            for (int r = -1; r < rounds; r++)
            {
                for (int on = 0; on <= 1; on++)
                {
                    set(on == 1);
                    double best = double.MaxValue;
                    for (int i = 0; i < 3; i++)
                    {
                        double t0 = DwAb.CpuSeconds(threads);
                        call();
                        best = Math.Min(best, DwAb.CpuSeconds(threads) - t0);
                    }

                    if (r >= 0)
                    {
                        times[on][r] = best;
                    }
                }

                if (r >= 0)
                {
                    ratios[r] = times[1][r] / times[0][r];
                }
            }
        }
        finally
        {
            set(true);
        }

        Array.Sort(ratios);
        Array.Sort(times[0]);
        Array.Sort(times[1]);
        Console.WriteLine($"{name}: same bits {same}; old {times[0][rounds / 2] * 1e3:F2} ms, new {times[1][rounds / 2] * 1e3:F2} ms CPU (medians); new / old median {ratios[rounds / 2]:F3} (range {ratios[0]:F3}-{ratios[rounds - 1]:F3})");
    }
}
