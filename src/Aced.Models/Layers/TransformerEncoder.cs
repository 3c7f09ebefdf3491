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
            block.Allocate(n, batch * Heads * Tokens * Tokens);
        }

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

    /// <summary>The normalised tokens of the last <see cref="Forward"/>.</summary>
    public MatrixView Output(int batch) => View(_final, batch * Tokens, Width);

    /// <summary>Runs all blocks and the final norm on <see cref="Input"/>; returns the normalised tokens.</summary>
    public MatrixView Forward(int batch)
    {
        int n = batch * Tokens;
        MatrixView output = View(_final, n, Width);
        if (Depth == 0)
        {
            RowOps.LayerNormForward(View(_residual[0], n, Width), _finalScale.Value, _finalBias.Value, output, _finalMean, _finalRstd);
            return output;
        }

        // Each block's last product also applies the next layer norm (the next block's LN1, or the final norm) to the
        // rows it finishes; only the first block normalises its input itself.
        _blocks[0].NormalizeInput(View(_residual[0], n, Width));
        for (int l = 0; l < Depth; l++)
        {
            LayerNormTarget next = l + 1 < Depth ? _blocks[l + 1].InputNorm(n) : new LayerNormTarget(_finalScale.Value, _finalBias.Value, output, _finalMean, _finalRstd);
            _blocks[l].Forward(View(_residual[l], n, Width), View(_residual[l + 1], n, Width), batch, Tokens, Heads, Causal, next);
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
        RowOps.LayerNormBackward(View(_residual[Depth], n, Width), _finalScale.Value, _finalMean, _finalRstd, dOutput, dRes, _finalScale.Gradient, _finalBias.Gradient);
        var scratch = new Scratch(View(_dNorm, n, Width), View(_dAttention, n, Width), View(_dQkv, n, 3 * Width), View(_dHidden, n, MlpWidth), _dProbs);
        for (int l = Depth - 1; l >= 0; l--)
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

        public void Allocate(int rows, int probs)
        {
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
            int n = x.Rows;
            MatrixView ln1 = View(_ln1, n, _width);
            MatrixView qkv = View(_qkv, n, 3 * _width);
            MatrixView att = View(_attention, n, _width);
            MatrixView mid = View(_middle, n, _width);
            MatrixView ln2 = View(_ln2, n, _width);
            MatrixView hidden = View(_hidden, n, _mlpWidth);
            MatrixView gelu = View(_gelu, n, _mlpWidth);

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
            MatrixView ln1 = View(_ln1, n, _width);
            MatrixView qkv = View(_qkv, n, 3 * _width);
            MatrixView att = View(_attention, n, _width);
            MatrixView mid = View(_middle, n, _width);
            MatrixView ln2 = View(_ln2, n, _width);
            MatrixView hidden = View(_hidden, n, _mlpWidth);
            MatrixView gelu = View(_gelu, n, _mlpWidth);

            // MLP branch: y = mid + GELU(LN2(mid) W1 + b1) W2 + b2.
            Linear.BackwardThroughGelu(gelu, hidden, _fc2Weight.AsMatrix(_mlpWidth), dRes, s.DHidden, _fc2Weight.GradientAsMatrix(_mlpWidth), Linear.RowView(_fc2Bias.Gradient), _fc1Bias.Gradient);
            Linear.Backward(ln2, _fc1Weight.AsMatrix(_width), s.DHidden, s.DNorm, false, _fc1Weight.GradientAsMatrix(_width), default);
            RowOps.LayerNormBackward(mid, _ln2Scale.Value, _mean2, _rstd2, s.DNorm, dRes, _ln2Scale.Gradient, _ln2Bias.Gradient);

            // Attention branch: mid = x + MHSA(LN1(x) Wqkv + bqkv) Wo + bo.
            Linear.Backward(att, _outWeight.AsMatrix(_width), dRes, s.DAttention, false, _outWeight.GradientAsMatrix(_width), Linear.RowView(_outBias.Gradient));
            Attention.Backward(qkv, _qkvHeadMajor, batch, tokens, heads, _probs, s.DAttention, s.DQkv, s.DProbs);
            Linear.Backward(ln1, _qkvWeight.AsMatrix(_width), s.DQkv, s.DNorm, false, _qkvWeight.GradientAsMatrix(_width), Linear.RowView(_qkvBias.Gradient));
            RowOps.LayerNormBackward(x, _ln1Scale.Value, _mean1, _rstd1, s.DNorm, dRes, _ln1Scale.Gradient, _ln1Bias.Gradient);
        }
    }
}
