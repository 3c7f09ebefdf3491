using System;
using System.Linq;
using Aced.Core;
using Aced.Selection;

namespace Aced.Selection.Tests;

/// <summary>The Table 6 baselines as their own papers define them.</summary>
public class BaselinePresetTests
{
    private const int Draws = 20_000;
    private const double ChiSquare7 = 24.322; // p = 0.001, df = 7

    [Theory]
    [InlineData(1.0)]
    [InlineData(3.0)]
    public void LossPercentile_FirstPick_ProportionalToPercentileToTheBeta(double beta)
    {
        // Jiang et al. 2019: P(select x) ∝ CDF(L(x))^beta; with 8 distinct losses the percentiles are 1/8 .. 8/8.
        SuperBatch batch = TestData.Batch(8, 6, 41, ContrastiveKind.Sigmoid);
        float[] loss = new float[8];
        Scorers.IndependentScores(batch, ScoringMethod.Hard, ContrastiveKind.Sigmoid, loss);
        Assert.Equal(8, loss.Distinct().Count());
        double[] expected = Normalise(loss.Select(l => Math.Pow(loss.Count(o => o <= l) / 8.0, beta)).ToArray());

        var sampler = new ActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 1, Sampler = SamplerKind.LossPercentile, PercentilePower = beta, Scoring = ScoringMethod.Hard, Seed = 2 });
        int[] counts = new int[8];
        for (int i = 0; i < Draws; i++)
        {
            counts[sampler.Sample(batch).Indices[0]]++;
        }

        double ess = 1 / expected.Sum(p => p * p);
        Assert.Equal(ess, sampler.Sample(batch).Diagnostics.EffectiveSampleSize, 4);

        double chi = 0;
        for (int x = 0; x < 8; x++)
        {
            double e = expected[x] * Draws;
            chi += (counts[x] - e) * (counts[x] - e) / e;
        }

        Assert.True(chi < ChiSquare7, $"chi-square {chi:F1}; observed [{string.Join(", ", counts)}]");
    }

    [Fact]
    public void LossPercentile_TiedScores_AreEquallyLikely()
    {
        SuperBatch a = TestData.Batch(50, 6, 42, ContrastiveKind.Sigmoid);
        // Ties: equal scores share one percentile (the fraction of scores <= them), so equal rows are equally likely.
        ModelEmbeddings m = a.Student;
        var same = new Matrix(8, m.Dimension);
        var sameText = new Matrix(8, m.Dimension);
        for (int i = 0; i < 8; i++)
        {
            m.Image.Row(0).CopyTo(same.Row(i));
            m.Text.Row(0).CopyTo(sameText.Row(i));
        }

        var tied = new SuperBatch(new ModelEmbeddings(same, sameText, m.Logits));
        var sampler = new ActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 1, Sampler = SamplerKind.LossPercentile, Scoring = ScoringMethod.Hard, Seed = 4 });
        int[] counts = new int[8];
        for (int i = 0; i < 8000; i++)
        {
            counts[sampler.Sample(tied).Indices[0]]++;
        }

        Assert.All(counts, c => Assert.InRange(c, 800, 1200));
    }

    [Fact]
    public void PercentilePower_Invalid_IsRejectedNamingIt()
    {
        foreach (double bad in new[] { 0.0, -1.0, double.NaN, double.PositiveInfinity })
        {
            var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new ActiveBatchSampler(new ActiveBatchSamplerOptions { PercentilePower = bad }));
            Assert.Equal(nameof(ActiveBatchSamplerOptions.PercentilePower), ex.ParamName);
        }
    }

    [Fact]
    public void SelectiveBackprop_Preset_SamplesByLossPercentileWithTopKAsOption()
    {
        MethodPreset preset = MethodPreset.For(TrainingMethod.SelectiveBackprop);
        ActiveBatchSamplerOptions o = preset.Selection!;
        Assert.Equal((ScoringMethod.Hard, SamplerKind.LossPercentile, ActiveBatchSamplerOptions.DefaultPercentilePower), (o.Scoring, o.Sampler, o.PercentilePower));
        Assert.False(preset.NeedsReferenceEmbeddings);
        Assert.Equal(SamplerKind.TopK, preset.WithSelection(s => s.Sampler = SamplerKind.TopK).Selection!.Sampler);
    }

    [Fact]
    public void BadStudents_Preset_SamplesSoftmaxOfScoresAtTauOneWithHalfFiltered()
    {
        // Evans et al. (ActiveCLIP): pi(x) = softmax(s), a 50% filtering ratio (B = 2b), proxy pair-similarity scores.
        MethodPreset preset = MethodPreset.For(TrainingMethod.BadStudents);
        ActiveBatchSamplerOptions o = preset.Selection!;
        Assert.Equal((1.0, 0.5, SamplerKind.Independent, true), (o.Temperature, o.FilterRatio, o.Sampler, o.PairSimilarityProxy));
        Assert.Equal(1024, preset.SuperBatchSize(512));
        Assert.Equal(2560, MethodPreset.For(TrainingMethod.HAcid).SuperBatchSize(512));
        Assert.Equal(2560, MethodPreset.For(TrainingMethod.IidBaseline).SuperBatchSize(512));
    }

    [Fact]
    public void RhoLoss_Preset_DeclaresItsHoldoutReference()
    {
        Assert.True(MethodPreset.For(TrainingMethod.RhoLoss).NeedsHoldoutReference);
        Assert.False(MethodPreset.For(TrainingMethod.HAcid).NeedsHoldoutReference);
    }

    private static double[] Normalise(double[] v)
    {
        double s = v.Sum();
        return v.Select(x => x / s).ToArray();
    }
}
