using System;
using System.Diagnostics;
using Aced.Core;

namespace Aced.BlasProbe;

/// <summary>
/// Times Aced SGEMM on the shapes of probe.c (same reporting: best and median GFLOP/s over timed calls,
/// after two warm-up calls). Usage: AcedProbe &lt;threads&gt; [all|1024|samp|odd|4096], or
/// AcedProbe interleaved [all|1024|samp|odd|4096] [rounds] [threads] for the in-process A/B comparison with OpenBLAS, or
/// AcedProbe ab &lt;n&gt; &lt;threads&gt; [rounds] [switches] for the same-process A/B of Aced's plain path with and without the issue-12
/// driver switches (see <see cref="Interleaved.AbSwitches"/>), with OpenBLAS as the third contestant, or
/// AcedProbe dw &lt;threads&gt; [rounds] [Type.Switch,...] for the same-process A/B of the training step's dW slice products (see
/// <see cref="DwAb"/>; AcedProbe dx ... the same for the step's input-gradient blocks), or AcedProbe epi &lt;threads&gt; [rounds] [Type.Switch,...] [bias|noop|rowsum] for the same-process A/B of the fused epilogue path (see
/// <see cref="EpilogueAb"/>), or AcedProbe epi-parts &lt;threads&gt; [rounds] for where the forward's fused products spend their time
/// (kernel, bias and y, residual, layer norm, GELU; see <see cref="EpilogueParts"/>), or AcedProbe attn-parts &lt;threads&gt; [rounds]
/// for the qkv projection with the attention forward inside it (see <see cref="AttentionParts"/>), or AcedProbe rowops &lt;threads&gt; [rounds]
/// for the same-process A/B of the step's row passes (GELU backward with the bias sums, layer-norm backward; see
/// <see cref="RowOpsAb"/>), or AcedProbe step-threads [batch] [rounds] (the training step at 1 and 2 threads against the
/// SGEMM at each; see <see cref="StepThreads"/>), or AcedProbe ldc &lt;n&gt; [rounds] (C stride n vs n + 16, one thread), or
/// AcedProbe budget &lt;n&gt; &lt;threads&gt; &lt;rounds&gt;
/// &lt;MiB,MiB,...&gt; (the per-thread packed-B budget, i.e. the column group size). For ab and budget,
/// ACED_PROBE_SET="Type.Name=value,..." sets static int settings of Aced.Core types first (e.g.
/// GemmKernels.SixPanelPrefetchBytes=2048).
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        if (args.Length > 2 && args[0] == "ab")
        {
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            Interleaved.AbSwitches(int.Parse(args[1], inv), int.Parse(args[2], inv), args.Length > 3 ? int.Parse(args[3], inv) : 12, args.Length > 4 ? args[4] : "ShareB");
            return;
        }

        if (args.Length > 1 && (args[0] == "dw" || args[0] == "dx"))
        {
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            DwAb.Run(int.Parse(args[1], inv), args.Length > 2 ? int.Parse(args[2], inv) : 7, args.Length > 3 ? args[3] : "GemmSlices.PipelinedPacking", args[0] == "dx");
            return;
        }

        if (args.Length > 1 && args[0] == "epi")
        {
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            EpilogueAb.Run(int.Parse(args[1], inv), args.Length > 2 ? int.Parse(args[2], inv) : 9, args.Length > 3 ? args[3] : "GemmKernels.EpilogueStrips", args.Length > 4 ? args[4] : "bias");
            return;
        }

        if (args.Length > 1 && args[0] == "rowops")
        {
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            RowOpsAb.Run(int.Parse(args[1], inv), args.Length > 2 ? int.Parse(args[2], inv) : 9);
            return;
        }

        if (args.Length > 1 && args[0] == "epi-parts")
        {
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            EpilogueParts.Run(int.Parse(args[1], inv), args.Length > 2 ? int.Parse(args[2], inv) : 9);
            return;
        }

        if (args.Length > 1 && args[0] == "attn-parts")
        {
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            AttentionParts.Run(int.Parse(args[1], inv), args.Length > 2 ? int.Parse(args[2], inv) : 9);
            return;
        }

        if (args.Length > 4 && args[0] == "budget")
        {
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            string[] parts = args[4].Split(',');
            var budgets = new long[parts.Length];
            for (int i = 0; i < parts.Length; i++)
            {
                budgets[i] = (long.Parse(parts[i], inv) << 20) / sizeof(float);
            }

            Interleaved.Budgets(int.Parse(args[1], inv), int.Parse(args[2], inv), int.Parse(args[3], inv), budgets);
            return;
        }

        if (args.Length > 1 && args[0] == "ldc")
        {
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            Interleaved.LdcPad(int.Parse(args[1], inv), args.Length > 2 ? int.Parse(args[2], inv) : 3);
            return;
        }

        if (args.Length > 1 && args[0] == "linear-bwd")
        {
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            LinearBackwardAb.Run(int.Parse(args[1], inv), args.Length > 2 ? int.Parse(args[2], inv) : 9, args.Length > 3 ? args[3] : "dbitems");
            return;
        }

        if (args.Length > 0 && args[0] == "step-ab")
        {
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            StepAb.Run(args.Length > 1 ? int.Parse(args[1], inv) : 256, args.Length > 2 ? int.Parse(args[2], inv) : 15, args.Length > 3 ? int.Parse(args[3], inv) : 2, args.Length > 4 ? args[4] : "Aced.Core.WorkerPool.SpinBeforeBlocking");
            return;
        }

        if (args.Length > 0 && args[0] == "step-diag")
        {
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            StepDiag.Run(args.Length > 1 ? int.Parse(args[1], inv) : 256, args.Length > 2 ? int.Parse(args[2], inv) : 10, args.Length > 3 ? int.Parse(args[3], inv) : 2);
            return;
        }

        if (args.Length > 0 && args[0] == "step-threads")
        {
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            StepThreads.Run(args.Length > 1 ? int.Parse(args[1], inv) : 256, args.Length > 2 ? int.Parse(args[2], inv) : 5);
            return;
        }

        if (args.Length > 0 && args[0] == "interleaved")
        {
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            Interleaved.Run(args.Length > 1 ? args[1] : "all", args.Length > 2 ? int.Parse(args[2], inv) : 5, args.Length > 3 ? int.Parse(args[3], inv) : 0);
            return;
        }

        if (args.Length > 4 && args[0] == "shape")
        {
            // AcedProbe shape <m> <n> <k> <threads> [reps]: one plain NN shape, Aced only.
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            GemmControl.MaxDegreeOfParallelism = int.Parse(args[4], inv);
            int sm = int.Parse(args[1], inv), sn = int.Parse(args[2], inv), sk = int.Parse(args[3], inv);
            Run($"{sm}x{sn}x{sk} NN", sm, sn, sk, false, false, args.Length > 5 ? int.Parse(args[5], inv) : 5);
            return;
        }

        int threads = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 2;
        string which = args.Length > 1 ? args[1] : "all";
        GemmControl.MaxDegreeOfParallelism = threads;
        Console.WriteLine(GemmControl.Describe());
        bool all = which == "all";
        if (all || which == "1024")
        {
            Run("1024^3 NN", 1024, 1024, 1024, false, false, 20);
        }

        if (all || which == "samp")
        {
            Run("20480x256x256 NT", 20480, 256, 256, true, false, 20);
            Run("20480x256x256 NT epi", 20480, 256, 256, true, true, 20);
            Run("  + softplus (scalar)", 20480, 256, 256, true, true, 10, softplus: true);
        }

        if (all || which == "odd")
        {
            Run("1023^3 NN", 1023, 1023, 1023, false, false, 20);
        }

        if (all || which == "4096")
        {
            Run("4096^3 NN", 4096, 4096, 4096, false, false, 3);
        }
    }

    private static void Run(string name, int m, int n, int k, bool transB, bool epilogue, int reps, bool softplus = false)
    {
        Matrix a = Fill(m, k, 1);
        Matrix b = transB ? Fill(n, k, 2) : Fill(k, n, 2);
        var c = new Matrix(m, n);
        var sums = new float[m];
        Transpose tb = transB ? Transpose.Transposed : Transpose.None;
        var times = new double[reps];
        for (int r = -2; r < reps; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            if (epilogue)
            {
                Gemm.MultiplyWithEpilogue(Transpose.None, tb, 1f, a, b, new RowSumEpilogue(sums, softplus));
            }
            else
            {
                Gemm.Multiply(Transpose.None, tb, 1f, a, b, 0f, c);
            }

            double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            if (r >= 0)
            {
                times[r] = seconds;
            }
        }

        Array.Sort(times);
        double flops = 2.0 * m * n * k;
        Console.WriteLine($"{name,-22} best {flops / times[0] / 1e9,7:F1} GFLOP/s  median {flops / times[reps / 2] / 1e9,7:F1} GFLOP/s  (median {times[reps / 2] * 1e3:F2} ms)");
    }

    private static Matrix Fill(int rows, int columns, int seed)
    {
        var m = new Matrix(rows, columns);
        var rng = new Random(seed);
        for (int i = 0; i < m.Data.Length; i++)
        {
            m.Data[i] = (float)(rng.NextDouble() - 0.5);
        }

        return m;
    }

    /// <summary>Row sums of the product tile, optionally after the sampler's softplus (StableMath, scalar today).</summary>
    private readonly struct RowSumEpilogue : IGemmEpilogue
    {
        private readonly float[] _sums;
        private readonly bool _softplus;

        public RowSumEpilogue(float[] sums, bool softplus)
        {
            _sums = sums;
            _softplus = softplus;
        }

        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
            for (int r = 0; r < rows; r++)
            {
                Span<float> row = tile.Slice(r * stride, columns);
                if (_softplus)
                {
                    StableMath.Softplus(row, row);
                }

                float sum = System.Numerics.Tensors.TensorPrimitives.Sum(row);
                _sums[rowStart + r] = columnStart == 0 ? sum : _sums[rowStart + r] + sum;
            }
        }
    }
}
