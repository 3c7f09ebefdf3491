using System;
using System.Globalization;
using System.IO;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading;
using Aced.Core;
using Aced.Models;
using Aced.Pipeline.Data;
using Aced.Pipeline.Training;

namespace Aced.Pipeline.Caching;

/// <summary>A reference model's embeddings of a whole training pool (rows in pool order) with its logit scale and bias.</summary>
/// <param name="Image">Pool size x d image embeddings (L2-normalised).</param>
/// <param name="Text">Pool size x d text embeddings (L2-normalised).</param>
/// <param name="Logits">The reference's logit scale a and bias c.</param>
/// <param name="Directory">The cache directory.</param>
/// <param name="Reused">True when read from an existing cache, false when computed by this call.</param>
/// <param name="Flops">The one-off cost of computing the cache: the reference's forward over the pool.</param>
public sealed record ReferenceEmbeddings(Matrix Image, Matrix Text, LogitParameters Logits, string Directory, bool Reused, double Flops);

/// <summary>
/// The cache of a reference's embeddings of a training pool: REF_DIR/reference-cache/NAME/{image.npy, text.npy,
/// manifest.json}. Computed once (encode-only, batched) and reused by every student run; the manifest records the
/// SHA-256 of the reference checkpoint, of its tokenizer, of the data set (ids, captions, pixels) and of both .npy
/// files, and a cache that does not match the current data or model is refused, never silently recomputed.
/// </summary>
public static class ReferenceCache
{
    /// <summary>Manifest file name.</summary>
    public const string ManifestFile = "manifest.json";

    private const string Format = "aced-reference-cache";

    /// <summary>The cache directory of <paramref name="dataset"/> under the reference run <paramref name="referenceDir"/>.</summary>
    public static string DirectoryFor(string referenceDir, ImageTextDataset dataset) =>
        Path.Combine(referenceDir, RunFiles.ReferenceCacheDirectory, Slug(dataset.Name));

    /// <summary>
    /// Reads the cached embeddings of <paramref name="dataset"/> by <paramref name="reference"/>, or computes and writes
    /// them when no cache exists.
    /// </summary>
    /// <exception cref="ReferenceCacheMismatchException">A cache exists but was computed from other data, another model or another tokenizer, or its files changed.</exception>
    public static ReferenceEmbeddings GetOrCompute(TrainingRun reference, ImageTextDataset dataset, string datasetFingerprint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(dataset);
        string dir = DirectoryFor(reference.RunDirectory, dataset);
        string modelHash = RunFiles.HashFile(reference.CheckpointPath);
        string tokenizerHash = RunFiles.HashText(reference.Tokenizer.ToJson());
        string manifestPath = Path.Combine(dir, ManifestFile);
        if (File.Exists(manifestPath))
        {
            return Read(dir, reference, modelHash, tokenizerHash, datasetFingerprint);
        }

        return Compute(dir, reference, dataset, datasetFingerprint, modelHash, tokenizerHash, cancellationToken);
    }

    private static ReferenceEmbeddings Read(string dir, TrainingRun reference, string modelHash, string tokenizerHash, string fingerprint)
    {
        string manifestPath = Path.Combine(dir, ManifestFile);
        JsonObject manifest;
        try
        {
            manifest = JsonNode.Parse(File.ReadAllText(manifestPath))?.AsObject() ?? throw new InvalidDataException("empty");
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidDataException or InvalidOperationException)
        {
            throw new ReferenceCacheMismatchException(dir, $"its {ManifestFile} is not valid JSON ({ex.Message})");
        }

        string Field(string name) => manifest[name]?.GetValue<string>() ?? throw new ReferenceCacheMismatchException(dir, $"its {ManifestFile} lacks \"{name}\"");
        if (Field("format") != Format)
        {
            throw new ReferenceCacheMismatchException(dir, $"its {ManifestFile} is not an {Format} manifest");
        }

        if (Field("dataset_fingerprint") != fingerprint)
        {
            throw new ReferenceCacheMismatchException(dir, $"it was computed for other data (data set fingerprint {Short(Field("dataset_fingerprint"))}, this pool {Short(fingerprint)})");
        }

        if (Field("model_hash") != modelHash)
        {
            throw new ReferenceCacheMismatchException(dir, $"it was computed by another reference model (checkpoint SHA-256 {Short(Field("model_hash"))}, now {Short(modelHash)} in {reference.CheckpointPath})");
        }

        if (Field("tokenizer_hash") != tokenizerHash)
        {
            throw new ReferenceCacheMismatchException(dir, $"it was computed with another tokenizer (SHA-256 {Short(Field("tokenizer_hash"))}, now {Short(tokenizerHash)})");
        }

        string imagePath = Path.Combine(dir, "image.npy");
        string textPath = Path.Combine(dir, "text.npy");
        if (!File.Exists(imagePath) || !File.Exists(textPath) || RunFiles.HashFile(imagePath) != Field("image_sha256") || RunFiles.HashFile(textPath) != Field("text_sha256"))
        {
            throw new ReferenceCacheMismatchException(dir, "image.npy or text.npy is missing or changed since the manifest was written");
        }

        Matrix image = Npy.ReadMatrix(imagePath);
        Matrix text = Npy.ReadMatrix(textPath);
        double flops = manifest["flops"]?.GetValue<double>() ?? 0;
        return new ReferenceEmbeddings(image, text, reference.Model.Logits, dir, Reused: true, flops);
    }

    private static ReferenceEmbeddings Compute(string dir, TrainingRun reference, ImageTextDataset dataset, string fingerprint, string modelHash, string tokenizerHash, CancellationToken cancellationToken)
    {
        TwoTowerModel model = reference.Model;
        TwoTowerConfig config = model.Config ?? throw new InvalidDataException($"{reference.CheckpointPath}: the reference has no model config");
        if (config.Image.ImageSize != dataset.ImageSize)
        {
            throw new TrainingConfigurationException("--reference", $"the reference in {reference.RunDirectory} takes {config.Image.ImageSize}x{config.Image.ImageSize} images but the data set '{dataset.Name}' has {dataset.ImageSize}x{dataset.ImageSize}; train the reference on the same data set");
        }

        var pool = new TrainingPool(dataset, reference.Tokenizer, config.Text.ContextLength);
        var image = new Matrix(pool.Count, model.EmbeddingDimension);
        var text = new Matrix(pool.Count, model.EmbeddingDimension);
        const int block = 256;
        for (int start = 0; start < pool.Count; start += block)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int n = Math.Min(block, pool.Count - start);
            model.EncodeImages(pool.Images.RowRange(start, n), image.RowRange(start, n), block);
            model.EncodeTexts(pool.Tokens.AsSpan(start * pool.ContextLength, n * pool.ContextLength), text.RowRange(start, n), block);
        }

        Directory.CreateDirectory(dir);
        string imagePath = Path.Combine(dir, "image.npy");
        string textPath = Path.Combine(dir, "text.npy");
        Npy.Write(imagePath, image);
        Npy.Write(textPath, text);
        double flops = ComputeAccounting.PairForwardFlops(config) * pool.Count;
        var manifest = new JsonObject
        {
            ["format"] = Format,
            ["dataset_name"] = dataset.Name,
            ["dataset_fingerprint"] = fingerprint,
            ["count"] = pool.Count,
            ["dimension"] = model.EmbeddingDimension,
            ["model_hash"] = modelHash,
            ["checkpoint"] = reference.CheckpointPath,
            ["tokenizer_hash"] = tokenizerHash,
            ["context_length"] = pool.ContextLength,
            ["scale"] = model.Scale,
            ["bias"] = model.Bias.Value[0],
            ["image_sha256"] = RunFiles.HashFile(imagePath),
            ["text_sha256"] = RunFiles.HashFile(textPath),
            ["flops"] = flops,
            ["created_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
        };
        RunFiles.WriteAllText(Path.Combine(dir, ManifestFile), manifest.ToJsonString(TrainingRun.s_json));
        return new ReferenceEmbeddings(image, text, model.Logits, dir, Reused: false, flops);
    }

    private static string Short(string hash) => hash.Length > 12 ? hash[..12] : hash;

    private static string Slug(string name)
    {
        var sb = new StringBuilder(name.Length);
        foreach (char c in name)
        {
            sb.Append(char.IsAsciiLetterOrDigit(c) || c == '-' || c == '_' ? c : '-');
        }

        return sb.Length == 0 ? "pool" : sb.ToString();
    }
}

/// <summary>A cached reference-embedding set that does not match the data, the model or its own files.</summary>
public sealed class ReferenceCacheMismatchException : IOException
{
    /// <summary>Creates the error for the cache in <paramref name="directory"/>.</summary>
    public ReferenceCacheMismatchException(string directory, string reason)
        : base($"reference cache '{directory}' cannot be used: {reason}; delete that directory to recompute it")
    {
        CacheDirectory = directory;
    }

    /// <summary>The cache directory.</summary>
    public string CacheDirectory { get; }
}
