using System;
using Aced.Core;
using Aced.Losses.Internal;

namespace Aced.Losses;

/// <summary>
/// Softmax contrastive distillation (paper Eq. 3/12/13), with teacher ensembles (Eq. 18):
/// <code>
/// T_ij = a_t &lt;img_t_i, txt_t_j&gt; + c_t,   S_ij = a_s &lt;img_s_i, txt_s_j&gt; + c_s
/// CE_i2t(i) = -sum_j softmax(T_i.)_j log softmax(S_i.)_j          (image-to-text, row i)
/// CE_t2i(j) = -sum_i softmax(T_.j)_i log softmax(S_.j)_i          (text-to-image, column j)
/// L(i) = (CE_i2t(i) + CE_t2i(i)) / 2,   L = (1/b) sum_i L(i) = -(1/2b) sum_i (row term + column term)
/// </code>
/// Each side uses its own scale as inverse temperature. The loss is a cross-entropy, not a KL divergence;
/// the teacher's entropy (the same average of <c>H(softmax(T_i.))</c> and <c>H(softmax(T_.j))</c>) is returned
/// too, so <c>KL = Loss - TeacherEntropy</c>. The biases cancel in every softmax (Eq. 12 has none); they
/// are accepted for a uniform API and the returned bias gradient is exactly 0. With K teachers the loss is by default
/// the average of the K per-teacher losses (Eq. 18), which equals the cross-entropy against the averaged teacher
/// distributions; with <see cref="Ensemble"/> = <see cref="TeacherEnsemble.MeanOfLogits"/> it is the cross-entropy
/// against the softmaxes of the averaged teacher logits <c>mean_k T^k</c> (the paper's prose).
/// </summary>
/// <remarks>
/// <para>Gradients w.r.t. the student: <c>G_ij = dL/dS_ij = (softmax_row(S)_ij - Pbar_row_ij + softmax_col(S)_ij - Pbar_col_ij) / (2b)</c>,
/// <c>dL/dimg_s = a_s G txt_s</c>, <c>dL/dtxt_s = a_s G^T img_s</c>, <c>dL/da_s = sum G_ij &lt;img_s_i, txt_s_j&gt;</c>.
/// Teachers are constants (no gradient).</para>
/// <para>Cost when the b x b matrices fit in the workspace (default): 3 + K b x b x d products through
/// <see cref="Gemm"/> (S, each T^k, <c>G txt_s</c>, <c>G^T img_s</c>), row and column log-sum-exp passes of S and each
/// T^k, one fused teacher pass per teacher and one fused student pass; memory: two b x b float buffers (three for
/// K &gt; 1). In row chunks (see <see cref="LossWorkspaceOptions"/>) each direction is computed as row softmaxes of its
/// own products, 2 (3 + K) products with r x b buffers. Deterministic for any thread count;
/// not thread-safe; no steady-state allocation.</para>
/// </remarks>
public sealed class SoftmaxDistillationLoss : IPartitionedWork
{
    private readonly PairwiseEngine _engine;
    private readonly LogSumExpStatistics _statistics;

    private Pass _pass;
    private MatrixView _student;
    private MatrixView _teacher;
    private MatrixView _targets;
    private int _partitions;
    private float _scale;
    private float _bias;
    private float _teacherScale;
    private float _teacherBias;
    private float _teacherWeight;
    private bool _accumulateTargets;
    private float _gScale;
    private TeacherEnsemble _ensemble;
    private double[] _rowCe = Array.Empty<double>();
    private double[] _rowH = Array.Empty<double>();
    private double[] _rowGs = Array.Empty<double>();
    private double[] _rowG = Array.Empty<double>();
    private double[] _rowLseS = Array.Empty<double>();
    private double[] _rowLseT = Array.Empty<double>();
    private double[] _colLse = Array.Empty<double>();
    private float[] _colShiftS = Array.Empty<float>();
    private float[] _colShiftT = Array.Empty<float>();
    private float[] _colFactorS = Array.Empty<float>();
    private float[] _colFactorT = Array.Empty<float>();
    private bool _separableS;
    private bool _separableT;
    private double _pivotS;
    private double _pivotT;

    /// <summary>Creates the loss with the default workspace policy.</summary>
    public SoftmaxDistillationLoss()
        : this(null)
    {
    }

    /// <summary>Creates the loss with a workspace policy (row chunking for large b).</summary>
    public SoftmaxDistillationLoss(LossWorkspaceOptions? options)
    {
        _engine = new PairwiseEngine(options);
        _statistics = new LogSumExpStatistics();
    }

    private enum Pass
    {
        DirectionTeacher,
        DirectionStudent,
        TeacherBoth,
        StudentBoth,
    }

    /// <summary>The workspace policy.</summary>
    public LossWorkspaceOptions Options => _engine.Options;

    /// <summary>How several teachers are combined (default <see cref="TeacherEnsemble.MeanOfLosses"/>, Eq. 18).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to an undefined value.</exception>
    public TeacherEnsemble Ensemble { get => _ensemble; set => _ensemble = TeacherLogits.Checked(value); }

    /// <summary>Single-teacher distillation; see <see cref="Compute(MatrixView, MatrixView, LogitParameters, ReadOnlySpan{TeacherEmbeddings}, EmbeddingGradients, Span{float}, Span{float}, Span{float})"/>.</summary>
    public DistillationResult Compute(MatrixView image, MatrixView text, LogitParameters logits, TeacherEmbeddings teacher, EmbeddingGradients gradients = default, Span<float> perExample = default) =>
        Compute(image, text, logits, new ReadOnlySpan<TeacherEmbeddings>(in teacher), gradients, perExample);

    /// <summary>
    /// Computes the distillation loss of the student (<paramref name="image"/>, <paramref name="text"/>,
    /// <paramref name="logits"/>) against one teacher or the average over an ensemble.
    /// </summary>
    /// <param name="image">Student image embeddings, b x d_s.</param>
    /// <param name="text">Student text embeddings, b x d_s.</param>
    /// <param name="logits">Student scale <c>a_s</c> (and bias, which cancels).</param>
    /// <param name="teachers">One or more teachers, each b x d_t (d_t may differ from d_s and between teachers).</param>
    /// <param name="gradients">Where to write the student embedding gradients (either may be empty).</param>
    /// <param name="perExample">Receives <c>L(i)</c>, or empty.</param>
    /// <param name="imageToText">Receives <c>CE_i2t(i)</c> (averaged over teachers), or empty.</param>
    /// <param name="textToImage">Receives <c>CE_t2i(i)</c> (averaged over teachers), or empty.</param>
    /// <exception cref="ArgumentException">Empty batch or ensemble, shape mismatch, NaN/Inf input, bad destination.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Invalid or overflowing logit parameters.</exception>
    public DistillationResult Compute(MatrixView image, MatrixView text, LogitParameters logits, ReadOnlySpan<TeacherEmbeddings> teachers, EmbeddingGradients gradients = default, Span<float> perExample = default, Span<float> imageToText = default, Span<float> textToImage = default)
    {
        (int b, int d) = InputCheck.Pair(image, text, nameof(image), nameof(text), out double ni, out double nt);
        InputCheck.Logits(logits, ni, nt, nameof(logits));
        InputCheck.Gradients(gradients, b, d, image, text, default, default);
        TeacherCheck.Teachers(teachers, b, gradients, needsLogits: true);
        InputCheck.PerExample(perExample, b, nameof(perExample));
        InputCheck.PerExample(imageToText, b, nameof(imageToText));
        InputCheck.PerExample(textToImage, b, nameof(textToImage));

        // A mean-of-logits ensemble is one teacher with the averaged logits.
        bool meanOfLogits = _ensemble == TeacherEnsemble.MeanOfLogits && teachers.Length > 1;
        int k = meanOfLogits ? 1 : teachers.Length;
        _scale = logits.Scale;
        _bias = logits.Bias;
        _gScale = 1f / (2f * b);
        _teacherWeight = 1f / k;
        int chunkRows = _engine.Options.ChunkRows(b, k == 1 ? 2 : 3);
        double[] ceImage = _engine.Rows(4, b);
        double[] ceText = _engine.Rows(5, b);
        (double gs, double g, double entropy) = chunkRows == b
            ? Full(image, text, teachers, k, gradients, ceImage, ceText)
            : Directions(image, text, teachers, k, gradients, chunkRows, ceImage, ceText);

        double total = 0;
        for (int i = 0; i < b; i++)
        {
            double perI = 0.5 * (ceImage[i] + ceText[i]);
            total += perI;
            if (!perExample.IsEmpty)
            {
                perExample[i] = (float)perI;
            }

            if (!imageToText.IsEmpty)
            {
                imageToText[i] = (float)ceImage[i];
            }

            if (!textToImage.IsEmpty)
            {
                textToImage[i] = (float)ceText[i];
            }
        }

        _student = _teacher = _targets = default;
        // dL/dc is exactly 0 (every softmax is shift-invariant); the accumulated g is only rounding.
        _ = g;
        return new DistillationResult(total / b, entropy / (2.0 * b), gs, _scale * gs, 0.0);
    }

    // k: teachers to pass over, the ensemble size or 1 for a mean-of-logits ensemble.
    private (double Gs, double G, double Entropy) Directions(MatrixView image, MatrixView text, ReadOnlySpan<TeacherEmbeddings> teachers, int k, EmbeddingGradients gradients, int chunkRows, double[] ceImage, double[] ceText)
    {
        int b = image.Rows;
        _rowCe = _engine.Rows(0, chunkRows);
        _rowH = _engine.Rows(1, chunkRows);
        _rowGs = _engine.Rows(2, chunkRows);
        _rowG = _engine.Rows(3, chunkRows);
        float alpha = gradients.Weight * _scale;
        double gs = 0, g = 0, entropy = 0;

        for (int direction = 0; direction < 2; direction++)
        {
            MatrixView anchor = direction == 0 ? image : text;
            MatrixView other = direction == 0 ? text : image;
            MatrixView anchorGrad = direction == 0 ? gradients.Image : gradients.Text;
            MatrixView otherGrad = direction == 0 ? gradients.Text : gradients.Image;
            double[] ce = direction == 0 ? ceImage : ceText;
            for (int r0 = 0; r0 < b; r0 += chunkRows)
            {
                int rows = Math.Min(chunkRows, b - r0);
                MatrixView anchorChunk = anchor.RowRange(r0, rows);
                _student = _engine.Buffer(0, rows, b);
                _teacher = _engine.Buffer(1, rows, b);
                _targets = k == 1 ? _teacher : _engine.Buffer(2, rows, b);
                _partitions = PairwiseEngine.Partitions(rows, b);
                Array.Clear(_rowH, 0, rows);

                for (int t = 0; t < k; t++)
                {
                    if (k < teachers.Length)
                    {
                        _teacherBias = TeacherLogits.MeanInto(teachers, direction == 0, r0, rows, _teacher);
                        _teacherScale = 1f;
                    }
                    else
                    {
                        TeacherEmbeddings teacher = teachers[t];
                        MatrixView tAnchor = direction == 0 ? teacher.Image : teacher.Text;
                        MatrixView tOther = direction == 0 ? teacher.Text : teacher.Image;
                        Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, tAnchor.RowRange(r0, rows), tOther, 0f, _teacher);
                        _teacherScale = teacher.Logits.Scale;
                        _teacherBias = teacher.Logits.Bias;
                    }

                    _accumulateTargets = t > 0;
                    _pass = Pass.DirectionTeacher;
                    PartitionWork.Run(this, _partitions);
                }

                Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, anchorChunk, other, 0f, _student);
                _pass = Pass.DirectionStudent;
                PartitionWork.Run(this, _partitions);
                for (int i = 0; i < rows; i++)
                {
                    ce[r0 + i] = _rowCe[i];
                    entropy += _rowH[i];
                    gs += _rowGs[i];
                    g += _rowG[i];
                }

                if (!anchorGrad.IsEmpty)
                {
                    float beta = gradients.Accumulate || direction == 1 ? 1f : 0f;
                    Gemm.Multiply(Transpose.None, Transpose.None, alpha, _student, other, beta, anchorGrad.RowRange(r0, rows));
                }

                if (!otherGrad.IsEmpty)
                {
                    float beta = gradients.Accumulate || direction == 1 || r0 > 0 ? 1f : 0f;
                    Gemm.Multiply(Transpose.Transposed, Transpose.None, alpha, _student, anchorChunk, beta, otherGrad);
                }
            }
        }

        return (gs, g, entropy);
    }

    // k: teachers to pass over, the ensemble size or 1 for a mean-of-logits ensemble.
    private (double Gs, double G, double Entropy) Full(MatrixView image, MatrixView text, ReadOnlySpan<TeacherEmbeddings> teachers, int k, EmbeddingGradients gradients, double[] ceImage, double[] ceText)
    {
        int b = image.Rows;
        _student = _engine.Buffer(0, b, b);
        _teacher = _engine.Buffer(1, b, b);
        _targets = k == 1 ? _teacher : _engine.Buffer(2, b, b);
        _rowCe = _engine.Rows(0, b);
        _rowH = _engine.Rows(1, b);
        _rowGs = _engine.Rows(2, b);
        _rowG = _engine.Rows(3, b);
        _rowLseS = _engine.Rows(6, b);
        _rowLseT = _engine.Rows(7, b);
        _colLse = _engine.Rows(8, b);
        Grow(ref _colShiftS, b);
        Grow(ref _colShiftT, b);
        Grow(ref _colFactorS, b);
        Grow(ref _colFactorT, b);
        _partitions = PairwiseEngine.Partitions(b, b);

        // Student statistics: row and column log-sum-exps of S.
        Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, image, text, 0f, _student);
        (_separableS, _pivotS) = LogSumExps(_student, _scale, _bias, _rowLseS, _colShiftS, _colFactorS);

        Array.Clear(_rowCe, 0, b);
        Array.Clear(_rowH, 0, b);
        double[] columnCe = _engine.ColumnTotals(b);
        _engine.ColumnPartials(_partitions, b);
        for (int t = 0; t < k; t++)
        {
            if (k < teachers.Length)
            {
                _teacherBias = TeacherLogits.MeanInto(teachers, imageAnchored: true, 0, b, _teacher);
                _teacherScale = 1f;
            }
            else
            {
                TeacherEmbeddings teacher = teachers[t];
                Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, teacher.Image, teacher.Text, 0f, _teacher);
                _teacherScale = teacher.Logits.Scale;
                _teacherBias = teacher.Logits.Bias;
            }

            (_separableT, _pivotT) = LogSumExps(_teacher, _teacherScale, _teacherBias, _rowLseT, _colShiftT, _colFactorT);
            _accumulateTargets = t > 0;
            _pass = Pass.TeacherBoth;
            PartitionWork.Run(this, _partitions);
        }

        _engine.FoldColumnPartials(_partitions, b);
        _pass = Pass.StudentBoth;
        PartitionWork.Run(this, _partitions);

        double gs = 0, g = 0, entropy = 0;
        for (int i = 0; i < b; i++)
        {
            ceImage[i] = _rowCe[i];
            ceText[i] = columnCe[i];
            entropy += _rowH[i];
            gs += _rowGs[i];
            g += _rowG[i];
        }

        float alpha = gradients.Weight * _scale;
        if (gradients.WantsImage)
        {
            Gemm.Multiply(Transpose.None, Transpose.None, alpha, _student, text, gradients.Accumulate ? 1f : 0f, gradients.Image);
        }

        if (gradients.WantsText)
        {
            Gemm.Multiply(Transpose.Transposed, Transpose.None, alpha, _student, image, gradients.Accumulate ? 1f : 0f, gradients.Text);
        }

        return (gs, g, entropy);
    }

    /// <summary>
    /// Row log-sum-exps into <paramref name="rowLse"/>, column shifts <c>c - lse_j</c> into <paramref name="colShift"/>
    /// and, when every |rowLse_i - colLse_j| &lt;= 40, column factors <c>exp(K - colLse_j)</c> into <paramref name="colFactor"/>
    /// (returns whether they are valid and K).
    /// </summary>
    private (bool Separable, double Pivot) LogSumExps(MatrixView x, float a, float c, double[] rowLse, float[] colShift, float[] colFactor)
    {
        _statistics.Compute(x, a, c, rowLse, _colLse);
        double minR = double.PositiveInfinity, maxR = double.NegativeInfinity, minC = double.PositiveInfinity, maxC = double.NegativeInfinity;
        for (int j = 0; j < x.Columns; j++)
        {
            colShift[j] = (float)(c - _colLse[j]);
            minR = Math.Min(minR, rowLse[j]);
            maxR = Math.Max(maxR, rowLse[j]);
            minC = Math.Min(minC, _colLse[j]);
            maxC = Math.Max(maxC, _colLse[j]);
        }

        bool separable = maxR - minC <= LogSumExpStatistics.SeparableSpread && maxC - minR <= LogSumExpStatistics.SeparableSpread;
        double pivot = 0.5 * (minC + maxC);
        if (separable)
        {
            for (int j = 0; j < x.Columns; j++)
            {
                colFactor[j] = (float)Math.Exp(pivot - _colLse[j]);
            }
        }

        return (separable, pivot);
    }

    private static void Grow(ref float[] array, int length)
    {
        if (array.Length < length)
        {
            array = new float[length];
        }
    }

    /// <inheritdoc/>
    void IPartitionedWork.Execute(int partition)
    {
        int rows = _student.Rows;
        int start = PairwiseEngine.PartitionStart(partition, _partitions, rows);
        int end = PairwiseEngine.PartitionStart(partition + 1, _partitions, rows);
        int b = _student.Columns;
        Span<float> columnCe = _pass == Pass.TeacherBoth ? _engine.ColumnPartial(partition, b) : default;
        for (int i = start; i < end; i++)
        {
            switch (_pass)
            {
                case Pass.TeacherBoth:
                {
                    float rowShiftT = (float)(_teacherBias - _rowLseT[i]);
                    float rowShiftS = (float)(_bias - _rowLseS[i]);
                    ReadOnlySpan<float> factorT = _separableT ? _colFactorT.AsSpan(0, b) : default;
                    float rowFactorT = _separableT ? (float)Math.Exp(_rowLseT[i] - _pivotT) : 0f;
                    double ce = RowKernels.SoftmaxTeacherBoth(_teacher.Row(i), _student.Row(i), _targets.Row(i), _colShiftT.AsSpan(0, b), _colShiftS.AsSpan(0, b), _teacherScale, rowShiftT, _scale, rowShiftS, _teacherWeight, _accumulateTargets, columnCe, factorT, rowFactorT, out double h);
                    _rowCe[i] += _teacherWeight * ce;
                    _rowH[i] += _teacherWeight * h;
                    break;
                }

                case Pass.StudentBoth:
                {
                    double gs = 0, g = 0;
                    ReadOnlySpan<float> factorS = _separableS ? _colFactorS.AsSpan(0, b) : default;
                    float rowFactorS = _separableS ? (float)Math.Exp(_rowLseS[i] - _pivotS) : 0f;
                    RowKernels.SoftmaxStudentBoth(_student.Row(i), _targets.Row(i), _colShiftS.AsSpan(0, b), _scale, (float)(_bias - _rowLseS[i]), _gScale, factorS, rowFactorS, ref gs, ref g);
                    _rowGs[i] = gs;
                    _rowG[i] = g;
                    break;
                }

                case Pass.DirectionTeacher:
                {
                    Span<float> t = _teacher.Row(i);
                    double lse = RowKernels.LogSumExp(t, _teacherScale, _teacherBias);
                    _rowH[i] += _teacherWeight * RowKernels.SoftmaxTeacherRow(t, _targets.Row(i), _teacherScale, _teacherBias, lse, _teacherWeight, _accumulateTargets);
                    break;
                }

                default:
                {
                    Span<float> s = _student.Row(i);
                    double lse = RowKernels.LogSumExp(s, _scale, _bias);
                    double gs = 0, g = 0;
                    _rowCe[i] = RowKernels.SoftmaxStudentRow(s, _targets.Row(i), _scale, _bias, lse, _gScale, ref gs, ref g);
                    _rowGs[i] = gs;
                    _rowG[i] = g;
                    break;
                }
            }
        }
    }
}
