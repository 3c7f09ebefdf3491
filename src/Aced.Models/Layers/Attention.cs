using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
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
/// fused per-head path instead (<see cref="FusedEnabled"/>): the same small-matrix kernels and row passes one (example,
/// head) at a time, the head's scores in L1, dP in a per-thread scratch (the dProbs argument is then not used) and the
/// next head's rows prefetched; bit-identical to the batched calls.
/// </summary>
/// <remarks>
/// With the managed provider every element is the same fused multiply-add chain whatever the batching (the
/// small-matrix kernel computes each product on its own), so the bits do not depend on the group size, the provider's
/// batching or the thread count.
/// </remarks>
internal static class Attention
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

    /// <summary>Forward: qkv (B T x 3D) to probabilities (B H T T) and output (B T x D).</summary>
    public static void Forward(MatrixView qkv, int batch, int tokens, int heads, bool causal, float[] probs, MatrixView output)
    {
        int group = ExamplesPerGroup(heads, tokens);
        if (UseFused())
        {
            // The calling thread's scratch is sized here, outside the work items, so that whichever items it claims it
            // never allocates in steady state (the workers' scratch grows once on first use).
            Scratch(FusedScratchFloats(qkv, tokens, heads));
            ParallelPartition.Run((batch + group - 1) / group, new FusedBody(false, qkv, batch, tokens, heads, causal, group, probs, output, default));
            return;
        }

        var body = new GroupBody(false, qkv, batch, tokens, heads, causal, group, probs, null, output, default);
        ParallelPartition.Run((batch + group - 1) / group, body);
    }

    /// <summary>Backward: from dOutput (B T x D) to dqkv (B T x 3D, overwritten); dProbs (B H T T) is scratch.</summary>
    public static void Backward(MatrixView qkv, int batch, int tokens, int heads, float[] probs, MatrixView dOutput, MatrixView dQkv, float[] dProbs)
    {
        int group = ExamplesPerGroup(heads, tokens);
        if (UseFused())
        {
            Scratch(FusedScratchFloats(qkv, tokens, heads));
            ParallelPartition.Run((batch + group - 1) / group, new FusedBody(true, qkv, batch, tokens, heads, false, group, probs, dOutput, dQkv));
            return;
        }

        var body = new GroupBody(true, qkv, batch, tokens, heads, false, group, probs, dProbs, dOutput, dQkv);
        ParallelPartition.Run((batch + group - 1) / group, body);
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
        private readonly int _batch;
        private readonly int _tokens;
        private readonly int _heads;
        private readonly bool _causal;
        private readonly int _group;
        private readonly float[] _probs;
        private readonly float[]? _dProbs;
        private readonly MatrixView _output;
        private readonly MatrixView _dQkv;

        public GroupBody(bool backward, MatrixView qkv, int batch, int tokens, int heads, bool causal, int group, float[] probs, float[]? dProbs, MatrixView output, MatrixView dQkv)
        {
            _backward = backward;
            _qkv = qkv;
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
            int ld = _qkv.Stride;
            int ldo = _output.Stride;
            var perHead = new GemmBatchStrides(t * ld, hd);
            var perProbs = new GemmBatchStrides(_heads * t * t, t * t);
            ReadOnlySpan<float> all = _qkv.Array.AsSpan(_qkv.Offset + (e0 * t * ld));
            Span<float> p = _probs.AsSpan(e0 * _heads * t * t, count * _heads * t * t);

            // S = scale Q K^T for every (example, head) of the group.
            GemmBatch.Multiply(Transpose.None, Transpose.Transposed, t, t, hd, scale, all, ld, perHead, all.Slice(d), ld, perHead, 0f, p, t, perProbs, count, _heads);
            int rows = count * _heads * t;
            for (int r = 0; r < rows; r++)
            {
                RowMath.SoftmaxPrefix(p.Slice(r * t, t), _causal ? (r % t) + 1 : t);
            }

            // O = P V.
            GemmBatch.Multiply(Transpose.None, Transpose.None, t, hd, t, 1f, p, t, perProbs, all.Slice(2 * d), ld, perHead, 0f, _output.Array.AsSpan(_output.Offset + (e0 * t * ldo)), ldo, new GemmBatchStrides(t * ldo, hd), count, _heads);
        }

        private void BackwardGroup(int e0, int count)
        {
            int t = _tokens;
            int d = _qkv.Columns / 3;
            int hd = d / _heads;
            float scale = 1f / MathF.Sqrt(hd);
            int ld = _qkv.Stride;
            int ldd = _dQkv.Stride;
            int ldo = _output.Stride;
            var perHead = new GemmBatchStrides(t * ld, hd);
            var perHeadD = new GemmBatchStrides(t * ldd, hd);
            var perHeadO = new GemmBatchStrides(t * ldo, hd);
            var perProbs = new GemmBatchStrides(_heads * t * t, t * t);
            ReadOnlySpan<float> all = _qkv.Array.AsSpan(_qkv.Offset + (e0 * t * ld));
            Span<float> dAll = _dQkv.Array.AsSpan(_dQkv.Offset + (e0 * t * ldd));
            ReadOnlySpan<float> dO = _output.Array.AsSpan(_output.Offset + (e0 * t * ldo));
            ReadOnlySpan<float> p = _probs.AsSpan(e0 * _heads * t * t, count * _heads * t * t);
            Span<float> dp = _dProbs.AsSpan(e0 * _heads * t * t, count * _heads * t * t);

            // dP = dO V^T; dV = P^T dO.
            GemmBatch.Multiply(Transpose.None, Transpose.Transposed, t, t, hd, 1f, dO, ldo, perHeadO, all.Slice(2 * d), ld, perHead, 0f, dp, t, perProbs, count, _heads);
            GemmBatch.Multiply(Transpose.Transposed, Transpose.None, t, hd, t, 1f, p, t, perProbs, dO, ldo, perHeadO, 0f, dAll.Slice(2 * d), ldd, perHeadD, count, _heads);

            // dS = P o (dP - rowsum(P o dP)); masked entries have P = 0 and stay 0.
            int rows = count * _heads * t;
            for (int r = 0; r < rows; r++)
            {
                RowMath.SoftmaxBackward(p.Slice(r * t, t), dp.Slice(r * t, t));
            }

            // dQ = scale dS K; dK = scale dS^T Q.
            GemmBatch.Multiply(Transpose.None, Transpose.None, t, hd, t, scale, dp, t, perProbs, all.Slice(d), ld, perHead, 0f, dAll, ldd, perHeadD, count, _heads);
            GemmBatch.Multiply(Transpose.Transposed, Transpose.None, t, hd, t, scale, dp, t, perProbs, all, ld, perHead, 0f, dAll.Slice(d), ldd, perHeadD, count, _heads);
        }
    }

    /// <summary>
    /// Copies column block s (columns [s w, (s + 1) w)) of the <paramref name="rows"/> rows of <paramref name="source"/>
    /// (row stride ld) to <c>destination[s rows w ..]</c> as a rows x w block (row stride w), for s &lt; blocks: row by
    /// row, each source row read once in order.
    /// </summary>
    internal static void PackColumnBlocks(ReadOnlySpan<float> source, int rows, int ld, int w, int blocks, Span<float> destination)
    {
        if (rows == 0 || blocks == 0 || w == 0)
        {
            return;
        }

        CheckBlocks(source.Length, rows, ld, w, blocks, destination.Length);
        MoveBlocks(ref MemoryMarshal.GetReference(source), ld, w, ref MemoryMarshal.GetReference(destination), w, rows * w, rows, w, blocks);
    }

    /// <summary>The inverse of <see cref="PackColumnBlocks"/>: block s of <paramref name="source"/> to columns [s w, (s + 1) w) of the rows of <paramref name="destination"/>.</summary>
    internal static void UnpackColumnBlocks(ReadOnlySpan<float> source, int rows, int w, int blocks, Span<float> destination, int ld)
    {
        if (rows == 0 || blocks == 0 || w == 0)
        {
            return;
        }

        CheckBlocks(destination.Length, rows, ld, w, blocks, source.Length);
        MoveBlocks(ref MemoryMarshal.GetReference(source), w, rows * w, ref MemoryMarshal.GetReference(destination), ld, w, rows, w, blocks);
    }

    private static void CheckBlocks(int rowsLength, int rows, int ld, int w, int blocks, int blocksLength)
    {
        if (ld < blocks * w || rowsLength < ((rows - 1) * ld) + (blocks * w) || blocksLength < rows * w * blocks)
        {
            Guard.ThrowArgument(nameof(rows), $"{blocks} column blocks of {rows} x {w} need a row stride of at least {blocks * w} and {((rows - 1) * ld) + (blocks * w)} row-major and {rows * w * blocks} packed floats");
        }
    }

    /// <summary>
    /// For r &lt; rows, s &lt; blocks, c &lt; w: <c>destination[r dRow + s dBlock + c] = source[r sRow + s sBlock + c]</c>
    /// (data movement only), w floats at a time in Vector256 moves and a scalar tail.
    /// </summary>
    private static void MoveBlocks(ref float source, int sRow, int sb, ref float destination, int dRow, int db, int rows, int w, int blocks)
    {
        for (int r = 0; r < rows; r++)
        {
            ref float sr = ref Unsafe.Add(ref source, r * sRow);
            ref float dr = ref Unsafe.Add(ref destination, r * dRow);
            for (int s = 0; s < blocks; s++)
            {
                ref float sp = ref Unsafe.Add(ref sr, s * sb);
                ref float dp = ref Unsafe.Add(ref dr, s * db);
                int c = 0;
                if (Vector256.IsHardwareAccelerated)
                {
                    for (; c + Vector256<float>.Count <= w; c += Vector256<float>.Count)
                    {
                        Vector256.LoadUnsafe(ref sp, (nuint)c).StoreUnsafe(ref dp, (nuint)c);
                    }
                }

                for (; c < w; c++)
                {
                    Unsafe.Add(ref dp, c) = Unsafe.Add(ref sp, c);
                }
            }
        }
    }

    /// <summary>The fused path runs only with the managed provider itself (another provider gets the batched calls).</summary>
    private static bool UseFused() => FusedEnabled && ReferenceEquals(GemmControl.Provider, ManagedGemmProvider.Instance);

    /// <summary>Per-thread scratch of the fused path: K^T or V^T (hd x T) and one head's dP (T x T); grows, never shrinks.</summary>
    [ThreadStatic]
    private static float[]? t_scratch;

    /// <summary>
    /// Scratch floats of one fused work item: the transposed K or V (hd x T) and dP (T x T), then (packed path) an
    /// example's packed Q, K, V (3 D x T), its dO (D x T) and its dQ, dK, dV (3 D x T).
    /// </summary>
    private static int FusedScratchFloats(MatrixView qkv, int tokens, int heads) =>
        ((qkv.Columns / 3 / Math.Max(1, heads)) * tokens) + (tokens * tokens) + (PackExamples ? 7 * (qkv.Columns / 3) * tokens : 0);

    private static Span<float> Scratch(int length)
    {
        float[]? scratch = t_scratch;
        if (scratch is null || scratch.Length < length)
        {
            scratch = new float[Math.Max(length, 8192)];
            t_scratch = scratch;
        }

        return scratch.AsSpan(0, length);
    }

    /// <summary>
    /// One work item of the fused path: the examples of <see cref="GroupBody"/>'s item, one (example, head) at a time,
    /// with the same small-matrix products, row softmax passes and operation order per element as the batched path
    /// (so the same bits), but the head's score block (T x T, 16 KiB at T = 64) stays in L1 between its products and
    /// its softmax pass, the transposed operand and dP live in a per-thread scratch, and the next head's Q, K, V (and
    /// dO, P) rows are prefetched while the current head computes.
    /// </summary>
    private readonly struct FusedBody : IPartitionBody
    {
        private readonly bool _backward;
        private readonly MatrixView _qkv;
        private readonly int _batch;
        private readonly int _tokens;
        private readonly int _heads;
        private readonly bool _causal;
        private readonly int _group;
        private readonly float[] _probs;
        private readonly MatrixView _output;
        private readonly MatrixView _dQkv;

        public FusedBody(bool backward, MatrixView qkv, int batch, int tokens, int heads, bool causal, int group, float[] probs, MatrixView output, MatrixView dQkv)
        {
            _backward = backward;
            _qkv = qkv;
            _batch = batch;
            _tokens = tokens;
            _heads = heads;
            _causal = causal;
            _group = group;
            _probs = probs;
            _output = output;
            _dQkv = dQkv;
        }

        public void Execute(int partition)
        {
            int e0 = partition * _group;
            int end = Math.Min(e0 + _group, _batch);
            int t = _tokens;
            int d = _qkv.Columns / 3;
            int hd = d / _heads;
            float scale = 1f / MathF.Sqrt(hd);
            int ld = _qkv.Stride;
            int ldo = _output.Stride;
            Span<float> scratch = Scratch((hd * t) + (t * t) + (PackExamples ? 7 * d * t : 0));
            Span<float> transposed = scratch.Slice(0, hd * t);
            if (PackExamples)
            {
                Span<float> packed = scratch.Slice((hd * t) + (t * t));
                for (int e = e0; e < end; e++)
                {
                    if (_backward)
                    {
                        BackwardExamplePacked(e, t, d, hd, scale, transposed, scratch.Slice(hd * t, t * t), packed);
                    }
                    else
                    {
                        ForwardExamplePacked(e, t, d, hd, scale, transposed, packed);
                    }
                }

                return;
            }

            for (int e = e0; e < end; e++)
            {
                for (int h = 0; h < _heads; h++)
                {
                    Prefetch(e, h, t, d, hd, ld, ldo);
                    ReadOnlySpan<float> q = _qkv.Array.AsSpan(_qkv.Offset + (e * t * ld) + (h * hd));
                    ReadOnlySpan<float> k = q.Slice(d);
                    ReadOnlySpan<float> v = q.Slice(2 * d);
                    Span<float> p = _probs.AsSpan(((e * _heads) + h) * t * t, t * t);
                    if (_backward)
                    {
                        BackwardHead(q, k, v, ld, p, e, h, t, hd, scale, ldo, transposed, scratch.Slice(hd * t, t * t));
                    }
                    else
                    {
                        // S = scale Q K^T (K^T copied as the batched path's small-matrix kernel copies it), softmax, O = P V.
                        SmallGemm.TransposeInto(t, hd, k, ld, transposed);
                        SmallGemm.MultiplyNN(t, t, hd, scale, q, ld, transposed, t, false, p, t);
                        AttentionSoftmax.Forward(p, t, t, _causal);

                        SmallGemm.MultiplyNN(t, hd, t, 1f, p, t, v, ld, false, _output.Array.AsSpan(_output.Offset + (e * t * ldo) + (h * hd)), ldo);
                    }
                }
            }
        }

        private void BackwardHead(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int ld, ReadOnlySpan<float> p, int e, int h, int t, int hd, float scale, int ldo, Span<float> transposed, Span<float> dp)
        {
            int ldd = _dQkv.Stride;
            int d = _qkv.Columns / 3;
            ReadOnlySpan<float> dO = _output.Array.AsSpan(_output.Offset + (e * t * ldo) + (h * hd));
            Span<float> dq = _dQkv.Array.AsSpan(_dQkv.Offset + (e * t * ldd) + (h * hd));

            // dP = dO V^T; dV = P^T dO.
            SmallGemm.TransposeInto(t, hd, v, ld, transposed);
            SmallGemm.MultiplyNN(t, t, hd, 1f, dO, ldo, transposed, t, false, dp, t);
            SmallGemm.MultiplyTN(t, hd, t, 1f, p, t, dO, ldo, false, dq.Slice(2 * d), ldd);

            // dS = P o (dP - rowsum(P o dP)).
            AttentionSoftmax.Backward(p, dp, t, t);

            // dQ = scale dS K; dK = scale dS^T Q.
            SmallGemm.MultiplyNN(t, hd, t, scale, dp, t, k, ld, false, dq, ldd);
            SmallGemm.MultiplyTN(t, hd, t, scale, dp, t, q, ld, false, dq.Slice(d), ldd);
        }

        /// <summary>
        /// Forward of example e on the packed path: its Q, K, V rows copied once into head-major blocks (T x hd, row
        /// stride hd; the rows are read in order, whole, instead of 2 x 64 bytes from each of 3 x T rows per head, which
        /// the prefetchers do not follow and which map to a few L1 sets), then per head the products and softmax of
        /// the unpacked path on the blocks; the next example's rows and score blocks are prefetched a part per head.
        /// </summary>
        private void ForwardExamplePacked(int e, int t, int d, int hd, float scale, Span<float> transposed, Span<float> packed)
        {
            int ld = _qkv.Stride;
            int ldo = _output.Stride;
            int block = t * hd;
            PackColumnBlocks(_qkv.Array.AsSpan(_qkv.Offset + (e * t * ld)), t, ld, hd, 3 * _heads, packed);
            for (int h = 0; h < _heads; h++)
            {
                PrefetchNextExample(e, h, t, ld, ldo);
                ReadOnlySpan<float> q = packed.Slice(h * block, block);
                ReadOnlySpan<float> k = packed.Slice((_heads + h) * block, block);
                ReadOnlySpan<float> v = packed.Slice(((2 * _heads) + h) * block, block);
                Span<float> p = _probs.AsSpan(((e * _heads) + h) * t * t, t * t);
                SmallGemm.TransposeInto(t, hd, k, hd, transposed);
                SmallGemm.MultiplyNN(t, t, hd, scale, q, hd, transposed, t, false, p, t);
                AttentionSoftmax.Forward(p, t, t, _causal);
                SmallGemm.MultiplyNN(t, hd, t, 1f, p, t, v, hd, false, _output.Array.AsSpan(_output.Offset + (e * t * ldo) + (h * hd)), ldo);
            }
        }

        /// <summary>
        /// Backward of example e on the packed path: Q, K, V and dO packed as in <see cref="ForwardExamplePacked"/>, the
        /// heads' products and softmax backward of <see cref="BackwardHead"/> on the blocks, dQ, dK, dV written into
        /// head-major blocks and copied to the example's dqkv rows once, whole rows in order.
        /// </summary>
        private void BackwardExamplePacked(int e, int t, int d, int hd, float scale, Span<float> transposed, Span<float> dp, Span<float> packed)
        {
            int ld = _qkv.Stride;
            int ldo = _output.Stride;
            int ldd = _dQkv.Stride;
            int block = t * hd;
            Span<float> qkv = packed.Slice(0, 3 * d * t);
            Span<float> dO = packed.Slice(3 * d * t, d * t);
            Span<float> dQkv = packed.Slice(4 * d * t, 3 * d * t);
            PackColumnBlocks(_qkv.Array.AsSpan(_qkv.Offset + (e * t * ld)), t, ld, hd, 3 * _heads, qkv);
            PackColumnBlocks(_output.Array.AsSpan(_output.Offset + (e * t * ldo)), t, ldo, hd, _heads, dO);
            for (int h = 0; h < _heads; h++)
            {
                PrefetchNextExample(e, h, t, ld, ldo);
                ReadOnlySpan<float> q = qkv.Slice(h * block, block);
                ReadOnlySpan<float> k = qkv.Slice((_heads + h) * block, block);
                ReadOnlySpan<float> v = qkv.Slice(((2 * _heads) + h) * block, block);
                ReadOnlySpan<float> dOh = dO.Slice(h * block, block);
                ReadOnlySpan<float> p = _probs.AsSpan(((e * _heads) + h) * t * t, t * t);

                // dP = dO V^T; dV = P^T dO.
                SmallGemm.TransposeInto(t, hd, v, hd, transposed);
                SmallGemm.MultiplyNN(t, t, hd, 1f, dOh, hd, transposed, t, false, dp, t);
                SmallGemm.MultiplyTN(t, hd, t, 1f, p, t, dOh, hd, false, dQkv.Slice(((2 * _heads) + h) * block, block), hd);

                // dS = P o (dP - rowsum(P o dP)).
                AttentionSoftmax.Backward(p, dp, t, t);

                // dQ = scale dS K; dK = scale dS^T Q.
                SmallGemm.MultiplyNN(t, hd, t, scale, dp, t, k, hd, false, dQkv.Slice(h * block, block), hd);
                SmallGemm.MultiplyTN(t, hd, t, scale, dp, t, q, hd, false, dQkv.Slice((_heads + h) * block, block), hd);
            }

            UnpackColumnBlocks(dQkv, t, hd, 3 * _heads, _dQkv.Array.AsSpan(_dQkv.Offset + (e * t * ldd)), ldd);
        }

        /// <summary>
        /// Prefetches part <paramref name="h"/> of <c>heads</c> of the next example's rows (qkv; forward with
        /// <see cref="PrefetchOutputs"/> its output rows, backward its dO and dqkv rows) and of its score blocks, so that
        /// the next example's whole blocks, read or written in order, arrive spread over the current example's heads.
        /// </summary>
        private void PrefetchNextExample(int e, int h, int t, int ld, int ldo)
        {
            if (e + 1 >= _batch)
            {
                return;
            }

            PrefetchPart(_qkv.Array.AsSpan(_qkv.Offset + ((e + 1) * t * ld)), ((t - 1) * ld) + _qkv.Columns, h, _heads);
            PrefetchPart(_probs.AsSpan((e + 1) * _heads * t * t), _heads * t * t, h, _heads);
            if (_backward || PrefetchOutputs)
            {
                PrefetchPart(_output.Array.AsSpan(_output.Offset + ((e + 1) * t * ldo)), ((t - 1) * ldo) + _output.Columns, h, _heads);
            }

            if (_backward && PrefetchOutputs)
            {
                int ldd = _dQkv.Stride;
                PrefetchPart(_dQkv.Array.AsSpan(_dQkv.Offset + ((e + 1) * t * ldd)), ((t - 1) * ldd) + _dQkv.Columns, h, _heads);
            }
        }

        /// <summary>Prefetches part <paramref name="part"/> of <paramref name="parts"/> of the first <paramref name="length"/> floats of <paramref name="source"/>.</summary>
        private static void PrefetchPart(ReadOnlySpan<float> source, int length, int part, int parts)
        {
            int size = length / parts;
            int start = part * size;
            if (part == parts - 1)
            {
                size = length - start;
            }

            SmallGemm.PrefetchRows(source.Slice(start), 1, size, size);
        }

        /// <summary>Prefetches the rows the next (example, head) reads or writes: its Q, K, V rows, its P block, and backward its dO rows.</summary>
        private void Prefetch(int e, int h, int t, int d, int hd, int ld, int ldo)
        {
            int nh = h + 1;
            int ne = e;
            if (nh == _heads)
            {
                nh = 0;
                ne++;
            }

            if (ne >= _batch)
            {
                return;
            }

            ReadOnlySpan<float> q = _qkv.Array.AsSpan(_qkv.Offset + (ne * t * ld) + (nh * hd));
            SmallGemm.PrefetchRows(q, t, hd, ld);
            SmallGemm.PrefetchRows(q.Slice(d), t, hd, ld);
            SmallGemm.PrefetchRows(q.Slice(2 * d), t, hd, ld);
            if (_backward || PrefetchOutputs)
            {
                SmallGemm.PrefetchRows(_output.Array.AsSpan(_output.Offset + (ne * t * ldo) + (nh * hd)), t, hd, ldo);
            }

            SmallGemm.PrefetchRows(_probs.AsSpan(((ne * _heads) + nh) * t * t, t * t), 1, t * t, t * t);
            if (_backward && PrefetchOutputs)
            {
                int ldd = _dQkv.Stride;
                ReadOnlySpan<float> dq = _dQkv.Array.AsSpan(_dQkv.Offset + (ne * t * ldd) + (nh * hd));
                SmallGemm.PrefetchRows(dq, t, hd, ldd);
                SmallGemm.PrefetchRows(dq.Slice(d), t, hd, ldd);
                SmallGemm.PrefetchRows(dq.Slice(2 * d), t, hd, ldd);
            }
        }
    }
}
