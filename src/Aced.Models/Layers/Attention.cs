using System;
using Aced.Core;

namespace Aced.Models.Layers;

/// <summary>
/// Multi-head scaled dot-product self-attention over a fused QKV buffer. For example e and head h, with
/// Q, K, V the T x hd slices of qkv (columns [h hd, (h+1) hd) of the Q, K and V thirds):
/// <c>P = softmax(Q K^T / sqrt(hd))</c> (row-wise; with the causal mask, entries j &gt; i are excluded) and
/// <c>O = P V</c>, written to columns [h hd, (h+1) hd) of the output. The per-(example, head) products go through
/// <see cref="GemmBatch.Multiply"/> as one batch of B x H products each (so a GPU or native provider with
/// <see cref="IGemmBatchedProvider"/> runs them batched); the row softmax passes between them run over examples in
/// parallel (one <see cref="ParallelPartition"/> partition per example).
/// </summary>
/// <remarks>
/// With the managed provider every element is the same fused multiply-add chain as before the products went through
/// the provider (the small-matrix kernel moved to Core), so the bits do not depend on the provider's batching or on
/// the thread count.
/// </remarks>
internal static class Attention
{
    [ThreadStatic]
    private static SoftmaxJob? t_job;

    /// <summary>Forward: qkv (B T x 3D) to probabilities (B H T T) and output (B T x D).</summary>
    public static void Forward(MatrixView qkv, int batch, int tokens, int heads, bool causal, float[] probs, MatrixView output)
    {
        int t = tokens;
        int d = qkv.Columns / 3;
        int hd = d / heads;
        float scale = 1f / MathF.Sqrt(hd);
        int ld = qkv.Stride;
        var perHead = new GemmBatchStrides(t * ld, hd);
        var perProbs = new GemmBatchStrides(heads * t * t, t * t);
        ReadOnlySpan<float> all = qkv.Array.AsSpan(qkv.Offset);
        Span<float> p = probs.AsSpan(0, batch * heads * t * t);

        // S = scale Q K^T for every (example, head).
        GemmBatch.Multiply(Transpose.None, Transpose.Transposed, t, t, hd, scale, all, ld, perHead, all.Slice(d), ld, perHead, 0f, p, t, perProbs, batch, heads);
        RunSoftmax(false, batch, t, heads, causal, probs, null);

        // O = P V.
        GemmBatch.Multiply(Transpose.None, Transpose.None, t, hd, t, 1f, p, t, perProbs, all.Slice(2 * d), ld, perHead, 0f, output.Array.AsSpan(output.Offset), output.Stride, new GemmBatchStrides(t * output.Stride, hd), batch, heads);
    }

    /// <summary>Backward: from dOutput (B T x D) to dqkv (B T x 3D, overwritten); dProbs (B H T T) is scratch.</summary>
    public static void Backward(MatrixView qkv, int batch, int tokens, int heads, float[] probs, MatrixView dOutput, MatrixView dQkv, float[] dProbs)
    {
        int t = tokens;
        int d = qkv.Columns / 3;
        int hd = d / heads;
        float scale = 1f / MathF.Sqrt(hd);
        int ld = qkv.Stride;
        int ldd = dQkv.Stride;
        int ldo = dOutput.Stride;
        var perHead = new GemmBatchStrides(t * ld, hd);
        var perHeadD = new GemmBatchStrides(t * ldd, hd);
        var perHeadO = new GemmBatchStrides(t * ldo, hd);
        var perProbs = new GemmBatchStrides(heads * t * t, t * t);
        ReadOnlySpan<float> all = qkv.Array.AsSpan(qkv.Offset);
        Span<float> dAll = dQkv.Array.AsSpan(dQkv.Offset);
        ReadOnlySpan<float> dO = dOutput.Array.AsSpan(dOutput.Offset);
        ReadOnlySpan<float> p = probs.AsSpan(0, batch * heads * t * t);
        Span<float> dp = dProbs.AsSpan(0, batch * heads * t * t);

        // dP = dO V^T; dV = P^T dO.
        GemmBatch.Multiply(Transpose.None, Transpose.Transposed, t, t, hd, 1f, dO, ldo, perHeadO, all.Slice(2 * d), ld, perHead, 0f, dp, t, perProbs, batch, heads);
        GemmBatch.Multiply(Transpose.Transposed, Transpose.None, t, hd, t, 1f, p, t, perProbs, dO, ldo, perHeadO, 0f, dAll.Slice(2 * d), ldd, perHeadD, batch, heads);

        // dS = P o (dP - rowsum(P o dP)); masked entries have P = 0 and stay 0.
        RunSoftmax(true, batch, t, heads, false, probs, dProbs);

        // dQ = scale dS K; dK = scale dS^T Q.
        GemmBatch.Multiply(Transpose.None, Transpose.None, t, hd, t, scale, dp, t, perProbs, all.Slice(d), ld, perHead, 0f, dAll, ldd, perHeadD, batch, heads);
        GemmBatch.Multiply(Transpose.Transposed, Transpose.None, t, hd, t, scale, dp, t, perProbs, all, ld, perHead, 0f, dAll.Slice(d), ldd, perHeadD, batch, heads);
    }

    private static void RunSoftmax(bool backward, int batch, int tokens, int heads, bool causal, float[] probs, float[]? dProbs)
    {
        SoftmaxJob job = t_job ??= new SoftmaxJob();
        job.Backward = backward;
        job.Tokens = tokens;
        job.Heads = heads;
        job.Causal = causal;
        job.Probs = probs;
        job.DProbs = dProbs;
        try
        {
            ParallelPartition.Run(batch, job);
        }
        finally
        {
            job.Probs = job.DProbs = null;
        }
    }

    /// <summary>The row softmax (forward) or softmax backward of every head of one example.</summary>
    private sealed class SoftmaxJob : IPartitionBody
    {
        public bool Backward;
        public int Tokens;
        public int Heads;
        public bool Causal;
        public float[]? Probs;
        public float[]? DProbs;

        public void Execute(int example)
        {
            int t = Tokens;
            int rows = Heads * t;
            Span<float> p = Probs.AsSpan(example * rows * t, rows * t);
            if (Backward)
            {
                Span<float> dp = DProbs.AsSpan(example * rows * t, rows * t);
                for (int r = 0; r < rows; r++)
                {
                    RowMath.SoftmaxBackward(p.Slice(r * t, t), dp.Slice(r * t, t));
                }

                return;
            }

            for (int r = 0; r < rows; r++)
            {
                RowMath.SoftmaxPrefix(p.Slice(r * t, t), Causal ? (r % t) + 1 : t);
            }
        }
    }
}
