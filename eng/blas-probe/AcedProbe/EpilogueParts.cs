using System;
using System.Diagnostics;
using System.IO;
using Aced.Core;
using Aced.Models.Layers;

namespace Aced.BlasProbe;

/// <summary>
/// Where the time of the training forward's fused products goes (<c>AcedProbe epi-parts &lt;threads&gt; [rounds]</c>): per
/// shape of the image tower at batch 256 (16384 rows; qkv, attention out, fc1, fc2), rounds alternate the plain
/// <c>Gemm.Multiply</c> (the yardstick) and the fused path with ever more of the models' real epilogue (the layer calls
/// of <c>Linear</c>): a no-op epilogue (kernel and packing only), the bias (+ the store of y), + a residual read
/// (<c>ForwardResidual</c>), + the layer norm and its output (the fused norm), and bias + GELU with both outputs
/// (<c>ForwardGelu</c>); best of 3 calls each, medians over the rounds. The difference between neighbouring columns is the
/// cost of the part added. x is uniform in [-1, 1] and W in [-0.05, 0.05] (pre-activations of order 1, as in training:
/// large ones would make the GELU's exponentials underflow to denormals).
/// </summary>
internal static class EpilogueParts
{
    private readonly struct Noop : IGemmEpilogue
    {
        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
        }
    }

    /// <summary>
    /// Per variant and round, the best of 3 calls (seconds): one untimed warm-up round, then <paramref name="rounds"/>
    /// rounds, each calling every variant in turn.
    /// </summary>
    internal static double[][] BestOfThreeRounds(Action[] calls, int rounds)
    {
        var times = new double[calls.Length][];
        for (int v = 0; v < calls.Length; v++)
        {
            times[v] = new double[rounds];
        }

        for (int r = -1; r < rounds; r++)
        {
            for (int v = 0; v < calls.Length; v++)
            {
                double best = double.MaxValue;
                for (int i = 0; i < 3; i++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    calls[v]();
                    best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
                }

                if (r >= 0)
                {
                    times[v][r] = best;
                }
            }
        }

        return times;
    }

    public static void Run(int threads, int rounds)
    {
        GemmControl.MaxDegreeOfParallelism = threads;
        Console.WriteLine($"date {DateTime.UtcNow:yyyy-MM-ddTHH:mmZ}; threads {threads}; rounds {rounds}; {GemmControl.Describe()}");
        Shape("qkv  16384x384x128", 16384, 384, 128, rounds);
        Shape("out  16384x128x128", 16384, 128, 128, rounds);
        Shape("fc1  16384x512x128", 16384, 512, 128, rounds);
        Shape("fc2  16384x128x512", 16384, 128, 512, rounds);
    }

    private static void Shape(string name, int m, int n, int k, int rounds)
    {
        var rng = new Random(1);
        var x = new MatrixView(Interleaved.Fill(m * k, rng), m, k);
        float[] weights = Interleaved.Fill(k * n, rng);
        for (int i = 0; i < weights.Length; i++)
        {
            weights[i] *= 0.05f;
        }

        var w = new MatrixView(weights, k, n);
        float[] bias = Interleaved.Fill(n, rng);
        var y = new MatrixView(new float[m * n], m, n);
        var second = new MatrixView(new float[m * n], m, n);
        var residual = new MatrixView(Interleaved.Fill(m * n, rng), m, n);
        var norm = new LayerNormTarget(Interleaved.Fill(n, rng), Interleaved.Fill(n, rng), second, new float[m], new float[m]);
        (string Name, Action Call)[] variants =
        {
            ("plain", () => Gemm.Multiply(Transpose.None, Transpose.None, 1f, x, w, 0f, y)),
            ("noop", () => Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 1f, x, w, default(Noop))),
            ("bias", () => Linear.Forward(x, w, bias, y)),
            ("+res", () => Linear.ForwardResidual(x, w, bias, residual, y)),
            ("+res+LN", () => Linear.ForwardResidual(x, w, bias, residual, y, norm)),
            ("GELU", () => Linear.ForwardGelu(x, w, bias, y, second)),
        };

        string loadBefore = File.ReadAllText("/proc/loadavg").Trim();
        double[][] times = BestOfThreeRounds(Array.ConvertAll(variants, v => v.Call), rounds);

        double flops = 2.0 * m * n * k;
        double plain = Interleaved.Median(times[0]);
        string line = $"{name}:";
        for (int v = 0; v < variants.Length; v++)
        {
            double t = Interleaved.Median(times[v]);
            line += $" {variants[v].Name} {t * 1e3:F2} ms ({flops / t / 1e9:F1} GFLOP/s, {plain / t:F3} of plain);";
        }

        Console.WriteLine($"{line} | load {loadBefore} -> {File.ReadAllText("/proc/loadavg").Trim()}");
    }
}
