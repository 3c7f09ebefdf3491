using System;
using System.Linq;
using Aced.Core;
using Aced.Selection;

namespace Aced.Selection.Tests;

/// <summary>
/// The implicit-distillation identities of the ACED paper (Eq. 4/8 and 5/9) through the real scorer and sampler:
/// empirical selection frequencies of <see cref="ActiveBatchSampler"/> (fixed seeds, 20,000 draws) against the
/// identities computed here in float64 from the embeddings alone. Each frequency test is a chi-square test at
/// p = 0.001; with fixed seeds the outcome is deterministic, and ignoring the temperature or flipping the sign of a
/// score moves the chi-square statistic to the hundreds or thousands (checked by breaking the code on purpose).
/// </summary>
public class ImplicitDistillationSamplerTests
{
    private const int Draws = 20_000;

    // Chi-square critical values at p = 0.001.
    private const double ChiSquare7 = 24.322;
    private const double ChiSquare4 = 18.467;

    [Theory]
    [InlineData(SamplerKind.Independent, 1.0)]
    [InlineData(SamplerKind.Joint, 1.0)]
    [InlineData(SamplerKind.Independent, 3.0)]
    [InlineData(SamplerKind.Joint, 3.0)]
    public void EasyReference_Sigmoid_FirstPickIsReferenceProbabilityToTheTau(SamplerKind kind, double tau)
    {
        // Eq. 4/8 with the sigmoid loss: the easy-reference score of x is -L(x|ref) = log p(x), p(x) = sigma(l_ref,xx)
        // the reference's probability of the (one-hot) label "match". Selection is exp(tau log p)/Z = p^tau/Z.
        // The student shares the reference's directions (another scale), so its loss is monotone in p and the
        // expectation separates the KD of p from the KD of p^tau clearly.
        ModelEmbeddings reference = TestData.Model(8, 5, 111, 6f, -2f, 1.0f);
        var batch = new SuperBatch(new ModelEmbeddings(reference.Image, reference.Text, new LogitParameters(2f, 0f)), reference);
        double[] p = Enumerable.Range(0, 8).Select(x => Sigmoid(Logit(batch.Reference, x, x))).ToArray();
        int[] counts = FirstPicks(batch, kind, ScoringMethod.EasyReference, ContrastiveKind.Sigmoid, tau);
        double[] expected = Normalise(p.Select(v => Math.Pow(v, tau)).ToArray());
        AssertChiSquare(counts, expected, ChiSquare7);

        // The expected student loss under the selection: at tau = 1 exactly the paper's (1/Z) sum_x KD[p(x) y(x); q(x)]
        // (y = 1, so KD[p y; q] = -p log q); at other tau it is the KD of p^tau, not of p.
        double[] studentLoss = Enumerable.Range(0, 8).Select(x => -Math.Log(Sigmoid(Logit(batch.Student, x, x)))).ToArray();
        double empirical = Enumerable.Range(0, 8).Sum(x => counts[x] * studentLoss[x]) / Draws;
        double kdOfP = Enumerable.Range(0, 8).Sum(x => p[x] * studentLoss[x]) / p.Sum();
        double kdOfPTau = Enumerable.Range(0, 8).Sum(x => expected[x] * studentLoss[x]);
        double sd = Math.Sqrt(Enumerable.Range(0, 8).Sum(x => expected[x] * Math.Pow(studentLoss[x] - kdOfPTau, 2)) / Draws);
        Assert.True(Math.Abs(empirical - kdOfPTau) < 5 * sd, $"E[L_student] {empirical} vs {kdOfPTau} (sd {sd})");
        if (tau == 1.0)
        {
            Assert.Equal(kdOfP, kdOfPTau, 12);
        }
        else
        {
            Assert.True(Math.Abs(empirical - kdOfP) > 5 * sd, $"at tau != 1 the selection is not the KD of p: {empirical} vs {kdOfP} (sd {sd})");
        }
    }

    [Theory]
    [InlineData(SamplerKind.Independent, 1.0)]
    [InlineData(SamplerKind.Joint, 1.0)]
    [InlineData(SamplerKind.Independent, 2.0)]
    public void EasyReference_Softmax_FirstPickFollowsExpTauPositiveLogit(SamplerKind kind, double tau)
    {
        // A one-example softmax batch has loss 0, so the library's independent softmax score stands in -l_xx for the
        // loss: easy-reference selects exp(tau * l_ref,xx)/Z. A flipped sign selects exp(-tau * l)/Z instead.
        SuperBatch batch = Batch(8, 2f, 0f, 12);
        double[] expected = Normalise(Enumerable.Range(0, 8).Select(x => Math.Exp(tau * Logit(batch.Reference, x, x))).ToArray());
        int[] counts = FirstPicks(batch, kind, ScoringMethod.EasyReference, ContrastiveKind.Softmax, tau);
        AssertChiSquare(counts, expected, ChiSquare7);
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(2.0)]
    public void EasyReference_Softmax_SecondPickIsTheReferencesMatchProbabilityInTheBatch(double tau)
    {
        // Eq. 4/8 with the CLIP softmax loss, through the joint sampler's exact conditional score: given the first
        // member f, candidate x scores -[L_ref({f, x}) - L_ref({f})] = -L_ref({f, x}), so at tau = 1 it is drawn with
        // probability prod_{i in {f, x}} sqrt(p_i^{i->t} p_i^{t->i}) / Z: the reference's probabilities of the correct
        // matches in the batch it joins (to the power tau in general).
        SuperBatch batch = Batch(6, 2f, 0f, 13);
        var sampler = new ActiveBatchSampler(new ActiveBatchSamplerOptions
        {
            BatchSize = 2, Chunks = 2, Temperature = tau, Scoring = ScoringMethod.EasyReference, Loss = ContrastiveKind.Softmax, Seed = 5,
        });
        var pairs = new (int First, int Second)[Draws * 2];
        for (int i = 0; i < pairs.Length; i++)
        {
            ReadOnlySpan<int> idx = sampler.Sample(batch).Indices;
            pairs[i] = (idx[0], idx[1]);
        }

        int f = pairs.GroupBy(q => q.First).OrderByDescending(g => g.Count()).First().Key;
        int[] candidates = Enumerable.Range(0, 6).Where(x => x != f).ToArray();
        int[] counts = candidates.Select(x => pairs.Count(q => q.First == f && q.Second == x)).ToArray();
        double[] expected = Normalise(candidates.Select(x => Math.Pow(MatchProbability(batch.Reference, f, x), tau)).ToArray());
        AssertChiSquare(counts, expected, ChiSquare4);
    }

    [Theory]
    [InlineData(SamplerKind.Independent, 1.0)]
    [InlineData(SamplerKind.Joint, 1.0)]
    [InlineData(SamplerKind.Independent, 2.0)]
    public void Learnability_Sigmoid_FirstPickFactorisesAsEasyReferenceTimesHard(SamplerKind kind, double tau)
    {
        // Eq. 5/9: exp(tau (L_s - L_r)) / Z = a_easy-ref(x) a_hard(x) / Z' with a_easy-ref ∝ p^tau, a_hard ∝ q^-tau.
        SuperBatch batch = Batch(8, 4f, -1f, 14);
        double[] p = Enumerable.Range(0, 8).Select(x => Sigmoid(Logit(batch.Reference, x, x))).ToArray();
        double[] q = Enumerable.Range(0, 8).Select(x => Sigmoid(Logit(batch.Student, x, x))).ToArray();
        double[] easyReference = Normalise(p.Select(v => Math.Pow(v, tau)).ToArray());
        double[] hard = Normalise(q.Select(v => Math.Pow(v, -tau)).ToArray());
        double[] expected = Normalise(easyReference.Zip(hard, (u, v) => u * v).ToArray());
        int[] counts = FirstPicks(batch, kind, ScoringMethod.Learnability, ContrastiveKind.Sigmoid, tau);
        AssertChiSquare(counts, expected, ChiSquare7);
    }

    private static int[] FirstPicks(SuperBatch batch, SamplerKind kind, ScoringMethod scoring, ContrastiveKind loss, double tau)
    {
        var sampler = new ActiveBatchSampler(new ActiveBatchSamplerOptions
        {
            BatchSize = 1, Chunks = 1, Sampler = kind, Temperature = tau, Scoring = scoring, Loss = loss, Seed = 21,
        });
        int[] counts = new int[batch.Count];
        for (int i = 0; i < Draws; i++)
        {
            counts[sampler.Sample(batch).Indices[0]]++;
        }

        return counts;
    }

    private static void AssertChiSquare(int[] counts, double[] expected, double critical)
    {
        int total = counts.Sum();
        double chi = 0;
        for (int i = 0; i < counts.Length; i++)
        {
            double e = expected[i] * total;
            Assert.True(e >= 5, $"expected count {e} too small for a chi-square test");
            chi += (counts[i] - e) * (counts[i] - e) / e;
        }

        Assert.True(chi < critical, $"chi-square {chi:F1} >= {critical}; observed [{string.Join(", ", counts)}], expected [{string.Join(", ", expected.Select(v => (v * total).ToString("F0")))}]");
    }

    /// <summary>Moderate logits so that every candidate keeps an expected count well above 5.</summary>
    private static SuperBatch Batch(int count, float scale, float bias, ulong seed) => new(
        TestData.Model(count, 6, seed, scale, bias, 1.0f),
        TestData.Model(count, 5, seed + 100, scale, bias, 0.6f));

    /// <summary>prod over i in {f, x} of sqrt(p_i^{i->t} p_i^{t->i}) with both softmaxes over the two-example batch.</summary>
    private static double MatchProbability(ModelEmbeddings model, int f, int x)
    {
        int[] members = [f, x];
        double product = 1;
        foreach (int i in members)
        {
            double row = members.Sum(j => Math.Exp(Logit(model, i, j)));
            double column = members.Sum(j => Math.Exp(Logit(model, j, i)));
            double positive = Math.Exp(Logit(model, i, i));
            product *= Math.Sqrt(positive / row * (positive / column));
        }

        return product;
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

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    private static double[] Normalise(double[] v)
    {
        double s = v.Sum();
        return v.Select(x => x / s).ToArray();
    }
}
