using System;
using Aced.Core;

namespace Aced.Selection;

/// <summary>
/// The incremental engine of the joint sampler. For a super-batch of B candidates and a growing set M of
/// chosen members it maintains, for every candidate x, the conditional score
/// <c>s(M u {x}) - s(M)</c> without ever forming a B x B matrix:
/// <list type="bullet">
/// <item>Sigmoid: <c>s(M u {x}) - s(M) = sum_models w * [softplus(-l_xx) + sum_{m in M} (softplus(l_xm) + softplus(l_mx))]</c>.
/// The member sums are kept per candidate and each new chunk N adds its terms with two fused products per
/// model, <c>Img (B x d) * Txt_N^T</c> and <c>Txt (B x d) * Img_N^T</c>, whose epilogue applies the softplus
/// and sums the rows: O(B·|N|·d) time per chunk, O(B + b·d) memory.</item>
/// <item>Softmax: with <c>R_m = LSE_{j in M} l_mj</c>, <c>C_m = LSE_{j in M} l_jm</c> and the candidate's
/// member log-sum-exps <c>Rx = LSE_{m in M} l_xm</c>, <c>Cx = LSE_{m in M} l_mx</c>,
/// <c>s(M u {x}) - s(M) = sum_models w * [-l_xx + (1/2)(LAE(Rx, l_xx) + LAE(Cx, l_xx))
/// + (1/2) sum_{m in M} (softplus(l_mx - R_m) + softplus(l_xm - C_m))]</c> (LAE = log-add-exp). The last sum
/// depends on every member's current log-sum-exp, so each chunk re-evaluates it over all members; but the logits
/// <c>l_xm</c>, <c>l_mx</c> never change once computed, so they are kept in a logit cache (B x b floats per direction
/// and model, within a byte budget): a chunk N computes only its own logits with two products per model,
/// O(B·|N|·d). Every candidate keeps running log-sum-exps <c>Rx</c>, <c>Cx</c> (max and sum in double) into which
/// a chunk folds only its new members' logits, O(B·|N|); the members' <c>R_m</c>, <c>C_m</c> are their own candidate
/// rows' values (a sharded selection gathers them from the ranks holding the members); then one pass over the cached
/// rows gives every softplus sum, O(B·|M|) element-wise work, in the column tiles of the fused product over all
/// members, so the bits equal the recompute path. Where the budget allows, the cache also keeps <c>exp(l - t_m)</c>
/// (<c>t_m</c> the member's positive logit), so a term is one multiply by the member's gain <c>exp(t_m - shift_m)</c>
/// and a short log1p series, with an exact fallback from the logit (see <see cref="SoftmaxTermOperator"/>; the exp-cached
/// rows keep no logits, the fallback recomputes them, see <see cref="LogitFreeExpRows"/>). Rows
/// beyond the budget fold the new members' logits from a product over the new members and recompute the softplus sums
/// from the packed members each chunk: O(B·|M|·d).</item>
/// <item>Pair similarity: additive, the conditional score is the independent score.</item>
/// </list>
/// With no members the score is the independent score: sigmoid <c>softplus(-l_xx)</c>, softmax <c>-l_xx</c>
/// (a batch of one has softmax loss 0, so its positive logit is used instead), pair <c>-&lt;img_x, txt_x&gt;</c>,
/// each weighted by the scoring (<see cref="ScoringMethod"/>).
/// Reusable: buffers grow to the largest (B, b, d) seen and are then reused without allocation.
/// </summary>
internal sealed class ConditionalScorer
{
    private readonly ModelWork _student = new();
    private readonly ModelWork _reference = new();
    private ScoreLoss _loss;
    private int _count;
    private int _members;
    private double[] _independent = Array.Empty<double>();
    private double[] _accumulator = Array.Empty<double>();
    private double[] _softplus1 = Array.Empty<double>();
    private double[] _softplus2 = Array.Empty<double>();
    private int[] _memberIndex = Array.Empty<int>();
    private bool[] _isMember = Array.Empty<bool>();

    /// <summary>The candidates not yet members, in increasing order (the first <see cref="_activeCount"/>).</summary>
    private int[] _active = Array.Empty<int>();
    private int _activeCount;
    private readonly EpilogueProduct<SoftplusRowSumEpilogue>[] _sigmoidProducts = new EpilogueProduct<SoftplusRowSumEpilogue>[4];
    private readonly EpilogueProduct<CacheAndLogSumExpEpilogue>[] _cacheFills = new EpilogueProduct<CacheAndLogSumExpEpilogue>[4];
    private int _capacity;
    private int _stride;
    private int _cachedRows;
    private int _expRows;
    private bool _logitFree;

    /// <summary>Rows whose softmax member logits the current selection caches (0 for sigmoid or a zero budget).</summary>
    internal int CachedRows => _cachedRows;

    /// <summary>Rows (the first <see cref="CachedRows"/>'s prefix) whose softmax cache also keeps <c>exp(l - t_m)</c>.</summary>
    internal int ExpCachedRows => _expRows;

    /// <summary>
    /// When set (sharded selection), the softmax members' own log-sum-exps are read off this rank's candidates for the
    /// members it owns and gathered from the other ranks for the others.
    /// </summary>
    public IMemberSlices? MemberSlices { get; set; }

    /// <summary>Number of members added since <see cref="Begin"/>.</summary>
    public int MemberCount => _members;

    /// <summary>Independent score of every candidate (valid after <see cref="Begin"/>).</summary>
    public ReadOnlySpan<double> Independent => _independent.AsSpan(0, _count);

    /// <summary>
    /// Starts a new selection over <paramref name="batch"/> with room for <paramref name="capacity"/> members. With a
    /// finite <paramref name="normTolerance"/> the same pass also checks that every row of a scored model has L2 norm
    /// within it of 1 (see <see cref="StudentVerifiedFinite"/>). Softmax keeps a logit cache within
    /// <paramref name="cacheBytes"/> (see <see cref="ActiveBatchSamplerOptions.SoftmaxLogitCacheBytes"/>).
    /// </summary>
    public void Begin(SuperBatch batch, ScoringMethod scoring, ScoreLoss loss, int capacity, double normTolerance = double.PositiveInfinity, long cacheBytes = ActiveBatchSamplerOptions.DefaultSoftmaxLogitCacheBytes)
    {
        (double ws, double wr) = Weights(scoring);
        _loss = loss;
        _count = batch.Count;
        _members = 0;
        Grow(ref _independent, _count);
        Grow(ref _accumulator, _count);
        _independent.AsSpan(0, _count).Clear();
        _accumulator.AsSpan(0, _count).Clear();
        if (loss == ScoreLoss.Softmax)
        {
            Grow(ref _softplus1, _count);
            Grow(ref _softplus2, _count);
            Grow(ref _memberIndex, capacity);
        }

        Grow(ref _isMember, _count);
        _isMember.AsSpan(0, _count).Clear();
        Grow(ref _active, _count);
        for (int i = 0; i < _count; i++)
        {
            _active[i] = i;
        }

        _activeCount = _count;
        ChunksByIndex = 0;

        _capacity = capacity;
        _stride = CacheStride(capacity);
        _cachedRows = 0;
        _expRows = 0;
        int models = (ws == 0 ? 0 : 1) + (wr == 0 ? 0 : 1);
        bool managed = ReferenceEquals(GemmControl.Provider, ManagedGemmProvider.Instance);
        if (loss == ScoreLoss.Softmax && capacity > 0 && models > 0)
        {
            // Two directions per scored model, one float per (candidate, member) each (rows padded to the stride).
            long bytesPerRow = 2L * models * _stride * sizeof(float);
            _cachedRows = (int)Math.Min(Math.Min(_count, cacheBytes / bytesPerRow), Array.MaxLength / _stride);

            // Exp-cached rows without logits cost a row's bytes once: every cached row keeps its exponentials. Otherwise
            // what the logits leave of the budget keeps exp(l - t_m) for the first rows (the same bytes per row).
            _expRows = ExpRowsOnly && LogitFreeExpRows && managed
                ? _cachedRows
                : (int)Math.Min(_cachedRows, (cacheBytes - (_cachedRows * bytesPerRow)) / bytesPerRow);
        }

        _logitFree = LogitFreeExpRows && _expRows > 0 && managed;

        // The logit buffers hold the rows that keep logits: none when every cached row is a logit-free exp row.
        int logitRows = _logitFree && _expRows == _cachedRows ? 0 : _cachedRows;
        _student.Begin(ws == 0 ? default : batch.Student, ws, capacity, _stride, loss, logitRows, _expRows);
        _reference.Begin(wr == 0 ? default : batch.Reference, wr, capacity, _stride, loss, logitRows, _expRows);
        int partitions = ParallelIndependent ? PartitionCount(_count) : 1;
        if (partitions > 1)
        {
            // Row bands on the pool, each the student's rows then the reference's: every row gets its two terms in the
            // serial order, so the same bits; the checks' flags are ANDed over the bands.
            Grow(ref _bandFinite, 2 * partitions);
            ParallelPartition.Run(partitions, new IndependentBody(_student, _reference, _independent, loss, normTolerance, _count, _bandFinite));
            StudentVerifiedFinite = _student.Active && !_bandFinite.AsSpan(0, partitions).Contains(false);
            ReferenceVerifiedFinite = _reference.Active && !_bandFinite.AsSpan(partitions, partitions).Contains(false);
        }
        else
        {
            StudentVerifiedFinite = _student.AddIndependent(_independent, loss, normTolerance, 0, _count);
            ReferenceVerifiedFinite = _reference.AddIndependent(_independent, loss, normTolerance, 0, _count);
        }
    }

    /// <summary>
    /// Whether <see cref="Begin"/> computes the independent scores (and the finite and norm checks that come with them)
    /// in row bands on the worker pool, as the softmax cached pass does (default true; the same scores and flags either
    /// way): serial, at B = 5120 it took ~3 % of a 2-thread selection with the other thread idle. The switch of a
    /// same-process A/B measurement.
    /// </summary>
    internal static bool ParallelIndependent { get; set; } = true;

    /// <summary>Per row band of <see cref="Begin"/>'s parallel independent scores: whether its rows passed the student's checks, then the reference's.</summary>
    private bool[] _bandFinite = Array.Empty<bool>();

    /// <summary>
    /// One row band of the independent scores: the student's rows, then the reference's (the serial order per row); its
    /// flags go to <c>finite[partition]</c> (student) and <c>finite[partitions + partition]</c> (reference).
    /// </summary>
    private readonly struct IndependentBody : IPartitionBody
    {
        private readonly ModelWork _student;
        private readonly ModelWork _reference;
        private readonly double[] _independent;
        private readonly ScoreLoss _loss;
        private readonly double _normTolerance;
        private readonly int _rows;
        private readonly bool[] _finite;

        public IndependentBody(ModelWork student, ModelWork reference, double[] independent, ScoreLoss loss, double normTolerance, int rows, bool[] finite)
        {
            _student = student;
            _reference = reference;
            _independent = independent;
            _loss = loss;
            _normTolerance = normTolerance;
            _rows = rows;
            _finite = finite;
        }

        public void Execute(int partition)
        {
            int first = partition * CacheBand;
            int last = Math.Min(_rows, first + CacheBand);
            _finite[partition] = _student.AddIndependent(_independent, _loss, _normTolerance, first, last);
            _finite[PartitionCount(_rows) + partition] = _reference.AddIndependent(_independent, _loss, _normTolerance, first, last);
        }
    }

    /// <summary>
    /// True when <see cref="Begin"/> scored the student and every positive-pair dot product was finite, which proves
    /// every student embedding finite (a NaN or infinity in a row makes that row's dot product NaN or infinite), and,
    /// when a norm tolerance was given, every row's L2 norm was within it of 1, so the separate check can be skipped.
    /// </summary>
    public bool StudentVerifiedFinite { get; private set; }

    /// <summary>As <see cref="StudentVerifiedFinite"/> for the reference model.</summary>
    public bool ReferenceVerifiedFinite { get; private set; }

    /// <summary>Adds chosen members (indices into the super-batch, not yet members) and updates the running sums.</summary>
    public void AddMembers(ReadOnlySpan<int> members)
    {
        if (members.IsEmpty)
        {
            return;
        }

        _student.Pack(members, _members);
        _reference.Pack(members, _members);
        Update(members, members.Length);
    }

    /// <summary>
    /// Number of floats per member row in <see cref="AddMemberRows"/>: the image and text embedding of every model
    /// the scoring uses (student first), 0 when the loss keeps no member embeddings.
    /// </summary>
    public int MemberRowLength => _student.RowLength + _reference.RowLength;

    /// <summary>
    /// Adds <paramref name="count"/> members given by their embeddings rather than their indices (the members of a
    /// sharded selection live on other ranks): row i of <paramref name="rows"/> is
    /// <c>[student image, student text, reference image, reference text]</c> of the models in use
    /// (<see cref="MemberRowLength"/> floats); <paramref name="indices"/> holds each member's index in this scorer's
    /// batch, or -1 when another rank holds it (its softmax log-sum-exps then come from <see cref="MemberSlices"/>).
    /// Same update as <see cref="AddMembers"/>.
    /// </summary>
    public void AddMemberRows(ReadOnlySpan<float> rows, ReadOnlySpan<int> indices, int count)
    {
        if (count == 0)
        {
            return;
        }

        int length = MemberRowLength;
        _student.PackRows(rows, length, 0, count, _members);
        _reference.PackRows(rows, length, _student.RowLength, count, _members);
        Update(indices, count);
    }

    /// <summary>Writes candidate <paramref name="index"/>'s member row (the layout of <see cref="AddMemberRows"/>) to <paramref name="destination"/>.</summary>
    public void CopyMemberRow(int index, Span<float> destination)
    {
        int at = _student.CopyRow(index, destination);
        _reference.CopyRow(index, destination.Slice(at));
    }

    /// <summary>
    /// Updates the running sums for the <paramref name="count"/> members just packed; <paramref name="indices"/> are
    /// their candidate indices (-1 for a member another rank holds).
    /// </summary>
    private void Update(ReadOnlySpan<int> indices, int count)
    {
        int start = _members;
        if (_loss == ScoreLoss.Softmax)
        {
            indices.Slice(0, count).CopyTo(_memberIndex.AsSpan(start));
        }

        for (int i = 0; i < count; i++)
        {
            if (indices[i] >= 0)
            {
                _isMember[indices[i]] = true;
            }
        }

        _members += count;
        if (_loss == ScoreLoss.Softmax)
        {
            _student.AddReferences(start, count);
            _reference.AddReferences(start, count);
        }

        switch (_loss)
        {
            case ScoreLoss.Sigmoid:
                {
                    // The (up to) four products of the chunk as one group: per row, the same order as separate calls. Over
                    // the non-members only where the GEMM reads rows by index in place; elsewhere over all rows, the
                    // epilogue skipping the members' sums.
                    RemoveMembers();
                    bool byIndex = GatherActiveRows && SkipMemberRows && _activeCount < _count && _student.ReadsRowsByIndex(_activeCount, count) && _reference.ReadsRowsByIndex(_activeCount, count);
                    ChunksByIndex += byIndex ? 1 : 0;
                    bool[]? skip = SkipMemberRows && !byIndex ? _isMember : null;
                    int[]? rows = byIndex ? _active : null;
                    int products = _student.AddSigmoidPairs(_sigmoidProducts, 0, _accumulator, skip, rows, _activeCount, start, count);
                    products = _reference.AddSigmoidPairs(_sigmoidProducts, products, _accumulator, skip, rows, _activeCount, start, count);
                    PrefetchNextOperands(_sigmoidProducts.AsSpan(0, products), PrefetchLeadStrip);
                    Gemm.MultiplyWithEpilogues<SoftplusRowSumEpilogue>(_sigmoidProducts.AsSpan(0, products));
                    _sigmoidProducts.AsSpan().Clear();
                    break;
                }

            case ScoreLoss.Softmax:
                _accumulator.AsSpan(0, _count).Clear();
                AddSoftmax(start);
                RemoveMembers();
                break;
            default:
                break;
        }
    }

    /// <summary>Chunks of the current selection whose sigmoid products ran over the non-members by index (<see cref="GatherActiveRows"/>).</summary>
    internal int ChunksByIndex { get; private set; }

    /// <summary>Drops the members from <see cref="_active"/>, keeping the order (O(B) per chunk).</summary>
    private void RemoveMembers()
    {
        int kept = 0;
        for (int i = 0; i < _activeCount; i++)
        {
            int x = _active[i];
            if (!_isMember[x])
            {
                _active[kept++] = x;
            }
        }

        _activeCount = kept;
    }

    /// <summary>
    /// Whether (with <see cref="SkipMemberRows"/>) a sigmoid chunk's products run over the non-members' rows only, read by
    /// index where they lie (<see cref="Gemm.ReadsRowsByIndex"/>: the managed AVX-512 direct kernel and AVX2 epilogue strips; elsewhere all rows
    /// with the members' sums skipped, as with the switch off). Default true; every non-member's score keeps its bits
    /// (each product element is one FMA chain from +0, whichever strip its row sits in). At update j of n − 1 the
    /// members are j·b/n of the B rows: about b/(2B) of a selection's product work (10 % at b = B/5). The switch of a
    /// same-process A/B measurement.
    /// </summary>
    internal static bool GatherActiveRows { get; set; } = true;

    /// <summary>
    /// Whether a sigmoid chunk's product epilogues prefetch the next product's candidate rows where the GEMM packs A
    /// without prefetching it (default true; the same bits either way): the switch of a same-process A/B measurement.
    /// </summary>
    internal static bool PrefetchNextOperand { get; set; } = true;

    /// <summary>
    /// Whether (with <see cref="PrefetchNextOperand"/>) the group's last product's epilogue also prefetches the first
    /// product's band T bands further down (T = <see cref="GemmControl.MaxDegreeOfParallelism"/>: with the threads
    /// claiming bands in turn, the band this thread most likely computes next; a guess, never a change of bits).
    /// </summary>
    internal static bool PrefetchNextBand { get; set; } = true;

    /// <summary>
    /// Whether the sigmoid products' epilogues skip the softplus sums of the members' rows (default true; the scores of
    /// non-members keep their bits): the switch of a same-process A/B measurement.
    /// </summary>
    internal static bool SkipMemberRows { get; set; } = true;

    /// <summary>
    /// Whether the softmax cache fill's products prefetch the next product's candidate rows as the sigmoid products do
    /// (<see cref="PrefetchNextOperand"/>, <see cref="PrefetchNextBand"/>; default true, the same bits either way): the
    /// switch of a same-process A/B measurement.
    /// </summary>
    internal static bool PrefetchSoftmaxFill { get; set; } = true;

    /// <summary>
    /// Whether (with <see cref="PrefetchSoftmaxFill"/>) the softmax fill's epilogues prefetch only each next band's first
    /// strip where the AVX2 GEMM reads A's strips in place, as the sigmoid products do (<see cref="PrefetchLeadStrip"/>;
    /// the same bits either way). The switch of a same-process A/B measurement.
    /// </summary>
    internal static bool SoftmaxLeadStrip { get; set; } = true;

    /// <summary>
    /// Whether the softmax cache fill leaves the members' cache rows unwritten (default true): a member's cached logits
    /// and exponentials are never read again (the cached pass skips its row), only its running log-sum-exps are, and
    /// those are still folded; every score keeps its bits. The switch of a same-process A/B measurement.
    /// </summary>
    internal static bool SkipMemberFill { get; set; } = true;

    /// <summary>
    /// Whether (with <see cref="PrefetchNextOperand"/>) a sigmoid chunk's epilogues prefetch only the first 6-row strip of
    /// each next band where the AVX2 GEMM reads the strips of A in place (<see cref="GemmDirectA256.ReadsGroupInPlace"/>,
    /// chunks of at most 64 members), instead of all 64 rows (default true; the same bits either way): there each strip's
    /// kernel calls prefetch the next strip's rows themselves, and the band's other 58 rows, 928 more prefetches into L2
    /// per band and product, measured a cost, not a gain. The switch of a same-process A/B measurement.
    /// </summary>
    internal static bool PrefetchLeadStrip { get; set; } = true;

    /// <summary>
    /// Where the GEMM packs each row band's A without prefetching it (the AVX2 path; the AVX-512 path reads A in place and
    /// prefetches the next product's rows itself, see <see cref="GemmDirectA"/>), lets each product's epilogue prefetch
    /// the band's rows of the next product's A: a band computes the group's products in list order, and the softplus
    /// sums leave the memory system idle for long enough to bring the next 64 candidate rows in. With
    /// <paramref name="leadStrip"/>, where the AVX2 GEMM reads A's strips in place and prefetches each next strip itself,
    /// only each band's first strip (see <see cref="PrefetchLeadStrip"/>).
    /// </summary>
    private static void PrefetchNextOperands<TEpilogue>(Span<EpilogueProduct<TEpilogue>> products, bool leadStrip = false)
        where TEpilogue : struct, IRowPrefetchingEpilogue<TEpilogue>
    {
        if (!PrefetchNextOperand || GemmDirectA.Applies(Transpose.None, GemmKernels.ActiveIsa))
        {
            return;
        }

        int lead = leadStrip && AllReadInPlace(products) ? GemmDirectA256.StripRows : int.MaxValue;
        for (int q = 0; q + 1 < products.Length; q++)
        {
            ref readonly EpilogueProduct<TEpilogue> p = ref products[q];
            products[q] = p.With(p.Epilogue.PrefetchingRowsOf(products[q + 1].A, 0, lead));
        }

        if (PrefetchNextBand && products.Length > 1)
        {
            ref readonly EpilogueProduct<TEpilogue> last = ref products[^1];
            int ahead = GemmControl.MaxDegreeOfParallelism * GemmPlan.McEpilogue;
            products[^1] = last.With(last.Epilogue.PrefetchingRowsOf(products[0].A, ahead, lead));
        }
    }

    /// <summary>Whether the GEMM reads every product's A in place, strip by strip (<see cref="GemmDirectA256.ReadsGroupInPlace"/>).</summary>
    private static bool AllReadInPlace<TEpilogue>(Span<EpilogueProduct<TEpilogue>> products)
        where TEpilogue : IGemmEpilogue
    {
        if (products.Length > EpilogueGroupJob<TEpilogue>.MaxProducts)
        {
            return false;
        }

        foreach (ref readonly EpilogueProduct<TEpilogue> p in products)
        {
            int n = p.TransB == Transpose.None ? p.B.Columns : p.B.Rows;
            if (p.TransA != Transpose.None || !GemmDirectA256.ReadsGroupInPlace(n))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Writes the raw conditional score <c>s(M u {x}) - s(M)</c> of every candidate x (members included, meaningless
    /// for them: the updates skip their rows; softmax leaves 0, sigmoid the sums from before they joined).
    /// </summary>
    public void Conditional(Span<double> destination)
    {
        ReadOnlySpan<double> independent = Independent;
        if (_members == 0 || _loss == ScoreLoss.PairSimilarity)
        {
            independent.CopyTo(destination);
            return;
        }

        if (_loss == ScoreLoss.Softmax)
        {
            _accumulator.AsSpan(0, _count).CopyTo(destination);
            return;
        }

        for (int i = 0; i < _count; i++)
        {
            destination[i] = independent[i] + _accumulator[i];
        }
    }

    /// <summary>Weights (student, reference) of the model losses in a score.</summary>
    public static (double Student, double Reference) Weights(ScoringMethod scoring) => scoring switch
    {
        ScoringMethod.Learnability => (1, -1),
        ScoringMethod.EasyReference => (0, -1),
        ScoringMethod.Hard => (1, 0),
        ScoringMethod.Easy => (-1, 0),
        _ => throw new ArgumentOutOfRangeException(nameof(scoring), scoring, "is not a defined ScoringMethod"),
    };

    /// <summary>
    /// The softmax update for the members [start, k) just added, both models: each parallel pass over the cached rows
    /// handles the student and the reference together (one job instead of two).
    /// </summary>
    private void AddSoftmax(int start)
    {
        int k = _members;
        int c = k - start;
        int cached = _cachedRows;

        // 1. Every candidate's running log-sum-exps over the members, Rx = LSE_m l_xm and Cx = LSE_m l_mx, fold in the
        // new members' logits only (O(B·c)), in the column tiles of the fused product over the c new members; the
        // cached rows fold the same tiles of their cache, so both give the same bits (and so does a sharded selection).
        int fillRows = SoftmaxFillRows(start);
        SoftmaxChunksByIndex = (start == 0 ? 0 : SoftmaxChunksByIndex) + (fillRows >= 0 ? 1 : 0);
        if (fillRows >= 0 && FusedPass && AddSoftmaxFused(start))
        {
            return;
        }

        int fills = AddNewLogits(_student, start, 0, fillRows);
        fills = AddNewLogits(_reference, start, fills, fillRows);
        if (PrefetchSoftmaxFill)
        {
            PrefetchNextOperands(_cacheFills.AsSpan(0, fills), SoftmaxLeadStrip);
        }

        if (fillRows >= 0)
        {
            // From the fill's row bands (each band's share prefetched by the first product, folded by the last) or as a
            // job of its own after the fill, in member bands of the pass's height.
            // (The fill's row bands are its plan's row blocks, whatever the products' inner dimensions.)
            var plan = new GemmPlan(fillRows, c, 1, epilogue: true);
            int bands = FoldInFill ? plan.RowTiles : PartitionCount(start);
            _oldMemberFold.Set(_student, _reference, _memberIndex, start, c, _stride, cached, plan.Nc, bands);
            if (FoldInFill)
            {
                ref EpilogueProduct<CacheAndLogSumExpEpilogue> first = ref _cacheFills[0];
                first = first.With(first.Epilogue.WithSideWork(_oldMemberFold, runs: false, c, plan.Mc));
                ref EpilogueProduct<CacheAndLogSumExpEpilogue> last = ref _cacheFills[fills - 1];
                last = last.With(last.Epilogue.WithSideWork(_oldMemberFold, runs: true, c, plan.Mc));
            }
        }

        Gemm.MultiplyWithEpilogues<CacheAndLogSumExpEpilogue>(_cacheFills.AsSpan(0, fills));
        _cacheFills.AsSpan().Clear();
        if (fillRows >= 0 && !FoldInFill)
        {
            // The old members' rows were left out of the fill: their running log-sum-exps fold the new members' logits
            // from the new members' cache rows.
            ParallelPartition.Run(PartitionCount(start), new OldMemberFoldJob(_oldMemberFold));
        }

        // 2. The members' own log-sum-exps over the members are their candidate rows' (m is a candidate and m in M, so
        // R_m = LSE_{j in M} l_mj includes l_mm): read off for the members this process holds; a sharded selection
        // gathers the others' from the ranks that own them.
        MemberShifts(_student);
        MemberShifts(_reference);

        // 3. The shifted softplus sums over all k members (their shifts moved): O(B·k) per chunk, in the column tiles
        // the fused product over all k members hands its epilogue, so the cached rows give the recomputed rows' bits;
        // another provider may tile differently and then agrees up to summation order.
        int tile = new GemmPlan(1, k, 1, epilogue: true).Nc;
        if (cached > 0)
        {
            ParallelPartition.Run(PartitionCount(cached), new CachedSoftmaxBody(_student, _reference, _accumulator, _isMember, _stride, k, cached, _expRows, _logitFree, tile));
        }

        AddRecomputedRows(_student);
        AddRecomputedRows(_reference);
    }

    /// <summary>
    /// Whether (with <see cref="SoftmaxFillByIndex"/>) a softmax chunk completes every member's log-sum-exps before the
    /// cache fill (the old members' folds as a job, the new members' rows against the new members as a small product
    /// group) and then runs the fill over the non-members only with the cached pass in its epilogues, band by band: each
    /// band's pass right after the band's last product, so one thread's memory-bound pass overlaps the other's products
    /// and the pass's separate job goes. Every element and every fold is the same call on the same values, so every
    /// score keeps its bits. Default false: measured 1.079x slower at (5120, 1024, 256, 16) (same-process A/B, 21 rounds;
    /// the pass's 1 MB of rows per band pushes the products' operands out of L2, and the old members' folds no longer
    /// overlap the products). The switch of a same-process A/B measurement.
    /// </summary>
    internal static bool FusedPass { get; set; }

    private readonly SoftmaxBandPass _bandPass = new();
    private int[] _newRows = Array.Empty<int>();

    /// <summary>
    /// The softmax update of <see cref="FusedPass"/> for the members from <paramref name="start"/>; false (nothing done)
    /// where the GEMM would not read the non-members' rows by index in place.
    /// </summary>
    private bool AddSoftmaxFused(int start)
    {
        int k = _members;
        int c = k - start;
        int cached = _cachedRows;
        int rows = 0;
        for (int i = 0; i < _activeCount; i++)
        {
            int x = _active[i];
            rows += !_isMember[x] && x < cached ? 1 : 0;
        }

        if (rows == 0 || !_student.ReadsRowsByIndex(rows, c) || !_reference.ReadsRowsByIndex(rows, c))
        {
            return false;
        }

        // 1. The members' log-sum-exps: the old members' from the new members' cache rows, the new members' from their
        // own rows against the new members (fold only), the rows beyond the cache from their products (AddNewLogits).
        _oldMemberFold.Set(_student, _reference, _memberIndex, start, c, _stride, cached, new GemmPlan(1, c, 1, epilogue: true).Nc, PartitionCount(start));
        ParallelPartition.Run(PartitionCount(start), new OldMemberFoldJob(_oldMemberFold));
        Grow(ref _newRows, c);
        _memberIndex.AsSpan(start, c).CopyTo(_newRows);
        int own = AddNewMemberRows(_student, start, 0);
        own = AddNewMemberRows(_reference, start, own);
        Gemm.MultiplyWithEpilogues<CacheAndLogSumExpEpilogue>(_cacheFills.AsSpan(0, own));
        _cacheFills.AsSpan().Clear();

        // 2. The non-members' fill products are set up (the rows beyond the cache fold here), then the shifts.
        RemoveMembers();
        int fills = AddNewLogits(_student, start, 0, rows);
        fills = AddNewLogits(_reference, start, fills, rows);
        MemberShifts(_student);
        MemberShifts(_reference);

        // 3. The fill with each band's pass after its last product (bands of the fill's plan), then the rows beyond the cache.
        var plan = new GemmPlan(rows, c, 1, epilogue: true);
        _bandPass.Set(new CachedSoftmaxBody(_student, _reference, _accumulator, _isMember, _stride, k, rows, _expRows, _logitFree, new GemmPlan(1, k, 1, epilogue: true).Nc, _active), plan.Mc);
        if (PrefetchSoftmaxFill)
        {
            PrefetchNextOperands(_cacheFills.AsSpan(0, fills), SoftmaxLeadStrip);
        }

        ref EpilogueProduct<CacheAndLogSumExpEpilogue> last = ref _cacheFills[fills - 1];
        last = last.With(last.Epilogue.WithSideWork(_bandPass, runs: true, c, plan.Mc));
        Gemm.MultiplyWithEpilogues<CacheAndLogSumExpEpilogue>(_cacheFills.AsSpan(0, fills));
        _cacheFills.AsSpan().Clear();
        AddRecomputedRows(_student);
        AddRecomputedRows(_reference);
        return true;
    }

    /// <summary>
    /// The new members' own rows against the new members, fold only (their cache rows are never read): two products per
    /// model written to <see cref="_cacheFills"/> from <paramref name="at"/>, rows by index (<see cref="_newRows"/>).
    /// </summary>
    private int AddNewMemberRows(ModelWork model, int start, int at)
    {
        if (!model.Active)
        {
            return at;
        }

        int c = _members - start;
        ModelEmbeddings e = model.Embeddings;
        int d = e.Dimension;
        MatrixView newImage = new(model.MemberImage, start * d, c, d, d);
        MatrixView newText = new(model.MemberText, start * d, c, d, d);
        ReadOnlyMemory<int> rows = _newRows.AsMemory(0, c);
        _cacheFills[at++] = new(rows, Transpose.Transposed, e.Scale, e.Image, newText, new CacheAndLogSumExpEpilogue(model.RowCache, model.RowExpCache, model.MemberReference, _expRows, _stride, start, model.RowMax, model.RowSum, e.Bias, _isMember, _newRows, c));
        _cacheFills[at++] = new(rows, Transpose.Transposed, e.Scale, e.Text, newImage, new CacheAndLogSumExpEpilogue(model.ColumnCache, model.ColumnExpCache, model.MemberReference, _expRows, _stride, start, model.ColumnMax, model.ColumnSum, e.Bias, _isMember, _newRows, c));
        return at;
    }

    /// <summary>The cached pass of <see cref="FusedPass"/> as the fill's side work: band b's rows are the list positions [b·bandRows, (b+1)·bandRows).</summary>
    private sealed class SoftmaxBandPass : IFillSideWork
    {
        private CachedSoftmaxBody _body;
        private int _bandRows;

        public void Set(CachedSoftmaxBody body, int bandRows)
        {
            _body = body;
            _bandRows = bandRows;
        }

        public void Prefetch(int band)
        {
        }

        public void Run(int band) => _body.Execute(band * _bandRows, _bandRows);
    }

    /// <summary>
    /// Whether a softmax chunk's cache fill runs over the cached candidates that were not members before the chunk only
    /// (the non-members and the chunk's new members), read by index where they lie (<see cref="Gemm.ReadsRowsByIndex"/>),
    /// instead of over all cached rows (default true). The old members' rows are needed only for their running
    /// log-sum-exps, and the logits these fold are already cached, transposed: old member m's <c>l_mj</c> against a new
    /// member j is <c>img_m . txt_j</c>, which j's column cache row holds at m (computed when j was a candidate and m a
    /// member, as <c>txt_j . img_m</c>: each product element is one FMA chain from +0 with alpha applied at the store, and
    /// a product of two floats does not depend on their order, so the same bits). So they are folded from there
    /// (<see cref="OldMemberFold"/>), tile by tile as the fill's epilogue would: every running log-sum-exp and
    /// every score keeps its bits. Taken when every new member's row is cached (their cache rows are read) and the GEMM
    /// reads rows by index in place; elsewhere the fill runs over all cached rows. At update j of n − 1 the old
    /// members are about j·b/n of the B rows: about b/(2B) of the fill's products (10 % at b = B/5). The switch of a
    /// same-process A/B measurement.
    /// </summary>
    internal static bool SoftmaxFillByIndex { get; set; } = true;

    /// <summary>
    /// Whether the softmax cache keeps only the exponentials of its exp-cached rows, not their logits (default true): the
    /// fill writes half the bytes for those rows. The logits were read only by the cached pass's exact fallback (a tile
    /// with a term whose <c>u &gt; 1</c>, an overflowed exponential or NaN), which now recomputes the tile's logits from
    /// the embeddings with the fill's bits (<see cref="RecomputedLogits"/>, <see cref="SelectionKernels.ProductRow"/>),
    /// and by the old members' folds of the fill by index (<see cref="SoftmaxFillByIndex"/>), so the fill runs over all
    /// cached rows instead (the members' rows folded only, as with that switch off). Every score keeps its bits. Taken
    /// where the managed provider computes the fill (whose per-element bits <see cref="SelectionKernels.ProductRow"/>
    /// repeats); the budget and the rows it caches are unchanged. The switch of a same-process A/B measurement.
    /// </summary>
    internal static bool LogitFreeExpRows { get; set; } = true;

    /// <summary>
    /// Whether, with <see cref="LogitFreeExpRows"/> taken (the managed provider), every cached row of the softmax cache
    /// is an exp-cached row (default true): such a row keeps no logits, so it costs the budget the same bytes as a row
    /// of logits, and the budget's split (logits for the rows that fit, exponentials for the first rows in what the
    /// logits leave) would spend half of it on logit buffers that only the rows beyond the exponentials use. Budgets
    /// between 16·B·b and 32·B·b bytes (learnability) then exp-cache every row instead of a prefix, and smaller ones
    /// exp-cache the rows they cache (e.g. the default 256 MiB at B = 20480, b = 4096: 4080 rows with exponentials
    /// instead of 4080 with logits only); no logit buffer is allocated then. Every path gives the same bits, so only
    /// the cost changes. The switch of a same-process A/B measurement.
    /// </summary>
    internal static bool ExpRowsOnly { get; set; } = true;

    /// <summary>
    /// Whether (with <see cref="SoftmaxFillByIndex"/>) the old members' folds are shared out over the fill's row bands, each
    /// band's share prefetched by the first product's epilogue and folded by the last one's, so their memory reads
    /// (the new members' cache rows, stored past the caches chunks ago) overlap the products, instead of a job of their own
    /// after the fill (default true; the same bits either way: each member's folds are the same calls in the same
    /// order, whichever thread makes them). The switch of a same-process A/B measurement.
    /// </summary>
    internal static bool FoldInFill { get; set; } = true;

    private readonly OldMemberFold _oldMemberFold = new();

    /// <summary>The old members' folds as a job of their own: partition p is the fold's band p.</summary>
    private readonly struct OldMemberFoldJob : IPartitionBody
    {
        private readonly OldMemberFold _fold;

        public OldMemberFoldJob(OldMemberFold fold) => _fold = fold;

        public void Execute(int partition) => _fold.Run(partition);
    }

    /// <summary>Chunks of the current selection whose softmax cache fill ran over rows by index (<see cref="SoftmaxFillByIndex"/>).</summary>
    internal int SoftmaxChunksByIndex { get; private set; }

    /// <summary>
    /// The number of rows of a by-index cache fill for the members from <paramref name="start"/> (the first entries of
    /// <see cref="_active"/>, which still holds the chunk's new members), or -1 for a fill over all cached rows (see
    /// <see cref="SoftmaxFillByIndex"/>).
    /// </summary>
    private int SoftmaxFillRows(int start)
    {
        int cached = _cachedRows;
        if (!SoftmaxFillByIndex || _logitFree || cached == 0 || start == 0)
        {
            return -1;
        }

        for (int m = start; m < _members; m++)
        {
            if ((uint)_memberIndex[m] >= (uint)cached)
            {
                return -1;
            }
        }

        int rows = 0;
        while (rows < _activeCount && _active[rows] < cached)
        {
            rows++;
        }

        int c = _members - start;
        return rows > 0 && _student.ReadsRowsByIndex(rows, c) && _reference.ReadsRowsByIndex(rows, c) ? rows : -1;
    }

    /// <summary>
    /// The new members' logits: for the cached rows, the two products that store them into the cache and fold them are
    /// written to <see cref="_cacheFills"/> from index <paramref name="at"/> (the caller runs the chunk's fills as one
    /// group); for the others, folded into the running log-sum-exps here. With <paramref name="fillRows"/> &gt;= 0 the
    /// fills run over the candidates <c>_active[0 .. fillRows)</c> by index (<see cref="SoftmaxFillByIndex"/>).
    /// Returns the index after this model's fills.
    /// </summary>
    private int AddNewLogits(ModelWork model, int start, int at, int fillRows)
    {
        if (!model.Active)
        {
            return at;
        }

        int c = _members - start;
        int cached = _cachedRows;
        int rest = _count - cached;
        ModelEmbeddings e = model.Embeddings;
        int d = e.Dimension;
        MatrixView newImage = new(model.MemberImage, start * d, c, d, d);
        MatrixView newText = new(model.MemberText, start * d, c, d, d);
        if (cached > 0)
        {
            // l_xm (x as image) and l_mx (x as text) for the cached rows, stored into the cache and folded by the epilogue
            // (members' rows only folded: their cache rows are never read again).
            bool[]? skip = SkipMemberFill ? _isMember : null;
            if (fillRows >= 0)
            {
                ReadOnlyMemory<int> rows = _active.AsMemory(0, fillRows);
                _cacheFills[at++] = new(rows, Transpose.Transposed, e.Scale, e.Image, newText, new CacheAndLogSumExpEpilogue(model.RowCache, model.RowExpCache, model.MemberReference, _expRows, _stride, start, model.RowMax, model.RowSum, e.Bias, skip, _active, fillRows, !_logitFree));
                _cacheFills[at++] = new(rows, Transpose.Transposed, e.Scale, e.Text, newImage, new CacheAndLogSumExpEpilogue(model.ColumnCache, model.ColumnExpCache, model.MemberReference, _expRows, _stride, start, model.ColumnMax, model.ColumnSum, e.Bias, skip, _active, fillRows, !_logitFree));
            }
            else
            {
                _cacheFills[at++] = new(Transpose.None, Transpose.Transposed, e.Scale, e.Image.RowRange(0, cached), newText, new CacheAndLogSumExpEpilogue(model.RowCache, model.RowExpCache, model.MemberReference, _expRows, _stride, start, model.RowMax, model.RowSum, e.Bias, skip, !_logitFree));
                _cacheFills[at++] = new(Transpose.None, Transpose.Transposed, e.Scale, e.Text.RowRange(0, cached), newImage, new CacheAndLogSumExpEpilogue(model.ColumnCache, model.ColumnExpCache, model.MemberReference, _expRows, _stride, start, model.ColumnMax, model.ColumnSum, e.Bias, skip, !_logitFree));
            }
        }

        if (rest > 0)
        {
            Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, e.Scale, e.Image.RowRange(cached, rest), newText, new RowLogSumExpEpilogue(model.RowMax, model.RowSum, e.Bias, cached));
            Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, e.Scale, e.Text.RowRange(cached, rest), newImage, new RowLogSumExpEpilogue(model.ColumnMax, model.ColumnSum, e.Bias, cached));
        }

        return at;
    }

    /// <summary>The members' log-sum-exps (gathered across ranks when sharded) and the softplus shifts with the bias folded in.</summary>
    private void MemberShifts(ModelWork model)
    {
        if (!model.Active)
        {
            return;
        }

        int k = _members;
        for (int m = 0; m < k; m++)
        {
            int x = _memberIndex[m];
            if (x >= 0)
            {
                model.MemberRowLse[m] = (float)model.RowLse(x);
                model.MemberColumnLse[m] = (float)model.ColumnLse(x);
            }
        }

        MemberSlices?.Gather(model.MemberRowLse.AsSpan(0, k), model.MemberColumnLse.AsSpan(0, k));

        // The softplus arguments are l_xm + bias - C_m: fold the bias into the shifts once per member; the gains
        // exp(t_m - shift_m) turn a cached exp(l - t_m) into exp(l - shift_m) with one multiply.
        float bias = model.Embeddings.Bias;
        for (int m = 0; m < k; m++)
        {
            float rowShift = model.MemberRowLse[m] - bias;
            float columnShift = model.MemberColumnLse[m] - bias;
            model.MemberRowShift[m] = rowShift;
            model.MemberColumnShift[m] = columnShift;
            model.MemberRowGain[m] = SoftmaxTerm.Gain(model.MemberReference[m], rowShift);
            model.MemberColumnGain[m] = SoftmaxTerm.Gain(model.MemberReference[m], columnShift);
        }
    }

    /// <summary>Rows beyond the cache: their softplus terms against all members, recomputed, l_xm (x as image) and l_mx (x as text).</summary>
    private void AddRecomputedRows(ModelWork model)
    {
        int cached = _cachedRows;
        int rest = _count - cached;
        if (!model.Active || rest == 0)
        {
            return;
        }

        int k = _members;
        ModelEmbeddings e = model.Embeddings;
        int d = e.Dimension;
        MatrixView memberImage = new(model.MemberImage, k, d);
        MatrixView memberText = new(model.MemberText, k, d);
        _softplus1.AsSpan(0, rest).Clear();
        _softplus2.AsSpan(0, rest).Clear();
        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, e.Scale, e.Image.RowRange(cached, rest), memberText, new SoftmaxTermRowSumEpilogue(_softplus1, model.MemberReference, model.MemberColumnGain, model.MemberColumnShift));
        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, e.Scale, e.Text.RowRange(cached, rest), memberImage, new SoftmaxTermRowSumEpilogue(_softplus2, model.MemberReference, model.MemberRowGain, model.MemberRowShift));
        double w = model.Weight;
        float[] positive = model.PositiveLogit;
        for (int i = 0; i < rest; i++)
        {
            int x = cached + i;
            if (!_isMember[x])
            {
                _accumulator[x] += w * SoftmaxDelta(positive[x], model, x, _softplus1[i] + _softplus2[i]);
            }
        }
    }

    /// <summary>
    /// Floats per cache row: the capacity rounded up to a 64-byte multiple plus 64 bytes, so consecutive rows do not
    /// start at the same offset of a 4 KiB page (a 1024-member row is exactly 4 KiB: every row would map to the same
    /// L1 sets).
    /// </summary>
    internal static int CacheStride(int capacity) => capacity == 0 ? 0 : ((capacity + 15) & ~15) + 16;

    /// <summary>Row bands of the element-wise passes over the cache: a function of the row count only.</summary>
    private static int PartitionCount(int rows) => (rows + CacheBand - 1) / CacheBand;

    private const int CacheBand = 64;

    /// <summary>Members per block of <see cref="OldMemberFold"/>'s gather: one cache line of each new member's cache row.</summary>
    private const int FoldBlock = 16;

    /// <summary>The softmax change of one model's batch loss when x joins: <c>-l_xx + (LAE(Rx, l_xx) + LAE(Cx, l_xx) + softplus terms) / 2</c>.</summary>
    private static double SoftmaxDelta(double lxx, ModelWork model, int x, double softplusTerms) =>
        -lxx + (0.5 * (AddToLogSumExp(model.RowMax[x], model.RowSum[x], lxx) + AddToLogSumExp(model.ColumnMax[x], model.ColumnSum[x], lxx))) + (0.5 * softplusTerms);

    /// <summary>
    /// <c>log(exp(max) * sum + exp(l))</c>, the running log-sum-exp (max, sum) with <c>l</c> added, straight from the
    /// running state: one <c>exp</c> and one <c>log</c> (no separate log of the state). An empty state gives l.
    /// </summary>
    private static double AddToLogSumExp(double max, double sum, double l)
    {
        if (sum == 0)
        {
            return l;
        }

        return l <= max ? max + Math.Log(sum + Math.Exp(l - max)) : l + Math.Log((sum * Math.Exp(max - l)) + 1);
    }

    /// <summary>
    /// The old members' running log-sum-exps of a by-index cache fill (<see cref="SoftmaxFillByIndex"/>): old member m
    /// (candidate x, cached) folds <c>l_xj</c> for the new members j from j's column cache row (<c>txt_j . img_m</c> at
    /// m) and <c>l_jx</c> from j's row cache row, one
    /// <see cref="SelectionKernels.AccumulateLogSumExp(ReadOnlySpan{float}, float, ref double, ref double)"/> per column
    /// tile of the fill's products, as the fill's epilogue folds a member's row; student and reference together. The
    /// old members are shared out over <c>bands</c> in blocks of <see cref="FoldBlock"/>: band b's blocks are done by
    /// <see cref="Run"/>(b) exactly once, from the fill's epilogues (<see cref="FoldInFill"/>) or as a job of its own.
    /// Reused across chunks (no allocation).
    /// </summary>
    private sealed class OldMemberFold : IFillSideWork
    {
        private ModelWork _student = null!;
        private ModelWork _reference = null!;
        private int[] _memberIndex = Array.Empty<int>();
        private int _start;
        private int _count;
        private int _stride;
        private int _cached;
        private int _tile;
        private int _bands;

        /// <summary>Sets the chunk: the new members [<paramref name="start"/>, + <paramref name="count"/>), shared out over <paramref name="bands"/>.</summary>
        public void Set(ModelWork student, ModelWork reference, int[] memberIndex, int start, int count, int stride, int cached, int tile, int bands)
        {
            _student = student;
            _reference = reference;
            _memberIndex = memberIndex;
            _start = start;
            _count = count;
            _stride = stride;
            _cached = cached;
            _tile = tile;
            _bands = bands;
        }

        /// <summary>Band <paramref name="band"/>'s first member (a multiple of <see cref="FoldBlock"/>; band <c>bands</c> gives the end).</summary>
        private int First(int band)
        {
            int blocks = (_start + FoldBlock - 1) / FoldBlock;
            return (int)Math.Min(_start, (long)band * blocks / _bands * FoldBlock);
        }

        public void Prefetch(int band)
        {
            for (int m0 = First(band); m0 < First(band + 1); m0 += FoldBlock)
            {
                PrefetchBlock(m0);
            }
        }

        public void Run(int band)
        {
            int first = First(band);
            int last = First(band + 1);
            Span<float> block = stackalloc float[FoldBlock * _tile];
            if (first < last)
            {
                PrefetchBlock(first);
            }

            for (int m0 = first; m0 < last; m0 += FoldBlock)
            {
                // The new members' rows were stored past the caches (non-temporal) chunks ago: each block's lines are
                // asked for while the previous block folds (the lines of one block lie in as many rows as new members).
                if (m0 + FoldBlock < last)
                {
                    PrefetchBlock(m0 + FoldBlock);
                }

                int members = Math.Min(FoldBlock, last - m0);
                Fold(_student, m0, members, block);
                Fold(_reference, m0, members, block);
            }
        }

        /// <summary>Prefetches the cache line at member <paramref name="m"/> of every new member's cache rows (both directions, both models).</summary>
        private void PrefetchBlock(int m)
        {
            Prefetch(_student, m);
            Prefetch(_reference, m);
        }

        private void Prefetch(ModelWork w, int m)
        {
            if (!w.Active)
            {
                return;
            }

            for (int j = 0; j < _count; j++)
            {
                int at = (_memberIndex[_start + j] * _stride) + m;
                VectorMath.PrefetchLine(ref w.ColumnCache.AsSpan(at, 1)[0]);
                VectorMath.PrefetchLine(ref w.RowCache.AsSpan(at, 1)[0]);
            }
        }

        /// <summary>Folds the members [<paramref name="m0"/>, + <paramref name="members"/>) of one model, tile by tile, both directions.</summary>
        private void Fold(ModelWork w, int m0, int members, Span<float> block)
        {
            if (!w.Active)
            {
                return;
            }

            float bias = w.Embeddings.Bias;
            for (int j0 = 0; j0 < _count; j0 += _tile)
            {
                int width = Math.Min(_tile, _count - j0);

                // l_mj (m as image) sits in new member j's column cache row, l_jm (m as text) in its row cache row.
                Gather(w.ColumnCache, j0, width, m0, members, block);
                FoldRows(block, m0, members, width, bias, w.RowMax, w.RowSum);
                Gather(w.RowCache, j0, width, m0, members, block);
                FoldRows(block, m0, members, width, bias, w.ColumnMax, w.ColumnSum);
            }
        }

        /// <summary>
        /// <c>block[i * tile + j] = cache[row of new member j0 + j][m0 + i]</c>: the members' logits against the tile's new
        /// members, one contiguous read of the members' columns per new member's row.
        /// </summary>
        private void Gather(CacheBuffer cache, int j0, int width, int m0, int members, Span<float> block)
        {
            for (int j = 0; j < width; j++)
            {
                ReadOnlySpan<float> source = cache.AsSpan((_memberIndex[_start + j0 + j] * _stride) + m0, members);
                for (int i = 0; i < source.Length; i++)
                {
                    block[(i * _tile) + j] = source[i];
                }
            }
        }

        /// <summary>Folds each cached member's gathered tile row into its running log-sum-exp, as the fill's epilogue folds a member's row.</summary>
        private void FoldRows(Span<float> block, int m0, int members, int width, float bias, double[] max, double[] sum)
        {
            for (int i = 0; i < members; i++)
            {
                int x = _memberIndex[m0 + i];
                if ((uint)x < (uint)_cached)
                {
                    SelectionKernels.AccumulateLogSumExp(block.Slice(i * _tile, width), bias, ref max[x], ref sum[x]);
                }
            }
        }
    }

    /// <summary>
    /// Adds each cached row's softmax conditional score over all k members to the accumulator: per column tile, the
    /// row's shifted softplus sums, as <see cref="SoftmaxTermRowSumEpilogue"/> does (from the cached exponentials for the
    /// first exp-cached rows, from the cached logits for the others: the same bits), and the running log-sum-exps;
    /// student and reference in one job.
    /// </summary>
    private readonly struct CachedSoftmaxBody : IPartitionBody
    {
        private readonly ModelWork _student;
        private readonly ModelWork _reference;
        private readonly double[] _accumulator;
        private readonly bool[] _isMember;
        private readonly int _stride;
        private readonly int _members;
        private readonly int _rows;
        private readonly int _expRows;
        private readonly bool _logitFree;
        private readonly int _tile;
        private readonly int[]? _list;

        /// <summary>
        /// The pass over the candidates [0, <paramref name="rows"/>) but the members or, with <paramref name="list"/>, over
        /// the candidates <c>list[0 .. rows)</c> (increasing, none a member).
        /// </summary>
        public CachedSoftmaxBody(ModelWork student, ModelWork reference, double[] accumulator, bool[] isMember, int stride, int members, int rows, int expRows, bool logitFree, int tile, int[]? list = null)
        {
            _list = list;
            _isMember = isMember;
            _expRows = expRows;
            _logitFree = logitFree;
            _student = student;
            _reference = reference;
            _accumulator = accumulator;
            _stride = stride;
            _members = members;
            _rows = rows;
            _tile = tile;
        }

        public void Execute(int partition) => Execute(partition * CacheBand, CacheBand);

        /// <summary>The rows at positions [<paramref name="first"/>, + <paramref name="count"/>) (candidates, or entries of the list).</summary>
        public void Execute(int first, int count)
        {
            int last = Math.Min(_rows, first + count);
            Add(_student, first, last);
            Add(_reference, first, last);
        }

        /// <summary>The rows at positions [<paramref name="first"/>, <paramref name="last"/>).</summary>
        private void Add(ModelWork w, int first, int last)
        {
            if (!w.Active)
            {
                return;
            }

            int k = _members;
            ReadOnlySpan<float> reference = w.MemberReference.AsSpan(0, k);
            ReadOnlySpan<float> rowShift = w.MemberRowShift.AsSpan(0, k);
            ReadOnlySpan<float> columnShift = w.MemberColumnShift.AsSpan(0, k);
            ReadOnlySpan<float> rowGain = w.MemberRowGain.AsSpan(0, k);
            ReadOnlySpan<float> columnGain = w.MemberColumnGain.AsSpan(0, k);
            int p = Next(first, last);
            while (p < last)
            {
                // Members' rows are skipped (their scores are never read); the next row to score is prefetched.
                int q = Next(p + 1, last);
                int x = Row(p);
                int next = q < last ? Row(q) : -1;
                int offset = x * _stride;
                if (next >= _expRows)
                {
                    // A later row's logits, while this row computes (each row starts on a new page, where the
                    // hardware prefetcher stops); the exponentials' kernel prefetches line by line itself.
                    VectorMath.Prefetch(w.RowCache.AsSpan(next * _stride, k));
                    VectorMath.Prefetch(w.ColumnCache.AsSpan(next * _stride, k));
                }

                double softplus1, softplus2;
                int ahead = next >= 0 && next < _expRows ? (next - x) * _stride : 0;
                if (x < _expRows && _logitFree)
                {
                    // The same, the rare fallback tiles' logits recomputed (the cache keeps no logits of these rows).
                    ModelEmbeddings e = w.Embeddings;
                    SelectionKernels.SoftmaxTermSumsCached(w.RowExpCache.AsSpan(offset, k), new RecomputedLogits(e.Image, x, w.MemberText, e.Scale), columnGain, columnShift, w.ColumnExpCache.AsSpan(offset, k), new RecomputedLogits(e.Text, x, w.MemberImage, e.Scale), rowGain, rowShift, reference, _tile, ahead, out softplus1, out softplus2);
                }
                else if (x < _expRows)
                {
                    // Both directions in one loop over the row's exponentials (the same bits as per direction and tile).
                    SelectionKernels.SoftmaxTermSumsCached(w.RowExpCache.AsSpan(offset, k), w.RowCache.AsSpan(offset, k), columnGain, columnShift, w.ColumnExpCache.AsSpan(offset, k), w.ColumnCache.AsSpan(offset, k), rowGain, rowShift, reference, _tile, ahead, out softplus1, out softplus2);
                }
                else
                {
                    softplus1 = 0;
                    softplus2 = 0;
                    for (int j0 = 0; j0 < k; j0 += _tile)
                    {
                        int width = Math.Min(_tile, k - j0);
                        ReadOnlySpan<float> t = reference.Slice(j0, width);
                        softplus1 += SelectionKernels.SoftmaxTermSum(w.RowCache.AsSpan(offset + j0, width), t, columnGain.Slice(j0, width), columnShift.Slice(j0, width));
                        softplus2 += SelectionKernels.SoftmaxTermSum(w.ColumnCache.AsSpan(offset + j0, width), t, rowGain.Slice(j0, width), rowShift.Slice(j0, width));
                    }
                }

                _accumulator[x] += w.Weight * SoftmaxDelta(w.PositiveLogit[x], w, x, softplus1 + softplus2);
                p = q;
            }
        }

        /// <summary>The first position in [<paramref name="p"/>, <paramref name="last"/>) whose row is not a member (last if none).</summary>
        private int Next(int p, int last)
        {
            while (_list is null && p < last && _isMember[p])
            {
                p++;
            }

            return p;
        }

        /// <summary>The candidate at position <paramref name="p"/>.</summary>
        private int Row(int p) => _list is null ? p : _list[p];
    }

    internal static void Grow<T>(ref T[] array, int length)
    {
        if (array.Length < length)
        {
            array = new T[length];
        }
    }

    /// <summary>Per-model buffers: packed member rows, positive logits and member log-sum-exps.</summary>
    private sealed class ModelWork
    {
        public ModelEmbeddings Embeddings;
        public double Weight;
        public float[] MemberImage = Array.Empty<float>();
        public float[] MemberText = Array.Empty<float>();
        public float[] PositiveLogit = Array.Empty<float>();
        public float[] MemberRowLse = Array.Empty<float>();
        public float[] MemberColumnLse = Array.Empty<float>();

        /// <summary><c>R_m - bias</c>, the shift of the softplus terms <c>softplus(l_mx + bias - R_m)</c>.</summary>
        public float[] MemberRowShift = Array.Empty<float>();

        /// <summary><c>C_m - bias</c>, the shift of the softplus terms <c>softplus(l_xm + bias - C_m)</c>.</summary>
        public float[] MemberColumnShift = Array.Empty<float>();

        /// <summary><c>t_m</c>, member m's positive-pair product <c>scale * img_m . txt_m</c> (fixed summation order): the reference of the cached exponentials.</summary>
        public float[] MemberReference = Array.Empty<float>();

        /// <summary><c>exp(t_m - (R_m - bias))</c> (NaN when not a normal float), the gain of the <see cref="ColumnCache"/> terms.</summary>
        public float[] MemberRowGain = Array.Empty<float>();

        /// <summary><c>exp(t_m - (C_m - bias))</c> (NaN when not a normal float), the gain of the <see cref="RowCache"/> terms.</summary>
        public float[] MemberColumnGain = Array.Empty<float>();

        /// <summary>Row x: <c>exp(l_xm - t_m)</c> (without the bias) for the first exp-cached rows; layout of <see cref="RowCache"/>.</summary>
        public readonly CacheBuffer RowExpCache = new();

        /// <summary>Row x: <c>exp(l_mx - t_m)</c>; layout of <see cref="ColumnCache"/>.</summary>
        public readonly CacheBuffer ColumnExpCache = new();

        /// <summary>Logit cache, row x: <c>l_xm</c> (x as image, member m's text) for m in [0, k); stride = the capacity padded (see CacheStride).</summary>
        public readonly CacheBuffer RowCache = new();

        /// <summary>Logit cache, row x: <c>l_mx</c> (member m's image, x as text) for m in [0, k); stride = the capacity padded (see CacheStride).</summary>
        public readonly CacheBuffer ColumnCache = new();

        /// <summary>Running log-sum-exp of candidate x over the members, <c>Rx = LSE_m l_xm = RowMax[x] + log RowSum[x]</c>.</summary>
        public double[] RowMax = Array.Empty<double>();

        /// <inheritdoc cref="RowMax"/>
        public double[] RowSum = Array.Empty<double>();

        /// <summary>Running log-sum-exp of candidate x over the members, <c>Cx = LSE_m l_mx = ColumnMax[x] + log ColumnSum[x]</c>.</summary>
        public double[] ColumnMax = Array.Empty<double>();

        /// <inheritdoc cref="ColumnMax"/>
        public double[] ColumnSum = Array.Empty<double>();

        public bool Active => !Embeddings.IsEmpty;

        public double RowLse(int x) => RowMax[x] + Math.Log(RowSum[x]);

        public double ColumnLse(int x) => ColumnMax[x] + Math.Log(ColumnSum[x]);

        /// <summary>
        /// Starts a selection; the softmax cache buffers hold <paramref name="logitRows"/> rows of logits and
        /// <paramref name="expRows"/> rows of exponentials.
        /// </summary>
        public void Begin(ModelEmbeddings embeddings, double weight, int capacity, int stride, ScoreLoss loss, int logitRows, int expRows)
        {
            Embeddings = embeddings;
            Weight = weight;
            KeepsRows = Active && loss != ScoreLoss.PairSimilarity && capacity > 0;
            if (!Active)
            {
                return;
            }

            int d = embeddings.Dimension;
            if (loss != ScoreLoss.PairSimilarity)
            {
                Grow(ref MemberImage, capacity * d);
                Grow(ref MemberText, capacity * d);
            }

            if (loss == ScoreLoss.Softmax)
            {
                Grow(ref MemberRowLse, capacity);
                Grow(ref MemberColumnLse, capacity);
                Grow(ref MemberRowShift, capacity);
                Grow(ref MemberColumnShift, capacity);
                Grow(ref MemberReference, capacity);
                Grow(ref MemberRowGain, capacity);
                Grow(ref MemberColumnGain, capacity);
                int n = embeddings.Count;
                Grow(ref RowMax, n);
                Grow(ref RowSum, n);
                Grow(ref ColumnMax, n);
                Grow(ref ColumnSum, n);
                RowMax.AsSpan(0, n).Fill(double.NegativeInfinity);
                RowSum.AsSpan(0, n).Clear();
                ColumnMax.AsSpan(0, n).Fill(double.NegativeInfinity);
                ColumnSum.AsSpan(0, n).Clear();
                if (logitRows > 0)
                {
                    RowCache.Grow((long)logitRows * stride);
                    ColumnCache.Grow((long)logitRows * stride);
                }

                if (expRows > 0)
                {
                    RowExpCache.Grow((long)expRows * stride);
                    ColumnExpCache.Grow((long)expRows * stride);
                }
            }

            Grow(ref PositiveLogit, embeddings.Count);
        }

        /// <summary>
        /// Adds the weighted independent scores of the rows [<paramref name="first"/>, <paramref name="last"/>); returns
        /// true when the model is active, every dot product was finite and (for a finite <paramref name="normTolerance"/>)
        /// every row had unit L2 norm within the tolerance.
        /// </summary>
        public bool AddIndependent(double[] independent, ScoreLoss loss, double normTolerance, int first, int last)
        {
            if (!Active)
            {
                return false;
            }

            bool finite = true;
            bool checkNorms = !double.IsPositiveInfinity(normTolerance);
            MatrixView image = Embeddings.Image;
            MatrixView text = Embeddings.Text;
            float a = Embeddings.Scale;
            float c = Embeddings.Bias;
            for (int x = first; x < last; x++)
            {
                float dot = System.Numerics.Tensors.TensorPrimitives.Dot(image.Row(x), text.Row(x));
                finite &= float.IsFinite(dot) && (!checkNorms || (ModelEmbeddings.IsUnitNorm(image.Row(x), normTolerance) && ModelEmbeddings.IsUnitNorm(text.Row(x), normTolerance)));
                float logit = (a * dot) + c;
                PositiveLogit[x] = logit;
                double value = loss switch
                {
                    ScoreLoss.Sigmoid => StableMath.Softplus(-(double)logit),
                    ScoreLoss.Softmax => -(double)logit,
                    _ => -(double)dot,
                };
                independent[x] += Weight * value;
            }

            return finite;
        }

        /// <summary>
        /// The references <c>t_m = scale * img_m . txt_m</c> of the packed members [start, start + count), summed in double
        /// in index order, so every rank of a sharded selection gets the same bits from the same rows.
        /// </summary>
        public void AddReferences(int start, int count)
        {
            if (!Active)
            {
                return;
            }

            int d = Embeddings.Dimension;
            for (int m = start; m < start + count; m++)
            {
                ReadOnlySpan<float> image = MemberImage.AsSpan(m * d, d);
                ReadOnlySpan<float> text = MemberText.AsSpan(m * d, d);
                double dot = 0;
                for (int i = 0; i < d; i++)
                {
                    dot += (double)image[i] * text[i];
                }

                MemberReference[m] = Embeddings.Scale * (float)dot;
            }
        }

        public void Pack(ReadOnlySpan<int> members, int start)
        {
            if (!Active || MemberImage.Length == 0)
            {
                return;
            }

            int d = Embeddings.Dimension;
            for (int i = 0; i < members.Length; i++)
            {
                Embeddings.Image.Row(members[i]).CopyTo(MemberImage.AsSpan((start + i) * d, d));
                Embeddings.Text.Row(members[i]).CopyTo(MemberText.AsSpan((start + i) * d, d));
            }
        }

        /// <summary>Floats of this model in a member row: image and text, or 0 when inactive or no member rows are kept.</summary>
        public int RowLength => KeepsRows ? 2 * Embeddings.Dimension : 0;

        /// <summary>True when this selection keeps the members' embeddings (an active model, a pairwise loss, room for members).</summary>
        public bool KeepsRows;

        public int CopyRow(int index, Span<float> destination)
        {
            if (RowLength == 0)
            {
                return 0;
            }

            int d = Embeddings.Dimension;
            Embeddings.Image.Row(index).CopyTo(destination.Slice(0, d));
            Embeddings.Text.Row(index).CopyTo(destination.Slice(d, d));
            return 2 * d;
        }

        public void PackRows(ReadOnlySpan<float> rows, int rowLength, int offset, int count, int start)
        {
            if (RowLength == 0)
            {
                return;
            }

            int d = Embeddings.Dimension;
            for (int i = 0; i < count; i++)
            {
                ReadOnlySpan<float> row = rows.Slice((i * rowLength) + offset, 2 * d);
                row.Slice(0, d).CopyTo(MemberImage.AsSpan((start + i) * d, d));
                row.Slice(d, d).CopyTo(MemberText.AsSpan((start + i) * d, d));
            }
        }

        /// <summary>
        /// Writes this model's two sigmoid products for the members [start, start + count) to
        /// <paramref name="products"/> from index <paramref name="at"/>: <c>sum_m softplus(l_xm)</c> (x as image against
        /// the new members' texts), then <c>softplus(l_mx)</c> (x as text). With <paramref name="rows"/>, over the
        /// candidates <c>rows[0 .. rowCount)</c> only (rows by index); otherwise over all, skipping the sums of the rows
        /// of <paramref name="isMember"/> when given (members' scores are never read). Returns the index after them.
        /// </summary>
        public int AddSigmoidPairs(EpilogueProduct<SoftplusRowSumEpilogue>[] products, int at, double[] accumulator, bool[]? isMember, int[]? rows, int rowCount, int start, int count)
        {
            if (!Active)
            {
                return at;
            }

            int d = Embeddings.Dimension;
            MatrixView newImage = new(MemberImage, start * d, count, d, d);
            MatrixView newText = new(MemberText, start * d, count, d, d);
            if (rows is not null)
            {
                var indexed = new SoftplusRowSumEpilogue(accumulator, Embeddings.Bias, Weight, rows, rowCount);
                ReadOnlyMemory<int> active = rows.AsMemory(0, rowCount);
                products[at] = new(active, Transpose.Transposed, Embeddings.Scale, Embeddings.Image, newText, indexed);
                products[at + 1] = new(active, Transpose.Transposed, Embeddings.Scale, Embeddings.Text, newImage, indexed);
                return at + 2;
            }

            var epilogue = new SoftplusRowSumEpilogue(accumulator, Embeddings.Bias, Weight, isMember);
            products[at] = new(Transpose.None, Transpose.Transposed, Embeddings.Scale, Embeddings.Image, newText, epilogue);
            products[at + 1] = new(Transpose.None, Transpose.Transposed, Embeddings.Scale, Embeddings.Text, newImage, epilogue);
            return at + 2;
        }

        /// <summary>Whether the GEMM reads this model's <paramref name="rows"/> candidate rows by index in place against <paramref name="count"/> members (true when inactive).</summary>
        public bool ReadsRowsByIndex(int rows, int count) => !Active || Gemm.ReadsRowsByIndex(rows, count, Embeddings.Dimension);
    }
}

/// <summary>Shares per-member values across the ranks of a sharded selection.</summary>
internal interface IMemberSlices
{
    /// <summary>
    /// Completes both spans (one value per member, in member order): on entry the entries of the members this rank
    /// holds are set; on return every entry holds the value set by the rank that holds that member.
    /// </summary>
    void Gather(Span<float> rowValues, Span<float> columnValues);
}
