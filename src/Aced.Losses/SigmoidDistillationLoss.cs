using System;
using Aced.Core;
using Aced.Losses.Internal;

namespace Aced.Losses;

/// <summary>
/// Sigmoid contrastive distillation (paper Eq. 14/15), with optional teacher ensembles:
/// <code>
/// T_ij = a_t &lt;img_t_i, txt_t_j&gt; + c_t,   S_ij = a_s &lt;img_s_i, txt_s_j&gt; + c_s
/// L = (1/b) sum_i sum_j [ -sigmoid(T_ij) log sigmoid(S_ij) - sigmoid(-T_ij) log sigmoid(-S_ij) ]
/// </code>
/// Reading of Eq. 15: its vector products <c>sigma(T_i.) log sigma(S_i.)</c> sum over every column j of row i, so the
/// loss is the binary cross-entropy of all b^2 pairs divided by b (the SigLIP normalisation of Eq. 7).
/// Per-example values: image-anchored row sums and text-anchored column sums; each sums to <c>b * L</c>.
/// The teacher's binary entropy (same normalisation) is returned, so <c>KL = Loss - TeacherEntropy</c>.
/// With K teachers the loss is by default the average of the K per-teacher losses (targets <c>mean_k sigmoid(T^k)</c>,
/// Eq. 18); with <see cref="Ensemble"/> = <see cref="TeacherEnsemble.MeanOfLogits"/> it is the loss against one teacher
/// whose logits are the mean of the K teachers' logits (targets <c>sigmoid(mean_k T^k)</c>).
/// </summary>
/// <remarks>
/// <para>Gradients w.r.t. the student: <c>G_ij = dL/dS_ij = (sigmoid(S_ij) - mean_k sigmoid(T^k_ij)) / b</c>;
/// <c>dL/dimg_s = a_s G txt_s</c>, <c>dL/dtxt_s = a_s G^T img_s</c>, <c>dL/da_s = sum G_ij &lt;img_s_i, txt_s_j&gt;</c>,
/// <c>dL/dc_s = sum G_ij</c>, with the target <c>sigmoid(mean_k T^k_ij)</c> in place of the mean for
/// <see cref="TeacherEnsemble.MeanOfLogits"/>. Teachers are constants.</para>
/// <para>Cost: (3 + K) b x b x d products through <see cref="Gemm"/> and two fused passes; memory: two r x b
/// buffers (three for K &gt; 1). Deterministic for any thread count; not thread-safe; no steady-state allocation.</para>
/// </remarks>
public sealed class SigmoidDistillationLoss : IPartitionedWork
{
    private readonly PairwiseEngine _engine;

    private bool _teacherPass;
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
    private bool _withColumns;
    private float _gScale;
    private TeacherEnsemble _ensemble;
    private double[] _rowLoss = Array.Empty<double>();
    private double[] _rowH = Array.Empty<double>();
    private double[] _rowGs = Array.Empty<double>();
    private double[] _rowG = Array.Empty<double>();

    /// <summary>Creates the loss with the default workspace policy.</summary>
    public SigmoidDistillationLoss()
        : this(null)
    {
    }

    /// <summary>Creates the loss with a workspace policy (row chunking for large b).</summary>
    public SigmoidDistillationLoss(LossWorkspaceOptions? options)
    {
        _engine = new PairwiseEngine(options);
    }

    /// <summary>The workspace policy.</summary>
    public LossWorkspaceOptions Options => _engine.Options;

    /// <summary>How several teachers are combined (default <see cref="TeacherEnsemble.MeanOfLosses"/>, Eq. 18).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to an undefined value.</exception>
    public TeacherEnsemble Ensemble { get => _ensemble; set => _ensemble = TeacherLogits.Checked(value); }

    /// <summary>Single-teacher distillation; see <see cref="Compute(MatrixView, MatrixView, LogitParameters, ReadOnlySpan{TeacherEmbeddings}, EmbeddingGradients, Span{float}, Span{float})"/>.</summary>
    public DistillationResult Compute(MatrixView image, MatrixView text, LogitParameters logits, TeacherEmbeddings teacher, EmbeddingGradients gradients = default, Span<float> imageAnchored = default, Span<float> textAnchored = default) =>
        Compute(image, text, logits, new ReadOnlySpan<TeacherEmbeddings>(in teacher), gradients, imageAnchored, textAnchored);

    /// <summary>Computes the sigmoid distillation loss against one teacher or the average over an ensemble.</summary>
    /// <param name="image">Student image embeddings, b x d_s.</param>
    /// <param name="text">Student text embeddings, b x d_s.</param>
    /// <param name="logits">Student scale <c>a_s</c> and bias <c>c_s</c>.</param>
    /// <param name="teachers">One or more teachers, each b x d_t.</param>
    /// <param name="gradients">Where to write the student embedding gradients (either may be empty).</param>
    /// <param name="imageAnchored">Receives the row sums <c>sum_j term_ij</c>, or empty.</param>
    /// <param name="textAnchored">Receives the column sums <c>sum_i term_ij</c>, or empty.</param>
    /// <exception cref="ArgumentException">Empty batch or ensemble, shape mismatch, NaN/Inf input, bad destination.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Invalid or overflowing logit parameters.</exception>
    public DistillationResult Compute(MatrixView image, MatrixView text, LogitParameters logits, ReadOnlySpan<TeacherEmbeddings> teachers, EmbeddingGradients gradients = default, Span<float> imageAnchored = default, Span<float> textAnchored = default)
    {
        (int b, int d) = InputCheck.Pair(image, text, nameof(image), nameof(text), out double ni, out double nt);
        InputCheck.Logits(logits, ni, nt, nameof(logits));
        InputCheck.Gradients(gradients, b, d, image, text, default, default);
        TeacherCheck.Teachers(teachers, b, gradients, needsLogits: true);
        InputCheck.PerExample(imageAnchored, b, nameof(imageAnchored));
        InputCheck.PerExample(textAnchored, b, nameof(textAnchored));

        // A mean-of-logits ensemble is one teacher with the averaged logits.
        bool meanOfLogits = _ensemble == TeacherEnsemble.MeanOfLogits && teachers.Length > 1;
        int k = meanOfLogits ? 1 : teachers.Length;
        _scale = logits.Scale;
        _bias = logits.Bias;
        _gScale = 1f / b;
        _teacherWeight = 1f / k;
        _withColumns = !textAnchored.IsEmpty;
        int chunkRows = _engine.Options.ChunkRows(b, k == 1 ? 2 : 3);
        _rowLoss = _engine.Rows(0, chunkRows);
        _rowH = _engine.Rows(1, chunkRows);
        _rowGs = _engine.Rows(2, chunkRows);
        _rowG = _engine.Rows(3, chunkRows);
        double[] columns = _withColumns ? _engine.ColumnTotals(b) : Array.Empty<double>();
        float alpha = gradients.Weight * _scale;
        double loss = 0, gs = 0, g = 0, entropy = 0;

        for (int r0 = 0; r0 < b; r0 += chunkRows)
        {
            int rows = Math.Min(chunkRows, b - r0);
            MatrixView imageChunk = image.RowRange(r0, rows);
            _student = _engine.Buffer(0, rows, b);
            _teacher = _engine.Buffer(1, rows, b);
            _targets = k == 1 ? _teacher : _engine.Buffer(2, rows, b);
            _partitions = PairwiseEngine.Partitions(rows, b);
            Array.Clear(_rowH, 0, rows);
            for (int t = 0; t < k; t++)
            {
                if (meanOfLogits)
                {
                    _teacherBias = TeacherLogits.MeanInto(teachers, imageAnchored: true, r0, rows, _teacher);
                    _teacherScale = 1f;
                }
                else
                {
                    TeacherEmbeddings teacher = teachers[t];
                    Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, teacher.Image.RowRange(r0, rows), teacher.Text, 0f, _teacher);
                    _teacherScale = teacher.Logits.Scale;
                    _teacherBias = teacher.Logits.Bias;
                }

                _accumulateTargets = t > 0;
                _teacherPass = true;
                PartitionWork.Run(this, _partitions);
            }

            Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, imageChunk, text, 0f, _student);
            if (_withColumns)
            {
                _engine.ColumnPartials(_partitions, b);
            }

            _teacherPass = false;
            PartitionWork.Run(this, _partitions);
            for (int i = 0; i < rows; i++)
            {
                loss += _rowLoss[i];
                entropy += _rowH[i];
                gs += _rowGs[i];
                g += _rowG[i];
                if (!imageAnchored.IsEmpty)
                {
                    imageAnchored[r0 + i] = (float)_rowLoss[i];
                }
            }

            if (_withColumns)
            {
                _engine.FoldColumnPartials(_partitions, b);
            }

            PairwiseEngine.BackpropagateChunk(_student, imageChunk, text, r0, alpha, gradients);
        }

        if (_withColumns)
        {
            for (int j = 0; j < b; j++)
            {
                textAnchored[j] = (float)columns[j];
            }
        }

        _student = _teacher = _targets = default;
        return new DistillationResult(loss / b, entropy / b, gs, _scale * gs, g);
    }

    /// <inheritdoc/>
    void IPartitionedWork.Execute(int partition)
    {
        int rows = _student.Rows;
        int n = _student.Columns;
        int start = PairwiseEngine.PartitionStart(partition, _partitions, rows);
        int end = PairwiseEngine.PartitionStart(partition + 1, _partitions, rows);
        Span<float> columns = !_teacherPass && _withColumns ? _engine.ColumnPartial(partition, n) : Span<float>.Empty;
        for (int i = start; i < end; i++)
        {
            if (_teacherPass)
            {
                _rowH[i] += _teacherWeight * RowKernels.SigmoidTeacherRow(_teacher.Row(i), _targets.Row(i), _teacherScale, _teacherBias, _teacherWeight, _accumulateTargets);
            }
            else
            {
                double gs = 0, g = 0;
                _rowLoss[i] = RowKernels.SigmoidStudentRow(_student.Row(i), _targets.Row(i), _scale, _bias, _gScale, columns, ref gs, ref g);
                _rowGs[i] = gs;
                _rowG[i] = g;
            }
        }
    }
}
