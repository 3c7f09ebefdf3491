using System;
using System.IO;
using Aced.Core;
using Aced.Models.Layers;

namespace Aced.BlasProbe;

/// <summary>
/// Same-process A/B of the GELU paths (<c>AcedProbe gelu-ab &lt;threads&gt; [rounds]</c>) at the image tower's batch-256
/// shapes: the GELU backward with the fc1 bias sums (<c>RowOps.GeluBackward</c> with column sums, 16384 x 512, as the
/// step's profile times it) old (separate sum pass, plain loop), with the sums fused, and fused + software-pipelined;
/// and fc1's forward (<c>Linear.ForwardGelu</c>, 16384 x 512 x 128) with the plain and the pipelined GELU loop. Rounds
/// alternate the variants (best of 3 calls each, CPU time: the thread's at 1 thread, the process's otherwise); prints
/// medians of the per-round ratios to the old form, and checks that every variant's outputs are the old bits.
/// </summary>
internal static class GeluAb
{
    public static void Run(int threads, int rounds)
    {
        GemmControl.MaxDegreeOfParallelism = threads;
        AcedControl.MaxDegreeOfParallelism = threads;
        Console.WriteLine($"date {DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ}; threads {threads}; rounds {rounds}; load {File.ReadAllText("/proc/loadavg").Trim()}");
        var rng = new Random(1);
        int m = 16384;
        int n = 512;
        int k = 128;
        var hidden = new MatrixView(Interleaved.Fill(m * n, rng), m, n);
        for (int i = 0; i < hidden.Array.Length; i++)
        {
            hidden.Array[i] *= 3f;
        }

        var dy = new MatrixView(Interleaved.Fill(m * n, rng), m, n);
        var dx = new MatrixView(new float[m * n], m, n);
        float[] sums = new float[n];
        var x = new MatrixView(Interleaved.Fill(m * k, rng), m, k);
        float[] weights = Interleaved.Fill(k * n, rng);
        for (int i = 0; i < weights.Length; i++)
        {
            weights[i] *= 0.05f;
        }

        var w = new MatrixView(weights, k, n);
        float[] bias = Interleaved.Fill(n, rng);
        var y = new MatrixView(new float[m * n], m, n);
        var gelu = new MatrixView(new float[m * n], m, n);

        (string Name, Action<bool> Set, Action Call)[] variants =
        {
            ("bwd old", on => { RowOps.FusedGeluSums = false; RowMath.PipelinedGelu = false; }, () => RowOps.GeluBackward(hidden, dy, dx, sums)),
            ("bwd fused sums", on => { RowOps.FusedGeluSums = true; RowMath.PipelinedGelu = false; }, () => RowOps.GeluBackward(hidden, dy, dx, sums)),
            ("bwd fused+pipelined", on => { RowOps.FusedGeluSums = true; RowMath.PipelinedGelu = true; }, () => RowOps.GeluBackward(hidden, dy, dx, sums)),
            ("fc1 fwd old", on => RowMath.PipelinedGelu = false, () => Linear.ForwardGelu(x, w, bias, y, gelu)),
            ("fc1 fwd pipelined", on => RowMath.PipelinedGelu = true, () => Linear.ForwardGelu(x, w, bias, y, gelu)),
        };

        // Bits: every variant against its group's old form.
        float[]? refDx = null;
        float[]? refSums = null;
        float[]? refGelu = null;
        for (int v = 0; v < variants.Length; v++)
        {
            variants[v].Set(true);
            Array.Clear(sums);
            variants[v].Call();
            if (v < 3)
            {
                refDx ??= (float[])dx.Array.Clone();
                refSums ??= (float[])sums.Clone();
                Console.WriteLine($"{variants[v].Name}: dx same {dx.Array.AsSpan().SequenceEqual(refDx)}, sums same {sums.AsSpan().SequenceEqual(refSums)}");
            }
            else
            {
                refGelu ??= (float[])gelu.Array.Clone();
                Console.WriteLine($"{variants[v].Name}: gelu same {gelu.Array.AsSpan().SequenceEqual(refGelu)}");
            }
        }

        var times = new double[variants.Length][];
        for (int v = 0; v < variants.Length; v++)
        {
            times[v] = new double[rounds];
        }

        for (int r = -1; r < rounds; r++)
        {
            for (int v = 0; v < variants.Length; v++)
            {
                variants[v].Set(true);
                double best = double.MaxValue;
                for (int i = 0; i < 3; i++)
                {
                    double t0 = DwAb.CpuSeconds(threads);
                    variants[v].Call();
                    best = Math.Min(best, DwAb.CpuSeconds(threads) - t0);
                }

                if (r >= 0)
                {
                    times[v][r] = best;
                }
            }
        }

        RowOps.FusedGeluSums = true;
        RowMath.PipelinedGelu = true;
        for (int v = 0; v < variants.Length; v++)
        {
            int baseline = v < 3 ? 0 : 3;
            var ratios = new double[rounds];
            for (int r = 0; r < rounds; r++)
            {
                ratios[r] = times[v][r] / times[baseline][r];
            }

            Array.Sort(ratios);
            double[] sorted = (double[])times[v].Clone();
            Array.Sort(sorted);
            Console.WriteLine($"{variants[v].Name,-22} median {sorted[rounds / 2] * 1e3,8:F2} ms CPU; / old: median {ratios[rounds / 2]:F3} (range {ratios[0]:F3}-{ratios[rounds - 1]:F3})");
        }

        Console.WriteLine($"load after {File.ReadAllText("/proc/loadavg").Trim()}");
    }
}
