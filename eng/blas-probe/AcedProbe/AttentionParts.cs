using System;
using System.Diagnostics;
using System.IO;
using Aced.Core;
using Aced.Models.Layers;

namespace Aced.BlasProbe;

/// <summary>
/// Where the time of the training forward's qkv projection with the attention forward inside its epilogue goes
/// (<c>AcedProbe attn-parts &lt;threads&gt; [rounds]</c>), at the step's shapes (batch 256, width 128, 4 heads of 32; the image
/// tower's T = 64, then the text tower's causal T = 32). Rounds alternate: the 1024^3 SGEMM (yardstick), the plain
/// product <c>x W</c>, the projection with its head-major bias epilogue (<c>Attention.ProjectHeadMajor</c>), the
/// projection with the forward inside its epilogue (<c>Attention.ProjectAndForward</c>, the step's call), and the forward
/// alone as a separate pass over the projected qkv (<c>Attention.Forward</c>); best of 3 calls each, medians. Then the
/// forward's stages on one thread (the K transpose, the scores product, the softmax, the output product), timed per head
/// both streaming over the batch and repeated on one example (operands in L1/L2), in µs per head. Last, the attention
/// backward over the projected qkv (the step's head-major call): its wall time, and its stages per head as the fused
/// path reports them to an <see cref="IAttentionProfiler"/> (stage stamps are wall time, so load on the machine lands
/// in whatever stage it interrupts).
/// </summary>
internal static class AttentionParts
{
    private const int Heads = 4;
    private const int Width = 128;
    private const int Batch = 256;

    public static void Run(int threads, int rounds)
    {
        Aced.Benchmarks.Common.DiagSwitches.ApplyFromEnvironment();
        GemmControl.MaxDegreeOfParallelism = threads;
        Console.WriteLine($"date {DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ}; threads {threads}; rounds {rounds}; {GemmControl.Describe()}");
        Shape(64, false, rounds);
        Shape(32, true, rounds);
    }

    private static void Shape(int tokens, bool causal, int rounds)
    {
        int m = Batch * tokens;
        var rng = new Random(1);
        var x = new MatrixView(Interleaved.Fill(m * Width, rng), m, Width);
        float[] weights = Interleaved.Fill(Width * 3 * Width, rng);
        for (int i = 0; i < weights.Length; i++)
        {
            weights[i] *= 0.2f;
        }

        var w = new MatrixView(weights, Width, 3 * Width);
        float[] bias = Interleaved.Fill(3 * Width, rng);
        var y = new MatrixView(new float[m * 3 * Width], m, 3 * Width);
        var qkv = new MatrixView(new float[m * 3 * Width], m, 3 * Width);
        var output = new MatrixView(new float[m * Width], m, Width);
        float[] probs = new float[Batch * Heads * tokens * tokens];
        var a = new MatrixView(Interleaved.Fill(1024 * 1024, rng), 1024, 1024);
        var b = new MatrixView(Interleaved.Fill(1024 * 1024, rng), 1024, 1024);
        var c = new MatrixView(new float[1024 * 1024], 1024, 1024);
        (string Name, Action Call, double Flops)[] variants =
        {
            ("sgemm1024", () => Gemm.Multiply(Transpose.None, Transpose.None, 1f, a, b, 0f, c), 2.0 * 1024 * 1024 * 1024),
            ("plain", () => Gemm.Multiply(Transpose.None, Transpose.None, 1f, x, w, 0f, y), 2.0 * m * 3 * Width * Width),
            ("proj", () => Attention.ProjectHeadMajor(x, w, bias, qkv, tokens, Heads), 2.0 * m * 3 * Width * Width),
            ("proj+fwd", () => Attention.ProjectAndForward(x, w, bias, qkv, Batch, tokens, Heads, causal, probs, output), 2.0 * m * 3 * Width * Width),
            ("fwd", () => Attention.Forward(qkv, true, Batch, tokens, Heads, causal, probs, output), 0),
        };

        string loadBefore = File.ReadAllText("/proc/loadavg").Trim();
        double[][] times = EpilogueParts.BestOfThreeRounds(Array.ConvertAll(variants, v => v.Call), rounds);

        double sgemm = variants[0].Flops / Interleaved.Median(times[0]);
        double attentionFlops = 4.0 * Batch * Heads * tokens * tokens * (Width / Heads);
        Console.WriteLine($"T={tokens}{(causal ? " causal" : string.Empty)}, {m} rows: attention products {attentionFlops / 1e9:F3} GFLOP per layer; load {loadBefore} -> {File.ReadAllText("/proc/loadavg").Trim()}");
        for (int v = 0; v < variants.Length; v++)
        {
            double t = Interleaved.Median(times[v]);
            double flops = variants[v].Flops;
            string rate = flops > 0 ? $"{flops / t / 1e9:F1} GFLOP/s = {flops / t / sgemm:F3} of SGEMM" : $"attention products {attentionFlops / t / 1e9:F1} GFLOP/s = {attentionFlops / t / sgemm:F3} of SGEMM";
            Console.WriteLine($"  {variants[v].Name,-10} {t * 1e3,8:F2} ms  {rate}; at SGEMM speed {(flops > 0 ? flops : attentionFlops) / sgemm * 1e3:F2} ms");
        }

        Stages(tokens, causal, qkv, probs, output, false, false);
        Stages(tokens, causal, qkv, probs, output, true, false);
        Stages(tokens, causal, qkv, probs, output, false, true);
        BackwardStages(tokens, qkv, probs, rounds, rng);
    }

    /// <summary>
    /// The attention backward over the projected qkv (head-major, as the step runs it): wall time of the layer call (best of
    /// 3, median over rounds), then one profiled round's stages (thread time of both threads, per head).
    /// </summary>
    private static void BackwardStages(int tokens, MatrixView qkv, float[] probs, int rounds, Random rng)
    {
        int m = Batch * tokens;
        var dOut = new MatrixView(Interleaved.Fill(m * Width, rng), m, Width);
        var dQkv = new MatrixView(new float[m * 3 * Width], m, 3 * Width);
        float[] dProbs = new float[probs.Length];
        double[][] times = EpilogueParts.BestOfThreeRounds([() => Attention.Backward(qkv, true, Batch, tokens, Heads, probs, dOut, dQkv, dProbs)], rounds);
        double flops = 8.0 * Batch * Heads * tokens * tokens * (Width / Heads);
        double wall = Interleaved.Median(times[0]);
        long subnormal = 0;
        foreach (float value in probs)
        {
            subnormal += float.IsSubnormal(value) ? 1 : 0;
        }

        Console.WriteLine($"  probabilities: {subnormal} of {probs.Length} subnormal");
        Console.WriteLine($"  backward layer call {wall * 1e3:F2} ms (products {flops / 1e9:F3} GFLOP, {flops / wall / 1e9:F1} GFLOP/s)");
        IGemmProvider original = GemmControl.Provider;
        var profiler = new StageProfiler();
        GemmControl.Provider = profiler;
        try
        {
            for (int r = 0; r < 3; r++)
            {
                profiler.Clear();
                Attention.Backward(qkv, true, Batch, tokens, Heads, probs, dOut, dQkv, dProbs);
            }
        }
        finally
        {
            GemmControl.Provider = original;
        }

        var parts = new System.Text.StringBuilder();
        double total = 0;
        foreach ((string name, long ticks) in profiler.Stages)
        {
            double us = ticks * 1e6 / Stopwatch.Frequency / (Batch * Heads);
            total += us;
            parts.Append($"{name} {us:F2}; ");
        }

        Console.WriteLine($"  backward stages, thread time per head (µs, last of 3 profiled calls): {parts}sum {total:F2}");
    }

    /// <summary>A managed-provider wrapper that only collects the fused attention's stage times.</summary>
    private sealed class StageProfiler : IGemmProvider, IAttentionProfiler
    {
        private readonly object _gate = new();

        public System.Collections.Generic.SortedDictionary<string, long> Stages { get; } = new(StringComparer.Ordinal);

        public string Name => "stage profiler";

        public bool WrapsManagedProvider => true;

        public void Clear() => Stages.Clear();

        public void Sgemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc) =>
            ManagedGemmProvider.Instance.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

        public void EnterLayer()
        {
        }

        public void ExitLayer()
        {
        }

        public void RecordProducts(Transpose transA, Transpose transB, int m, int n, int k, long count, long ticks) =>
            Add($"{(transA == Transpose.None ? "N" : "T")}{(transB == Transpose.None ? "N" : "T")} {m}x{n}x{k}", ticks);

        public void RecordPass(string name, long count, long ticks) => Add(name, ticks);

        private void Add(string name, long ticks)
        {
            lock (_gate)
            {
                Stages[name] = (Stages.TryGetValue(name, out long old) ? old : 0) + ticks;
            }
        }
    }

    /// <summary>
    /// The forward's four stages per head on the calling thread, over the batch or repeated on example 0; with
    /// <paramref name="scratchScores"/> each head's score block is one reused block instead of its place in the
    /// probabilities (the cost of writing them).
    /// </summary>
    private static void Stages(int tokens, bool causal, MatrixView qkv, float[] probs, MatrixView output, bool oneExample, bool scratchScores)
    {
        int t = tokens;
        int hd = Width / Heads;
        int block = t * hd;
        int ldo = output.Stride;
        float[] transposed = new float[hd * t];
        var ticks = new long[4];
        var best = new double[4];
        Array.Fill(best, double.MaxValue);
        for (int rep = 0; rep < 4; rep++)
        {
            Array.Clear(ticks);
            for (int e = 0; e < Batch; e++)
            {
                int ex = oneExample ? 0 : e;
                ReadOnlySpan<float> example = qkv.Array.AsSpan(ex * 3 * Width * t, 3 * Width * t);
                for (int h = 0; h < Heads; h++)
                {
                    ReadOnlySpan<float> q = example.Slice(h * block, block);
                    ReadOnlySpan<float> k = example.Slice((Heads + h) * block, block);
                    ReadOnlySpan<float> v = example.Slice(((2 * Heads) + h) * block, block);
                    Span<float> p = probs.AsSpan(scratchScores ? 0 : ((ex * Heads) + h) * t * t, t * t);
                    long s0 = Stopwatch.GetTimestamp();
                    SmallGemm.TransposeInto(t, hd, k, hd, transposed);
                    long s1 = Stopwatch.GetTimestamp();
                    SmallGemm.MultiplyNN(t, t, hd, 1f / MathF.Sqrt(hd), q, hd, transposed, t, false, p, t);
                    long s2 = Stopwatch.GetTimestamp();
                    AttentionSoftmax.Forward(p, t, t, causal);
                    long s3 = Stopwatch.GetTimestamp();
                    SmallGemm.MultiplyNN(t, hd, t, 1f, p, t, v, hd, false, output.Array.AsSpan((ex * t * ldo) + (h * hd)), ldo);
                    long s4 = Stopwatch.GetTimestamp();
                    ticks[0] += s1 - s0;
                    ticks[1] += s2 - s1;
                    ticks[2] += s3 - s2;
                    ticks[3] += s4 - s3;
                }
            }

            for (int s = 0; s < 4; s++)
            {
                best[s] = Math.Min(best[s], ticks[s] * 1e6 / Stopwatch.Frequency / (Batch * Heads));
            }
        }

        double productFlops = 2.0 * t * t * hd;
        Console.WriteLine(
            $"  stages, 1 thread, {(oneExample ? "example 0 repeated (cache)" : "streaming the batch")}{(scratchScores ? ", scores in one reused block" : string.Empty)}, µs per head (best of 4): " +
            $"K^T {best[0]:F2}, scores {best[1]:F2} ({productFlops / best[1] / 1e3:F1} GFLOP/s), softmax {best[2]:F2}, " +
            $"output {best[3]:F2} ({productFlops / best[3] / 1e3:F1} GFLOP/s); sum {best[0] + best[1] + best[2] + best[3]:F2}");
    }
}
