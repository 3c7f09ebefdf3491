using System;
using System.Buffers;
using System.Numerics.Tensors;
using Aced.Core;

namespace Aced.Models.Layers;

/// <summary>
/// Pools T token rows per example to one row. GAP: mean over tokens. First/last token: copies one row (last = the
/// per-example index given by the caller). MAP (multi-head attention pooling, Lee et al. 2019; big_vision "map"):
/// a learned probe q attends over the tokens, <c>[k v] = x Wkv + bkv</c>,
/// <c>p_h = softmax(q_h . k_{t,h} / sqrt(hd))</c>, <c>o_h = sum_t p_{t,h} v_{t,h}</c>, pooled = <c>o Wo + bo</c>
/// (big_vision's MAP head also adds a residual MLP after the attention; it is omitted here).
/// </summary>
internal sealed class PoolingLayer : IPartitionBody
{
    private readonly int _width;
    private readonly int _heads;
    private readonly Parameter? _probe;
    private readonly Parameter? _kvWeight;
    private readonly Parameter? _kvBias;
    private readonly Parameter? _outWeight;
    private readonly Parameter? _outBias;
    private float[] _kv = [];
    private float[] _probs = [];
    private float[] _attended = [];
    private float[] _dKv = [];
    private float[] _dAttended = [];
    private float[] _dProbePartial = [];

    // Per-call state read by Execute.
    private bool _backward;
    private int _tokens;

    public PoolingLayer(string prefix, PoolingKind kind, int width, int heads, ParameterBuilder parameters)
    {
        Kind = kind;
        _width = width;
        _heads = heads;
        if (kind == PoolingKind.MultiheadAttention)
        {
            _probe = parameters.Add($"{prefix}.map.probe", [width], ParameterKind.Embedding, InitKind.XavierUniform, fanIn: 1, fanOut: width);
            _kvWeight = parameters.Add($"{prefix}.map.kv.weight", [width, 2 * width], ParameterKind.Weight, InitKind.XavierUniform, fanOut: width);
            _kvBias = parameters.Add($"{prefix}.map.kv.bias", [2 * width], ParameterKind.Bias, InitKind.Zeros);
            _outWeight = parameters.Add($"{prefix}.map.out.weight", [width, width], ParameterKind.Weight, InitKind.XavierUniform);
            _outBias = parameters.Add($"{prefix}.map.out.bias", [width], ParameterKind.Bias, InitKind.Zeros);
        }
    }

    public PoolingKind Kind { get; }

    public void EnsureCapacity(int batch, int tokens)
    {
        if (Kind == PoolingKind.MultiheadAttention && _attended.Length < batch * _width)
        {
            _kv = new float[batch * tokens * 2 * _width];
            _probs = new float[batch * _heads * tokens];
            _attended = new float[batch * _width];
            if (_dKv.Length > 0)
            {
                AllocateGradients(batch, tokens);
            }
        }
    }

    /// <summary>x (B T x D) to pooled (B x D); <paramref name="lastIndex"/> gives the pooled row per example for LastToken.</summary>
    public void Forward(MatrixView x, int batch, int tokens, ReadOnlySpan<int> lastIndex, MatrixView pooled)
    {
        switch (Kind)
        {
            case PoolingKind.GlobalAverage when TowerPasses.Parallel:
                TowerPasses.Run(batch, TowerPasses.Chunk(batch, 1), (long)batch * tokens * _width, new AveragePoolPass(x, pooled, tokens));
                break;
            case PoolingKind.GlobalAverage:
                // The serial form (the same bits; tests pin the pool form to it).
                for (int e = 0; e < batch; e++)
                {
                    Span<float> dst = pooled.Row(e);
                    dst.Clear();
                    for (int t = 0; t < tokens; t++)
                    {
                        TensorPrimitives.Add(dst, x.Row((e * tokens) + t), dst);
                    }

                    TensorPrimitives.Multiply(dst, 1f / tokens, dst);
                }

                break;
            case PoolingKind.FirstToken:
                for (int e = 0; e < batch; e++)
                {
                    x.Row(e * tokens).CopyTo(pooled.Row(e));
                }

                break;
            case PoolingKind.LastToken:
                for (int e = 0; e < batch; e++)
                {
                    x.Row((e * tokens) + lastIndex[e]).CopyTo(pooled.Row(e));
                }

                break;
            default:
                MapForward(x, batch, tokens, pooled);
                break;
        }
    }

    /// <summary>Writes dx (B T x D, overwritten) from dPooled (B x D) and accumulates MAP parameter gradients.</summary>
    public void Backward(MatrixView x, int batch, int tokens, ReadOnlySpan<int> lastIndex, MatrixView dPooled, MatrixView dx)
    {
        if (Kind == PoolingKind.MultiheadAttention)
        {
            MapBackward(x, batch, tokens, dPooled, dx);
            return;
        }

        if (Kind == PoolingKind.GlobalAverage)
        {
            // Every row of dx is written, so it needs no clearing first (the serial form keeps its old clear).
            if (!TowerPasses.Parallel)
            {
                dx.Span.Clear();
            }

            TowerPasses.Run(batch, TowerPasses.Chunk(batch, 1), (long)batch * tokens * _width, new AveragePoolBackwardPass(dPooled, dx, tokens));
            return;
        }

        TowerPasses.Clear(dx);
        for (int e = 0; e < batch; e++)
        {
            ReadOnlySpan<float> g = dPooled.Row(e);
            if (Kind == PoolingKind.FirstToken)
            {
                g.CopyTo(dx.Row(e * tokens));
            }
            else
            {
                g.CopyTo(dx.Row((e * tokens) + lastIndex[e]));
            }
        }
    }

    public void Execute(int e)
    {
        int t = _tokens;
        int d = _width;
        int hd = d / _heads;
        float scale = 1f / MathF.Sqrt(hd);
        int kvRow = 2 * d;
        float[] probe = _probe!.Value;
        for (int h = 0; h < _heads; h++)
        {
            ReadOnlySpan<float> q = probe.AsSpan(h * hd, hd);
            Span<float> p = _probs.AsSpan(((e * _heads) + h) * t, t);
            int baseRow = e * t;
            if (!_backward)
            {
                for (int j = 0; j < t; j++)
                {
                    p[j] = scale * TensorPrimitives.Dot(q, _kv.AsSpan(((baseRow + j) * kvRow) + (h * hd), hd));
                }

                RowMath.SoftmaxPrefix(p, t);
                Span<float> o = _attended.AsSpan((e * d) + (h * hd), hd);
                o.Clear();
                for (int j = 0; j < t; j++)
                {
                    TensorPrimitives.MultiplyAdd(_kv.AsSpan(((baseRow + j) * kvRow) + d + (h * hd), hd), p[j], o, o);
                }
            }
            else
            {
                ReadOnlySpan<float> dO = _dAttended.AsSpan((e * d) + (h * hd), hd);
                Span<float> dProbe = _dProbePartial.AsSpan((e * d) + (h * hd), hd);
                float[] rented = ArrayPool<float>.Shared.Rent(t);
                try
                {
                    Span<float> ds = rented.AsSpan(0, t);
                    for (int j = 0; j < t; j++)
                    {
                        int row = (baseRow + j) * kvRow;
                        ds[j] = TensorPrimitives.Dot(dO, _kv.AsSpan(row + d + (h * hd), hd));
                        TensorPrimitives.Multiply(dO, p[j], _dKv.AsSpan(row + d + (h * hd), hd));
                    }

                    RowMath.SoftmaxBackward(p, ds);
                    dProbe.Clear();
                    for (int j = 0; j < t; j++)
                    {
                        int row = (baseRow + j) * kvRow;
                        TensorPrimitives.MultiplyAdd(_kv.AsSpan(row + (h * hd), hd), scale * ds[j], dProbe, dProbe);
                        TensorPrimitives.Multiply(q, scale * ds[j], _dKv.AsSpan(row + (h * hd), hd));
                    }
                }
                finally
                {
                    ArrayPool<float>.Shared.Return(rented);
                }
            }
        }
    }

    private void MapForward(MatrixView x, int batch, int tokens, MatrixView pooled)
    {
        int n = batch * tokens;
        var kv = new MatrixView(_kv, 0, n, 2 * _width, 2 * _width);
        Linear.Forward(x, _kvWeight!.AsMatrix(_width), _kvBias!.Value, kv);
        _backward = false;
        _tokens = tokens;
        ParallelPartition.Run(batch, this);
        Linear.Forward(new MatrixView(_attended, 0, batch, _width, _width), _outWeight!.AsMatrix(_width), _outBias!.Value, pooled);
    }

    private void MapBackward(MatrixView x, int batch, int tokens, MatrixView dPooled, MatrixView dx)
    {
        if (_dKv.Length == 0)
        {
            AllocateGradients(_attended.Length / _width, tokens);
        }

        int n = batch * tokens;
        var attended = new MatrixView(_attended, 0, batch, _width, _width);
        var dAttended = new MatrixView(_dAttended, 0, batch, _width, _width);
        Linear.Backward(attended, _outWeight!.AsMatrix(_width), dPooled, dAttended, false, _outWeight.GradientAsMatrix(_width), Linear.RowView(_outBias!.Gradient));
        _backward = true;
        _tokens = tokens;
        ParallelPartition.Run(batch, this);
        float[] dProbe = _probe!.Gradient;
        for (int e = 0; e < batch; e++)
        {
            TensorPrimitives.Add(dProbe, _dProbePartial.AsSpan(e * _width, _width), dProbe);
        }

        var dKv = new MatrixView(_dKv, 0, n, 2 * _width, 2 * _width);
        Linear.Backward(x, _kvWeight!.AsMatrix(_width), dKv, dx, false, _kvWeight.GradientAsMatrix(_width), Linear.RowView(_kvBias!.Gradient));
    }

    private void AllocateGradients(int batch, int tokens)
    {
        _dKv = new float[batch * tokens * 2 * _width];
        _dAttended = new float[batch * _width];
        _dProbePartial = new float[batch * _width];
    }
}
