using System;
using System.Reflection;
using System.Threading.Tasks;
using Aced.Core;

namespace Aced.BlasProbe;

/// <summary>
/// Same-process A/B of the training step's weight-gradient products (<c>GemmSlices.AddTransposedProducts</c>, dW += x^T dy
/// over 512-row slices) with internal switches off and on, and the 1024^3 SGEMM as the yardstick, on the step's dW halves at
/// k = 16384 (fc1 128x256, qkv 128x192, out-proj 64x128, fc2 256x128). With 2 threads the two halves of a weight run
/// concurrently, one per thread, as the step's backward items do; rates are per thread and the yardstick is the
/// 1-thread 1024^3 SGEMM (the per-thread SGEMM). x and dy rotate over three copies so they stream from memory. Rounds
/// alternate the variants (best of 2 calls each); times are CPU time (thread CPU time with 1 thread, process CPU time per half with 2), since the machine is shared. Usage: AcedProbe dw &lt;threads&gt; [rounds] [Type.Switch,...] (a bool switch, or Type.Setting=off:on for an int setting).
/// The dx mode (<c>AcedProbe dx ...</c>) times the step's input-gradient blocks instead: <c>GemmSlices.MultiplyTransposed</c>
/// (keyed as Linear's dx items are: one key per 16384-row pass) of each 1024-row block of dy (dx block = dy block W^T), blocks dealt alternately to the threads as the
/// concurrent backward's items are (fc1 dx n = 128, k = 512; fc2 n = 512, k = 128; qkv n = 128, k = 384; out n = 128, k = 128).
/// </summary>
internal static unsafe class DwAb
{
    /// <summary>Rows of x and dy (k): 16384 (the image tower at batch 256), or ACED_PROBE_DW_K (8192: the text tower).</summary>
    private static readonly int K = int.TryParse(Environment.GetEnvironmentVariable("ACED_PROBE_DW_K"), out int k) && k > 0 ? k : 16384;

    private const int Copies = 3;

    private const int Slice = 512;

    /// <summary>Rows of dy per input-gradient block (Linear.InputGradientBlockRows).</summary>
    private const int DxBlock = 1024;

    public static void Run(int threads, int rounds, string switchNames, bool dx = false)
    {
        // "Type.Name" toggles a bool switch; "Type.Name=off:on" sets an int setting to off or on.
        var intSettings = new System.Collections.Generic.List<(PropertyInfo Property, int Off, int On)>();
        var boolNames = new System.Collections.Generic.List<string>();
        foreach (string item in switchNames.Split(','))
        {
            int eq = item.IndexOf('=', StringComparison.Ordinal);
            if (eq < 0)
            {
                boolNames.Add(item);
                continue;
            }

            PropertyInfo setting = EpilogueAb.ParseSwitches(item[..eq])[0];
            string[] values = item[(eq + 1)..].Split(':');
            intSettings.Add((setting, int.Parse(values[0], System.Globalization.CultureInfo.InvariantCulture), int.Parse(values[1], System.Globalization.CultureInfo.InvariantCulture)));
        }

        PropertyInfo[] switches = boolNames.Count == 0 ? [] : EpilogueAb.ParseSwitches(string.Join(',', boolNames));

        Interleaved.ApplySettings();
        Type slices = typeof(Gemm).Assembly.GetType("Aced.Core.GemmSlices", throwOnError: true)!;
        var add = slices.GetMethod("AddTransposedProducts", BindingFlags.Public | BindingFlags.Static)!.CreateDelegate<Action<MatrixView, MatrixView, MatrixView, int>>();
        var multiplyTransposed = slices.GetMethod("MultiplyTransposedKeyed", BindingFlags.NonPublic | BindingFlags.Static)!.CreateDelegate<Action<MatrixView, MatrixView, MatrixView, bool, long>>();
        var newKey = slices.GetMethod("NewOperandKey", BindingFlags.NonPublic | BindingFlags.Static)!.CreateDelegate<Func<long>>();

        // (name, x columns, dy columns, split by columns of dW)
        (string Name, int XCols, int DyCols, bool ByColumns)[] shapes =
        [
            ("fc1 128x256", 128, 512, true),
            ("qkv 128x192", 128, 384, true),
            ("out 64x128", 128, 128, false),
            ("fc2 256x128", 512, 128, false),
        ];
        if (dx)
        {
            // (name, W rows = dx columns, dy columns = k): x holds W, dy the gradient rows.
            shapes =
            [
                ("dx fc1 n128 k512", 128, 512, false),
                ("dx fc2 n512 k128", 512, 128, false),
                ("dx qkv n128 k384", 128, 384, false),
                ("dx out n128 k128", 128, 128, false),
            ];
        }

        Console.WriteLine($"{(dx ? "dx" : "dW")} A/B, {threads} thread(s), k = {K}, slices {Slice}, switches {switchNames}; {DateTime.UtcNow:HH:mm:ss} UTC, load {LoadAverage()}");
        var ratios = new double[shapes.Length][];
        var rateOn = new double[shapes.Length][];
        var rateOff = new double[shapes.Length][];
        var yard = new double[rounds];
        // dx is written to one matrix per shape, allocated once: a new one per call put its page faults into the timed CPU time.
        var dxOut = new Matrix?[shapes.Length];
        var xs = new Matrix[shapes.Length];
        var dys = new Matrix[shapes.Length];
        for (int s = 0; s < shapes.Length; s++)
        {
            xs[s] = dx ? Fill(shapes[s].XCols, shapes[s].DyCols, 1 + s) : Fill(Copies * K, shapes[s].XCols, 1 + s);
            dys[s] = Fill(Copies * K, shapes[s].DyCols, 11 + s);
            ratios[s] = new double[rounds];
            rateOn[s] = new double[rounds];
            rateOff[s] = new double[rounds];
        }

        Matrix ya = Fill(1024, 1024, 3);
        Matrix yb = Fill(1024, 1024, 4);
        var yc = new Matrix(1024, 1024);
        int copy = 0;
        for (int r = -1; r < rounds; r++)
        {
            GemmControl.MaxDegreeOfParallelism = 1;
            double best = double.MaxValue;
            for (int t = 0; t < 3; t++)
            {
                double t0 = CpuSeconds(1);
                Gemm.Multiply(Transpose.None, Transpose.None, 1f, ya, yb, 0f, yc);
                best = Math.Min(best, CpuSeconds(1) - t0);
            }

            if (r >= 0)
            {
                yard[r] = 2.0 * 1024 * 1024 * 1024 / best / 1e9;
            }

            for (int s = 0; s < shapes.Length; s++)
            {
                var times = new double[2];
                double flops = 0;
                for (int v = 0; v < 2; v++)
                {
                    bool on = ((r + s) & 1) == 0 ? v == 1 : v == 0;
                    foreach (PropertyInfo sw in switches)
                    {
                        sw.SetValue(null, on);
                    }

                    foreach ((PropertyInfo setting, int offValue, int onValue) in intSettings)
                    {
                        setting.SetValue(null, on ? onValue : offValue);
                    }

                    double bestV = double.MaxValue;
                    for (int t = 0; t < 2; t++)
                    {
                        copy = (copy + 1) % Copies;
                        MatrixView dy = dys[s].View.RowRange(copy * K, K);
                        if (dx)
                        {
                            MatrixView w = xs[s].View;
                            Matrix dxAll = dxOut[s] ??= new Matrix(K, shapes[s].XCols);
                            flops = 2.0 * Copies * K * shapes[s].XCols * shapes[s].DyCols / threads;

                            // One key per 16384-row pass (a layer's concurrent backward names W to its dx blocks).
                            long[] keys = new long[Copies];
                            for (int i = 0; i < Copies; i++)
                            {
                                keys[i] = newKey();
                            }

                            double d0 = CpuSeconds(threads);
                            if (threads == 1)
                            {
                                Blocks(0, 1);
                            }
                            else
                            {
                                Parallel.Invoke(() => Blocks(0, 2), () => Blocks(1, 2));
                            }

                            bestV = Math.Min(bestV, (CpuSeconds(threads) - d0) / threads);
                            continue;

                            // All three copies of dy per sample (a 16384-row pass is only ~30 ms).
                            void Blocks(int first, int step)
                            {
                                for (int b = first; b * DxBlock < Copies * K; b += step)
                                {
                                    multiplyTransposed(dys[s].View.RowRange(b * DxBlock, DxBlock), w, dxAll.View.RowRange(b % (K / DxBlock) * DxBlock, DxBlock), false, keys[b * DxBlock / K]);
                                }
                            }
                        }

                        MatrixView x = xs[s].View.RowRange(copy * K, K);
                        var dw = new Matrix(shapes[s].XCols, shapes[s].DyCols);
                        (MatrixView X, MatrixView Dy, MatrixView Dw)[] halves = Halves(x, dy, dw.View, shapes[s].ByColumns);
                        flops = 2.0 * halves[0].Dw.Rows * halves[0].Dw.Columns * K;
                        double t0 = CpuSeconds(threads);
                        if (threads == 1)
                        {
                            add(halves[0].X, halves[0].Dy, halves[0].Dw, Slice);
                        }
                        else
                        {
                            Parallel.Invoke(() => add(halves[0].X, halves[0].Dy, halves[0].Dw, Slice), () => add(halves[1].X, halves[1].Dy, halves[1].Dw, Slice));
                        }

                        // CPU time (of the thread, or of the process over both halves, per half): the machine is shared.
                        bestV = Math.Min(bestV, (CpuSeconds(threads) - t0) / threads);
                    }

                    if (on)
                    {
                        times[1] = bestV;
                    }
                    else
                    {
                        times[0] = bestV;
                    }
                }

                if (r >= 0)
                {
                    ratios[s][r] = times[0] / times[1];
                    rateOff[s][r] = flops / times[0] / 1e9;
                    rateOn[s][r] = flops / times[1] / 1e9;
                }
            }
        }

        Console.WriteLine($"yardstick 1024^3 1 thread: median {Median(yard):F1} GFLOP/s (min {Min(yard):F1}, max {Max(yard):F1})");
        for (int s = 0; s < shapes.Length; s++)
        {
            double y = Median(yard);
            Console.WriteLine($"{shapes[s].Name,-12} off {Median(rateOff[s]),6:F1} ({Median(rateOff[s]) / y:F3} of SGEMM)  on {Median(rateOn[s]),6:F1} ({Median(rateOn[s]) / y:F3})  GFLOP/s per thread; on/off speed-up median {Median(ratios[s]):F3} (min {Min(ratios[s]):F3}, max {Max(ratios[s]):F3})");
        }

        Console.WriteLine($"end {DateTime.UtcNow:HH:mm:ss} UTC, load {LoadAverage()}");
    }

    /// <summary>The two dW halves as the concurrent backward splits them (columns when dW is wider than tall, at a multiple of 32; else rows at a multiple of 8).</summary>
    private static (MatrixView X, MatrixView Dy, MatrixView Dw)[] Halves(MatrixView x, MatrixView dy, MatrixView dw, bool byColumns)
    {
        if (byColumns)
        {
            int split = (dw.Columns + 63) / 64 * 32;
            return [(x, dy.ColumnRange(0, split), dw.ColumnRange(0, split)), (x, dy.ColumnRange(split, dw.Columns - split), dw.ColumnRange(split, dw.Columns - split))];
        }

        int rows = (dw.Rows + 15) / 16 * 8;
        return [(x.ColumnRange(0, rows), dy, dw.RowRange(0, rows)), (x.ColumnRange(rows, dw.Rows - rows), dy, dw.RowRange(rows, dw.Rows - rows))];
    }

    /// <summary>CPU seconds of the calling thread (<paramref name="threads"/> 1) or of the process (clock_gettime).</summary>
    internal static double CpuSeconds(int threads)
    {
        Timespec ts;
        _ = ClockGetTime(threads == 1 ? 3 : 2, &ts);
        return ts.Seconds + (ts.Nanoseconds * 1e-9);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern unsafe int ClockGetTime(int clock, Timespec* ts);

    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    /// <summary>
    /// A pinned array; with ACED_PROBE_HUGE=1 its pages are madvise(MADV_HUGEPAGE)d before first touch (transparent huge
    /// pages in madvise mode), to see what the 4 KiB pages' TLB misses cost.
    /// </summary>
    private static float[] Allocate(int floats)
    {
        float[] data = GC.AllocateUninitializedArray<float>(floats, pinned: true);
        if (Environment.GetEnvironmentVariable("ACED_PROBE_HUGE") == "1")
        {
            fixed (float* p = data)
            {
                long start = ((long)p + 4095) & ~4095L;
                long end = ((long)(p + floats)) & ~4095L;
                if (end > start && Madvise((void*)start, (nuint)(end - start), 14) != 0)
                {
                    Console.WriteLine("madvise failed");
                }
            }
        }

        return data;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(void* address, nuint length, int advice);

    private static string LoadAverage()
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

    private static double Median(double[] values)
    {
        var copy = (double[])values.Clone();
        Array.Sort(copy);
        return copy.Length % 2 == 1 ? copy[copy.Length / 2] : (copy[(copy.Length / 2) - 1] + copy[copy.Length / 2]) / 2;
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

    private static Matrix Fill(int rows, int columns, int seed)
    {
        var m = new Matrix(rows, columns, Allocate(rows * columns));
        var rng = new Random(seed);
        for (int i = 0; i < m.Data.Length; i++)
        {
            m.Data[i] = (float)(rng.NextDouble() - 0.5);
        }

        return m;
    }
}
