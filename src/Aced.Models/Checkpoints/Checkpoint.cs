using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Aced.Core;
using Aced.Models.Text;
using Aced.Models.Training;

namespace Aced.Models.Checkpoints;

/// <summary>What a checkpoint holds besides the tensors.</summary>
/// <param name="Step">Training step at which it was written.</param>
/// <param name="Rng">The caller's RNG state (e.g. data order), if saved.</param>
/// <param name="Tokenizer">The tokenizer, if saved.</param>
/// <param name="Config">The model config, if the model was built from this package's towers.</param>
/// <param name="HasOptimizerState">Whether AdamW moments are stored.</param>
public sealed record CheckpointInfo(long Step, RngState? Rng, Tokenizer? Tokenizer, TwoTowerConfig? Config, bool HasOptimizerState);

/// <summary>
/// Versioned single-file checkpoints: model parameters (by name), AdamW moments and step, the training step, an RNG
/// state and the tokenizer.
/// </summary>
/// <remarks>
/// Layout (little-endian): 8-byte magic <c>ACEDCKPT</c>; uint32 format version (1); uint32 header length H; H bytes
/// of UTF-8 JSON (config, step, RNG state, tokenizer JSON, optimizer options and step, and a tensor table of
/// name, shape, offset and length in floats); the float32 payload; a 32-byte SHA-256 of everything before it.
/// Saving writes a temporary file in the same directory, flushes it to disk and renames it over the target, so a
/// crash never leaves a half-written checkpoint. Loading verifies the whole file before changing anything: magic,
/// version, lengths, checksum; every tensor-table entry (each dimension at least 1, the product of the dimensions,
/// checked for overflow, equal to the length, offsets contiguous in table order and inside the payload, names
/// unique); the optimizer step (zero or greater); the tokenizer (see <see cref="BpeTokenizer.MaxTokenBytes"/>); and
/// every name and shape against the model (and optimizer): each tensor is a parameter or an AdamW moment of one, and
/// a file with optimizer state holds both moments of every parameter. Any failure throws
/// <see cref="InvalidDataException"/> whose message starts with the path, and leaves the model and optimizer untouched.
/// The SHA-256 detects accidental corruption (a flipped bit, a truncated copy), not tampering: anyone can edit the
/// header and recompute it, which is why every field is validated on its own as well. Load checkpoints only from
/// sources you trust.
/// </remarks>
public static class Checkpoint
{
    /// <summary>Current format version.</summary>
    public const int FormatVersion = 1;

    private const int HashLength = 32;
    private const string MomentPrefix1 = "adamw.m:";
    private const string MomentPrefix2 = "adamw.v:";
    private static ReadOnlySpan<byte> Magic => "ACEDCKPT"u8;

    private static readonly JsonSerializerOptions s_json = new()
    {
        Converters = { new JsonStringEnumConverter() },
        IgnoreReadOnlyProperties = true,
    };

    /// <summary>Writes a checkpoint atomically.</summary>
    /// <param name="path">Target file; replaced if it exists.</param>
    /// <param name="model">Model whose parameters are saved.</param>
    /// <param name="optimizer">Optimizer whose moments and step are saved (optional).</param>
    /// <param name="step">Training step.</param>
    /// <param name="rng">RNG state to save (optional).</param>
    /// <param name="tokenizer">Tokenizer to save (optional).</param>
    /// <exception cref="ArgumentException">The optimizer does not hold exactly the model's parameters.</exception>
    public static void Save(string path, TwoTowerModel model, AdamW? optimizer, long step, RngState? rng = null, Tokenizer? tokenizer = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(model);
        if (optimizer is not null)
        {
            CheckOptimizerMatches(model, optimizer);
        }

        var tensors = new List<(string Name, int[] Shape, float[] Data)>();
        foreach (Parameter p in model.Parameters)
        {
            tensors.Add((p.Name, p.Shape, p.Value));
        }

        if (optimizer is not null)
        {
            for (int i = 0; i < optimizer.Parameters.Count; i++)
            {
                Parameter p = optimizer.Parameters[i];
                tensors.Add((MomentPrefix1 + p.Name, p.Shape, optimizer.FirstMoment(i)));
                tensors.Add((MomentPrefix2 + p.Name, p.Shape, optimizer.SecondMoment(i)));
            }
        }

        var table = new JsonArray();
        long offset = 0;
        foreach ((string name, int[] shape, float[] data) in tensors)
        {
            var dims = new JsonArray();
            foreach (int d in shape)
            {
                dims.Add(d);
            }

            table.Add(new JsonObject { ["name"] = name, ["shape"] = dims, ["offset"] = offset, ["length"] = data.Length });
            offset += data.Length;
        }

        var header = new JsonObject
        {
            ["format"] = "aced-checkpoint",
            ["step"] = step,
            ["kind"] = model.Kind.ToString(),
            ["config"] = model.Config is null ? null : JsonSerializer.SerializeToNode(model.Config, s_json),
            ["rng"] = rng is RngState r ? new JsonObject { ["seed"] = r.Seed, ["stream"] = r.Stream, ["block"] = r.Block, ["index"] = r.Index } : null,
            ["tokenizer"] = tokenizer?.ToJson(),
            ["optimizer"] = optimizer is null ? null : new JsonObject
            {
                ["step"] = optimizer.Step,
                ["options"] = JsonSerializer.SerializeToNode(optimizer.Options, s_json),
            },
            ["tensors"] = table,
        };
        byte[] headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());

        string fullPath = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(fullPath) ?? ".";
        string temp = Path.Combine(directory, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                Span<byte> prefix = stackalloc byte[16];
                Magic.CopyTo(prefix);
                BinaryPrimitives.WriteUInt32LittleEndian(prefix.Slice(8), FormatVersion);
                BinaryPrimitives.WriteUInt32LittleEndian(prefix.Slice(12), (uint)headerBytes.Length);
                Write(stream, hash, prefix);
                Write(stream, hash, headerBytes);
                foreach ((_, _, float[] data) in tensors)
                {
                    WriteFloats(stream, hash, data);
                }

                stream.Write(hash.GetHashAndReset());
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, fullPath, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Reads and verifies a checkpoint's metadata without touching any model.</summary>
    /// <exception cref="InvalidDataException">The file is corrupted, truncated or of another format or version.</exception>
    public static CheckpointInfo ReadInfo(string path)
    {
        Parsed parsed = Parse(path);
        return parsed.Info;
    }

    /// <summary>
    /// Restores parameters (and optimizer state when <paramref name="optimizer"/> is given) from a checkpoint.
    /// Everything is verified first; on any failure nothing is changed.
    /// </summary>
    /// <exception cref="InvalidDataException">Corrupted, truncated or mismatched file (config, names, shapes, missing optimizer state).</exception>
    public static CheckpointInfo Load(string path, TwoTowerModel model, AdamW? optimizer = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (optimizer is not null)
        {
            CheckOptimizerMatches(model, optimizer);
        }

        Parsed parsed = Parse(path);
        string fail = $"{path}: ";
        if (model.Config is not null && parsed.Info.Config is not null && !ConfigEquals(model.Config, parsed.Info.Config))
        {
            throw new InvalidDataException(fail + "the checkpoint's model config differs from this model's config; build the model from Checkpoint.ReadInfo(path).Config.");
        }

        if (!string.Equals(parsed.Kind, model.Kind.ToString(), StringComparison.Ordinal))
        {
            throw new InvalidDataException(fail + $"the checkpoint was written for a {parsed.Kind} model, not {model.Kind}.");
        }

        CheckNames(parsed, model, fail);
        int expected = model.Parameters.Count + (optimizer is null ? 0 : 2 * optimizer.Parameters.Count);
        var targets = new List<(Entry Entry, float[] Destination)>(expected);
        foreach (Parameter p in model.Parameters)
        {
            targets.Add((Find(parsed, p.Name, p.Shape, fail), p.Value));
        }

        if (optimizer is not null)
        {
            if (parsed.OptimizerStep is null)
            {
                throw new InvalidDataException(fail + "the checkpoint holds no optimizer state; load without an optimizer or save with one.");
            }

            for (int i = 0; i < optimizer.Parameters.Count; i++)
            {
                Parameter p = optimizer.Parameters[i];
                targets.Add((Find(parsed, MomentPrefix1 + p.Name, p.Shape, fail), optimizer.FirstMoment(i)));
                targets.Add((Find(parsed, MomentPrefix2 + p.Name, p.Shape, fail), optimizer.SecondMoment(i)));
            }
        }

        // Verified: apply.
        ReadOnlySpan<byte> payload = parsed.Bytes.AsSpan(parsed.PayloadStart);
        foreach ((Entry entry, float[] destination) in targets)
        {
            ReadOnlySpan<byte> src = payload.Slice((int)(entry.Offset * sizeof(float)), entry.Length * sizeof(float));
            if (BitConverter.IsLittleEndian)
            {
                src.CopyTo(MemoryMarshal.AsBytes(destination.AsSpan()));
            }
            else
            {
                for (int i = 0; i < entry.Length; i++)
                {
                    destination[i] = BinaryPrimitives.ReadSingleLittleEndian(src.Slice(i * 4));
                }
            }
        }

        optimizer?.RestoreStep(parsed.OptimizerStep!.Value);
        return parsed.Info;
    }

    /// <summary>
    /// Every tensor in the file must be a model parameter or an AdamW moment of one, with the parameter's shape; a
    /// file with optimizer state holds both moments of every parameter, a file without holds none.
    /// </summary>
    private static void CheckNames(Parsed parsed, TwoTowerModel model, string fail)
    {
        var parameters = new Dictionary<string, Parameter>(model.Parameters.Count, StringComparer.Ordinal);
        foreach (Parameter p in model.Parameters)
        {
            parameters[p.Name] = p;
        }

        int modelTensors = 0;
        int moments = 0;
        foreach (Entry e in parsed.Entries.Values)
        {
            string name = e.Name;
            if (name.StartsWith(MomentPrefix1, StringComparison.Ordinal) || name.StartsWith(MomentPrefix2, StringComparison.Ordinal))
            {
                name = name.Substring(MomentPrefix1.Length);
                moments++;
            }
            else
            {
                modelTensors++;
            }

            if (!parameters.TryGetValue(name, out Parameter? p))
            {
                throw new InvalidDataException(fail + $"tensor '{e.Name}' in the checkpoint is neither a parameter of this model nor an AdamW moment of one.");
            }

            Find(parsed, e.Name, p.Shape, fail);
        }

        if (modelTensors != model.Parameters.Count)
        {
            throw new InvalidDataException(fail + $"the checkpoint holds {modelTensors} model tensors but the model has {model.Parameters.Count}.");
        }

        int expectedMoments = parsed.OptimizerStep is null ? 0 : 2 * model.Parameters.Count;
        if (moments != expectedMoments)
        {
            throw new InvalidDataException(fail + $"the checkpoint holds {moments} AdamW moment tensors but {expectedMoments} are expected (two per parameter when optimizer state is saved, none otherwise).");
        }
    }

    private static Entry Find(Parsed parsed, string name, int[] shape, string fail)
    {
        if (!parsed.Entries.TryGetValue(name, out Entry? e))
        {
            throw new InvalidDataException(fail + $"tensor '{name}' is missing from the checkpoint.");
        }

        if (!shape.AsSpan().SequenceEqual(e.Shape))
        {
            throw new InvalidDataException(fail + $"tensor '{name}' has shape [{string.Join('x', e.Shape)}] in the checkpoint but [{string.Join('x', shape)}] in the model.");
        }

        return e;
    }

    private static Parsed Parse(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string fail = $"{path}: ";
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException(fail + "cannot read the checkpoint: " + ex.Message, ex);
        }

        if (bytes.Length >= 8 && !bytes.AsSpan(0, 8).SequenceEqual(Magic))
        {
            throw new InvalidDataException(fail + "not an Aced checkpoint (bad magic bytes).");
        }

        if (bytes.Length < 16 + HashLength)
        {
            throw new InvalidDataException(fail + $"the checkpoint is truncated (only {bytes.Length} bytes).");
        }

        uint version = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8));
        if (version != FormatVersion)
        {
            throw new InvalidDataException(fail + $"checkpoint format version {version} is not supported (this build reads version {FormatVersion}).");
        }

        uint headerLength = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(12));
        if (headerLength > bytes.Length - 16 - HashLength)
        {
            throw new InvalidDataException(fail + "the checkpoint is truncated (header extends past the end of the file).");
        }

        byte[] actual = SHA256.HashData(bytes.AsSpan(0, bytes.Length - HashLength));
        if (!actual.AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - HashLength)))
        {
            throw new InvalidDataException(fail + "checksum mismatch: the checkpoint is corrupted or truncated.");
        }

        int payloadStart = 16 + (int)headerLength;
        long payloadFloats = (bytes.Length - HashLength - payloadStart) / sizeof(float);
        if ((bytes.Length - HashLength - payloadStart) % sizeof(float) != 0)
        {
            throw new InvalidDataException(fail + "the payload is not a whole number of float32 values.");
        }

        try
        {
            JsonNode header = JsonNode.Parse(bytes.AsSpan(16, (int)headerLength)) ?? throw new InvalidDataException("empty header");
            var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
            long expectedOffset = 0;
            foreach (JsonNode? node in header["tensors"]!.AsArray())
            {
                Entry entry = ReadEntry(node!, expectedOffset, payloadFloats);
                expectedOffset += entry.Length;
                if (!entries.TryAdd(entry.Name, entry))
                {
                    throw new InvalidDataException($"tensor '{entry.Name}' appears twice");
                }
            }

            if (expectedOffset != payloadFloats)
            {
                throw new InvalidDataException($"the tensor table covers {expectedOffset} floats but the payload holds {payloadFloats}");
            }

            long step = header["step"]!.GetValue<long>();
            string kind = header["kind"]!.GetValue<string>();
            TwoTowerConfig? config = header["config"] is JsonNode c ? c.Deserialize<TwoTowerConfig>(s_json) : null;
            RngState? rng = header["rng"] is JsonNode r
                ? new RngState(r["seed"]!.GetValue<ulong>(), r["stream"]!.GetValue<ulong>(), r["block"]!.GetValue<ulong>(), r["index"]!.GetValue<int>())
                : null;
            Tokenizer? tokenizer = header["tokenizer"] is JsonNode t ? Tokenizer.FromJson(t.GetValue<string>()) : null;
            long? optimizerStep = header["optimizer"] is JsonNode o ? o["step"]!.GetValue<long>() : null;
            if (optimizerStep < 0)
            {
                throw new InvalidDataException($"the optimizer step is {optimizerStep}; it must be zero or greater");
            }

            var info = new CheckpointInfo(step, rng, tokenizer, config, optimizerStep is not null);
            return new Parsed(bytes, payloadStart, entries, info, kind, optimizerStep);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException or NullReferenceException or InvalidDataException or ArgumentException)
        {
            throw new InvalidDataException(fail + "the checkpoint header is malformed: " + ex.Message, ex);
        }
    }

    /// <summary>
    /// Reads one tensor-table entry and checks it on its own: every dimension at least 1, the product of the
    /// dimensions (checked for overflow) equal to the length, the offset exactly where the previous tensor ended and
    /// the tensor inside the payload.
    /// </summary>
    private static Entry ReadEntry(JsonNode node, long expectedOffset, long payloadFloats)
    {
        string name = node["name"]!.GetValue<string>();
        JsonArray dims = node["shape"]!.AsArray();
        if (dims.Count == 0)
        {
            throw new InvalidDataException($"tensor '{name}' has an empty shape");
        }

        int[] shape = new int[dims.Count];
        long count = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            shape[i] = dims[i]!.GetValue<int>();
            if (shape[i] < 1)
            {
                throw new InvalidDataException($"tensor '{name}' has dimension {i} = {shape[i]} in its shape; every dimension must be at least 1");
            }

            // Every factor is at least 1, so the running product only grows: stop before it can overflow.
            count *= shape[i];
            if (count > Array.MaxLength)
            {
                throw new InvalidDataException($"tensor '{name}' has a shape with more elements than one array can hold ({Array.MaxLength})");
            }
        }

        long offset = node["offset"]!.GetValue<long>();
        int length = node["length"]!.GetValue<int>();
        if (count != length)
        {
            throw new InvalidDataException($"tensor '{name}' has length {length} but its shape holds {count} elements");
        }

        if (offset != expectedOffset)
        {
            throw new InvalidDataException($"tensor '{name}' starts at offset {offset} but the previous tensor ends at {expectedOffset}; tensors must be stored contiguously in table order");
        }

        if (length > payloadFloats - offset)
        {
            throw new InvalidDataException($"tensor '{name}' (offset {offset}, length {length}) extends past the payload of {payloadFloats} floats");
        }

        return new Entry(name, shape, offset, length);
    }

    private static bool ConfigEquals(TwoTowerConfig a, TwoTowerConfig b) => a.Kind == b.Kind && a.Image == b.Image && a.Text == b.Text;

    private static void CheckOptimizerMatches(TwoTowerModel model, AdamW optimizer)
    {
        Guard.That(optimizer.Parameters.Count == model.Parameters.Count, "does not hold the model's parameters (count differs)", nameof(optimizer));
        for (int i = 0; i < model.Parameters.Count; i++)
        {
            if (!(ReferenceEquals(optimizer.Parameters[i], model.Parameters[i])))
            {
                Guard.ThrowArgument(nameof(optimizer), $"parameter {i} is not the model's '{model.Parameters[i].Name}'; create the optimizer from model.Parameters");
            }
        }
    }

    private static void Write(Stream stream, IncrementalHash hash, ReadOnlySpan<byte> data)
    {
        hash.AppendData(data);
        stream.Write(data);
    }

    private static void WriteFloats(Stream stream, IncrementalHash hash, float[] data)
    {
        if (BitConverter.IsLittleEndian)
        {
            Write(stream, hash, MemoryMarshal.AsBytes(data.AsSpan()));
            return;
        }

        byte[] buffer = new byte[data.Length * sizeof(float)];
        for (int i = 0; i < data.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(buffer.AsSpan(i * 4), data[i]);
        }

        Write(stream, hash, buffer);
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private sealed record Entry(string Name, int[] Shape, long Offset, int Length);

    private sealed record Parsed(byte[] Bytes, int PayloadStart, Dictionary<string, Entry> Entries, CheckpointInfo Info, string Kind, long? OptimizerStep);
}
