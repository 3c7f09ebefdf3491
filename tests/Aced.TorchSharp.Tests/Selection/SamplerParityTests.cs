using System;
using System.Collections.Generic;
using Aced.Core;
using Aced.Selection;
using Aced.TorchSharp.Selection;
using TorchSharp;
using static TorchSharp.torch;

namespace Aced.TorchSharp.Tests.Selection;

public sealed class SamplerParityTests
{
    private const int Count = 150;
    private const int StudentDim = 16;
    private const int ReferenceDim = 24;

    public static IEnumerable<object[]> JointCases()
    {
        foreach (string loss in new[] { "sigmoid", "softmax", "pair" })
        {
            foreach (ScoringMethod scoring in new[] { ScoringMethod.Learnability, ScoringMethod.EasyReference, ScoringMethod.Hard, ScoringMethod.Easy })
            {
                foreach (ScoreNormalization normalization in new[] { ScoreNormalization.Sum, ScoreNormalization.PerTermMean })
                {
                    yield return new object[] { loss, scoring, normalization, true };
                    yield return new object[] { loss, scoring, normalization, false };
                }
            }
        }
    }

    public static IEnumerable<object[]> SimpleCases()
    {
        foreach (SamplerKind sampler in new[] { SamplerKind.Independent, SamplerKind.TopK, SamplerKind.Uniform, SamplerKind.LossPercentile })
        {
            foreach (string loss in new[] { "sigmoid", "softmax", "pair" })
            {
                yield return new object[] { sampler, loss, ScoringMethod.Learnability };
                yield return new object[] { sampler, loss, ScoringMethod.Easy };
            }
        }
    }

    [Theory]
    [MemberData(nameof(JointCases))]
    public void Joint_SameSeed_SameIndicesAsManaged(string loss, ScoringMethod scoring, ScoreNormalization normalization, bool greedy)
    {
        var options = new ActiveBatchSamplerOptions
        {
            BatchSize = 30,
            Chunks = 4,
            Loss = loss == "softmax" ? ContrastiveKind.Softmax : ContrastiveKind.Sigmoid,
            PairSimilarityProxy = loss == "pair",
            Scoring = scoring,
            Normalization = normalization,
            Greedy = greedy,
            Temperature = normalization == ScoreNormalization.PerTermMean ? 100 : 10,
            Seed = 1234,
        };

        AssertSameSelection(options, step: 7, seed: 100 + loss.Length);
    }

    [Theory]
    [MemberData(nameof(SimpleCases))]
    public void OtherSamplers_SameSeed_SameIndicesAsManaged(SamplerKind sampler, string loss, ScoringMethod scoring)
    {
        var options = new ActiveBatchSamplerOptions
        {
            BatchSize = 40,
            Loss = loss == "softmax" ? ContrastiveKind.Softmax : ContrastiveKind.Sigmoid,
            PairSimilarityProxy = loss == "pair",
            Scoring = scoring,
            Sampler = sampler,
            Seed = 99,
        };

        AssertSameSelection(options, step: 3, seed: 200 + loss.Length);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Joint_LargerSuperBatch_SameIndicesAsManaged(bool greedy)
    {
        (SuperBatch managed, TorchSuperBatch tensors, Tensor[] owned) = Batches(2048, 600);
        var options = new ActiveBatchSamplerOptions { BatchSize = 410, Chunks = 16, Greedy = greedy, Seed = 21 };
        int[] expected = new ActiveBatchSampler(options).Sample(managed, 4).ToArray();
        using TorchSelectionResult actual = new TorchActiveBatchSampler(options).Sample(tensors, 4);
        Assert.Equal(ToLongs(expected), actual.ToArray());
        Dispose(owned);
    }

    [Fact]
    public void Joint_ChunksNotDividingBatch_UnevenChunksMatchManaged()
    {
        var options = new ActiveBatchSamplerOptions { BatchSize = 37, Chunks = 5, Seed = 5 };
        AssertSameSelection(options, step: 0, seed: 300);
    }

    [Fact]
    public void Joint_PresetHAcid_MatchesManagedAndStepAdvances()
    {
        (SuperBatch managed, TorchSuperBatch tensors, Tensor[] owned) = Batches(Count, 400);
        MethodPreset preset = MethodPreset.For(TrainingMethod.HAcid);
        var reference = new ActiveBatchSampler(preset.Selection!.Apply(b: 30, seed: 77));
        var sampler = new TorchActiveBatchSampler(preset, 30, 77);

        for (int step = 0; step < 3; step++)
        {
            int[] expected = reference.Sample(managed).ToArray();
            using TorchSelectionResult result = sampler.Sample(tensors);
            Assert.Equal(step, result.Step);
            Assert.Equal(ToLongs(expected), result.ToArray());
        }

        Assert.Equal(3, sampler.Step);
        Dispose(owned);
    }

    [Fact]
    public void Joint_Result_IsDistinctIndicesOnTheDeviceAsInt64()
    {
        (_, TorchSuperBatch tensors, Tensor[] owned) = Batches(Count, 500);
        var sampler = new TorchActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 50, Chunks = 10, Seed = 3 });
        using TorchSelectionResult result = sampler.Sample(tensors, 0);

        Assert.Equal(ScalarType.Int64, result.Indices.dtype);
        Assert.Equal(50, result.Count);
        long[] indices = result.ToArray();
        Assert.Equal(50, new HashSet<long>(indices).Count);
        foreach (long i in indices)
        {
            Assert.InRange(i, 0, Count - 1);
        }

        Dispose(owned);
    }

    [Fact]
    public void Sample_MissingReferenceForLearnability_ThrowsNamingScoring()
    {
        using Tensor image = torch.randn(20, 4);
        var batch = new TorchSuperBatch(new TorchModelEmbeddings(image, image, new LogitParameters(10f, -10f)));
        var sampler = new TorchActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 4, Chunks = 2 });
        var e = Assert.Throws<ArgumentException>(() => sampler.Sample(batch, 0));
        Assert.Equal("Scoring", e.ParamName);
    }

    [Fact]
    public void Sample_NaNEmbedding_ThrowsNamingTheModel()
    {
        using Tensor image = torch.nn.functional.normalize(torch.randn(20, 4));
        using Tensor text = torch.nn.functional.normalize(torch.randn(20, 4));
        text[3, 1] = torch.tensor(float.NaN);
        var batch = new TorchSuperBatch(new TorchModelEmbeddings(image, text, new LogitParameters(10f, -10f)));
        var sampler = new TorchActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 4, Chunks = 2, Scoring = ScoringMethod.Hard });
        var e = Assert.Throws<ArgumentException>(() => sampler.Sample(batch, 0));
        Assert.Equal("superBatch.Student", e.ParamName);
        Assert.Contains("student text embedding row 3 contains NaN", e.Message);
    }

    [Fact]
    public void Sample_RowNotUnitNorm_ThrowsNamingModelTowerAndRow()
    {
        using Tensor image = torch.nn.functional.normalize(torch.randn(20, 4));
        using Tensor text = torch.nn.functional.normalize(torch.randn(20, 4));
        text[5] = text[5].mul(1.01);
        var batch = new TorchSuperBatch(new TorchModelEmbeddings(image, text, new LogitParameters(10f, -10f)));
        var sampler = new TorchActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 4, Chunks = 2, Scoring = ScoringMethod.Hard });
        var e = Assert.Throws<ArgumentException>(() => sampler.Sample(batch, 0));
        Assert.Contains("student text embedding row 5 has L2 norm", e.Message);

        var relaxed = new TorchActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 4, Chunks = 2, Scoring = ScoringMethod.Hard, NormTolerance = 0.05 });
        using TorchSelectionResult result = relaxed.Sample(batch, 0);
        Assert.Equal(4, result.Count);
    }

    [Fact]
    public void Sample_OverflowingScale_ThrowsNamingSuperBatch()
    {
        using Tensor image = torch.full(20, 4, 0.5f);
        var batch = new TorchSuperBatch(new TorchModelEmbeddings(image, image, new LogitParameters(1e38f, 0f)));
        var sampler = new TorchActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 4, Chunks = 2, Scoring = ScoringMethod.Hard, Loss = ContrastiveKind.Softmax });
        var e = Assert.Throws<ArgumentException>(() => sampler.Sample(batch, 0));
        Assert.Equal("superBatch", e.ParamName);
    }

    private static void AssertSameSelection(ActiveBatchSamplerOptions options, long step, int seed)
    {
        (SuperBatch managed, TorchSuperBatch tensors, Tensor[] owned) = Batches(Count, seed);
        SelectionResult expected = new ActiveBatchSampler(options).Sample(managed, step);
        int[] expectedIndices = expected.ToArray();
        float[] expectedScores = expected.Scores.ToArray();

        using TorchSelectionResult actual = new TorchActiveBatchSampler(options).Sample(tensors, step);

        Assert.Equal(ToLongs(expectedIndices), actual.ToArray());
        using Tensor scores = actual.Scores.cpu();
        float[] actualScores = scores.data<float>().ToArray();
        for (int i = 0; i < expectedScores.Length; i++)
        {
            if (float.IsNaN(expectedScores[i]))
            {
                Assert.True(float.IsNaN(actualScores[i]));
                continue;
            }

            double error = Math.Abs(actualScores[i] - expectedScores[i]);
            Assert.True(error <= 1e-4 * Math.Max(1, Math.Abs(expectedScores[i])), $"score {i}: expected {expectedScores[i]}, got {actualScores[i]}");
        }

        Dispose(owned);
    }

    private static (SuperBatch Managed, TorchSuperBatch Tensors, Tensor[] Owned) Batches(int count, int seed)
    {
        Matrix si = TestData.UnitRows(count, StudentDim, seed);
        Matrix st = TestData.UnitRows(count, StudentDim, seed + 1);
        Matrix ri = TestData.UnitRows(count, ReferenceDim, seed + 2);
        Matrix rt = TestData.UnitRows(count, ReferenceDim, seed + 3);

        // Make positives more aligned than chance so scores spread.
        for (int i = 0; i < count; i++)
        {
            for (int j = 0; j < StudentDim; j++)
            {
                st[i, j] = (0.5f * st[i, j]) + (0.5f * si[i, j]);
            }

            float norm = 0;
            for (int j = 0; j < StudentDim; j++)
            {
                norm += st[i, j] * st[i, j];
            }

            for (int j = 0; j < StudentDim; j++)
            {
                st[i, j] /= MathF.Sqrt(norm);
            }
        }

        var managed = new SuperBatch(
            new ModelEmbeddings(si, st, new LogitParameters(10f, -10f)),
            new ModelEmbeddings(ri, rt, new LogitParameters(20f, -5f)));
        Tensor[] owned =
        {
            TestData.ToTensor(si, ScalarType.Float32), TestData.ToTensor(st, ScalarType.Float32),
            TestData.ToTensor(ri, ScalarType.Float32), TestData.ToTensor(rt, ScalarType.Float32),
        };
        var tensors = new TorchSuperBatch(
            new TorchModelEmbeddings(owned[0], owned[1], new LogitParameters(10f, -10f)),
            new TorchModelEmbeddings(owned[2], owned[3], new LogitParameters(20f, -5f)));
        return (managed, tensors, owned);
    }

    private static long[] ToLongs(int[] values)
    {
        long[] wide = new long[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            wide[i] = values[i];
        }

        return wide;
    }

    private static void Dispose(Tensor[] tensors)
    {
        foreach (Tensor t in tensors)
        {
            t.Dispose();
        }
    }
}

internal static class OptionsExtensions
{
    public static ActiveBatchSamplerOptions Apply(this ActiveBatchSamplerOptions options, int b, ulong seed)
    {
        options.BatchSize = b;
        options.Seed = seed;
        return options;
    }
}
