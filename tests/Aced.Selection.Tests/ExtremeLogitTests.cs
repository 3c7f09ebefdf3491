using System;
using System.Collections.Generic;
using System.Linq;
using Aced.Core;
using Aced.Selection;

namespace Aced.Selection.Tests;

/// <summary>
/// Confident models (scale 100, bias -20: positive logits near 75) give sigmoid losses of about exp(-75). The
/// selection must still rank them exactly as a float64 reference does; a softplus computed as log(1 + exp(-|x|))
/// returns 0 for every logit above 36.7 and the greedy samplers then pick indices 0..b-1.
/// </summary>
public class ExtremeLogitTests
{
    private const int Count = 64;
    private const int Dim = 16;
    private const int Batch = 16;

    private static SuperBatch Confident() => new(
        TestData.Model(Count, Dim, 31, 100f, -20f, 0.3f),
        TestData.Model(Count, Dim, 32, 100f, -20f, 0.2f));

    [Theory]
    [InlineData(ScoringMethod.Hard)]
    [InlineData(ScoringMethod.EasyReference)]
    [InlineData(ScoringMethod.Learnability)]
    [InlineData(ScoringMethod.Easy)]
    public void TopK_ScaleHundredBiasMinusTwenty_PicksTheFloat64TopIndices(ScoringMethod scoring)
    {
        SuperBatch batch = Confident();
        double[] reference = ReferenceConditional(batch, scoring, []);
        AssertMostlyBeyondNaiveRange(batch);
        int[] expected = TopIndices(reference, Batch, excluded: []);

        var sampler = new ActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = Batch, Sampler = SamplerKind.TopK, Scoring = scoring, Seed = 1 });
        int[] chosen = sampler.Sample(batch, 0).ToArray();

        Assert.Equal(expected.Order(), chosen.Order());
    }

    [Theory]
    [InlineData(ScoringMethod.Hard)]
    [InlineData(ScoringMethod.EasyReference)]
    [InlineData(ScoringMethod.Learnability)]
    public void JointGreedy_ScaleHundredBiasMinusTwenty_PicksTheFloat64ChunksInOrder(ScoringMethod scoring)
    {
        SuperBatch batch = Confident();
        const int chunks = 4;
        var sampler = new ActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = Batch, Chunks = chunks, Greedy = true, Scoring = scoring, Seed = 1 });
        int[] chosen = sampler.Sample(batch, 0).ToArray();

        var members = new List<int>();
        for (int k = 0; k < chunks; k++)
        {
            double[] conditional = ReferenceConditional(batch, scoring, members);
            int[] expected = TopIndices(conditional, Batch / chunks, members);
            Assert.Equal(expected.Order(), chosen.Skip(k * (Batch / chunks)).Take(Batch / chunks).Order());
            members.AddRange(expected);
        }
    }

    [Fact]
    public void IndependentScores_ScaleHundredBiasMinusTwenty_MatchFloat64ToSinglePrecision()
    {
        SuperBatch batch = Confident();
        float[] actual = new float[Count];
        Scorers.IndependentScores(batch, ScoringMethod.Hard, ContrastiveKind.Sigmoid, actual);
        double[] expected = ReferenceConditional(batch, ScoringMethod.Hard, []);
        for (int x = 0; x < Count; x++)
        {
            Assert.True(Math.Abs(actual[x] - expected[x]) <= 1e-4 * expected[x], $"score {x}: {actual[x]} vs {expected[x]}");
        }
    }

    /// <summary>Precondition that makes the tests meaningful: most positive logits are where the naive softplus is 0.</summary>
    private static void AssertMostlyBeyondNaiveRange(SuperBatch batch)
    {
        int beyond = 0;
        for (int x = 0; x < Count; x++)
        {
            beyond += Logit(batch.Student, x, x) > 36.8 ? 1 : 0;
        }

        Assert.True(beyond >= Count - 4, $"only {beyond} logits beyond 36.8");
    }

    /// <summary>
    /// The top <paramref name="k"/> of the scores outside <paramref name="excluded"/>; asserts a clear gap between the
    /// k-th and the (k+1)-th (relative 1e-3, far above float32 rounding of the logits) so the expected set is unique.
    /// </summary>
    private static int[] TopIndices(double[] scores, int k, IReadOnlyCollection<int> excluded)
    {
        int[] order = Enumerable.Range(0, scores.Length).Where(x => !excluded.Contains(x)).OrderByDescending(x => scores[x]).ToArray();
        double last = scores[order[k - 1]];
        double next = scores[order[k]];
        Assert.True(last - next > 1e-3 * Math.Max(Math.Abs(last), Math.Abs(next)), $"no clear gap: {last} vs {next}");
        return order.Take(k).ToArray();
    }

    /// <summary>Float64 reference of the sigmoid conditional score s(M u {x}) - s(M) with its own softplus.</summary>
    private static double[] ReferenceConditional(SuperBatch batch, ScoringMethod scoring, IReadOnlyList<int> members)
    {
        (double ws, double wr) = scoring switch
        {
            ScoringMethod.Learnability => (1.0, -1.0),
            ScoringMethod.EasyReference => (0.0, -1.0),
            ScoringMethod.Hard => (1.0, 0.0),
            _ => (-1.0, 0.0),
        };
        double[] result = new double[Count];
        for (int x = 0; x < Count; x++)
        {
            result[x] = (ws == 0 ? 0 : ws * Term(batch.Student, x, members)) + (wr == 0 ? 0 : wr * Term(batch.Reference, x, members));
        }

        return result;
    }

    private static double Term(ModelEmbeddings model, int x, IReadOnlyList<int> members)
    {
        double sum = Softplus(-Logit(model, x, x));
        foreach (int m in members)
        {
            sum += Softplus(Logit(model, x, m)) + Softplus(Logit(model, m, x));
        }

        return sum;
    }

    private static double Logit(ModelEmbeddings model, int image, int text)
    {
        double dot = 0;
        for (int i = 0; i < model.Dimension; i++)
        {
            dot += (double)model.Image.Row(image)[i] * model.Text.Row(text)[i];
        }

        return (model.Scale * dot) + model.Bias;
    }

    /// <summary>softplus by cases: x + softplus(-x) for x &gt; 0; the series e - e^2/2 + e^3/3 below -30; log(1 + e^x) between.</summary>
    private static double Softplus(double x)
    {
        if (x > 0)
        {
            return x + Softplus(-x);
        }

        double e = Math.Exp(x);
        return x < -30 ? e - (e * e / 2) + (e * e * e / 3) : Math.Log(1 + e);
    }
}
