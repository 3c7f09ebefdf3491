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

    /// <summary>Prints the share of the step spent in GEMM and the GEMM throughput against a large square SGEMM.</summary>
    private void Profile()
    {
        IGemmProvider original = GemmControl.Provider;
        var timed = new TimingGemmProvider(original);
        GemmControl.Provider = timed;
        try
        {
            const int Repeats = 2;
            long start = Stopwatch.GetTimestamp();
            for (int r = 0; r < Repeats; r++)
            {
                Step();
            }

            double stepSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds / Repeats;
            double gemmSeconds = timed.Ticks / (double)Stopwatch.Frequency / Repeats;
            double gemmFlops = timed.Flops / Repeats;
            TwoTowerConfig c = ReferenceConfig();
            double modelFlops = 3.0 * Batch * (c.Image.ForwardFlops() + c.Text.ForwardFlops());

            long calls = timed.Calls / Repeats;
            var a = new Matrix(1024, 1024);
            var b = new Matrix(1024, 1024);
            var p = new Matrix(1024, 1024);
            a.Span.Fill(0.5f);
            b.Span.Fill(0.25f);
            Aced.Core.Gemm.Multiply(a, b, p);
            long peakStart = Stopwatch.GetTimestamp();
            Aced.Core.Gemm.Multiply(a, b, p);
            double peak = 2.0 * 1024 * 1024 * 1024 / Stopwatch.GetElapsedTime(peakStart).TotalSeconds;

            Console.WriteLine(
                $"// [models] batch {Batch}: step {stepSeconds * 1e3:F1} ms, {Batch / stepSeconds:F1} examples/s; " +
                $"GEMM {gemmSeconds / stepSeconds:P1} of step time over {calls} calls, {gemmFlops / 1e9:F2} GFLOP/step " +
                $"at {gemmFlops / gemmSeconds / 1e9:F1} GFLOP/s = {gemmFlops / gemmSeconds / peak:P1} of the 1024^3 SGEMM ({peak / 1e9:F1} GFLOP/s); " +
                $"model FLOPs 3x forward {modelFlops / 1e9:F2} GFLOP/step -> {modelFlops / stepSeconds / 1e9:F1} GFLOP/s overall; " +
                $"{GemmControl.Describe()}");
            var rows = new List<(double Seconds, string Line)>();
            foreach (KeyValuePair<(Transpose, Transpose, int, int, int), TimingGemmProvider.ShapeStats> entry in timed.Shapes)
            {
                (Transpose ta, Transpose tb, int m, int n, int k) = entry.Key;
                double seconds = entry.Value.Ticks / (double)Stopwatch.Frequency / Repeats;
                double flops = 2.0 * m * n * k * entry.Value.Calls / Repeats;
                string form = (ta == Transpose.None ? "N" : "T") + (tb == Transpose.None ? "N" : "T");
                rows.Add((seconds, $"// [models]   {form} m={m,6} n={n,5} k={k,6}: {entry.Value.Calls / Repeats,3} calls/step, {seconds * 1e3,8:F1} ms/step ({seconds / stepSeconds,6:P1}), {flops / seconds / 1e9,6:F1} GFLOP/s"));
            }

            rows.Sort((x, y) => y.Seconds.CompareTo(x.Seconds));
            foreach ((double _, string line) in rows)
            {
                Console.WriteLine(line);
            }
        }
        finally
        {
            GemmControl.Provider = original;
        }
    }
}
