using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using Aced.Core;
using Aced.Selection;

namespace Aced.TorchReference;

/// <summary>
/// The Aced side of the PyTorch yardstick (see README.md next to this project):
/// <list type="bullet">
/// <item><c>gen DIR B d</c>: writes the benchmark's synthetic super-batch (SelectionBenchmarks.Embeddings: student
/// seed 1 noise 1.5, reference seed 2 noise 0.5, L2-normalised rows; both models use SigLIP's a = 10, c = -10) as
/// DIR/{si,st,ri,rt}.npy.</item>
/// <item><c>select DIR b n greedy|gumbel REPS [OUT.npy]</c>: times ActiveBatchSampler.Sample (learnability, sigmoid,
/// joint, temperature 10, seed 1, step 0, as the JointLearnabilitySigmoid benchmark) on those inputs, I/O excluded:
/// one warm-up call, then REPS timed calls; prints the median and minimum seconds; writes the chosen indices.</item>
/// <item><c>sgemm SIZE REPS</c>: median seconds of Aced's SIZE^3 SGEMM (Gemm.Multiply), the machine yardstick.</item>
/// </list>
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length >= 4 && args[0] == "gen")
        {
            Generate(args[1], Int(args[2]), Int(args[3]));
            return 0;
        }

        if (args.Length >= 6 && args[0] == "select")
        {
            Select(args[1], Int(args[2]), Int(args[3]), args[4] == "greedy", Int(args[5]), args.Length > 6 ? args[6] : null);
            return 0;
        }

        if (args.Length >= 3 && args[0] == "sgemm")
        {
            Sgemm(Int(args[1]), Int(args[2]));
            return 0;
        }

        Console.Error.WriteLine("usage: AcedSelect gen DIR B d | select DIR b n greedy|gumbel REPS [OUT.npy] | sgemm SIZE REPS");
        return 2;
    }

    private static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);

    private static void Generate(string directory, int count, int dimension)
    {
        Directory.CreateDirectory(directory);
        (Matrix si, Matrix st) = Embeddings(count, dimension, 1, 1.5f);
        (Matrix ri, Matrix rt) = Embeddings(count, dimension, 2, 0.5f);
        Npy.Write(Path.Combine(directory, "si.npy"), si);
        Npy.Write(Path.Combine(directory, "st.npy"), st);
        Npy.Write(Path.Combine(directory, "ri.npy"), ri);
        Npy.Write(Path.Combine(directory, "rt.npy"), rt);
        Console.WriteLine($"wrote B={count} d={dimension} to {directory}");
    }

    /// <summary>The generator of bench/Aced.Benchmarks/Selection/SelectionBenchmarks.Embeddings.</summary>
    private static (Matrix Image, Matrix Text) Embeddings(int count, int dim, ulong seed, float noise)
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
        return (image, text);
    }

    private static void Select(string directory, int b, int chunks, bool greedy, int reps, string? output)
    {
        Matrix si = Npy.ReadMatrix(Path.Combine(directory, "si.npy"));
        Matrix st = Npy.ReadMatrix(Path.Combine(directory, "st.npy"));
        Matrix ri = Npy.ReadMatrix(Path.Combine(directory, "ri.npy"));
        Matrix rt = Npy.ReadMatrix(Path.Combine(directory, "rt.npy"));
        var batch = new SuperBatch(
            new ModelEmbeddings(si, st, LogitParameters.SigmoidDefault),
            new ModelEmbeddings(ri, rt, LogitParameters.SigmoidDefault));
        var sampler = new ActiveBatchSampler(new ActiveBatchSamplerOptions
        {
            BatchSize = b,
            Chunks = chunks,
            Sampler = SamplerKind.Joint,
            Loss = ContrastiveKind.Sigmoid,
            Greedy = greedy,
            Seed = 1,
        });
        sampler.Sample(batch, 0);
        double[] times = new double[reps];
        for (int r = 0; r < reps; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            sampler.Sample(batch, 0);
            times[r] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }

        SelectionResult result = sampler.Sample(batch, 0);
        if (output is not null)
        {
            Npy.Write(output, result.Indices);
        }

        Array.Sort(times);
        Console.WriteLine(FormattableString.Invariant($"aced select B={si.Rows} b={b} d={si.Columns} n={chunks} {(greedy ? "greedy" : "gumbel")} threads={GemmControl.MaxDegreeOfParallelism}: median {times[reps / 2]:F4} s min {times[0]:F4} s"));
    }

    private static void Sgemm(int size, int reps)
    {
        var rng = new CounterRng(3);
        var a = new Matrix(size, size);
        var c = new Matrix(size, size);
        for (int i = 0; i < a.Data.Length; i++)
        {
            a.Data[i] = rng.NextNormal();
        }

        Gemm.Multiply(a, a, c);
        double[] times = new double[reps];
        for (int r = 0; r < reps; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Gemm.Multiply(a, a, c);
            times[r] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }

        Array.Sort(times);
        double flops = 2.0 * size * size * size;
        Console.WriteLine(FormattableString.Invariant($"aced sgemm {size}^3 threads={GemmControl.MaxDegreeOfParallelism}: median {times[reps / 2]:F5} s ({flops / times[reps / 2] / 1e9:F1} GFLOP/s)"));
    }
}
