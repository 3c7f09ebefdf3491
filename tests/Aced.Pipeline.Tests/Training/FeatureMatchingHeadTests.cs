using System;
using System.IO;
using System.Text.Json.Nodes;
using Aced.Core;
using Aced.Pipeline.Training;

namespace Aced.Pipeline.Tests.Training;

public sealed class FeatureMatchingHeadTests : IClassFixture<TrainingFixture>
{
    private readonly TrainingFixture _fixture;

    public FeatureMatchingHeadTests(TrainingFixture fixture)
    {
        _fixture = fixture;
    }

    /// <summary>
    /// Eq. 16 with a student narrower than its teacher (24 vs 32): the projection head trains (moves from its
    /// initialisation) and the feature-matching loss falls while the student learns to match the teacher.
    /// </summary>
    [Theory]
    [InlineData("feature-kd")]
    [InlineData("softmax-fm-kd")]
    public void Run_StudentNarrowerThanTeacher_HeadTrainsAndMatchingLossFalls(string method)
    {
        string dir = _fixture.NewDirectory("fm-" + method);
        TrainOptions options = TrainingFixture.Options(dir) with { Method = method, EmbeddingDimension = 24, Steps = 30, ReferenceDirs = [_fixture.Reference] };
        TrainResult result = Trainer.Run(options, _fixture.Data);

        string headPath = FeatureMatchingHead.PathOf(Path.Combine(dir, RunFiles.FinalCheckpoint));
        Assert.True(File.Exists(headPath));
        Matrix saved = Npy.ReadMatrix(headPath);
        Assert.Equal(3 * 24, saved.Rows);
        Assert.Equal(32, saved.Columns);
        var fresh = new FeatureMatchingHead(24, 32, TrainingSession.Derive(options.ResolvedInitSeed, TrainingSession.HeadSeedSalt));
        double moved = 0;
        for (int i = 0; i < fresh.Parameter.Value.Length; i++)
        {
            moved = Math.Max(moved, Math.Abs(saved.Data[i] - fresh.Parameter.Value[i]));
        }

        Assert.True(moved > 1e-3, $"the head did not train (max change {moved})");
        string[] lines = File.ReadAllLines(result.MetricsPath);
        double first = JsonNode.Parse(lines[0])!["distillation"]!.GetValue<double>();
        double last = JsonNode.Parse(lines[^1])!["distillation"]!.GetValue<double>();
        Assert.True(double.IsFinite(last) && last < first, $"distillation did not fall: {first} -> {last}");
    }
}
