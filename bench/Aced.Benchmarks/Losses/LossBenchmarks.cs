using System;
using Aced.Core;
using Aced.Losses;
using BenchmarkDotNet.Attributes;

namespace Aced.Benchmarks.Losses;

/// <summary>
/// Fused loss + gradient (w.r.t. both embedding matrices, scale and bias) of the contrastive objectives, against
/// the same three b x b x d products alone (<see cref="ThreeProducts"/>, the GEMM-bound ideal).
/// GFLOP/s = 6 b^2 d / mean time (the three products); see docs/PERFORMANCE.md.
/// </summary>
[MemoryDiagnoser]
public class LossBenchmarks
{
    private const int D = 256;
    private Matrix _image = null!;
    private Matrix _text = null!;
    private Matrix _gradImage = null!;
    private Matrix _gradText = null!;
    private Matrix _products = null!;
    private SigmoidContrastiveLoss _sigmoid = null!;
    private SoftmaxContrastiveLoss _softmax = null!;
    private SigmoidContrastiveLoss _sigmoidChunked = null!;

    /// <summary>Batch size.</summary>
    [Params(1024, 1531, 4096)]
    public int B { get; set; }

    /// <summary>Creates normalised random embeddings and warms the workspaces.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _image = Random(B, 1);
        _text = Random(B, 2);
        _gradImage = new Matrix(B, D);
        _gradText = new Matrix(B, D);
        _products = new Matrix(B, B);
        _sigmoid = new SigmoidContrastiveLoss();
        _softmax = new SoftmaxContrastiveLoss();
        _sigmoidChunked = new SigmoidContrastiveLoss(new LossWorkspaceOptions { RowChunkSize = 256 });
        Console.WriteLine("// " + GemmControl.Describe());
    }

    /// <summary>The three b x b x d products of the loss and nothing else.</summary>
    [Benchmark(Baseline = true)]
    public float ThreeProducts()
    {
        Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, _image, _text, 0f, _products);
        Gemm.Multiply(Transpose.None, Transpose.None, 1f, _products, _text, 0f, _gradImage);
        Gemm.Multiply(Transpose.Transposed, Transpose.None, 1f, _products, _image, 0f, _gradText);
        return _gradText.Data[0];
    }

    /// <summary>Sigmoid loss + all gradients.</summary>
    [Benchmark]
    public double Sigmoid() => _sigmoid.Compute(_image, _text, LogitParameters.SigmoidDefault, new EmbeddingGradients(_gradImage, _gradText)).Loss;

    /// <summary>Sigmoid loss + all gradients in row chunks of 256 (memory 256 x b).</summary>
    [Benchmark]
    public double SigmoidChunked() => _sigmoidChunked.Compute(_image, _text, LogitParameters.SigmoidDefault, new EmbeddingGradients(_gradImage, _gradText)).Loss;

    /// <summary>Softmax loss + all gradients.</summary>
    [Benchmark]
    public double Softmax() => _softmax.Compute(_image, _text, LogitParameters.SoftmaxDefault, new EmbeddingGradients(_gradImage, _gradText)).Loss;

    private static Matrix Random(int rows, ulong stream)
    {
        var rng = new CounterRng(42, stream);
        var m = new Matrix(rows, D);
        for (int i = 0; i < m.Data.Length; i++)
        {
            m.Data[i] = rng.NextNormal();
        }

        StableMath.L2NormalizeRows(m, m, new float[rows]);
        return m;
    }
}
