using Aced.Core;

namespace Aced.Selection;

/// <summary>
/// How an example (or a batch) is scored from the losses of the student and the reference model.
/// With <c>L(.|model)</c> the contrastive loss of the chosen <see cref="ActiveBatchSamplerOptions.Loss"/> (or the
/// pair-similarity proxy, <see cref="ActiveBatchSamplerOptions.PairSimilarityProxy"/>):
/// </summary>
public enum ScoringMethod
{
    /// <summary>Learnability <c>L(.|student) - L(.|reference)</c>: easy for the reference, hard for the student (H-ACID, JEST, RHO-loss).</summary>
    Learnability = 0,

    /// <summary>Easy-reference <c>-L(.|reference)</c> (I-ACID). Needs only reference embeddings.</summary>
    EasyReference = 1,

    /// <summary>Hard <c>L(.|student)</c> (Selective-Backprop, hard-example mining). Needs only student embeddings.</summary>
    Hard = 2,

    /// <summary>Easy <c>-L(.|student)</c>. Needs only student embeddings.</summary>
    Easy = 3,
}

/// <summary>
/// The per-model loss the scores are made of (internal): the sampler's <see cref="ActiveBatchSamplerOptions.Loss"/>,
/// or the pair-similarity proxy when <see cref="ActiveBatchSamplerOptions.PairSimilarityProxy"/> is set.
/// </summary>
internal enum ScoreLoss
{
    /// <summary>
    /// SigLIP sigmoid loss, summed over pairs: <c>L(M) = sum_{i,j in M} softplus(-y_ij * l_ij)</c> with
    /// <c>y_ii = +1</c>, <c>y_ij = -1</c> otherwise and <c>l_ij = a * &lt;img_i, txt_j&gt; + c</c>.
    /// </summary>
    Sigmoid = ContrastiveKind.Sigmoid,

    /// <summary>
    /// CLIP softmax loss, summed over examples: <c>L(M) = sum_{i in M} (1/2)(-log p_ii^{i-&gt;t} - log p_ii^{t-&gt;i})</c>
    /// with both softmaxes over the members of M.
    /// </summary>
    Softmax = ContrastiveKind.Softmax,

    /// <summary>
    /// The cheap ActiveCLIP proxy score of Bad-Students: <c>L(x) = -&lt;img_x, txt_x&gt;</c>, the negated
    /// dot-product similarity of the positive pair only (no scale, bias or negatives). Additive over a batch,
    /// so joint sampling reduces to independent sampling.
    /// </summary>
    PairSimilarity = 2,
}

/// <summary>Which sampler turns scores into a sub-batch.</summary>
public enum SamplerKind
{
    /// <summary>The blocked-Gibbs joint sampler of JEST/ACID over <c>Chunks</c> chunks (default).</summary>
    Joint = 0,

    /// <summary>Independent prioritised sampling without replacement, probability proportional to <c>exp(tau * score)</c> (Gumbel-top-k).</summary>
    Independent = 1,

    /// <summary>Deterministic top-b of the independent scores (RHO-loss; the deterministic variant of Selective-Backprop).</summary>
    TopK = 2,

    /// <summary>Uniform sampling without replacement (the IID baseline). Scores are reported but not used.</summary>
    Uniform = 3,

    /// <summary>
    /// Selective-Backprop (Jiang et al. 2019, "Accelerating Deep Learning by Focusing on the Biggest Losers"):
    /// probabilistic selection by loss percentile. Each candidate's weight is <c>CDF(s_x)^beta</c>, where
    /// <c>CDF(s_x)</c> is the fraction of the super-batch's independent scores <c>&lt;= s_x</c> (its percentile; ties
    /// share one) and beta is <see cref="ActiveBatchSamplerOptions.PercentilePower"/>; b examples are drawn without
    /// replacement with probability proportional to the weights (Gumbel-top-k on <c>beta * log CDF</c>). The paper
    /// accepts each example independently with probability <c>CDF^beta</c> over a history of recent losses until a
    /// batch is full; with a fixed sub-batch from one super-batch, the super-batch is the history. Only ranks matter,
    /// so <see cref="ActiveBatchSamplerOptions.Temperature"/> is not used. For the deterministic variant use
    /// <see cref="TopK"/>.
    /// </summary>
    LossPercentile = 4,
}

/// <summary>How the joint sampler normalises a conditional score before multiplying by the temperature.</summary>
public enum ScoreNormalization
{
    /// <summary>The raw JEST sum of loss terms (default; <c>tau = 1</c> is JEST's Algorithm 1, the ACED paper uses <c>tau = 10</c>).</summary>
    Sum = 0,

    /// <summary>
    /// A per-example mean: given k members chosen so far, the conditional score is divided by <c>1 + k</c>, the
    /// number of examples in the batch the candidate would join, for sigmoid and softmax alike. That equals scoring
    /// with the paper's mean batch loss rather than the JEST sum (one unit, the example: a sigmoid candidate touches
    /// <c>1 + 2k</c> pair terms, but the mean batch loss divides by the batch size). Needs a much larger temperature
    /// (about 100) to filter as hard as <see cref="Sum"/>. Pair similarity is additive and is never divided.
    /// </summary>
    PerTermMean = 1,
}
