using System;
using Aced.Core;

namespace Aced.Selection;

/// <summary>
/// Scores of examples and batches from student and reference embeddings: easy-reference <c>-L(ref)</c>,
/// hard <c>L(student)</c>, easy <c>-L(student)</c> and learnability <c>L(student) - L(ref)</c>, for the
/// sigmoid and softmax losses (<see cref="ContrastiveKind"/>) and the ActiveCLIP pair-similarity proxy (the overloads
/// taking <see cref="ActiveBatchSamplerOptions"/> score exactly as a sampler with those options does, proxy included).
/// Batch losses here are sums over the batch's examples (the JEST convention), not means.
/// </summary>
public static class Scorers
{
    /// <summary>
    /// The exact score <c>s(M)</c> of the batch <paramref name="members"/>, computed directly in double
    /// precision in O(|M|^2 d). Meant for small batches, checks and diagnostics; the samplers never call it.
    /// </summary>
    /// <exception cref="ArgumentException">A model the scoring needs is absent, or an index is out of range or repeated.</exception>
    public static double BatchScore(SuperBatch superBatch, ScoringMethod scoring, ContrastiveKind loss, ReadOnlySpan<int> members) =>
        BatchScore(superBatch, scoring, Checked(loss), members);

    /// <summary>The exact score <c>s(M)</c> of <paramref name="members"/> as a sampler with <paramref name="options"/> scores it (its scoring, loss and pair-similarity proxy).</summary>
    /// <exception cref="ArgumentException">A model the scoring needs is absent, or an index is out of range or repeated.</exception>
    public static double BatchScore(SuperBatch superBatch, ActiveBatchSamplerOptions options, ReadOnlySpan<int> members)
    {
        ArgumentNullException.ThrowIfNull(options);
        return BatchScore(superBatch, options.Scoring, options.ScoreLoss, members);
    }

    private static double BatchScore(SuperBatch superBatch, ScoringMethod scoring, ScoreLoss loss, ReadOnlySpan<int> members)
    {
        ArgumentNullException.ThrowIfNull(superBatch);
        EnsureModels(superBatch, scoring);
        EnsureMembers(superBatch.Count, members);
        (double ws, double wr) = ConditionalScorer.Weights(scoring);
        double score = 0;
        if (ws != 0)
        {
            score += ws * BatchLoss(superBatch.Student, loss, members);
        }

        if (wr != 0)
        {
            score += wr * BatchLoss(superBatch.Reference, loss, members);
        }

        return score;
    }

    /// <summary>
    /// The exact loss <c>L(M)</c> of one model on the batch <paramref name="members"/> (sum over examples),
    /// in double precision, O(|M|^2 d): sigmoid <c>sum_{i,j} softplus(-y_ij l_ij)</c>; softmax
    /// <c>sum_i (1/2)(LSE_j l_ij + LSE_j l_ji - 2 l_ii)</c> (the proxy is <see cref="PairSimilarityLoss"/>).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="model"/> is absent, or an index is out of range or repeated.</exception>
    public static double BatchLoss(ModelEmbeddings model, ContrastiveKind loss, ReadOnlySpan<int> members) =>
        BatchLoss(model, Checked(loss), members);

    /// <summary>The pair-similarity proxy loss <c>-sum_{i in M} &lt;img_i, txt_i&gt;</c> of one model (Bad-Students' ActiveCLIP score), in double precision.</summary>
    /// <exception cref="ArgumentException"><paramref name="model"/> is absent, or an index is out of range or repeated.</exception>
    public static double PairSimilarityLoss(ModelEmbeddings model, ReadOnlySpan<int> members) =>
        BatchLoss(model, ScoreLoss.PairSimilarity, members);

    private static double BatchLoss(ModelEmbeddings model, ScoreLoss loss, ReadOnlySpan<int> members)
    {
        if (model.IsEmpty)
        {
            Guard.ThrowArgument(nameof(model), "is absent");
        }

        EnsureMembers(model.Count, members);
        int k = members.Length;
        double total = 0;
        if (loss == ScoreLoss.PairSimilarity)
        {
            for (int i = 0; i < k; i++)
            {
                total -= Dot(model.Image.Row(members[i]), model.Text.Row(members[i]));
            }

            return total;
        }

        for (int i = 0; i < k; i++)
        {
            double lii = Logit(model, members[i], members[i]);
            if (loss == ScoreLoss.Sigmoid)
            {
                for (int j = 0; j < k; j++)
                {
                    double l = Logit(model, members[i], members[j]);
                    total += StableMath.Softplus(i == j ? -l : l);
                }
            }
            else
            {
                double rowMax = double.NegativeInfinity;
                double columnMax = double.NegativeInfinity;
                for (int j = 0; j < k; j++)
                {
                    rowMax = Math.Max(rowMax, Logit(model, members[i], members[j]));
                    columnMax = Math.Max(columnMax, Logit(model, members[j], members[i]));
                }

                double rowSum = 0;
                double columnSum = 0;
                for (int j = 0; j < k; j++)
                {
                    rowSum += Math.Exp(Logit(model, members[i], members[j]) - rowMax);
                    columnSum += Math.Exp(Logit(model, members[j], members[i]) - columnMax);
                }

                total += 0.5 * (rowMax + Math.Log(rowSum) + columnMax + Math.Log(columnSum) - (2 * lii));
            }
        }

        return total;
    }

    /// <summary>
    /// Writes the independent score of every example (what the first chunk of the joint sampler and the
    /// independent samplers use): the scoring's weighted sum of the per-model single-example terms, sigmoid
    /// <c>softplus(-l_xx)</c>, softmax <c>-l_xx</c> (a one-example softmax batch has loss 0, so its positive logit
    /// stands in), pair similarity <c>-&lt;img_x, txt_x&gt;</c>. O(B·d); allocates a scorer.
    /// </summary>
    /// <exception cref="ArgumentException">A model the scoring needs is absent, or <paramref name="destination"/> is shorter than B.</exception>
    public static void IndependentScores(SuperBatch superBatch, ScoringMethod scoring, ContrastiveKind loss, Span<float> destination) =>
        ConditionalScores(superBatch, scoring, Checked(loss), ReadOnlySpan<int>.Empty, destination);

    /// <summary>As <see cref="IndependentScores(SuperBatch, ScoringMethod, ContrastiveKind, Span{float})"/> with the scoring, loss and pair-similarity proxy of <paramref name="options"/>.</summary>
    /// <exception cref="ArgumentException">A model the scoring needs is absent, or <paramref name="destination"/> is shorter than B.</exception>
    public static void IndependentScores(SuperBatch superBatch, ActiveBatchSamplerOptions options, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(options);
        ConditionalScores(superBatch, options.Scoring, options.ScoreLoss, ReadOnlySpan<int>.Empty, destination);
    }

    /// <summary>
    /// Writes, for every example x of the super-batch, the conditional score <c>s(M u {x}) - s(M)</c> given the
    /// members <paramref name="members"/>, computed by the sampler's incremental fused engine (O(B·|M|·d), no
    /// B x B matrix). With no members it writes the independent scores. Entries of members themselves are
    /// meaningless. Allocates a scorer; the sampler keeps one.
    /// </summary>
    /// <exception cref="ArgumentException">A model the scoring needs is absent, an index is out of range or repeated, or <paramref name="destination"/> is shorter than B.</exception>
    public static void ConditionalScores(SuperBatch superBatch, ScoringMethod scoring, ContrastiveKind loss, ReadOnlySpan<int> members, Span<float> destination) =>
        ConditionalScores(superBatch, scoring, Checked(loss), members, destination);

    /// <summary>As <see cref="ConditionalScores(SuperBatch, ScoringMethod, ContrastiveKind, ReadOnlySpan{int}, Span{float})"/> with the scoring, loss and pair-similarity proxy of <paramref name="options"/>.</summary>
    /// <exception cref="ArgumentException">A model the scoring needs is absent, an index is out of range or repeated, or <paramref name="destination"/> is shorter than B.</exception>
    public static void ConditionalScores(SuperBatch superBatch, ActiveBatchSamplerOptions options, ReadOnlySpan<int> members, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(options);
        ConditionalScores(superBatch, options.Scoring, options.ScoreLoss, members, destination);
    }

    private static void ConditionalScores(SuperBatch superBatch, ScoringMethod scoring, ScoreLoss loss, ReadOnlySpan<int> members, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(superBatch);
        EnsureModels(superBatch, scoring);
        EnsureMembers(superBatch.Count, members);
        if (destination.Length < superBatch.Count)
        {
            Guard.ThrowArgument(nameof(destination), $"has {destination.Length} elements but the super-batch has {superBatch.Count}");
        }

        var scorer = new ConditionalScorer();
        scorer.Begin(superBatch, scoring, loss, Math.Max(1, members.Length));
        scorer.AddMembers(members);
        double[] scores = new double[superBatch.Count];
        scorer.Conditional(scores);
        for (int i = 0; i < scores.Length; i++)
        {
            destination[i] = (float)scores[i];
        }
    }

    private static ScoreLoss Checked(ContrastiveKind loss)
    {
        if (!Enum.IsDefined(loss))
        {
            Guard.ThrowOutOfRange(nameof(loss), loss, "is not a defined ContrastiveKind (Sigmoid or Softmax)");
        }

        return (ScoreLoss)loss;
    }

    /// <summary>Throws unless the models that <paramref name="scoring"/> needs are present.</summary>
    internal static void EnsureModels(SuperBatch superBatch, ScoringMethod scoring)
    {
        (double ws, double wr) = ConditionalScorer.Weights(scoring);
        if (ws != 0 && !superBatch.HasStudent)
        {
            Guard.ThrowArgument("Scoring", $"{scoring} needs student embeddings but the super-batch has none; add them or use EasyReference");
        }

        if (wr != 0 && !superBatch.HasReference)
        {
            Guard.ThrowArgument("Scoring", $"{scoring} needs reference embeddings but the super-batch has none; add them or use Hard/Easy scoring");
        }
    }

    private static void EnsureMembers(int count, ReadOnlySpan<int> members)
    {
        for (int i = 0; i < members.Length; i++)
        {
            if ((uint)members[i] >= (uint)count)
            {
                Guard.ThrowOutOfRange(nameof(members), members[i], $"has an index outside [0, {count}) at position {i}");
            }

            for (int j = 0; j < i; j++)
            {
                if (members[j] == members[i])
                {
                    Guard.ThrowArgument(nameof(members), $"repeats index {members[i]}; a batch holds each example once");
                }
            }
        }
    }

    private static double Logit(ModelEmbeddings model, int image, int text) =>
        (model.Scale * Dot(model.Image.Row(image), model.Text.Row(text))) + model.Bias;

    private static double Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            sum += (double)x[i] * y[i];
        }

        return sum;
    }
}
