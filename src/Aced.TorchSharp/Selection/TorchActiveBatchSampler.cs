using System;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Aced.Core;
using Aced.Selection;
using TorchSharp;
using static TorchSharp.torch;

namespace Aced.TorchSharp.Selection;

/// <summary>
/// Online batch selection on tensors (any device): the same samplers, scorers, losses, score normalisations,
/// options and presets as the managed <see cref="ActiveBatchSampler"/> — the joint blocked-Gibbs sampler (default),
/// independent Gumbel-top-k, top-k and uniform — over student/reference embedding tensors.
/// </summary>
/// <remarks>
/// <para><b>Same selection as the managed sampler</b>: step t draws from <c>new CounterRng(Seed, t)</c> exactly as
/// <see cref="ActiveBatchSampler"/> does — B Gumbel variates per sampled chunk, generated on the host and uploaded
/// (B doubles per chunk), keys <c>(logit - max) - log(-log u)</c> rounded to float32, ties to the lower index — so the
/// same seed, step and embeddings give the same indices, up to float rounding of the scores (different summation
/// order of the dot products can reorder two candidates whose keys differ in the last bits).</para>
/// <para><b>Cost</b>: torch ops only (mm, softplus, logsumexp, logaddexp, sort, index ops); the scores live in
/// float64 B-vectors on the device; products are taken in the embeddings' dtype against blocks of at most one chunk
/// of members, so memory is O(B·d + B·c), never B x B; no tensor is copied to the host during the chunks. One
/// device-to-host synchronisation at the start (finite check) and one at the end (overflow check).</para>
/// <para>Not thread-safe; one instance per training loop.</para>
/// </remarks>
public sealed class TorchActiveBatchSampler
{
    private readonly ActiveBatchSamplerOptions _options;
    private double[] _gumbel = Array.Empty<double>();

    /// <summary>Creates a sampler; the options are copied and validated (same rules as <see cref="ActiveBatchSampler"/>).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is invalid (the message names it).</exception>
    public TorchActiveBatchSampler(ActiveBatchSamplerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Clone();
        _options.Validate();
    }

    /// <summary>Creates a sampler with a method preset's selection options (e.g. <c>MethodPreset.For(TrainingMethod.HAcid)</c>).</summary>
    /// <exception cref="ArgumentException">The preset selects no sub-batch (IID baseline, Softmax-KD).</exception>
    public TorchActiveBatchSampler(MethodPreset preset, int batchSize, ulong seed = 0)
        : this(PresetOptions(preset, batchSize, seed))
    {
    }

    /// <summary>The loss behind the scores: the pair-similarity proxy when set, else the contrastive kind.</summary>
    private TensorScoreLoss ScoreLoss => _options.PairSimilarityProxy ? TensorScoreLoss.PairSimilarity : (TensorScoreLoss)_options.Loss;

    /// <summary>A copy of the options in use.</summary>
    public ActiveBatchSamplerOptions Options => _options.Clone();

    /// <summary>The step number the next <see cref="Sample(TorchSuperBatch)"/> will use (starts at 0).</summary>
    public long Step { get; set; }

    /// <summary>Selects a sub-batch using the internal step counter, then advances it.</summary>
    /// <inheritdoc cref="Sample(TorchSuperBatch, long)"/>
    public TorchSelectionResult Sample(TorchSuperBatch superBatch)
    {
        TorchSelectionResult result = Sample(superBatch, Step);
        Step++;
        return result;
    }

    /// <summary>Selects a sub-batch from <paramref name="superBatch"/> using the random stream of <paramref name="step"/>.</summary>
    /// <returns>The chosen indices (int64, on the embeddings' device) in selection order and their scores; the caller disposes it.</returns>
    /// <exception cref="ArgumentException">
    /// The super-batch lacks a model the scoring needs (parameter <c>Scoring</c>), contains NaN or infinity, or its
    /// scale/bias overflow the float32 logits (parameter <c>superBatch</c>).
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException">B &lt; b, or Chunks &gt; b.</exception>
    public TorchSelectionResult Sample(TorchSuperBatch superBatch, long step)
    {
        ArgumentNullException.ThrowIfNull(superBatch);
        int count = superBatch.Count;
        int b = _options.ResolveBatchSize(count);
        (double ws, double wr) = Weights(_options.Scoring);
        bool haveScores = (ws == 0 || superBatch.Student is not null) && (wr == 0 || superBatch.Reference is not null);
        if (_options.Sampler != SamplerKind.Uniform)
        {
            EnsureModels(superBatch, ws, wr);
        }

        EnsureFiniteAndUnitNorm(superBatch.Student, "superBatch.Student", "student", _options.NormTolerance);
        EnsureFiniteAndUnitNorm(superBatch.Reference, "superBatch.Reference", "reference", _options.NormTolerance);

        var rng = new CounterRng(_options.Seed, unchecked((ulong)step));
        int chunks = _options.Sampler == SamplerKind.Joint ? _options.Chunks : 1;
        int block = (b + chunks - 1) / chunks;
        Device device = superBatch.Device;
        using var scope = torch.NewDisposeScope();
        TensorConditionalScorer? scorer = haveScores ? new TensorConditionalScorer(superBatch, _options.Scoring, ScoreLoss, block) : null;
        Tensor overflow = torch.zeros(1, dtype: ScalarType.Bool, device: device);
        Tensor indices;
        Tensor scores;
        switch (_options.Sampler)
        {
            case SamplerKind.Uniform:
                indices = Uniform(count, b, ref rng, device);
                scores = scorer is null
                    ? torch.full(b, float.NaN, dtype: ScalarType.Float32, device: device)
                    : scorer.Independent.index_select(0, indices).to_type(ScalarType.Float32);
                break;
            case SamplerKind.TopK:
            {
                Tensor logits = ToLogits(scorer!.Independent, 1.0, null, overflow);
                indices = Descending(logits, b);
                scores = scorer.Independent.index_select(0, indices).to_type(ScalarType.Float32);
                break;
            }

            case SamplerKind.LossPercentile:
            {
                Tensor logits = PercentileLogits(scorer!.Independent, _options.PercentilePower);
                indices = Descending(GumbelKeys(logits, ref rng), b);
                scores = scorer.Independent.index_select(0, indices).to_type(ScalarType.Float32);
                break;
            }

            case SamplerKind.Independent:
            {
                Tensor logits = ToLogits(scorer!.Independent, _options.Temperature, null, overflow);
                indices = Descending(GumbelKeys(logits, ref rng), b);
                scores = scorer.Independent.index_select(0, indices).to_type(ScalarType.Float32);
                break;
            }

            default:
                (indices, scores) = SampleJoint(scorer!, count, b, chunks, ref rng, overflow, device);
                break;
        }

        if (overflow.item<bool>())
        {
            throw new ArgumentException($"the selection scores times the temperature {_options.Temperature.ToString(System.Globalization.CultureInfo.InvariantCulture)} overflow float32 logits: the logit scale or bias of the student or reference is too large; use L2-normalised embeddings with a scale a = exp(t) and bias c of moderate size (e.g. a <= 1e4), or a lower Temperature", nameof(superBatch));
        }

        Tensor? independent = scorer?.Independent.to_type(ScalarType.Float32);
        return new TorchSelectionResult(
            step,
            indices.MoveToOuterDisposeScope(),
            scores.MoveToOuterDisposeScope(),
            independent?.MoveToOuterDisposeScope());
    }

    private (Tensor Indices, Tensor Scores) SampleJoint(TensorConditionalScorer scorer, int count, int b, int chunks, ref CounterRng rng, Tensor overflow, Device device)
    {
        Tensor isMember = torch.zeros(count, dtype: ScalarType.Bool, device: device);
        var chunkIndices = new Tensor[chunks];
        var chunkScores = new Tensor[chunks];
        int filled = 0;
        for (int k = 0; k < chunks; k++)
        {
            int size = ActiveBatchSamplerOptions.ChunkSize(b, chunks, k);
            using (var chunkScope = torch.NewDisposeScope())
            {
                Tensor conditional = scorer.Conditional();
                // Per-example mean: 1 + k with k members, for every loss (pair similarity is never divided).
                double divisor = _options.Normalization == ScoreNormalization.PerTermMean && ScoreLoss != TensorScoreLoss.PairSimilarity
                    ? 1 + (double)filled
                    : 1;
                Tensor logits = ToLogits(conditional, _options.Temperature / divisor, isMember, overflow);
                Tensor keys = _options.Greedy ? logits : GumbelKeys(logits, ref rng);
                Tensor chunk = Descending(keys, size);
                isMember.index_fill_(0, chunk, true);
                chunkScores[k] = conditional.index_select(0, chunk).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
                chunkIndices[k] = chunk.MoveToOuterDisposeScope();
            }

            filled += size;
            if (k < chunks - 1)
            {
                // Outside the chunk's scope: the scorer's packed members must outlive it.
                scorer.AddMembers(chunkIndices[k]);
            }
        }

        return (torch.cat(chunkIndices, 0), torch.cat(chunkScores, 0));
    }

    /// <summary><c>(float)(factor * score)</c>, members set to negative infinity; flags non-finite non-member logits in <paramref name="overflow"/>.</summary>
    private static Tensor ToLogits(Tensor scores, double factor, Tensor? isMember, Tensor overflow)
    {
        Tensor logits = scores.mul(factor).to_type(ScalarType.Float32);
        Tensor bad = logits.isfinite().logical_not();
        if (isMember is not null)
        {
            bad = bad.logical_and(isMember.logical_not());
            logits = logits.masked_fill(isMember, float.NegativeInfinity);
        }

        overflow.logical_or_(bad.any().reshape(1));
        return logits;
    }

    /// <summary>
    /// Selective-Backprop weights in log space as the managed sampler: <c>(float)(beta * log CDF(s_x))</c> with CDF the
    /// fraction of scores &lt;= s_x (ties share the largest rank of their group).
    /// </summary>
    private static Tensor PercentileLogits(Tensor scores, double beta)
    {
        long count = scores.shape[0];
        (Tensor sorted, Tensor _) = scores.sort(0);
        Tensor ranks = torch.searchsorted(sorted, scores, right: true).to_type(ScalarType.Float64);
        return ranks.div((double)count).log().mul(beta).to_type(ScalarType.Float32);
    }

    /// <summary>
    /// Gumbel-top-k keys exactly as <see cref="Sampling.GumbelTopK"/>: B uniforms from the step's stream (members
    /// included, so the stream position does not depend on the scores), <c>g = log(-log u)</c> on the host, uploaded;
    /// <c>key = (float)((logit - max) - g)</c> in double with max the largest finite logit.
    /// </summary>
    private Tensor GumbelKeys(Tensor logits, ref CounterRng rng)
    {
        int n = (int)logits.shape[0];
        if (_gumbel.Length < n)
        {
            _gumbel = new double[n];
        }

        Span<double> g = _gumbel.AsSpan(0, n);
        for (int i = 0; i < n; i++)
        {
            g[i] = rng.NextDouble();
        }

        TensorPrimitives.Log(g, g);
        TensorPrimitives.Negate(g, g);
        TensorPrimitives.Log(g, g);
        using Tensor host = torch.tensor(_gumbel, new long[] { _gumbel.Length }).narrow(0, 0, n);
        Tensor noise = host.to(logits.device);
        Tensor wide = logits.to_type(ScalarType.Float64);
        // Members are -inf already, so the maximum is the largest finite logit.
        Tensor max = logits.max().to_type(ScalarType.Float64);
        return wide.sub(max).sub(noise).to_type(ScalarType.Float32);
    }

    /// <summary>The indices of the <paramref name="k"/> largest values, largest first, ties to the lower index (stable sort).</summary>
    private static Tensor Descending(Tensor values, int k)
    {
        (Tensor _, Tensor order) = values.sort(0, descending: true, stable: true);
        return order.narrow(0, 0, k);
    }

    private static Tensor Uniform(int count, int b, ref CounterRng rng, Device device)
    {
        int[] chosen = new int[b];
        Sampling.UniformWithoutReplacement(count, b, ref rng, chosen, new int[count]);
        long[] wide = new long[b];
        for (int i = 0; i < b; i++)
        {
            wide[i] = chosen[i];
        }

        using Tensor host = torch.tensor(wide, new long[] { b });
        return host.to(device);
    }

    /// <summary>Weights (student, reference) of the model losses in a score (as the managed scorer).</summary>
    internal static (double Student, double Reference) Weights(ScoringMethod scoring) => scoring switch
    {
        ScoringMethod.Learnability => (1, -1),
        ScoringMethod.EasyReference => (0, -1),
        ScoringMethod.Hard => (1, 0),
        ScoringMethod.Easy => (-1, 0),
        _ => throw new ArgumentOutOfRangeException(nameof(scoring), scoring, "is not a defined ScoringMethod"),
    };

    private void EnsureModels(TorchSuperBatch superBatch, double ws, double wr)
    {
        if (ws != 0 && superBatch.Student is null)
        {
            throw new ArgumentException($"{_options.Scoring} needs student embeddings but the super-batch has none; add them or use EasyReference", "Scoring");
        }

        if (wr != 0 && superBatch.Reference is null)
        {
            throw new ArgumentException($"{_options.Scoring} needs reference embeddings but the super-batch has none; add them or use Hard/Easy scoring", "Scoring");
        }
    }

    /// <summary>
    /// As the managed sampler: every row finite and (for a finite tolerance) of L2 norm within the tolerance of 1;
    /// one device-to-host synchronisation per model, the row is located only on failure.
    /// </summary>
    private static void EnsureFiniteAndUnitNorm(TorchModelEmbeddings? model, string name, string label, double tolerance)
    {
        if (model is null)
        {
            return;
        }

        CheckRows(model.Image, name, label, "image", tolerance);
        CheckRows(model.Text, name, label, "text", tolerance);
    }

    private static void CheckRows(Tensor rows, string name, string model, string tower, double tolerance)
    {
        using var scope = torch.NewDisposeScope();
        Tensor norms = rows.to_type(ScalarType.Float64).square().sum(1).sqrt();
        Tensor bad = norms.isfinite().logical_not();
        if (!double.IsPositiveInfinity(tolerance))
        {
            bad = bad.logical_or(norms.sub(1.0).abs().gt(tolerance));
        }

        if (!bad.any().item<bool>())
        {
            return;
        }

        long r = bad.to_type(ScalarType.Int64).argmax().item<long>();
        double norm = norms[r].item<double>();
        if (!double.IsFinite(norm))
        {
            throw new ArgumentException($"{model} {tower} embedding row {r} contains NaN or infinity; repair or drop that example before selection", name);
        }

        throw new ArgumentException($"{model} {tower} embedding row {r} has L2 norm {norm.ToString("G6", System.Globalization.CultureInfo.InvariantCulture)}, not 1 (within NormTolerance {tolerance.ToString(System.Globalization.CultureInfo.InvariantCulture)}); the selection assumes L2-normalised embeddings: normalise every row (torch.nn.functional.normalize) or raise ActiveBatchSamplerOptions.NormTolerance", name);
    }

    private static ActiveBatchSamplerOptions PresetOptions(MethodPreset preset, int batchSize, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(preset);
        ActiveBatchSamplerOptions options = preset.Selection
            ?? throw new ArgumentException($"{preset.Name} selects no sub-batch (it trains on uniform batches); use a selecting preset", nameof(preset));
        options.BatchSize = batchSize;
        options.Seed = seed;
        return options;
    }
}

/// <summary>The result of one <see cref="TorchActiveBatchSampler.Sample(TorchSuperBatch, long)"/>: tensors on the embeddings' device.</summary>
public sealed class TorchSelectionResult : IDisposable
{
    internal TorchSelectionResult(long step, Tensor indices, Tensor scores, Tensor? independentScores)
    {
        Step = step;
        Indices = indices;
        Scores = scores;
        IndependentScores = independentScores;
    }

    /// <summary>The step whose random stream was used.</summary>
    public long Step { get; }

    /// <summary>The chosen indices into the super-batch (int64, b), in selection order; use with <c>index_select</c>.</summary>
    public Tensor Indices { get; }

    /// <summary>The score of each chosen example when it was chosen (float32, b): the conditional score for the joint sampler, the independent score otherwise (NaN for uniform without scores).</summary>
    public Tensor Scores { get; }

    /// <summary>The independent score of every candidate (float32, B), or null when uniform sampling had no embeddings to score.</summary>
    public Tensor? IndependentScores { get; }

    /// <summary>b.</summary>
    public int Count => (int)Indices.shape[0];

    /// <summary>Copies the indices to the host.</summary>
    public long[] ToArray()
    {
        using Tensor host = Indices.cpu();
        return host.data<long>().ToArray();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Indices.Dispose();
        Scores.Dispose();
        IndependentScores?.Dispose();
    }
}

/// <summary>The loss behind the selection scores (Aced.Selection's internal ScoreLoss).</summary>
internal enum TensorScoreLoss
{
    Sigmoid = ContrastiveKind.Sigmoid,
    Softmax = ContrastiveKind.Softmax,
    PairSimilarity = 2,
}
