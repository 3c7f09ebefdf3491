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
/// O(B·|N|·d); the members' <c>R_m</c>, <c>C_m</c> are read off the members' own cached rows (O(|M|^2) per chunk)
/// and one pass over the cached rows gives every <c>Rx</c>, <c>Cx</c> and softplus sum, O(B·|M|) element-wise work,
/// folding each row in the column tiles of the fused product over all members, so the bits equal the recompute path.
/// Rows beyond the budget are recomputed from the packed members each chunk: O(B·|M|·d).</item>
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
    private double[] _max1 = Array.Empty<double>();
    private double[] _sum1 = Array.Empty<double>();
    private double[] _softplus1 = Array.Empty<double>();
    private double[] _max2 = Array.Empty<double>();
    private double[] _sum2 = Array.Empty<double>();
    private double[] _softplus2 = Array.Empty<double>();
    private int[] _memberIndex = Array.Empty<int>();
    private readonly EpilogueProduct<SoftplusRowSumEpilogue>[] _sigmoidProducts = new EpilogueProduct<SoftplusRowSumEpilogue>[4];
    private int _capacity;
    private int _cachedRows;

    /// <summary>Rows whose softmax member logits the current selection caches (0 for sigmoid or a zero budget).</summary>
    internal int CachedRows => _cachedRows;
    private bool _membersIndexed;

    /// <summary>
    /// When set (sharded selection), the softmax members' own log-sum-exps are computed for this rank's slice of the
    /// members only and the other slices are gathered from the other ranks.
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
        _membersIndexed = true;
        Grow(ref _independent, _count);
        Grow(ref _accumulator, _count);
        _independent.AsSpan(0, _count).Clear();
        _accumulator.AsSpan(0, _count).Clear();
        if (loss == ScoreLoss.Softmax)
        {
            Grow(ref _max1, Math.Max(_count, capacity));
            Grow(ref _sum1, Math.Max(_count, capacity));
            Grow(ref _softplus1, _count);
            Grow(ref _max2, Math.Max(_count, capacity));
            Grow(ref _sum2, Math.Max(_count, capacity));
            Grow(ref _softplus2, _count);
        }

        _capacity = capacity;
        _cachedRows = 0;
        int models = (ws == 0 ? 0 : 1) + (wr == 0 ? 0 : 1);
        if (loss == ScoreLoss.Softmax && capacity > 0 && models > 0)
        {
            // Two directions per scored model, one float per (candidate, member) each.
            long bytesPerRow = 2L * models * capacity * sizeof(float);
            _cachedRows = (int)Math.Min(Math.Min(_count, cacheBytes / bytesPerRow), Array.MaxLength / capacity);
            Grow(ref _memberIndex, capacity);
        }

        _student.Begin(ws == 0 ? default : batch.Student, ws, capacity, loss, _cachedRows);
        _reference.Begin(wr == 0 ? default : batch.Reference, wr, capacity, loss, _cachedRows);
        StudentVerifiedFinite = _student.AddIndependent(_independent, loss, normTolerance);
        ReferenceVerifiedFinite = _reference.AddIndependent(_independent, loss, normTolerance);
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
    /// (<see cref="MemberRowLength"/> floats). Same update as <see cref="AddMembers"/>.
    /// </summary>
    public void AddMemberRows(ReadOnlySpan<float> rows, int count)
    {
        if (count == 0)
        {
            return;
        }

        int length = MemberRowLength;
        _student.PackRows(rows, length, 0, count, _members);
        _reference.PackRows(rows, length, _student.RowLength, count, _members);
        Update(ReadOnlySpan<int>.Empty, count);
    }

    /// <summary>Writes candidate <paramref name="index"/>'s member row (the layout of <see cref="AddMemberRows"/>) to <paramref name="destination"/>.</summary>
    public void CopyMemberRow(int index, Span<float> destination)
    {
        int at = _student.CopyRow(index, destination);
        _reference.CopyRow(index, destination.Slice(at));
    }

    /// <summary>
    /// Updates the running sums for the <paramref name="count"/> members just packed; <paramref name="indices"/> are
    /// their candidate indices, or empty when they were given as rows (then the softmax members' log-sum-exps cannot
    /// be read off the logit cache and are recomputed).
    /// </summary>
    private void Update(ReadOnlySpan<int> indices, int count)
    {
        int start = _members;
        if (_loss == ScoreLoss.Softmax)
        {
            if (indices.IsEmpty)
            {
                _membersIndexed = false;
            }
            else
            {
                indices.CopyTo(_memberIndex.AsSpan(start));
            }
        }

        _members += count;
        switch (_loss)
        {
            case ScoreLoss.Sigmoid:
                {
                    // The (up to) four products of the chunk as one group: per row, the same order as separate calls.
                    int products = _student.AddSigmoidPairs(_sigmoidProducts, 0, _accumulator, start, count);
                    products = _reference.AddSigmoidPairs(_sigmoidProducts, products, _accumulator, start, count);
                    Gemm.MultiplyWithEpilogues<SoftplusRowSumEpilogue>(_sigmoidProducts.AsSpan(0, products));
                    _sigmoidProducts.AsSpan().Clear();
                    break;
                }

            case ScoreLoss.Softmax:
                _accumulator.AsSpan(0, _count).Clear();
                AddSoftmax(_student, start);
                AddSoftmax(_reference, start);
                break;
            default:
                break;
        }
    }

    /// <summary>Writes the raw conditional score <c>s(M u {x}) - s(M)</c> of every candidate x (members included, meaningless for them).</summary>
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

    private void AddSoftmax(ModelWork model, int start)
    {
        if (!model.Active)
        {
            return;
        }

        int k = _members;
        int cached = _cachedRows;
        ModelEmbeddings e = model.Embeddings;
        int d = e.Dimension;
        MatrixView memberImage = new(model.MemberImage, k, d);
        MatrixView memberText = new(model.MemberText, k, d);
        if (cached > 0)
        {
            // The new members' logits for the cached rows: l_xm (x as image) and l_mx (x as text).
            int c = k - start;
            MatrixView newImage = new(model.MemberImage, start * d, c, d, d);
            MatrixView newText = new(model.MemberText, start * d, c, d, d);
            Gemm.Multiply(Transpose.None, Transpose.Transposed, e.Scale, e.Image.RowRange(0, cached), newText, 0f, new MatrixView(model.RowCache, start, cached, c, _capacity));
            Gemm.Multiply(Transpose.None, Transpose.Transposed, e.Scale, e.Text.RowRange(0, cached), newImage, 0f, new MatrixView(model.ColumnCache, start, cached, c, _capacity));
        }

        // The element-wise passes fold each row in the column tiles the managed provider's fused product over all k
        // members hands its epilogue, so the cached path gives the same bits as the recompute path (and as a sharded
        // selection); another provider may tile differently and then agrees up to summation order.
        int tile = new GemmPlan(1, k, 1, epilogue: true).Nc;

        if (cached == _count && _membersIndexed && MemberSlices is null)
        {
            // Every member is a cached candidate: R_m = LSE_j l_mj is member m's own cached row (x in M includes l_mm).
            ParallelPartition.Run(PartitionCount(k), new MemberLogSumExpBody(model, _memberIndex, _capacity, k, tile));
        }
        else
        {
            // Members' own log-sum-exps over the members: R_m (rows of l over member texts), C_m (columns). A sharded
            // selection computes a slice of the members on each rank and gathers the others' slices.
            (int first, int rows) = MemberSlices?.Slice(k) ?? (0, k);
            if (rows > 0)
            {
                Reset(_max1, _sum1, rows);
                Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, e.Scale, memberImage.RowRange(first, rows), memberText, new RowLogSumExpEpilogue(_max1, _sum1, e.Bias));
                Reset(_max2, _sum2, rows);
                Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, e.Scale, memberText.RowRange(first, rows), memberImage, new RowLogSumExpEpilogue(_max2, _sum2, e.Bias));
                for (int m = 0; m < rows; m++)
                {
                    model.MemberRowLse[first + m] = (float)(_max1[m] + Math.Log(_sum1[m]));
                    model.MemberColumnLse[first + m] = (float)(_max2[m] + Math.Log(_sum2[m]));
                }
            }

            MemberSlices?.Gather(model.MemberRowLse.AsSpan(0, k), model.MemberColumnLse.AsSpan(0, k));
        }

        if (cached > 0)
        {
            ParallelPartition.Run(PartitionCount(cached), new CachedSoftmaxBody(model, _accumulator, _capacity, k, cached, tile));
        }

        int rest = _count - cached;
        if (rest == 0)
        {
            return;
        }

        // Rows beyond the cache: candidates against all members, recomputed, l_xm (x as image) and l_mx (x as text).
        Reset(_max1, _sum1, rest);
        Reset(_max2, _sum2, rest);
        _softplus1.AsSpan(0, rest).Clear();
        _softplus2.AsSpan(0, rest).Clear();
        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, e.Scale, e.Image.RowRange(cached, rest), memberText, new SoftmaxConditionalEpilogue(_max1, _sum1, _softplus1, model.MemberColumnLse, e.Bias));
        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, e.Scale, e.Text.RowRange(cached, rest), memberImage, new SoftmaxConditionalEpilogue(_max2, _sum2, _softplus2, model.MemberRowLse, e.Bias));
        double w = model.Weight;
        float[] positive = model.PositiveLogit;
        for (int i = 0; i < rest; i++)
        {
            int x = cached + i;
            double rowLse = _max1[i] + Math.Log(_sum1[i]);
            double columnLse = _max2[i] + Math.Log(_sum2[i]);
            _accumulator[x] += w * SoftmaxDelta(positive[x], rowLse, columnLse, _softplus1[i] + _softplus2[i]);
        }
    }

    /// <summary>Row bands of the element-wise passes over the cache: a function of the row count only.</summary>
    private static int PartitionCount(int rows) => (rows + CacheBand - 1) / CacheBand;

    private const int CacheBand = 64;

    /// <summary>The softmax change of one model's batch loss when x joins: <c>-l_xx + (LAE(Rx, l_xx) + LAE(Cx, l_xx) + softplus terms) / 2</c>.</summary>
    private static double SoftmaxDelta(double lxx, double rowLse, double columnLse, double softplusTerms) =>
        -lxx + (0.5 * (SelectionKernels.LogAddExp(rowLse, lxx) + SelectionKernels.LogAddExp(columnLse, lxx))) + (0.5 * softplusTerms);

    /// <summary>Each member's own log-sum-exps over the members, <c>R_m</c> and <c>C_m</c>, from its cached rows.</summary>
    private readonly struct MemberLogSumExpBody : IPartitionBody
    {
        private readonly ModelWork _model;
        private readonly int[] _memberIndex;
        private readonly int _stride;
        private readonly int _members;
        private readonly int _tile;

        public MemberLogSumExpBody(ModelWork model, int[] memberIndex, int stride, int members, int tile)
        {
            _model = model;
            _memberIndex = memberIndex;
            _stride = stride;
            _members = members;
            _tile = tile;
        }

        public void Execute(int partition)
        {
            ModelWork w = _model;
            float bias = w.Embeddings.Bias;
            int k = _members;
            int last = Math.Min(k, (partition + 1) * CacheBand);
            for (int m = partition * CacheBand; m < last; m++)
            {
                int offset = _memberIndex[m] * _stride;
                double rowMax = double.NegativeInfinity, rowSum = 0, columnMax = double.NegativeInfinity, columnSum = 0;
                for (int j0 = 0; j0 < k; j0 += _tile)
                {
                    int width = Math.Min(_tile, k - j0);
                    SelectionKernels.AccumulateLogSumExp(w.RowCache.AsSpan(offset + j0, width), bias, ref rowMax, ref rowSum);
                    SelectionKernels.AccumulateLogSumExp(w.ColumnCache.AsSpan(offset + j0, width), bias, ref columnMax, ref columnSum);
                }

                w.MemberRowLse[m] = (float)(rowMax + Math.Log(rowSum));
                w.MemberColumnLse[m] = (float)(columnMax + Math.Log(columnSum));
            }
        }
    }

    /// <summary>
    /// Adds each cached row's softmax conditional score over all k members to the accumulator: per column tile, the
    /// row's running log-sum-exp and shifted softplus sum, as <see cref="SoftmaxConditionalEpilogue"/> does.
    /// </summary>
    private readonly struct CachedSoftmaxBody : IPartitionBody
    {
        private readonly ModelWork _model;
        private readonly double[] _accumulator;
        private readonly int _stride;
        private readonly int _members;
        private readonly int _rows;
        private readonly int _tile;

        public CachedSoftmaxBody(ModelWork model, double[] accumulator, int stride, int members, int rows, int tile)
        {
            _model = model;
            _accumulator = accumulator;
            _stride = stride;
            _members = members;
            _rows = rows;
            _tile = tile;
        }

        public void Execute(int partition)
        {
            ModelWork w = _model;
            float bias = w.Embeddings.Bias;
            int k = _members;
            ReadOnlySpan<float> rowShift = w.MemberRowLse.AsSpan(0, k);
            ReadOnlySpan<float> columnShift = w.MemberColumnLse.AsSpan(0, k);
            int last = Math.Min(_rows, (partition + 1) * CacheBand);
            for (int x = partition * CacheBand; x < last; x++)
            {
                int offset = x * _stride;
                double rowMax = double.NegativeInfinity, rowSum = 0, columnMax = double.NegativeInfinity, columnSum = 0;
                double softplus1 = 0, softplus2 = 0;
                for (int j0 = 0; j0 < k; j0 += _tile)
                {
                    int width = Math.Min(_tile, k - j0);
                    ReadOnlySpan<float> row = w.RowCache.AsSpan(offset + j0, width);
                    SelectionKernels.AccumulateLogSumExp(row, bias, ref rowMax, ref rowSum);
                    softplus1 += SelectionKernels.SoftplusSumShifted(row, bias, columnShift.Slice(j0, width));
                    ReadOnlySpan<float> column = w.ColumnCache.AsSpan(offset + j0, width);
                    SelectionKernels.AccumulateLogSumExp(column, bias, ref columnMax, ref columnSum);
                    softplus2 += SelectionKernels.SoftplusSumShifted(column, bias, rowShift.Slice(j0, width));
                }

                double rowLse = rowMax + Math.Log(rowSum);
                double columnLse = columnMax + Math.Log(columnSum);
                _accumulator[x] += w.Weight * SoftmaxDelta(w.PositiveLogit[x], rowLse, columnLse, softplus1 + softplus2);
            }
        }
    }

    private static void Reset(double[] max, double[] sum, int n)
    {
        max.AsSpan(0, n).Fill(double.NegativeInfinity);
        sum.AsSpan(0, n).Clear();
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

        /// <summary>Logit cache, row x: <c>l_xm</c> (x as image, member m's text) for m in [0, k); stride = capacity.</summary>
        public float[] RowCache = Array.Empty<float>();

        /// <summary>Logit cache, row x: <c>l_mx</c> (member m's image, x as text) for m in [0, k); stride = capacity.</summary>
        public float[] ColumnCache = Array.Empty<float>();

        public bool Active => !Embeddings.IsEmpty;

        public void Begin(ModelEmbeddings embeddings, double weight, int capacity, ScoreLoss loss, int cachedRows)
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
                if (cachedRows > 0)
                {
                    Grow(ref RowCache, cachedRows * capacity);
                    Grow(ref ColumnCache, cachedRows * capacity);
                }
            }

            Grow(ref PositiveLogit, embeddings.Count);
        }

        /// <summary>
        /// Adds the weighted independent scores; returns true when the model is active, every dot product was finite and
        /// (for a finite <paramref name="normTolerance"/>) every row had unit L2 norm within the tolerance.
        /// </summary>
        public bool AddIndependent(double[] independent, ScoreLoss loss, double normTolerance)
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
            for (int x = 0; x < image.Rows; x++)
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
        /// the new members' texts), then <c>softplus(l_mx)</c> (x as text); returns the index after them.
        /// </summary>
        public int AddSigmoidPairs(EpilogueProduct<SoftplusRowSumEpilogue>[] products, int at, double[] accumulator, int start, int count)
        {
            if (!Active)
            {
                return at;
            }

            int d = Embeddings.Dimension;
            MatrixView newImage = new(MemberImage, start * d, count, d, d);
            MatrixView newText = new(MemberText, start * d, count, d, d);
            var epilogue = new SoftplusRowSumEpilogue(accumulator, Embeddings.Bias, Weight);
            products[at] = new(Transpose.None, Transpose.Transposed, Embeddings.Scale, Embeddings.Image, newText, epilogue);
            products[at + 1] = new(Transpose.None, Transpose.Transposed, Embeddings.Scale, Embeddings.Text, newImage, epilogue);
            return at + 2;
        }
    }
}

/// <summary>Splits per-member work across the ranks of a sharded selection.</summary>
internal interface IMemberSlices
{
    /// <summary>The members [first, first + count) of <paramref name="members"/> this rank computes.</summary>
    (int First, int Count) Slice(int members);

    /// <summary>Fills both spans (one value per member) from every rank's slice.</summary>
    void Gather(Span<float> rowValues, Span<float> columnValues);
}
