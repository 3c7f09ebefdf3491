using System;
using System.Diagnostics;
using Aced.Core;
using Aced.Models.Layers;

namespace Aced.BlasProbe;

/// <summary>
/// Same-process A/B of a switch of the dense layers' concurrent backward (<c>Linear.Backward</c> /
/// <c>Linear.BackwardThroughGelu</c>, the calls the training step makes) at the reference shapes (k = 16384, the image
/// tower at batch 256: qkv 128x384, out 128x128, fc1 128x512, fc2 512x128 through GELU). Each round runs every layer's
/// backward with the switch off and on (order alternating), best of 2 calls each, and prints the medians of the
/// per-round on / off ratios of wall and process CPU time, and whether the outputs were the same bits.
/// Usage: AcedProbe linear-bwd &lt;threads&gt; [rounds] [switch]; switch is <c>dbitems</c> (Linear.BiasGradientInInputItems) or <c>tail</c> (Linear.InputGradientTailRows 1024 against 0).
/// </summary>
internal static class LinearBackwardAb
{
    private const int K = 16384;

    public static void Run(int threads, int rounds, string which)
    {
        Action<bool> set = which switch
        {
            "dbitems" => on => Linear.BiasGradientInInputItems = on,
            "tail" => on => Linear.InputGradientTailRows = on ? 1024 : 0,
            _ => throw new ArgumentException($"unknown switch {which}", nameof(which)),
        };
        bool saved = which switch
        {
            "dbitems" => Linear.BiasGradientInInputItems,
            _ => Linear.InputGradientTailRows != 0,
        };
        GemmControl.MaxDegreeOfParallelism = threads;
        (string Name, int In, int Out, bool Gelu)[] layers = [("qkv", 128, 384, false), ("out", 128, 128, false), ("fc1", 128, 512, false), ("fc2", 512, 128, true)];
        var random = new Random(5);
        Matrix Fill(int rows, int cols)
        {
            var m = new Matrix(rows, cols);
            for (int i = 0; i < m.Data.Length; i++)
            {
                m.Data[i] = (float)(random.NextDouble() - 0.5);
            }

            return m;
        }

        Console.WriteLine($"linear-bwd {which}: threads {threads}, k {K}; {DateTime.UtcNow:HH:mm:ss} UTC, load {Load()}");
        var wallRatios = new double[layers.Length + 1][];
        var cpuRatios = new double[layers.Length + 1][];
        for (int l = 0; l <= layers.Length; l++)
        {
            wallRatios[l] = new double[rounds];
            cpuRatios[l] = new double[rounds];
        }

        var data = new (Matrix X, Matrix Hidden, Matrix W, Matrix Dy, Matrix Dx, Matrix Dw, float[] Db, float[] HiddenDb)[layers.Length];
        for (int l = 0; l < layers.Length; l++)
        {
            (_, int inDim, int outDim, _) = layers[l];
            Matrix hidden = Fill(K, inDim);
            data[l] = (Fill(K, inDim), hidden, Fill(inDim, outDim), Fill(K, outDim), new Matrix(K, inDim), new Matrix(inDim, outDim), new float[outDim], new float[inDim]);
        }

        bool same = true;
        (double Wall, double Cpu, float[] Bits) Call(int l, bool on)
        {
            set(on);
            var d = data[l];
            double bestWall = double.MaxValue, bestCpu = double.MaxValue;
            using Process process = Process.GetCurrentProcess();
            for (int rep = 0; rep < 2; rep++)
            {
                Array.Clear(d.Dw.Data);
                Array.Clear(d.Db);
                Array.Clear(d.HiddenDb);
                process.Refresh();
                TimeSpan cpu0 = process.TotalProcessorTime;
                long t0 = Stopwatch.GetTimestamp();
                if (layers[l].Gelu)
                {
                    Linear.BackwardThroughGelu(d.X, d.Hidden, d.W, d.Dy, d.Dx, d.Dw, Linear.RowView(d.Db), d.HiddenDb);
                }
                else
                {
                    Linear.Backward(d.X, d.W, d.Dy, d.Dx, false, d.Dw, Linear.RowView(d.Db));
                }

                double wall = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                process.Refresh();
                double cpu = (process.TotalProcessorTime - cpu0).TotalSeconds;
                bestWall = Math.Min(bestWall, wall);
                bestCpu = Math.Min(bestCpu, cpu);
            }

            float[] bits = [.. d.Db, .. d.HiddenDb, d.Dw.Data[0], d.Dx.Data[^1]];
            return (bestWall, bestCpu, bits);
        }

        for (int round = 0; round < rounds; round++)
        {
            double offWallSum = 0, onWallSum = 0, offCpuSum = 0, onCpuSum = 0;
            for (int l = 0; l < layers.Length; l++)
            {
                bool onFirst = round % 2 == 1;
                var first = Call(l, onFirst);
                var second = Call(l, !onFirst);
                var (on, off) = onFirst ? (first, second) : (second, first);
                same &= on.Bits.AsSpan().SequenceEqual(off.Bits);
                wallRatios[l][round] = on.Wall / off.Wall;
                cpuRatios[l][round] = on.Cpu / Math.Max(off.Cpu, 1e-9);
                offWallSum += off.Wall;
                onWallSum += on.Wall;
                offCpuSum += off.Cpu;
                onCpuSum += on.Cpu;
            }

            wallRatios[layers.Length][round] = onWallSum / offWallSum;
            cpuRatios[layers.Length][round] = onCpuSum / offCpuSum;
        }

        set(saved);
        for (int l = 0; l <= layers.Length; l++)
        {
            string name = l < layers.Length ? layers[l].Name : "all four";
            Console.WriteLine($"  {name,-8} on / off: wall {Median(wallRatios[l]):F3} ({Min(wallRatios[l]):F3}-{Max(wallRatios[l]):F3}), CPU {Median(cpuRatios[l]):F3}");
        }

        Console.WriteLine($"same bits: {same}; end {DateTime.UtcNow:HH:mm:ss} UTC, load {Load()}");
    }

    private static double Median(double[] values)
    {
        double[] sorted = (double[])values.Clone();
        Array.Sort(sorted);
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : 0.5 * (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]);
    }

    private static double Min(double[] values) => System.Linq.Enumerable.Min(values);

    private static double Max(double[] values) => System.Linq.Enumerable.Max(values);

    private static string Load()
    {
        try
        {
            return System.IO.File.ReadAllText("/proc/loadavg").Split(' ')[0];
        }
        catch (System.IO.IOException)
        {
            return "?";
        }
    }
}
