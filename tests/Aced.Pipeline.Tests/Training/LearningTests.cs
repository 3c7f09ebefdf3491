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
}
