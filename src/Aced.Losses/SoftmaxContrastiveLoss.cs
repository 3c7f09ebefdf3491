using System;
using Aced.Core;
using Aced.Losses.Internal;

namespace Aced.Losses;

/// <summary>
/// The CLIP softmax contrastive loss (paper Eq. 6, open_clip <c>ClipLoss</c> convention: the mean of the
/// image-to-text and text-to-image cross-entropies):
/// <code>
/// l_ij = a &lt;img_i, txt_j&gt; + c
/// CE_i2t(i) = -log softmax_j(l_i.)_i = logsumexp_j l_ij - l_ii
/// CE_t2i(j) = -log softmax_i(l_.j)_j = logsumexp_i l_ij - l_jj
/// L(i) = (CE_i2t(i) + CE_t2i(i)) / 2                      (per-example value, Eq. 6)
/// L    = (1/b) sum_i L(i)
/// </code>
/// The loss is invariant to the bias <c>c</c> (every softmax is shift-invariant); <c>c</c> is accepted for a
/// uniform API and its gradient is returned as exactly 0 (the analytic value, not the rounding residue).
/// </summary>
/// <remarks>
/// <para>Gradients: <c>G_ij = dL/dl_ij = (softmax_row(l)_ij + softmax_col(l)_ij - 2 [i == j]) / (2b)</c>;
/// <c>dL/dimg = a G txt</c>, <c>dL/dtxt = a G^T img</c>, <c>dL/da = sum G_ij &lt;img_i, txt_j&gt;</c>,
/// <c>dL/dt = a dL/da</c>.</para>
/// <para>Cost when the b x b similarities fit in the workspace (default): three b x b x d products through
/// <see cref="Gemm"/>, two row-contiguous passes for the row and column log-sum-exps (maxima, then sums) and one
/// fused gradient pass that overwrites the similarities in place. In row chunks (large b, see <see cref="LossWorkspaceOptions"/>),
/// each direction is computed as row softmaxes of its own product, so the cost is six products and
/// r x b floats of memory.</para>
/// <para>Numerics: max-shifted log-sum-exp in double per row/column; finite for every finite input.
/// Deterministic for any thread count. Not thread-safe; reuses its workspace (no steady-state allocation).</para>
/// </remarks>
public sealed class SoftmaxContrastiveLoss : IPartitionedWork
{
    private readonly PairwiseEngine _engine;
    private readonly LogSumExpStatistics _statistics;

    private Pass _pass;
    private MatrixView _chunk;
    private int _rowStart;
    private int _partitions;
    private float _scale;
    private float _bias;
    private float _gScale;
    private double[] _rowLse = Array.Empty<double>();
    private double[] _rowCe = Array.Empty<double>();
    private double[] _rowGs = Array.Empty<double>();
    private double[] _rowG = Array.Empty<double>();
    private double[] _colLse = Array.Empty<double>();
    private MatrixView _colShift;
    private bool _separable;
    private double _pivot;

    /// <summary>Creates the loss with the default workspace policy.</summary>
    public SoftmaxContrastiveLoss()
        : this(null)
    {
    }

    /// <summary>Creates the loss with a workspace policy (row chunking for large b).</summary>
    public SoftmaxContrastiveLoss(LossWorkspaceOptions? options)
    {
        _engine = new PairwiseEngine(options);
        _statistics = new LogSumExpStatistics();
    }

    private enum Pass
    {
        BothGradient,
        Direction,
    }

    /// <summary>The workspace policy.</summary>
    public LossWorkspaceOptions Options => _engine.Options;

    /// <summary>
    /// Computes the loss, its scalar gradients and, when requested, per-example values and embedding gradients.
    /// </summary>
    /// <param name="image">Image embeddings, b x d (normally L2-normalised rows; used exactly as given).</param>
    /// <param name="text">Text embeddings, b x d, row i paired with image row i.</param>
    /// <param name="logits">Scale <c>a</c> and bias <c>c</c>.</param>
    /// <param name="gradients">Where to write <c>dL/dimg</c>, <c>dL/dtxt</c> (either may be empty).</param>
    /// <param name="perExample">Receives <c>L(i)</c> (Eq. 6; their mean is the loss), or empty.</param>
    /// <param name="imageToText">Receives <c>CE_i2t(i)</c>, or empty.</param>
    /// <param name="textToImage">Receives <c>CE_t2i(i)</c>, or empty.</param>
    /// <exception cref="ArgumentException">b = 0, shapes disagree, an input holds NaN/Inf, a destination has the wrong shape or overlaps an input.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="logits"/> is invalid or would overflow float with these embeddings.</exception>
    public LossResult Compute(MatrixView image, MatrixView text, LogitParameters logits, EmbeddingGradients gradients = default, Span<float> perExample = default, Span<float> imageToText = default, Span<float> textToImage = default)
    {
        (int b, int d) = InputCheck.Pair(image, text, nameof(image), nameof(text), out double ni, out double nt);
        InputCheck.Logits(logits, ni, nt, nameof(logits));
        InputCheck.Gradients(gradients, b, d, image, text, default, default);
        InputCheck.PerExample(perExample, b, nameof(perExample));
        InputCheck.PerExample(imageToText, b, nameof(imageToText));
        InputCheck.PerExample(textToImage, b, nameof(textToImage));

        _scale = logits.Scale;
        _bias = logits.Bias;
        _gScale = 1f / (2f * b);
        int chunkRows = _engine.Options.ChunkRows(b, 1);
        double[] ceImage = _engine.Rows(4, b);
        double[] ceText = _engine.Rows(5, b);
        (double gs, double g) = chunkRows == b
            ? Full(image, text, gradients, ceImage, ceText)
            : Chunked(image, text, gradients, chunkRows, ceImage, ceText);

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

        _chunk = default;
        // dL/dc is exactly 0 (each row and column softmax is shift-invariant); the accumulated g is only rounding.
        _ = g;
        return new LossResult(total / b, gs, _scale * gs, 0.0);
    }

    private (double Gs, double G) Full(MatrixView image, MatrixView text, EmbeddingGradients gradients, double[] ceImage, double[] ceText)
    {
        int b = image.Rows;
        _chunk = _engine.Buffer(0, b, b);
        _rowStart = 0;
        _rowLse = _engine.Rows(0, b);
        _rowGs = _engine.Rows(1, b);
        _rowG = _engine.Rows(2, b);
        _colLse = _engine.Rows(3, b);
        Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, image, text, 0f, _chunk);

        _partitions = PairwiseEngine.Partitions(b, b);
        _statistics.Compute(_chunk, _scale, _bias, _rowLse, _colLse);
        _colShift = _engine.Buffer(2, 1, b);

        Span<float> shift = _colShift.Row(0);
        double minR = double.PositiveInfinity, maxR = double.NegativeInfinity, minC = double.PositiveInfinity, maxC = double.NegativeInfinity;
        for (int i = 0; i < b; i++)
        {
            double diag = ((double)_scale * _chunk[i, i]) + _bias;
            ceImage[i] = _rowLse[i] - diag;
            ceText[i] = _colLse[i] - diag;
            minR = Math.Min(minR, _rowLse[i]);
            maxR = Math.Max(maxR, _rowLse[i]);
            minC = Math.Min(minC, _colLse[i]);
            maxC = Math.Max(maxC, _colLse[i]);
        }

        // exp(l - colLse_j) = exp(l - rowLse_i) * exp(rowLse_i - K) * exp(K - colLse_j): one exponential per element
        // when every |rowLse_i - colLse_j| <= 40 (all factors normal floats); otherwise two exponentials.
        _separable = maxR - minC <= LogSumExpStatistics.SeparableSpread && maxC - minR <= LogSumExpStatistics.SeparableSpread;
        _pivot = 0.5 * (minC + maxC);
        for (int j = 0; j < b; j++)
        {
            shift[j] = _separable ? (float)Math.Exp(_pivot - _colLse[j]) : (float)(_bias - _colLse[j]);
        }

        _pass = Pass.BothGradient;
        PartitionWork.Run(this, _partitions);
        double gs = 0, g = 0;
        for (int i = 0; i < b; i++)
        {
            gs += _rowGs[i];
            g += _rowG[i];
        }

        float alpha = gradients.Weight * _scale;
        PairwiseEngine.BackpropagateChunk(_chunk, image, text, 0, alpha, gradients);

        return (gs, g);
    }

    private (double Gs, double G) Chunked(MatrixView image, MatrixView text, EmbeddingGradients gradients, int chunkRows, double[] ceImage, double[] ceText)
    {
        int b = image.Rows;
        _rowLse = _engine.Rows(0, chunkRows);
        _rowGs = _engine.Rows(1, chunkRows);
        _rowG = _engine.Rows(2, chunkRows);
        float alpha = gradients.Weight * _scale;
        double gs = 0, g = 0;
        _pass = Pass.Direction;
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
                _chunk = _engine.Buffer(0, rows, b);
                _rowStart = r0;
                Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, anchorChunk, other, 0f, _chunk);
                _partitions = PairwiseEngine.Partitions(rows, b);
                PartitionWork.Run(this, _partitions);
                for (int i = 0; i < rows; i++)
                {
                    ce[r0 + i] = _rowLse[i];
                    gs += _rowGs[i];
                    g += _rowG[i];
                }

                if (!anchorGrad.IsEmpty)
                {
                    float beta = gradients.Accumulate || direction == 1 ? 1f : 0f;
                    Gemm.Multiply(Transpose.None, Transpose.None, alpha, _chunk, other, beta, anchorGrad.RowRange(r0, rows));
                }

                if (!otherGrad.IsEmpty)
                {
                    float beta = gradients.Accumulate || direction == 1 || r0 > 0 ? 1f : 0f;
                    Gemm.Multiply(Transpose.Transposed, Transpose.None, alpha, _chunk, anchorChunk, beta, otherGrad);
                }
            }
        }

        return (gs, g);
    }

    /// <inheritdoc/>
    void IPartitionedWork.Execute(int partition)
    {
        int rows = _chunk.Rows;
        int start = PairwiseEngine.PartitionStart(partition, _partitions, rows);
        int end = PairwiseEngine.PartitionStart(partition + 1, _partitions, rows);
        for (int i = start; i < end; i++)
        {
            Span<float> row = _chunk.Row(i);
            int diag = _rowStart + i;
            switch (_pass)
            {
                case Pass.BothGradient:
                {
                    double gs = 0, g = 0;
                    if (_separable)
                    {
                        RowKernels.SoftmaxBothGradientSeparable(row, _colShift.Row(0), diag, _scale, _bias, _rowLse[i], (float)Math.Exp(_rowLse[i] - _pivot), _gScale, ref gs, ref g);
                    }
                    else
                    {
                        RowKernels.SoftmaxBothGradient(row, _colShift.Row(0), diag, _scale, _bias, _rowLse[i], _gScale, ref gs, ref g);
                    }

                    _rowGs[i] = gs;
                    _rowG[i] = g;
                    break;
                }

                default:
                {
                    double lse = RowKernels.LogSumExp(row, _scale, _bias);
                    double diagLogit = ((double)_scale * row[diag]) + _bias;
                    double gs = 0, g = 0;
                    RowKernels.SoftmaxRowGradient(row, diag, _scale, _bias, lse, _gScale, ref gs, ref g);
                    _rowLse[i] = lse - diagLogit; // the row's cross-entropy
                    _rowGs[i] = gs;
                    _rowG[i] = g;
                    break;
                }
            }
        }
    }
}
