using System;
using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.ExceptionServices;
using Aced.Core;

namespace Aced.Selection.Distributed;

/// <summary>
/// The <see cref="ActiveBatchSampler"/> over a super-batch spread across W ranks: rank r holds rows
/// <c>[offset_r, offset_r + n_r)</c> of the global super-batch (ranks in order; the offsets follow from the
/// shard sizes), scores only those, and all ranks return the same global indices that one
/// <see cref="ActiveBatchSampler"/> with the same options would return over the whole super-batch,
/// bit for bit, for every sampler kind, scoring, loss and normalisation, whatever W is.
/// </summary>
/// <remarks>
/// <para><b>How</b>: per chunk each rank proposes its local best c keys (Gumbel-top-c of its candidates, the
/// Gumbel variate of global candidate x read at the same position of the counter-based stream as the single-process
/// sampler reads it, and the logits shifted by the global maximum), the ranks all-gather the W·c proposals and all
/// keep the same global top c. The new members' embeddings (c rows of 2d floats per model) are all-gathered so every
/// rank updates its candidates' conditional scores. For softmax the members' own log-sum-exps are their candidate
/// rows' running log-sum-exps, which the rank holding the member keeps: they are all-gathered (2 floats per member
/// and model).</para>
/// <para><b>Cost per chunk</b>: communication O(W·c + c·d) (one all-reduce of 2 doubles, one all-gather of 3c doubles
/// per rank, one all-gather of the c new members' rows; softmax adds one all-gather of the members' log-sum-exps per
/// model); compute O(n·c·d) per rank (softmax adds O(n·k) element-wise work with the logit cache, O(n·k·d) for rows
/// beyond it); memory O(n·d + b·d).
/// The uniform sampler draws on every rank (O(B) integers of scratch) and exchanges only the b scores; the
/// loss-percentile sampler all-gathers the B independent scores once (the percentiles are global ranks).</para>
/// <para><b>Errors</b>: before any work the ranks compare their options, seed, step, model dimensions, logit scales
/// and biases, and shard sizes; a mismatch or an empty shard throws <see cref="ArgumentException"/> with the same
/// message on every rank. An error on one rank during scoring (NaN embeddings, overflowing logits) is reported to
/// every rank: the failing rank throws the original exception, the others a <see cref="CollectiveException"/> naming
/// the rank and the message. A rank that dies makes the next collective time out on the others
/// (<see cref="ICollectives.Timeout"/>).</para>
/// <para><b>Reuse</b>: one instance per rank and training loop; the result is overwritten by the next call.
/// Not thread-safe.</para>
/// </remarks>
public sealed class ShardedBatchSampler
{
    private const int GumbelChunk = 256;
    private const int HeaderFields = 23;

    private static readonly string[] FieldNames =
    {
        "shard size", "student present", "student dimension", "student logit scale", "student logit bias",
        "reference present", "reference dimension", "reference logit scale", "reference logit bias",
        "Sampler", "Scoring", "Loss (or PairSimilarityProxy)", "Chunks", "Greedy", "Normalization", "Temperature", "Seed (high word)",
        "Seed (low word)", "BatchSize", "FilterRatio", "step", "PercentilePower", "NormTolerance",
    };

    private readonly ActiveBatchSamplerOptions _options;
    private readonly ICollectives _collectives;
    private readonly ConditionalScorer _scorer = new();

    /// <summary>The scorer of the last selection (tests inspect its softmax cache).</summary>
    internal ConditionalScorer Scorer => _scorer;
    private readonly SelectionResult _result = new();
    private readonly ShardStatistics _statistics = new();
    private double[] _header = Array.Empty<double>();
    private int[] _offsets = Array.Empty<int>();
    private double[] _conditional = Array.Empty<double>();
    private float[] _logits = Array.Empty<float>();
    private float[] _keys = Array.Empty<float>();
    private float[] _scratch = Array.Empty<float>();
    private int[] _local = Array.Empty<int>();
    private int[] _intScratch = Array.Empty<int>();
    private int[] _memberLocal = Array.Empty<int>();
    private bool[] _isMember = Array.Empty<bool>();
    private double[] _proposal = Array.Empty<double>();
    private double[] _proposals = Array.Empty<double>();
    private float[] _rows = Array.Empty<float>();
    private float[] _gatheredRows = Array.Empty<float>();
    private float[] _orderedRows = Array.Empty<float>();
    private int[] _counts = Array.Empty<int>();
    private int[] _cursor = Array.Empty<int>();
    private int[] _displacement = Array.Empty<int>();
    private double[] _reduce = new double[8];
    private double[] _allScores = Array.Empty<double>();

    /// <summary>Creates the sampler of this rank; every rank must pass the same options.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is invalid (the message names it).</exception>
    public ShardedBatchSampler(ActiveBatchSamplerOptions options, ICollectives collectives)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(collectives);
        _options = options.Clone();
        _options.Validate();
        _collectives = collectives;
        _scorer.MemberSlices = new MemberSliceSharing(this);
    }

    /// <summary>A copy of the options in use.</summary>
    public ActiveBatchSamplerOptions Options => _options.Clone();

    /// <summary>The step number the next <see cref="Sample(SuperBatch)"/> will use (starts at 0).</summary>
    public long Step { get; set; }

    /// <summary>Communication and timing of the last call on this rank (overwritten by the next call).</summary>
    public ShardStatistics Statistics => _statistics;

    /// <summary>Selects using the internal step counter, then advances it.</summary>
    /// <inheritdoc cref="Sample(SuperBatch, long)"/>
    public SelectionResult Sample(SuperBatch? shard)
    {
        SelectionResult result = Sample(shard, Step);
        Step++;
        return result;
    }

    /// <summary>
    /// Selects a sub-batch from the global super-batch whose rows <c>[offset, offset + n)</c> are this rank's
    /// <paramref name="shard"/>. Every rank must call this with the same options and step.
    /// </summary>
    /// <param name="shard">This rank's candidates (null or absent = no candidates, which is an error on every rank).</param>
    /// <param name="step">The random stream, as in <see cref="ActiveBatchSampler.Sample(SuperBatch, long)"/>.</param>
    /// <returns>
    /// The same on every rank: the global indices in selection order, their scores at draw time and the diagnostics
    /// (sums over the ranks, equal to the single-process ones up to rounding). Overwritten by the next call.
    /// </returns>
    /// <exception cref="ArgumentException">The ranks disagree, a shard is empty, or this rank's shard is invalid.</exception>
    /// <exception cref="CollectiveException">Another rank failed (the message names it) or did not answer in time.</exception>
    public SelectionResult Sample(SuperBatch? shard, long step)
    {
        long start = Stopwatch.GetTimestamp();
        _statistics.Reset();
        int rank = _collectives.Rank;
        int size = _collectives.Size;
        int n = shard?.Count ?? 0;
        ConditionalScorer.Grow(ref _header, HeaderFields * size);
        ConditionalScorer.Grow(ref _offsets, size);
        ConditionalScorer.Grow(ref _counts, 2 * size);
        int total = ExchangeHeader(shard, step, n);
        int offset = _offsets[rank];
        _statistics.Offset = offset;
        _statistics.Count = n;
        _statistics.SuperBatchSize = total;
        _statistics.Ranks = size;

        int b = _options.ResolveBatchSize(total);
        (double ws, double wr) = ConditionalScorer.Weights(_options.Scoring);
        bool haveScores = _options.Sampler != SamplerKind.Uniform || ((ws == 0 || shard!.HasStudent) && (wr == 0 || shard!.HasReference));
        int chunks = _options.Sampler == SamplerKind.Joint ? _options.Chunks : 1;
        int capacity = _options.ScoreLoss == ScoreLoss.PairSimilarity || chunks == 1 ? 0 : b;
        Prepare(n, b, size);

        Exception? failure = null;
        try
        {
            if (_options.Sampler != SamplerKind.Uniform)
            {
                Scorers.EnsureModels(shard!, _options.Scoring);
            }

            bool studentVerified = false, referenceVerified = false;
            if (haveScores)
            {
                _scorer.Begin(shard!, _options.Scoring, _options.ScoreLoss, capacity, _options.NormTolerance, _options.SoftmaxLogitCacheBytes);
                studentVerified = _scorer.StudentVerifiedFinite;
                referenceVerified = _scorer.ReferenceVerifiedFinite;
            }

            if (shard!.HasStudent && !studentVerified)
            {
                shard.Student.EnsureFiniteAndUnitNorm("superBatch.Student", "student", _options.NormTolerance);
            }

            if (shard.HasReference && !referenceVerified)
            {
                shard.Reference.EnsureFiniteAndUnitNorm("superBatch.Reference", "reference", _options.NormTolerance);
            }
        }
        catch (ArgumentException e)
        {
            failure = e;
        }

        Agree(failure, "scoring its shard");

        var rng = new CounterRng(_options.Seed, unchecked((ulong)step));
        Span<int> chosen = _result.IndexBuffer.AsSpan(0, b);
        Span<float> chosenScores = _result.ScoreBuffer.AsSpan(0, b);
        Span<bool> isMember = _isMember.AsSpan(0, n);
        isMember.Clear();
        double tau = _options.Temperature;
        switch (_options.Sampler)
        {
            case SamplerKind.Uniform:
                SampleUniform(total, b, offset, haveScores, ref rng, chosen, chosenScores);
                break;
            case SamplerKind.TopK:
            case SamplerKind.Independent:
                {
                    bool top = _options.Sampler == SamplerKind.TopK;
                    double factor = top ? 1.0 : tau;
                    Span<float> logits = _logits.AsSpan(0, n);
                    bool finite = ActiveBatchSampler.ChunkLogits(_scorer.Independent, default, factor, logits);
                    DrawChunk(logits, _scorer.Independent, default, finite, factor, top, 0, total, offset, step, chosen, chosenScores);
                    break;
                }

            case SamplerKind.LossPercentile:
                {
                    Span<float> logits = _logits.AsSpan(0, n);
                    PercentileLogits(logits, total);
                    DrawChunk(logits, _scorer.Independent, default, true, 1.0, false, 0, total, offset, step, chosen, chosenScores);
                    break;
                }

            default:
                SampleJoint(b, chunks, tau, total, offset, step, chosen, chosenScores);
                break;
        }

        for (int i = 0; i < b; i++)
        {
            int local = chosen[i] - offset;
            if ((uint)local < (uint)n)
            {
                isMember[local] = true;
            }
        }

        _result.CountValue = b;
        FillDiagnostics(step, total, b, chunks, haveScores, n, start);
        _statistics.Seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return _result;
    }

    private void SampleJoint(int b, int chunks, double tau, int total, int offset, long step, Span<int> chosen, Span<float> chosenScores)
    {
        int n = _statistics.Count;
        Span<double> conditional = _conditional.AsSpan(0, n);
        Span<float> logits = _logits.AsSpan(0, n);
        Span<bool> isMember = _isMember.AsSpan(0, n);
        int filled = 0;
        for (int k = 0; k < chunks; k++)
        {
            int size = ActiveBatchSamplerOptions.ChunkSize(b, chunks, k);
            _scorer.Conditional(conditional);
            double factor = ActiveBatchSampler.ChunkFactor(_options, filled, tau);
            bool finite = ActiveBatchSampler.ChunkLogits(conditional, isMember, factor, logits);
            Span<int> chunk = chosen.Slice(filled, size);
            DrawChunk(logits, conditional, isMember, finite, tau, _options.Greedy, (long)k * total, total, offset, step, chunk, chosenScores.Slice(filled, size));
            for (int i = 0; i < size; i++)
            {
                int local = chunk[i] - offset;
                if ((uint)local < (uint)n)
                {
                    isMember[local] = true;
                }
            }

            filled += size;
            if (k < chunks - 1)
            {
                ShareMembers(chunk, offset, n);
            }

            _statistics.Chunks++;
        }
    }

    /// <summary>
    /// One draw of <c>chunk.Length</c> global indices: local top keys, all-gather of the proposals, the same global
    /// top on every rank. <paramref name="position"/> is the index (in doubles) of global candidate 0's uniform
    /// variate in the step's stream.
    /// </summary>
    private void DrawChunk(Span<float> logits, ReadOnlySpan<double> scores, ReadOnlySpan<bool> isMember, bool finite, double overflowFactor, bool top, long position, int total, int offset, long step, Span<int> chunk, Span<float> chunkScores)
    {
        int n = logits.Length;
        int c = chunk.Length;
        int size = _collectives.Size;

        // One reduction carries the overflow flag and (for sampling) the global maximum logit of the Gumbel shift.
        _reduce[0] = finite ? 0 : 1;
        _reduce[1] = top || n == 0 ? double.NegativeInfinity : TensorPrimitives.Max(logits);
        Reduce(_reduce.AsSpan(0, 2), ReduceOperation.Max);
        if (_reduce[0] != 0)
        {
            Exception? failure = null;
            if (!finite)
            {
                try
                {
                    ActiveBatchSampler.ThrowOverflow(logits, isMember, overflowFactor);
                }
                catch (ArgumentException e)
                {
                    failure = e;
                }
            }

            Agree(failure, "forming its logits");
        }

        Span<float> keys = _keys.AsSpan(0, n);
        if (top)
        {
            logits.CopyTo(keys);
        }
        else
        {
            GumbelKeys(logits, (float)_reduce[1], position, total, offset, step, keys);
        }

        int eligible = 0;
        for (int x = 0; x < n; x++)
        {
            eligible += float.IsNegativeInfinity(keys[x]) ? 0 : 1;
        }

        int proposed = Math.Min(c, eligible);
        Span<int> local = _local.AsSpan(0, proposed);
        Sampling.TopK(keys, proposed, local, _scratch);
        Span<double> proposal = _proposal.AsSpan(0, 3 * c);
        for (int i = 0; i < c; i++)
        {
            bool real = i < proposed;
            proposal[3 * i] = real ? keys[local[i]] : double.NegativeInfinity;
            proposal[(3 * i) + 1] = real ? offset + local[i] : -1;
            proposal[(3 * i) + 2] = real ? scores[local[i]] : double.NaN;
        }

        Span<double> proposals = _proposals.AsSpan(0, 3 * c * size);
        Gather<double>(proposal, proposals);

        // Every rank's proposals are sorted by (key descending, index ascending), the order of Sampling.TopK, with
        // padding (index -1) last: a W-way merge of the heads gives the global top c in O(c·W).
        Span<int> cursor = _cursor.AsSpan(0, size);
        cursor.Clear();
        for (int i = 0; i < c; i++)
        {
            int best = -1;
            float bestKey = 0;
            double bestIndex = 0;
            for (int r = 0; r < size; r++)
            {
                if (cursor[r] >= c)
                {
                    continue;
                }

                int p = (r * c) + cursor[r];
                double index = proposals[(3 * p) + 1];
                if (index < 0)
                {
                    continue;
                }

                float key = (float)proposals[3 * p];
                if (best < 0 || key > bestKey || (key == bestKey && index < bestIndex))
                {
                    best = r;
                    bestKey = key;
                    bestIndex = index;
                }
            }

            int chosenSlot = (best * c) + cursor[best];
            cursor[best]++;
            chunk[i] = (int)proposals[(3 * chosenSlot) + 1];
            chunkScores[i] = (float)proposals[(3 * chosenSlot) + 2];
        }
    }

    /// <summary>
    /// The Gumbel keys of <see cref="Sampling.GumbelTopK"/> for this rank's candidates: the variates are generated
    /// in the same 256-element blocks of global indices as the single-process draw (so the vectorised logarithms see
    /// identical inputs), from the stream position of each block.
    /// </summary>
    private void GumbelKeys(ReadOnlySpan<float> logits, float max, long position, int total, int offset, long step, Span<float> keys)
    {
        int n = logits.Length;
        Span<double> g = stackalloc double[GumbelChunk];
        for (int blockStart = offset / GumbelChunk * GumbelChunk; blockStart < offset + n; blockStart += GumbelChunk)
        {
            int count = Math.Min(GumbelChunk, total - blockStart);
            Span<double> block = g.Slice(0, count);
            var rng = PositionedRng(_options.Seed, unchecked((ulong)step), position + blockStart);
            for (int j = 0; j < count; j++)
            {
                block[j] = rng.NextDouble();
            }

            TensorPrimitives.Log(block, block);
            TensorPrimitives.Negate(block, block);
            TensorPrimitives.Log(block, block);
            int from = Math.Max(blockStart, offset);
            int to = Math.Min(blockStart + count, offset + n);
            for (int x = from; x < to; x++)
            {
                float logit = logits[x - offset];
                keys[x - offset] = float.IsNegativeInfinity(logit) ? float.NegativeInfinity : (float)(((double)logit - max) - block[x - blockStart]);
            }
        }
    }

    /// <summary>A generator whose next <see cref="CounterRng.NextDouble"/> is double number <paramref name="index"/> of the stream.</summary>
    internal static CounterRng PositionedRng(ulong seed, ulong stream, long index)
    {
        // Double i uses 32-bit words 2i and 2i + 1: block i / 2, words 0-1 (even i) or 2-3 (odd i).
        ulong block = (ulong)index / 2;
        return (index & 1) == 0 ? new CounterRng(new RngState(seed, stream, block, 4)) : new CounterRng(new RngState(seed, stream, block + 1, 2));
    }

    /// <summary>All-gathers the embeddings of the chunk's members (owned by different ranks) in chunk order and adds them to the scorer.</summary>
    private void ShareMembers(ReadOnlySpan<int> chunk, int offset, int n)
    {
        int rowLength = _scorer.MemberRowLength;
        if (rowLength == 0)
        {
            _scorer.AddMemberRows(ReadOnlySpan<float>.Empty, ReadOnlySpan<int>.Empty, 0);
            return;
        }

        int size = _collectives.Size;
        Span<int> counts = _counts.AsSpan(0, size);
        counts.Clear();
        int mine = 0;
        for (int i = 0; i < chunk.Length; i++)
        {
            counts[Owner(chunk[i])] += rowLength;
        }

        ConditionalScorer.Grow(ref _rows, chunk.Length * rowLength);
        ConditionalScorer.Grow(ref _gatheredRows, chunk.Length * rowLength);
        ConditionalScorer.Grow(ref _orderedRows, chunk.Length * rowLength);
        ConditionalScorer.Grow(ref _memberLocal, chunk.Length);
        for (int i = 0; i < chunk.Length; i++)
        {
            int local = chunk[i] - offset;
            _memberLocal[i] = -1;
            if ((uint)local < (uint)n)
            {
                _scorer.CopyMemberRow(local, _rows.AsSpan(mine * rowLength, rowLength));
                _memberLocal[i] = local;
                mine++;
            }
        }

        Span<float> gathered = _gatheredRows.AsSpan(0, chunk.Length * rowLength);
        long t = Stopwatch.GetTimestamp();
        _collectives.AllGatherVariable<float>(_rows.AsSpan(0, mine * rowLength), counts, gathered);
        Account(t, mine * rowLength * sizeof(float), (chunk.Length - mine) * rowLength * sizeof(float));

        // Blocks arrive in rank order; put the rows back in chunk order (the order the single-process sampler adds them).
        Span<int> cursor = _cursor.AsSpan(0, size);
        Span<int> displacement = _displacement.AsSpan(0, size);
        int running = 0;
        for (int r = 0; r < size; r++)
        {
            displacement[r] = running;
            running += counts[r];
            cursor[r] = 0;
        }

        Span<float> ordered = _orderedRows.AsSpan(0, chunk.Length * rowLength);
        for (int i = 0; i < chunk.Length; i++)
        {
            int r = Owner(chunk[i]);
            gathered.Slice(displacement[r] + cursor[r], rowLength).CopyTo(ordered.Slice(i * rowLength, rowLength));
            cursor[r] += rowLength;
        }

        _scorer.AddMemberRows(ordered, _memberLocal.AsSpan(0, chunk.Length), chunk.Length);
    }

    /// <summary>The rank holding member <paramref name="member"/> (in selection order) of the current selection.</summary>
    internal int MemberOwner(int member) => Owner(_result.IndexBuffer[member]);

    private int Owner(int index)
    {
        int size = _collectives.Size;
        int lo = 0, hi = size - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) >> 1;
            if (_offsets[mid] <= index)
            {
                lo = mid;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return lo;
    }

    /// <summary>
    /// Selective-Backprop's log weights <c>beta · log CDF(s_x)</c> of this rank's candidates, CDF over all B scores
    /// (ties share the largest rank): the independent scores are all-gathered once (B doubles) and sorted.
    /// </summary>
    private void PercentileLogits(Span<float> logits, int total)
    {
        int size = _collectives.Size;
        int n = logits.Length;
        ConditionalScorer.Grow(ref _allScores, total);
        Span<int> counts = _counts.AsSpan(0, size);
        for (int r = 0; r < size; r++)
        {
            counts[r] = (r + 1 < size ? _offsets[r + 1] : total) - _offsets[r];
        }

        Span<double> all = _allScores.AsSpan(0, total);
        long t = Stopwatch.GetTimestamp();
        _collectives.AllGatherVariable(_scorer.Independent, counts, all);
        Account(t, n * sizeof(double), (total - n) * sizeof(double));
        all.Sort();
        double beta = _options.PercentilePower;
        ReadOnlySpan<double> independent = _scorer.Independent;
        for (int x = 0; x < n; x++)
        {
            // Number of scores <= s_x: the first index whose score is greater.
            double v = independent[x];
            int lo = 0, hi = total;
            while (lo < hi)
            {
                int mid = (lo + hi) >>> 1;
                if (all[mid] <= v)
                {
                    lo = mid + 1;
                }
                else
                {
                    hi = mid;
                }
            }

            logits[x] = (float)(beta * Math.Log(lo / (double)total));
        }
    }

    private void SampleUniform(int total, int b, int offset, bool haveScores, ref CounterRng rng, Span<int> chosen, Span<float> chosenScores)
    {
        ConditionalScorer.Grow(ref _intScratch, total);
        Sampling.UniformWithoutReplacement(total, b, ref rng, chosen, _intScratch);
        if (!haveScores)
        {
            chosenScores.Fill(float.NaN);
            return;
        }

        // Each score lives on one rank; the others add zero, so the sum is exact.
        ConditionalScorer.Grow(ref _conditional, b);
        Span<double> scores = _conditional.AsSpan(0, b);
        int n = _statistics.Count;
        ReadOnlySpan<double> independent = _scorer.Independent;
        for (int i = 0; i < b; i++)
        {
            int local = chosen[i] - offset;
            scores[i] = (uint)local < (uint)n ? independent[local] : 0;
        }

        Reduce(scores, ReduceOperation.Sum);
        for (int i = 0; i < b; i++)
        {
            chosenScores[i] = (float)scores[i];
        }
    }

    private int ExchangeHeader(SuperBatch? shard, long step, int n)
    {
        int size = _collectives.Size;
        Span<double> h = stackalloc double[HeaderFields];
        h[0] = n;
        bool student = shard?.HasStudent ?? false;
        bool reference = shard?.HasReference ?? false;
        h[1] = student ? 1 : 0;
        h[2] = student ? shard!.Student.Dimension : 0;
        h[3] = student ? shard!.Student.Scale : 0;
        h[4] = student ? shard!.Student.Bias : 0;
        h[5] = reference ? 1 : 0;
        h[6] = reference ? shard!.Reference.Dimension : 0;
        h[7] = reference ? shard!.Reference.Scale : 0;
        h[8] = reference ? shard!.Reference.Bias : 0;
        h[9] = (int)_options.Sampler;
        h[10] = (int)_options.Scoring;
        h[11] = (int)_options.ScoreLoss;
        h[12] = _options.Chunks;
        h[13] = _options.Greedy ? 1 : 0;
        h[14] = (int)_options.Normalization;
        h[15] = _options.Temperature;
        h[16] = _options.Seed >> 32;
        h[17] = _options.Seed & 0xFFFF_FFFFUL;
        h[18] = _options.BatchSize ?? -1;
        h[19] = _options.FilterRatio;
        h[20] = step;
        h[21] = _options.PercentilePower;
        h[22] = _options.NormTolerance;
        Span<double> all = _header.AsSpan(0, HeaderFields * size);
        Gather<double>(h, all);

        string? empty = null;
        for (int r = 0; r < size; r++)
        {
            if (all[r * HeaderFields] == 0)
            {
                empty = empty is null ? r.ToString(CultureInfo.InvariantCulture) : empty + ", " + r.ToString(CultureInfo.InvariantCulture);
            }
        }

        if (empty is not null)
        {
            Guard.ThrowArgument("shard", $"rank(s) {empty} of {size} have no candidates; every rank needs at least one row of the super-batch (B >= W): split the rows so every rank gets some, or run fewer ranks");
        }

        for (int f = 1; f < HeaderFields; f++)
        {
            for (int r = 1; r < size; r++)
            {
                double v = all[(r * HeaderFields) + f];
                double v0 = all[f];
                if (!v.Equals(v0))
                {
                    Guard.ThrowArgument(f <= 8 ? "shard" : "options", $"rank {r} has {FieldNames[f]} = {v.ToString(CultureInfo.InvariantCulture)} but rank 0 has {v0.ToString(CultureInfo.InvariantCulture)}; every rank must use the same options, seed, step and models (dimension, logit scale and bias)");
                }
            }
        }

        long totalLong = 0;
        for (int r = 0; r < size; r++)
        {
            _offsets[r] = (int)Math.Min(totalLong, int.MaxValue);
            totalLong += (long)all[r * HeaderFields];
        }

        if (totalLong > Array.MaxLength)
        {
            Guard.ThrowArgument("shard", $"the shards add up to {totalLong} candidates, more than a super-batch can index ({Array.MaxLength})");
        }

        return (int)totalLong;
    }

    /// <summary>
    /// Makes a local error everyone's error: all ranks exchange a status; if any failed, the lowest failing rank
    /// broadcasts its message and every other rank throws a <see cref="CollectiveException"/> naming it, while the
    /// failing rank rethrows its own exception.
    /// </summary>
    private void Agree(Exception? failure, string phase)
    {
        int size = _collectives.Size;
        string message = failure?.Message ?? string.Empty;
        Span<int> status = stackalloc int[2] { failure is null ? 0 : 1, message.Length };
        Span<int> all = _counts.AsSpan(0, 2 * size);
        Gather<int>(status, all);
        int failed = -1;
        for (int r = 0; r < size && failed < 0; r++)
        {
            if (all[2 * r] != 0)
            {
                failed = r;
            }
        }

        if (failed < 0)
        {
            return;
        }

        int[] text = new int[all[(2 * failed) + 1]];
        if (_collectives.Rank == failed)
        {
            for (int i = 0; i < text.Length; i++)
            {
                text[i] = message[i];
            }
        }

        long t = Stopwatch.GetTimestamp();
        _collectives.Broadcast<int>(text, failed);
        Account(t, 0, text.Length * sizeof(int));
        if (_collectives.Rank == failed)
        {
            ExceptionDispatchInfo.Throw(failure!);
        }

        var chars = new char[text.Length];
        for (int i = 0; i < text.Length; i++)
        {
            chars[i] = (char)text[i];
        }

        throw new CollectiveException($"rank {failed} of {size} failed while {phase} (global rows from {_offsets[failed]}): {new string(chars)}");
    }

    private void FillDiagnostics(long step, int total, int b, int chunks, bool haveScores, int n, long start)
    {
        SelectionDiagnostics d = _result.Diagnostics;
        ScoreMoments.FillHeader(d, step, total, b, chunks);
        if (!haveScores)
        {
            ScoreMoments.FillUnscored(d, total);
            d.Seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            return;
        }

        ReadOnlySpan<double> s = _scorer.Independent.Slice(0, n);
        var m = ScoreMoments.Of(s, _isMember.AsSpan(0, n));
        Span<double> r = _reduce.AsSpan(0, 2);
        r[0] = m.Max;
        r[1] = -m.Min;
        Reduce(r, ReduceOperation.Max);
        m.Max = r[0];
        m.Min = -r[1];

        // The weights use the maximum over all ranks, so every rank's sums add up to the single-process ones.
        double tau = _options.Sampler == SamplerKind.Uniform ? 0 : _options.Temperature;
        m.AddWeights(s, _logits, _options.Sampler == SamplerKind.LossPercentile, tau);
        Span<double> sums = _reduce.AsSpan(0, 6);
        sums[0] = m.SumChosen;
        sums[1] = m.SumChosenSquares;
        sums[2] = m.SumRejected;
        sums[3] = m.SumRejectedSquares;
        sums[4] = m.SumWeights;
        sums[5] = m.SumWeightSquares;
        Reduce(sums, ReduceOperation.Sum);
        m.SumChosen = sums[0];
        m.SumChosenSquares = sums[1];
        m.SumRejected = sums[2];
        m.SumRejectedSquares = sums[3];
        m.SumWeights = sums[4];
        m.SumWeightSquares = sums[5];
        m.Fill(d, total, b);
        d.Seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    private void Prepare(int n, int b, int size)
    {
        ConditionalScorer.Grow(ref _conditional, n);
        ConditionalScorer.Grow(ref _logits, n);
        ConditionalScorer.Grow(ref _keys, n);
        ConditionalScorer.Grow(ref _scratch, Math.Max(n, b));
        ConditionalScorer.Grow(ref _local, b);
        ConditionalScorer.Grow(ref _isMember, n);
        ConditionalScorer.Grow(ref _proposal, 3 * b);
        ConditionalScorer.Grow(ref _proposals, 3 * b * size);
        ConditionalScorer.Grow(ref _cursor, size);
        ConditionalScorer.Grow(ref _displacement, size);
        ConditionalScorer.Grow(ref _result.IndexBuffer, b);
        ConditionalScorer.Grow(ref _result.ScoreBuffer, b);
    }

    private void Gather<T>(ReadOnlySpan<T> local, Span<T> destination)
        where T : unmanaged
    {
        long t = Stopwatch.GetTimestamp();
        _collectives.AllGather(local, destination);
        int bytes = local.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        Account(t, bytes, bytes * (_collectives.Size - 1));
    }

    /// <summary>The collectives of this rank.</summary>
    internal ICollectives Collectives => _collectives;

    /// <summary>A counted variable all-gather (used by the member slices of the softmax scorer).</summary>
    internal void GatherVariable(ReadOnlySpan<float> local, ReadOnlySpan<int> counts, Span<float> destination)
    {
        long t = Stopwatch.GetTimestamp();
        _collectives.AllGatherVariable(local, counts, destination);
        int total = 0;
        for (int r = 0; r < counts.Length; r++)
        {
            total += counts[r];
        }

        Account(t, local.Length * sizeof(float), (total - local.Length) * sizeof(float));
    }

    private void Reduce(Span<double> values, ReduceOperation operation)
    {
        long t = Stopwatch.GetTimestamp();
        _collectives.AllReduce(values, operation);
        int bytes = values.Length * sizeof(double);
        Account(t, bytes, bytes);
    }

    private void Account(long start, long sent, long received)
    {
        _statistics.BytesSent += sent;
        _statistics.BytesReceived += received;
        _statistics.Collectives++;
        _statistics.CollectiveSeconds += Stopwatch.GetElapsedTime(start).TotalSeconds;
    }
}

/// <summary>Per-member values all-gathered from the ranks holding the members.</summary>
internal sealed class MemberSliceSharing : IMemberSlices
{
    private readonly ShardedBatchSampler _owner;
    private float[] _local = Array.Empty<float>();
    private float[] _all = Array.Empty<float>();
    private int[] _counts = Array.Empty<int>();
    private int[] _cursor = Array.Empty<int>();

    public MemberSliceSharing(ShardedBatchSampler owner) => _owner = owner;

    public void Gather(Span<float> rowValues, Span<float> columnValues)
    {
        ICollectives c = _owner.Collectives;
        int members = rowValues.Length;
        ConditionalScorer.Grow(ref _counts, c.Size);
        ConditionalScorer.Grow(ref _cursor, c.Size);
        ConditionalScorer.Grow(ref _local, 2 * members);
        ConditionalScorer.Grow(ref _all, 2 * members);
        Span<int> counts = _counts.AsSpan(0, c.Size);
        counts.Clear();
        int mine = 0;
        for (int m = 0; m < members; m++)
        {
            int r = _owner.MemberOwner(m);
            counts[r] += 2;
            if (r == c.Rank)
            {
                _local[mine++] = rowValues[m];
                _local[mine++] = columnValues[m];
            }
        }

        _owner.GatherVariable(_local.AsSpan(0, mine), counts, _all.AsSpan(0, 2 * members));

        // Blocks arrive in rank order, each in member order.
        int running = 0;
        for (int r = 0; r < c.Size; r++)
        {
            _cursor[r] = running;
            running += counts[r];
        }

        for (int m = 0; m < members; m++)
        {
            int r = _owner.MemberOwner(m);
            rowValues[m] = _all[_cursor[r]];
            columnValues[m] = _all[_cursor[r] + 1];
            _cursor[r] += 2;
        }
    }
}

/// <summary>What one rank did in its last <see cref="ShardedBatchSampler.Sample(SuperBatch, long)"/>.</summary>
public sealed class ShardStatistics
{
    /// <summary>Number of ranks W.</summary>
    public int Ranks { get; internal set; }

    /// <summary>Global index of this rank's first candidate.</summary>
    public int Offset { get; internal set; }

    /// <summary>This rank's candidates n.</summary>
    public int Count { get; internal set; }

    /// <summary>The global super-batch size B (sum over the ranks).</summary>
    public int SuperBatchSize { get; internal set; }

    /// <summary>Joint-sampler chunks drawn (0 for the other samplers).</summary>
    public int Chunks { get; internal set; }

    /// <summary>Collective operations made.</summary>
    public int Collectives { get; internal set; }

    /// <summary>Payload bytes this rank contributed to the collectives.</summary>
    public long BytesSent { get; internal set; }

    /// <summary>Payload bytes this rank received from the other ranks (all-gathers, broadcasts, reduction results).</summary>
    public long BytesReceived { get; internal set; }

    /// <summary>Wall-clock seconds inside collectives (communication plus waiting for slower ranks).</summary>
    public double CollectiveSeconds { get; internal set; }

    /// <summary>Wall-clock seconds of the whole call.</summary>
    public double Seconds { get; internal set; }

    internal void Reset()
    {
        Ranks = Offset = Count = SuperBatchSize = Chunks = Collectives = 0;
        BytesSent = BytesReceived = 0;
        CollectiveSeconds = Seconds = 0;
    }
}
