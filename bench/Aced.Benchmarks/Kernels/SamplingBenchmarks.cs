using System;
using Aced.Core;
using BenchmarkDotNet.Attributes;

namespace Aced.Benchmarks.Kernels;

/// <summary>Gumbel-top-k over a super-batch-sized pool (the selection step's draw).</summary>
[MemoryDiagnoser]
public class SamplingBenchmarks
{
    private float[] _logits = Array.Empty<float>();
    private float[] _keys = Array.Empty<float>();
    private int[] _destination = Array.Empty<int>();
    private float[] _scratch = Array.Empty<float>();
    private int[] _intScratch = Array.Empty<int>();

    /// <summary>Pool size.</summary>
    [Params(20480)]
    public int N { get; set; }

    /// <summary>Items drawn.</summary>
    [Params(256)]
    public int K { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _logits = new float[N];
        _keys = new float[N];
        CounterRng.FillNormal(3, 1, _logits);
        System.Numerics.Tensors.TensorPrimitives.Multiply(_logits, 10f, _logits);
        _destination = new int[K];
        _scratch = new float[K];
        _intScratch = new int[N];
    }

    /// <summary>Baseline: one scalar <see cref="CounterRng.NextGumbel"/> per item into a key array, then <see cref="Sampling.TopK"/>.</summary>
    [Benchmark(Baseline = true)]
    public int GumbelKeysThenTopK()
    {
        var rng = new CounterRng(7);
        for (int i = 0; i < _logits.Length; i++)
        {
            _keys[i] = _logits[i] + rng.NextGumbel();
        }

        Sampling.TopK(_keys, K, _destination, _scratch);
        return _destination[0];
    }

    [Benchmark]
    public int GumbelTopK()
    {
        var rng = new CounterRng(7);
        Sampling.GumbelTopK(_logits, K, ref rng, _destination, _scratch);
        return _destination[0];
    }

    [Benchmark]
    public int TopK()
    {
        Sampling.TopK(_logits, K, _destination, _scratch);
        return _destination[0];
    }

    [Benchmark]
    public int UniformWithoutReplacement()
    {
        var rng = new CounterRng(7);
        Sampling.UniformWithoutReplacement(N, K, ref rng, _destination, _intScratch);
        return _destination[0];
    }

    [Benchmark]
    public float FillNormal()
    {
        CounterRng.FillNormal(9, 1, _keys);
        return _keys[^1];
    }
}
