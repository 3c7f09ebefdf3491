using System;
using Aced.Core;
using Aced.Selection;

namespace Aced.Selection.Tests;

/// <summary>Issue 8 item 19: unnormalised embeddings are rejected by the finite-check pass, naming model, tower and row.</summary>
public class NormCheckTests
{
    [Theory]
    [InlineData(SamplerKind.Joint, ScoringMethod.Learnability, false, true)]
    [InlineData(SamplerKind.Joint, ScoringMethod.Learnability, true, false)]
    [InlineData(SamplerKind.Joint, ScoringMethod.EasyReference, false, false)] // student present but unscored
    [InlineData(SamplerKind.TopK, ScoringMethod.Hard, true, true)] // reference present but unscored
    [InlineData(SamplerKind.Uniform, ScoringMethod.Learnability, true, true)]
    [InlineData(SamplerKind.Independent, ScoringMethod.Learnability, false, false)]
    public void Sample_RowNotUnitNorm_ThrowsNamingModelTowerAndRow(SamplerKind sampler, ScoringMethod scoring, bool inReference, bool inText)
    {
        SuperBatch batch = TestData.Batch(40, 12, 4, ContrastiveKind.Sigmoid);
        var options = new ActiveBatchSamplerOptions { BatchSize = 6, Chunks = 3, Sampler = sampler, Scoring = scoring };
        Assert.Equal(6, new ActiveBatchSampler(options).Sample(batch).Count);
        ModelEmbeddings model = inReference ? batch.Reference : batch.Student;
        MatrixView tower = inText ? model.Text : model.Image;
        Span<float> row = tower.Row(17);

        // 1.0005: inside the default tolerance 1e-3, still accepted.
        System.Numerics.Tensors.TensorPrimitives.Multiply(row, 1.0005f, row);
        Assert.Equal(6, new ActiveBatchSampler(options).Sample(batch).Count);

        System.Numerics.Tensors.TensorPrimitives.Multiply(row, 1.01f / 1.0005f, row);
        var ex = Assert.Throws<ArgumentException>(() => new ActiveBatchSampler(options).Sample(batch));
        Assert.Equal(inReference ? "superBatch.Reference" : "superBatch.Student", ex.ParamName);
        string expected = $"{(inReference ? "reference" : "student")} {(inText ? "text" : "image")} embedding row 17 has L2 norm 1.01";
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);

        // The check can be loosened or turned off; the finite check stays.
        options.NormTolerance = 0.02;
        Assert.Equal(6, new ActiveBatchSampler(options).Sample(batch).Count);
        options.NormTolerance = double.PositiveInfinity;
        System.Numerics.Tensors.TensorPrimitives.Multiply(row, 50f, row);
        Assert.Equal(6, new ActiveBatchSampler(options).Sample(batch).Count);
        row[3] = float.PositiveInfinity;
        Assert.Contains("contains NaN or infinity", Assert.Throws<ArgumentException>(() => new ActiveBatchSampler(options).Sample(batch)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Sample_ZeroRow_ThrowsAsNotNormalised()
    {
        SuperBatch batch = TestData.Batch(30, 8, 5, ContrastiveKind.Softmax);
        batch.Student.Image.Row(0).Clear();
        var ex = Assert.Throws<ArgumentException>(() => new ActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 5, Chunks = 1, Loss = ContrastiveKind.Softmax }).Sample(batch));
        Assert.Contains("student image embedding row 0 has L2 norm 0", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1e-3)]
    [InlineData(double.NaN)]
    public void NormTolerance_NotPositive_ThrowsNamingOption(double tolerance)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new ActiveBatchSampler(new ActiveBatchSamplerOptions { NormTolerance = tolerance }));
        Assert.Equal(nameof(ActiveBatchSamplerOptions.NormTolerance), e.ParamName);
    }
}
