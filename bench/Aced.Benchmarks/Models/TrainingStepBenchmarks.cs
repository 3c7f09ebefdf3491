using System;
using System.Diagnostics;
using System.Collections.Generic;
using Aced.Core;
using Aced.Losses;
using Aced.Models;
using Aced.Models.Training;
using BenchmarkDotNet.Attributes;

namespace Aced.Benchmarks.Models;

/// <summary>
/// One full training step (forward, sigmoid loss, backward, AdamW, clamp) of the reference configuration:
/// ViT-S/4 on 32x32x3 (64 tokens, width 128, depth 4, 4 heads, MLP 512, GAP) and a text tower (vocab 4096,
/// 32 tokens, width 128, depth 4, 4 heads, MLP 512, first-token pooling), embedding 128, sigmoid loss (<see cref="SigmoidContrastiveLoss"/>).
/// The baseline is the forward pass alone (encode of images and captions).
/// </summary>
[MemoryDiagnoser]
public class TrainingStepBenchmarks
{
    private TwoTowerModel _model = null!;
    private AdamW _optimizer = null!;
    private ConstantSchedule _schedule = null!;
    private SigmoidContrastiveLoss _loss = null!;
    private Matrix _imageGradient = null!;
    private Matrix _textGradient = null!;
    private Matrix _images = null!;
    private int[] _tokens = [];

    /// <summary>Examples per step (256 is the reference; 61 an odd size).</summary>
    [Params(61, 256)]
    public int Batch { get; set; }

    public static TwoTowerConfig ReferenceConfig() => new()
    {
        Image = new VisionTransformerConfig { ImageSize = 32, Channels = 3, PatchSize = 4, Width = 128, Depth = 4, Heads = 4, MlpWidth = 512, EmbeddingDimension = 128, Pooling = PoolingKind.GlobalAverage },
        Text = new TextTransformerConfig { VocabularySize = 4096, ContextLength = 32, Width = 128, Depth = 4, Heads = 4, MlpWidth = 512, EmbeddingDimension = 128, Pooling = PoolingKind.FirstToken },
    };

    [GlobalSetup]
    public void Setup()
    {
        _model = new TwoTowerModel(ReferenceConfig(), 1);
        _optimizer = new AdamW(_model.Parameters);
        _schedule = new ConstantSchedule(1e-4f);
        _loss = new SigmoidContrastiveLoss();
        _imageGradient = new Matrix(Batch, _model.EmbeddingDimension);
        _textGradient = new Matrix(Batch, _model.EmbeddingDimension);
        var rng = new CounterRng(2, 0);
        _images = new Matrix(Batch, _model.ImageEncoder.InputLength);
        for (int i = 0; i < _images.Data.Length; i++)
        {
            _images.Data[i] = rng.NextFloat();
        }

        _tokens = new int[Batch * 32];
        for (int e = 0; e < Batch; e++)
        {
            int length = 4 + rng.NextInt(28);
            _tokens[e * 32] = 1;
            for (int j = 1; j < length; j++)
            {
                _tokens[(e * 32) + j] = 3 + rng.NextInt(4093);
            }

            _tokens[(e * 32) + length] = 2;
        }

        Step();
        Profile();
    }

    [Benchmark(Baseline = true)]
    public float Forward()
    {
        (MatrixView zi, MatrixView zt) = _model.Forward(_images, _tokens);
        return zi[0, 0] + zt[0, 0];
    }

    [Benchmark]
    public float TrainingStep() => Step();

    private float Step()
    {
        _model.ZeroGradients();
        (MatrixView zi, MatrixView zt) = _model.Forward(_images, _tokens);
        LossResult loss = _loss.Compute(zi, zt, LogitParameters.FromLogScale(_model.LogScale.Value[0], _model.Bias.Value[0]), new EmbeddingGradients(_imageGradient, _textGradient));
        _model.Backward(_imageGradient, _textGradient, (float)loss.LogScaleGradient, (float)loss.BiasGradient);
        _optimizer.Update(_schedule);
        _model.ClampLogScale();
        return (float)loss.Loss;
    }

    /// <summary>
    /// Prints the share of the step spent in GEMM, per shape, against a 1024^3 SGEMM in the same process.
    /// The step time comes from untimed steps. Plain products are timed through a wrapper provider; the forward
    /// products with a bias epilogue cannot be wrapped (a wrapper provider sends them down Core's serial per-tile
    /// fallback, whose 64-row NN tile calls are skipped here), so they are timed standalone at the same shapes with a
    /// bias-add epilogue doing the same memory traffic.
    /// </summary>
    private void Profile()
    {
        const int Repeats = 2;
        long start = Stopwatch.GetTimestamp();
        for (int r = 0; r < Repeats; r++)
        {
            Step();
        }

        double stepSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds / Repeats;

        IGemmProvider original = GemmControl.Provider;
        var timed = new TimingGemmProvider(original);
        GemmControl.Provider = timed;
        try
        {
            Step();
        }
        finally
        {
            GemmControl.Provider = original;
        }

        var rows = new List<(double Seconds, string Line)>();
        double gemmSeconds = 0;
        double gemmFlops = 0;
        long calls = 0;
        foreach (KeyValuePair<(Transpose, Transpose, int, int, int), TimingGemmProvider.ShapeStats> entry in timed.Shapes)
        {
            (Transpose ta, Transpose tb, int m, int n, int k) = entry.Key;
            if (ta == Transpose.None && tb == Transpose.None && m == 64)
            {
                continue;
            }

            double seconds = entry.Value.Ticks / (double)Stopwatch.Frequency;
            AddRow(rows, (ta == Transpose.None ? "N" : "T") + (tb == Transpose.None ? "N" : "T"), m, n, k, entry.Value.Calls, seconds, stepSeconds);
            gemmSeconds += seconds;
            gemmFlops += 2.0 * m * n * k * entry.Value.Calls;
            calls += entry.Value.Calls;
        }

        TwoTowerConfig c = ReferenceConfig();
        int imageRows = Batch * c.Image.Tokens;
        int textRows = Batch * 32;
        int patch = c.Image.PatchSize * c.Image.PatchSize * c.Image.Channels;
        (int M, int N, int K, int Calls)[] epilogueShapes =
        [
            (imageRows, 128, patch, 1), (imageRows, 384, 128, 4), (imageRows, 128, 128, 4), (imageRows, 512, 128, 4), (imageRows, 128, 512, 4),
            (textRows, 384, 128, 4), (textRows, 128, 128, 4), (textRows, 512, 128, 4), (textRows, 128, 512, 4), (Batch, 128, 128, 2),
        ];
        foreach ((int m, int n, int k, int count) in epilogueShapes)
        {
            double seconds = count * TimeEpilogue(m, n, k);
            AddRow(rows, "NN+epilogue", m, n, k, count, seconds, stepSeconds);
            gemmSeconds += seconds;
            gemmFlops += 2.0 * m * n * k * count;
            calls += count;
        }

        rows.Sort((x, y) => y.Seconds.CompareTo(x.Seconds));
        double peak = 2.0 * 1024 * 1024 * 1024 / TimeSquare(1024);
        double modelFlops = 3.0 * Batch * (c.Image.ForwardFlops() + c.Text.ForwardFlops());
        Console.WriteLine(
            $"// [models] batch {Batch}: step {stepSeconds * 1e3:F1} ms, {Batch / stepSeconds:F1} examples/s; " +
            $"GEMM {gemmSeconds / stepSeconds:P1} of step time over {calls} calls, {gemmFlops / 1e9:F2} GFLOP/step " +
            $"at {gemmFlops / gemmSeconds / 1e9:F1} GFLOP/s = {gemmFlops / gemmSeconds / peak:P1} of the 1024^3 SGEMM ({peak / 1e9:F1} GFLOP/s); " +
            $"model FLOPs 3x forward {modelFlops / 1e9:F2} GFLOP/step -> {modelFlops / stepSeconds / 1e9:F1} GFLOP/s overall; " +
            $"{GemmControl.Describe()}");
        foreach ((double _, string line) in rows)
        {
            Console.WriteLine(line);
        }
    }

    private static void AddRow(List<(double Seconds, string Line)> rows, string form, int m, int n, int k, long calls, double seconds, double stepSeconds)
    {
        double flops = 2.0 * m * n * k * calls;
        rows.Add((seconds, $"// [models]   {form,-11} m={m,6} n={n,4} k={k,6}: {calls,3} calls/step, {seconds * 1e3,7:F1} ms/step ({seconds / stepSeconds,6:P1}), {flops / seconds / 1e9,6:F1} GFLOP/s"));
    }

    /// <summary>Best of three: seconds for one m x n x k product with a bias-add epilogue writing m x n floats.</summary>
    private static double TimeEpilogue(int m, int n, int k)
    {
        var x = new Matrix(m, k);
        var w = new Matrix(k, n);
        var y = new Matrix(m, n);
        var bias = new float[n];
        x.Span.Fill(0.5f);
        w.Span.Fill(0.25f);
        double best = double.MaxValue;
        for (int r = 0; r < 3; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Aced.Core.Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 1f, x, w, new BiasStoreEpilogue(y, bias));
            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }

        return best;
    }

    private static double TimeSquare(int size)
    {
        var a = new Matrix(size, size);
        var b = new Matrix(size, size);
        var p = new Matrix(size, size);
        a.Span.Fill(0.5f);
        b.Span.Fill(0.25f);
        Aced.Core.Gemm.Multiply(a, b, p);
        long t0 = Stopwatch.GetTimestamp();
        Aced.Core.Gemm.Multiply(a, b, p);
        return Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }

    private readonly struct BiasStoreEpilogue : IGemmEpilogue
    {
        private readonly Matrix _y;
        private readonly float[] _bias;

        public BiasStoreEpilogue(Matrix y, float[] bias)
        {
            _y = y;
            _bias = bias;
        }

        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
            for (int r = 0; r < rows; r++)
            {
                System.Numerics.Tensors.TensorPrimitives.Add(tile.Slice(r * stride, columns), _bias.AsSpan(columnStart, columns), _y.Row(rowStart + r).Slice(columnStart, columns));
            }
        }
    }
}
