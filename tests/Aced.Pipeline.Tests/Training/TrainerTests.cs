using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json.Nodes;
using Aced.Pipeline.Training;

namespace Aced.Pipeline.Tests.Training;

public sealed class TrainerTests : IClassFixture<TrainingFixture>
{
    private readonly TrainingFixture _fixture;

    public TrainerTests(TrainingFixture fixture)
    {
        _fixture = fixture;
    }

    public static TheoryData<string> Methods()
    {
        var data = new TheoryData<string>();
        foreach (string name in TrainingMethods.Names)
        {
            data.Add(name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void Run_EveryMethod_FiniteLossAndRunFiles(string method)
    {
        MethodDefinition definition = TrainingMethods.Get(method);
        string dir = _fixture.NewDirectory(method);
        TrainOptions options = TrainingFixture.Options(dir) with
        {
            Method = method,
            Steps = 3,
            ReferenceDirs = definition.NeedsReference ? [definition.NeedsHoldoutReference ? _fixture.HoldoutReference : _fixture.Reference] : [],
        };

        TrainResult result = Trainer.Run(options, _fixture.Data);

        Assert.True(result.Completed);
        Assert.Equal(3, result.Steps);
        Assert.True(double.IsFinite(result.FinalLoss) && result.FinalLoss > 0, $"{method}: loss {result.FinalLoss}");
        Assert.Equal(3L * definition.Preset.EffectiveBatchSize(16), result.SamplesSeen);
        Assert.True(File.Exists(Path.Combine(dir, RunFiles.FinalCheckpoint)));
        Assert.True(File.Exists(Path.Combine(dir, RunFiles.FinalSummary)));
        string[] lines = File.ReadAllLines(Path.Combine(dir, RunFiles.Metrics));
        Assert.Equal(3, lines.Length);
        foreach (string line in lines)
        {
            JsonObject m = JsonNode.Parse(line)!.AsObject();
            Assert.True(double.IsFinite(m["loss"]!.GetValue<double>()));
            double fraction = m["corrupted_fraction"]!.GetValue<double>();
            Assert.InRange(fraction, 0, 1);
        }
    }

    [Fact]
    public void Run_TwoTeachers_BothEnsembleReadingsTrainAndDiffer()
    {
        TrainOptions Options(string dir, Aced.Losses.TeacherEnsemble ensemble) => TrainingFixture.Options(dir) with
        {
            Method = "softmax-kd",
            Steps = 2,
            ReferenceDirs = [_fixture.Reference, _fixture.HoldoutReference],
            Ensemble = ensemble,
        };

        TrainResult losses = Trainer.Run(Options(_fixture.NewDirectory("ens-losses"), Aced.Losses.TeacherEnsemble.MeanOfLosses), _fixture.Data);
        TrainResult logits = Trainer.Run(Options(_fixture.NewDirectory("ens-logits"), Aced.Losses.TeacherEnsemble.MeanOfLogits), _fixture.Data);
        TrainResult single = Trainer.Run(TrainingFixture.Options(_fixture.NewDirectory("ens-one")) with { Method = "softmax-kd", Steps = 2, ReferenceDirs = [_fixture.Reference] }, _fixture.Data);

        Assert.True(double.IsFinite(losses.FinalLoss) && double.IsFinite(logits.FinalLoss));
        Assert.NotEqual(losses.FinalLoss, logits.FinalLoss);
        Assert.NotEqual(single.FinalLoss, losses.FinalLoss);
        Assert.Equal(2, losses.ReferenceCaches.Count);
    }
}
