using System;
using System.Diagnostics;
using System.IO;
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
