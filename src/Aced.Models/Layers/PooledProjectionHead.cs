using System;
using Aced.Core;

namespace Aced.Models.Layers;

/// <summary>
/// The end of a tower: pooling of the encoder's tokens (<see cref="PoolingLayer"/>) followed by the linear projection
/// <c>z = pooled * W + b</c> to the embedding width, with their activation buffers (gradient buffers allocated on the
/// first <see cref="Backward"/> only, so encode-only towers hold none). Shared by the image and text towers.
/// </summary>
internal sealed class PooledProjectionHead
{
    private readonly PoolingLayer _pooling;
    private readonly Parameter _weight;
    private readonly Parameter _bias;
    private readonly int _width;
    private readonly int _embeddingDimension;
    private int _capacity;
    private int _tokens;
    private float[] _pooled = [];
    private float[] _output = [];
    private float[] _dPooled = [];
    private float[] _dTokens = [];
    private int[] _pooledRows = [];

    /// <summary>Registers the pooling parameters, then <c>{prefix}.head.weight</c> and <c>{prefix}.head.bias</c>.</summary>
    public PooledProjectionHead(string prefix, PoolingKind pooling, int width, int heads, int embeddingDimension, ParameterBuilder builder)
    {
        _width = width;
        _embeddingDimension = embeddingDimension;
        _pooling = new PoolingLayer(prefix, pooling, width, heads, builder);
        _weight = builder.Add($"{prefix}.head.weight", [width, embeddingDimension], ParameterKind.Weight, InitKind.XavierUniform);
        _bias = builder.Add($"{prefix}.head.bias", [embeddingDimension], ParameterKind.Bias, InitKind.Zeros);
    }

    /// <summary>Grows the buffers to hold <paramref name="batch"/> examples of <paramref name="tokens"/> tokens.</summary>
    public void EnsureCapacity(int batch, int tokens)
    {
        if (batch <= _capacity)
        {
            return;
        }

        _pooled = new float[batch * _width];
        _pooledRows = new int[batch];
        _output = new float[batch * _embeddingDimension];
        _pooling.EnsureCapacity(batch, tokens);
        _capacity = batch;
        _tokens = tokens;
        if (_dPooled.Length > 0)
        {
            AllocateGradients();
        }
    }

    /// <summary>
    /// The token rows the pooling reads when it reads one per example (<see cref="PoolingKind.FirstToken"/>: e T;
    /// <see cref="PoolingKind.LastToken"/>: e T + lastIndex[e]), strictly increasing; empty for the poolings that read
    /// every row. The encoder's last block then computes only these rows (<see cref="TransformerEncoder.PooledRowsOnly"/>).
    /// </summary>
    public ReadOnlySpan<int> PooledRows(int batch, int tokens, ReadOnlySpan<int> lastIndex)
    {
        PoolingKind kind = _pooling.Kind;
        if (kind is not (PoolingKind.FirstToken or PoolingKind.LastToken))
        {
            return default;
        }

        Span<int> rows = _pooledRows.AsSpan(0, batch);
        for (int e = 0; e < batch; e++)
        {
            rows[e] = (e * tokens) + (kind == PoolingKind.FirstToken ? 0 : lastIndex[e]);
        }

        return rows;
    }

    /// <summary>Pools the encoder output <paramref name="encoded"/> (batch x tokens rows) and projects it: batch x embedding.</summary>
    public MatrixView Forward(MatrixView encoded, int batch, int tokens, ReadOnlySpan<int> lastIndex)
    {
        MatrixView pooled = View(_pooled, batch, _width);
        _pooling.Forward(encoded, batch, tokens, lastIndex, pooled);
        MatrixView output = View(_output, batch, _embeddingDimension);
        Linear.Forward(pooled, _weight.AsMatrix(_width), _bias.Value, output);
        return output;
    }

    /// <summary>
    /// Accumulates the head's and the pooling's parameter gradients and returns dL/d(encoder output), batch x tokens
    /// rows, for the embedding gradient of the last <see cref="Forward"/>.
    /// </summary>
    public MatrixView Backward(MatrixView encoded, int batch, int tokens, ReadOnlySpan<int> lastIndex, MatrixView embeddingGradient)
    {
        if (_dPooled.Length < _capacity * _width)
        {
            AllocateGradients();
        }

        MatrixView dPooled = View(_dPooled, batch, _width);
        Linear.Backward(View(_pooled, batch, _width), _weight.AsMatrix(_width), embeddingGradient, dPooled, false, _weight.GradientAsMatrix(_width), Linear.RowView(_bias.Gradient));
        MatrixView dTokens = View(_dTokens, batch * tokens, _width);
        _pooling.Backward(encoded, batch, tokens, lastIndex, dPooled, dTokens);
        return dTokens;
    }

    private void AllocateGradients()
    {
        _dPooled = new float[_capacity * _width];
        _dTokens = new float[_capacity * _tokens * _width];
    }

    private static MatrixView View(float[] array, int rows, int columns) => new(array, 0, rows, columns, columns);
}
