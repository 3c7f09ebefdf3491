using System;
using System.Linq;
using Aced.Core;
using Aced.Selection;
using FsCheck;
using FsCheck.Fluent;

namespace Aced.Selection.Tests;

public class ScorerTests
{
    public static TheoryData<ScoringMethod, ContrastiveKind> AllScorers()
    {
        var data = new TheoryData<ScoringMethod, ContrastiveKind>();
        foreach (ScoringMethod s in Enum.GetValues<ScoringMethod>())
        {
            foreach (ContrastiveKind l in Enum.GetValues<ContrastiveKind>())
            {
                data.Add(s, l);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AllScorers))]
    public void ConditionalScores_SmallSuperBatch_EqualBruteForceDifference(ScoringMethod scoring, ContrastiveKind loss)
    {
        // Incremental fused engine vs s(M u {x}) - s(M) computed directly in double.
        foreach ((int count, int dim, int members) in new[] { (13, 7, 1), (17, 5, 4), (31, 9, 11) })
        {
            SuperBatch batch = TestData.Batch(count, dim, (ulong)(count * 31 + members), loss);
            int[] m = TestData.Distinct(count, members, (ulong)count);
            float[] fast = new float[count];
            Scorers.ConditionalScores(batch, scoring, loss, m, fast);
            double baseScore = Scorers.BatchScore(batch, scoring, loss, m);
            for (int x = 0; x < count; x++)
            {
                if (m.Contains(x))
                {
                    continue;
                }

                double expected = Scorers.BatchScore(batch, scoring, loss, m.Append(x).ToArray()) - baseScore;
                AssertClose(expected, fast[x], 2e-4, $"{scoring}/{loss} B={count} |M|={members} x={x}");
            }
        }
    }

    [Fact]
    public void ConditionalScores_RandomBatchesAndMembers_EqualBruteForce_Property()
    {
        // FsCheck: random sizes, seeds, scorings and losses; members added in one go.
        Arbitrary<(int Count, int Dim, int Members, int Seed, int Scoring, int Loss)> arb = Gen.Choose(3, 24).SelectMany(
            count => Gen.Choose(1, 12).SelectMany(
                dim => Gen.Choose(1, count - 1).SelectMany(
                    members => Gen.Choose(0, 100000).SelectMany(
                        seed => Gen.Choose(0, 3).SelectMany(
                            scoring => Gen.Choose(0, 1).Select(loss => (count, dim, members, seed, scoring, loss)))))))
            .ToArbitrary();
        Prop.ForAll(arb, t =>
        {
            var loss = (ContrastiveKind)t.Loss;
            var scoring = (ScoringMethod)t.Scoring;
            SuperBatch batch = TestData.Batch(t.Count, t.Dim, (ulong)t.Seed, loss);
            int[] m = TestData.Distinct(t.Count, t.Members, (ulong)t.Seed + 1);
            float[] fast = new float[t.Count];
            Scorers.ConditionalScores(batch, scoring, loss, m, fast);
            double baseScore = Scorers.BatchScore(batch, scoring, loss, m);
            for (int x = 0; x < t.Count; x++)
            {
                if (!m.Contains(x))
                {
                    double expected = Scorers.BatchScore(batch, scoring, loss, m.Append(x).ToArray()) - baseScore;
                    if (Math.Abs(expected - fast[x]) > 2e-4 * Math.Max(1, Math.Abs(expected)))
                    {
                        return false;
                    }
                }
            }

            return true;
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(60));
    }

    [Theory]
    [InlineData(ScoringMethod.Learnability)]
    [InlineData(ScoringMethod.EasyReference)]
    [InlineData(ScoringMethod.Hard)]
    [InlineData(ScoringMethod.Easy)]
    public void IndependentScores_Sigmoid_EqualSingleExampleBatchScore(ScoringMethod scoring)
    {
        SuperBatch batch = TestData.Batch(19, 6, 5, ContrastiveKind.Sigmoid);
        float[] scores = new float[19];
        Scorers.IndependentScores(batch, scoring, ContrastiveKind.Sigmoid, scores);
        for (int x = 0; x < 19; x++)
        {
            AssertClose(Scorers.BatchScore(batch, scoring, ContrastiveKind.Sigmoid, new[] { x }), scores[x], 1e-5, $"x={x}");
        }
    }

    [Fact]
    public void IndependentScores_Softmax_ArePositiveLogitConvention()
    {
        // A one-example softmax batch has loss 0; the documented independent score is -l_xx per model.
        SuperBatch batch = TestData.Batch(11, 5, 9, ContrastiveKind.Softmax);
        Assert.Equal(0, Scorers.BatchScore(batch, ScoringMethod.Learnability, ContrastiveKind.Softmax, new[] { 3 }), 9);
        float[] scores = new float[11];
        Scorers.IndependentScores(batch, ScoringMethod.Learnability, ContrastiveKind.Softmax, scores);
        for (int x = 0; x < 11; x++)
        {
            double expected = -PositiveLogit(batch.Student, x) + PositiveLogit(batch.Reference, x);
            AssertClose(expected, scores[x], 1e-5, $"x={x}");
        }
    }

    [Fact]
    public void BatchScore_Learnability_IsStudentLossMinusReferenceLoss()
    {
        SuperBatch batch = TestData.Batch(10, 4, 2, ContrastiveKind.Sigmoid);
        int[] m = { 1, 4, 7 };
        foreach (ContrastiveKind loss in Enum.GetValues<ContrastiveKind>())
        {
            double s = Scorers.BatchLoss(batch.Student, loss, m);
            double r = Scorers.BatchLoss(batch.Reference, loss, m);
            Assert.Equal(s - r, Scorers.BatchScore(batch, ScoringMethod.Learnability, loss, m), 9);
            Assert.Equal(-r, Scorers.BatchScore(batch, ScoringMethod.EasyReference, loss, m), 9);
            Assert.Equal(s, Scorers.BatchScore(batch, ScoringMethod.Hard, loss, m), 9);
            Assert.Equal(-s, Scorers.BatchScore(batch, ScoringMethod.Easy, loss, m), 9);
        }
    }

    [Fact]
    public void BatchLoss_SoftmaxTwoExamples_MatchesHandComputedCrossEntropy()
    {
        ModelEmbeddings model = TestData.Model(2, 3, 4, 5f, 0f);
        double l00 = PositiveLogit(model, 0), l11 = PositiveLogit(model, 1);
        double l01 = Logit(model, 0, 1), l10 = Logit(model, 1, 0);
        static double Lse(double a, double b) => Math.Max(a, b) + Math.Log(Math.Exp(a - Math.Max(a, b)) + Math.Exp(b - Math.Max(a, b)));
        double expected = (0.5 * (Lse(l00, l01) - l00 + Lse(l00, l10) - l00)) + (0.5 * (Lse(l10, l11) - l11 + Lse(l01, l11) - l11));
        Assert.Equal(expected, Scorers.BatchLoss(model, ContrastiveKind.Softmax, new[] { 0, 1 }), 9);
    }

    [Fact]
    public void ConditionalScores_ExtremeLogits_StayFinite()
    {
        // Scale 1000 gives logits near +-1000: softplus and log-sum-exp must not overflow.
        ModelEmbeddings s = TestData.Model(15, 4, 1, 1000f, -5f);
        ModelEmbeddings r = TestData.Model(15, 4, 2, 1000f, 3f);
        var batch = new SuperBatch(s, r);
        foreach (ContrastiveKind loss in new[] { ContrastiveKind.Sigmoid, ContrastiveKind.Softmax })
        {
            float[] fast = new float[15];
            int[] m = { 2, 5, 9 };
            Scorers.ConditionalScores(batch, ScoringMethod.Learnability, loss, m, fast);
            double baseScore = Scorers.BatchScore(batch, ScoringMethod.Learnability, loss, m);
            for (int x = 0; x < 15; x++)
            {
                Assert.True(float.IsFinite(fast[x]));
                if (!m.Contains(x))
                {
                    AssertClose(Scorers.BatchScore(batch, ScoringMethod.Learnability, loss, m.Append(x).ToArray()) - baseScore, fast[x], 1e-4, $"{loss} x={x}");
                }
            }
        }
    }

    internal static double PositiveLogit(ModelEmbeddings m, int x) => Logit(m, x, x);

    internal static double Logit(ModelEmbeddings m, int i, int j)
    {
        double dot = 0;
        for (int k = 0; k < m.Dimension; k++)
        {
            dot += (double)m.Image[i, k] * m.Text[j, k];
        }

        return (m.Scale * dot) + m.Bias;
    }

    internal static void AssertClose(double expected, double actual, double relative, string what)
    {
        double tolerance = relative * Math.Max(1, Math.Abs(expected));
        Assert.True(Math.Abs(expected - actual) <= tolerance, $"{what}: expected {expected}, got {actual} (tolerance {tolerance})");
    }
}
