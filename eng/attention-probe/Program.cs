using System;
using System.Diagnostics;
using System.Globalization;
using Aced.Core;
using Aced.Models.Layers;

namespace Aced.AttentionProbe;

/// <summary>
/// Same-process A/B probe of the transformer attention at the training step's shapes (4 heads of 32; T = 64, then
/// T = 32 causal). Each round times, with a switch on and off in alternating order, (a) the qkv projection x W + b
/// plus the attention forward as the transformer block runs them and (b) the attention backward, in process CPU time
/// (robust to other processes taking the cores); prints the medians and their ratio (on / off).
/// Usage: <c>AttentionProbe ab &lt;switch&gt; [rounds=11] [threads=2] [batch=256]</c>, switch one of spread, pack, hm,
/// fip, pfo, inplace, tuned, causal, tri, groups, none; <c>AttentionProbe bwdloop [rounds=40] [threads=1] [T=64]</c> runs forward, a 32 MiB cache
/// flush and the backward per round (for <c>perf record</c>).
/// </summary>
public static class Program
{
    private const int Heads = 4;
    private const int Width = 128;

    public static void Main(string[] args)
    {
        string mode = args.Length > 0 ? args[0] : "ab";
        if (mode == "bwdloop")
        {
            GemmControl.MaxDegreeOfParallelism = Arg(args, 2, 1);
            BackwardLoop(Arg(args, 1, 40), Arg(args, 3, 64));
            return;
        }

        string name = args.Length > 1 ? args[1] : "spread";
        Action<bool> set = Switch(name);
        GemmControl.MaxDegreeOfParallelism = Arg(args, 3, 2);
        int rounds = Arg(args, 2, 11);
        int batch = Arg(args, 4, 256);
        Console.WriteLine($"switch {name}, {rounds} rounds, {GemmControl.MaxDegreeOfParallelism} threads, batch {batch}");
        foreach ((int tokens, bool causal) in new[] { (64, false), (32, true) })
        {
            AbChain(set, rounds, batch, tokens, causal);
        }
    }

    private static int Arg(string[] args, int index, int fallback) =>
        args.Length > index ? int.Parse(args[index], CultureInfo.InvariantCulture) : fallback;

    private static Action<bool> Switch(string name) => name switch
    {
        "spread" => on => Attention.SpreadPrefetch = on,
        "pack" => on => Attention.PackExamples = on,
        "hm" => on => Attention.HeadMajorQkv = on,
        "fip" => on => Attention.ForwardInProjection = on,
        "pfo" => on => Attention.PrefetchOutputs = on,
        "tuned" => on => Attention.TunedKernels = on,
        "causal" => on => AttentionSoftmax.VectorCausal = on,
        "tri" => on => Attention.CausalTriangles = on,
        "groups" => on => AttentionSoftmax.CausalGroups = on,
        "inplace" => on => Attention.InPlaceGradients = on,
        "none" => _ => { },
        _ => throw new ArgumentException($"unknown switch '{name}'", nameof(name)),
    };

    /// <summary>The step's buffers for one layer: x, W, b, qkv, output, dOutput, dqkv, probabilities, dProbs.</summary>
    private sealed class Layer
    {
        public Layer(int batch, int tokens)
        {
            int n = batch * tokens;
            X = new MatrixView(Random(n * Width, 1), n, Width);
            W = new MatrixView(Random(Width * 3 * Width, 2), Width, 3 * Width);
            Bias = Random(3 * Width, 5);
            Qkv = new MatrixView(new float[n * 3 * Width], n, 3 * Width);
            Output = new MatrixView(new float[n * Width], n, Width);
            DOutput = new MatrixView(Random(n * Width, 4), n, Width);
            DQkv = new MatrixView(new float[n * 3 * Width], n, 3 * Width);
            Probs = new float[batch * Heads * tokens * tokens];
            DProbs = new float[Probs.Length];
        }

        public MatrixView X { get; }

        public MatrixView W { get; }

        public float[] Bias { get; }

        public MatrixView Qkv { get; }

        public MatrixView Output { get; }

        public MatrixView DOutput { get; }

        public MatrixView DQkv { get; }

        public float[] Probs { get; }

        public float[] DProbs { get; }

        /// <summary>Projection and forward as <c>TransformerEncoder</c>'s block runs them; returns the layout written.</summary>
        public bool Forward(int batch, int tokens, bool causal)
        {
            bool headMajor = Attention.HeadMajorQkv;
            if (headMajor)
            {
                Attention.ProjectAndForward(X, W, Bias, Qkv, batch, tokens, Heads, causal, Probs, Output);
            }
            else
            {
                Linear.Forward(X, W, Bias, Qkv);
                Attention.Forward(Qkv, false, batch, tokens, Heads, causal, Probs, Output);
            }

            return headMajor;
        }

        public void Backward(bool headMajor, int batch, int tokens) =>
            Attention.Backward(Qkv, headMajor, batch, tokens, Heads, Probs, DOutput, DQkv, DProbs);
    }

    private static void AbChain(Action<bool> set, int rounds, int batch, int tokens, bool causal)
    {
        var layer = new Layer(batch, tokens);
        var forward = new double[2][];
        var backward = new double[2][];
        for (int v = 0; v < 2; v++)
        {
            forward[v] = new double[rounds];
            backward[v] = new double[rounds];
        }

        try
        {
            for (int r = 0; r < rounds; r++)
            {
                for (int i = 0; i < 2; i++)
                {
                    int v = (i + r) % 2;
                    set(v == 1);
                    bool headMajor = layer.Forward(batch, tokens, causal);
                    layer.Backward(headMajor, batch, tokens);
                    forward[v][r] = CpuSeconds(() => layer.Forward(batch, tokens, causal), 3);
                    backward[v][r] = CpuSeconds(() => layer.Backward(headMajor, batch, tokens), 3);
                }
            }
        }
        finally
        {
            set(true);
        }

        Print(tokens, "proj+fwd", forward);
        Print(tokens, "bwd", backward);
    }

    private static void Print(int tokens, string what, double[][] seconds)
    {
        double off = Median(seconds[0]);
        double on = Median(seconds[1]);
        Console.WriteLine($"T={tokens} {what,-8} CPU ms median off {off * 1e3:F2} on {on * 1e3:F2}  on/off {on / off:F3}  (min off {Min(seconds[0]) * 1e3:F2} on {Min(seconds[1]) * 1e3:F2})");
    }

    private static void BackwardLoop(int rounds, int tokens)
    {
        const int batch = 256;
        var layer = new Layer(batch, tokens);
        float[] flush = new float[8 << 20];
        for (int r = 0; r < rounds; r++)
        {
            bool headMajor = layer.Forward(batch, tokens, tokens == 32);
            flush.AsSpan().Fill(r);
            Console.WriteLine($"bwd {CpuSeconds(() => layer.Backward(headMajor, batch, tokens), 1) * 1e3:F2} ms CPU");
        }
    }

    /// <summary>Process CPU seconds per call of <paramref name="action"/> over <paramref name="calls"/> calls.</summary>
    private static double CpuSeconds(Action action, int calls)
    {
        var process = Process.GetCurrentProcess();
        process.Refresh();
        TimeSpan start = process.TotalProcessorTime;
        for (int i = 0; i < calls; i++)
        {
            action();
        }

        process.Refresh();
        return (process.TotalProcessorTime - start).TotalSeconds / calls;
    }

    private static float[] Random(int n, int seed)
    {
        var random = new Random(seed);
        float[] values = new float[n];
        for (int i = 0; i < n; i++)
        {
            values[i] = (float)random.NextDouble() - 0.5f;
        }

        return values;
    }

    private static double Median(double[] values)
    {
        double[] sorted = (double[])values.Clone();
        Array.Sort(sorted);
        return sorted[sorted.Length / 2];
    }

    private static double Min(double[] values)
    {
        double min = double.MaxValue;
        foreach (double value in values)
        {
            min = Math.Min(min, value);
        }

        return min;
    }
}
