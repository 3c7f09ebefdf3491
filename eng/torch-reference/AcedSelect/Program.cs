using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
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
/// warm-up calls until the steady state (at least 3 calls and <c>ACED_WARMUP_SECONDS</c>, default 3 s), then REPS
/// timed calls; prints the median and minimum seconds, the warm-up's calls and the first call's time; writes the
/// chosen indices.</item>
/// <item><c>sgemm SIZE REPS</c>: median seconds of Aced's SIZE^3 SGEMM (Gemm.Multiply), the machine yardstick, after
/// the same warm-up as <c>select</c>.</item>
/// <item><c>ab DIR b n ROUNDS SWITCH...</c>: a same-process A/B of <c>select</c> (gumbel), after warming both variants
/// up to the steady state as <c>select</c> does: each round times one
/// selection with every SWITCH (an internal static bool property, <c>Namespace.Type.Property</c>, set by reflection)
/// false, one with them true (order alternating by round) and one 1024^3 SGEMM between them; prints per variant the
/// median seconds and the median ratio of the selection's GFLOP/s (<c>8 B b d (n - 1) / n</c>) to the round's SGEMM
/// GFLOP/s, and the median per-round ratios new / old of the time and of the process CPU time.</item>
/// <item><c>prod DIR c ROUNDS</c>: the sigmoid selection's grouped products alone, one chunk of c members (B x d
/// candidates in place against c x d members, 4 products as <c>Gemm.MultiplyWithEpilogues</c>): each round times a
/// selection's worth (15 groups) with no epilogue, with the softplus row-sum epilogue, a 1024^3 SGEMM and the whole
/// selection with b = 16 c, n = 16 (the same products), in rotating order; prints each variant's median GFLOP/s over the round's SGEMM GFLOP/s.</item>
/// <item><c>first DIR b n CALLS</c>: the warm-up itself: times the process's first CALLS selections (gumbel) with no
/// warm-up and prints them in call order, the first call, the mean of calls 2-20 and of the last third (the steady
/// state) and the seconds the first 20 calls spent above that steady state.</item>
/// <item><c>phases DIR b n ROUNDS</c>: the joint selection's steps timed one by one (the same sequence of internal
/// calls as <c>ActiveBatchSampler</c>'s joint path: scorer begin, then per chunk the conditional scores, the chunk
/// logits, the Gumbel top-k, the member marks and the members' update, whose grouped products run on the worker pool),
/// after the warm-up of <c>select</c>; each round also times one 1024^3 SGEMM and one whole selection. Prints per step the
/// median milliseconds per selection, the process CPU time during the members' updates over their wall time (threads
/// busy), and the whole selection's ratio to the round's SGEMM.</item>
/// <item><c>paired DIR b n PAIRS</c>: the selection's rate against the machine's rate right next to it: after the
/// warm-up of <c>select</c> (of the selection and the SGEMM), PAIRS pairs of one selection (gumbel) and as many 1024^3
/// SGEMMs (<c>Gemm.Multiply</c>, the same thread count) as take about the selection's time, in this order; prints the
/// median, quartiles, min and max of the per-pair ratios of the selection's GFLOP/s (<c>8 B b d (n - 1) / n</c>) to the
/// adjacent SGEMMs' GFLOP/s (as AcedProbe <c>interleaved</c>'s PAIRED figure), both rates' medians, the selection's
/// process CPU time over its wall time and the load before and after. This is the figure of the 5120 target.</item>
/// <item><c>sums DIR ROUNDS SWITCH</c>: the sigmoid epilogue's softplus row sums alone, on one thread, with SWITCH (as
/// in <c>ab</c>) off and on alternating: each timing applies <c>SoftplusRowSumEpilogue</c> to the 64-row tiles of the
/// student's logits of the first <c>ACED_SUMS_ROWS</c> (default 64: one tile, in L1 as the band tile the GEMM has just
/// written) candidates against 64 members, 10240 rows in all; prints per variant the minimum and median ns per element and the median of the adjacent on/off
/// ratios.</item>
/// </list>
/// <c>ACED_PROBE_THREADS</c> sets <see cref="GemmControl.MaxDegreeOfParallelism"/>; <c>ACED_SELECT_OFF</c>, a
/// comma-separated list of switches (as in <c>ab</c>), sets them false for the whole run (the before of a
/// before/after in separate processes, e.g. of <c>paired</c>).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (Environment.GetEnvironmentVariable("ACED_PROBE_THREADS") is string threads)
        {
            GemmControl.MaxDegreeOfParallelism = int.Parse(threads, CultureInfo.InvariantCulture);
        }

        if (Environment.GetEnvironmentVariable("ACED_SELECT_OFF") is string off)
        {
            foreach (string name in off.Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                Switch(name).SetValue(null, false);
                Console.WriteLine($"{name} = false");
            }
        }

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

        if (args.Length >= 6 && args[0] == "ab")
        {
            AB(args[1], Int(args[2]), Int(args[3]), Int(args[4]), args[5..]);
            return 0;
        }

        if (args.Length >= 5 && args[0] == "first")
        {
            First(args[1], Int(args[2]), Int(args[3]), Int(args[4]));
            return 0;
        }

        if (args.Length >= 4 && args[0] == "prod")
        {
            Products(args[1], Int(args[2]), Int(args[3]));
            return 0;
        }

        if (args.Length >= 5 && args[0] == "phases")
        {
            Phases(args[1], Int(args[2]), Int(args[3]), Int(args[4]));
            return 0;
        }

        if (args.Length >= 5 && args[0] == "paired")
        {
            Paired(args[1], Int(args[2]), Int(args[3]), Int(args[4]));
            return 0;
        }

        if (args.Length >= 4 && args[0] == "sums")
        {
            Sums(args[1], Int(args[2]), args[3]);
            return 0;
        }

        if (args.Length >= 1 && args[0] == "bits")
        {
            return args.Length >= 2 && args[1] == "quad" ? (ExhaustiveBits.SoftplusQuad() == 0 ? 0 : 1) : ExhaustiveBits.Run();
        }

        if (args.Length >= 3 && args[0] == "sgemm")
        {
            Sgemm(Int(args[1]), Int(args[2]));
            return 0;
        }

        Console.Error.WriteLine("usage: AcedSelect gen DIR B d | select DIR b n greedy|gumbel REPS [OUT.npy] | sgemm SIZE REPS | ab DIR b n ROUNDS SWITCH... | prod DIR c ROUNDS | first DIR b n CALLS | phases DIR b n ROUNDS | paired DIR b n PAIRS | sums DIR ROUNDS SWITCH | bits [quad]");
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

    private static SuperBatch ReadBatch(string directory)
    {
        Matrix si = Npy.ReadMatrix(Path.Combine(directory, "si.npy"));
        Matrix st = Npy.ReadMatrix(Path.Combine(directory, "st.npy"));
        Matrix ri = Npy.ReadMatrix(Path.Combine(directory, "ri.npy"));
        Matrix rt = Npy.ReadMatrix(Path.Combine(directory, "rt.npy"));
        return new SuperBatch(
            new ModelEmbeddings(si, st, LogitParameters.SigmoidDefault),
            new ModelEmbeddings(ri, rt, LogitParameters.SigmoidDefault));
    }

    private static ActiveBatchSampler JointSampler(int b, int chunks, bool greedy) => new(new ActiveBatchSamplerOptions
    {
        BatchSize = b,
        Chunks = chunks,
        Sampler = SamplerKind.Joint,
        Loss = ContrastiveKind.Sigmoid,
        Greedy = greedy,
        Seed = 1,
    });

    private static void Select(string directory, int b, int chunks, bool greedy, int reps, string? output)
    {
        SuperBatch batch = ReadBatch(directory);
        var sampler = JointSampler(b, chunks, greedy);
        (int warmupCalls, double firstCall) = WarmUp(() => sampler.Sample(batch, 0));
        double[] times = new double[reps];
        for (int r = 0; r < reps; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            sampler.Sample(batch, 0);
            times[r] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }

        if (Environment.GetEnvironmentVariable("ACED_SELECT_TRACE") == "1")
        {
            Console.WriteLine("times in call order: " + string.Join(' ', times.Select(t => t.ToString("F4", CultureInfo.InvariantCulture))));
        }

        SelectionResult result = sampler.Sample(batch, 0);
        if (output is not null)
        {
            Npy.Write(output, result.Indices);
        }

        Array.Sort(times);
        Console.WriteLine(FormattableString.Invariant($"aced select B={batch.Count} b={b} d={batch.Student.Dimension} n={chunks} {(greedy ? "greedy" : "gumbel")} threads={GemmControl.MaxDegreeOfParallelism}: median {times[reps / 2]:F4} s min {times[0]:F4} s (after {warmupCalls} warm-up calls; first call {firstCall:F4} s)"));
    }

    /// <summary>
    /// Calls <paramref name="action"/> until the process is in its steady state: at least
    /// <see cref="WarmUpMinCalls"/> calls and <see cref="WarmUpSeconds"/> seconds (the runtime's tiered JIT recompiles
    /// hot methods in the background over the first calls, which on 2 cores made the first ~20 selections at B = 5120
    /// up to 1.6x slower than the rest). joint_select.py warms up by the same rule.
    /// </summary>
    private static (int Calls, double FirstCall) WarmUp(Action action)
    {
        long start = Stopwatch.GetTimestamp();
        action();
        double first = Stopwatch.GetElapsedTime(start).TotalSeconds;
        int calls = 1;
        while (calls < WarmUpMinCalls || Stopwatch.GetElapsedTime(start).TotalSeconds < WarmUpSeconds)
        {
            action();
            calls++;
        }

        return (calls, first);
    }


    /// <summary>The calling thread's CPU time (Linux <c>clock_gettime(CLOCK_THREAD_CPUTIME_ID)</c>; NaN elsewhere).</summary>
    private static double ThreadCpuSeconds() => CpuSeconds(3);

    /// <summary>The process's CPU time, all threads (Linux <c>clock_gettime(CLOCK_PROCESS_CPUTIME_ID)</c>; NaN elsewhere).</summary>
    private static double ProcessCpuSeconds() => CpuSeconds(2);

    private static double CpuSeconds(int clock)
    {
        try
        {
            return ClockGetTime(clock, out TimeSpec t) == 0 ? t.Seconds + (t.Nanoseconds * 1e-9) : double.NaN;
        }
        catch (DllNotFoundException)
        {
            return double.NaN;
        }
        catch (EntryPointNotFoundException)
        {
            return double.NaN;
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    private static void First(string directory, int b, int chunks, int calls)
    {
        long begin = Stopwatch.GetTimestamp();
        SuperBatch batch = ReadBatch(directory);
        var sampler = JointSampler(b, chunks, greedy: false);
        double load = Stopwatch.GetElapsedTime(begin).TotalSeconds;
        double[] times = new double[calls], cpu = new double[calls], jit = new double[calls];
        long[] methods = new long[calls];
        for (int r = 0; r < calls; r++)
        {
            TimeSpan j0 = System.Runtime.JitInfo.GetCompilationTime();
            long m0 = System.Runtime.JitInfo.GetCompiledMethodCount();
            double c0 = ThreadCpuSeconds();
            long t0 = Stopwatch.GetTimestamp();
            sampler.Sample(batch, 0);
            times[r] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            cpu[r] = ThreadCpuSeconds() - c0;
            jit[r] = (System.Runtime.JitInfo.GetCompilationTime() - j0).TotalSeconds;
            methods[r] = System.Runtime.JitInfo.GetCompiledMethodCount() - m0;
        }

        double[] tail = times[(calls - (calls / 3))..];
        double steady = Median(tail);
        int early = Math.Min(20, calls);
        double excess = 0, second = 0;
        for (int r = 0; r < early; r++)
        {
            excess += times[r] - steady;
            second += r > 0 ? times[r] / (early - 1) : 0;
        }

        Console.WriteLine("times in call order: " + string.Join(' ', times.Select(t => t.ToString("F4", CultureInfo.InvariantCulture))));
        Console.WriteLine("calling thread's CPU seconds: " + string.Join(' ', cpu.Select(t => t.ToString("F4", CultureInfo.InvariantCulture))));
        Console.WriteLine("JIT seconds (all threads) during each call: " + string.Join(' ', jit.Select(t => t.ToString("F4", CultureInfo.InvariantCulture))));
        Console.WriteLine("methods compiled during each call: " + string.Join(' ', methods));
        double cpuSteady = Median(cpu[(calls - (calls / 3))..]);
        Console.WriteLine(FormattableString.Invariant($"  calling thread's CPU: first call {cpu[0] / cpuSteady:F2}x, calls 2-{early} mean {(cpu[1..early].Sum() / (early - 1)) / cpuSteady:F2}x the steady {cpuSteady:F4} s"));
        Console.WriteLine(FormattableString.Invariant($"aced first B={batch.Count} b={b} n={chunks} threads={GemmControl.MaxDegreeOfParallelism} (inputs read in {load:F2} s): first call {times[0]:F4} s ({times[0] / steady:F2}x), calls 2-{early} mean {second:F4} s ({second / steady:F2}x), steady (median of the last {tail.Length}) {steady:F4} s; first {early} calls {excess:F3} s above the steady state"));
    }

    private static void Phases(string directory, int b, int chunks, int rounds)
    {
        SuperBatch batch = ReadBatch(directory);
        int count = batch.Count, dim = batch.Student.Dimension;
        double flops = 8.0 * count * b * dim * (chunks - 1) / chunks;
        var options = new ActiveBatchSamplerOptions { BatchSize = b, Chunks = chunks, Sampler = SamplerKind.Joint, Loss = ContrastiveKind.Sigmoid, Seed = 1 };
        var sampler = new ActiveBatchSampler(options);
        var scorer = new ConditionalScorer();
        double[] conditional = new double[count];
        float[] logits = new float[count], scratch = new float[count], halfKeys = new float[count];
        int[] halfIndices = new int[count];
        bool[] isMember = new bool[count];
        int[] chosen = new int[b];
        float[] chosenScores = new float[b];
        (Matrix a, Matrix sq) = SquareOperands(1024);
        string[] names = ["begin (independent scores, checks)", "conditional scores", "chunk logits", "Gumbel top-k", "member marks", "members' update (products)", "selection, phases summed", "whole selection (Sample)", "1024^3 SGEMM"];
        int phases = names.Length;
        double[] t = new double[phases];
        double updateCpu = 0;

        void Run()
        {
            Array.Clear(t);
            updateCpu = 0;
            long t0 = Stopwatch.GetTimestamp();
            isMember.AsSpan().Clear();
            scorer.Begin(batch, options.Scoring, options.ScoreLoss, b, options.NormTolerance, options.SoftmaxLogitCacheBytes);
            t[0] += Stopwatch.GetElapsedTime(t0).TotalSeconds;
            var rng = new CounterRng(options.Seed, 0);
            int filled = 0;
            for (int k = 0; k < chunks; k++)
            {
                int size = ActiveBatchSamplerOptions.ChunkSize(b, chunks, k);
                long s = Stopwatch.GetTimestamp();
                scorer.Conditional(conditional);
                long s1 = Stopwatch.GetTimestamp();
                double factor = ActiveBatchSampler.ChunkFactor(options, filled, options.Temperature);
                ActiveBatchSampler.ChunkLogits(conditional, isMember, factor, logits);
                long s2 = Stopwatch.GetTimestamp();
                Span<int> chunk = chosen.AsSpan(filled, size);
                Sampling.GumbelTopKInHalves(logits, size, ref rng, chunk, scratch, halfIndices, halfKeys);
                long s3 = Stopwatch.GetTimestamp();
                for (int i = 0; i < size; i++)
                {
                    isMember[chunk[i]] = true;
                    chosenScores[filled + i] = (float)conditional[chunk[i]];
                }

                long s4 = Stopwatch.GetTimestamp();
                filled += size;
                if (k < chunks - 1)
                {
                    double c0 = ProcessCpuSeconds();
                    scorer.AddMembers(chunk);
                    updateCpu += ProcessCpuSeconds() - c0;
                }

                long s5 = Stopwatch.GetTimestamp();
                t[1] += Stopwatch.GetElapsedTime(s, s1).TotalSeconds;
                t[2] += Stopwatch.GetElapsedTime(s1, s2).TotalSeconds;
                t[3] += Stopwatch.GetElapsedTime(s2, s3).TotalSeconds;
                t[4] += Stopwatch.GetElapsedTime(s3, s4).TotalSeconds;
                t[5] += Stopwatch.GetElapsedTime(s4, s5).TotalSeconds;
            }

            t[6] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            long w0 = Stopwatch.GetTimestamp();
            sampler.Sample(batch, 0);
            t[7] = Stopwatch.GetElapsedTime(w0).TotalSeconds;
            long g0 = Stopwatch.GetTimestamp();
            Gemm.Multiply(a, a, sq);
            t[8] = Stopwatch.GetElapsedTime(g0).TotalSeconds;
        }

        WarmUp(Run);
        double[][] times = new double[phases][];
        double[] busy = new double[rounds], ratio = new double[rounds], phasedRatio = new double[rounds];
        for (int p = 0; p < phases; p++)
        {
            times[p] = new double[rounds];
        }

        for (int r = 0; r < rounds; r++)
        {
            Run();
            for (int p = 0; p < phases; p++)
            {
                times[p][r] = t[p];
            }

            busy[r] = updateCpu / t[5];
            double sgemm = 2.0 * 1024 * 1024 * 1024 / t[8];
            ratio[r] = flops / t[7] / sgemm;
            phasedRatio[r] = flops / t[6] / sgemm;
        }

        Console.WriteLine(FormattableString.Invariant($"aced phases B={count} b={b} d={dim} n={chunks} threads={GemmControl.MaxDegreeOfParallelism} rounds={rounds}: median ms per selection"));
        for (int p = 0; p < phases; p++)
        {
            Console.WriteLine(FormattableString.Invariant($"  {names[p],-36} {Median(times[p]) * 1e3,9:F3} ms (min {Min(times[p]) * 1e3:F3})"));
        }

        Console.WriteLine(FormattableString.Invariant($"  members' update: process CPU / wall median {Median(busy):F2} (threads busy)"));
        Console.WriteLine(FormattableString.Invariant($"  selection / round's SGEMM: whole {Median(ratio):F3}, phases summed {Median(phasedRatio):F3}; members' update alone at the SGEMM's rate would take {flops / (2.0 * 1024 * 1024 * 1024 / Median(times[8])) * 1e3:F3} ms"));
    }

    private const int WarmUpMinCalls = 3;

    private static double WarmUpSeconds =>
        double.TryParse(Environment.GetEnvironmentVariable("ACED_WARMUP_SECONDS"), NumberStyles.Float, CultureInfo.InvariantCulture, out double s) ? s : 3.0;

    /// <summary>The internal static bool property <c>Namespace.Type.Property</c> of Aced.Core or Aced.Selection.</summary>
    private static System.Reflection.PropertyInfo Switch(string name)
    {
        int dot = name.LastIndexOf('.');
        Type type = typeof(Gemm).Assembly.GetType(name[..dot]) ?? typeof(ActiveBatchSampler).Assembly.GetType(name[..dot])
            ?? throw new ArgumentException($"no type {name[..dot]} in Aced.Core or Aced.Selection", nameof(name));
        return type.GetProperty(name[(dot + 1)..], System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Public)
            ?? throw new ArgumentException($"no static property {name}", nameof(name));
    }

    private static void Sums(string directory, int rounds, string name)
    {
        int rows = Environment.GetEnvironmentVariable("ACED_SUMS_ROWS") is string env ? Int(env) : 64;
        const int Columns = 64, Band = 64;
        int passes = 10240 / rows;
        System.Reflection.PropertyInfo property = Switch(name);
        SuperBatch batch = ReadBatch(directory);
        ModelEmbeddings model = batch.Student;
        var logits = new Matrix(rows, Columns);
        Gemm.Multiply(Transpose.None, Transpose.Transposed, model.Logits.Scale, model.Image.RowRange(0, rows), model.Text.RowRange(0, Columns), 0f, logits.View);
        double[] accumulator = new double[rows];
        var epilogue = new SoftplusRowSumEpilogue(accumulator, model.Logits.Bias, 1.0);
        double Time(bool on)
        {
            property.SetValue(null, on);
            long t0 = Stopwatch.GetTimestamp();
            for (int p = 0; p < passes; p++)
            {
                for (int r = 0; r < rows; r += Band)
                {
                    epilogue.Apply(r, 0, Band, Columns, logits.Data.AsSpan(r * Columns, Band * Columns), Columns);
                }
            }

            return Stopwatch.GetElapsedTime(t0).TotalSeconds * 1e9 / ((double)passes * rows * Columns);
        }

        WarmUp(() =>
        {
            Time(false);
            Time(true);
        });
        double[] off = new double[rounds], on = new double[rounds], ratios = new double[rounds];
        for (int r = 0; r < rounds; r++)
        {
            bool onFirst = (r & 1) == 1;
            double first = Time(onFirst), second = Time(!onFirst);
            on[r] = onFirst ? first : second;
            off[r] = onFirst ? second : first;
            ratios[r] = on[r] / off[r];
        }

        property.SetValue(null, true);
        Console.WriteLine(FormattableString.Invariant($"aced sums {rows}x{Columns} tiles of {Band} rows x {passes} passes, rounds={rounds}, switch {name} | load {Load()}"));
        Console.WriteLine(FormattableString.Invariant($"  off: min {Min(off):F3} median {Median(off):F3} ns/element; on: min {Min(on):F3} median {Median(on):F3}; on/off median {Median(ratios):F3}, of minima {Min(on) / Min(off):F3}"));
    }

    private static void AB(string directory, int b, int chunks, int rounds, string[] switches)
    {
        System.Reflection.PropertyInfo[] properties = switches.Select(Switch).ToArray();

        SuperBatch batch = ReadBatch(directory);
        int count = batch.Count, dim = batch.Student.Dimension;
        double flops = 8.0 * count * b * dim * (chunks - 1) / chunks;
        var sampler = JointSampler(b, chunks, greedy: false);
        (Matrix a, Matrix c) = SquareOperands(1024);
        void Set(bool on)
        {
            foreach (System.Reflection.PropertyInfo property in properties)
            {
                property.SetValue(null, on);
            }
        }

        double cpu = 0;
        Process process = Process.GetCurrentProcess();
        double Time(bool on)
        {
            Set(on);
            process.Refresh();
            TimeSpan c0 = process.TotalProcessorTime;
            long t0 = Stopwatch.GetTimestamp();
            sampler.Sample(batch, 0);
            double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            process.Refresh();
            cpu = (process.TotalProcessorTime - c0).TotalSeconds;
            return seconds;
        }

        WarmUp(() =>
        {
            Time(false);
            Time(true);
            Gemm.Multiply(a, a, c);
        });
        double[] oldTimes = new double[rounds], newTimes = new double[rounds], oldRatios = new double[rounds], newRatios = new double[rounds], pairs = new double[rounds], cpuPairs = new double[rounds];
        for (int r = 0; r < rounds; r++)
        {
            bool newFirst = (r & 1) == 1;
            double first = Time(newFirst);
            double firstCpu = cpu;
            long t0 = Stopwatch.GetTimestamp();
            Gemm.Multiply(a, a, c);
            double sgemm = 2.0 * 1024 * 1024 * 1024 / Stopwatch.GetElapsedTime(t0).TotalSeconds;
            double second = Time(!newFirst);
            cpuPairs[r] = newFirst ? firstCpu / cpu : cpu / firstCpu;
            oldTimes[r] = newFirst ? second : first;
            newTimes[r] = newFirst ? first : second;
            oldRatios[r] = flops / oldTimes[r] / sgemm;
            newRatios[r] = flops / newTimes[r] / sgemm;
            pairs[r] = newTimes[r] / oldTimes[r];
        }

        Set(true);
        Console.WriteLine(FormattableString.Invariant($"aced ab B={count} b={b} d={dim} n={chunks} threads={GemmControl.MaxDegreeOfParallelism} rounds={rounds} switches={string.Join(',', switches)}"));
        Console.WriteLine(FormattableString.Invariant($"  off: median {Median(oldTimes):F4} s min {Min(oldTimes):F4} s, selection/SGEMM median {Median(oldRatios):F3} max {Max(oldRatios):F3}"));
        Console.WriteLine(FormattableString.Invariant($"  on:  median {Median(newTimes):F4} s min {Min(newTimes):F4} s, selection/SGEMM median {Median(newRatios):F3} max {Max(newRatios):F3}"));
        Console.WriteLine(FormattableString.Invariant($"  on/off time, median of per-round ratios: {Median(pairs):F3}; process CPU time: {Median(cpuPairs):F3}"));
    }

    private static void Paired(string directory, int b, int chunks, int pairs)
    {
        string loadBefore = Load();
        SuperBatch batch = ReadBatch(directory);
        int count = batch.Count, dim = batch.Student.Dimension;
        double flops = 8.0 * count * b * dim * (chunks - 1) / chunks;
        const double SgemmFlops = 2.0 * 1024 * 1024 * 1024;
        var sampler = JointSampler(b, chunks, greedy: false);
        (Matrix a, Matrix c) = SquareOperands(1024);
        double selection = 0, sgemm = 0, cpu = 0;
        void Select()
        {
            double c0 = ProcessCpuSeconds();
            long t0 = Stopwatch.GetTimestamp();
            sampler.Sample(batch, 0);
            selection = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            cpu = ProcessCpuSeconds() - c0;
        }

        void Sgemms(int calls)
        {
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < calls; i++)
            {
                Gemm.Multiply(a, a, c);
            }

            sgemm = Stopwatch.GetElapsedTime(t0).TotalSeconds / calls;
        }

        WarmUp(() =>
        {
            Select();
            Sgemms(1);
        });
        int sgemms = Math.Max(1, (int)Math.Round(selection / sgemm));
        double[] ratios = new double[pairs], selectionRates = new double[pairs], sgemmRates = new double[pairs], busy = new double[pairs];
        for (int r = 0; r < pairs; r++)
        {
            Select();
            Sgemms(sgemms);
            selectionRates[r] = flops / selection;
            sgemmRates[r] = SgemmFlops / sgemm;
            ratios[r] = selectionRates[r] / sgemmRates[r];
            busy[r] = cpu / selection;
        }

        if (Environment.GetEnvironmentVariable("ACED_SELECT_TRACE") == "1")
        {
            Console.WriteLine("ratios in pair order: " + string.Join(' ', ratios.Select(t => t.ToString("F3", CultureInfo.InvariantCulture))));
        }

        Console.WriteLine(FormattableString.Invariant($"aced paired B={count} b={b} d={dim} n={chunks} threads={GemmControl.MaxDegreeOfParallelism} pairs={pairs} ({sgemms} SGEMMs 1024^3 per selection)"));
        Console.WriteLine(FormattableString.Invariant($"  selection median {Median(selectionRates) / 1e9:F1} GFLOP/s ({flops / Median(selectionRates):F4} s), SGEMM median {Median(sgemmRates) / 1e9:F1} GFLOP/s, selection CPU/wall median {Median(busy):F2}"));
        Console.WriteLine(FormattableString.Invariant($"  PAIRED selection/SGEMM med {Median(ratios):F3} quartiles {Quantile(ratios, 0.25):F3}-{Quantile(ratios, 0.75):F3} min {Min(ratios):F3} max {Max(ratios):F3} | load {loadBefore} -> {Load()}"));
    }

    private static string Load() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";

    private static double Median(double[] values) => Quantile(values, 0.5);

    /// <summary>The element at position <c>floor(q (length - 1) + 0.5)</c> of the sorted values (the upper median for q = 0.5).</summary>
    private static double Quantile(double[] values, double q)
    {
        double[] sorted = (double[])values.Clone();
        Array.Sort(sorted);
        return sorted[(int)((q * (sorted.Length - 1)) + 0.5)];
    }

    private static double Min(double[] values) => MinMax(values).Min;

    private static double Max(double[] values) => MinMax(values).Max;

    private static (double Min, double Max) MinMax(double[] values)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (double v in values)
        {
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }

        return (min, max);
    }

    private static (Matrix A, Matrix C) SquareOperands(int size)
    {
        var rng = new CounterRng(3);
        var a = new Matrix(size, size);
        for (int i = 0; i < a.Data.Length; i++)
        {
            a.Data[i] = rng.NextNormal();
        }

        return (a, new Matrix(size, size));
    }

    private static void Sgemm(int size, int reps)
    {
        (Matrix a, Matrix c) = SquareOperands(size);
        WarmUp(() => Gemm.Multiply(a, a, c));
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

    /// <summary>An epilogue that ignores its tiles: the product alone.</summary>
    private readonly struct NoEpilogue : IGemmEpilogue
    {
        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
        }
    }

    private static EpilogueProduct<TEpilogue>[] Group<TEpilogue>(SuperBatch batch, int c, TEpilogue epilogue)
        where TEpilogue : IGemmEpilogue
    {
        int d = batch.Student.Dimension;
        var products = new EpilogueProduct<TEpilogue>[4];
        int q = 0;
        foreach (ModelEmbeddings model in new[] { batch.Student, batch.Reference! })
        {
            float scale = model.Logits.Scale;
            products[q++] = new(Transpose.None, Transpose.Transposed, scale, model.Image, model.Text.RowRange(0, c), epilogue);
            products[q++] = new(Transpose.None, Transpose.Transposed, scale, model.Text, model.Image.RowRange(0, c), epilogue);
        }

        return products;
    }

    private static void Products(string directory, int c, int rounds)
    {
        const int Groups = 15;
        SuperBatch batch = ReadBatch(directory);
        int count = batch.Count, dim = batch.Student.Dimension;
        double flops = 8.0 * count * c * dim * Groups;
        EpilogueProduct<NoEpilogue>[] plain = Group(batch, c, default(NoEpilogue));
        double[] accumulator = new double[count];
        EpilogueProduct<SoftplusRowSumEpilogue>[] softplus = Group(batch, c, new SoftplusRowSumEpilogue(accumulator, batch.Student.Logits.Bias, 1.0));
        (Matrix a, Matrix sq) = SquareOperands(1024);
        var sampler = JointSampler(c * 16, 16, greedy: false);
        string[] names = ["product alone", "product + softplus sums", "1024^3 SGEMM", $"selection b={c * 16} n=16"];
        const int Variants = 4;
        double Time(int variant)
        {
            long t0 = Stopwatch.GetTimestamp();
            if (variant == 2)
            {
                Gemm.Multiply(a, a, sq);
                return 2.0 * 1024 * 1024 * 1024 / Stopwatch.GetElapsedTime(t0).TotalSeconds;
            }

            if (variant == 3)
            {
                sampler.Sample(batch, 0);
                return flops / Stopwatch.GetElapsedTime(t0).TotalSeconds;
            }

            for (int g = 0; g < Groups; g++)
            {
                if (variant == 0)
                {
                    Gemm.MultiplyWithEpilogues<NoEpilogue>(plain);
                }
                else
                {
                    Gemm.MultiplyWithEpilogues<SoftplusRowSumEpilogue>(softplus);
                }
            }

            return flops / Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }

        WarmUp(() =>
        {
            for (int v = 0; v < Variants; v++)
            {
                Time(v);
            }
        });

        double[][] rates = [new double[rounds], new double[rounds], new double[rounds], new double[rounds]];
        for (int r = 0; r < rounds; r++)
        {
            for (int v = 0; v < Variants; v++)
            {
                int variant = (v + r) % Variants;
                rates[variant][r] = Time(variant);
            }
        }

        Console.WriteLine(FormattableString.Invariant($"aced prod B={count} c={c} d={dim} 4 products x {Groups} groups threads={GemmControl.MaxDegreeOfParallelism} rounds={rounds}"));
        for (int v = 0; v < Variants; v++)
        {
            double[] ratios = new double[rounds];
            for (int r = 0; r < rounds; r++)
            {
                ratios[r] = rates[v][r] / rates[2][r];
            }

            Console.WriteLine(FormattableString.Invariant($"  {names[v],-24} median {Median(rates[v]) / 1e9:F1} GFLOP/s, / round's SGEMM: median {Median(ratios):F3}"));
        }
    }
}
