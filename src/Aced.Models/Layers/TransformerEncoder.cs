using System;
using Aced.Core;

namespace Aced.Models.Layers;

/// <summary>
/// A stack of pre-LN transformer blocks followed by a final layer norm, with every activation laid out once for a
/// batch capacity (llm.c style). Block l: <c>u = x + Attn(LN1(x))</c>, <c>x' = u + MLP(LN2(u))</c> with
/// <c>Attn(y) = MHSA(y Wqkv + bqkv) Wo + bo</c> and <c>MLP(y) = GELU(y W1 + b1) W2 + b2</c>.
/// </summary>
internal sealed class TransformerEncoder
{
    private readonly Block[] _blocks;
    private readonly Parameter _finalScale;
    private readonly Parameter _finalBias;
    private int _capacity;
    private float[][] _residual = [];
    private float[] _final = [];
    private float[] _finalMean = [];
    private float[] _finalRstd = [];
    private float[] _dResidual = [];
    private float[] _dNorm = [];
    private float[] _dAttention = [];
    private float[] _dQkv = [];
    private float[] _dHidden = [];
    private float[] _dProbs = [];
    private readonly PooledRows _pooledRows = new();
    private bool _pooled;
    private float[] _pooledOutput = [];
    private float[] _pooledFinal = [];
    private float[] _dPooledOutput = [];
    private float[] _dPooledResidual = [];

    public TransformerEncoder(string prefix, int width, int depth, int heads, int mlpWidth, int tokens, bool causal, ParameterBuilder parameters)
    {
        Width = width;
        Depth = depth;
        Heads = heads;
        MlpWidth = mlpWidth;
        Tokens = tokens;
        Causal = causal;
        _blocks = new Block[depth];
        for (int l = 0; l < depth; l++)
        {
            _blocks[l] = new Block($"{prefix}.block{l}", width, mlpWidth, parameters);
        }

        _finalScale = parameters.Add($"{prefix}.norm.scale", [width], ParameterKind.Norm, InitKind.Ones);
        _finalBias = parameters.Add($"{prefix}.norm.bias", [width], ParameterKind.Norm, InitKind.Zeros);
    }

    public int Width { get; }

    public int Depth { get; }

    public int Heads { get; }

    public int MlpWidth { get; }

    public int Tokens { get; }

    public bool Causal { get; }

    /// <summary>Ensures forward activations for <paramref name="batch"/> examples (grows only).</summary>
    public void EnsureCapacity(int batch)
    {
        if (batch <= _capacity)
        {
            return;
        }

        int n = batch * Tokens;
        _residual = new float[Depth + 1][];
        for (int l = 0; l <= Depth; l++)
        {
            _residual[l] = new float[n * Width];
        }

        foreach (Block block in _blocks)
        {
            block.Allocate(n, batch * Heads * Tokens * Tokens, batch);
        }

        _pooledOutput = new float[batch * Width];
        _pooledFinal = new float[batch * Width];
        _final = new float[n * Width];
        _finalMean = new float[n];
        _finalRstd = new float[n];
        if (_dResidual.Length > 0)
        {
            AllocateGradients(batch);
        }

        _capacity = batch;
    }

    /// <summary>The buffer the embedding stage writes: rows = batch x tokens, columns = width.</summary>
    public MatrixView Input(int batch) => View(_residual[0], batch * Tokens, Width);

    /// <summary>
    /// The normalised tokens of the last <see cref="Forward(int, ReadOnlySpan{int})"/> (only its pooled rows when it ran
    /// on them only).
    /// </summary>
    public MatrixView Output(int batch) => View(_final, batch * Tokens, Width);

    /// <summary>
    /// Whether a forward given the pooled rows runs the last block after its attention (out projection, residual, LN2,
    /// MLP, residual) and the final norm on those rows only, and the backward likewise (default on; an internal A/B
    /// switch for the tests and the step probes, prune14). The attention itself runs on every row (its keys and values
    /// need them all).
    /// </summary>
    /// <remarks>
    /// Same bits as the computation over every row, at any thread count: every pooled row's forward and backward are
    /// the same per-row operations (a product's row depends on k only, not on the rows around it); the other rows'
    /// gradient terms are exact zeros (x * ±0, x finite), and the pruned sums add the pooled rows' terms in the groups
    /// of the full sums (<see cref="PooledRows"/>): the weight gradients' k blocks (each one fused multiply-add chain
    /// from +0 rounded into dW), the bias and LayerNorm-parameter chunks. Dropping a ±0 term from a round-to-nearest sum
    /// changes nothing unless the partial sum is -0 (x + ±0 = x for x != 0, +0 + ±0 = +0), and then only the sign of a
    /// zero; a sum that starts at +0 (a k block's accumulator, a cleared partial, a zeroed gradient) reaches -0 only by
    /// adding -0 to -0 (or by a product that underflows to -0, below 2^-149 in magnitude). A chunk that starts with a
    /// copied row may start at -0, but it is added into a gradient that starts at +0, where a zero's sign vanishes; the
    /// residual gradient of the non-pooled rows (+0 here, ±0 in the full form) likewise only ever meets additions into
    /// +0-started sums. So only non-finite activations in rows the pooling never reads (NaN gradients in the full form)
    /// would differ.
    /// </remarks>
    internal static bool PooledRowsOnly { get; set; } = true;

    /// <summary>Runs all blocks and the final norm on <see cref="Input"/>; returns the normalised tokens.</summary>
    public MatrixView Forward(int batch) => Forward(batch, default);

    /// <summary>
    /// Runs all blocks and the final norm on <see cref="Input"/>; returns the normalised tokens. With
    /// <paramref name="pooledRows"/> (the token rows the pooling reads, strictly increasing; empty for all rows) and
    /// <see cref="PooledRowsOnly"/>, only those rows of the result are computed.
    /// </summary>
    public MatrixView Forward(int batch, ReadOnlySpan<int> pooledRows)
    {
        int n = batch * Tokens;
        MatrixView output = View(_final, n, Width);
        _pooled = false;
        if (Depth == 0)
        {
            RowOps.LayerNormForward(View(_residual[0], n, Width), _finalScale.Value, _finalBias.Value, output, _finalMean, _finalRstd);
            return output;
        }

        if (PooledRowsOnly && !pooledRows.IsEmpty)
        {
            _pooledRows.Set(pooledRows, n);
            _pooled = true;
        }

        // Each block's last product also applies the next layer norm (the next block's LN1, or the final norm) to the
        // rows it finishes; only the first block normalises its input itself.
        _blocks[0].NormalizeInput(View(_residual[0], n, Width));
        for (int l = 0; l < Depth - 1; l++)
        {
            _blocks[l].Forward(View(_residual[l], n, Width), View(_residual[l + 1], n, Width), batch, Tokens, Heads, Causal, _blocks[l + 1].InputNorm(n));
        }

        Block last = _blocks[Depth - 1];
        MatrixView x = View(_residual[Depth - 1], n, Width);
        if (!_pooled)
        {
            last.Forward(x, View(_residual[Depth], n, Width), batch, Tokens, Heads, Causal, new LayerNormTarget(_finalScale.Value, _finalBias.Value, output, _finalMean, _finalRstd));
            return output;
        }

        int b = _pooledRows.Count;
        MatrixView final = View(_pooledFinal, b, Width);
        last.ForwardPooled(x, View(_pooledOutput, b, Width), batch, Tokens, Heads, Causal, new LayerNormTarget(_finalScale.Value, _finalBias.Value, final, _finalMean, _finalRstd), _pooledRows);
        ReadOnlySpan<int> rows = _pooledRows.Rows;
        for (int i = 0; i < b; i++)
        {
            final.Row(i).CopyTo(output.Row(rows[i]));
        }

        return output;
    }

    /// <summary>
    /// Whether the residual epilogues apply the following layer norms (<see cref="LayerNormTarget"/>); off, every norm
    /// is a separate <see cref="RowOps.LayerNormForward"/> pass (same bits; the benchmarks' A/B probes switch it).
    /// </summary>
    internal static bool FusedNormEnabled { get; set; } = true;

    /// <summary>The target itself, or "no norm" with the norm run by <see cref="ApplySeparately"/> after the product.</summary>
    private static LayerNormTarget Fused(in LayerNormTarget norm) => FusedNormEnabled ? norm : default;

    /// <summary>The norm as a separate pass when <see cref="FusedNormEnabled"/> is off.</summary>
    private static void ApplySeparately(MatrixView y, in LayerNormTarget norm)
    {
        if (!FusedNormEnabled)
        {
            RowOps.LayerNormForward(y, norm.Gamma, norm.Beta, norm.Output, norm.Mean, norm.Rstd);
        }
    }

    /// <summary>Backward from the gradient of the normalised tokens; returns the gradient of <see cref="Input"/>.</summary>
    public MatrixView Backward(int batch, MatrixView dOutput)
    {
        if (_dResidual.Length == 0)
        {
            AllocateGradients(_capacity);
        }

        int n = batch * Tokens;
        MatrixView dRes = View(_dResidual, n, Width);
        TowerPasses.Clear(dRes);
        var scratch = new Scratch(View(_dNorm, n, Width), View(_dAttention, n, Width), View(_dQkv, n, 3 * Width), View(_dHidden, n, MlpWidth), _dProbs);
        int top = Depth - 1;
        if (_pooled)
        {
            // The final norm and the last block's sub-block after the attention on the pooled rows (PooledRowsOnly).
            int b = _pooledRows.Count;
            MatrixView dFinal = View(_dPooledOutput, b, Width);
            RowGather.Gather(dOutput, _pooledRows.Rows, dFinal);
            MatrixView dPooled = View(_dPooledResidual, b, Width);
            dPooled.Span.Clear();
            RowOps.LayerNormBackwardByGroups(View(_pooledOutput, b, Width), _finalScale.Value, _finalMean, _finalRstd, dFinal, dPooled, _finalScale.Gradient, _finalBias.Gradient, _pooledRows.NormGroups);
            _blocks[top].BackwardPooled(View(_residual[top], n, Width), dRes, dPooled, batch, Tokens, Heads, scratch, _pooledRows);
            top--;
        }
        else
        {
            RowOps.LayerNormBackward(View(_residual[Depth], n, Width), _finalScale.Value, _finalMean, _finalRstd, dOutput, dRes, _finalScale.Gradient, _finalBias.Gradient);
        }

        for (int l = top; l >= 0; l--)
        {
            _blocks[l].Backward(View(_residual[l], n, Width), dRes, batch, Tokens, Heads, scratch);
        }

        return dRes;
    }

    private void AllocateGradients(int batch)
    {
        int n = batch * Tokens;
        _dResidual = new float[n * Width];
        _dNorm = new float[n * Width];
        _dAttention = new float[n * Width];
        _dQkv = new float[n * 3 * Width];
        _dHidden = new float[n * MlpWidth];
        _dProbs = new float[batch * Heads * Tokens * Tokens];
        _dPooledOutput = new float[batch * Width];
        _dPooledResidual = new float[batch * Width];
    }

    private static MatrixView View(float[] array, int rows, int columns) => new(array, 0, rows, columns, columns);

    private readonly record struct Scratch(MatrixView DNorm, MatrixView DAttention, MatrixView DQkv, MatrixView DHidden, float[] DProbs);

    private sealed class Block
    {
        private readonly int _width;
        private readonly int _mlpWidth;
        private readonly Parameter _ln1Scale;
        private readonly Parameter _ln1Bias;
        private readonly Parameter _qkvWeight;
        private readonly Parameter _qkvBias;
        private readonly Parameter _outWeight;
        private readonly Parameter _outBias;
        private readonly Parameter _ln2Scale;
        private readonly Parameter _ln2Bias;
        private readonly Parameter _fc1Weight;
        private readonly Parameter _fc1Bias;
        private readonly Parameter _fc2Weight;
        private readonly Parameter _fc2Bias;
        private float[] _ln1 = [];
        private float[] _mean1 = [];
        private float[] _rstd1 = [];
        private float[] _qkv = [];
        private float[] _probs = [];
        private float[] _attention = [];
        private float[] _middle = [];
        private float[] _ln2 = [];
        private float[] _mean2 = [];
        private float[] _rstd2 = [];
        private float[] _hidden = [];
        private float[] _gelu = [];
        private float[] _pooledInput = [];
        private float[] _pooledAttention = [];

        /// <summary>Whether the last <see cref="Forward"/> wrote qkv head-major (<see cref="Attention.HeadMajorQkv"/>); the backward reads it so.</summary>
        private bool _qkvHeadMajor;

        public Block(string prefix, int width, int mlpWidth, ParameterBuilder parameters)
        {
            _width = width;
            _mlpWidth = mlpWidth;
            _ln1Scale = parameters.Add($"{prefix}.ln1.scale", [width], ParameterKind.Norm, InitKind.Ones);
            _ln1Bias = parameters.Add($"{prefix}.ln1.bias", [width], ParameterKind.Norm, InitKind.Zeros);
            _qkvWeight = parameters.Add($"{prefix}.attn.qkv.weight", [width, 3 * width], ParameterKind.Weight, InitKind.XavierUniform, fanOut: width);
            _qkvBias = parameters.Add($"{prefix}.attn.qkv.bias", [3 * width], ParameterKind.Bias, InitKind.Zeros);
            _outWeight = parameters.Add($"{prefix}.attn.out.weight", [width, width], ParameterKind.Weight, InitKind.XavierUniform);
            _outBias = parameters.Add($"{prefix}.attn.out.bias", [width], ParameterKind.Bias, InitKind.Zeros);
            _ln2Scale = parameters.Add($"{prefix}.ln2.scale", [width], ParameterKind.Norm, InitKind.Ones);
            _ln2Bias = parameters.Add($"{prefix}.ln2.bias", [width], ParameterKind.Norm, InitKind.Zeros);
            _fc1Weight = parameters.Add($"{prefix}.mlp.fc1.weight", [width, mlpWidth], ParameterKind.Weight, InitKind.XavierUniform);
            _fc1Bias = parameters.Add($"{prefix}.mlp.fc1.bias", [mlpWidth], ParameterKind.Bias, InitKind.Zeros);
            _fc2Weight = parameters.Add($"{prefix}.mlp.fc2.weight", [mlpWidth, width], ParameterKind.Weight, InitKind.XavierUniform);
            _fc2Bias = parameters.Add($"{prefix}.mlp.fc2.bias", [width], ParameterKind.Bias, InitKind.Zeros);
        }

        public void Allocate(int rows, int probs, int batch)
        {
            _pooledInput = new float[batch * _width];
            _pooledAttention = new float[batch * _width];
            _ln1 = new float[rows * _width];
            _mean1 = new float[rows];
            _rstd1 = new float[rows];
            _qkv = new float[rows * 3 * _width];
            _probs = new float[probs];
            _attention = new float[rows * _width];
            _middle = new float[rows * _width];
            _ln2 = new float[rows * _width];
            _mean2 = new float[rows];
            _rstd2 = new float[rows];
            _hidden = new float[rows * _mlpWidth];
            _gelu = new float[rows * _mlpWidth];
        }

        /// <summary>LN1 of this block as a target for the previous block's last product.</summary>
        public LayerNormTarget InputNorm(int rows) => new(_ln1Scale.Value, _ln1Bias.Value, View(_ln1, rows, _width), _mean1, _rstd1);

        /// <summary>LN1(x) as a separate pass (the first block, whose input comes from the embedding).</summary>
        public void NormalizeInput(MatrixView x) => RowOps.LayerNormForward(x, _ln1Scale.Value, _ln1Bias.Value, View(_ln1, x.Rows, _width), _mean1, _rstd1);

        /// <summary>
        /// The block on x whose LN1 is already in place (<see cref="NormalizeInput"/> or the previous block's
        /// <paramref name="next"/>); writes y and the next layer norm of y into <paramref name="next"/>.
        /// </summary>
        public void Forward(MatrixView x, MatrixView y, int batch, int tokens, int heads, bool causal, in LayerNormTarget next)
        {
            MatrixView att = ForwardAttention(x.Rows, batch, tokens, heads, causal);
            ForwardAfterAttention(att, x, y, next);
        }

        /// <summary>
        /// <see cref="Forward(MatrixView, MatrixView, int, int, int, bool, in LayerNormTarget)"/> with the attention on
        /// every row and the rest on the <paramref name="pooled"/> rows only: y (and <paramref name="next"/>) get one row
        /// per pooled row.
        /// </summary>
        public void ForwardPooled(MatrixView x, MatrixView y, int batch, int tokens, int heads, bool causal, in LayerNormTarget next, PooledRows pooled)
        {
            MatrixView att = ForwardAttention(x.Rows, batch, tokens, heads, causal);
            int b = pooled.Count;
            MatrixView pooledAttention = View(_pooledAttention, b, _width);
            MatrixView pooledInput = View(_pooledInput, b, _width);
            RowGather.Gather(att, pooled.Rows, pooledAttention);
            RowGather.Gather(x, pooled.Rows, pooledInput);
            ForwardAfterAttention(pooledAttention, pooledInput, y, next);
        }

        /// <summary>att = MHSA(LN1(x) Wqkv + bqkv) over the n rows (LN1(x) already in place).</summary>
        private MatrixView ForwardAttention(int n, int batch, int tokens, int heads, bool causal)
        {
            MatrixView ln1 = View(_ln1, n, _width);
            MatrixView qkv = View(_qkv, n, 3 * _width);
            MatrixView att = View(_attention, n, _width);
            _qkvHeadMajor = Attention.HeadMajorQkv;
            if (_qkvHeadMajor)
            {
                Attention.ProjectAndForward(ln1, _qkvWeight.AsMatrix(_width), _qkvBias.Value, qkv, batch, tokens, heads, causal, _probs, att);
            }
            else
            {
                Linear.Forward(ln1, _qkvWeight.AsMatrix(_width), _qkvBias.Value, qkv);
                Attention.Forward(qkv, false, batch, tokens, heads, causal, _probs, att);
            }

            return att;
        }

        /// <summary>mid = x + att Wo + bo, y = mid + GELU(LN2(mid) W1 + b1) W2 + b2 and next = its norm, on the rows of att.</summary>
        private void ForwardAfterAttention(MatrixView att, MatrixView x, MatrixView y, in LayerNormTarget next)
        {
            int n = att.Rows;
            (MatrixView mid, MatrixView ln2, MatrixView hidden, MatrixView gelu) = MlpViews(n);
            var norm2 = new LayerNormTarget(_ln2Scale.Value, _ln2Bias.Value, ln2, _mean2, _rstd2);
            Linear.ForwardResidual(att, _outWeight.AsMatrix(_width), _outBias.Value, x, mid, Fused(norm2));
            ApplySeparately(mid, norm2);
            Linear.ForwardGelu(ln2, _fc1Weight.AsMatrix(_width), _fc1Bias.Value, hidden, gelu);
            Linear.ForwardResidual(gelu, _fc2Weight.AsMatrix(_mlpWidth), _fc2Bias.Value, mid, y, Fused(next));
            ApplySeparately(y, next);
        }

        public void Backward(MatrixView x, MatrixView dRes, int batch, int tokens, int heads, Scratch s)
        {
            int n = x.Rows;
            MatrixView att = View(_attention, n, _width);
            (MatrixView mid, MatrixView ln2, MatrixView hidden, MatrixView gelu) = MlpViews(n);

            // MLP branch: y = mid + GELU(LN2(mid) W1 + b1) W2 + b2.
            Linear.BackwardThroughGelu(gelu, hidden, _fc2Weight.AsMatrix(_mlpWidth), dRes, s.DHidden, _fc2Weight.GradientAsMatrix(_mlpWidth), Linear.RowView(_fc2Bias.Gradient), _fc1Bias.Gradient);
            Linear.Backward(ln2, _fc1Weight.AsMatrix(_width), s.DHidden, s.DNorm, false, _fc1Weight.GradientAsMatrix(_width), default);
            RowOps.LayerNormBackward(mid, _ln2Scale.Value, _mean2, _rstd2, s.DNorm, dRes, _ln2Scale.Gradient, _ln2Bias.Gradient);

            // Attention branch: mid = x + MHSA(LN1(x) Wqkv + bqkv) Wo + bo.
            Linear.Backward(att, _outWeight.AsMatrix(_width), dRes, s.DAttention, false, _outWeight.GradientAsMatrix(_width), Linear.RowView(_outBias.Gradient));
            BackwardAttention(x, dRes, batch, tokens, heads, s);
        }

        /// <summary>
        /// The backward of the forward on the pooled rows: <paramref name="dPooled"/> (one row per pooled row) holds the
        /// gradient of y; the sub-block after the attention runs on those rows (its parameter gradients summed in the
        /// full form's groups, <see cref="PooledRows"/>), then the attention's on every row with dAttention and the
        /// residual gradient <paramref name="dRes"/> (cleared by the caller) zero outside the pooled rows, as the full
        /// form has them.
        /// </summary>
        public void BackwardPooled(MatrixView x, MatrixView dRes, MatrixView dPooled, int batch, int tokens, int heads, Scratch s, PooledRows pooled)
        {
            int b = pooled.Count;
            MatrixView att = View(_pooledAttention, b, _width);
            (MatrixView mid, MatrixView ln2, MatrixView hidden, MatrixView gelu) = MlpViews(b);
            MatrixView dHidden = s.DHidden.RowRange(0, b);
            MatrixView dNorm = s.DNorm.RowRange(0, b);

            Linear.BackwardThroughGeluPooled(gelu, hidden, _fc2Weight.AsMatrix(_mlpWidth), dPooled, dHidden, _fc2Weight.GradientAsMatrix(_mlpWidth), Linear.RowView(_fc2Bias.Gradient), _fc1Bias.Gradient, pooled);
            Linear.BackwardPooled(ln2, _fc1Weight.AsMatrix(_width), dHidden, dNorm, _fc1Weight.GradientAsMatrix(_width), default, pooled);
            RowOps.LayerNormBackwardByGroups(mid, _ln2Scale.Value, _mean2, _rstd2, dNorm, dPooled, _ln2Scale.Gradient, _ln2Bias.Gradient, pooled.NormGroups);

            // The out projection's dx lands in dNorm's first rows, then on the pooled rows of dAttention (zero elsewhere,
            // as the full form's product of zero rows gives: +0); the residual gradient of the pooled rows goes to dRes.
            Linear.BackwardPooled(att, _outWeight.AsMatrix(_width), dPooled, dNorm, _outWeight.GradientAsMatrix(_width), Linear.RowView(_outBias.Gradient), pooled);
            TowerPasses.Clear(s.DAttention);
            ReadOnlySpan<int> rows = pooled.Rows;
            for (int i = 0; i < b; i++)
            {
                dNorm.Row(i).CopyTo(s.DAttention.Row(rows[i]));
                dPooled.Row(i).CopyTo(dRes.Row(rows[i]));
            }

            BackwardAttention(x, dRes, batch, tokens, heads, s);
        }

        /// <summary>The sub-block's activations after the attention (mid, LN2, fc1 output, GELU) over their first <paramref name="rows"/> rows.</summary>
        private (MatrixView Mid, MatrixView Ln2, MatrixView Hidden, MatrixView Gelu) MlpViews(int rows) =>
            (View(_middle, rows, _width), View(_ln2, rows, _width), View(_hidden, rows, _mlpWidth), View(_gelu, rows, _mlpWidth));

        /// <summary>From dAttention (in <paramref name="s"/>) back through MHSA, the qkv projection and LN1; dRes += the LN1 input gradient.</summary>
        private void BackwardAttention(MatrixView x, MatrixView dRes, int batch, int tokens, int heads, Scratch s)
        {
            int n = x.Rows;
            MatrixView ln1 = View(_ln1, n, _width);
            MatrixView qkv = View(_qkv, n, 3 * _width);
            Attention.Backward(qkv, _qkvHeadMajor, batch, tokens, heads, _probs, s.DAttention, s.DQkv, s.DProbs);
            Linear.Backward(ln1, _qkvWeight.AsMatrix(_width), s.DQkv, s.DNorm, false, _qkvWeight.GradientAsMatrix(_width), Linear.RowView(_qkvBias.Gradient));
            RowOps.LayerNormBackward(x, _ln1Scale.Value, _mean1, _rstd1, s.DNorm, dRes, _ln1Scale.Gradient, _ln1Bias.Gradient);
        }
    }
}
