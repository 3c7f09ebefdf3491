using System;
using System.IO;
using Aced.Core;
using Aced.Models.Checkpoints;
using Aced.Models.Text;
using Aced.Models.Training;

namespace Aced.Models.Tests;

public sealed class CheckpointTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"aced-ckpt-{Guid.NewGuid():N}");

    public CheckpointTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Resume_FromCheckpoint_IsBitIdenticalToUninterruptedRun()
    {
        const int total = 6, split = 3;
        var schedule = new RsqrtSchedule(3e-3f, total);

        // Uninterrupted: the data order comes from an RNG that is checkpointed too.
        (TwoTowerModel straight, _) = Train(null, 0, total, schedule, out _);

        string path = Path.Combine(_dir, "run.ckpt");
        (TwoTowerModel first, AdamW firstOpt) = Train(null, 0, split, schedule, out CounterRng rng);
        BpeTokenizer tokenizer = BpeTokenizer.Train(TestData.Captions, 280);
        Checkpoint.Save(path, first, firstOpt, split, rng.State, tokenizer);

        var resumed = new TwoTowerModel(TestData.TinyConfig(), 999);
        var resumedOpt = new AdamW(resumed.Parameters);
        CheckpointInfo info = Checkpoint.Load(path, resumed, resumedOpt);
        Assert.Equal(split, info.Step);
        Assert.Equal(split, resumedOpt.Step);
        Assert.Equal(tokenizer.ToJson(), info.Tokenizer!.ToJson());
        Assert.Equal(TestData.TinyConfig(), info.Config);
        Train((resumed, resumedOpt), split, total, schedule, out _, new CounterRng(info.Rng!.Value));
        for (int i = 0; i < straight.Parameters.Count; i++)
        {
            Assert.Equal(straight.Parameters[i].Value, resumed.Parameters[i].Value);
        }
    }

    [Fact]
    public void Load_CorruptedTruncatedOrMismatched_ThrowsAndLeavesModelUnchanged()
    {
        var model = new TwoTowerModel(TestData.TinyConfig(), 1);
        var optimizer = new AdamW(model.Parameters);
        string path = Path.Combine(_dir, "m.ckpt");
        Checkpoint.Save(path, model, optimizer, 7);
        byte[] good = File.ReadAllBytes(path);

        var target = new TwoTowerModel(TestData.TinyConfig(), 2);
        var targetOpt = new AdamW(target.Parameters);
        float[][] before = Snapshot(target);

        byte[] flipped = (byte[])good.Clone();
        flipped[good.Length / 2] ^= 0x10;
        AssertFails(flipped, "checksum");
        AssertFails(good.AsSpan(0, good.Length - 100).ToArray(), "checksum");
        AssertFails(good.AsSpan(0, 20).ToArray(), "truncated");
        AssertFails("NOTACKPT and then some more bytes to pass the length check......"u8.ToArray(), "magic");
        byte[] version = (byte[])good.Clone();
        version[8] = 9;
        AssertFails(version, "version");

        string other = Path.Combine(_dir, "other.ckpt");
        var bigger = new TwoTowerModel(TestData.TinyConfig(vocabulary: 41), 3);
        Checkpoint.Save(other, bigger, null, 1);
        InvalidDataException ex = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(other, target, targetOpt));
        Assert.StartsWith(other, ex.Message);
        Assert.Contains("config", ex.Message);
        Checkpoint.Save(other, model, null, 1);
        ex = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(other, target, targetOpt));
        Assert.Contains("optimizer", ex.Message);
        Assert.Throws<InvalidDataException>(() => Checkpoint.Load(Path.Combine(_dir, "missing.ckpt"), target));

        float[][] after = Snapshot(target);
        for (int i = 0; i < before.Length; i++)
        {
            Assert.Equal(before[i], after[i]);
        }

        Assert.Equal(0, targetOpt.Step);
        Assert.Equal(new[] { "m.ckpt", "other.ckpt" }, Array.ConvertAll(Directory.GetFiles(_dir), f => Path.GetFileName(f)!).AsSpan().ToArray().OrderBy());

        void AssertFails(byte[] bytes, string expected)
        {
            string bad = Path.Combine(_dir, "bad.ckpt");
            File.WriteAllBytes(bad, bytes);
            InvalidDataException e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(bad, target, targetOpt));
            Assert.StartsWith(bad, e.Message);
            Assert.Contains(expected, e.Message);
            File.Delete(bad);
        }
    }

    [Fact]
    public void Save_OverwritesAtomically_AndLeavesNoTemporaryFiles()
    {
        var model = new TwoTowerModel(TestData.TinyConfig(), 1);
        string path = Path.Combine(_dir, "a.ckpt");
        Checkpoint.Save(path, model, null, 1);
        model.Bias.Value[0] = 3f;
        Checkpoint.Save(path, model, null, 2);
        Assert.Single(Directory.GetFiles(_dir));
        var loaded = new TwoTowerModel(TestData.TinyConfig(), 5);
        Assert.Equal(2, Checkpoint.Load(path, loaded).Step);
        Assert.Equal(3f, loaded.Bias.Value[0]);
        Assert.False(Checkpoint.ReadInfo(path).HasOptimizerState);
    }

    [Fact]
    public void SaveLoad_UserTowersWithoutConfig_RoundTripByNameAndShape()
    {
        TwoTowerConfig c = TestData.TinyConfig();
        var source = new TwoTowerModel(new VisionTransformer(c.Image, 1), new TextTransformer(c.Text, 2));
        Assert.Null(source.Config);
        string path = Path.Combine(_dir, "user.ckpt");
        Checkpoint.Save(path, source, null, 42, new RngState(1, 2, 3, 1));
        var target = new TwoTowerModel(new VisionTransformer(c.Image, 3), new TextTransformer(c.Text, 4));
        CheckpointInfo info = Checkpoint.Load(path, target);
        Assert.Equal(42, info.Step);
        Assert.Equal(new RngState(1, 2, 3, 1), info.Rng);
        Assert.Null(info.Tokenizer);
        Assert.Null(info.Config);
        for (int i = 0; i < source.Parameters.Count; i++)
        {
            Assert.Equal(source.Parameters[i].Value, target.Parameters[i].Value);
        }

        var other = new TwoTowerModel(new VisionTransformer(c.Image with { Width = 12, Heads = 2 }, 3), new TextTransformer(c.Text, 4));
        InvalidDataException ex = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path, other));
        Assert.Contains("shape", ex.Message);
    }

    private static float[][] Snapshot(TwoTowerModel model)
    {
        var s = new float[model.Parameters.Count][];
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = (float[])model.Parameters[i].Value.Clone();
        }

        return s;
    }

    private static (TwoTowerModel, AdamW) Train((TwoTowerModel, AdamW)? start, int from, int to, ILearningRateSchedule schedule, out CounterRng rng, CounterRng? resumeRng = null)
    {
        (TwoTowerModel model, AdamW optimizer) = start ?? CreateFresh();
        rng = resumeRng ?? new CounterRng(77, 1);
        (Matrix pool, int[] poolTokens) = TestTrainer.Pairs(model, 16, 78);
        int context = model.TextEncoder.ContextLength;
        var images = new Matrix(4, pool.Columns);
        int[] tokens = new int[4 * context];
        for (int step = from; step < to; step++)
        {
            for (int i = 0; i < 4; i++)
            {
                int pick = rng.NextInt(16);
                pool.Row(pick).CopyTo(images.Row(i));
                poolTokens.AsSpan(pick * context, context).CopyTo(tokens.AsSpan(i * context));
            }

            TestTrainer.Step(model, optimizer, schedule, images, tokens);
        }

        return (model, optimizer);

        static (TwoTowerModel, AdamW) CreateFresh()
        {
            var m = new TwoTowerModel(TestData.TinyConfig(), 5);
            return (m, new AdamW(m.Parameters));
        }
    }
}

internal static class OrderExtensions
{
    public static string[] OrderBy(this string[] values)
    {
        Array.Sort(values, StringComparer.Ordinal);
        return values;
    }
}
