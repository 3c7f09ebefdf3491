using System;
using System.Buffers.Binary;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Aced.Models.Checkpoints;
using Aced.Models.Training;

namespace Aced.Models.Tests;

/// <summary>
/// Checkpoints whose header was edited and re-hashed (the SHA-256 only catches accidents): every inconsistency in
/// the header must be rejected with <see cref="InvalidDataException"/> before anything is copied.
/// </summary>
public sealed class CheckpointHeaderTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"aced-ckpt-h-{Guid.NewGuid():N}");

    public CheckpointHeaderTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Load_NegativeOptimizerStep_ThrowsInvalidDataAndChangesNothing()
    {
        AssertRejected(h => h["optimizer"]!["step"] = -1, payloadShift: 0, "step");
    }

    [Fact]
    public void Load_NegativeDimensionsWithMatchingLength_ThrowsInvalidDataAndChangesNothing()
    {
        // [-2, -L/2] multiplies to L, so count == length holds although the shape is nonsense.
        AssertRejected(
            h =>
            {
                JsonObject first = h["tensors"]![0]!.AsObject();
                int length = first["length"]!.GetValue<int>();
                first["shape"] = new JsonArray(-2, -(length / 2));
            },
            payloadShift: 0,
            "shape",
            onlyEvenFirst: true);
    }

    [Fact]
    public void Load_NegativeHoleShiftingLaterTensors_ThrowsInvalidDataAndChangesNothing()
    {
        // A tensor of length -4 after the first one: every later offset moves back by 4 floats and the payload is 4
        // floats shorter, so the table still "lines up" while every later tensor would be read shifted.
        AssertRejected(
            h =>
            {
                JsonArray table = h["tensors"]!.AsArray();
                long at = table[1]!["offset"]!.GetValue<long>();
                for (int i = 1; i < table.Count; i++)
                {
                    table[i]!["offset"] = table[i]!["offset"]!.GetValue<long>() - 4;
                }

                table.Insert(1, new JsonObject { ["name"] = "adamw.hole", ["shape"] = new JsonArray(-4), ["offset"] = at, ["length"] = -4 });
            },
            payloadShift: -4,
            "hole");
    }

    [Fact]
    public void Load_DimensionProductOverflowingInt_ThrowsInvalidData()
    {
        // 65536 * 65536 = 2^32 wraps to 0 in 32-bit arithmetic; the product must be checked.
        AssertRejected(
            h =>
            {
                JsonArray table = h["tensors"]!.AsArray();
                JsonNode last = table[table.Count - 1]!;
                long end = last["offset"]!.GetValue<long>() + last["length"]!.GetValue<long>();
                table.Add(new JsonObject { ["name"] = "adamw.big", ["shape"] = new JsonArray(65536, 65536, 65536, 65536), ["offset"] = end, ["length"] = 0 });
            },
            payloadShift: 0,
            "big");
    }

    [Fact]
    public void Load_UnknownTensorName_ThrowsInvalidData()
    {
        AssertRejected(h => h["tensors"]![h["tensors"]!.AsArray().Count - 1]!["name"] = "adamw.m:nothing", payloadShift: 0, "nothing", headerLevel: false);
    }

    [Fact]
    public void Load_OffsetPastPayload_ThrowsInvalidData()
    {
        AssertRejected(h => h["tensors"]![0]!["offset"] = long.MaxValue - 2, payloadShift: 0, "offset");
    }

    [Fact]
    public void ReadInfo_NegativeOptimizerStep_ThrowsInvalidData()
    {
        string path = Rewrite(h => h["optimizer"]!["step"] = -5, payloadShift: 0, out _);
        InvalidDataException ex = Assert.Throws<InvalidDataException>(() => Checkpoint.ReadInfo(path));
        Assert.StartsWith(path, ex.Message);
    }

    [Fact]
    public void LoadAndReadInfo_TokenizerMergeBomb_ThrowInvalidData()
    {
        string path = Rewrite(h => h["tokenizer"] = TokenizerLoaderTests.DoublingBomb(31), payloadShift: 0, out _);
        InvalidDataException ex = Assert.Throws<InvalidDataException>(() => Checkpoint.ReadInfo(path));
        Assert.StartsWith(path, ex.Message);
        Assert.Contains("MaxTokenBytes", ex.Message);
        var target = new TwoTowerModel(TestData.TinyConfig(), 2);
        float[] before = (float[])target.Parameters[0].Value.Clone();
        Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path, target));
        Assert.Equal(before, target.Parameters[0].Value);
    }

    [Fact]
    public void Rewrite_WithoutChanges_StillLoads()
    {
        // The helper itself must produce a valid file, or the tests above would pass for the wrong reason.
        string path = Rewrite(_ => { }, payloadShift: 0, out TwoTowerModel source);
        var target = new TwoTowerModel(TestData.TinyConfig(), 2);
        var optimizer = new AdamW(target.Parameters);
        Checkpoint.Load(path, target, optimizer);
        Assert.Equal(7, optimizer.Step);
        Assert.Equal(source.Parameters[^1].Value, target.Parameters[^1].Value);
    }

    private void AssertRejected(Action<JsonNode> edit, int payloadShift, string expected, bool onlyEvenFirst = false, bool headerLevel = true)
    {
        string path = Rewrite(edit, payloadShift, out TwoTowerModel source);
        if (onlyEvenFirst)
        {
            Assert.Equal(0, source.Parameters[0].Value.Length % 2);
        }

        var target = new TwoTowerModel(TestData.TinyConfig(), 2);
        var optimizer = new AdamW(target.Parameters);
        float[][] before = Snapshot(target, optimizer);
        InvalidDataException ex = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path, target, optimizer));
        Assert.StartsWith(path, ex.Message);
        Assert.Contains(expected, ex.Message);
        Assert.Equal(0, optimizer.Step);
        float[][] after = Snapshot(target, optimizer);
        for (int i = 0; i < before.Length; i++)
        {
            Assert.Equal(before[i], after[i]);
        }

        if (headerLevel)
        {
            ex = Assert.Throws<InvalidDataException>(() => Checkpoint.ReadInfo(path));
            Assert.Contains(expected, ex.Message);
        }

        // Without an optimizer as well.
        Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path, target));
        Assert.Equal(before[0], target.Parameters[0].Value);
    }

    private string Rewrite(Action<JsonNode> edit, int payloadShift, out TwoTowerModel source)
    {
        source = new TwoTowerModel(TestData.TinyConfig(), 1);
        var optimizer = new AdamW(source.Parameters);
        for (int i = 0; i < source.Parameters.Count; i++)
        {
            optimizer.FirstMoment(i).AsSpan().Fill(0.25f + i);
            optimizer.SecondMoment(i).AsSpan().Fill(0.5f + i);
        }

        string good = Path.Combine(_dir, "good.ckpt");
        Checkpoint.Save(good, source, optimizer, 3);
        optimizer.RestoreStep(7);
        Checkpoint.Save(good, source, optimizer, 3);
        byte[] bytes = File.ReadAllBytes(good);
        int headerLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(12));
        JsonNode header = JsonNode.Parse(bytes.AsSpan(16, headerLength))!;
        edit(header);
        byte[] newHeader = Encoding.UTF8.GetBytes(header.ToJsonString());
        int payloadStart = 16 + headerLength;
        int payloadLength = bytes.Length - 32 - payloadStart + (payloadShift * sizeof(float));
        byte[] result = new byte[16 + newHeader.Length + payloadLength + 32];
        bytes.AsSpan(0, 16).CopyTo(result);
        BinaryPrimitives.WriteUInt32LittleEndian(result.AsSpan(12), (uint)newHeader.Length);
        newHeader.CopyTo(result.AsSpan(16));
        bytes.AsSpan(payloadStart, payloadLength).CopyTo(result.AsSpan(16 + newHeader.Length));
        SHA256.HashData(result.AsSpan(0, result.Length - 32)).CopyTo(result.AsSpan(result.Length - 32));
        string path = Path.Combine(_dir, "edited.ckpt");
        File.WriteAllBytes(path, result);
        return path;
    }

    private static float[][] Snapshot(TwoTowerModel model, AdamW optimizer)
    {
        int n = model.Parameters.Count;
        var s = new float[3 * n][];
        for (int i = 0; i < n; i++)
        {
            s[i] = (float[])model.Parameters[i].Value.Clone();
            s[n + i] = (float[])optimizer.FirstMoment(i).Clone();
            s[(2 * n) + i] = (float[])optimizer.SecondMoment(i).Clone();
        }

        return s;
    }
}
