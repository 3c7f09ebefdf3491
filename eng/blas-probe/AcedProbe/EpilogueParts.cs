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
    /// The bias (and GELU) epilogue's arithmetic with its outputs in a small per-thread buffer that stays in L1 instead
    /// of y: the epilogue without its memory traffic.
    /// </summary>
    private readonly struct BiasToScratch(float[] bias, bool gelu) : IGemmEpilogue
    {
        [ThreadStatic]
        private static float[]? t_rows;

        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
            float[] scratch = t_rows ??= new float[2 * 1024];
            ReadOnlySpan<float> b = bias.AsSpan(columnStart, columns);
            for (int r = 0; r < rows; r++)
            {
                RowMath.BiasRow(tile.Slice(r * stride, columns), b, default, scratch.AsSpan(0, columns), gelu ? scratch.AsSpan(1024, columns) : default);
            }
        }
    }

    /// <summary>
    /// The bias epilogue (y = tile + b) with y written by non-temporal stores where a row's 64-byte lines are whole
    /// (plain stores at the row's ends): the same values, no read for ownership and no cache allocation.
    /// </summary>
    private readonly unsafe struct BiasNonTemporal(float[] y, int ld, float[] bias) : IGemmEpilogue
    {
        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
            fixed (float* py = y, pb = bias, pt = tile)
            {
                for (int r = 0; r < rows; r++)
                {
                    float* dst = py + ((nint)(rowStart + r) * ld) + columnStart;
                    float* src = pt + ((nint)r * stride);
                    int head = (int)((64 - ((long)dst & 63)) & 63) / 4;
                    head = Math.Min(head, columns);
                    int i = 0;
                    for (; i < head; i++)
                    {
                        dst[i] = src[i] + pb[columnStart + i];
                    }

                    for (; i + 16 <= columns; i += 16)
                    {
                        System.Runtime.Intrinsics.Vector512<float> v = System.Runtime.Intrinsics.Vector512.Load(src + i) + System.Runtime.Intrinsics.Vector512.Load(pb + columnStart + i);
                        System.Runtime.Intrinsics.X86.Avx512F.StoreAlignedNonTemporal(dst + i, v);
                    }

                    for (; i < columns; i++)
                    {
                        dst[i] = src[i] + pb[columnStart + i];
                    }
                }
            }
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
        Aced.Benchmarks.Common.DiagSwitches.ApplyFromEnvironment();
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
            ("bias->L1", () => Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 1f, x, w, new BiasToScratch(bias, false))),
            ("GELU->L1", () => Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 1f, x, w, new BiasToScratch(bias, true))),
            ("bias-NT", () => Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 1f, x, w, new BiasNonTemporal(y.Array, n, bias))),
        };
        if (n == 384)
        {
            // The step's qkv call: head-major (64 tokens, 4 heads), and with the attention forward inside it.
            float[] probs = new float[m / 64 * 4 * 64 * 64];
            var output = new MatrixView(new float[m * 128], m, 128);
            variants = [.. variants, ("headmajor", () => Attention.ProjectHeadMajor(x, w, bias, y, 64, 4)), ("hm+attn", () => Attention.ProjectAndForward(x, w, bias, y, m / 64, 64, 4, false, probs, output))];
        }

        // ACED_PROBE_AB="Full.Type.Switch": every epilogue variant twice, the switch off then on (same-process A/B).
        string? ab = Environment.GetEnvironmentVariable("ACED_PROBE_AB");
        if (!string.IsNullOrEmpty(ab))
        {
            int dot = ab.LastIndexOf('.');
            System.Reflection.PropertyInfo property = (typeof(Gemm).Assembly.GetType(ab[..dot]) ?? typeof(Linear).Assembly.GetType(ab[..dot]))?.GetProperty(ab[(dot + 1)..], System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)
                ?? throw new ArgumentException($"No switch {ab} (ACED_PROBE_AB).");
            var doubled = new System.Collections.Generic.List<(string, Action)>();
            foreach ((string vName, Action call) in variants)
            {
                if (vName == "plain")
                {
                    doubled.Add((vName, () => { property.SetValue(null, true); call(); }));
                    continue;
                }

                doubled.Add((vName + "/off", () => { property.SetValue(null, false); call(); }));
                doubled.Add((vName + "/on", () => { property.SetValue(null, true); call(); }));
            }

            variants = doubled.ToArray();
        }

        string loadBefore = File.ReadAllText("/proc/loadavg").Trim();
        double[][] times = BestOfThreeRounds(Array.ConvertAll(variants, v => v.Call), rounds);

        // Paired per round (before the medians sort the times).
        string pairs = string.Empty;
        for (int v = 1; v + 1 < variants.Length; v++)
        {
            if (variants[v].Name.EndsWith("/off", StringComparison.Ordinal) && variants[v + 1].Name.EndsWith("/on", StringComparison.Ordinal))
            {
                var ratios = new double[rounds];
                for (int r = 0; r < rounds; r++)
                {
                    ratios[r] = times[v + 1][r] / times[v][r];
                }

                Array.Sort(ratios);
                pairs += $" [{variants[v].Name[..^4]} on/off {Interleaved.Median(ratios):F3} ({ratios[0]:F3}-{ratios[^1]:F3})]";
            }
        }

        double flops = 2.0 * m * n * k;
        double plain = Interleaved.Median(times[0]);
        string line = $"{name}:";
        for (int v = 0; v < variants.Length; v++)
        {
            double t = Interleaved.Median(times[v]);
            line += $" {variants[v].Name} {t * 1e3:F2} ms ({flops / t / 1e9:F1} GFLOP/s, {plain / t:F3} of plain);";
        }

        Console.WriteLine($"{line}{pairs} | load {loadBefore} -> {File.ReadAllText("/proc/loadavg").Trim()}");
    }
}
