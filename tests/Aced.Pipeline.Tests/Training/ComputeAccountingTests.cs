using System;
using System.IO;
using System.Text.Json.Nodes;
using Aced.Models;
using Aced.Pipeline.Training;

namespace Aced.Pipeline.Tests.Training;

public sealed class ComputeAccountingTests : IClassFixture<TrainingFixture>
{
    private readonly TrainingFixture _fixture;

    public ComputeAccountingTests(TrainingFixture fixture)
    {
        _fixture = fixture;
    }

    /// <summary>
    /// Hand count, 2 FLOPs per multiply-add, for Mu towers (D = 48, depth 2, MLP 192), 16x16 images in 4x4 patches
    /// (T = 16 tokens of 48 pixels), 12 text tokens, embedding width 32, GAP / first-token pooling:
    /// per block and token 4 D^2 (Q, K, V, output) + 2 D MLP, plus 2 T^2 D per block for scores and mixing.
    /// </summary>
    [Fact]
    public void PairForwardFlops_TinyMuConfig_EqualsHandCount()
    {
        TwoTowerConfig config = TwoTowerConfig.Preset(ModelSize.Mu, vocabularySize: 300, contextLength: 12, imageSize: 16, patchSize: 4, embeddingDimension: 32);
        const double d = 48, mlp = 192, e = 32;
        double block(double t) => (t * ((4 * d * d) + (2 * d * mlp))) + (2 * t * t * d);
        double image = 2 * ((16 * 48 * d) + (2 * block(16)) + (d * e));
        double text = 2 * ((2 * block(12)) + (d * e));

        Assert.Equal(image + text, ComputeAccounting.PairForwardFlops(config));
    }

    [Fact]
    public void PerStep_AcidAtF08_CostsEightThirdsOfIidAndAppendixJCountsSevenThirds()
    {
        TwoTowerConfig config = TwoTowerConfig.Preset(ModelSize.Mu, 300, 12, 16, 4, 32);
        double f = ComputeAccounting.PairForwardFlops(config);
        const int b = 64;
        const int superBatch = 320; // b / (1 - 0.8)

        StepFlops iid = ComputeAccounting.PerStep(config, b, b, studentScores: false, proxy: null, b);
        StepFlops acid = ComputeAccounting.PerStep(config, b, superBatch, studentScores: true, proxy: null, b);
        StepFlops iiDistill = ComputeAccounting.PerStep(config, 2 * b, superBatch, studentScores: true, proxy: null, b);

        Assert.Equal(3 * f * b, iid.Total);
        Assert.Equal(8.0 / 3.0, acid.Total / iid.Total, 12);
        // Appendix J reuses the b chosen examples' scoring forward in the training forward: (3b + 5b - b) / 3b.
        Assert.Equal(7.0 / 3.0, (acid.Total - (f * b)) / iid.Total, 12);
        Assert.Equal((6 * f * b) + (f * superBatch), iiDistill.Total);
    }

    [Theory]
    [InlineData("iid")]
    [InlineData("h-acid")]
    [InlineData("aced-iidistill")]
    [InlineData("bad-students")]
    public void Run_MetricsFlops_AreStepsTimesTheConfiguredPerStepCount(string method)
    {
        MethodDefinition definition = TrainingMethods.Get(method);
        string dir = _fixture.NewDirectory("flops-" + method);
        Trainer.Run(TrainingFixture.Options(dir) with { Method = method, Steps = 2, ReferenceDirs = definition.NeedsReference ? [_fixture.Reference] : [] }, _fixture.Data);
        JsonObject config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, RunFiles.Config)))!.AsObject();
        double perStep = config["flops_per_step"]!["total"]!.GetValue<double>();
        double pair = config["pair_forward_flops"]!.GetValue<double>();
        int b = config["batch_size"]!.GetValue<int>();
        int superBatch = config["super_batch_size"]!.GetValue<int>();

        string[] lines = File.ReadAllLines(Path.Combine(dir, RunFiles.Metrics));
        Assert.Equal(2 * perStep, JsonNode.Parse(lines[1])!["flops"]!.GetValue<double>());
        double training = 3 * pair * definition.Preset.EffectiveBatchSize(b);
        double scoring = definition.NeedsStudentScores ? pair * superBatch : 0;
        if (definition.Selects)
        {
            Assert.Equal((int)Math.Round(b / (1 - definition.Preset.Selection!.FilterRatio)), superBatch);
        }

        // Bad-Students' proxies (Mu here, like the student): scoring over B by both, the proxy learner trained on b,
        // the online reference on B.
        double proxies = definition.UsesOnlineProxies ? (2 * pair * superBatch) + (3 * pair * b) + (3 * pair * superBatch) : 0;
        Assert.Equal(training + scoring + proxies, perStep);
    }
}
