using System;
using System.Diagnostics;
using System.IO;
using System.Reflection;
using Aced.Core;

namespace Aced.BlasProbe;

/// <summary>
/// Same-process A/B of the fused epilogue path (<c>Gemm.MultiplyWithEpilogue</c>) with internal switches off and on, and
/// the plain <c>Gemm.Multiply</c> of the same shape as the yardstick, on the training step's forward shapes (batch 256:
/// the image tower's 16384 rows; QKV, attention output, fc1, fc2) with a bias epilogue (y = tile + b, the cheapest form of
/// the models' BiasEpilogue), and on the sampler shape 20480x256x256 NT with a row-sum epilogue. Rounds alternate the
/// three variants (best of 3 calls each), so all see the same load. ACED_PROBE_SHAPES="m,n,k;..." replaces the shapes by
/// NN shapes with the chosen epilogue.
/// </summary>
internal static class EpilogueAb
{
    /// <summary>The internal static bool properties named <c>Type.Property</c> (comma-separated) in Aced.Core.</summary>
    internal static PropertyInfo[] ParseSwitches(string switchNames)
    {
        string[] names = switchNames.Split(',');
        var switches = new PropertyInfo[names.Length];
        for (int i = 0; i < names.Length; i++)
        {
            int dot = names[i].IndexOf('.', StringComparison.Ordinal);
            Type owner = typeof(Gemm).Assembly.GetType("Aced.Core." + names[i][..dot], throwOnError: true)!;
            switches[i] = owner.GetProperty(names[i][(dot + 1)..], BindingFlags.NonPublic | BindingFlags.Static) ?? throw new ArgumentException($"No switch {names[i]}.", nameof(switchNames));
        }

        return switches;
    }

    /// <param name="threads">GEMM thread count.</param>
    /// <param name="rounds">Rounds of (plain, switches off, switches on).</param>
    /// <param name="switchNames">Comma-separated "Type.Name" static bool properties of Aced.Core toggled together.</param>
    /// <param name="kind">Epilogue of the NN shapes: bias (y = tile + b), noop (nothing: the GEMM part of the fused path alone) or rowsum.</param>
    public static void Run(int threads, int rounds, string switchNames, string kind)
    {
        PropertyInfo[] switches = ParseSwitches(switchNames);

        Interleaved.ApplySettings();
        GemmControl.MaxDegreeOfParallelism = threads;
        Console.WriteLine($"date {DateTime.UtcNow:yyyy-MM-ddTHH:mmZ}; threads {threads}; [{switchNames}]; {GemmControl.Describe()}");
        (string Name, int M, int N, int K, bool TransB)[] shapes =
        {
            ($"qkv  16384x384x128 NN {kind}", 16384, 384, 128, false),
            ($"out  16384x128x128 NN {kind}", 16384, 128, 128, false),
            ($"fc1  16384x512x128 NN {kind}", 16384, 512, 128, false),
            ($"fc2  16384x128x512 NN {kind}", 16384, 128, 512, false),
            ("samp 20480x256x256 NT rowsum", 20480, 256, 256, true),
        };
        string? custom = Environment.GetEnvironmentVariable("ACED_PROBE_SHAPES");
        if (!string.IsNullOrEmpty(custom))
        {
            // "m,n,k;m,n,k;...": NN shapes with the chosen epilogue instead of the default list.
            string[] items = custom.Split(';');
            shapes = new (string, int, int, int, bool)[items.Length];
            for (int i = 0; i < items.Length; i++)
            {
                int[] d = Array.ConvertAll(items[i].Split(','), x => int.Parse(x, System.Globalization.CultureInfo.InvariantCulture));
                shapes[i] = ($"{d[0]}x{d[1]}x{d[2]} NN {kind}", d[0], d[1], d[2], false);
            }
        }

        foreach (var s in shapes)
        {
            Shape(s.Name, s.M, s.N, s.K, s.TransB, s.TransB ? "rowsum" : kind, rounds, switches);
        }
    }

    private static void Shape(string name, int m, int n, int k, bool transB, string kind, int rounds, PropertyInfo[] switches)
    {
        var rng = new Random(1);
        var a = new MatrixView(Interleaved.Fill(m * k, rng), m, k);
        var b = transB ? new MatrixView(Interleaved.Fill(n * k, rng), n, k) : new MatrixView(Interleaved.Fill(k * n, rng), k, n);
        var c = new MatrixView(new float[m * n], m, n);
        float[] bias = Interleaved.Fill(n, rng);
        var sums = new float[m];
        Transpose tb = transB ? Transpose.Transposed : Transpose.None;
        var times = new[] { new double[rounds], new double[rounds], new double[rounds] };
        var gain = new double[rounds];
        string loadBefore = File.ReadAllText("/proc/loadavg").Trim();
        for (int r = -1; r < rounds; r++)
        {
            var best = new[] { double.MaxValue, double.MaxValue, double.MaxValue };
            for (int v = 0; v < 3; v++)
            {
                foreach (PropertyInfo s in switches)
                {
                    s.SetValue(null, v != 1);
                }

                for (int i = 0; i < 3; i++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    if (v == 0)
                    {
                        Gemm.Multiply(Transpose.None, tb, 1f, a, b, 0f, c);
                    }
                    else if (kind == "rowsum")
                    {
                        Gemm.MultiplyWithEpilogue(Transpose.None, tb, 1f, a, b, new Interleaved.RowSum(sums));
                    }
                    else if (kind == "noop")
                    {
                        Gemm.MultiplyWithEpilogue(Transpose.None, tb, 1f, a, b, default(Noop));
                    }
                    else
                    {
                        Gemm.MultiplyWithEpilogue(Transpose.None, tb, 1f, a, b, new Bias(c, bias));
                    }

                    best[v] = Math.Min(best[v], Stopwatch.GetElapsedTime(t0).TotalSeconds);
                }
            }

            if (r >= 0)
            {
                for (int v = 0; v < 3; v++)
                {
                    times[v][r] = best[v];
                }

                gain[r] = best[1] / best[2];
            }
        }

        foreach (PropertyInfo s in switches)
        {
            s.SetValue(null, true);
        }

        double flops = 2.0 * m * n * k;
        double plain = Interleaved.Median(times[0]);
        double off = Interleaved.Median(times[1]);
        double on = Interleaved.Median(times[2]);
        Console.WriteLine(
            $"{name}: median GFLOP/s plain {flops / plain / 1e9:F1}, epilogue off {flops / off / 1e9:F1}, on {flops / on / 1e9:F1} " +
            $"(on/off speed {Interleaved.Median(gain):F3}, on/plain {plain / on:F3}) | load {loadBefore} -> {File.ReadAllText("/proc/loadavg").Trim()}");
    }

    /// <summary>y = tile + b (the bias part of the models' BiasEpilogue, which also takes the strips one by one).</summary>
    private readonly struct Bias : IGemmStripEpilogue
    {
        private readonly MatrixView _y;
        private readonly float[] _bias;

        public Bias(MatrixView y, float[] bias)
        {
            _y = y;
            _bias = bias;
        }

        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
            ReadOnlySpan<float> bias = _bias.AsSpan(columnStart, columns);
            for (int r = 0; r < rows; r++)
            {
                System.Numerics.Tensors.TensorPrimitives.Add(tile.Slice(r * stride, columns), bias, _y.Row(rowStart + r).Slice(columnStart, columns));
            }
        }

        /// <summary>y's rows of the tile (prefetched by the GEMM while the strip before computes).</summary>
        public int Targets(int rowStart, int rows, int columnStart, int columns, Span<StripTarget> targets)
        {
            targets[0] = new StripTarget(_y.Array, _y.Offset + (rowStart * _y.Stride) + columnStart, _y.Stride, columns);
            return 1;
        }
    }

    /// <summary>Nothing: times the GEMM part of the fused path.</summary>
    private readonly struct Noop : IGemmEpilogue
    {
        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
        }
    }
}
