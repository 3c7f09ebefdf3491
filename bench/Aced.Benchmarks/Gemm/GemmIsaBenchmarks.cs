using System;
using Aced.Benchmarks.Common;
using Aced.Core;
using BenchmarkDotNet.Attributes;

namespace Aced.Benchmarks.GemmSuite;

/// <summary>
/// 1024^3 NN with the micro-kernel forced per method, so the AVX2 tilings (and AVX-512 where the CPU has it) are
/// compared in one run: the baseline is the previous AVX2 path (each 8 x 32 packed panel pair as two 6 x 16 blocks and
/// one 2 x 32 block); <c>Avx2Strips6x16</c> is the current one (6-row A strip panels across the row block, 16-column B
/// half-panels in L1, stream prefetches), <c>Avx2Strips6x16OverFullPanels</c> the strips as of the third issue-12 session
/// (8-row A and 32-column B panels, no in-kernel prefetch, mc 128).
/// For the ratio to OpenBLAS use <c>eng/blas-probe</c> (interleaved, same process).
/// </summary>
[MemoryDiagnoser]
[GflopsColumn]
public class GemmIsaBenchmarks : IFlopCount
{
    private const int N = 1024;
    private Matrix _a = null!;
    private Matrix _b = null!;
    private Matrix _c = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    public double FlopCount(string method) => 2.0 * N * N * N;

    [GlobalSetup]
    public void Setup()
    {
        GemmControl.MaxDegreeOfParallelism = Threads;
        Console.WriteLine("// " + GemmControl.Describe());
        _a = GemmOperands.Random(N, N, 1);
        _b = GemmOperands.Random(N, N, 2);
        _c = new Matrix(N, N);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        GemmKernels.ForcedIsa = GemmIsa.Auto;
        GemmKernels.StripsEnabled = true;
        SetStripExtras(true);
    }

    [Benchmark(Baseline = true)]
    public float Avx2PerPanel6x16Plus2x32() => Run(GemmIsa.Vector256, strips: false);

    [Benchmark]
    public float Avx2Quarters4x16() => Run(GemmIsa.Vector256Quarters);

    [Benchmark]
    public float Avx2Strips6x16() => Run(GemmIsa.Vector256);

    [Benchmark]
    public float Avx2Strips6x16OverFullPanels()
    {
        SetStripExtras(false);
        try
        {
            return Run(GemmIsa.Vector256);
        }
        finally
        {
            SetStripExtras(true);
        }
    }

    [Benchmark]
    public float Avx512Tile8x32() => Run(System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? GemmIsa.Vector512 : GemmIsa.Vector256);

    private static void SetStripExtras(bool on)
    {
        GemmKernels.HalfPanels = on;
        GemmKernels.SixRowPanels = on;
        GemmKernels.StreamPrefetch = on;
        GemmKernels.FollowPrefetch = on;
        GemmKernels.NextAPrefetch = on;
        GemmPlan.StripRowBlocks = on;
    }

    private float Run(GemmIsa isa, bool strips = true)
    {
        GemmKernels.ForcedIsa = isa;
        GemmKernels.StripsEnabled = strips;
        Gemm.Multiply(Transpose.None, Transpose.None, 1f, _a, _b, 0f, _c);
        return _c.Data[_c.Data.Length - 1];
    }
}
