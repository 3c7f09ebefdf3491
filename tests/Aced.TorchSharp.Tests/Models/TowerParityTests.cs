using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
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

    /// <summary>Relative to each gradient's largest element: float32 sums in different orders through two blocks.</summary>
    private const double GradientTolerance = 2e-4;
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

    /// <summary>
    /// Autograd through the torch towers against the managed towers' hand-written backward: every parameter's gradient
    /// of <c>sum(z_img * R_img) + sum(z_txt * R_txt)</c>, for every pooling (the token poolings take the pooled-row
    /// path on both sides) and both masks.
    /// </summary>
    [Theory]
    [InlineData(PoolingKind.GlobalAverage, PoolingKind.FirstToken, false)]
    [InlineData(PoolingKind.MultiheadAttention, PoolingKind.LastToken, true)]
    [InlineData(PoolingKind.LastToken, PoolingKind.MultiheadAttention, false)]
    [InlineData(PoolingKind.FirstToken, PoolingKind.GlobalAverage, true)]
    [InlineData(PoolingKind.LastToken, PoolingKind.FirstToken, true)]
    public void Backward_SameSeed_MatchesManagedGradients(PoolingKind imagePooling, PoolingKind textPooling, bool causal)
    {
        TwoTowerConfig config = Config(imagePooling, textPooling, causal);
        var managed = new TwoTowerModel(config, 23);
        using var model = new TorchTwoTowerModel(config, 23);
        (Matrix images, int[] tokens) = Batch(config, 5, 8);
        Matrix imageWeights = TestData.Gaussian(5, config.Image.EmbeddingDimension, 9);
        Matrix textWeights = TestData.Gaussian(5, config.Text.EmbeddingDimension, 10);

        managed.ZeroGradients();
        managed.Forward(images, tokens);
        managed.Backward(imageWeights, textWeights, 0f, 0f);
        Dictionary<string, float[]> expected = managed.Parameters.ToDictionary(p => p.Name.Replace('.', '_'), p => p.Gradient);

        Dictionary<string, double[]> actual = TorchGradients(model, images, tokens, imageWeights, textWeights);
        Assert.Equal(expected.Count - 2, actual.Count);
        foreach ((string name, double[] gradient) in actual)
        {
            TestData.AssertClose(expected[name], gradient, GradientTolerance, name);
        }
    }

    /// <summary>
    /// The torch towers' pooled-row path (<see cref="TowerFunctions.PooledRowsOnly"/>) is the same function as the full
    /// stack: the same embeddings and parameter gradients (to float rounding: libtorch's products over B rows and over
    /// B T rows need not round alike), for first- and last-token pooling with and without the causal mask.
    /// </summary>
    [Theory]
    [InlineData(PoolingKind.FirstToken, PoolingKind.LastToken, false)]
    [InlineData(PoolingKind.LastToken, PoolingKind.FirstToken, true)]
    [InlineData(PoolingKind.FirstToken, PoolingKind.FirstToken, true)]
    public void PooledRowsOnly_OnAndOff_SameEmbeddingsAndGradients(PoolingKind imagePooling, PoolingKind textPooling, bool causal)
    {
        TwoTowerConfig config = Config(imagePooling, textPooling, causal);
        using var model = new TorchTwoTowerModel(config, 29);
        Perturb(model, 4);
        (Matrix images, int[] tokens) = Batch(config, 6, 12);
        Matrix imageWeights = TestData.Gaussian(6, config.Image.EmbeddingDimension, 13);
        Matrix textWeights = TestData.Gaussian(6, config.Text.EmbeddingDimension, 14);
        bool saved = TowerFunctions.PooledRowsOnly;
        try
        {
            TowerFunctions.PooledRowsOnly = false;
            Dictionary<string, double[]> full = TorchGradients(model, images, tokens, imageWeights, textWeights, out double[] fullImage, out double[] fullText);
            TowerFunctions.PooledRowsOnly = true;
            Dictionary<string, double[]> pooled = TorchGradients(model, images, tokens, imageWeights, textWeights, out double[] pooledImage, out double[] pooledText);

            TestData.AssertClose(ToFloats(fullImage), pooledImage, 1e-6, "image embedding");
            TestData.AssertClose(ToFloats(fullText), pooledText, 1e-6, "text embedding");
            Assert.Equal(full.Keys.Order(), pooled.Keys.Order());
            foreach ((string name, double[] gradient) in full)
            {
                TestData.AssertClose(ToFloats(gradient), pooled[name], 1e-5, name);
            }
        }
        finally
        {
            TowerFunctions.PooledRowsOnly = saved;
        }
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
        (Tensor image, Tensor text) = model.Forward(TestData.ToTensor(images, ScalarType.Float32), TokenTensor(tokens, images.Rows));
        TestData.AssertClose(expectedImage, TestData.ToDoubles(image), Tolerance, "image embedding");
        TestData.AssertClose(expectedText, TestData.ToDoubles(text), Tolerance, "text embedding");
    }

    private static Dictionary<string, double[]> TorchGradients(TorchTwoTowerModel model, Matrix images, int[] tokens, Matrix imageWeights, Matrix textWeights) =>
        TorchGradients(model, images, tokens, imageWeights, textWeights, out _, out _);

    /// <summary>The towers' parameter gradients of <c>sum(z_img * R_img) + sum(z_txt * R_txt)</c> by local name, and the embeddings.</summary>
    private static Dictionary<string, double[]> TorchGradients(TorchTwoTowerModel model, Matrix images, int[] tokens, Matrix imageWeights, Matrix textWeights, out double[] image, out double[] text)
    {
        using var scope = torch.NewDisposeScope();
        model.zero_grad();
        (Tensor zi, Tensor zt) = model.Forward(TestData.ToTensor(images, ScalarType.Float32), TokenTensor(tokens, images.Rows));
        Tensor loss = zi.mul(TestData.ToTensor(imageWeights, ScalarType.Float32)).sum().add(zt.mul(TestData.ToTensor(textWeights, ScalarType.Float32)).sum());
        loss.backward();
        image = TestData.ToDoubles(zi);
        text = TestData.ToDoubles(zt);
        var gradients = new Dictionary<string, double[]>(StringComparer.Ordinal);
        foreach (torch.nn.Module tower in new torch.nn.Module[] { model.Image, model.Text })
        {
            foreach ((string name, global::TorchSharp.Modules.Parameter parameter) in tower.named_parameters(recurse: false))
            {
                gradients[name] = TestData.ToDoubles(parameter.grad!);
            }
        }

        return gradients;
    }

    private static Tensor TokenTensor(int[] tokens, int batch)
    {
        long[] wide = new long[tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
        {
            wide[i] = tokens[i];
        }

        return torch.tensor(wide, new long[] { batch, tokens.Length / batch });
    }

    private static float[] ToFloats(double[] values) => Array.ConvertAll(values, v => (float)v);

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
