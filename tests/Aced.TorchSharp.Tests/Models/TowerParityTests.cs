using System;
using System.IO;
using Aced.Core;
using Aced.Models;
using Aced.Models.Checkpoints;
using Aced.TorchSharp.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Aced.TorchSharp.Tests.Models;

public sealed class TowerParityTests : IDisposable
{
    private const double Tolerance = 1e-4;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "aced-torch-ckpt-" + Guid.NewGuid().ToString("N"));

    public TowerParityTests()
    {
        Directory.CreateDirectory(_directory);
    }

    public void Dispose()
    {
        Directory.Delete(_directory, true);
    }

    private static TwoTowerConfig Config(PoolingKind imagePooling, PoolingKind textPooling, bool causal, ContrastiveKind kind = ContrastiveKind.Sigmoid) => new TwoTowerConfig
    {
        Image = new VisionTransformerConfig { ImageSize = 8, PatchSize = 4, Channels = 3, Width = 16, Depth = 2, Heads = 2, MlpWidth = 32, EmbeddingDimension = 8, Pooling = imagePooling },
        Text = new TextTransformerConfig { VocabularySize = 40, ContextLength = 6, Width = 16, Depth = 2, Heads = 4, MlpWidth = 24, EmbeddingDimension = 8, Pooling = textPooling, Causal = causal, PadId = 0 },
        Kind = kind,
    }.Validated();

    [Theory]
    [InlineData(PoolingKind.GlobalAverage, PoolingKind.FirstToken, false)]
    [InlineData(PoolingKind.MultiheadAttention, PoolingKind.LastToken, true)]
    [InlineData(PoolingKind.LastToken, PoolingKind.MultiheadAttention, false)]
    [InlineData(PoolingKind.FirstToken, PoolingKind.GlobalAverage, true)]
    public void Forward_SameSeed_MatchesManagedTowers(PoolingKind imagePooling, PoolingKind textPooling, bool causal)
    {
        TwoTowerConfig config = Config(imagePooling, textPooling, causal);
        var managed = new TwoTowerModel(config, 17);
        using var model = new TorchTwoTowerModel(config, 17);
        (Matrix images, int[] tokens) = Batch(config, 5, 3);

        AssertSameForward(managed, model, images, tokens);
    }

    [Fact]
    public void Parameters_SameNamesShapesAndInitialValuesAsManaged()
    {
        TwoTowerConfig config = Config(PoolingKind.MultiheadAttention, PoolingKind.LastToken, true, ContrastiveKind.Softmax);
        var managed = new TwoTowerModel(config, 5);
        using var model = new TorchTwoTowerModel(config, 5);
        TwoTowerModel exported = model.ToManaged();

        Assert.Equal(managed.Parameters.Count, exported.Parameters.Count);
        for (int i = 0; i < managed.Parameters.Count; i++)
        {
            Assert.Equal(managed.Parameters[i].Name, exported.Parameters[i].Name);
            Assert.Equal(managed.Parameters[i].Value, exported.Parameters[i].Value);
        }

        Assert.Equal(managed.LogScale.Value[0], model.LogScale.ToSingle());
    }

    [Fact]
    public void Checkpoint_TrainedInTorch_LoadsIntoManagedWithSameForward()
    {
        TwoTowerConfig config = Config(PoolingKind.GlobalAverage, PoolingKind.LastToken, true);
        using var model = new TorchTwoTowerModel(config, 1);
        Perturb(model, 42);
        string path = Path.Combine(_directory, "torch.ckpt");

        TorchCheckpoint.Save(path, model, step: 12);
        var managed = new TwoTowerModel(config, 999);
        CheckpointInfo info = Checkpoint.Load(path, managed);

        Assert.Equal(12, info.Step);
        (Matrix images, int[] tokens) = Batch(config, 4, 8);
        AssertSameForward(managed, model, images, tokens);
    }

    [Fact]
    public void Checkpoint_ManagedSaved_LoadsIntoTorchWithSameForward()
    {
        TwoTowerConfig config = Config(PoolingKind.MultiheadAttention, PoolingKind.FirstToken, false);
        var managed = new TwoTowerModel(config, 3);
        foreach (Aced.Models.Parameter p in managed.Parameters)
        {
            for (int i = 0; i < p.Length; i++)
            {
                p.Value[i] += 0.01f * MathF.Sin((i * 7) + p.Length);
            }
        }

        string path = Path.Combine(_directory, "managed.ckpt");
        Checkpoint.Save(path, managed, null, 5);
        using var model = new TorchTwoTowerModel(config, 4);

        TorchCheckpoint.Load(path, model);

        (Matrix images, int[] tokens) = Batch(config, 3, 9);
        AssertSameForward(managed, model, images, tokens);
    }

    [Fact]
    public void CopyFrom_OtherConfig_ThrowsAndLeavesModel()
    {
        using var model = new TorchTwoTowerModel(Config(PoolingKind.GlobalAverage, PoolingKind.FirstToken, false), 1);
        var other = new TwoTowerModel(Config(PoolingKind.MultiheadAttention, PoolingKind.FirstToken, false), 1);
        float before = model.LogScale.ToSingle();
        Assert.Throws<ArgumentException>(() => model.CopyFrom(other));
        Assert.Equal(before, model.LogScale.ToSingle());
    }

    private static void AssertSameForward(TwoTowerModel managed, TorchTwoTowerModel model, Matrix images, int[] tokens)
    {
        (MatrixView zi, MatrixView zt) = managed.Forward(images, tokens);
        float[] expectedImage = zi.ToMatrix().Data;
        float[] expectedText = zt.ToMatrix().Data;

        using var scope = torch.NewDisposeScope();
        Tensor ti = TestData.ToTensor(images, ScalarType.Float32);
        long[] wide = new long[tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
        {
            wide[i] = tokens[i];
        }

        Tensor tt = torch.tensor(wide, new long[] { images.Rows, tokens.Length / images.Rows });
        (Tensor image, Tensor text) = model.Forward(ti, tt);
        TestData.AssertClose(expectedImage, TestData.ToDoubles(image), Tolerance, "image embedding");
        TestData.AssertClose(expectedText, TestData.ToDoubles(text), Tolerance, "text embedding");
    }

    private static (Matrix Images, int[] Tokens) Batch(TwoTowerConfig config, int batch, int seed)
    {
        Matrix images = TestData.Gaussian(batch, config.Image.InputLength, seed);
        var random = new Random(seed);
        int t = config.Text.ContextLength;
        int[] tokens = new int[batch * t];
        for (int e = 0; e < batch; e++)
        {
            int length = 1 + random.Next(t);
            for (int j = 0; j < t; j++)
            {
                tokens[(e * t) + j] = j < length ? 1 + random.Next(config.Text.VocabularySize - 1) : config.Text.PadId;
            }
        }

        return (images, tokens);
    }

    private static void Perturb(TorchTwoTowerModel model, int seed)
    {
        torch.manual_seed(seed);
        using (torch.no_grad())
        {
            foreach (var parameter in model.parameters())
            {
                using Tensor noise = torch.randn_like(parameter).mul_(0.05);
                parameter.add_(noise);
            }
        }
    }
}
