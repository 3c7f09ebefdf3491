using System;
using Aced.Core;
using Aced.Losses.Internal;

namespace Aced.Losses;

/// <summary>
/// The SigLIP sigmoid contrastive loss (paper Eq. 7, big_vision / open_clip <c>SigLipLoss</c> convention):
/// <code>
/// l_ij = a &lt;img_i, txt_j&gt; + c,   y_ii = +1, y_ij = -1 (i != j)
/// L    = (1/b) sum_{i,j} -log sigmoid(y_ij l_ij)            (sum over all b^2 pairs, divided by b)
/// </code>
/// Per-example values: image-anchored <c>L_img(i) = sum_j -log sigmoid(y_ij l_ij)</c> (row i, Eq. 7) and
/// text-anchored <c>L_txt(j) = sum_i -log sigmoid(y_ij l_ij)</c> (column j), so
/// <c>sum_i L_img(i) = sum_j L_txt(j) = b * L</c>.
/// </summary>
/// <remarks>
/// <para>Gradients: <c>G_ij = dL/dl_ij = -y_ij sigmoid(-y_ij l_ij) / b</c>; <c>dL/dimg = a G txt</c>,
/// <c>dL/dtxt = a G^T img</c>, <c>dL/da = sum G_ij &lt;img_i, txt_j&gt;</c>, <c>dL/dt = a dL/da</c>,
/// <c>dL/dc = sum G_ij</c>.</para>
/// <para>Cost: three b x b x d products through <see cref="Gemm.Multiply(Transpose, Transpose, float, MatrixView, MatrixView, float, MatrixView)"/>
/// (<c>img txt^T</c>, <c>G txt</c>, <c>G^T img</c>) and one fused vectorised pass over the b x b similarities, which
/// is overwritten by G in place. Memory: one b x b float buffer, or r x b in row chunks (see
/// <see cref="LossWorkspaceOptions"/>), with the same three products.</para>
/// <para>Numerics: <c>-log sigmoid(x)</c> is evaluated as a softplus with <c>log1p</c>, finite for every finite
/// input; per-row sums are reduced in double in a fixed order, so results do not depend on the thread count.
/// An instance keeps its workspace between calls (no allocation in steady state) and is not thread-safe.</para>
/// </remarks>
public sealed class SigmoidContrastiveLoss : IPartitionedWork
{
    private readonly PairwiseEngine _engine;

    // State of the current chunk pass.
    private MatrixView _chunk;
    private int _rowStart;
    private int _partitions;
    private float _scale;
    private float _bias;
    private float _gScale;
    private bool _withColumns;
    private double[] _rowLoss = Array.Empty<double>();
    private double[] _rowGs = Array.Empty<double>();
    private double[] _rowG = Array.Empty<double>();

    /// <summary>Creates the loss with the default workspace policy.</summary>
    public SigmoidContrastiveLoss()
        : this(null)
    {
    }

    /// <summary>Creates the loss with a workspace policy (row chunking for large b).</summary>
    public SigmoidContrastiveLoss(LossWorkspaceOptions? options)
    {
        _engine = new PairwiseEngine(options);
    }

    /// <summary>The workspace policy.</summary>
    public LossWorkspaceOptions Options => _engine.Options;

    /// <summary>
    /// Computes the loss, its scalar gradients and, when requested, the per-example values and embedding gradients.
    /// </summary>
    /// <param name="image">Image embeddings, b x d (normally L2-normalised rows; used exactly as given).</param>
    /// <param name="text">Text embeddings, b x d, row i paired with image row i.</param>
    /// <param name="logits">Scale <c>a</c> and bias <c>c</c>.</param>
    /// <param name="gradients">Where to write <c>dL/dimg</c>, <c>dL/dtxt</c> (either may be empty).</param>
    /// <param name="imageAnchored">Receives <c>L_img(i)</c> for i &lt; b, or empty.</param>
    /// <param name="textAnchored">Receives <c>L_txt(j)</c> for j &lt; b, or empty.</param>
    /// <exception cref="ArgumentException">b = 0, shapes disagree, an input holds NaN/Inf, a destination has the wrong shape or overlaps an input.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="logits"/> is invalid or would overflow float with these embeddings.</exception>
    public LossResult Compute(MatrixView image, MatrixView text, LogitParameters logits, EmbeddingGradients gradients = default, Span<float> imageAnchored = default, Span<float> textAnchored = default)
    {
        (int b, int d) = InputCheck.Pair(image, text, nameof(image), nameof(text), out double ni, out double nt);
        InputCheck.Logits(logits, ni, nt, nameof(logits));
        InputCheck.Gradients(gradients, b, d, image, text, default, default);
        InputCheck.PerExample(imageAnchored, b, nameof(imageAnchored));
        InputCheck.PerExample(textAnchored, b, nameof(textAnchored));

        float a = logits.Scale;
        _scale = a;
        _bias = logits.Bias;
        _gScale = 1f / b;
        _withColumns = !textAnchored.IsEmpty;
        int chunkRows = _engine.Options.ChunkRows(b, 1);
        _rowLoss = _engine.Rows(0, chunkRows);
        _rowGs = _engine.Rows(1, chunkRows);
        _rowG = _engine.Rows(2, chunkRows);
        double[] columns = _withColumns ? _engine.ColumnTotals(b) : Array.Empty<double>();
        double loss = 0, gs = 0, g = 0;
        float alpha = gradients.Weight * a;

        for (int r0 = 0; r0 < b; r0 += chunkRows)
        {
            int rows = Math.Min(chunkRows, b - r0);
            MatrixView imageChunk = image.RowRange(r0, rows);
            _chunk = _engine.Buffer(0, rows, b);
            _rowStart = r0;
            Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, imageChunk, text, 0f, _chunk);
            _partitions = PairwiseEngine.Partitions(rows, b);
            if (_withColumns)
            {
                _engine.ColumnPartials(_partitions, b);
            }

            PartitionWork.Run(this, _partitions);
            for (int i = 0; i < rows; i++)
            {
                loss += _rowLoss[i];
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

            PairwiseEngine.BackpropagateChunk(_chunk, imageChunk, text, r0, alpha, gradients);
        }

        if (_withColumns)
        {
            for (int j = 0; j < b; j++)
            {
                textAnchored[j] = (float)columns[j];
            }
        }

        _chunk = default;
        return new LossResult(loss / b, gs, a * gs, g);
    }

    /// <inheritdoc/>
    void IPartitionedWork.Execute(int partition)
    {
        int rows = _chunk.Rows;
        int n = _chunk.Columns;
        int start = PairwiseEngine.PartitionStart(partition, _partitions, rows);
        int end = PairwiseEngine.PartitionStart(partition + 1, _partitions, rows);
        Span<float> columns = _withColumns ? _engine.ColumnPartial(partition, n) : Span<float>.Empty;
        for (int i = start; i < end; i++)
        {
            Span<float> row = _chunk.Row(i);
            int diag = _rowStart + i;
            double loss = 0, gs = 0, g = 0;
            RowKernels.SigmoidNegatives(row.Slice(0, diag), _scale, _bias, _gScale, columns.IsEmpty ? columns : columns.Slice(0, diag), ref loss, ref gs, ref g);
            RowKernels.SigmoidNegatives(row.Slice(diag + 1), _scale, _bias, _gScale, columns.IsEmpty ? columns : columns.Slice(diag + 1), ref loss, ref gs, ref g);
            float positive = RowKernels.SigmoidPositive(ref row[diag], _scale, _bias, _gScale, ref gs, ref g);
            if (!columns.IsEmpty)
            {
                columns[diag] += positive;
            }

            _rowLoss[i] = loss + positive;
            _rowGs[i] = gs;
            _rowG[i] = g;
        }
    }
}
