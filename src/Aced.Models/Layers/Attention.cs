using System;
using Aced.Core;

namespace Aced.Models.Layers;

/// <summary>
/// Multi-head scaled dot-product self-attention over a fused QKV buffer. For example e and head h, with
/// Q, K, V the T x hd slices of qkv (columns [h hd, (h+1) hd) of the Q, K and V thirds):
/// <c>P = softmax(Q K^T / sqrt(hd))</c> (row-wise; with the causal mask, entries j &gt; i are excluded) and
/// <c>O = P V</c>, written to columns [h hd, (h+1) hd) of the output. The per-(example, head) products go through
/// <see cref="GemmBatch.Multiply"/> as batches of G x H products (G = <see cref="ExamplesPerGroup"/> examples, so a GPU
/// or native provider with <see cref="IGemmBatchedProvider"/> runs them batched); the examples are processed in
/// groups of G, one <see cref="ParallelPartition"/> partition per group, and each group runs its products and row
/// softmax back to back so that its scores stay in cache (the batch-wide calls wrote B H T T scores, 16 MiB at the
/// reference batch, to memory and read them back twice). With the managed provider itself the work items run the
/// fused per-head path instead (<see cref="FusedEnabled"/>, AttentionFused.cs): the same small-matrix kernels and row
/// passes one (example, head) at a time, the head's scores in L1, dP in a per-thread scratch (the dProbs argument is
/// then not used), each example's rows packed into head-major blocks (<see cref="PackExamples"/>) and the next
/// example's rows prefetched; bit-identical to the batched calls.
/// </summary>
/// <remarks>
/// With the managed provider every element is the same fused multiply-add chain whatever the batching (the
/// small-matrix kernel computes each product on its own), so the bits do not depend on the group size, the provider's
/// batching or the thread count.
/// </remarks>
internal static partial class Attention
{
    /// <summary>
    /// Score floats (B H T T entries) one work item processes: its products, softmax and the products that read the
    /// probabilities back run while the scores are still in the core's L2 (128 KiB here: 2 examples at T = 64 with 4
    /// heads, 8 at T = 32).
    /// </summary>
    public const int GroupScoreFloats = 32768;

    /// <summary>
    /// Whether the managed provider runs the fused per-head path (<see cref="FusedBody"/>): on by default; the
    /// benchmarks' A/B probes and the tests switch it off to run the batched path with the managed provider.
    /// </summary>
    internal static bool FusedEnabled { get; set; } = true;

    /// <summary>
    /// Whether the fused path also prefetches the rows the next head writes (forward its output rows, backward its dQ,
    /// dK and dV rows) besides those it reads; on by default, off in A/B probes.
    /// </summary>
    internal static bool PrefetchOutputs { get; set; } = true;

    /// <summary>
    /// Whether the fused path packs each example's Q, K, V (and backward its dO) rows into per-thread head-major blocks
    /// before its heads run, and backward writes dQ, dK, dV into such blocks and copies them out once per example
    /// (<see cref="FusedBody"/>); on by default, off in A/B probes and tests. Data movement only: the same bits.
    /// </summary>
    internal static bool PackExamples { get; set; } = true;

    /// <summary>
    /// Whether the packed backward (<see cref="PackExamples"/>) reads dO in place (row stride the output gradient's)
    /// and writes dQ, dK, dV straight into dqkv's rows (its row stride) instead of copying dO into head-major blocks
    /// and dQ, dK, dV out of such blocks once per example: on by default, off in A/B probes and tests. Data movement
    /// only: the small products meet the same elements in the same FMA chains, so the same bits. Measured on Zen 5
    /// (docs/PERFORMANCE.md, "step18" in the eighteenth session's per-branch section): the attention backward takes
    /// 0.81–0.91 of the packed copies' wall time in the training step.
    /// </summary>
    internal static bool InPlaceGradients { get; set; } = true;

    /// <summary>
    /// Whether the packed backward issues each head's part of the next example's prefetch in five pieces, one before
    /// each of the head's stages, instead of in one burst before the head, when that part is at most
    /// <see cref="SpreadPrefetchFloats"/> (the text tower's T = 32: 8192 floats per head at the reference widths): on by
    /// default, off in A/B probes and tests. A hint only: the same bits. Measured on Zen 3 (docs/PERFORMANCE.md, "attn8"): T = 32
    /// backward 0.87–1.00 of the burst's CPU time over ten runs (median ~0.94); spread at T = 64 (18432 floats per head)
    /// measured 1.01–1.06, so T = 64 keeps the burst.
    /// </summary>
    internal static bool SpreadPrefetch { get; set; } = true;

    /// <summary>
    /// Whether the fused path's causal heads skip the score block's zero triangle in their products: forward the score
    /// tiles above the diagonal (<see cref="SmallGemm.MultiplyNNLowerResult"/>; the softmax never reads them and clears
    /// them) and P's zero terms in O = P V (<see cref="SmallGemm.MultiplyNNLowerA"/>), backward P's and dS's zero terms
    /// in dV = P^T dO, dQ = dS K and dK = dS^T Q (<see cref="SmallGemm.MultiplyTNLowerA"/>, MultiplyNNLowerA; the
    /// backward is not told the layer is causal, so it checks that P's upper triangle, and then dS's, is ±0,
    /// <see cref="SmallGemm.UpperIsZero"/>). Those entries fall back to the full products
    /// whenever skipping could change a bit: on by default, off in A/B probes and in the tests that compare the two.
    /// </summary>
    internal static bool CausalTriangles { get; set; } = true;

    /// <summary>The largest per-head prefetch part (floats) that <see cref="SpreadPrefetch"/> spreads.</summary>
    internal const int SpreadPrefetchFloats = 8192;

    /// <summary>
    /// Whether the packed backward spreads its prefetch (<see cref="SpreadPrefetch"/>) for examples whose prefetched
    /// floats (qkv, score blocks, dO and dqkv of one example) are <paramref name="exampleFloats"/>, over
    /// <paramref name="heads"/> heads.
    /// </summary>
    internal static bool SpreadsBackwardPrefetch(long exampleFloats, int heads) => SpreadPrefetch && exampleFloats / Math.Max(1, heads) <= SpreadPrefetchFloats;

    /// <summary>
    /// Switches all of the attention's AVX2-session kernel choices at once (<see cref="SmallGemm.Avx2SixRowTiles"/>,
    /// <see cref="AttentionSoftmax.Interleaved"/>, <see cref="PrefetchOutputs"/>; each gives the same bits as before):
    /// for the benchmarks' same-process A/B and the tests. Reads true only when all three are on.
    /// </summary>
    internal static bool TunedKernels
    {
        get => SmallGemm.Avx2SixRowTiles && AttentionSoftmax.Interleaved && PrefetchOutputs;
        set
        {
            SmallGemm.Avx2SixRowTiles = value;
            AttentionSoftmax.Interleaved = value;
            PrefetchOutputs = value;
        }
    }

    /// <summary>Examples per work item: as many as fit <see cref="GroupScoreFloats"/>, at least one.</summary>
    public static int ExamplesPerGroup(int heads, int tokens) => Math.Max(1, GroupScoreFloats / Math.Max(1, heads * tokens * tokens));

    /// <summary>Forward: qkv (B T x 3D, token rows) to probabilities (B H T T) and output (B T x D).</summary>
    public static void Forward(MatrixView qkv, int batch, int tokens, int heads, bool causal, float[] probs, MatrixView output) =>
        Forward(qkv, false, batch, tokens, heads, causal, probs, output);

    /// <summary>
    /// Forward: qkv (B T x 3D; head-major blocks, <see cref="QkvLayout.HeadMajor"/>, when <paramref name="headMajor"/>,
    /// else token rows) to probabilities (B H T T) and output (B T x D).
    /// </summary>
    public static void Forward(MatrixView qkv, bool headMajor, int batch, int tokens, int heads, bool causal, float[] probs, MatrixView output)
    {
        QkvLayout layout = Layout(qkv, headMajor, tokens, heads);
        int group = ExamplesPerGroup(heads, tokens);
        if (UseFused(out IAttentionProfiler? profiler))
        {
            RunFused(new FusedBody(false, qkv, layout, headMajor, batch, tokens, heads, causal, group, probs, output, default, profiler));
            return;
        }

        var body = new GroupBody(false, qkv, layout, batch, tokens, heads, causal, group, probs, null, output, default);
        ParallelPartition.Run((batch + group - 1) / group, body);
    }

    /// <summary>Backward: from dOutput (B T x D) to dqkv (B T x 3D token rows, overwritten); dProbs (B H T T) is scratch.</summary>
    public static void Backward(MatrixView qkv, int batch, int tokens, int heads, float[] probs, MatrixView dOutput, MatrixView dQkv, float[] dProbs) =>
        Backward(qkv, false, batch, tokens, heads, probs, dOutput, dQkv, dProbs);

    /// <summary>
    /// Backward: from dOutput (B T x D) to dqkv (B T x 3D token rows, overwritten), with qkv in the layout the forward
    /// read (<paramref name="headMajor"/>); dProbs (B H T T) is scratch.
    /// </summary>
    public static void Backward(MatrixView qkv, bool headMajor, int batch, int tokens, int heads, float[] probs, MatrixView dOutput, MatrixView dQkv, float[] dProbs)
    {
        QkvLayout layout = Layout(qkv, headMajor, tokens, heads);
        int group = ExamplesPerGroup(heads, tokens);
        if (UseFused(out IAttentionProfiler? profiler))
        {
            RunFused(new FusedBody(true, qkv, layout, headMajor, batch, tokens, heads, false, group, probs, dOutput, dQkv, profiler));
            return;
        }

        var body = new GroupBody(true, qkv, layout, batch, tokens, heads, false, group, probs, dProbs, dOutput, dQkv);
        ParallelPartition.Run((batch + group - 1) / group, body);
    }

    /// <summary>The layout of <paramref name="qkv"/> (checked when head-major).</summary>
    private static QkvLayout Layout(MatrixView qkv, bool headMajor, int tokens, int heads)
    {
        if (!headMajor)
        {
            return QkvLayout.RowMajor(tokens, heads, qkv.Columns / 3, qkv.Stride);
        }

        CheckHeadMajor(qkv, tokens, heads);
        return QkvLayout.HeadMajor(tokens, heads, qkv.Columns / 3);
    }

    /// <summary>
    /// One work item: the attention of examples [g G, (g + 1) G) forward (S = scale Q K^T, softmax, O = P V) or backward
    /// (dP = dO V^T, dV = P^T dO, softmax backward, dQ = scale dS K, dK = scale dS^T Q), every product as one batched
    /// call of G x H products (which runs serially on the thread that claimed the item). Each item reads and writes
    /// only its own examples' rows and scores.
    /// </summary>
    private readonly struct GroupBody : IPartitionBody
    {
        private readonly bool _backward;
        private readonly MatrixView _qkv;
        private readonly QkvLayout _layout;
        private readonly int _batch;
        private readonly int _tokens;
        private readonly int _heads;
        private readonly bool _causal;
        private readonly int _group;
        private readonly float[] _probs;
        private readonly float[]? _dProbs;
        private readonly MatrixView _output;
        private readonly MatrixView _dQkv;

        public GroupBody(bool backward, MatrixView qkv, QkvLayout layout, int batch, int tokens, int heads, bool causal, int group, float[] probs, float[]? dProbs, MatrixView output, MatrixView dQkv)
        {
            _backward = backward;
            _qkv = qkv;
            _layout = layout;
            _batch = batch;
            _tokens = tokens;
            _heads = heads;
            _causal = causal;
            _group = group;
            _probs = probs;
            _dProbs = dProbs;
            _output = output;
            _dQkv = dQkv;
        }

        public void Execute(int partition)
        {
            int e0 = partition * _group;
            int count = Math.Min(_group, _batch - e0);
            if (_backward)
            {
                BackwardGroup(e0, count);
            }
            else
            {
                ForwardGroup(e0, count);
            }
        }

        private void ForwardGroup(int e0, int count)
        {
            int t = _tokens;
            int d = _qkv.Columns / 3;
            int hd = d / _heads;
            float scale = 1f / MathF.Sqrt(hd);
            int ld = _layout.RowStride;
            int ldo = _output.Stride;
            var perHead = new GemmBatchStrides(_layout.ExampleStride, _layout.HeadStride);
            var perProbs = new GemmBatchStrides(_heads * t * t, t * t);
            ReadOnlySpan<float> all = _qkv.Array.AsSpan(_qkv.Offset + _layout.Offset(e0, 0, 0));
            int section = _layout.SectionStride;
            Span<float> p = _probs.AsSpan(e0 * _heads * t * t, count * _heads * t * t);

            // S = scale Q K^T for every (example, head) of the group.
            GemmBatch.Multiply(Transpose.None, Transpose.Transposed, t, t, hd, scale, all, ld, perHead, all.Slice(section), ld, perHead, 0f, p, t, perProbs, count, _heads);
            int rows = count * _heads * t;
            for (int r = 0; r < rows; r++)
            {
                RowMath.SoftmaxPrefix(p.Slice(r * t, t), _causal ? (r % t) + 1 : t);
            }

            // O = P V.
            GemmBatch.Multiply(Transpose.None, Transpose.None, t, hd, t, 1f, p, t, perProbs, all.Slice(2 * section), ld, perHead, 0f, _output.Array.AsSpan(_output.Offset + (e0 * t * ldo)), ldo, new GemmBatchStrides(t * ldo, hd), count, _heads);
        }

        private void BackwardGroup(int e0, int count)
        {
            int t = _tokens;
            int d = _qkv.Columns / 3;
            int hd = d / _heads;
            float scale = 1f / MathF.Sqrt(hd);
            int ld = _layout.RowStride;
            int ldd = _dQkv.Stride;
            int ldo = _output.Stride;
            var perHead = new GemmBatchStrides(_layout.ExampleStride, _layout.HeadStride);
            var perHeadD = new GemmBatchStrides(t * ldd, hd);
            var perHeadO = new GemmBatchStrides(t * ldo, hd);
            var perProbs = new GemmBatchStrides(_heads * t * t, t * t);
            ReadOnlySpan<float> all = _qkv.Array.AsSpan(_qkv.Offset + _layout.Offset(e0, 0, 0));
            int section = _layout.SectionStride;
            Span<float> dAll = _dQkv.Array.AsSpan(_dQkv.Offset + (e0 * t * ldd));
            ReadOnlySpan<float> dO = _output.Array.AsSpan(_output.Offset + (e0 * t * ldo));
            ReadOnlySpan<float> p = _probs.AsSpan(e0 * _heads * t * t, count * _heads * t * t);
            Span<float> dp = _dProbs.AsSpan(e0 * _heads * t * t, count * _heads * t * t);

            // dP = dO V^T; dV = P^T dO.
            GemmBatch.Multiply(Transpose.None, Transpose.Transposed, t, t, hd, 1f, dO, ldo, perHeadO, all.Slice(2 * section), ld, perHead, 0f, dp, t, perProbs, count, _heads);
            GemmBatch.Multiply(Transpose.Transposed, Transpose.None, t, hd, t, 1f, p, t, perProbs, dO, ldo, perHeadO, 0f, dAll.Slice(2 * d), ldd, perHeadD, count, _heads);

            // dS = P o (dP - rowsum(P o dP)); masked entries have P = 0 and stay 0.
            int rows = count * _heads * t;
            for (int r = 0; r < rows; r++)
            {
                RowMath.SoftmaxBackward(p.Slice(r * t, t), dp.Slice(r * t, t));
            }

            // dQ = scale dS K; dK = scale dS^T Q.
            GemmBatch.Multiply(Transpose.None, Transpose.None, t, hd, t, scale, dp, t, perProbs, all.Slice(section), ld, perHead, 0f, dAll, ldd, perHeadD, count, _heads);
            GemmBatch.Multiply(Transpose.Transposed, Transpose.None, t, hd, t, scale, dp, t, perProbs, all, ld, perHead, 0f, dAll.Slice(d), ldd, perHeadD, count, _heads);
        }
    }
}
