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
/// depends on every member's current log-sum-exp, so each chunk recomputes it over all members:
/// O(B·|M|·d) per chunk.</item>
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
    /// within it of 1 (see <see cref="StudentVerifiedFinite"/>).
    /// </summary>
    public void Begin(SuperBatch batch, ScoringMethod scoring, ScoreLoss loss, int capacity, double normTolerance = double.PositiveInfinity)
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

        _student.Begin(ws == 0 ? default : batch.Student, ws, capacity, loss);
        _reference.Begin(wr == 0 ? default : batch.Reference, wr, capacity, loss);
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
        Update(members.Length);
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
        Update(count);
    }

    /// <summary>Writes candidate <paramref name="index"/>'s member row (the layout of <see cref="AddMemberRows"/>) to <paramref name="destination"/>.</summary>
    public void CopyMemberRow(int index, Span<float> destination)
    {
        int at = _student.CopyRow(index, destination);
        _reference.CopyRow(index, destination.Slice(at));
    }

    private void Update(int count)
    {
        int start = _members;
        _members += count;
        switch (_loss)
        {
            case ScoreLoss.Sigmoid:
                _student.AddSigmoidPairs(_accumulator, start, count);
                _reference.AddSigmoidPairs(_accumulator, start, count);
                break;
            case ScoreLoss.Softmax:
                _accumulator.AsSpan(0, _count).Clear();
                AddSoftmax(_student);
                AddSoftmax(_reference);
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

    private void AddSoftmax(ModelWork model)
    {
        if (!model.Active)
        {
            return;
        }

        int k = _members;
        ModelEmbeddings e = model.Embeddings;
        MatrixView memberImage = new(model.MemberImage, k, e.Dimension);
        MatrixView memberText = new(model.MemberText, k, e.Dimension);

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

        // Candidates against all members: l_xm (x as image) and l_mx (x as text).
        Reset(_max1, _sum1, _count);
        Reset(_max2, _sum2, _count);
        _softplus1.AsSpan(0, _count).Clear();
        _softplus2.AsSpan(0, _count).Clear();
        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, e.Scale, e.Image, memberText, new SoftmaxConditionalEpilogue(_max1, _sum1, _softplus1, model.MemberColumnLse, e.Bias));
        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, e.Scale, e.Text, memberImage, new SoftmaxConditionalEpilogue(_max2, _sum2, _softplus2, model.MemberRowLse, e.Bias));
        double w = model.Weight;
        float[] positive = model.PositiveLogit;
        for (int x = 0; x < _count; x++)
        {
            double lxx = positive[x];
            double rowLse = _max1[x] + Math.Log(_sum1[x]);
            double columnLse = _max2[x] + Math.Log(_sum2[x]);
            double delta = -lxx + (0.5 * (SelectionKernels.LogAddExp(rowLse, lxx) + SelectionKernels.LogAddExp(columnLse, lxx))) + (0.5 * (_softplus1[x] + _softplus2[x]));
            _accumulator[x] += w * delta;
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

        public bool Active => !Embeddings.IsEmpty;

        public void Begin(ModelEmbeddings embeddings, double weight, int capacity, ScoreLoss loss)
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

/// <summary>Splits per-member work across the ranks of a sharded selection.</summary>
internal interface IMemberSlices
{
    /// <summary>The members [first, first + count) of <paramref name="members"/> this rank computes.</summary>
    (int First, int Count) Slice(int members);

    /// <summary>Fills both spans (one value per member) from every rank's slice.</summary>
    void Gather(Span<float> rowValues, Span<float> columnValues);
}
