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
/// O(B·|N|·d), folds them into each candidate's running <c>Rx</c>, <c>Cx</c> (whose values at the members are the
/// members' <c>R_m</c>, <c>C_m</c>), then passes once over the cached rows, O(B·|M|) element-wise work. Rows beyond
/// the budget are recomputed from the packed members each chunk: O(B·|M|·d).</item>
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
    private int _capacity;
    private int _cachedRows;

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
        int start = _members;
        if (_loss == ScoreLoss.Softmax)
        {
            members.CopyTo(_memberIndex.AsSpan(start));
        }

        _members += members.Length;
        switch (_loss)
        {
            case ScoreLoss.Sigmoid:
                _student.AddSigmoidPairs(_accumulator, start, members.Length);
                _reference.AddSigmoidPairs(_accumulator, start, members.Length);
                break;
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
            // The new members' logits for the cached rows: l_xm (x as image) and l_mx (x as text), then fold them
            // into every cached candidate's running Rx = LSE_m l_xm and Cx = LSE_m l_mx.
            int c = k - start;
            MatrixView newImage = new(model.MemberImage, start * d, c, d, d);
            MatrixView newText = new(model.MemberText, start * d, c, d, d);
            Gemm.Multiply(Transpose.None, Transpose.Transposed, e.Scale, e.Image.RowRange(0, cached), newText, 0f, new MatrixView(model.RowCache, start, cached, c, _capacity));
            Gemm.Multiply(Transpose.None, Transpose.Transposed, e.Scale, e.Text.RowRange(0, cached), newImage, 0f, new MatrixView(model.ColumnCache, start, cached, c, _capacity));
            ParallelPartition.Run(PartitionCount(cached), new CachedLogSumExpBody(model, _capacity, start, k, cached));
        }

        if (cached == _count)
        {
            // Every member is a cached candidate: its R_m, C_m are its running Rx, Cx (x in M includes l_mm).
            for (int m = 0; m < k; m++)
            {
                int x = _memberIndex[m];
                model.MemberRowLse[m] = (float)(model.RowMax[x] + Math.Log(model.RowSum[x]));
                model.MemberColumnLse[m] = (float)(model.ColumnMax[x] + Math.Log(model.ColumnSum[x]));
            }
        }
        else
        {
            // Members' own log-sum-exps over the members: R_m (rows of l over member texts), C_m (columns).
            Reset(_max1, _sum1, k);
            Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, e.Scale, memberImage, memberText, new RowLogSumExpEpilogue(_max1, _sum1, e.Bias));
            Reset(_max2, _sum2, k);
            Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, e.Scale, memberText, memberImage, new RowLogSumExpEpilogue(_max2, _sum2, e.Bias));
            for (int m = 0; m < k; m++)
            {
                model.MemberRowLse[m] = (float)(_max1[m] + Math.Log(_sum1[m]));
                model.MemberColumnLse[m] = (float)(_max2[m] + Math.Log(_sum2[m]));
            }
        }

        if (cached > 0)
        {
            ParallelPartition.Run(PartitionCount(cached), new CachedSoftmaxBody(model, _accumulator, _capacity, k, cached));
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

    /// <summary>Folds the new members' cached logits (columns [start, end)) into each cached row's running log-sum-exps.</summary>
    private readonly struct CachedLogSumExpBody : IPartitionBody
    {
        private readonly ModelWork _model;
        private readonly int _stride;
        private readonly int _start;
        private readonly int _end;
        private readonly int _rows;

        public CachedLogSumExpBody(ModelWork model, int stride, int start, int end, int rows)
        {
            _model = model;
            _stride = stride;
            _start = start;
            _end = end;
            _rows = rows;
        }

        public void Execute(int partition)
        {
            ModelWork m = _model;
            float bias = m.Embeddings.Bias;
            int last = Math.Min(_rows, (partition + 1) * CacheBand);
            for (int x = partition * CacheBand; x < last; x++)
            {
                long offset = ((long)x * _stride) + _start;
                SelectionKernels.AccumulateLogSumExp(m.RowCache.AsSpan((int)offset, _end - _start), bias, ref m.RowMax[x], ref m.RowSum[x]);
                SelectionKernels.AccumulateLogSumExp(m.ColumnCache.AsSpan((int)offset, _end - _start), bias, ref m.ColumnMax[x], ref m.ColumnSum[x]);
            }
        }
    }

    /// <summary>Adds each cached row's softmax conditional score over all k members to the accumulator.</summary>
    private readonly struct CachedSoftmaxBody : IPartitionBody
    {
        private readonly ModelWork _model;
        private readonly double[] _accumulator;
        private readonly int _stride;
        private readonly int _members;
        private readonly int _rows;

        public CachedSoftmaxBody(ModelWork model, double[] accumulator, int stride, int members, int rows)
        {
            _model = model;
            _accumulator = accumulator;
            _stride = stride;
            _members = members;
            _rows = rows;
        }

        public void Execute(int partition)
        {
            ModelWork m = _model;
            float bias = m.Embeddings.Bias;
            double w = m.Weight;
            int k = _members;
            ReadOnlySpan<float> rowShift = m.MemberRowLse.AsSpan(0, k);
            ReadOnlySpan<float> columnShift = m.MemberColumnLse.AsSpan(0, k);
            int last = Math.Min(_rows, (partition + 1) * CacheBand);
            for (int x = partition * CacheBand; x < last; x++)
            {
                int offset = x * _stride;
                double softplus = SelectionKernels.SoftplusSumShifted(m.RowCache.AsSpan(offset, k), bias, columnShift)
                    + SelectionKernels.SoftplusSumShifted(m.ColumnCache.AsSpan(offset, k), bias, rowShift);
                double rowLse = m.RowMax[x] + Math.Log(m.RowSum[x]);
                double columnLse = m.ColumnMax[x] + Math.Log(m.ColumnSum[x]);
                _accumulator[x] += w * SoftmaxDelta(m.PositiveLogit[x], rowLse, columnLse, softplus);
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

        /// <summary>Running (max, sum of exp) of the cached rows: Rx = LSE_m l_xm and Cx = LSE_m l_mx.</summary>
        public double[] RowMax = Array.Empty<double>();

        public double[] RowSum = Array.Empty<double>();

        public double[] ColumnMax = Array.Empty<double>();

        public double[] ColumnSum = Array.Empty<double>();

        public bool Active => !Embeddings.IsEmpty;

        public void Begin(ModelEmbeddings embeddings, double weight, int capacity, ScoreLoss loss, int cachedRows)
        {
            Embeddings = embeddings;
            Weight = weight;
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
                    Grow(ref RowMax, cachedRows);
                    Grow(ref RowSum, cachedRows);
                    Grow(ref ColumnMax, cachedRows);
                    Grow(ref ColumnSum, cachedRows);
                    RowMax.AsSpan(0, cachedRows).Fill(double.NegativeInfinity);
                    RowSum.AsSpan(0, cachedRows).Clear();
                    ColumnMax.AsSpan(0, cachedRows).Fill(double.NegativeInfinity);
                    ColumnSum.AsSpan(0, cachedRows).Clear();
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

        public void AddSigmoidPairs(double[] accumulator, int start, int count)
        {
            if (!Active)
            {
                return;
            }

            int d = Embeddings.Dimension;
            MatrixView newImage = new(MemberImage, start * d, count, d, d);
            MatrixView newText = new(MemberText, start * d, count, d, d);

            // sum_m softplus(l_xm): x as image against the new members' texts; then softplus(l_mx): x as text.
            Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, Embeddings.Scale, Embeddings.Image, newText, new SoftplusRowSumEpilogue(accumulator, Embeddings.Bias, Weight));
            Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, Embeddings.Scale, Embeddings.Text, newImage, new SoftplusRowSumEpilogue(accumulator, Embeddings.Bias, Weight));
        }
    }
}
