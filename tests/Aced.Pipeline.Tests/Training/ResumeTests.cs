using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json.Nodes;
using System.Threading;
using Aced.Models;
using Aced.Pipeline.Training;

namespace Aced.Pipeline.Tests.Training;

public sealed class ResumeTests : IClassFixture<TrainingFixture>
{
    private readonly TrainingFixture _fixture;

    public ResumeTests(TrainingFixture fixture)
    {
        _fixture = fixture;
    }

    [Theory]
    [InlineData("iid")]
    [InlineData("aced-iidistill")]
    [InlineData("bad-students")]
    [InlineData("softmax-fm-kd", 24)]
    public void Run_CancelledAfterFourOfEightThenResumed_EqualsUninterruptedBitForBit(string method, int width = 32)
    {
        MethodDefinition definition = TrainingMethods.Get(method);
        TrainOptions Options(string dir) => TrainingFixture.Options(dir) with
        {
            Method = method,
            Steps = 8,
            CheckpointEvery = 3,
            ReferenceDirs = definition.NeedsReference ? [_fixture.Reference] : [],
            EmbeddingDimension = width,
        };

        string straight = _fixture.NewDirectory("straight-" + method);
        TrainResult full = Trainer.Run(Options(straight), _fixture.Data);

        string interrupted = _fixture.NewDirectory("interrupted-" + method);
        using var cancel = new CancellationTokenSource();
        TrainResult first = Trainer.Run(Options(interrupted), _fixture.Data, new CancelAt(4, cancel), cancel.Token);
        Assert.False(first.Completed);
        Assert.Equal(4, first.Steps);
        Assert.True(File.Exists(RunFiles.CheckpointPath(interrupted, 4)));
        Assert.False(File.Exists(Path.Combine(interrupted, RunFiles.FinalCheckpoint)));

        TrainResult resumed = Trainer.Run(Options(interrupted) with { Resume = true }, _fixture.Data);

        Assert.True(resumed.Completed);
        Assert.Equal(full.Steps, resumed.Steps);
        Assert.Equal(full.FinalLoss, resumed.FinalLoss);
        Assert.Equal(full.Flops, resumed.Flops);
        Assert.Equal(full.SamplesSeen, resumed.SamplesSeen);
        AssertSameParameters(TrainingRun.Load(straight).Model, TrainingRun.Load(interrupted).Model);
        Assert.Equal(MetricsWithoutTime(straight), MetricsWithoutTime(interrupted));
        if (width != 32)
        {
            // The feature-matching head (student 24 wide, teacher 32) is saved with the checkpoint and restored bit for bit.
            Assert.Equal(File.ReadAllBytes(FeatureMatchingHead.PathOf(Path.Combine(straight, RunFiles.FinalCheckpoint))), File.ReadAllBytes(FeatureMatchingHead.PathOf(Path.Combine(interrupted, RunFiles.FinalCheckpoint))));
        }
    }

    [Fact]
    public void Run_ResumeWithOtherOptions_RefusedNamingTheOption()
    {
        string dir = _fixture.NewDirectory("resume-mismatch");
        using var cancel = new CancellationTokenSource();
        Trainer.Run(TrainingFixture.Options(dir) with { Steps = 4 }, _fixture.Data, new CancelAt(2, cancel), cancel.Token);

        var ex = Assert.Throws<TrainingConfigurationException>(() => Trainer.Run(TrainingFixture.Options(dir) with { Steps = 4, BatchSize = 8, Resume = true }, _fixture.Data));

        Assert.Equal("--resume", ex.Option);
        Assert.Contains("batch_size", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_ResumeWithoutCheckpoint_RefusedBeforeTraining()
    {
        string dir = _fixture.NewDirectory("resume-none");

        var ex = Assert.Throws<TrainingConfigurationException>(() => Trainer.Run(TrainingFixture.Options(dir) with { Resume = true }, _fixture.Data));

        Assert.Equal("--resume", ex.Option);
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public void Run_ExistingRunWithoutResume_RefusedAndLeftIntact()
    {
        string dir = _fixture.NewDirectory("existing");
        Trainer.Run(TrainingFixture.Options(dir) with { Steps = 2 }, _fixture.Data);
        string metrics = File.ReadAllText(Path.Combine(dir, RunFiles.Metrics));

        var ex = Assert.Throws<TrainingConfigurationException>(() => Trainer.Run(TrainingFixture.Options(dir) with { Steps = 2 }, _fixture.Data));

        Assert.Equal("--out", ex.Option);
        Assert.Equal(metrics, File.ReadAllText(Path.Combine(dir, RunFiles.Metrics)));
    }

    [Fact]
    public void Run_ReferenceWithoutCheckpoint_RefusedNamingReference()
    {
        string reference = _fixture.NewDirectory("ref-no-ckpt");
        Directory.CreateDirectory(reference);
        File.Copy(Path.Combine(_fixture.Reference, RunFiles.Config), Path.Combine(reference, RunFiles.Config));
        string dir = _fixture.NewDirectory("student-no-ref");

        var ex = Assert.Throws<TrainingConfigurationException>(() => Trainer.Run(TrainingFixture.Options(dir) with { Method = "h-acid", ReferenceDirs = [reference] }, _fixture.Data));

        Assert.Equal("--reference", ex.Option);
        Assert.Contains("no final.ckpt", ex.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public void Load_FinishedRun_ModelEncodesLikeTheTrainedOne()
    {
        string dir = _fixture.NewDirectory("load");
        TrainOptions options = TrainingFixture.Options(dir) with { Steps = 2 };
        Trainer.Run(options, _fixture.Data);

        TrainingRun run = TrainingRun.Load(dir);

        Assert.True(run.IsFinal);
        Assert.Equal(2, run.Step);
        Assert.Equal(options.BatchSize, run.Options.BatchSize);
        Assert.Equal(options.Data.StudentTrainSize, run.Options.Data.StudentTrainSize);
        Assert.Equal(options.Data.Seed, run.Options.Data.Seed);
        Assert.Equal(options.ContextLength, run.Model.TextEncoder.ContextLength);
        int[] tokens = run.Tokenizer.Encode(_fixture.Data.StudentTrain.Captions[0], options.ContextLength);
        Assert.Equal(Tokenizer(options).Encode(_fixture.Data.StudentTrain.Captions[0], options.ContextLength), tokens);
    }

    private Aced.Models.Text.Tokenizer Tokenizer(TrainOptions options) =>
        Aced.Models.Text.BpeTokenizer.Train(_fixture.Data.StudentTrain.Captions, options.VocabularySize);

    private static void AssertSameParameters(TwoTowerModel expected, TwoTowerModel actual)
    {
        Assert.Equal(expected.Parameters.Count, actual.Parameters.Count);
        for (int i = 0; i < expected.Parameters.Count; i++)
        {
            float[] a = expected.Parameters[i].Value;
            float[] b = actual.Parameters[i].Value;
            Assert.Equal(a.Length, b.Length);
            for (int j = 0; j < a.Length; j++)
            {
                if (BitConverter.SingleToInt32Bits(a[j]) != BitConverter.SingleToInt32Bits(b[j]))
                {
                    Assert.Fail($"{expected.Parameters[i].Name}[{j}]: {a[j]:R} vs {b[j]:R}");
                }
            }
        }
    }

    private static List<string> MetricsWithoutTime(string dir)
    {
        var lines = new List<string>();
        foreach (string line in File.ReadAllLines(Path.Combine(dir, RunFiles.Metrics)))
        {
            JsonObject m = JsonNode.Parse(line)!.AsObject();
            m.Remove("seconds");
            lines.Add(m.ToJsonString());
        }

        return lines;
    }

    private sealed class CancelAt(long step, CancellationTokenSource source) : ITrainingObserver
    {
        public void OnStart(TrainingStart start)
        {
        }

        public void OnStep(StepMetrics metrics)
        {
            if (metrics.Step == step)
            {
                source.Cancel();
            }
        }

        public void OnMessage(string message)
        {
        }
    }
}
