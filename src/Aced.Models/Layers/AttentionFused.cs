using System;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Aced.Core;

namespace Aced.Models.Layers;

/// <summary>The fused per-head path of <see cref="Attention"/> (the managed provider's): work items, packing, scratch.</summary>
internal static partial class Attention
{
    /// <summary>Per-thread scratch of the fused path (see <see cref="FusedBody.ScratchFloats"/>); grows, never shrinks.</summary>
    [ThreadStatic]
    private static float[]? t_scratch;

    /// <summary>
    /// The fused path runs with the managed provider itself, or under a profiling wrapper of it
    /// (<paramref name="profiler"/>, which then receives the path's timings); another provider gets the batched calls.
    /// </summary>
    private static bool UseFused(out IAttentionProfiler? profiler)
    {
        profiler = null;
        if (!FusedEnabled)
        {
            return false;
        }

        IGemmProvider provider = GemmControl.Provider;
        if (ReferenceEquals(provider, ManagedGemmProvider.Instance))
        {
            return true;
        }

        if (provider is IAttentionProfiler { WrapsManagedProvider: true } wrapper)
        {
            profiler = wrapper;
            return true;
        }

        return false;
    }

    private static void RunFused(in FusedBody body)
    {
        // The calling thread's scratch is sized here, outside the work items, so that whichever items it claims it
        // never allocates in steady state (the workers' scratch grows once on first use).
        Scratch(body.ScratchFloats);
        IAttentionProfiler? profiler = body.Profiler;
        profiler?.EnterLayer();
        try
        {
            ParallelPartition.Run(body.Items, body);
        }
        finally
        {
            profiler?.ExitLayer();
        }
    }

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
    /// Copies column block s (columns [s w, (s + 1) w)) of the <paramref name="rows"/> rows of <paramref name="source"/>
    /// (row stride ld) to <c>destination[s rows w ..]</c> as a rows x w block (row stride w), for s &lt; blocks: row by
    /// row, each source row read once in order (data movement only).
    /// </summary>
    /// <exception cref="ArgumentException">ld is less than blocks w, or a span is too short.</exception>
    internal static void PackColumnBlocks(ReadOnlySpan<float> source, int rows, int ld, int w, int blocks, Span<float> destination)
    {
        if (rows == 0 || blocks == 0 || w == 0)
        {
            return;
        }

        CheckBlocks(source.Length, rows, ld, w, blocks, destination.Length);
        MoveBlocks(ref MemoryMarshal.GetReference(source), ld, w, ref MemoryMarshal.GetReference(destination), w, rows * w, rows, w, blocks);
    }

    /// <summary>
    /// The inverse of <see cref="PackColumnBlocks"/>: block s of <paramref name="source"/> (rows x w, row stride w, at
    /// s rows w) to columns [s w, (s + 1) w) of the rows of <paramref name="destination"/> (row stride ld); the other
    /// columns of destination are not touched.
    /// </summary>
    /// <exception cref="ArgumentException">ld is less than blocks w, or a span is too short.</exception>
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
            Guard.ThrowArgument(nameof(rows), $"{blocks} column blocks of {rows} x {w} need a row stride of at least {blocks * w}, {((rows - 1) * ld) + (blocks * w)} row-major and {rows * w * blocks} packed floats");
        }
    }

    /// <summary>
    /// For r &lt; rows, s &lt; blocks, c &lt; w: <c>destination[r dRow + s dBlock + c] = source[r sRow + s sBlock + c]</c>,
    /// in Vector256 moves and a scalar tail.
    /// </summary>
    private static void MoveBlocks(ref float source, int sRow, int sBlock, ref float destination, int dRow, int dBlock, int rows, int w, int blocks)
    {
        for (int r = 0; r < rows; r++)
        {
            ref float sr = ref Unsafe.Add(ref source, r * sRow);
            ref float dr = ref Unsafe.Add(ref destination, r * dRow);
            for (int s = 0; s < blocks; s++)
            {
                ref float sp = ref Unsafe.Add(ref sr, s * sBlock);
                ref float dp = ref Unsafe.Add(ref dr, s * dBlock);
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

    /// <summary>
    /// One work item's per-thread state: the transposed operand (hd x T), dP (T x T), the packed blocks, and (profiling
    /// only) the stage timer.
    /// </summary>
    private ref struct ItemState
    {
        public Span<float> Transposed;
        public Span<float> Dp;
        public Span<float> Packed;
        public Span<long> Ticks;
        public long Last;
        public bool Timed;

        /// <summary>Adds the time since the previous mark to stage <paramref name="stage"/> (profiling only).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Mark(int stage)
        {
            if (Timed)
            {
                long now = Stopwatch.GetTimestamp();
                Ticks[stage] += now - Last;
                Last = now;
            }
        }
    }

    /// <summary>Stages of the profile: packing and prefetch; forward: scores (K^T copy and Q K^T), softmax, P V.</summary>
    private const int StagePack = 0;
    private const int StageScores = 1;
    private const int StageSoftmax = 2;
    private const int StageOutput = 3;

    /// <summary>Backward stages: dP (V^T copy and dO V^T), dV = P^T dO, softmax backward, dQ = dS K, dK = dS^T Q.</summary>
    private const int StageDp = 1;
    private const int StageDv = 2;
    private const int StageSoftmaxBackward = 3;
    private const int StageDq = 4;
    private const int StageDk = 5;
    private const int StageCount = 6;

    /// <summary>
    /// One work item of the fused path: the examples of <see cref="GroupBody"/>'s item, one (example, head) at a time,
    /// with the same small-matrix products, row softmax passes and operation order per element as the batched path
    /// (so the same bits), but the head's score block (T x T, 16 KiB at T = 64) stays in L1 between its products and
    /// its softmax pass and the transposed operand and dP live in a per-thread scratch. With <see cref="PackExamples"/>
    /// each example's Q, K, V (backward also dO) rows are first copied into head-major T x hd blocks, whole rows read in
    /// order (per head, the products would read 2 x 64 bytes of each of 3 T rows 1.5 KiB apart, which the hardware
    /// prefetchers do not follow and which fall into few L1 sets), backward's dQ, dK, dV are written into such blocks
    /// and copied to the example's rows once (with <see cref="InPlaceGradients"/>, the default, dO is read and dQ, dK,
    /// dV written in the rows instead: the copies cost more than the strided accesses on Zen 5), and the next
    /// example's rows and score blocks are prefetched a part per
    /// head; without it, the next head's rows are prefetched. A head-major qkv (<see cref="QkvLayout.HeadMajor"/>, written
    /// so by the projection) already is in those blocks: the packed path then reads it in place and copies only dO (nothing
    /// with <see cref="InPlaceGradients"/>).
    /// </summary>
    private readonly struct FusedBody : IPartitionBody
    {
        private readonly bool _backward;
        private readonly MatrixView _qkv;
        private readonly QkvLayout _layout;
        private readonly bool _headMajor;
        private readonly int _batch;
        private readonly int _tokens;
        private readonly int _heads;
        private readonly bool _causal;
        private readonly int _group;
        private readonly float[] _probs;
        private readonly MatrixView _output;
        private readonly MatrixView _dQkv;
        private readonly IAttentionProfiler? _profiler;

        public FusedBody(bool backward, MatrixView qkv, QkvLayout layout, bool headMajor, int batch, int tokens, int heads, bool causal, int group, float[] probs, MatrixView output, MatrixView dQkv, IAttentionProfiler? profiler)
        {
            _backward = backward;
            _qkv = qkv;
            _layout = layout;
            _headMajor = headMajor;
            _batch = batch;
            _tokens = tokens;
            _heads = heads;
            _causal = causal;
            _group = group;
            _probs = probs;
            _output = output;
            _dQkv = dQkv;
            _profiler = profiler;
        }

        public IAttentionProfiler? Profiler => _profiler;

        public int Items => (_batch + _group - 1) / _group;

        /// <summary>
        /// Scratch floats of one work item: the transposed K or V (hd x T) and dP (T x T), then (packed) an example's
        /// packed Q, K, V (3 D x T; not touched when qkv is head-major) and, unless <see cref="InPlaceGradients"/>, its
        /// dO (D x T) and its dQ, dK, dV (3 D x T).
        /// </summary>
        public int ScratchFloats => (HeadDim * _tokens) + (_tokens * _tokens) + (PackExamples ? (InPlaceGradients ? 3 : 7) * Width * _tokens : 0);

        private int Width => _qkv.Columns / 3;

        private int HeadDim => Width / _heads;

        public void Execute(int partition)
        {
            int e0 = partition * _group;
            int end = Math.Min(e0 + _group, _batch);
            Span<long> ticks = stackalloc long[StageCount];
            ItemState state = NewState(ticks);
            for (int e = e0; e < end; e++)
            {
                if (PackExamples)
                {
                    PackedExample(ref state, e);
                }
                else
                {
                    for (int h = 0; h < _heads; h++)
                    {
                        Prefetch(e, h);
                        state.Mark(StagePack);
                        StridedHead(ref state, e, h);
                    }
                }
            }

            if (_profiler is not null)
            {
                Report(ticks, (end - e0) * _heads);
            }
        }

        /// <summary>
        /// The forward of example e alone, on the calling thread, without prefetching the next example (its rows may not
        /// exist yet): for <see cref="ProjectedForwardEpilogue"/>, which runs it as soon as the projection has written the
        /// example's head-major rows. The same heads and operations as <see cref="Execute"/>, so the same bits.
        /// </summary>
        public void ForwardExample(int e)
        {
            Span<long> ticks = stackalloc long[StageCount];
            ItemState state = NewState(ticks);
            PackedExample(ref state, e, false);
            if (_profiler is not null)
            {
                Report(ticks, _heads);
            }
        }

        private ItemState NewState(Span<long> ticks)
        {
            int t = _tokens;
            int hd = HeadDim;
            Span<float> scratch = Scratch(ScratchFloats);
            return new ItemState
            {
                Transposed = scratch.Slice(0, hd * t),
                Dp = scratch.Slice(hd * t, t * t),
                Packed = scratch.Slice((hd * t) + (t * t)),
                Ticks = ticks,
                Timed = _profiler is not null,
                Last = _profiler is not null ? Stopwatch.GetTimestamp() : 0,
            };
        }

        /// <summary>
        /// Example e on the packed path: pack, its heads on the blocks; backward with <see cref="InPlaceGradients"/> the
        /// heads read dO and write dQ, dK, dV in the example's rows, else dO is packed and dQ, dK, dV copied out.
        /// </summary>
        private void PackedExample(ref ItemState state, int e, bool prefetchNext = true)
        {
            int t = _tokens;
            int d = Width;
            int hd = HeadDim;
            int block = t * hd;
            int ldo = _output.Stride;
            ReadOnlySpan<float> qkv = _headMajor ? _qkv.Array.AsSpan(_qkv.Offset + _layout.Offset(e, 0, 0), 3 * d * t) : PackQkv(state.Packed.Slice(0, 3 * d * t), e);
            if (!_backward)
            {
                state.Mark(StagePack);
                for (int h = 0; h < _heads; h++)
                {
                    if (prefetchNext)
                    {
                        PrefetchNextExample(e, h, _heads);
                        state.Mark(StagePack);
                    }

                    ForwardHead(ref state, qkv.Slice(h * block, block), qkv.Slice((_heads + h) * block, block), qkv.Slice(((2 * _heads) + h) * block, block), hd, e, h);
                }

                return;
            }

            int ldd = _dQkv.Stride;
            bool inPlace = InPlaceGradients;
            ReadOnlySpan<float> outputRows = _output.Array.AsSpan(_output.Offset + (e * t * ldo));
            Span<float> dQkvRows = _dQkv.Array.AsSpan(_dQkv.Offset + (e * t * ldd));
            Span<float> dO = inPlace ? default : state.Packed.Slice(3 * d * t, d * t);
            Span<float> dQkv = inPlace ? default : state.Packed.Slice(4 * d * t, 3 * d * t);
            if (!inPlace)
            {
                PackColumnBlocks(outputRows, t, ldo, hd, _heads, dO);
            }

            state.Mark(StagePack);
            bool spread = SpreadsPrefetch;
            for (int h = 0; h < _heads; h++)
            {
                if (!spread)
                {
                    PrefetchNextExample(e, h, _heads);
                    state.Mark(StagePack);
                }

                // In place: head h's columns of the example's dO rows and of its dQ, dK, dV thirds of dqkv's rows.
                Span<float> dq = inPlace ? dQkvRows.Slice(h * hd) : dQkv.Slice(h * block, block);
                Span<float> dk = inPlace ? dQkvRows.Slice(d + (h * hd)) : dQkv.Slice((_heads + h) * block, block);
                Span<float> dv = inPlace ? dQkvRows.Slice((2 * d) + (h * hd)) : dQkv.Slice(((2 * _heads) + h) * block, block);
                BackwardHead(
                    ref state,
                    spread ? e : -1,
                    qkv.Slice(h * block, block),
                    qkv.Slice((_heads + h) * block, block),
                    qkv.Slice(((2 * _heads) + h) * block, block),
                    hd,
                    inPlace ? outputRows.Slice(h * hd) : dO.Slice(h * block, block),
                    inPlace ? ldo : hd,
                    e,
                    h,
                    dq,
                    dk,
                    dv,
                    inPlace ? ldd : hd);
            }

            if (!inPlace)
            {
                UnpackColumnBlocks(dQkv, t, hd, 3 * _heads, dQkvRows, ldd);
                state.Mark(StagePack);
            }
        }

        /// <summary>Packs example e's token rows of qkv into <paramref name="blocks"/> (the head-major layout) and returns it.</summary>
        private ReadOnlySpan<float> PackQkv(Span<float> blocks, int e)
        {
            int ld = _qkv.Stride;
            PackColumnBlocks(_qkv.Array.AsSpan(_qkv.Offset + _layout.Offset(e, 0, 0)), _tokens, ld, HeadDim, 3 * _heads, blocks);
            return blocks;
        }

        /// <summary>Head (e, h) on the unpacked path: the products read and write qkv (in its layout), dO and dqkv in place.</summary>
        private void StridedHead(ref ItemState state, int e, int h)
        {
            int t = _tokens;
            int hd = HeadDim;
            int ld = _layout.RowStride;
            int section = _layout.SectionStride;
            ReadOnlySpan<float> q = _qkv.Array.AsSpan(_qkv.Offset + _layout.Offset(e, 0, h));
            if (!_backward)
            {
                ForwardHead(ref state, q, q.Slice(section), q.Slice(2 * section), ld, e, h);
                return;
            }

            int d = Width;
            int ldo = _output.Stride;
            int ldd = _dQkv.Stride;
            Span<float> dq = _dQkv.Array.AsSpan(_dQkv.Offset + (e * t * ldd) + (h * hd));
            BackwardHead(ref state, -1, q, q.Slice(section), q.Slice(2 * section), ld, _output.Array.AsSpan(_output.Offset + (e * t * ldo) + (h * hd)), ldo, e, h, dq, dq.Slice(d), dq.Slice(2 * d), ldd);
        }

        /// <summary>
        /// Forward of head (e, h) from its Q, K, V (T x hd, row stride ldIn): S = scale Q K^T (K^T copied as the batched
        /// path's small-matrix kernel copies it) into the head's probability block, softmax, O = P V into the output rows.
        /// </summary>
        private void ForwardHead(ref ItemState state, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int ldIn, int e, int h)
        {
            int t = _tokens;
            int hd = HeadDim;
            int ldo = _output.Stride;
            Span<float> p = _probs.AsSpan(((e * _heads) + h) * t * t, t * t);
            Span<float> o = _output.Array.AsSpan(_output.Offset + (e * t * ldo) + (h * hd));
            SmallGemm.TransposeInto(t, hd, k, ldIn, state.Transposed);
            if (Triangles)
            {
                SmallGemm.MultiplyNNLowerResult(t, t, hd, 1f / MathF.Sqrt(hd), q, ldIn, state.Transposed, t, p, t);
                state.Mark(StageScores);
                AttentionSoftmax.Forward(p, t, t, _causal);
                state.Mark(StageSoftmax);
                SmallGemm.MultiplyNNLowerA(t, hd, t, 1f, p, t, v, ldIn, o, ldo);
            }
            else
            {
                SmallGemm.MultiplyNN(t, t, hd, 1f / MathF.Sqrt(hd), q, ldIn, state.Transposed, t, false, p, t);
                state.Mark(StageScores);
                AttentionSoftmax.Forward(p, t, t, _causal);
                state.Mark(StageSoftmax);
                SmallGemm.MultiplyNN(t, hd, t, 1f, p, t, v, ldIn, false, o, ldo);
            }

            state.Mark(StageOutput);
        }

        /// <summary>
        /// Backward of head (e, h): dP = dO V^T, dV = P^T dO, dS = P o (dP - rowsum(P o dP)), dQ = scale dS K,
        /// dK = scale dS^T Q; Q, K, V have row stride ldIn, dO ldDo, and dQ, dK, dV ldD. With
        /// <paramref name="prefetchFor"/> = e (not -1), part h of the next example's prefetch is issued in
        /// <see cref="BackwardStages"/> pieces, one before each stage, instead of in one burst before the head.
        /// </summary>
        private void BackwardHead(ref ItemState state, int prefetchFor, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int ldIn, ReadOnlySpan<float> dO, int ldDo, int e, int h, Span<float> dq, Span<float> dk, Span<float> dv, int ldD)
        {
            int t = _tokens;
            int hd = HeadDim;
            float scale = 1f / MathF.Sqrt(hd);
            ReadOnlySpan<float> p = _probs.AsSpan(((e * _heads) + h) * t * t, t * t);
            Span<float> dp = state.Dp;
            int parts = _heads * BackwardStages;
            int part = h * BackwardStages;
            PrefetchSpread(ref state, prefetchFor, part, parts);
            SmallGemm.TransposeInto(t, hd, v, ldIn, state.Transposed);
            SmallGemm.MultiplyNN(t, t, hd, 1f, dO, ldDo, state.Transposed, t, false, dp, t);
            state.Mark(StageDp);
            PrefetchSpread(ref state, prefetchFor, part + 1, parts);
            // The backward is not told whether the layer is causal: P's zero upper triangle is what the triangular
            // products need, checked here (a non-causal P stops the check at its first row).
            bool triangles = CausalTriangles && SmallGemm.UpperIsZero(p, t, t);
            if (triangles)
            {
                SmallGemm.MultiplyTNLowerA(t, hd, t, 1f, p, t, dO, ldDo, dv, ldD);
            }
            else
            {
                SmallGemm.MultiplyTN(t, hd, t, 1f, p, t, dO, ldDo, false, dv, ldD);
            }

            state.Mark(StageDv);
            PrefetchSpread(ref state, prefetchFor, part + 2, parts);
            AttentionSoftmax.Backward(p, dp, t, t);
            state.Mark(StageSoftmaxBackward);
            PrefetchSpread(ref state, prefetchFor, part + 3, parts);
            if (triangles && SmallGemm.UpperIsZero(dp, t, t))
            {
                SmallGemm.MultiplyNNLowerA(t, hd, t, scale, dp, t, k, ldIn, dq, ldD);
                state.Mark(StageDq);
                PrefetchSpread(ref state, prefetchFor, part + 4, parts);
                SmallGemm.MultiplyTNLowerA(t, hd, t, scale, dp, t, q, ldIn, dk, ldD);
            }
            else
            {
                SmallGemm.MultiplyNN(t, hd, t, scale, dp, t, k, ldIn, false, dq, ldD);
                state.Mark(StageDq);
                PrefetchSpread(ref state, prefetchFor, part + 4, parts);
                SmallGemm.MultiplyTN(t, hd, t, scale, dp, t, q, ldIn, false, dk, ldD);
            }

            state.Mark(StageDk);
        }

        /// <summary>Whether this (forward) layer's heads skip the causal zero triangle (<see cref="CausalTriangles"/>).</summary>
        private bool Triangles => _causal && CausalTriangles;

        /// <summary>Stages of a head's backward (<see cref="BackwardHead"/>), each preceded by one piece of the spread prefetch.</summary>
        private const int BackwardStages = 5;

        /// <summary>Part <paramref name="part"/> of <paramref name="parts"/> of example e + 1's prefetch (nothing when e is -1), timed as packing.</summary>
        private void PrefetchSpread(ref ItemState state, int e, int part, int parts)
        {
            if (e >= 0)
            {
                PrefetchNextExample(e, part, parts);
                state.Mark(StagePack);
            }
        }

        /// <summary>
        /// Whether the packed backward spreads each head's prefetch over its stages: with <see cref="SpreadPrefetch"/>,
        /// when a head's part of the next example (qkv, scores, dO and dqkv floats over the heads) is at most
        /// <see cref="SpreadPrefetchFloats"/>; larger parts keep the burst.
        /// </summary>
        private bool SpreadsPrefetch => SpreadsBackwardPrefetch(BackwardPrefetchFloats, _heads);

        /// <summary>Floats <see cref="PrefetchNextExample"/> covers per backward example: qkv, the score blocks, dO and dqkv.</summary>
        private long BackwardPrefetchFloats => (long)_layout.ExampleFloats + ((long)_heads * _tokens * _tokens) + (((long)(_tokens - 1) * _output.Stride) + _output.Columns) + (((long)(_tokens - 1) * _dQkv.Stride) + _dQkv.Columns);

        /// <summary>Reports one work item's stage times: the products under the shapes the batched path issues, the row passes by name.</summary>
        private void Report(ReadOnlySpan<long> ticks, int heads)
        {
            IAttentionProfiler profiler = _profiler!;
            int t = _tokens;
            int hd = HeadDim;
            if (PackExamples)
            {
                profiler.RecordPass("attention pack/unpack, prefetch", heads, ticks[StagePack]);
            }

            profiler.RecordProducts(Transpose.None, Transpose.Transposed, t, t, hd, heads, ticks[StageScores]);
            if (_backward)
            {
                profiler.RecordProducts(Transpose.Transposed, Transpose.None, t, hd, t, heads, ticks[StageDv]);
                profiler.RecordPass("attention softmax backward", heads, ticks[StageSoftmaxBackward]);
                profiler.RecordProducts(Transpose.None, Transpose.None, t, hd, t, heads, ticks[StageDq]);
                profiler.RecordProducts(Transpose.Transposed, Transpose.None, t, hd, t, heads, ticks[StageDk]);
            }
            else
            {
                profiler.RecordPass("attention softmax", heads, ticks[StageSoftmax]);
                profiler.RecordProducts(Transpose.None, Transpose.None, t, hd, t, heads, ticks[StageOutput]);
            }
        }

        /// <summary>
        /// Prefetches part <paramref name="part"/> of <paramref name="parts"/> of the next example's rows (qkv; forward with
        /// <see cref="PrefetchOutputs"/> its output rows, backward its dO and, with <see cref="PrefetchOutputs"/>, its
        /// dqkv rows) and of its score blocks: the next example's blocks, read or written in order, arrive spread over
        /// the current example's heads.
        /// </summary>
        private void PrefetchNextExample(int e, int part, int parts)
        {
            if (e + 1 >= _batch)
            {
                return;
            }

            int t = _tokens;
            int ldo = _output.Stride;
            PrefetchPart(_qkv.Array.AsSpan(_qkv.Offset + _layout.Offset(e + 1, 0, 0)), _layout.ExampleFloats, part, parts);
            PrefetchPart(_probs.AsSpan((e + 1) * _heads * t * t), _heads * t * t, part, parts);
            if (_backward || PrefetchOutputs)
            {
                PrefetchPart(_output.Array.AsSpan(_output.Offset + ((e + 1) * t * ldo)), ((t - 1) * ldo) + _output.Columns, part, parts);
            }

            if (_backward && PrefetchOutputs)
            {
                int ldd = _dQkv.Stride;
                PrefetchPart(_dQkv.Array.AsSpan(_dQkv.Offset + ((e + 1) * t * ldd)), ((t - 1) * ldd) + _dQkv.Columns, part, parts);
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
        private void Prefetch(int e, int h)
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

            int t = _tokens;
            int d = Width;
            int hd = HeadDim;
            int ld = _layout.RowStride;
            int section = _layout.SectionStride;
            int ldo = _output.Stride;
            ReadOnlySpan<float> q = _qkv.Array.AsSpan(_qkv.Offset + _layout.Offset(ne, 0, nh));
            SmallGemm.PrefetchRows(q, t, hd, ld);
            SmallGemm.PrefetchRows(q.Slice(section), t, hd, ld);
            SmallGemm.PrefetchRows(q.Slice(2 * section), t, hd, ld);
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
