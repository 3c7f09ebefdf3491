using System;
using System.Collections.Generic;
using System.IO;
using Aced.Core;
using Aced.Losses;
using Aced.Models.Training;

namespace Aced.Models.Tests;

/// <summary>
/// Issue 8 item 17: the loss -> model glue. The training step of src/Aced.Models/README.md is the block between the
/// "training step" markers below, compiled and run here; a test checks that the README holds the same lines.
/// </summary>
public class TrainingLoopReadmeTests
{
    private const string BeginMarker = "// training step: forward -> loss -> backward -> AdamW";
    private const string EndMarker = "// end of training step";

    [Fact]
    public void ReadmeTrainingStep_TinyRandomData_LossDecreases()
    {
        var model = new TwoTowerModel(TestData.TinyConfig(), seed: 1);
        const int batchSize = 8;
        (Matrix images, int[] tokens) = TestTrainer.Pairs(model, batchSize, 3);
        var optimizer = new AdamW(model.Parameters);
        var schedule = new ConstantSchedule(peakLearningRate: 3e-3f);
        var loss = new SigmoidContrastiveLoss();
        var dImage = new Matrix(batchSize, model.EmbeddingDimension);
        var dText = new Matrix(batchSize, model.EmbeddingDimension);
        var losses = new List<double>();
        float t0 = model.LogScale.Value[0];

        for (long step = 0; step < 40; step++)
        {
            // training step: forward -> loss -> backward -> AdamW
            model.ZeroGradients();
            (MatrixView zImage, MatrixView zText) = model.Forward(images, tokens);
            LossResult result = loss.Compute(zImage, zText, model.Logits, new EmbeddingGradients(dImage, dText));
            model.Backward(dImage, dText, result.LogitGradients);
            optimizer.Update(schedule);
            model.ClampLogScale();
            // end of training step
            losses.Add(result.Loss);
        }

        Assert.True(losses[^1] < 0.8 * losses[0], $"loss {losses[0]} -> {losses[^1]}");
        Assert.NotEqual(t0, model.LogScale.Value[0]);
        Assert.Equal(model.LogScale.Value[0], model.Logits.LogScale);
        Assert.Equal(model.Bias.Value[0], model.Logits.Bias);
        Assert.Equal(MathF.Exp(model.LogScale.Value[0]), model.Logits.Scale);
    }

    [Fact]
    public void Readme_TrainingStep_IsTheTestedCode()
    {
        // Found from the test binary, not [CallerFilePath]: CI builds map source paths to "/_/" (deterministic builds).
        string root = RepositoryRoot();
        string[] tested = Block(File.ReadAllLines(Path.Combine(root, "tests", "Aced.Models.Tests", "TrainingLoopReadmeTests.cs")));
        string readme = Path.Combine(root, "src", "Aced.Models", "README.md");
        string[] documented = Block(File.ReadAllLines(readme));
        Assert.True(tested.Length >= 6);
        Assert.Equal(tested, documented);
    }

    [Fact]
    public void Backward_LossResult_EqualsFloatOverloadWithTheSameGradients()
    {
        var a = new TwoTowerModel(TestData.TinyConfig(), 4);
        var b = new TwoTowerModel(TestData.TinyConfig(), 4);
        (Matrix images, int[] tokens) = TestTrainer.Pairs(a, 5, 6);
        var loss = new SigmoidContrastiveLoss();
        var dImage = new Matrix(5, a.EmbeddingDimension);
        var dText = new Matrix(5, a.EmbeddingDimension);
        (MatrixView zi, MatrixView zt) = a.Forward(images, tokens);
        LossResult r = loss.Compute(zi, zt, a.Logits, new EmbeddingGradients(dImage, dText));
        a.Backward(dImage, dText, r.LogitGradients);
        b.Forward(images, tokens);
        b.Backward(dImage, dText, (float)r.LogScaleGradient, (float)r.BiasGradient);
        for (int p = 0; p < a.Parameters.Count; p++)
        {
            Assert.Equal(b.Parameters[p].Gradient, a.Parameters[p].Gradient);
        }

        Assert.Equal(r.LogScaleGradient, r.LogitGradients.LogScale);
        Assert.Equal(a.Logits.Scale * r.ScaleGradient, r.LogitGradients.LogScale, 5);
    }

    [Fact]
    public void Backward_NonFiniteLogitGradients_ThrowsNamingThem()
    {
        var model = new TwoTowerModel(TestData.TinyConfig(), 4);
        (Matrix images, int[] tokens) = TestTrainer.Pairs(model, 3, 6);
        model.Forward(images, tokens);
        var d = new Matrix(3, model.EmbeddingDimension);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => model.Backward(d, d, new LogitGradients(0, 1e300, 0)));
        Assert.Equal("logitGradients", e.ParamName);
    }

    [Fact]
    public void LogitGradients_SumAndWeight_CombineTermsLinearly()
    {
        var x = new LogitGradients(1, 2, 3);
        var y = new LogitGradients(-0.5, 4, 0.25);
        Assert.Equal(new LogitGradients(0, 10, 3.5), x + (2.0 * y));
    }

    private static string[] Block(string[] lines)
    {
        var block = new List<string>();
        bool inside = false;
        foreach (string raw in lines)
        {
            string line = raw.Trim();
            if (line == EndMarker)
            {
                return block.ToArray();
            }

            if (inside)
            {
                block.Add(line);
            }

            inside |= line == BeginMarker;
        }

        throw new InvalidDataException("training-step markers not found");
    }

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Aced.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Aced.sln not found above " + AppContext.BaseDirectory);
    }
}
