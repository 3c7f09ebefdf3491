using System;
using System.IO;
using System.Text.Json.Nodes;
using Aced.Pipeline.Training;

namespace Aced.Pipeline.Tests.Training;

public sealed class InitialisationTests : IClassFixture<TrainingFixture>
{
    private readonly TrainingFixture _fixture;

    public InitialisationTests(TrainingFixture fixture)
    {
        _fixture = fixture;
    }

    /// <summary>
    /// SigLIP's c = -10 is the prior of a 32k batch; at a small b it made a fresh model sit on the collapsed plateau
    /// (loss b H(1/b)) for ~100 steps. With the batch prior c = -ln(b - 1) a tiny reference gets below the collapse
    /// bound within 80 steps (with c = -10 it did not).
    /// </summary>
    [Fact]
    public void Run_FreshSigmoidReference_LeavesTheCollapsedPlateauWithin80Steps()
    {
        const int b = 16;
        string dir = _fixture.NewDirectory("prior-bias");
        Trainer.Run(TrainingFixture.Options(dir) with { Role = TrainingRole.Reference, Steps = 80 }, _fixture.Data);

        string[] lines = File.ReadAllLines(Path.Combine(dir, RunFiles.Metrics));
        double firstBias = JsonNode.Parse(lines[0])!["bias"]!.GetValue<double>();
        double bound = Math.Log(b) + ((b - 1) * Math.Log(b / (b - 1.0)));
        double last = 0;
        for (int i = lines.Length - 8; i < lines.Length; i++)
        {
            last += JsonNode.Parse(lines[i])!["loss"]!.GetValue<double>() / 8;
        }

        Assert.InRange(firstBias, TrainOptions.PriorBias(b) - 0.05, TrainOptions.PriorBias(b) + 0.05);
        Assert.True(last < bound - 0.1, $"mean loss of the last 8 of 80 steps {last} is not below the collapse bound {bound}");
    }

    [Fact]
    public void Run_InitialBiasOption_SetsTheFreshModelsBias()
    {
        string dir = _fixture.NewDirectory("bias-option");
        Trainer.Run(TrainingFixture.Options(dir) with { Role = TrainingRole.Reference, Steps = 1, InitialBias = -7 }, _fixture.Data);

        double bias = JsonNode.Parse(File.ReadAllLines(Path.Combine(dir, RunFiles.Metrics))[0])!["bias"]!.GetValue<double>();
        Assert.InRange(bias, -7.05, -6.95);
    }

    [Fact]
    public void PriorBias_BatchSizes_IsTheLogitOfOneOverB()
    {
        foreach (int b in new[] { 2, 16, 64, 32768 })
        {
            double c = TrainOptions.PriorBias(b);
            Assert.Equal(1.0 / b, 1 / (1 + Math.Exp(-c)), 12);
        }
    }

    /// <summary>StableEval's "same data order, different initialisation": --init-seed changes the model, not the data.</summary>
    [Fact]
    public void Run_OtherInitSeed_SameDataOrderDifferentModel()
    {
        TrainOptions baseOptions = TrainingFixture.Options("") with { Steps = 5 };
        string[] a = Metrics(Trainer.Run(baseOptions with { OutDir = _fixture.NewDirectory("init-a") }, _fixture.Data));
        string[] same = Metrics(Trainer.Run(baseOptions with { OutDir = _fixture.NewDirectory("init-same"), InitSeed = baseOptions.Seed }, _fixture.Data));
        string[] other = Metrics(Trainer.Run(baseOptions with { OutDir = _fixture.NewDirectory("init-other"), InitSeed = baseOptions.Seed + 100 }, _fixture.Data));
        string[] otherData = Metrics(Trainer.Run(baseOptions with { OutDir = _fixture.NewDirectory("seed-other"), Seed = baseOptions.Seed + 100, InitSeed = baseOptions.Seed }, _fixture.Data));

        bool anyCorruptedDiffers = false;
        for (int s = 0; s < a.Length; s++)
        {
            Assert.Equal(Value(a[s], "loss"), Value(same[s], "loss"));
            Assert.NotEqual(Value(a[s], "loss"), Value(other[s], "loss"));
            // The chosen examples (and so the share of corrupted captions) follow the data seed only.
            Assert.Equal(Value(a[s], "corrupted_fraction"), Value(other[s], "corrupted_fraction"));
            anyCorruptedDiffers |= Value(a[s], "corrupted_fraction") != Value(otherData[s], "corrupted_fraction");
        }

        Assert.True(anyCorruptedDiffers, "another --seed must draw other examples");
    }

    private static string[] Metrics(TrainResult result) => File.ReadAllLines(result.MetricsPath);

    private static double Value(string line, string key) => JsonNode.Parse(line)![key]!.GetValue<double>();
}
