using System;
using System.Globalization;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aced.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Aced.TorchSharp.Models;

/// <summary>A reference model's cached embeddings of a pool (rows in pool order) as tensors, with its logit scale and bias.</summary>
/// <param name="Image">Pool size x d image embeddings (L2-normalised), on the requested device.</param>
/// <param name="Text">Pool size x d text embeddings (L2-normalised).</param>
/// <param name="Scale">The reference's logit scale a.</param>
/// <param name="Bias">The reference's logit bias c.</param>
/// <param name="Directory">The cache directory.</param>
/// <param name="Reused">True when read from an existing cache.</param>
public sealed record TorchReferenceEmbeddings(Tensor Image, Tensor Text, float Scale, float Bias, string Directory, bool Reused);

/// <summary>What identifies a reference cache: the data, the reference checkpoint and its tokenizer.</summary>
/// <param name="DatasetName">The data set's name (recorded).</param>
/// <param name="DatasetFingerprint">A hash of the pool's ids, captions and pixels; a cache of other data is refused.</param>
/// <param name="ModelHash">SHA-256 of the reference checkpoint file (<see cref="TorchReferenceCache.HashFile"/>).</param>
/// <param name="CheckpointPath">The checkpoint's path (recorded).</param>
/// <param name="TokenizerHash">SHA-256 of the tokenizer's JSON (<see cref="TorchReferenceCache.HashText"/>).</param>
public sealed record ReferenceCacheKey(string DatasetName, string DatasetFingerprint, string ModelHash, string CheckpointPath, string TokenizerHash);

/// <summary>
/// The reference-embedding cache of the Aced pipeline, written and read with a TorchSharp reference model:
/// <c>DIR/{image.npy, text.npy, manifest.json}</c> in the same format as the pipeline's <c>ReferenceCache</c>
/// (manifest <c>format = "aced-reference-cache"</c>, data set fingerprint, checkpoint and tokenizer SHA-256, the
/// SHA-256 of both .npy files, count, dimension, context length, scale, bias), so a cache written here is read
/// by the managed pipeline and the other way round. A cache that does not match the key or whose files changed
/// is refused, never silently recomputed. Files are written atomically (temporary + rename).
/// </summary>
public static class TorchReferenceCache
{
    /// <summary>Manifest file name.</summary>
    public const string ManifestFile = "manifest.json";

    private const string Format = "aced-reference-cache";

    /// <summary>
    /// Reads the cache in <paramref name="directory"/>, or computes it with <paramref name="model"/> (encode-only, no
    /// gradients, in blocks of <paramref name="blockSize"/>) when it has no manifest yet.
    /// </summary>
    /// <param name="directory">The cache directory.</param>
    /// <param name="model">The reference model (its device is used for encoding).</param>
    /// <param name="key">Data, checkpoint and tokenizer identity.</param>
    /// <param name="images">The pool's images, [N, H*W*C] (any device; blocks are moved to <paramref name="device"/>).</param>
    /// <param name="tokens">The pool's token ids, [N, ContextLength] int64.</param>
    /// <param name="device">Where the model lives and the returned tensors go.</param>
    /// <param name="blockSize">Examples per encode call.</param>
    /// <exception cref="InvalidDataException">A cache exists but does not match <paramref name="key"/> or its files changed (the message names the directory and the fix).</exception>
    public static TorchReferenceEmbeddings GetOrCompute(string directory, TorchTwoTowerModel model, ReferenceCacheKey key, Tensor images, Tensor tokens, Device? device = null, int blockSize = 256)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(tokens);
        if (blockSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "must be at least 1");
        }

        device ??= torch.CPU;
        float scale = MathF.Exp(model.LogScale.ToSingle());
        float bias = model.Bias.ToSingle();
        string manifestPath = Path.Combine(directory, ManifestFile);
        if (File.Exists(manifestPath))
        {
            return Read(directory, key, scale, bias, device);
        }

        return Compute(directory, model, key, images, tokens, device, blockSize, scale, bias);
    }

    /// <summary>Lower-case hex SHA-256 of a file (the pipeline's checkpoint hash).</summary>
    public static string HashFile(string path)
    {
        using FileStream stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>Lower-case hex SHA-256 of a string's UTF-8 bytes (the pipeline's tokenizer hash).</summary>
    public static string HashText(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    private static TorchReferenceEmbeddings Read(string dir, ReferenceCacheKey key, float scale, float bias, Device device)
    {
        JsonObject manifest;
        try
        {
            manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, ManifestFile)))?.AsObject() ?? throw new InvalidDataException("empty");
        }
        catch (Exception ex) when (ex is JsonException or InvalidDataException or InvalidOperationException)
        {
            throw Mismatch(dir, $"its {ManifestFile} is not valid JSON ({ex.Message})");
        }

        string Field(string name) => manifest[name]?.GetValue<string>() ?? throw Mismatch(dir, $"its {ManifestFile} lacks \"{name}\"");
        if (Field("format") != Format)
        {
            throw Mismatch(dir, $"its {ManifestFile} is not an {Format} manifest");
        }

        if (Field("dataset_fingerprint") != key.DatasetFingerprint)
        {
            throw Mismatch(dir, "it was computed for other data (data set fingerprint differs)");
        }

        if (Field("model_hash") != key.ModelHash)
        {
            throw Mismatch(dir, $"it was computed by another reference model (checkpoint SHA-256 differs; now {key.CheckpointPath})");
        }

        if (Field("tokenizer_hash") != key.TokenizerHash)
        {
            throw Mismatch(dir, "it was computed with another tokenizer");
        }

        string imagePath = Path.Combine(dir, "image.npy");
        string textPath = Path.Combine(dir, "text.npy");
        if (!File.Exists(imagePath) || !File.Exists(textPath) || HashFile(imagePath) != Field("image_sha256") || HashFile(textPath) != Field("text_sha256"))
        {
            throw Mismatch(dir, "image.npy or text.npy is missing or changed since the manifest was written");
        }

        Tensor image = ToTensor(Npy.ReadMatrix(imagePath), device);
        Tensor text = ToTensor(Npy.ReadMatrix(textPath), device);
        return new TorchReferenceEmbeddings(image, text, scale, bias, dir, Reused: true);
    }

    private static TorchReferenceEmbeddings Compute(string dir, TorchTwoTowerModel model, ReferenceCacheKey key, Tensor images, Tensor tokens, Device device, int blockSize, float scale, float bias)
    {
        long count = images.shape[0];
        if (tokens.shape[0] != count)
        {
            throw new ArgumentException($"has {tokens.shape[0]} rows but there are {count} images", nameof(tokens));
        }

        int d = model.Config.Image.EmbeddingDimension;
        var image = new Matrix((int)count, d);
        var text = new Matrix((int)count, d);
        using (torch.no_grad())
        {
            for (long start = 0; start < count; start += blockSize)
            {
                long n = Math.Min(blockSize, count - start);
                using var scope = torch.NewDisposeScope();
                (Tensor zi, Tensor zt) = model.Forward(images.narrow(0, start, n).to(device), tokens.narrow(0, start, n).to(device));
                zi.cpu().contiguous().data<float>().CopyTo(image.Data.AsSpan((int)(start * d), (int)(n * d)));
                zt.cpu().contiguous().data<float>().CopyTo(text.Data.AsSpan((int)(start * d), (int)(n * d)));
            }
        }

        Directory.CreateDirectory(dir);
        string imagePath = Path.Combine(dir, "image.npy");
        string textPath = Path.Combine(dir, "text.npy");
        Npy.Write(imagePath, image);
        Npy.Write(textPath, text);
        var manifest = new JsonObject
        {
            ["format"] = Format,
            ["dataset_name"] = key.DatasetName,
            ["dataset_fingerprint"] = key.DatasetFingerprint,
            ["count"] = count,
            ["dimension"] = d,
            ["model_hash"] = key.ModelHash,
            ["checkpoint"] = key.CheckpointPath,
            ["tokenizer_hash"] = key.TokenizerHash,
            ["context_length"] = model.Config.Text.ContextLength,
            ["scale"] = scale,
            ["bias"] = bias,
            ["image_sha256"] = HashFile(imagePath),
            ["text_sha256"] = HashFile(textPath),
            ["created_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            ["encoder"] = "Aced.TorchSharp",
        };
        WriteAtomically(Path.Combine(dir, ManifestFile), manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return new TorchReferenceEmbeddings(ToTensor(image, device), ToTensor(text, device), scale, bias, dir, Reused: false);
    }

    private static Tensor ToTensor(Matrix m, Device device)
    {
        using Tensor host = torch.tensor(m.Data, new long[] { m.Rows, m.Columns });
        return host.to(device);
    }

    private static void WriteAtomically(string path, string content)
    {
        string temporary = path + ".tmp";
        File.WriteAllText(temporary, content);
        File.Move(temporary, path, overwrite: true);
    }

    private static InvalidDataException Mismatch(string dir, string reason) =>
        new($"reference cache '{dir}' cannot be used: {reason}; delete that directory to recompute it");
}
