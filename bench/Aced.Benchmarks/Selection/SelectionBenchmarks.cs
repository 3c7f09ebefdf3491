using System;
using System.Collections.Generic;
using System.Linq;
using Aced.Core;
using Aced.Selection;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Aced.Benchmarks.Selection;

/// <summary>Problem size of one selection: super-batch B, sub-batch b, embedding dimension d, chunks n.</summary>
public readonly record struct SelectionSize(int SuperBatch, int Batch, int Dimension, int Chunks)
{
    /// <summary>Flops of the fused learnability/sigmoid joint selection: 4 products (2 directions x 2 models) of B x d x c per chunk after the first.</summary>
    public double JointFlops => 8.0 * SuperBatch * Batch * Dimension * (Chunks - 1) / Chunks;

    public override string ToString() => $"B={SuperBatch} b={Batch} d={Dimension} n={Chunks}";
}

/// <summary>
/// Seconds per selection of the <see cref="ActiveBatchSampler"/> and GFLOP/s counted as <c>8*B*b*d*(n-1)/n</c>.
/// The two large sizes of the issue run only with <c>ACED_SELECTION_FULL=1</c> (minutes per operation with the
/// generic GEMM).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class SelectionBenchmarks
{
    private SuperBatch _batch = null!;
    private ActiveBatchSampler _joint = null!;
    private ActiveBatchSampler _independent = null!;
    private ActiveBatchSampler _uniform = null!;
    private Matrix _square = null!;
    private Matrix _squareProduct = null!;

    [ParamsSource(nameof(Sizes))]
    public SelectionSize Size { get; set; }

    public static IEnumerable<SelectionSize> Sizes()
    {
        yield return new SelectionSize(5119, 1023, 255, 16); // odd sizes: tails in every kernel
        yield return new SelectionSize(5120, 1024, 256, 16);
        if (Environment.GetEnvironmentVariable("ACED_SELECTION_FULL") == "1")
        {
            yield return new SelectionSize(20480, 4096, 256, 16);
            yield return new SelectionSize(40960, 8192, 384, 16);
        }
    }

    [GlobalSetup]
    public void Setup()
    {
        _batch = new SuperBatch(Embeddings(Size.SuperBatch, Size.Dimension, 1, 1.5f), Embeddings(Size.SuperBatch, Size.Dimension, 2, 0.5f));
        _joint = Sampler(SamplerKind.Joint, ContrastiveKind.Sigmoid);
        _independent = Sampler(SamplerKind.Independent, ContrastiveKind.Sigmoid);
        _uniform = Sampler(SamplerKind.Uniform, ContrastiveKind.Sigmoid);
        _square = Embeddings(1024, 1024, 3, 1f).Image.ToMatrix();
        _squareProduct = new Matrix(1024, 1024);
    }

    /// <summary>IID baseline: uniform draw (plus the O(B*d) independent scores for the diagnostics).</summary>
    [Benchmark(Baseline = true)]
    public int Uniform() => _uniform.Sample(_batch, 0).Indices[0];

    /// <summary>Independent prioritised sampling (Gumbel-top-b of the positive-pair learnability).</summary>
    [Benchmark]
    public int Independent() => _independent.Sample(_batch, 0).Indices[0];

    /// <summary>The ACED default: learnability, sigmoid, joint blocked-Gibbs sampling in n chunks.</summary>
    [Benchmark]
    public int JointLearnabilitySigmoid() => _joint.Sample(_batch, 0).Indices[0];

    /// <summary>
    /// The same joint selection as the code before the selgemm branch: the chunk's four products as four separate
    /// parallel calls (<c>Gemm.GroupEnabled = false</c>) and no software prefetch in the direct-A kernel; an A/B
    /// comparison under the same machine load (same bits).
    /// </summary>
    [Benchmark]
    public int JointLearnabilitySigmoidUngrouped()
    {
        Aced.Core.Gemm.GroupEnabled = false;
        GemmDirectA.PrefetchEnabled = false;
        try
        {
            return _joint.Sample(_batch, 0).Indices[0];
        }
        finally
        {
            Aced.Core.Gemm.GroupEnabled = true;
            GemmDirectA.PrefetchEnabled = true;
        }
    }

    /// <summary>Square 1024^3 SGEMM measured in the same run, the "machine peak" the selection is compared with.</summary>
    [Benchmark]
    public float SquareSgemm1024()
    {
        Aced.Core.Gemm.Multiply(_square, _square, _squareProduct);
        return _squareProduct.Data[^1];
    }

    private ActiveBatchSampler Sampler(SamplerKind kind, ContrastiveKind loss) =>
        new(new ActiveBatchSamplerOptions { BatchSize = Size.Batch, Chunks = Size.Chunks, Sampler = kind, Loss = loss, Seed = 1 });

    internal static ModelEmbeddings Embeddings(int count, int dim, ulong seed, float noise)
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

    internal sealed class Config : ManualConfig
    {
        public Config()
        {
            AddColumn(new GflopsColumn());
            AddColumn(new SgemmRatioColumn());
        }
    }

    /// <summary>GFLOP/s of the joint sigmoid selection, counted as 8*B*b*d*(n-1)/n per operation.</summary>
    private sealed class GflopsColumn : IColumn
    {
        public string Id => "SelectionGflops";

        public string ColumnName => "GFLOP/s (8Bbd(n-1)/n)";

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Custom;

        public int PriorityInCategory => 0;

        public bool IsNumeric => true;

        public UnitType UnitType => UnitType.Dimensionless;

        public string Legend => "Joint-selection flops 8*B*b*d*(n-1)/n divided by the mean time (joint methods); 2*1024^3 / mean for SquareSgemm1024";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            string method = benchmarkCase.Descriptor.WorkloadMethod.Name;
            bool square = method == nameof(SelectionBenchmarks.SquareSgemm1024);
            if (!square && !method.StartsWith("Joint", StringComparison.Ordinal))
            {
                return "-";
            }

            var size = (SelectionSize)benchmarkCase.Parameters.Items.First(p => p.Name == "Size").Value;
            double flops = square ? 2.0 * 1024 * 1024 * 1024 : size.JointFlops;
            BenchmarkDotNet.Mathematics.Statistics? stats = summary[benchmarkCase]?.ResultStatistics;
            return stats is null ? "NA" : (flops / stats.Mean).ToString("F2", System.Globalization.CultureInfo.InvariantCulture);
        }

        public bool IsAvailable(Summary summary) => true;

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    }
}

/// <summary>
/// The figure of merit: a joint selection's GFLOP/s (counted as 8*B*b*d*(n-1)/n) divided by the GFLOP/s of
/// <see cref="SelectionBenchmarks.SquareSgemm1024"/> measured in the same run with the same parameters (target: at least
/// 0.85 at every size).
/// </summary>
internal sealed class SgemmRatioColumn : IColumn
{
    public string Id => "SelectionToSgemm";

    public string ColumnName => "Ratio to same-run SGEMM";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 1;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "(8*B*b*d*(n-1)/n / median) / (2*1024^3 / median of SquareSgemm1024 in this run, same Size)";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        if (!benchmarkCase.Descriptor.WorkloadMethod.Name.StartsWith("Joint", StringComparison.Ordinal))
        {
            return "-";
        }

        var size = (SelectionSize)benchmarkCase.Parameters.Items.First(p => p.Name == "Size").Value;
        BenchmarkCase? square = summary.BenchmarksCases.FirstOrDefault(c =>
            c.Descriptor.WorkloadMethod.Name == nameof(SelectionBenchmarks.SquareSgemm1024) &&
            c.Parameters.Items.Any(p => p.Name == "Size" && Equals(p.Value, size)));
        BenchmarkDotNet.Mathematics.Statistics? stats = summary[benchmarkCase]?.ResultStatistics;
        BenchmarkDotNet.Mathematics.Statistics? squareStats = square is null ? null : summary[square]?.ResultStatistics;
        if (square is null)
        {
            return "-";
        }

        if (stats is null || squareStats is null)
        {
            return "NA";
        }

        // Medians: on a shared machine one iteration caught by another process's burst should not decide the ratio.
        double selection = size.JointFlops / stats.Median;
        double sgemm = 2.0 * 1024 * 1024 * 1024 / squareStats.Median;
        return (selection / sgemm).ToString("F2", System.Globalization.CultureInfo.InvariantCulture);
    }

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
}

/// <summary>
/// Learnability with the softmax loss against the sigmoid joint selection of the same size in the same run (the
/// yardstick, ratio 1): with the logit cache (default budget, 256 MiB) and without it (budget 0, every chunk
/// recomputes all members' logits, O(B*b*d*n/2)). The 20480 size runs only with <c>ACED_SELECTION_FULL=1</c>; its
/// learnability cache needs 16*B*b = 1.34 GB, so the default budget caches a fifth of the rows and the 2 GiB case
/// all of them.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(SelectionBenchmarks.Config))]
public class SoftmaxSelectionBenchmarks
{
    private SuperBatch _batch = null!;
    private ActiveBatchSampler _sigmoid = null!;
    private ActiveBatchSampler _joint = null!;
    private ActiveBatchSampler _jointLargeCache = null!;
    private ActiveBatchSampler _jointNoCache = null!;
    private float[] _cache = null!;
    private float[] _exps = null!;
    private float[] _shift = null!;
    private float[] _reference = null!;
    private float[] _gain = null!;
    private float[] _scratch = null!;

    [ParamsSource(nameof(Sizes))]
    public SelectionSize Size { get; set; }

    public static IEnumerable<SelectionSize> Sizes()
    {
        yield return new SelectionSize(5120, 1024, 256, 16);
        if (Environment.GetEnvironmentVariable("ACED_SELECTION_FULL") == "1")
        {
            yield return new SelectionSize(20480, 4096, 256, 16);
        }
    }

    [GlobalSetup]
    public void Setup()
    {
        _batch = new SuperBatch(SelectionBenchmarks.Embeddings(Size.SuperBatch, Size.Dimension, 1, 1.5f), SelectionBenchmarks.Embeddings(Size.SuperBatch, Size.Dimension, 2, 0.5f));
        _sigmoid = Sampler(ContrastiveKind.Sigmoid, ActiveBatchSamplerOptions.DefaultSoftmaxLogitCacheBytes);
        _joint = Sampler(ContrastiveKind.Softmax, ActiveBatchSamplerOptions.DefaultSoftmaxLogitCacheBytes);
        _jointLargeCache = Sampler(ContrastiveKind.Softmax, 2L << 30);
        _jointNoCache = Sampler(ContrastiveKind.Softmax, 0);
        var rng = new CounterRng(3);
        _cache = new float[Size.SuperBatch * Size.Batch];
        for (int i = 0; i < _cache.Length; i++)
        {
            _cache[i] = 2.5f * rng.NextNormal(); // scale 10 x the cosine of a random pair in d = 256
        }

        // Members' references t_m (positive products) and log-sum-exp shifts above them, as in the benchmark's selection
        // (SigmoidDefault: scale 10, bias -10; the shift C_m - bias is about log(k) + 3 above t_m).
        _shift = new float[Size.Batch];
        _reference = new float[Size.Batch];
        _gain = new float[Size.Batch];
        for (int i = 0; i < _shift.Length; i++)
        {
            _reference[i] = 3f + (0.5f * rng.NextNormal());
            _shift[i] = _reference[i] + 6f + rng.NextFloat();
            _gain[i] = SoftmaxTerm.Gain(_reference[i], _shift[i]);
        }

        _exps = new float[_cache.Length];
        _scratch = new float[Size.Batch];
        for (int x = 0; x < Size.SuperBatch; x++)
        {
            SelectionKernels.ExpDifference(_cache.AsSpan(x * Size.Batch, Size.Batch), _reference, _exps.AsSpan(x * Size.Batch, Size.Batch));
        }
    }

    /// <summary>Joint learnability selection with the sigmoid loss: the yardstick.</summary>
    [Benchmark(Baseline = true)]
    public int JointLearnabilitySigmoid() => _sigmoid.Sample(_batch, 0).Indices[0];

    /// <summary>Joint learnability selection with the softmax loss, default logit cache budget (256 MiB).</summary>
    [Benchmark]
    public int JointLearnabilitySoftmax() => _joint.Sample(_batch, 0).Indices[0];

    /// <summary>The same with a 2 GiB logit cache budget (every row cached at both sizes).</summary>
    [Benchmark]
    public int JointLearnabilitySoftmaxCache2GiB() => _jointLargeCache.Sample(_batch, 0).Indices[0];

    /// <summary>The same without the logit cache (the previous algorithm).</summary>
    [Benchmark]
    public int JointLearnabilitySoftmaxNoCache() => _jointNoCache.Sample(_batch, 0).Indices[0];

    /// <summary>
    /// Profile: the cached softmax path's element-wise work alone, on random logits of the cache's shape (B x b):
    /// per chunk after the first, every row's running log-sum-exp folds the c new members' logits (and their
    /// exponentials are cached) and its member-term sum runs over the k members so far from the cached exponentials,
    /// in the fused products' column tiles, for 2 directions x 2 models, serially on one thread (as the selection: the
    /// fill's one-pass store of logits and exponentials, the pass's two-direction kernel with its next-row prefetch).
    /// </summary>
    [Benchmark]
    public double SoftmaxElementwiseOnlyOneThread()
    {
        int b = Size.Batch, n = Size.Chunks;
        int c = b / n;
        int newTile = new Aced.Core.GemmPlan(1, c, 1, epilogue: true).Nc;
        double total = 0;
        for (int chunk = 1; chunk < n; chunk++)
        {
            int k = chunk * c;
            int start = k - c;
            int tile = new Aced.Core.GemmPlan(1, k, 1, epilogue: true).Nc;
            ReadOnlySpan<float> shift = _shift.AsSpan(0, k);
            for (int model = 0; model < 2; model++)
            {
                for (int x = 0; x < Size.SuperBatch; x++)
                {
                    double max = double.NegativeInfinity, sum = 0;
                    for (int direction = 0; direction < 2; direction++)
                    {
                        for (int j0 = 0; j0 < c; j0 += newTile)
                        {
                            int at = (x * b) + start + j0, width = Math.Min(newTile, c - j0);
                            float rowMax = SelectionKernels.StoreLogitsAndExps(_cache.AsSpan(at, width), _reference.AsSpan(start + j0, width), _scratch.AsSpan(0, width), _exps.AsSpan(at, width));
                            SelectionKernels.AccumulateLogSumExp(_cache.AsSpan(at, width), -10f, rowMax, ref max, ref sum);
                        }
                    }

                    // Both directions of the row in one call (the pass's kernel), here over the same cached row.
                    ReadOnlySpan<float> exps = _exps.AsSpan(x * b, k);
                    ReadOnlySpan<float> logits = _cache.AsSpan(x * b, k);
                    SelectionKernels.SoftmaxTermSumsCached(exps, logits, _gain.AsSpan(0, k), shift, exps, logits, _gain.AsSpan(0, k), shift, _reference.AsSpan(0, k), tile, x + 1 < Size.SuperBatch ? b : 0, out double softplus1, out double softplus2);
                    total += softplus1 + softplus2 + max + sum;
                }
            }
        }

        return total;
    }

    private ActiveBatchSampler Sampler(ContrastiveKind loss, long cacheBytes) =>
        new(new ActiveBatchSamplerOptions { BatchSize = Size.Batch, Chunks = Size.Chunks, Loss = loss, Seed = 1, SoftmaxLogitCacheBytes = cacheBytes });
}
