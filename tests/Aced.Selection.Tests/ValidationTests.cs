using System;
using Aced.Core;
using Aced.Selection;

namespace Aced.Selection.Tests;

public class ValidationTests
{
    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(-0.1)]
    [InlineData(double.NaN)]
    public void Constructor_FilterRatioOutsideOpenUnitInterval_ThrowsNamingFilterRatio(double f)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new ActiveBatchSampler(new ActiveBatchSamplerOptions { FilterRatio = f }));
        Assert.Equal(nameof(ActiveBatchSamplerOptions.FilterRatio), ex.ParamName);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NaN)]
    public void Constructor_BadTemperature_ThrowsNamingTemperature(double tau)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new ActiveBatchSampler(new ActiveBatchSamplerOptions { Temperature = tau }));
        Assert.Equal(nameof(ActiveBatchSamplerOptions.Temperature), ex.ParamName);
    }

    [Fact]
    public void Constructor_ChunksBelowOneOrAboveBatchSize_ThrowsNamingChunks()
    {
        Assert.Equal("Chunks", Assert.Throws<ArgumentOutOfRangeException>(() => new ActiveBatchSampler(new ActiveBatchSamplerOptions { Chunks = 0 })).ParamName);
        Assert.Equal("Chunks", Assert.Throws<ArgumentOutOfRangeException>(() => new ActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 4, Chunks = 5 })).ParamName);
        var derived = new ActiveBatchSampler(new ActiveBatchSamplerOptions { FilterRatio = 0.9, Chunks = 16 });
        Assert.Equal("Chunks", Assert.Throws<ArgumentOutOfRangeException>(() => derived.Sample(TestData.Batch(50, 4, 1, ContrastiveKind.Sigmoid))).ParamName);
    }

    [Fact]
    public void Sample_SuperBatchSmallerThanBatch_ThrowsNamingBatchSize()
    {
        var sampler = new ActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 40, Chunks = 4 });
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Sample(TestData.Batch(30, 4, 1, ContrastiveKind.Sigmoid)));
        Assert.Equal("BatchSize", ex.ParamName);
        Assert.Equal("BatchSize", Assert.Throws<ArgumentOutOfRangeException>(() => new ActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 0 })).ParamName);
    }

    [Fact]
    public void SuperBatch_MismatchedShapes_ThrowWithClearNames()
    {
        ModelEmbeddings s = TestData.Model(10, 4, 1, 10, -10);
        ModelEmbeddings r = TestData.Model(11, 4, 2, 10, -10);
        Assert.Equal("reference", Assert.Throws<ArgumentException>(() => new SuperBatch(s, r)).ParamName);
        Assert.Equal("text", Assert.Throws<ArgumentException>(() => new ModelEmbeddings(s.Image, new MatrixView(new float[50], 10, 5), new LogitParameters(10, -10))).ParamName);
        Assert.Equal("logits", Assert.Throws<ArgumentOutOfRangeException>(() => new ModelEmbeddings(s.Image, s.Text, default)).ParamName);
        Assert.Equal("studentText", Assert.Throws<ArgumentException>(() => SuperBatch.FromArrays(10, new float[40], new float[39], 4, LogitParameters.SigmoidDefault)).ParamName);
        Assert.Equal("referenceText", Assert.Throws<ArgumentException>(() => SuperBatch.FromArrays(10, new float[40], new float[40], 4, LogitParameters.SigmoidDefault, new float[40])).ParamName);
    }

    [Fact]
    public void SuperBatch_DifferentDimensionsPerModel_AreAllowed()
    {
        SuperBatch batch = SuperBatch.FromArrays(6, new float[24], new float[24], 4, LogitParameters.SigmoidDefault, new float[48], new float[48], 8, new LogitParameters(20, -5));
        Assert.Equal(6, batch.Count);
        Assert.Equal(8, batch.Reference.Dimension);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void Sample_NonFiniteEmbedding_ThrowsNamingModelAndRow(float bad)
    {
        SuperBatch batch = TestData.Batch(20, 4, 1, ContrastiveKind.Sigmoid);
        batch.Reference.Text[7, 2] = bad;
        var ex = Assert.Throws<ArgumentException>(() => new ActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 4, Chunks = 2 }).Sample(batch));
        Assert.Equal("superBatch.Reference", ex.ParamName);
        Assert.Contains("row 7", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(ContrastiveKind.Sigmoid, SamplerKind.Joint, 3e38f, 3e38f)]
    [InlineData(ContrastiveKind.Sigmoid, SamplerKind.Joint, 3e38f, -10f)]
    [InlineData(ContrastiveKind.Softmax, SamplerKind.Joint, 3e38f, 0f)]
    [InlineData(ContrastiveKind.Softmax, SamplerKind.TopK, 3e38f, 3e38f)]
    [InlineData(ContrastiveKind.Sigmoid, SamplerKind.Independent, 3e38f, -3e38f)]
    public void Sample_ScaleOrBiasOverflowingScores_ThrowsNamingSuperBatchAndCause(ContrastiveKind loss, SamplerKind sampler, float scale, float bias)
    {
        // Finite embeddings and a finite (but absurd) scale/bias: the scores overflow. This used to surface as
        // "logits: has a non-finite value" from an internal buffer the caller never passed.
        var batch = new SuperBatch(TestData.Model(20, 4, 1, scale, bias), TestData.Model(20, 4, 2, scale, bias));
        var options = new ActiveBatchSamplerOptions { BatchSize = 4, Chunks = 2, Loss = loss, Sampler = sampler };
        var ex = Assert.Throws<ArgumentException>(() => new ActiveBatchSampler(options).Sample(batch));
        Assert.Equal("superBatch", ex.ParamName);
        Assert.Contains("scale or bias", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Sample_ScoringNeedsAbsentReference_ThrowsNamingScoring()
    {
        var batch = new SuperBatch(TestData.Model(20, 4, 1, 10, -10));
        var ex = Assert.Throws<ArgumentException>(() => new ActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 4, Chunks = 2 }).Sample(batch));
        Assert.Equal("Scoring", ex.ParamName);

        // Hard scoring needs only the student; the uniform sampler needs no model at all.
        Assert.Equal(4, new ActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 4, Chunks = 2, Scoring = ScoringMethod.Hard }).Sample(batch).Count);
        SelectionResult uniform = new ActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 4, Sampler = SamplerKind.Uniform }).Sample(batch);
        Assert.True(double.IsNaN(uniform.Diagnostics.ChosenMean));
    }

    [Fact]
    public void Scorers_RepeatedOrOutOfRangeMembers_Throw()
    {
        SuperBatch batch = TestData.Batch(8, 3, 1, ContrastiveKind.Sigmoid);
        Assert.Throws<ArgumentException>(() => Scorers.BatchScore(batch, ScoringMethod.Hard, ContrastiveKind.Sigmoid, new[] { 1, 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Scorers.BatchScore(batch, ScoringMethod.Hard, ContrastiveKind.Sigmoid, new[] { 8 }));
        Assert.Throws<ArgumentException>(() => Scorers.ConditionalScores(batch, ScoringMethod.Hard, ContrastiveKind.Sigmoid, new[] { 1 }, new float[7]));
    }
}
