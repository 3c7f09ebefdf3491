using System;
using System.Diagnostics;
using System.Threading;
using Aced.Core;

namespace Aced.Selection;

/// <summary>
/// Online batch selection: picks a sub-batch of b examples from a super-batch of B by scoring them with the
/// student and/or the reference model (ACID/ACED, JEST, RHO-loss, Selective-Backprop, Bad-Students).
/// </summary>
/// <remarks>
/// <para><b>Joint sampler</b> (default, JEST's blocked Gibbs sampling): the b examples are drawn in n chunks.
/// The first chunk is drawn from the independent scores; each later chunk from the conditional score
/// <c>s(M u {x}) - s(M)</c> of every remaining candidate given the members M chosen so far (see
/// <see cref="Scorers"/> for the exact formulas). Within a chunk, draws are without replacement with
/// probability proportional to <c>exp(tau * score)</c> (Gumbel-top-k in log space), or the top scores when
/// <see cref="ActiveBatchSamplerOptions.Greedy"/>. Chosen members get logit negative infinity and are never
/// drawn again. When n does not divide b, the first <c>b mod n</c> chunks take one extra example.</para>
/// <para><b>Cost</b>: sigmoid O(B·b·d) time (four fused products per chunk for learnability,
/// <c>8·B·b·d·(n-1)/n</c> flops), softmax the same products plus O(B·b·n/2) element-wise work, because every
/// member's log-sum-exp changes as the batch grows, with a logit cache of up to B x b floats per direction and model
/// bounded by <see cref="ActiveBatchSamplerOptions.SoftmaxLogitCacheBytes"/> (rows beyond it cost O(B·b·d·n/2) as
/// without the cache); otherwise extra memory O(B + b·d), never a B x B matrix.</para>
/// <para><b>Ties</b>: equal scores are equally likely under sampling (the Gumbel noise breaks ties); greedy and
/// top-k break exact ties towards the lower index, so all-equal scores select indices 0..b-1.</para>
/// <para><b>Determinism</b>: step t draws from <c>new CounterRng(Seed, t)</c>. <see cref="Sample(SuperBatch)"/>
/// uses and then advances the internal <see cref="Step"/> counter; <see cref="Sample(SuperBatch, long)"/> takes
/// the step explicitly (for resuming). Scores are computed with a fixed work partition, so the same seed and
/// step give the same selection whatever <see cref="GemmControl.MaxDegreeOfParallelism"/> is.</para>
/// <para><b>Reuse</b>: one instance per training loop; workspaces grow to the largest super-batch seen and are
/// reused, so steady-state calls allocate nothing. The returned <see cref="SelectionResult"/> is overwritten by
/// the next call. Not thread-safe: a call while another thread is inside <c>Sample</c> on the same instance throws
/// <see cref="InvalidOperationException"/> (a cheap interlocked flag) instead of returning a corrupted selection.</para>
/// </remarks>
public sealed class ActiveBatchSampler
{
    private readonly ActiveBatchSamplerOptions _options;
    private readonly ConditionalScorer _scorer = new();
    private readonly SelectionResult _result = new();
    private double[] _conditional = Array.Empty<double>();
    private float[] _logits = Array.Empty<float>();
    private float[] _scratch = Array.Empty<float>();
    private int[] _intScratch = Array.Empty<int>();
    private int[] _halfIndices = Array.Empty<int>();
    private float[] _halfKeys = Array.Empty<float>();
    private bool[] _isMember = Array.Empty<bool>();
    private int _inUse;

    /// <summary>Creates a sampler; the options are copied and validated.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is invalid (the message names it).</exception>
    public ActiveBatchSampler(ActiveBatchSamplerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Clone();
        _options.Validate();
    }

    /// <summary>Creates a sampler with the default options except for the given sub-batch size and seed.</summary>
    public ActiveBatchSampler(int batchSize, ulong seed = 0)
        : this(new ActiveBatchSamplerOptions { BatchSize = batchSize, Seed = seed })
    {
    }

    /// <summary>A copy of the options in use.</summary>
    public ActiveBatchSamplerOptions Options => _options.Clone();

    /// <summary>The step number the next <see cref="Sample(SuperBatch)"/> will use (starts at 0).</summary>
    public long Step { get; set; }

    /// <summary>Selects a sub-batch using the internal step counter, then advances it.</summary>
    /// <inheritdoc cref="Sample(SuperBatch, long)"/>
    public SelectionResult Sample(SuperBatch superBatch)
    {
        Enter();
        try
        {
            SelectionResult result = SampleCore(superBatch, Step);
            Step++;
            return result;
        }
        finally
        {
            Volatile.Write(ref _inUse, 0);
        }
    }

    /// <summary>Selects a sub-batch from <paramref name="superBatch"/> using the random stream of <paramref name="step"/>.</summary>
    /// <returns>The chosen indices in selection order, their scores and diagnostics (overwritten by the next call).</returns>
    /// <exception cref="ArgumentException">
    /// The super-batch lacks a model the scoring needs, contains NaN or infinity or a row whose L2 norm is not 1 within <see cref="ActiveBatchSamplerOptions.NormTolerance"/> (the message names the model, the tower and the row), its logit scale or bias is so large
    /// that the scores overflow (parameter name <c>superBatch</c>), B &lt; b, or Chunks &gt; b.
    /// </exception>
    /// <exception cref="InvalidOperationException">Another thread is inside <c>Sample</c> on this instance.</exception>
    public SelectionResult Sample(SuperBatch superBatch, long step)
    {
        Enter();
        try
        {
            return SampleCore(superBatch, step);
        }
        finally
        {
            Volatile.Write(ref _inUse, 0);
        }
    }

    /// <summary>Test seam: runs inside <c>Sample</c> after the instance is taken, so a test can hold it there.</summary>
    internal Action? InsideSampleHook { get; set; }

    /// <summary>Takes the instance for one call, or throws if another thread holds it (as .NET collections detect misuse).</summary>
    private void Enter()
    {
        if (Interlocked.Exchange(ref _inUse, 1) != 0)
        {
            throw new InvalidOperationException("This ActiveBatchSampler is already sampling on another thread; it is not thread-safe. Use one instance per thread (or serialise the calls).");
        }

        InsideSampleHook?.Invoke();
    }

    private SelectionResult SampleCore(SuperBatch superBatch, long step)
    {
        ArgumentNullException.ThrowIfNull(superBatch);
        long start = Stopwatch.GetTimestamp();
        int count = superBatch.Count;
        int b = _options.ResolveBatchSize(count);
        bool needsScores = _options.Sampler != SamplerKind.Uniform;
        bool haveScores = true;
        if (needsScores)
        {
            Scorers.EnsureModels(superBatch, _options.Scoring);
        }
        else
        {
            (double ws, double wr) = ConditionalScorer.Weights(_options.Scoring);
            haveScores = (ws == 0 || superBatch.HasStudent) && (wr == 0 || superBatch.HasReference);
        }

        Prepare(count, b);
        var rng = new CounterRng(_options.Seed, unchecked((ulong)step));
        int chunks = _options.Sampler == SamplerKind.Joint ? _options.Chunks : 1;
        double tau = _options.Temperature;
        Span<int> chosen = _result.IndexBuffer.AsSpan(0, b);
        Span<float> chosenScores = _result.ScoreBuffer.AsSpan(0, b);
        Span<float> logits = _logits.AsSpan(0, count);
        Span<double> conditional = _conditional.AsSpan(0, count);
        Span<bool> isMember = _isMember.AsSpan(0, count);
        isMember.Clear();

        int capacity = _options.ScoreLoss == ScoreLoss.PairSimilarity || chunks == 1 ? 0 : b;
        bool studentVerified = false, referenceVerified = false;
        if (haveScores)
        {
            // The independent scores read every embedding once; their finite dot products double as the NaN/Inf
            // check, so only a model they did not cover (or a failed check, to name the row) is scanned again.
            _scorer.Begin(superBatch, _options.Scoring, _options.ScoreLoss, capacity, _options.NormTolerance, _options.SoftmaxLogitCacheBytes);
            studentVerified = _scorer.StudentVerifiedFinite;
            referenceVerified = _scorer.ReferenceVerifiedFinite;
        }

        if (superBatch.HasStudent && !studentVerified)
        {
            superBatch.Student.EnsureFiniteAndUnitNorm("superBatch.Student", "student", _options.NormTolerance);
        }

        if (superBatch.HasReference && !referenceVerified)
        {
            superBatch.Reference.EnsureFiniteAndUnitNorm("superBatch.Reference", "reference", _options.NormTolerance);
        }

        switch (_options.Sampler)
        {
            case SamplerKind.Uniform:
                Sampling.UniformWithoutReplacement(count, b, ref rng, chosen, _intScratch);
                for (int i = 0; i < b; i++)
                {
                    chosenScores[i] = haveScores ? (float)_scorer.Independent[chosen[i]] : float.NaN;
                }

                break;
            case SamplerKind.TopK:
                CopyIndependent(logits, 1.0);
                Sampling.TopK(logits, b, chosen, _scratch);
                FillScores(chosen, chosenScores);
                break;
            case SamplerKind.LossPercentile:
                PercentileLogits(logits, _options.PercentilePower);
                Sampling.GumbelTopKInHalves(logits, b, ref rng, chosen, _scratch, _halfIndices, _halfKeys);
                FillScores(chosen, chosenScores);
                break;
            case SamplerKind.Independent:
                CopyIndependent(logits, tau);
                Sampling.GumbelTopKInHalves(logits, b, ref rng, chosen, _scratch, _halfIndices, _halfKeys);
                FillScores(chosen, chosenScores);
                break;
            default:
                SampleJoint(b, chunks, tau, ref rng, chosen, chosenScores, logits, conditional, isMember);
                break;
        }

        for (int i = 0; i < b; i++)
        {
            isMember[chosen[i]] = true;
        }

        _result.CountValue = b;
        FillDiagnostics(step, count, b, chunks, haveScores, isMember, start);
        return _result;
    }

    private void SampleJoint(int b, int chunks, double tau, ref CounterRng rng, Span<int> chosen, Span<float> chosenScores, Span<float> logits, Span<double> conditional, Span<bool> isMember)
    {
        int filled = 0;
        for (int k = 0; k < chunks; k++)
        {
            int size = ActiveBatchSamplerOptions.ChunkSize(b, chunks, k);
            _scorer.Conditional(conditional);
            double factor = ChunkFactor(_options, filled, tau);
            if (!ChunkLogits(conditional, isMember, factor, logits))
            {
                ThrowOverflow(logits, isMember, tau);
            }

            Span<int> chunk = chosen.Slice(filled, size);
            if (_options.Greedy)
            {
                Sampling.TopK(logits, size, chunk, _scratch);
            }
            else
            {
                Sampling.GumbelTopKInHalves(logits, size, ref rng, chunk, _scratch, _halfIndices, _halfKeys);
            }

            for (int i = 0; i < size; i++)
            {
                isMember[chunk[i]] = true;
                chosenScores[filled + i] = (float)conditional[chunk[i]];
            }

            filled += size;
            if (k < chunks - 1)
            {
                _scorer.AddMembers(chunk);
            }
        }
    }

    /// <summary>
    /// Selective-Backprop weights in log space: <c>beta * log CDF(s_x)</c>, CDF the fraction of scores &lt;= s_x
    /// (ties share the largest rank of their group). Sorts a copy of the scores with their indices in the sampler's
    /// scratch buffers: O(B log B), no allocation.
    /// </summary>
    private void PercentileLogits(Span<float> logits, double beta)
    {
        int count = logits.Length;
        Span<double> sorted = _conditional.AsSpan(0, count);
        Span<int> order = _intScratch.AsSpan(0, count);
        _scorer.Independent.CopyTo(sorted);
        for (int x = 0; x < count; x++)
        {
            order[x] = x;
        }

        sorted.Sort(order);
        int start = 0;
        while (start < count)
        {
            int end = start;
            while (end + 1 < count && sorted[end + 1] == sorted[start])
            {
                end++;
            }

            float logit = (float)(beta * Math.Log((end + 1) / (double)count));
            for (int i = start; i <= end; i++)
            {
                logits[order[i]] = logit;
            }

            start = end + 1;
        }
    }

    private void CopyIndependent(Span<float> logits, double factor)
    {
        if (!ChunkLogits(_scorer.Independent, default, factor, logits))
        {
            ThrowOverflow(logits, default, factor);
        }
    }

    /// <summary>
    /// The factor multiplying the raw conditional score of a joint-sampler chunk given <paramref name="filled"/>
    /// members: the temperature, divided by the number of loss terms under <see cref="ScoreNormalization.PerTermMean"/>.
    /// Shared with the sharded sampler so both draw from the same logits.
    /// </summary>
    internal static double ChunkFactor(ActiveBatchSamplerOptions options, int filled, double tau)
    {
        // Per-term mean: one unit for every loss, the example; 1 + k with k members (see ScoreNormalization).
        double divisor = options.Normalization == ScoreNormalization.PerTermMean ? 1 + (double)filled : 1;
        if (options.ScoreLoss == ScoreLoss.PairSimilarity)
        {
            divisor = 1;
        }

        return tau / divisor;
    }

    /// <summary>
    /// Writes <c>(float)(factor * score)</c> to <paramref name="logits"/>, negative infinity for members (when
    /// <paramref name="isMember"/> is not empty); returns false when a non-member's logit overflows.
    /// </summary>
    internal static bool ChunkLogits(ReadOnlySpan<double> scores, ReadOnlySpan<bool> isMember, double factor, Span<float> logits)
    {
        bool finite = true;
        if (isMember.IsEmpty)
        {
            for (int x = 0; x < logits.Length; x++)
            {
                float value = (float)(factor * scores[x]);
                finite &= float.IsFinite(value);
                logits[x] = value;
            }

            return finite;
        }

        for (int x = 0; x < logits.Length; x++)
        {
            float value = (float)(factor * scores[x]);
            finite &= isMember[x] || float.IsFinite(value);
            logits[x] = isMember[x] ? float.NegativeInfinity : value;
        }

        return finite;
    }

    /// <summary>
    /// Finite embeddings with a huge (but finite) logit scale or bias overflow the float32 logits or the scores; name
    /// the cause instead of letting the draw fail on an internal buffer.
    /// </summary>
    internal static void ThrowOverflow(ReadOnlySpan<float> logits, ReadOnlySpan<bool> isMember, double factor)
    {
        int x = 0;
        while (x < logits.Length && ((!isMember.IsEmpty && isMember[x]) || float.IsFinite(logits[x])))
        {
            x++;
        }

        string value = x < logits.Length ? logits[x].ToString(System.Globalization.CultureInfo.InvariantCulture) : "non-finite";
        Guard.ThrowArgument(
            "superBatch",
            $"the selection score of example {x} times the temperature {factor.ToString(System.Globalization.CultureInfo.InvariantCulture)} is {value}: the logit scale or bias of the student or reference is too large for float32 logits; use L2-normalised embeddings with a scale a = exp(t) and bias c of moderate size (e.g. a <= 1e4), or a lower Temperature");
    }

    private void FillScores(ReadOnlySpan<int> chosen, Span<float> scores)
    {
        ReadOnlySpan<double> independent = _scorer.Independent;
        for (int i = 0; i < chosen.Length; i++)
        {
            scores[i] = (float)independent[chosen[i]];
        }
    }

    private void Prepare(int count, int b)
    {
        ConditionalScorer.Grow(ref _conditional, count);
        ConditionalScorer.Grow(ref _logits, count);
        ConditionalScorer.Grow(ref _scratch, count);
        ConditionalScorer.Grow(ref _intScratch, count);
        ConditionalScorer.Grow(ref _halfIndices, b);
        ConditionalScorer.Grow(ref _halfKeys, b);
        ConditionalScorer.Grow(ref _isMember, count);
        ConditionalScorer.Grow(ref _result.IndexBuffer, b);
        ConditionalScorer.Grow(ref _result.ScoreBuffer, b);
    }

    private void FillDiagnostics(long step, int count, int b, int chunks, bool haveScores, ReadOnlySpan<bool> isMember, long start)
    {
        SelectionDiagnostics d = _result.Diagnostics;
        ScoreMoments.FillHeader(d, step, count, b, chunks);
        if (!haveScores)
        {
            ScoreMoments.FillUnscored(d, count);
        }
        else
        {
            ReadOnlySpan<double> s = _scorer.Independent.Slice(0, count);
            var moments = ScoreMoments.Of(s, isMember);
            double tau = _options.Sampler == SamplerKind.Uniform ? 0 : _options.Temperature;
            moments.AddWeights(s, _logits, _options.Sampler == SamplerKind.LossPercentile, tau);
            moments.Fill(d, count, b);
        }

        d.Seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
    }
}
