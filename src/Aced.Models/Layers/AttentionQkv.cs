using System;
using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Threading;
using Aced.Core;

namespace Aced.Models.Layers;

/// <summary>
/// Where the attention finds head h of example e in a qkv buffer (B T rows of 3 D = 3 H hd values, Q then K then V):
/// Q at <c>Offset(e, 0, h)</c>, K at <c>Offset(e, 1, h)</c>, V at <c>Offset(e, 2, h)</c>, each T x hd with row stride
/// <see cref="RowStride"/>; an example's values lie in the <see cref="ExampleFloats"/> floats from <c>Offset(e, 0, 0)</c>.
/// </summary>
/// <param name="ExampleStride">Floats between examples.</param>
/// <param name="SectionStride">Floats from Q to K and from K to V of one head.</param>
/// <param name="HeadStride">Floats between heads.</param>
/// <param name="RowStride">Floats between a head's token rows.</param>
/// <param name="ExampleFloats">Floats an example's values span.</param>
internal readonly record struct QkvLayout(int ExampleStride, int SectionStride, int HeadStride, int RowStride, int ExampleFloats)
{
    /// <summary>
    /// Token-major rows (the dense layer's output): token t of example e is row e T + t of the view (row stride ld), its
    /// head h's Q, K and V at columns [h hd, (h+1) hd) of the Q, K and V thirds.
    /// </summary>
    public static QkvLayout RowMajor(int tokens, int heads, int width, int ld) =>
        new(tokens * ld, width, width / heads, ld, ((tokens - 1) * ld) + (3 * width));

    /// <summary>
    /// Head-major blocks (<see cref="Attention.ProjectHeadMajor"/>): example e's T x 3D values are 3 H consecutive
    /// T x hd blocks (row stride hd), Q of heads 0..H-1, then K, then V; block s = section H + h holds columns
    /// [s hd, (s+1) hd) of the token rows, so element (e T + t, s hd + c) of the row-major matrix is at
    /// <c>e T 3D + (s T + t) hd + c</c>. This is the block order the fused path's example packing produces.
    /// </summary>
    public static QkvLayout HeadMajor(int tokens, int heads, int width) =>
        new(3 * tokens * width, tokens * width, tokens * (width / heads), width / heads, 3 * tokens * width);

    /// <summary>Offset of section <paramref name="section"/> (0 Q, 1 K, 2 V) of head <paramref name="head"/> of example <paramref name="example"/>.</summary>
    public int Offset(int example, int section, int head) => (example * ExampleStride) + (section * SectionStride) + (head * HeadStride);
}

/// <summary>The qkv projection that writes the head-major layout (<see cref="QkvLayout.HeadMajor"/>).</summary>
internal static partial class Attention
{
    /// <summary>
    /// Whether the transformer blocks' qkv projection writes head-major blocks (<see cref="ProjectHeadMajor"/>) that the
    /// attention reads in place, instead of token rows that the fused path packs per example: on by default, off in A/B
    /// probes and tests. Data movement only: every value and every result keeps its bits.
    /// </summary>
    internal static bool HeadMajorQkv { get; set; } = true;

    /// <summary>
    /// qkv = x W + b (x is B T x D, W is D x 3D) written in the head-major layout (<see cref="QkvLayout.HeadMajor"/>) into
    /// the B T x 3D view <paramref name="qkv"/> (whose row stride must equal its columns): the product and the bias
    /// epilogue of <see cref="Linear.Forward"/>, so every value has the same bits, only stored at its head-major place.
    /// </summary>
    /// <exception cref="ArgumentException">The shapes do not match, qkv's rows are not contiguous, or the columns are not 3 heads hd.</exception>
    public static void ProjectHeadMajor(MatrixView x, MatrixView w, float[] bias, MatrixView qkv, int tokens, int heads)
    {
        CheckProjection(x, w, bias, qkv, tokens, heads);
        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 1f, x, w, new HeadMajorBiasEpilogue(qkv, bias, tokens, heads));
    }

    /// <summary>
    /// Whether <see cref="ProjectAndForward"/> runs each example's forward attention inside the projection's epilogue
    /// (as soon as the example's rows are written, while they are in cache) rather than as a separate pass over qkv: on
    /// by default, off in A/B probes and tests. Each example's attention is the same work either way: the same bits.
    /// </summary>
    internal static bool ForwardInProjection { get; set; } = true;

    /// <summary>
    /// qkv = x W + b head-major (<see cref="ProjectHeadMajor"/>), then the attention forward on it (<see cref="Forward(MatrixView, bool, int, int, int, bool, float[], MatrixView)"/>).
    /// With the managed provider's fused, packed path and <see cref="ForwardInProjection"/>, the projection's epilogue
    /// runs an example's heads on the thread that writes the example's last row, right after writing it: qkv is then
    /// read from L2 instead of memory. Every value has the bits of the separate calls, for any thread count.
    /// </summary>
    /// <exception cref="ArgumentException">The shapes do not match (see <see cref="ProjectHeadMajor"/>), or x has not batch tokens rows.</exception>
    public static void ProjectAndForward(MatrixView x, MatrixView w, float[] bias, MatrixView qkv, int batch, int tokens, int heads, bool causal, float[] probs, MatrixView output)
    {
        if (x.Rows != batch * tokens)
        {
            Guard.ThrowArgument(nameof(x), $"has {x.Rows} rows, not {batch} examples of {tokens} tokens");
        }

        if (!ForwardInProjection || !PackExamples || !UseFused(out _))
        {
            ProjectHeadMajor(x, w, bias, qkv, tokens, heads);
            Forward(qkv, true, batch, tokens, heads, causal, probs, output);
            return;
        }

        CheckProjection(x, w, bias, qkv, tokens, heads);
        QkvLayout layout = QkvLayout.HeadMajor(tokens, heads, qkv.Columns / 3);
        var body = new FusedBody(false, qkv, layout, true, batch, tokens, heads, causal, ExamplesPerGroup(heads, tokens), probs, output, default, null);
        int[] pending = ArrayPool<int>.Shared.Rent(batch);
        try
        {
            Array.Fill(pending, tokens, 0, batch);
            Scratch(body.ScratchFloats);
            Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 1f, x, w, new ProjectedForwardEpilogue(new HeadMajorBiasEpilogue(qkv, bias, tokens, heads), body, pending, tokens, qkv.Columns));
        }
        finally
        {
            ArrayPool<int>.Shared.Return(pending);
        }
    }

    private static void CheckProjection(MatrixView x, MatrixView w, float[] bias, MatrixView qkv, int tokens, int heads)
    {
        if (qkv.Rows != x.Rows || qkv.Columns != w.Columns || bias.Length != w.Columns)
        {
            Guard.ThrowArgument(nameof(qkv), $"has shape {qkv.Rows}x{qkv.Columns} but x W is {x.Rows}x{w.Columns} (bias {bias.Length})");
        }

        CheckHeadMajor(qkv, tokens, heads);
    }

    /// <summary>Checks that <paramref name="qkv"/> can hold the head-major layout: contiguous rows, whole examples, 3 heads hd columns.</summary>
    private static void CheckHeadMajor(MatrixView qkv, int tokens, int heads)
    {
        if (qkv.Stride != qkv.Columns || tokens <= 0 || heads <= 0 || qkv.Rows % tokens != 0 || qkv.Columns % (3 * heads) != 0)
        {
            Guard.ThrowArgument(nameof(qkv), $"a head-major qkv needs contiguous rows (stride {qkv.Stride}, columns {qkv.Columns}), whole examples of {tokens} tokens and 3 x {heads} heads of equal width");
        }
    }

    /// <summary>
    /// y = tile + b (element by element, the bits of <see cref="RowMath.BiasRow"/> in the dense layer's epilogue) stored
    /// head-major: each tile row's columns split at the head blocks' bounds, each piece written to its block. A strip's
    /// rows are consecutive rows of their blocks, so each block gets one contiguous run per strip.
    /// </summary>
    private readonly struct HeadMajorBiasEpilogue : IGemmStripEpilogue
    {
        private readonly float[] _array;
        private readonly int _offset;
        private readonly float[] _bias;
        private readonly int _tokens;
        private readonly int _headDim;
        private readonly int _block;
        private readonly int _example;

        public HeadMajorBiasEpilogue(MatrixView qkv, float[] bias, int tokens, int heads)
        {
            _array = qkv.Array;
            _offset = qkv.Offset;
            _bias = bias;
            _tokens = tokens;
            _headDim = qkv.Columns / (3 * heads);
            _block = tokens * _headDim;
            _example = tokens * qkv.Columns;
        }

        /// <summary>Index of element (row, column) of the row-major product in the head-major array.</summary>
        private int Index(int row, int column)
        {
            (int e, int t) = Math.DivRem(row, _tokens);
            (int s, int c) = Math.DivRem(column, _headDim);
            return _offset + (e * _example) + (s * _block) + (t * _headDim) + c;
        }

        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
            if (tile.Length < ((rows - 1) * stride) + columns || columnStart + columns > _bias.Length || Index(rowStart + rows - 1, columnStart + columns - 1) >= _array.Length)
            {
                Guard.ThrowArgument(nameof(tile), "the tile lies outside the product");
            }

            (int e0, int t0) = Math.DivRem(rowStart, _tokens);
            ref float p0 = ref MemoryMarshal.GetReference(tile);
            ref float y0 = ref MemoryMarshal.GetArrayDataReference(_array);
            int end = columnStart + columns;
            for (int c0 = columnStart; c0 < end;)
            {
                (int s, int c) = Math.DivRem(c0, _headDim);
                int length = Math.Min(end - c0, _headDim - c);
                ref float b = ref _bias[c0];
                int e = e0;
                int t = t0;
                for (int r = 0; r < rows; r++)
                {
                    int y = _offset + (e * _example) + (s * _block) + (t * _headDim) + c;
                    AddBias(ref Unsafe.Add(ref p0, (r * stride) + (c0 - columnStart)), ref b, ref Unsafe.Add(ref y0, y), length);
                    if (++t == _tokens)
                    {
                        t = 0;
                        e++;
                    }
                }

                c0 += length;
            }
        }

        /// <summary>y[i] = p[i] + b[i] for i &lt; n: one rounding per element, as <see cref="RowMath.BiasRow"/> without residual or GELU.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void AddBias(ref float p, ref float b, ref float y, int n)
        {
            int i = 0;
            for (; i + 8 <= n; i += 8)
            {
                (Vector256.LoadUnsafe(ref p, (nuint)i) + Vector256.LoadUnsafe(ref b, (nuint)i)).StoreUnsafe(ref y, (nuint)i);
            }

            for (; i < n; i++)
            {
                Unsafe.Add(ref y, i) = Unsafe.Add(ref p, i) + Unsafe.Add(ref b, i);
            }
        }

        /// <summary>
        /// The blocks' runs the tile writes, as groups of up to <paramref name="rows"/> blocks: a group's "rows" are its
        /// blocks (a block apart), each of rows hd floats, so the GEMM's per-row prefetch walks every run of the group. A
        /// hint: rows that cross an example are approximated by the first row's example.
        /// </summary>
        public int Targets(int rowStart, int rows, int columnStart, int columns, Span<StripTarget> targets)
        {
            int first = columnStart / _headDim;
            int blocks = ((columnStart + columns - 1) / _headDim) - first + 1;
            int count = 0;
            for (int g = 0; g < blocks && count < targets.Length; g += rows)
            {
                targets[count++] = new StripTarget(_array, Index(rowStart, (first + g) * _headDim), _block, rows * _headDim);
            }

            return count;
        }
    }

    /// <summary>
    /// <see cref="HeadMajorBiasEpilogue"/>, then, when a tile finishes rows (their last column tile), the forward
    /// attention of every example whose last rows these are (<see cref="FusedBody.ForwardExample"/>). Each row's last
    /// tile comes exactly once, so a per-example count of rows still to come (decremented atomically: an example's rows
    /// may lie in two threads' bands) reaches zero exactly once, on a thread that then sees all its rows written.
    /// </summary>
    private readonly struct ProjectedForwardEpilogue : IGemmStripEpilogue
    {
        private readonly HeadMajorBiasEpilogue _store;
        private readonly FusedBody _attention;
        private readonly int[] _pending;
        private readonly int _tokens;
        private readonly int _columns;

        public ProjectedForwardEpilogue(HeadMajorBiasEpilogue store, FusedBody attention, int[] pending, int tokens, int columns)
        {
            _store = store;
            _attention = attention;
            _pending = pending;
            _tokens = tokens;
            _columns = columns;
        }

        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
            _store.Apply(rowStart, columnStart, rows, columns, tile, stride);
            if (columnStart + columns != _columns)
            {
                return;
            }

            int end = rowStart + rows;
            for (int row = rowStart; row < end;)
            {
                int e = row / _tokens;
                int next = Math.Min(end, (e + 1) * _tokens);
                if (Interlocked.Add(ref _pending[e], row - next) == 0)
                {
                    _attention.ForwardExample(e);
                }

                row = next;
            }
        }

        public int Targets(int rowStart, int rows, int columnStart, int columns, Span<StripTarget> targets) =>
            _store.Targets(rowStart, rows, columnStart, columns, targets);
    }
}
