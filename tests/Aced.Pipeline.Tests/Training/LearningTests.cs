using System;
using System.IO;
using System.Text.Json.Nodes;
using Aced.Core;
using Aced.Pipeline.Training;

namespace Aced.Pipeline.Tests.Training;

public sealed class LearningTests : IClassFixture<TrainingFixture>
{
    private readonly TrainingFixture _fixture;

    public LearningTests(TrainingFixture fixture)
    {
        _fixture = fixture;
    }

    /// <summary>
    /// Below the collapse bound the model must tell pairs apart: with identical embeddings for everything the best
    /// sigmoid loss is <c>min_x softplus(-x) + (b - 1) softplus(x) = ln b + (b - 1) ln(b / (b - 1))</c> (3.74 at
    /// b = 16), and the softmax loss is <c>ln b</c>. Trained on the clean reference split, both must get below it.
    /// </summary>
    [Theory]
    [InlineData(ContrastiveKind.Sigmoid)]
    [InlineData(ContrastiveKind.Softmax)]
    public void Run_ReferenceOnTinyCleanSet_LossFallsBelowTheCollapseBound(ContrastiveKind loss)
    {
        string dir = _fixture.NewDirectory("learn-" + loss);
        const int b = 16;
        TrainResult result = Trainer.Run(TrainingFixture.Options(dir) with { Role = TrainingRole.Reference, Loss = loss, Steps = 150, LearningRate = 3e-3 }, _fixture.Data);

        string[] lines = File.ReadAllLines(Path.Combine(dir, RunFiles.Metrics));
        double first = Mean(lines, 0, 5);
        double last = Mean(lines, lines.Length - 15, 15);
        double bound = loss == ContrastiveKind.Sigmoid ? Math.Log(b) + ((b - 1) * Math.Log(b / (b - 1.0))) : Math.Log(b);
        Assert.True(result.Completed);
        Assert.True(last < first, $"loss rose: first {first}, last {last}");
        Assert.True(last < bound, $"{loss}: mean loss of the last 15 steps {last} is not below the collapse bound {bound}");
    }

    private static double Mean(string[] lines, int start, int count)
    {
        double sum = 0;
        for (int i = start; i < start + count; i++)
        {
            sum += JsonNode.Parse(lines[i])!["loss"]!.GetValue<double>();
        }

        return sum / count;
    }

    /// <summary>
    /// Half the student pool's captions are swapped: IID keeps about half of them, while selection guided by a
    /// reference that has learned the clean split keeps far fewer. Catches misaligned reference rows (a cache row
    /// gathered for the wrong example makes the scores noise) and a sign error in the scores.
    /// </summary>
    [Theory]
    [InlineData("i-acid")]
    [InlineData("h-acid")]
    public void Run_ReferenceGuidedSelection_KeepsFewerCorruptedCaptionsThanIid(string method)
    {
        double iid = MeanCorrupted(Trainer.Run(TrainingFixture.Options(_fixture.NewDirectory("noise-iid")) with { Steps = 12 }, _fixture.Data));
        double selected = MeanCorrupted(Trainer.Run(TrainingFixture.Options(_fixture.NewDirectory("noise-" + method)) with { Method = method, Steps = 12, ReferenceDirs = [_fixture.Reference] }, _fixture.Data));

        Assert.InRange(iid, 0.3, 0.8);
        Assert.True(selected < 0.5 * iid, $"{method} kept {selected:P0} corrupted captions, IID {iid:P0}");
    }

    private static double MeanCorrupted(TrainResult result)
    {
        string[] lines = File.ReadAllLines(result.MetricsPath);
        double sum = 0;
        foreach (string line in lines)
        {
            sum += JsonNode.Parse(line)!["corrupted_fraction"]!.GetValue<double>();
        }

        return sum / lines.Length;
    }
}
