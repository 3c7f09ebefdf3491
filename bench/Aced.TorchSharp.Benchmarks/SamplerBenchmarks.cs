using Aced.Core;
using Aced.Selection;
using Aced.TorchSharp.Selection;
using BenchmarkDotNet.Attributes;
using TorchSharp;
using static TorchSharp.torch;

namespace Aced.TorchSharp.Benchmarks;

/// <summary>
/// The joint sampler (H-ACID: learnability, sigmoid, n chunks, sampled) over a super-batch of B examples with
/// student and reference embeddings of width d, keeping b: the managed <see cref="ActiveBatchSampler"/> (baseline)
/// against <see cref="TorchActiveBatchSampler"/> on CPU libtorch (float32 tensors).
/// </summary>
[MemoryDiagnoser]
public class SamplerBenchmarks
{
    private SuperBatch _managed = null!;
    private TorchSuperBatch _tensors = null!;
    private ActiveBatchSampler _managedSampler = null!;
    private TorchActiveBatchSampler _tensorSampler = null!;

    [Params(5120)]
    public int SuperBatch { get; set; }

    [Params(1024)]
    public int Batch { get; set; }

    [Params(256)]
    public int Dimension { get; set; }

    [Params(16)]
    public int Chunks { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        torch.manual_seed(1);
        var t = new Tensor[4];
        var m = new Matrix[4];
        for (int i = 0; i < 4; i++)
        {
            t[i] = torch.nn.functional.normalize(torch.randn(SuperBatch, Dimension), dim: 1);
            m[i] = new Matrix(SuperBatch, Dimension, t[i].data<float>().ToArray());
        }

        var student = new LogitParameters(10f, -10f);
        var reference = new LogitParameters(12f, -8f);
        _managed = new SuperBatch(new ModelEmbeddings(m[0], m[1], student), new ModelEmbeddings(m[2], m[3], reference));
        _tensors = new TorchSuperBatch(new TorchModelEmbeddings(t[0], t[1], student), new TorchModelEmbeddings(t[2], t[3], reference));
        var options = new ActiveBatchSamplerOptions { BatchSize = Batch, Chunks = Chunks, Seed = 3 };
        _managedSampler = new ActiveBatchSampler(options);
        _tensorSampler = new TorchActiveBatchSampler(options);
    }

    [Benchmark(Baseline = true)]
    public int Managed() => _managedSampler.Sample(_managed, 0).Indices[0];

    [Benchmark]
    public long TensorCpu()
    {
        using TorchSelectionResult result = _tensorSampler.Sample(_tensors, 0);
        return result.ToArray()[0];
    }
}
