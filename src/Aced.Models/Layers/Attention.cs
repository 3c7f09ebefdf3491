using System;
using System.Buffers;
using Aced.Core;

namespace Aced.Models.Layers;

/// <summary>
/// Multi-head scaled dot-product self-attention over a fused QKV buffer. For example e and head h, with
/// Q, K, V the T x hd slices of qkv (columns [h hd, (h+1) hd) of the Q, K and V thirds):
/// <c>P = softmax(Q K^T / sqrt(hd))</c> (row-wise; with the causal mask, entries j &gt; i are excluded) and
/// <c>O = P V</c>, written to columns [h hd, (h+1) hd) of the output. Examples run in parallel (one <see cref="ParallelPartition"/> partition each) and the
/// per-head products use <see cref="SmallGemm"/>.
/// </summary>
internal static class Attention
{
    [ThreadStatic]
    private static AttentionJob? t_job;

    /// <summary>Forward: qkv (B T x 3D) to probabilities (B H T T) and output (B T x D).</summary>
    public static void Forward(MatrixView qkv, int batch, int tokens, int heads, bool causal, float[] probs, MatrixView output)
    {
        AttentionJob job = t_job ??= new AttentionJob();
        job.Set(false, qkv, tokens, heads, causal, probs, output, default, default, null);
        try
        {
            ParallelPartition.Run(batch, job);
        }
        finally
        {
            job.Clear();
        }
    }

    /// <summary>Backward: from dOutput (B T x D) to dqkv (B T x 3D, overwritten); dProbs (B H T T) is scratch.</summary>
    public static void Backward(MatrixView qkv, int batch, int tokens, int heads, float[] probs, MatrixView dOutput, MatrixView dQkv, float[] dProbs)
    {
        AttentionJob job = t_job ??= new AttentionJob();
        job.Set(true, qkv, tokens, heads, false, probs, default, dOutput, dQkv, dProbs);
        try
        {
            ParallelPartition.Run(batch, job);
        }
        finally
        {
            job.Clear();
        }
    }

    private sealed class AttentionJob : IPartitionBody
    {
        private bool _backward;
        private MatrixView _qkv;
        private int _tokens;
        private int _heads;
        private bool _causal;
        private float[]? _probs;
        private MatrixView _output;
        private MatrixView _dOutput;
        private MatrixView _dQkv;
        private float[]? _dProbs;

        public void Set(bool backward, MatrixView qkv, int tokens, int heads, bool causal, float[] probs, MatrixView output, MatrixView dOutput, MatrixView dQkv, float[]? dProbs)
        {
            _backward = backward;
            _qkv = qkv;
            _tokens = tokens;
            _heads = heads;
            _causal = causal;
            _probs = probs;
            _output = output;
            _dOutput = dOutput;
            _dQkv = dQkv;
            _dProbs = dProbs;
        }

        public void Clear()
        {
            _qkv = _output = _dOutput = _dQkv = default;
            _probs = _dProbs = null;
        }

        public void Execute(int example)
        {
            if (_backward)
            {
                BackwardExample(example);
            }
            else
            {
                ForwardExample(example);
            }
        }

        private void ForwardExample(int e)
        {
            int t = _tokens;
            int d = _qkv.Columns / 3;
            int hd = d / _heads;
            float scale = 1f / MathF.Sqrt(hd);
            int ld = _qkv.Stride;
            float[] scratch = ArrayPool<float>.Shared.Rent(hd * t);
            try
            {
                Span<float> kt = scratch.AsSpan(0, hd * t);
                MatrixView rows = _qkv.RowRange(e * t, t);
                MatrixView outRows = _output.RowRange(e * t, t);
                for (int h = 0; h < _heads; h++)
                {
                    ReadOnlySpan<float> q = rows.Array.AsSpan(rows.Offset + (h * hd));
                    ReadOnlySpan<float> k = rows.Array.AsSpan(rows.Offset + d + (h * hd));
                    ReadOnlySpan<float> v = rows.Array.AsSpan(rows.Offset + (2 * d) + (h * hd));
                    Span<float> p = _probs.AsSpan(((e * _heads) + h) * t * t, t * t);
                    SmallGemm.Transpose(t, hd, k, ld, kt);
                    SmallGemm.MultiplyNN(t, t, hd, scale, q, ld, kt, t, false, p, t);
                    for (int i = 0; i < t; i++)
                    {
                        RowMath.SoftmaxPrefix(p.Slice(i * t, t), _causal ? i + 1 : t);
                    }

                    Span<float> o = outRows.Array.AsSpan(outRows.Offset + (h * hd));
                    SmallGemm.MultiplyNN(t, hd, t, 1f, p, t, v, ld, false, o, outRows.Stride);
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(scratch);
            }
        }

        private void BackwardExample(int e)
        {
            int t = _tokens;
            int d = _qkv.Columns / 3;
            int hd = d / _heads;
            float scale = 1f / MathF.Sqrt(hd);
            int ld = _qkv.Stride;
            int ldd = _dQkv.Stride;
            float[] scratch = ArrayPool<float>.Shared.Rent(hd * t);
            try
            {
                Span<float> vt = scratch.AsSpan(0, hd * t);
                MatrixView rows = _qkv.RowRange(e * t, t);
                MatrixView dRows = _dQkv.RowRange(e * t, t);
                MatrixView dOut = _dOutput.RowRange(e * t, t);
                for (int h = 0; h < _heads; h++)
                {
                    ReadOnlySpan<float> q = rows.Array.AsSpan(rows.Offset + (h * hd));
                    ReadOnlySpan<float> k = rows.Array.AsSpan(rows.Offset + d + (h * hd));
                    ReadOnlySpan<float> v = rows.Array.AsSpan(rows.Offset + (2 * d) + (h * hd));
                    Span<float> dq = dRows.Array.AsSpan(dRows.Offset + (h * hd));
                    Span<float> dk = dRows.Array.AsSpan(dRows.Offset + d + (h * hd));
                    Span<float> dv = dRows.Array.AsSpan(dRows.Offset + (2 * d) + (h * hd));
                    ReadOnlySpan<float> dO = dOut.Array.AsSpan(dOut.Offset + (h * hd));
                    int pOffset = ((e * _heads) + h) * t * t;
                    ReadOnlySpan<float> p = _probs.AsSpan(pOffset, t * t);
                    Span<float> dp = _dProbs.AsSpan(pOffset, t * t);

                    // dP = dO V^T
                    SmallGemm.Transpose(t, hd, v, ld, vt);
                    SmallGemm.MultiplyNN(t, t, hd, 1f, dO, dOut.Stride, vt, t, false, dp, t);

                    // dV = P^T dO
                    SmallGemm.MultiplyTN(t, hd, t, 1f, p, t, dO, dOut.Stride, false, dv, ldd);

                    // dS = P o (dP - rowsum(P o dP)); masked entries have P = 0 and stay 0.
                    for (int i = 0; i < t; i++)
                    {
                        RowMath.SoftmaxBackward(p.Slice(i * t, t), dp.Slice(i * t, t));
                    }

                    // dQ = scale dS K, dK = scale dS^T Q
                    SmallGemm.MultiplyNN(t, hd, t, scale, dp, t, k, ld, false, dq, ldd);
                    SmallGemm.MultiplyTN(t, hd, t, scale, dp, t, q, ld, false, dk, ldd);
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(scratch);
            }
        }
    }
}
