using System;
using System.IO;
using System.Text.Json.Nodes;
using Aced.Models;
using Aced.Pipeline.Training;

namespace Aced.Pipeline.Tests.Training;

public sealed class LiveReferenceTests : IClassFixture<TrainingFixture>
{
    private readonly TrainingFixture _fixture;

    public LiveReferenceTests(TrainingFixture fixture)
    {
        _fixture = fixture;
    }

    /// <summary>
    /// Live reference embeddings (the reference's forward over each super-batch) must equal the cached ones bit for
    /// bit: same selections (same corrupted shares), same losses, same final parameters; only the per-step FLOPs
    /// grow, by the reference's forward over B (Appendix J).
    /// </summary>
    [Theory]
    [InlineData("h-acid")]
    [InlineData("aced-acidistill")]
    public void Run_LiveReference_SameSelectionsAndModelAsCached(string method)
    {
        TrainOptions options = TrainingFixture.Options("") with { Method = method, Steps = 5, ReferenceDirs = [_fixture.Reference] };
        TrainResult cached = Trainer.Run(options with { OutDir = _fixture.NewDirectory("cached-" + method) }, _fixture.Data);
        TrainResult live = Trainer.Run(options with { OutDir = _fixture.NewDirectory("live-" + method), ReferenceMode = ReferenceMode.Live }, _fixture.Data);

        string[] a = File.ReadAllLines(cached.MetricsPath);
        string[] b = File.ReadAllLines(live.MetricsPath);
        Assert.Equal(a.Length, b.Length);
        for (int s = 0; s < a.Length; s++)
        {
            JsonNode x = JsonNode.Parse(a[s])!, y = JsonNode.Parse(b[s])!;
            Assert.Equal(x["loss"]!.GetValue<double>(), y["loss"]!.GetValue<double>());
            Assert.Equal(x["distillation"]!.GetValue<double>(), y["distillation"]!.GetValue<double>());
            Assert.Equal(x["corrupted_fraction"]!.GetValue<double>(), y["corrupted_fraction"]!.GetValue<double>());
        }

        TwoTowerModel m1 = TrainingRun.Load(cached.RunDirectory).Model, m2 = TrainingRun.Load(live.RunDirectory).Model;
        for (int p = 0; p < m1.Parameters.Count; p++)
        {
            Assert.True(m1.Parameters[p].Value.AsSpan().SequenceEqual(m2.Parameters[p].Value), $"parameter {m1.Parameters[p].Name} differs");
        }

        TwoTowerModel reference = TrainingRun.Load(_fixture.Reference).Model;
        JsonNode config = JsonNode.Parse(File.ReadAllText(live.ConfigPath))!;
        int superBatch = config["super_batch_size"]!.GetValue<int>();
        double perStep = ComputeAccounting.PairForwardFlops(reference.Config!) * superBatch;
        Assert.Equal(perStep, JsonNode.Parse(File.ReadAllText(live.ConfigPath))!["flops_per_step"]!["reference"]!.GetValue<double>(), 6);
        Assert.Equal(cached.Flops + (5 * perStep), live.Flops, 6);
        Assert.Equal(0, live.ReferenceCacheFlops);
        Assert.Empty(live.ReferenceCaches);
    }

    [Fact]
    public void Validate_LiveWithoutReference_NamesTheOption()
    {
        var ex = Assert.Throws<TrainingConfigurationException>(() => (TrainingFixture.Options("x") with { ReferenceMode = ReferenceMode.Live }).Validate());
        Assert.Equal("--reference-mode", ex.Option);
    }
}
