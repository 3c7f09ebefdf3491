using System;
using Aced.Core;

namespace Aced.Selection;

/// <summary>
/// Options of an <see cref="ActiveBatchSampler"/>. Defaults are those of the ACED paper: learnability
/// scoring of the sigmoid loss, joint sampling in 16 chunks, temperature 10, filtering ratio 0.8.
/// Validated once when the sampler is built (and B-dependent checks on every <c>Sample</c>).
/// </summary>
public sealed class ActiveBatchSamplerOptions
{
    /// <summary>Default <see cref="FilterRatio"/>.</summary>
    public const double DefaultFilterRatio = 0.8;

    /// <summary>Default <see cref="Chunks"/>.</summary>
    public const int DefaultChunks = 16;

    /// <summary>Default <see cref="Temperature"/>.</summary>
    public const double DefaultTemperature = 10;

    /// <summary>Default <see cref="NormTolerance"/>: every embedding row must have L2 norm in [0.999, 1.001].</summary>
    public const double DefaultNormTolerance = 1e-3;

    /// <summary>Default <see cref="SoftmaxLogitCacheBytes"/>: 256 MiB.</summary>
    public const long DefaultSoftmaxLogitCacheBytes = 256L * 1024 * 1024;

    /// <summary>
    /// Default <see cref="PercentilePower"/> (beta = 3). Jiang et al. (2019) run Selective-Backprop with beta in
    /// {1, 2, 3}; a uniform percentile gives an expected acceptance of <c>1 / (1 + beta)</c>, so 3 (25%) is their
    /// setting closest to the ACED filtering ratio f = 0.8 (20% kept).
    /// </summary>
    public const double DefaultPercentilePower = 3;

    /// <summary>
    /// Sub-batch size b. When null (default) it follows from <see cref="FilterRatio"/> and the super-batch size:
    /// <c>b = max(1, round(B * (1 - f)))</c>. When set, it wins and the reported filter ratio is <c>1 - b/B</c>.
    /// </summary>
    public int? BatchSize { get; set; }

    /// <summary>Filtering ratio <c>f = 1 - b/B</c> in (0, 1); default 0.8 (keep one example in five).</summary>
    public double FilterRatio { get; set; } = DefaultFilterRatio;

    /// <summary>
    /// Number of chunks n of the joint sampler, 1 &lt;= n &lt;= b (default 16; n = 1 is independent sampling;
    /// ignored by the other samplers).
    /// When n does not divide b, the first <c>b mod n</c> chunks take one extra example.
    /// </summary>
    public int Chunks { get; set; } = DefaultChunks;

    /// <summary>Temperature tau &gt; 0 multiplying the score: draws are proportional to <c>exp(tau * score)</c> (default 10).</summary>
    public double Temperature { get; set; } = DefaultTemperature;

    /// <summary>How scores are formed from the two models' losses (default learnability).</summary>
    public ScoringMethod Scoring { get; set; } = ScoringMethod.Learnability;

    /// <summary>Which contrastive loss defines the scores (default sigmoid); ignored when <see cref="PairSimilarityProxy"/> is set.</summary>
    public ContrastiveKind Loss { get; set; } = ContrastiveKind.Sigmoid;

    /// <summary>
    /// Score with the cheap ActiveCLIP proxy of Bad-Students instead of <see cref="Loss"/>: <c>L(x) = -&lt;img_x, txt_x&gt;</c>,
    /// the negated similarity of the positive pair only (no scale, bias or negatives). Additive over a batch, so the
    /// joint sampler reduces to independent sampling. Default false.
    /// </summary>
    public bool PairSimilarityProxy { get; set; }

    /// <summary>Which sampler draws the sub-batch (default joint).</summary>
    public SamplerKind Sampler { get; set; } = SamplerKind.Joint;

    /// <summary>
    /// <see cref="SamplerKind.LossPercentile"/> only: the selectivity beta &gt; 0 of Selective-Backprop; a candidate's
    /// weight is its score percentile to the power beta (default <see cref="DefaultPercentilePower"/>).
    /// </summary>
    public double PercentilePower { get; set; } = DefaultPercentilePower;

    /// <summary>Joint sampler only: take each chunk as the top conditional scores instead of sampling (default false).</summary>
    public bool Greedy { get; set; }

    /// <summary>Joint sampler only: raw JEST sum (default) or per-example mean of the conditional score (divided by 1 + k for k members chosen).</summary>
    public ScoreNormalization Normalization { get; set; } = ScoreNormalization.Sum;

    /// <summary>
    /// How far from 1 the L2 norm of every embedding row may be: <c>|‖row‖ - 1| &lt;= NormTolerance</c> (default 1e-3,
    /// loose enough for float16 caches). The selection formulas assume L2-normalised embeddings, so each
    /// <c>Sample</c> checks every image and text row of every model present, in the same pass as the NaN/infinity
    /// check, and throws naming the model, the tower and the row. <see cref="double.PositiveInfinity"/> turns the
    /// norm check off (the finite check stays).
    /// </summary>
    public double NormTolerance { get; set; } = DefaultNormTolerance;

    /// <summary>Seed of the random stream; step t draws from stream t of this seed (default 0).</summary>
    public ulong Seed { get; set; }

    /// <summary>The per-model loss of the scores: <see cref="Loss"/>, or the pair-similarity proxy.</summary>
    internal ScoreLoss ScoreLoss => PairSimilarityProxy ? ScoreLoss.PairSimilarity : (ScoreLoss)Loss;

    /// <summary>
    /// Memory budget in bytes of the softmax joint sampler's logit cache (default 256 MiB; 0 turns the cache off).
    /// The softmax conditional score needs, every chunk, each candidate's logits against all members so far; the cache
    /// keeps them (float32, B rows x b members, both directions, per scored model: about <c>16·B·b</c> bytes for
    /// learnability, <c>8·B·b</c> for one model; rows are padded by 16 to 31 floats) so a chunk computes only the new
    /// members' logits, O(B·|chunk|·d), instead of all members', O(B·|M|·d). When the whole cache does not fit, the
    /// first rows that fit are cached and the rest recomputed (the previous cost for those rows). With the managed GEMM
    /// provider (the default) a cached row keeps each logit's <c>exp(l - t_m)</c> instead (<c>t_m</c> the member's
    /// positive logit; the same bytes per row), which spares each chunk's pass over all members one exponential per
    /// term: the fastest selection needs about <c>16·B·b</c> bytes (81 MiB at B = 5120, b = 1024). With another provider
    /// the cache keeps the logits, and what they leave of the budget keeps the exponentials of the first rows again
    /// (about <c>32·B·b</c> bytes for the fastest selection). With the managed GEMM provider the scores are
    /// bit-identical with any budget (the cached values are the fused product's, folded in the same column tiles, and
    /// every path evaluates the same per-term function); never a B x B matrix.
    /// The cache is native memory outside the GC heap (aligned to 2 MiB; on Linux advised for transparent huge pages),
    /// kept by the sampler for reuse and freed when the sampler is collected.
    /// </summary>
    public long SoftmaxLogitCacheBytes { get; set; } = DefaultSoftmaxLogitCacheBytes;

    /// <summary>A copy of these options.</summary>
    public ActiveBatchSamplerOptions Clone() => (ActiveBatchSamplerOptions)MemberwiseClone();

    /// <summary>Throws naming the first invalid option.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is outside its documented range.</exception>
    internal void Validate()
    {
        if (BatchSize is int b && b < 1)
        {
            Guard.ThrowOutOfRange(nameof(BatchSize), b, "must be at least 1 (or null to derive it from FilterRatio)");
        }

        if (!double.IsFinite(FilterRatio) || FilterRatio <= 0 || FilterRatio >= 1)
        {
            Guard.ThrowOutOfRange(nameof(FilterRatio), FilterRatio, "must lie strictly between 0 and 1 (f = 1 - b/B; 0.8 keeps one in five)");
        }

        if (Chunks < 1)
        {
            Guard.ThrowOutOfRange(nameof(Chunks), Chunks, "must be at least 1 (1 = independent sampling; 16 is the default)");
        }

        if (BatchSize is int bs && Chunks > bs && Sampler == SamplerKind.Joint)
        {
            Guard.ThrowOutOfRange(nameof(Chunks), Chunks, $"must not exceed BatchSize {bs} (each chunk needs at least one example)");
        }

        if (!double.IsFinite(Temperature) || Temperature <= 0)
        {
            Guard.ThrowOutOfRange(nameof(Temperature), Temperature, "must be a finite positive number (10 is the default; larger filters harder)");
        }

        if (double.IsNaN(NormTolerance) || NormTolerance <= 0)
        {
            Guard.ThrowOutOfRange(nameof(NormTolerance), NormTolerance, "must be positive (1e-3 is the default; PositiveInfinity turns the norm check off)");
        }

        if (!double.IsFinite(PercentilePower) || PercentilePower <= 0)
        {
            Guard.ThrowOutOfRange(nameof(PercentilePower), PercentilePower, "must be a finite positive number (Selective-Backprop's beta; 1, 2 or 3 in its paper, 3 by default)");
        }

        if (SoftmaxLogitCacheBytes < 0)
        {
            Guard.ThrowOutOfRange(nameof(SoftmaxLogitCacheBytes), SoftmaxLogitCacheBytes, "must be >= 0 (bytes; 0 turns the softmax logit cache off, 256 MiB is the default)");
        }

        if (!Enum.IsDefined(Scoring))
        {
            Guard.ThrowOutOfRange(nameof(Scoring), Scoring, "is not a defined ScoringMethod");
        }

        if (!Enum.IsDefined(Loss))
        {
            Guard.ThrowOutOfRange(nameof(Loss), Loss, "is not a defined ContrastiveKind (Sigmoid or Softmax)");
        }

        if (!Enum.IsDefined(Sampler))
        {
            Guard.ThrowOutOfRange(nameof(Sampler), Sampler, "is not a defined SamplerKind");
        }

        if (!Enum.IsDefined(Normalization))
        {
            Guard.ThrowOutOfRange(nameof(Normalization), Normalization, "is not a defined ScoreNormalization");
        }
    }

    /// <summary>The sub-batch size for a super-batch of <paramref name="superBatchSize"/> examples.</summary>
    /// <exception cref="ArgumentOutOfRangeException">B &lt; b, or n &gt; b for the joint sampler.</exception>
    internal int ResolveBatchSize(int superBatchSize)
    {
        int b = BatchSize ?? Math.Max(1, (int)Math.Round(superBatchSize * (1 - FilterRatio)));
        if (superBatchSize < b)
        {
            Guard.ThrowOutOfRange(nameof(BatchSize), b, $"exceeds the super-batch size B = {superBatchSize}; give a larger super-batch or a smaller BatchSize");
        }

        if (Chunks > b && Sampler == SamplerKind.Joint)
        {
            Guard.ThrowOutOfRange(nameof(Chunks), Chunks, $"exceeds the sub-batch size b = {b}; use at most b chunks");
        }

        return b;
    }

    /// <summary>Size of chunk <paramref name="chunk"/> of n when splitting b: <c>b / n</c>, plus one for the first <c>b mod n</c> chunks.</summary>
    internal static int ChunkSize(int batchSize, int chunks, int chunk) => (batchSize / chunks) + (chunk < batchSize % chunks ? 1 : 0);
}
