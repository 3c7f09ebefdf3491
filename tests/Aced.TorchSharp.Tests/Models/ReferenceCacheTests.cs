using System;
using System.IO;
using System.Text.Json.Nodes;
using Aced.Core;
using Aced.Models;
using Aced.TorchSharp.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Aced.TorchSharp.Tests.Models;

public sealed class ReferenceCacheTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "aced-torch-cache-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, true);
        }
    }

    private static TwoTowerConfig Config() => new TwoTowerConfig
    {
        Image = new VisionTransformerConfig { ImageSize = 8, PatchSize = 4, Width = 16, Depth = 1, Heads = 2, MlpWidth = 32, EmbeddingDimension = 8 },
        Text = new TextTransformerConfig { VocabularySize = 30, ContextLength = 5, Width = 16, Depth = 1, Heads = 2, MlpWidth = 32, EmbeddingDimension = 8 },
    }.Validated();

    private static readonly ReferenceCacheKey Key = new("shapes", "fp-1", "model-1", "ref.ckpt", "tok-1");

    [Fact]
    public void GetOrCompute_FirstThenSecondCall_WritesPipelineFormatThenReusesSameValues()
    {
        using var model = new TorchTwoTowerModel(Config(), 7);
        using Tensor images = torch.randn(11, 192);
        using Tensor tokens = torch.randint(1, 30, new long[] { 11, 5 }, dtype: ScalarType.Int64);

        TorchReferenceEmbeddings first = TorchReferenceCache.GetOrCompute(_directory, model, Key, images, tokens, blockSize: 4);
        TorchReferenceEmbeddings second = TorchReferenceCache.GetOrCompute(_directory, model, Key, images, tokens);

        Assert.False(first.Reused);
        Assert.True(second.Reused);
        (Tensor zi, Tensor zt) = model.Forward(images, tokens);
        Assert.True(first.Image.allclose(zi, rtol: 1e-5, atol: 1e-6));
        Assert.True(first.Text.allclose(zt, rtol: 1e-5, atol: 1e-6));
        Assert.True(second.Image.allclose(first.Image, rtol: 0, atol: 0));
        Matrix npy = Npy.ReadMatrix(Path.Combine(_directory, "image.npy"));
        Assert.Equal(11, npy.Rows);
        Assert.Equal(8, npy.Columns);
        JsonObject manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(_directory, "manifest.json")))!.AsObject();
        Assert.Equal("aced-reference-cache", manifest["format"]!.GetValue<string>());
        Assert.Equal("fp-1", manifest["dataset_fingerprint"]!.GetValue<string>());
        Assert.Equal(TorchReferenceCache.HashFile(Path.Combine(_directory, "text.npy")), manifest["text_sha256"]!.GetValue<string>());
        Assert.Equal(10f, first.Scale, 4);
    }

    [Fact]
    public void GetOrCompute_OtherDataOrChangedFile_RefusesNamingTheDirectory()
    {
        using var model = new TorchTwoTowerModel(Config(), 7);
        using Tensor images = torch.randn(6, 192);
        using Tensor tokens = torch.randint(1, 30, new long[] { 6, 5 }, dtype: ScalarType.Int64);
        TorchReferenceCache.GetOrCompute(_directory, model, Key, images, tokens);

        var other = Assert.Throws<InvalidDataException>(() => TorchReferenceCache.GetOrCompute(_directory, model, Key with { DatasetFingerprint = "fp-2" }, images, tokens));
        Assert.Contains(_directory, other.Message);
        Assert.Throws<InvalidDataException>(() => TorchReferenceCache.GetOrCompute(_directory, model, Key with { ModelHash = "model-2" }, images, tokens));

        using (FileStream stream = File.OpenWrite(Path.Combine(_directory, "text.npy")))
        {
            stream.Seek(-1, SeekOrigin.End);
            stream.WriteByte(0x42);
        }

        var changed = Assert.Throws<InvalidDataException>(() => TorchReferenceCache.GetOrCompute(_directory, model, Key, images, tokens));
        Assert.Contains("changed", changed.Message);
    }
}
