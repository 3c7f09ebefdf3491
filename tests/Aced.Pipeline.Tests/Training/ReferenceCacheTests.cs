using System;
using System.IO;
using Aced.Pipeline.Caching;
using Aced.Pipeline.Data;
using Aced.Pipeline.Training;

namespace Aced.Pipeline.Tests.Training;

public sealed class ReferenceCacheTests : IClassFixture<TrainingFixture>
{
    private readonly TrainingFixture _fixture;

    public ReferenceCacheTests(TrainingFixture fixture)
    {
        _fixture = fixture;
    }

    [Fact]
    public void GetOrCompute_SecondCall_ReusesTheSameEmbeddingsWithoutRewriting()
    {
        string reference = CopyReference("reuse");
        TrainingRun run = TrainingRun.Load(reference);
        ImageTextDataset pool = _fixture.Data.StudentTrain;

        ReferenceEmbeddings first = ReferenceCache.GetOrCompute(run, pool, pool.Fingerprint);
        DateTime written = File.GetLastWriteTimeUtc(Path.Combine(first.Directory, ReferenceCache.ManifestFile));
        ReferenceEmbeddings second = ReferenceCache.GetOrCompute(TrainingRun.Load(reference), pool, pool.Fingerprint);

        Assert.False(first.Reused);
        Assert.True(second.Reused);
        Assert.Equal(pool.Count, second.Image.Rows);
        Assert.Equal(first.Image.Data, second.Image.Data);
        Assert.Equal(first.Text.Data, second.Text.Data);
        Assert.Equal(written, File.GetLastWriteTimeUtc(Path.Combine(first.Directory, ReferenceCache.ManifestFile)));
        Assert.True(first.Flops > 0);
        Assert.Equal(first.Flops, second.Flops);
    }

    [Fact]
    public void GetOrCompute_CachedRows_EqualALiveEncodeOfThoseExamples()
    {
        string reference = CopyReference("live");
        TrainingRun run = TrainingRun.Load(reference);
        ImageTextDataset pool = _fixture.Data.StudentTrain;
        ReferenceEmbeddings cached = ReferenceCache.GetOrCompute(run, pool, pool.Fingerprint);

        // Example 7 alone, encoded live in the training layout (HWC pixels, the reference's tokenizer).
        int s = pool.ImageSize;
        var image = new Aced.Core.Matrix(1, 3 * s * s);
        ReadOnlySpan<float> chw = pool.Image(7);
        for (int p = 0; p < s * s; p++)
        {
            for (int c = 0; c < 3; c++)
            {
                image.Data[(3 * p) + c] = chw[(c * s * s) + p];
            }
        }

        var liveImage = new Aced.Core.Matrix(1, run.Model.EmbeddingDimension);
        var liveText = new Aced.Core.Matrix(1, run.Model.EmbeddingDimension);
        run.Model.EncodeImages(image, liveImage);
        run.Model.EncodeTexts(run.Tokenizer.Encode(pool.Captions[7], run.Model.TextEncoder.ContextLength), liveText);

        Assert.Equal(liveImage.Data, cached.Image.Row(7).ToArray());
        Assert.Equal(liveText.Data, cached.Text.Row(7).ToArray());
    }

    [Fact]
    public void Run_CacheFromOtherData_RefusedBeforeTheRunStarts()
    {
        string reference = CopyReference("other-data");
        string first = _fixture.NewDirectory("student-a");
        Trainer.Run(TrainingFixture.Options(first) with { Method = "i-acid", Steps = 1, ReferenceDirs = [reference] }, _fixture.Data);

        // Same spec and split name, other noise: other captions, so another fingerprint.
        DataOptions otherData = TrainingFixture.TinyData;
        otherData = new DataOptions
        {
            Seed = otherData.Seed,
            ImageSize = otherData.ImageSize,
            ReferenceTrainSize = otherData.ReferenceTrainSize,
            StudentTrainSize = otherData.StudentTrainSize,
            HoldoutSize = otherData.HoldoutSize,
            EvaluationSize = otherData.EvaluationSize,
            NoiseRate = 0.2,
        };
        DatasetSplits other = DatasetCatalog.Load("shapes", otherData);
        Assert.Equal(_fixture.Data.StudentTrain.Name, other.StudentTrain.Name);
        string second = _fixture.NewDirectory("student-b");

        var ex = Assert.Throws<ReferenceCacheMismatchException>(() => Trainer.Run(TrainingFixture.Options(second) with { Method = "i-acid", Steps = 1, ReferenceDirs = [reference], Data = otherData }, other));

        Assert.Contains("other data", ex.Message, StringComparison.Ordinal);
        Assert.Contains("delete", ex.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(second));
    }

    [Fact]
    public void GetOrCompute_ReferenceRetrained_RefusedAsAnotherModel()
    {
        string reference = CopyReference("retrained");
        ImageTextDataset pool = _fixture.Data.StudentTrain;
        ReferenceCache.GetOrCompute(TrainingRun.Load(reference), pool, pool.Fingerprint);
        File.Copy(Path.Combine(_fixture.HoldoutReference, RunFiles.FinalCheckpoint), Path.Combine(reference, RunFiles.FinalCheckpoint), overwrite: true);

        var ex = Assert.Throws<ReferenceCacheMismatchException>(() => ReferenceCache.GetOrCompute(TrainingRun.Load(reference), pool, pool.Fingerprint));

        Assert.Contains("another reference model", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GetOrCompute_EmbeddingFileChanged_Refused()
    {
        string reference = CopyReference("tampered");
        ImageTextDataset pool = _fixture.Data.StudentTrain;
        ReferenceEmbeddings cached = ReferenceCache.GetOrCompute(TrainingRun.Load(reference), pool, pool.Fingerprint);
        cached.Image.Data[0] += 1f;
        Aced.Core.Npy.Write(Path.Combine(cached.Directory, "image.npy"), cached.Image);

        var ex = Assert.Throws<ReferenceCacheMismatchException>(() => ReferenceCache.GetOrCompute(TrainingRun.Load(reference), pool, pool.Fingerprint));

        Assert.Contains("changed", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>A private copy of the fixture's reference run (its config and final checkpoint), so caches do not leak between tests.</summary>
    private string CopyReference(string name)
    {
        string dir = _fixture.NewDirectory("ref-" + name);
        Directory.CreateDirectory(dir);
        foreach (string file in new[] { RunFiles.Config, RunFiles.FinalCheckpoint })
        {
            File.Copy(Path.Combine(_fixture.Reference, file), Path.Combine(dir, file));
        }

        return dir;
    }
}
