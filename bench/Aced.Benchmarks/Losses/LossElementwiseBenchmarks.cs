using System;
using Aced.Core;
using Aced.Losses;
using BenchmarkDotNet.Attributes;

namespace Aced.Benchmarks.Losses;

/// <summary>
/// The non-GEMM part of loss + gradient: the same calls as <see cref="LossBenchmarks"/> with a provider whose
/// products cost nothing (the workspace keeps finite values from a real run in setup), so the time is the
/// validation, the fused element-wise passes and the reductions. Together with a GEMM's GFLOP/s this projects
/// the fused loss's fraction of the SGEMM peak: <c>fraction = t_products / (t_products + t_elementwise)</c>.
/// </summary>
[MemoryDiagnoser]
public class LossElementwiseBenchmarks
{
    private const int D = 256;
    private IGemmProvider _saved = null!;
    private Matrix _image = null!;
    private Matrix _text = null!;
    private EmbeddingGradients _gradients;
    private SigmoidContrastiveLoss _sigmoid = null!;
    private SoftmaxContrastiveLoss _softmax = null!;
    private SoftmaxDistillationLoss _softmaxKd = null!;
    private TeacherEmbeddings _teacher;

    /// <summary>Batch size.</summary>
    [Params(1024, 1531, 4096)]
    public int B { get; set; }

    /// <summary>Fills the workspaces with a real run, then installs the zero-cost provider.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _image = Random(B, 1);
        _text = Random(B, 2);
        _gradients = new EmbeddingGradients(new Matrix(B, D), new Matrix(B, D));
        _teacher = new TeacherEmbeddings(Random(B, 3), Random(B, 4), new LogitParameters(30f));
        _sigmoid = new SigmoidContrastiveLoss();
        _softmax = new SoftmaxContrastiveLoss();
        _softmaxKd = new SoftmaxDistillationLoss();
        _sigmoid.Compute(_image, _text, LogitParameters.SigmoidDefault, _gradients);
        _softmax.Compute(_image, _text, LogitParameters.SoftmaxDefault, _gradients);
        _softmaxKd.Compute(_image, _text, LogitParameters.SoftmaxDefault, _teacher, _gradients);
        _saved = GemmControl.Provider;
        GemmControl.Provider = new NoProducts();
    }

    /// <summary>Restores the real provider.</summary>
    [GlobalCleanup]
    public void Cleanup() => GemmControl.Provider = _saved;

    /// <summary>Sigmoid: validation + one fused pass + reductions.</summary>
    [Benchmark(Baseline = true)]
    public double Sigmoid() => _sigmoid.Compute(_image, _text, LogitParameters.SigmoidDefault, _gradients).Loss;

    /// <summary>Softmax: row and column log-sum-exp passes + one fused gradient pass.</summary>
    [Benchmark]
    public double Softmax() => _softmax.Compute(_image, _text, LogitParameters.SoftmaxDefault, _gradients).Loss;

    /// <summary>Softmax-KD, one teacher: statistics of S and T + fused teacher and student passes.</summary>
    [Benchmark]
    public double SoftmaxKd() => _softmaxKd.Compute(_image, _text, LogitParameters.SoftmaxDefault, _teacher, _gradients).Loss;

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

    /// <summary>A provider that leaves C unchanged: isolates everything but the products.</summary>
    private sealed class NoProducts : IGemmProvider
    {
        public string Name => "no-op (element-wise cost only)";

        public void Sgemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
        {
        }
    }
}
