using System;
using System.Diagnostics;
using System.IO;
using System.Reflection;
using System.Runtime.InteropServices;
using Aced.Core;

namespace Aced.BlasProbe;

/// <summary>
/// Fair A/B timing on a shared machine: OpenBLAS (loaded dynamically from libopenblas.so.0, for this probe
/// only) and Aced run in the same process, alternating in short blocks, so both see the same background
/// load. Reports best and median GFLOP/s of each and the Aced/OpenBLAS ratios.
/// </summary>
internal static unsafe class Interleaved
{
    private const int RowMajor = 101;
    private const int NoTrans = 111;
    private const int Trans = 112;

    private static delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> s_sgemm;
    private static delegate* unmanaged<int, void> s_setThreads;

    public static void Run(string which, int rounds)
    {
        nint lib = NativeLibrary.Load("libopenblas.so.0");
        s_sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)NativeLibrary.GetExport(lib, "cblas_sgemm");
        s_setThreads = (delegate* unmanaged<int, void>)NativeLibrary.GetExport(lib, "openblas_set_num_threads");
        Console.WriteLine($"date {DateTime.UtcNow:yyyy-MM-ddTHH:mmZ}; {GemmControl.Describe()}");
        bool all = which == "all";
        foreach (int threads in new[] { 1, 2 })
        {
            if (all || which == "1024")
            {
                Compare("1024^3 NN", 1024, 1024, 1024, false, false, threads, rounds, 4);
            }

            if (all || which == "samp")
            {
                Compare("20480x256x256 NT", 20480, 256, 256, true, false, threads, rounds, 4);
                Compare("20480x256x256 NT epi", 20480, 256, 256, true, true, threads, rounds, 4);
            }

            if (all || which == "odd")
            {
                Compare("1023^3 NN", 1023, 1023, 1023, false, false, threads, rounds, 4);
            }

            if (which == "4096")
            {
                Compare("4096^3 NN", 4096, 4096, 4096, false, false, threads, Math.Max(1, rounds / 2), 1);
            }
        }
    }

    /// <summary>
    /// n^3 NN on <paramref name="threads"/> threads, rounds of: Aced with the driver switches off (the previous plain path:
    /// no split tail tiles, B packed one micro-panel at a time), Aced with them on, OpenBLAS; each the best of 3 calls
    /// (1 call at n &gt;= 4096). Prints median ratios (OpenBLAS time / Aced time, and old time / new time). The switches are
    /// internal, so they are set through reflection (this probe only).
    /// </summary>
    public static void AbSwitches(int n, int threads, int rounds)
    {
        nint lib = NativeLibrary.Load("libopenblas.so.0");
        s_sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)NativeLibrary.GetExport(lib, "cblas_sgemm");
        s_setThreads = (delegate* unmanaged<int, void>)NativeLibrary.GetExport(lib, "openblas_set_num_threads");
        Type driver = typeof(Gemm).Assembly.GetType("Aced.Core.GemmDriver", throwOnError: true)!;
        var switches = new[] { driver.GetProperty("TailSplit", BindingFlags.NonPublic | BindingFlags.Static)!, driver.GetProperty("PackBByRows", BindingFlags.NonPublic | BindingFlags.Static)! };
        GemmControl.MaxDegreeOfParallelism = threads;
        s_setThreads(threads);
        var rng = new Random(1);
        float[] a = Fill(n * n, rng);
        float[] b = Fill(n * n, rng);
        var c = new float[n * n];
        var aView = new MatrixView(a, n, n);
        var bView = new MatrixView(b, n, n);
        var cView = new MatrixView(c, n, n);
        int calls = n >= 4096 ? 1 : 3;
        var oldRatio = new double[rounds];
        var newRatio = new double[rounds];
        var gain = new double[rounds];
        string loadBefore = File.ReadAllText("/proc/loadavg").Trim();
        Console.WriteLine($"date {DateTime.UtcNow:yyyy-MM-ddTHH:mmZ}; {GemmControl.Describe()}");
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            for (int r = -1; r < rounds; r++)
            {
                var best = new[] { double.MaxValue, double.MaxValue, double.MaxValue };
                for (int v = 0; v < 3; v++)
                {
                    foreach (PropertyInfo s in switches)
                    {
                        s.SetValue(null, v != 0);
                    }

                    for (int i = 0; i < calls; i++)
                    {
                        long t0 = Stopwatch.GetTimestamp();
                        if (v < 2)
                        {
                            Gemm.Multiply(Transpose.None, Transpose.None, 1f, aView, bView, 0f, cView);
                        }
                        else
                        {
                            s_sgemm(RowMajor, NoTrans, NoTrans, n, n, n, 1f, pa, n, pb, n, 0f, pc, n);
                        }

                        best[v] = Math.Min(best[v], Stopwatch.GetElapsedTime(t0).TotalSeconds);
                    }
                }

                if (r >= 0)
                {
                    oldRatio[r] = best[2] / best[0];
                    newRatio[r] = best[2] / best[1];
                    gain[r] = best[0] / best[1];
                }
            }
        }

        Array.Sort(oldRatio);
        Array.Sort(newRatio);
        Array.Sort(gain);
        Console.WriteLine(
            $"{n}^3 NN threads={threads} rounds={rounds}: median vs OpenBLAS switches off {oldRatio[rounds / 2]:F3}, on {newRatio[rounds / 2]:F3}; " +
            $"on/off speed {gain[rounds / 2]:F3} | load {loadBefore} -> {File.ReadAllText("/proc/loadavg").Trim()}");
    }

    private static void Compare(string name, int m, int n, int k, bool transB, bool epilogue, int threads, int rounds, int block)
    {
        GemmControl.MaxDegreeOfParallelism = threads;
        s_setThreads(threads);
        var rng = new Random(1);
        float[] a = Fill(m * k, rng);
        float[] b = Fill(k * n, rng);
        var c = new float[m * n];
        var sums = new float[m];
        var aView = new MatrixView(a, m, k);
        var bView = transB ? new MatrixView(b, n, k) : new MatrixView(b, k, n);
        var cView = new MatrixView(c, m, n);
        Transpose tb = transB ? Transpose.Transposed : Transpose.None;
        var aced = new double[rounds * block];
        var blas = new double[rounds * block];
        string loadBefore = File.ReadAllText("/proc/loadavg").Trim();
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            for (int r = -1; r < rounds; r++)
            {
                for (int i = 0; i < block; i++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    if (epilogue)
                    {
                        Gemm.MultiplyWithEpilogue(Transpose.None, tb, 1f, aView, bView, new RowSum(sums));
                    }
                    else
                    {
                        Gemm.Multiply(Transpose.None, tb, 1f, aView, bView, 0f, cView);
                    }

                    double t = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                    if (r >= 0)
                    {
                        aced[(r * block) + i] = t;
                    }
                }

                for (int i = 0; i < block; i++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    s_sgemm(RowMajor, NoTrans, transB ? Trans : NoTrans, m, n, k, 1f, pa, k, pb, transB ? k : n, 0f, pc, n);
                    double t = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                    if (r >= 0)
                    {
                        blas[(r * block) + i] = t;
                    }
                }
            }
        }

        Array.Sort(aced);
        Array.Sort(blas);
        double flops = 2.0 * m * n * k;
        double aBest = flops / aced[0] / 1e9, aMed = flops / aced[aced.Length / 2] / 1e9;
        double oBest = flops / blas[0] / 1e9, oMed = flops / blas[blas.Length / 2] / 1e9;
        Console.WriteLine(
            $"{name,-22} threads={threads}  Aced best {aBest,6:F1} med {aMed,6:F1} | OpenBLAS best {oBest,6:F1} med {oMed,6:F1} GFLOP/s" +
            $" | ratio best {aBest / oBest:P0} med {aMed / oMed:P0} | load {loadBefore} -> {File.ReadAllText("/proc/loadavg").Trim()}");
    }

    private static float[] Fill(int length, Random rng)
    {
        var x = new float[length];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (float)(rng.NextDouble() - 0.5);
        }

        return x;
    }

    /// <summary>Row sums of the tile (the cheapest realistic epilogue; isolates the fused GEMM path).</summary>
    private readonly struct RowSum : IGemmEpilogue
    {
        private readonly float[] _sums;

        public RowSum(float[] sums) => _sums = sums;

        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
            for (int r = 0; r < rows; r++)
            {
                float s = System.Numerics.Tensors.TensorPrimitives.Sum(tile.Slice(r * stride, columns));
                _sums[rowStart + r] = columnStart == 0 ? s : _sums[rowStart + r] + s;
            }
        }
    }
}
