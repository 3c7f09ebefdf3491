using System;
using System.Diagnostics;
using System.Globalization;
using Aced.Core;
using Aced.Selection;

namespace Aced.SoftmaxProbe;

/// <summary>
/// Interleaved probe for issue 12 item 3: per round one sigmoid joint learnability selection (the yardstick), one
/// cached softmax selection and (optionally) one uncached softmax selection of the same super-batch, in one process,
/// so every pair sees the same machine load; prints each round and the median of the per-round ratios.
/// <c>ACED_PROBE_THREADS</c> sets <see cref="GemmControl.MaxDegreeOfParallelism"/>; <c>ACED_PROBE_OFF=Type.Switch,...</c> turns
/// internal static bool switches off for the whole run (a profile of the old path).
/// Usage: SoftmaxProbe [rounds=9] [B=5120] [b=1024] [d=256] [n=16] [nocache=0|1] [cache bytes=256 MiB].
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        int rounds = Arg(args, 0, 9);
        int superBatch = Arg(args, 1, 5120);
        int batch = Arg(args, 2, 1024);
        int dimension = Arg(args, 3, 256);
        int chunks = Arg(args, 4, 16);
        bool noCache = Arg(args, 5, 0) == 1;
        long cacheBytes = args.Length > 6 ? long.Parse(args[6], CultureInfo.InvariantCulture) : ActiveBatchSamplerOptions.DefaultSoftmaxLogitCacheBytes;
        if (Environment.GetEnvironmentVariable("ACED_PROBE_THREADS") is string threads)
        {
            GemmControl.MaxDegreeOfParallelism = int.Parse(threads, CultureInfo.InvariantCulture);
        }

        Console.WriteLine($"B={superBatch} b={batch} d={dimension} n={chunks}, {Environment.ProcessorCount} cpus, Vector512 {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}");
        var data = new SuperBatch(Embeddings(superBatch, dimension, 1, 1.5f), Embeddings(superBatch, dimension, 2, 0.5f));
        ActiveBatchSampler sigmoid = Sampler(batch, chunks, ContrastiveKind.Sigmoid, ActiveBatchSamplerOptions.DefaultSoftmaxLogitCacheBytes);
        ActiveBatchSampler softmax = Sampler(batch, chunks, ContrastiveKind.Softmax, cacheBytes);
        if (Environment.GetEnvironmentVariable("ACED_PROBE_OFF") is string offSwitches)
        {
            // A whole run with these switches off (e.g. for a profile of the old path).
            foreach (System.Reflection.PropertyInfo property in Switches(offSwitches.Split(',')))
            {
                property.SetValue(null, false);
            }
        }

        if (Environment.GetEnvironmentVariable("ACED_PROBE_AB") is string ab)
        {
            AB(rounds, data, sigmoid, softmax, ab.Split(','));
            return;
        }

        ActiveBatchSampler uncached = Sampler(batch, chunks, ContrastiveKind.Softmax, 0);
        for (int i = 0; i < 2; i++)
        {
            sigmoid.Sample(data, 0);
            softmax.Sample(data, 0);
            if (noCache)
            {
                uncached.Sample(data, 0);
            }
        }

        var ratios = new double[rounds];
        var sigmoidMs = new double[rounds];
        var softmaxMs = new double[rounds];
        var uncachedRatios = new double[rounds];
        for (int r = 0; r < rounds; r++)
        {
            sigmoidMs[r] = Time(sigmoid, data);
            Type? times = typeof(ActiveBatchSampler).Assembly.GetType("Aced.Selection.ProbeTimes");
            if (times is not null)
            {
                foreach (var f in times.GetFields())
                {
                    f.SetValue(null, 0L);
                }
            }

            softmaxMs[r] = Time(softmax, data);
            if (times is not null)
            {
                string line = "  phases:";
                foreach (var f in times.GetFields())
                {
                    line += FormattableString.Invariant($" {f.Name} {(long)f.GetValue(null)! * 1000.0 / Stopwatch.Frequency:F1} ms");
                }

                Console.WriteLine(line);
            }

            ratios[r] = softmaxMs[r] / sigmoidMs[r];
            string extra = string.Empty;
            if (noCache)
            {
                double u = Time(uncached, data);
                uncachedRatios[r] = u / sigmoidMs[r];
                extra = FormattableString.Invariant($"  uncached {u,7:F1} ms ({uncachedRatios[r]:F2}x)");
            }

            Console.WriteLine(FormattableString.Invariant($"round {r}: sigmoid {sigmoidMs[r],6:F1} ms  softmax {softmaxMs[r],6:F1} ms  ratio {ratios[r]:F2}{extra}"));
        }

        string tail = noCache ? FormattableString.Invariant($"  uncached/sigmoid {Median(uncachedRatios):F2}") : string.Empty;
        Console.WriteLine(FormattableString.Invariant($"median: sigmoid {Median(sigmoidMs):F1} ms  softmax {Median(softmaxMs):F1} ms  softmax/sigmoid {Median(ratios):F3} (min {Min(ratios):F3})") + tail);
    }

    /// <summary>
    /// <c>ACED_PROBE_AB=Type.Switch,...</c>: per round one sigmoid selection and the softmax selection with the internal
    /// static bool switches off and on (order alternating per round); prints softmax/sigmoid for both and the median of
    /// the per-round on/off time ratios.
    /// </summary>
    private static void AB(int rounds, SuperBatch data, ActiveBatchSampler sigmoid, ActiveBatchSampler softmax, string[] switches)
    {
        System.Reflection.PropertyInfo[] properties = Switches(switches);

        void Set(bool on)
        {
            foreach (System.Reflection.PropertyInfo property in properties)
            {
                property.SetValue(null, on);
            }
        }

        double[] off = new double[rounds], on = new double[rounds], offRatio = new double[rounds], onRatio = new double[rounds], pair = new double[rounds], cpuPair = new double[rounds];
        Process process = Process.GetCurrentProcess();
        double Cpu()
        {
            process.Refresh();
            return process.TotalProcessorTime.TotalMilliseconds;
        }

        for (int r = -2; r < rounds; r++)
        {
            bool onFirst = (r & 1) == 1;
            Set(onFirst);
            double c0 = Cpu();
            double first = Time(softmax, data);
            double firstCpu = Cpu() - c0;
            double sig = Time(sigmoid, data);
            Set(!onFirst);
            c0 = Cpu();
            double second = Time(softmax, data);
            double secondCpu = Cpu() - c0;
            if (r < 0)
            {
                continue;
            }

            on[r] = onFirst ? first : second;
            off[r] = onFirst ? second : first;
            onRatio[r] = on[r] / sig;
            offRatio[r] = off[r] / sig;
            pair[r] = on[r] / off[r];
            cpuPair[r] = onFirst ? firstCpu / secondCpu : secondCpu / firstCpu;
            Console.WriteLine(FormattableString.Invariant($"round {r}: sigmoid {sig,6:F1} ms  softmax off {off[r],6:F1} on {on[r],6:F1} ms  on/off {pair[r]:F3}"));
        }

        Set(true);
        Console.WriteLine(FormattableString.Invariant($"switches {string.Join(',', switches)}: softmax/sigmoid off {Median(offRatio):F3} on {Median(onRatio):F3}; softmax off {Median(off):F1} on {Median(on):F1} ms; on/off median {Median(pair):F3}, process CPU time {Median(cpuPair):F3}"));
    }

    /// <summary>The internal static bool properties named <c>Namespace.Type.Property</c> (in Aced.Core or Aced.Selection).</summary>
    private static System.Reflection.PropertyInfo[] Switches(string[] switches)
    {
        var properties = new System.Reflection.PropertyInfo[switches.Length];
        for (int q = 0; q < switches.Length; q++)
        {
            int dot = switches[q].LastIndexOf('.');
            Type type = typeof(GemmControl).Assembly.GetType(switches[q][..dot]) ?? typeof(ActiveBatchSampler).Assembly.GetType(switches[q][..dot])
                ?? throw new ArgumentException($"no type {switches[q][..dot]}", nameof(switches));
            properties[q] = type.GetProperty(switches[q][(dot + 1)..], System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Public)
                ?? throw new ArgumentException($"no static property {switches[q]}", nameof(switches));
        }

        return properties;
    }

    private static double Time(ActiveBatchSampler sampler, SuperBatch data)
    {
        long t0 = Stopwatch.GetTimestamp();
        sampler.Sample(data, 0);
        return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }

    private static double Median(double[] values)
    {
        double[] sorted = (double[])values.Clone();
        Array.Sort(sorted);
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[(n / 2) - 1] + sorted[n / 2]);
    }

    private static double Min(double[] values)
    {
        double m = double.PositiveInfinity;
        foreach (double v in values)
        {
            m = Math.Min(m, v);
        }

        return m;
    }

    private static int Arg(string[] args, int index, int fallback) =>
        args.Length > index ? int.Parse(args[index], CultureInfo.InvariantCulture) : fallback;

    private static ActiveBatchSampler Sampler(int batch, int chunks, ContrastiveKind loss, long cacheBytes) =>
        new(new ActiveBatchSamplerOptions { BatchSize = batch, Chunks = chunks, Loss = loss, Seed = 1, SoftmaxLogitCacheBytes = cacheBytes });

    // The benchmark's data (bench/Aced.Benchmarks SelectionBenchmarks.Embeddings): correlated unit-norm image/text rows.
    private static ModelEmbeddings Embeddings(int count, int dim, ulong seed, float noise)
    {
        var rng = new CounterRng(seed);
        var image = new Matrix(count, dim);
        var text = new Matrix(count, dim);
        for (int i = 0; i < image.Data.Length; i++)
        {
            float z = rng.NextNormal();
            image.Data[i] = z + (noise * rng.NextNormal());
            text.Data[i] = z + (noise * rng.NextNormal());
        }

        float[] norms = new float[count];
        StableMath.L2NormalizeRows(image, image, norms);
        StableMath.L2NormalizeRows(text, text, norms);
        return new ModelEmbeddings(image, text, LogitParameters.SigmoidDefault);
    }
}
