using Aced.Core;
using Aced.Losses;
using Aced.Models;
using Aced.Models.Training;
using Aced.TorchSharp.Losses;
using Aced.TorchSharp.Models;
using BenchmarkDotNet.Attributes;
using TorchSharp;
using static TorchSharp.torch;

namespace Aced.TorchSharp.Benchmarks;

/// <summary>
/// One training step (forward, sigmoid loss, backward, AdamW) of the reference configuration of bench/Aced.Benchmarks'
/// TrainingStepBenchmarks (ViT-S/4 on 32x32x3, text tower vocab 4096 x 32 tokens, width 128, depth 4, embedding 128)
/// at batch 256: the managed <see cref="TwoTowerModel"/> step (baseline) against a <see cref="TorchTwoTowerModel"/>
/// step on CPU libtorch (float32, autograd, torch.optim.AdamW).
/// </summary>
[MemoryDiagnoser]
public class TrainingStepBenchmarks
{
    private const int Batch = 256;
    private TwoTowerModel _model = null!;
    private AdamW _optimizer = null!;
    private ConstantSchedule _schedule = null!;
    private SigmoidContrastiveLoss _loss = null!;
    private Matrix _imageGradient = null!;
    private Matrix _textGradient = null!;
    private Matrix _images = null!;
    private int[] _tokens = [];
    private TorchTwoTowerModel _torchModel = null!;
    private global::TorchSharp.Modules.OptimizerHelper _torchOptimizer = null!;
    private Tensor _torchImages = null!;
    private Tensor _torchTokens = null!;

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
        long[] wide = new long[Batch * 32];
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

        for (int i = 0; i < wide.Length; i++)
        {
            wide[i] = _tokens[i];
        }

        _torchModel = new TorchTwoTowerModel(ReferenceConfig(), 1);
        _torchOptimizer = torch.optim.AdamW(_torchModel.parameters(), 1e-4);
        _torchImages = torch.tensor(_images.Data, new long[] { Batch, _images.Columns });
        _torchTokens = torch.tensor(wide, new long[] { Batch, 32 });
    }

    [Benchmark(Baseline = true)]
    public float Managed()
    {
        _model.ZeroGradients();
        (MatrixView zi, MatrixView zt) = _model.Forward(_images, _tokens);
        LossResult loss = _loss.Compute(zi, zt, _model.Logits, new EmbeddingGradients(_imageGradient, _textGradient));
        _model.Backward(_imageGradient, _textGradient, (float)loss.LogScaleGradient, (float)loss.BiasGradient);
        _optimizer.Update(_schedule);
        _model.ClampLogScale();
        return (float)loss.Loss;
    }

    [Benchmark]
    public float TorchCpu()
    {
        using var scope = torch.NewDisposeScope();
        (Tensor zi, Tensor zt) = _torchModel.Forward(_torchImages, _torchTokens);
        Tensor loss = TorchLosses.SigmoidContrastive(zi, zt, _torchModel.Logits);
        _torchOptimizer.zero_grad();
        loss.backward();
        _torchOptimizer.step();
        return loss.ToSingle();
    }
}
