using Aced.Benchmarks.Common;
using Aced.Core;
using Aced.Models.Layers;
using BenchmarkDotNet.Attributes;

namespace Aced.Benchmarks.Models;

/// <summary>
/// One attention layer of the reference training step (batch 256, 4 heads of 32; image T = 64, text T = 32 causal),
/// forward and backward through the fused per-head path, with this session's kernels (AVX2 6 x 16 tiles, interleaved
/// softmax rows, output prefetch) on and, as the same-run yardstick (<c>Previous</c>, the baseline), off. Both give
/// the same bits. GFLOP/s counts the four (forward) or eight (backward) small products' 2 m n k.
/// </summary>
[MemoryDiagnoser]
[GflopsColumn]
public class AttentionBenchmarks : IFlopCount
{
    private const int Batch = 256;
    private const int Heads = 4;
    private const int Width = 128;
    private MatrixView _qkv;
    private MatrixView _output;
    private MatrixView _dOutput;
    private MatrixView _dQkv;
    private float[] _probs = [];
    private float[] _dProbs = [];

    /// <summary>Tokens per example: 64 (image, full) or 32 (text, causal).</summary>
    [Params(64, 32)]
    public int Tokens { get; set; } = 64;

    private bool Causal => Tokens == 32;

    [GlobalSetup]
    public void Setup()
    {
        int n = Batch * Tokens;
        var rng = new CounterRng(3, 0);
        _qkv = Filled(n, 3 * Width, rng);
        _dOutput = Filled(n, Width, rng);
        _output = new MatrixView(new float[n * Width], n, Width);
        _dQkv = new MatrixView(new float[n * 3 * Width], n, 3 * Width);
        _probs = new float[Batch * Heads * Tokens * Tokens];
        _dProbs = new float[_probs.Length];
        Attention.Forward(_qkv, Batch, Tokens, Heads, Causal, _probs, _output);
    }

    [GlobalCleanup]
    public void Cleanup() => SetKernels(true);

    /// <inheritdoc/>
    public double FlopCount(string method) => (method.StartsWith("Backward", System.StringComparison.Ordinal) ? 4.0 : 2.0) * 2.0 * Batch * Heads * Tokens * Tokens * (Width / Heads);

    [Benchmark(Baseline = true)]
    public float ForwardPrevious()
    {
        SetKernels(false);
        Attention.Forward(_qkv, Batch, Tokens, Heads, Causal, _probs, _output);
        return _output.Array[0];
    }

    [Benchmark]
    public float Forward()
    {
        SetKernels(true);
        Attention.Forward(_qkv, Batch, Tokens, Heads, Causal, _probs, _output);
        return _output.Array[0];
    }

    [Benchmark]
    public float BackwardPrevious()
    {
        SetKernels(false);
        Attention.Backward(_qkv, Batch, Tokens, Heads, _probs, _dOutput, _dQkv, _dProbs);
        return _dQkv.Array[0];
    }

    [Benchmark]
    public float Backward()
    {
        SetKernels(true);
        Attention.Backward(_qkv, Batch, Tokens, Heads, _probs, _dOutput, _dQkv, _dProbs);
        return _dQkv.Array[0];
    }

    private static void SetKernels(bool on)
    {
        Attention.TunedKernels = on;
    }

    private static MatrixView Filled(int rows, int columns, CounterRng rng)
    {
        float[] data = new float[rows * columns];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = rng.NextFloat() - 0.5f;
        }

        return new MatrixView(data, rows, columns);
    }
}
