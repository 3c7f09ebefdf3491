using Aced.Core;
using System;
using System.Linq;
using Aced.Selection;

namespace Aced.Selection.Tests;

public class SecondChunkTests
{
    private const double ChiSquare4 = 18.467; // p = 0.001, df = 4

    [Theory]
    [InlineData(ScoreNormalization.Sum, ContrastiveKind.Sigmoid, 1.0)]
    [InlineData(ScoreNormalization.PerTermMean, ContrastiveKind.Sigmoid, 2.0)]
    [InlineData(ScoreNormalization.Sum, ContrastiveKind.Softmax, 1.0)]
    [InlineData(ScoreNormalization.PerTermMean, ContrastiveKind.Softmax, 2.0)]
    public void Sample_SecondChunk_FollowsExpTauConditionalScoreOverDivisor(ScoreNormalization normalization, ContrastiveKind loss, double divisor)
    {
        // B = 6, b = 2, n = 2: given the first pick f, the second pick x != f has probability
        // exp(tau * c_f(x) / divisor) / Z with c_f(x) = s({f, x}) - s({f}) (per-term mean: divisor 1 + k for sigmoid and softmax alike, k = 1).
        SuperBatch batch = TestData.Batch(6, 3, 31, loss);
        const double tau = 0.3;
        var sampler = new ActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 2, Chunks = 2, Temperature = tau, Loss = loss, Normalization = normalization, Seed = 17 });
        var pairs = Enumerable.Range(0, 15000).Select(_ =>
        {
            ReadOnlySpan<int> idx = sampler.Sample(batch).Indices;
            return (First: idx[0], Second: idx[1]);
        }).ToArray();
        int f = pairs.GroupBy(p => p.First).OrderByDescending(g => g.Count()).First().Key;
        int[] seconds = pairs.Where(p => p.First == f).Select(p => p.Second).ToArray();

        int[] candidates = Enumerable.Range(0, 6).Where(x => x != f).ToArray();
        double baseScore = Scorers.BatchScore(batch, ScoringMethod.Learnability, loss, new[] { f });
        double[] c = candidates.Select(x => Scorers.BatchScore(batch, ScoringMethod.Learnability, loss, new[] { f, x }) - baseScore).ToArray();
        double[] p = new double[c.Length];
        SelectionDistribution.Probabilities(c, tau / divisor, p);
        Assert.True(p.Min() * seconds.Length >= 5, $"too few draws ({seconds.Length}) for the test");
        double chi = 0;
        for (int i = 0; i < candidates.Length; i++)
        {
            double e = p[i] * seconds.Length;
            int o = seconds.Count(s => s == candidates[i]);
            chi += (o - e) * (o - e) / e;
        }

        Assert.True(chi < ChiSquare4, $"chi-square {chi}; p = [{string.Join(", ", p.Select(v => v.ToString("F3")))}]");
    }
}
