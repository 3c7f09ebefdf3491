using System;
using System.Buffers;
using Aced.Core;

namespace Aced.Models.Layers;

/// <summary>
/// Dense layer <c>y = x W + b</c> with W stored in x out (row-major); every product goes through <see cref="Gemm"/>.
/// With a bias the forward runs through <see cref="Gemm.MultiplyWithEpilogue{TEpilogue}"/>: the bias (and optionally
/// a residual and a GELU) is applied to each finished tile while it is in cache, so y is written exactly once.
/// </summary>
internal static class Linear
{
    /// <summary>
    /// Rows of x and dy per weight-gradient product. dW = x^T dy with k = batch x tokens rows (16384 at the reference
    /// batch) is computed as a fixed sequence of k-slices of this length accumulated into dW: each slice's packed dy
    /// stays in cache across the row tiles of the product instead of being streamed from memory once per row tile,
    /// which measured 1.3-1.8x faster at the reference shapes (see docs/PERFORMANCE.md). The slicing depends only on
    /// k, so the summation order, and the result, is the same for every thread count.
    /// </summary>
    public const int WeightGradientSlice = 512;

    /// <summary>y (n x out) = x (n x in) W (in x out) + b; b may be null (no bias).</summary>
    public static void Forward(MatrixView x, MatrixView w, float[]? b, MatrixView y)
    {
        if (b is null)
        {
            Gemm.Multiply(Transpose.None, Transpose.None, 1f, x, w, 0f, y);
            return;
        }

        CheckOutput(x, w, y);
        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 1f, x, w, new BiasEpilogue(y, b, default, default, default));
    }

    /// <summary>y = residual + x W + b in one pass over y (<paramref name="residual"/> has y's shape and must not alias it).</summary>
    public static void ForwardResidual(MatrixView x, MatrixView w, float[] b, MatrixView residual, MatrixView y)
    {
        CheckOutput(x, w, y);
        residual.EnsureShape(y.Rows, y.Columns, nameof(residual));
        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 1f, x, w, new BiasEpilogue(y, b, residual, default, default));
    }

    /// <summary>
    /// y = residual + x W + b as <see cref="ForwardResidual(MatrixView, MatrixView, float[], MatrixView, MatrixView)"/>,
    /// then the layer norm of y into <paramref name="norm"/> (the next layer's <see cref="RowOps.LayerNormForward"/>),
    /// row by row as soon as a row band's last column tile is done, while the rows are still in cache. Each row gets
    /// exactly <see cref="RowMath.LayerNorm"/>, so the bits are those of the separate pass.
    /// </summary>
    public static void ForwardResidual(MatrixView x, MatrixView w, float[] b, MatrixView residual, MatrixView y, in LayerNormTarget norm)
    {
        CheckOutput(x, w, y);
        residual.EnsureShape(y.Rows, y.Columns, nameof(residual));
        norm.Check(y);
        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 1f, x, w, new BiasEpilogue(y, b, residual, default, norm));
    }

    /// <summary>hidden = x W + b and gelu = GELU(hidden) (see <see cref="RowMath.Gelu"/>) in one pass.</summary>
    public static void ForwardGelu(MatrixView x, MatrixView w, float[] b, MatrixView hidden, MatrixView gelu)
    {
        CheckOutput(x, w, hidden);
        gelu.EnsureShape(hidden.Rows, hidden.Columns, nameof(gelu));
        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 1f, x, w, new BiasEpilogue(hidden, b, default, gelu, default));
    }

    /// <summary>
    /// Products at least this large (2 k in out flops, the cost of dW and of dx each) run the weight gradient and the
    /// input gradient as concurrent single-threaded products (<see cref="Backward"/>); smaller ones run one after the
    /// other, each product using every thread.
    /// </summary>
    public const double ConcurrentBackwardFlops = 1 << 26;

    /// <summary>Rows of dy per input-gradient item of a concurrent backward (a multiple of <see cref="RowOps.SumChunkRows"/>).</summary>
    public const int InputGradientBlockRows = 1024;

    /// <summary>
    /// dW += x^T dy, db += 1^T dy (db a 1 x out view, empty to skip; summed by <see cref="RowOps.AddColumnSums"/> in a
    /// fixed order), and dx = dy W^T (dx += when <paramref name="accumulateDx"/>); pass an empty dx view to skip the
    /// input gradient.
    /// </summary>
    /// <remarks>
    /// With more than one thread and a product of at least <see cref="ConcurrentBackwardFlops"/>, the work runs as fixed
    /// <see cref="ParallelPartition"/> items (<see cref="BackwardBody"/>): dW in two halves (columns when dW is wider
    /// than tall, else rows), then dx in blocks of <see cref="InputGradientBlockRows"/> rows, each with its rows' share
    /// of db (or db as a last item, see <see cref="BiasGradientInInputItems"/>); each item's products run
    /// single-threaded on the thread that claims it (a GEMM inside a partition runs serially). A
    /// weight-gradient slice product has only a few tiles of a 128 x 512 C, so split over two threads each thread packs
    /// the whole dy slice for a quarter of the work; single-threaded, each packed operand serves its thread's whole half,
    /// and the dx blocks fill in behind the two long dW items. Splitting C by rows or columns, and dx by rows, does not
    /// change any element's fused multiply-add chain (k blocks depend on k only), so the results are bit-identical to
    /// the sequential form and for any thread count.
    /// </remarks>
    public static void Backward(MatrixView x, MatrixView w, MatrixView dy, MatrixView dx, bool accumulateDx, MatrixView dw, MatrixView db)
    {
        if (Concurrent(x, dy, dx))
        {
            CheckBackwardShapes(x, w, dy, dx, dw, db);
            RunConcurrent(x, w, dy, dx, accumulateDx, dw, db, default, null);
            return;
        }

        AddWeightGradient(x, dy, dw);
        if (!db.IsEmpty)
        {
            RowOps.AddColumnSums(dy, db.Row(0));
        }

        if (!dx.IsEmpty)
        {
            InputGradient(w, dy, dx, accumulateDx);
        }
    }

    /// <summary>
    /// Backward of a layer whose input is <c>gelu = GELU(hidden)</c>: <see cref="Backward"/> with dx = dHidden
    /// (overwritten), then dHidden = dHidden * GELU'(hidden) and <paramref name="hiddenBiasGradient"/> += 1^T dHidden
    /// (the bias gradient of the layer that produced hidden), exactly as
    /// <see cref="RowOps.GeluBackward(MatrixView, MatrixView, MatrixView, Span{float})"/> after <see cref="Backward"/>.
    /// When the backward runs concurrently, each input-gradient item applies the GELU backward to its rows right after
    /// its product (while they are still in cache) and forms the same fixed <see cref="RowOps.SumChunkRows"/>-row
    /// partial column sums, added in chunk order afterwards: the bits are the same either way.
    /// </summary>
    public static void BackwardThroughGelu(MatrixView gelu, MatrixView hidden, MatrixView w, MatrixView dy, MatrixView dHidden, MatrixView dw, MatrixView db, Span<float> hiddenBiasGradient)
    {
        if (!Concurrent(gelu, dy, dHidden))
        {
            Backward(gelu, w, dy, dHidden, false, dw, db);
            RowOps.GeluBackward(hidden, dHidden, dHidden, hiddenBiasGradient);
            return;
        }

        CheckBackwardShapes(gelu, w, dy, dHidden, dw, db);
        hidden.EnsureShape(dHidden.Rows, dHidden.Columns, nameof(hidden));
        if (hiddenBiasGradient.Length != hidden.Columns)
        {
            Guard.ThrowArgument(nameof(hiddenBiasGradient), $"has length {hiddenBiasGradient.Length} but hidden has {hidden.Columns} columns");
        }

        int chunks = RowOps.CountSumChunks(hidden.Rows);
        float[] partial = ArrayPool<float>.Shared.Rent(chunks * hidden.Columns);
        try
        {
            RunConcurrent(gelu, w, dy, dHidden, false, dw, db, hidden, partial);
            RowOps.AddChunkSums(partial, chunks, hiddenBiasGradient);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partial);
        }
    }

    /// <summary>
    /// Rows of dy per input-gradient item of a concurrent backward: <see cref="InputGradientBlockRows"/>, or another
    /// multiple of <see cref="RowOps.SumChunkRows"/> (an internal A/B switch, dx10; the bits do not depend on it).
    /// </summary>
    internal static int InputGradientRows { get; set; } = InputGradientBlockRows;

    /// <summary>
    /// Rows at the end of dx that a concurrent backward splits into items of <see cref="RowOps.SumChunkRows"/> rows
    /// instead of <see cref="InputGradientRows"/> (step12; an internal A/B switch, 0 turns it off): the threads run out
    /// of work at most a small item apart, where a last full-size item left one thread idle for half an item on
    /// average (~0.5 ms per call at batch 256). A multiple of <see cref="RowOps.SumChunkRows"/>; the bits do not depend
    /// on it (every dx row is the same product whatever item computes it).
    /// </summary>
    internal static int InputGradientTailRows { get; set; } = 1024;

    /// <summary>
    /// Whether a concurrent backward forms db from each input-gradient item's rows of dy right after its product (the
    /// item's <see cref="RowOps.SumChunkRows"/>-row partial column sums, added in chunk order afterwards) instead of as a
    /// separate last item over all of dy (an internal A/B switch, bwd11). Either way each chunk is its first row copied
    /// and the others added in row order, then the chunks added in order (<see cref="RowOps.AddColumnSums"/>): same bits.
    /// </summary>
    internal static bool BiasGradientInInputItems { get; set; } = true;

    /// <summary>Runs the items of a concurrent backward (<see cref="BackwardBody"/>), then adds db's chunk sums when the dx items formed them.</summary>
    private static void RunConcurrent(MatrixView x, MatrixView w, MatrixView dy, MatrixView dx, bool accumulateDx, MatrixView dw, MatrixView db, MatrixView hidden, float[]? partial)
    {
        if (db.IsEmpty || !BiasGradientInInputItems)
        {
            var body = new BackwardBody(x, w, dy, dx, accumulateDx, dw, db, hidden, partial, null);
            ParallelPartition.Run(body.Items, body);
            return;
        }

        int chunks = RowOps.CountSumChunks(dy.Rows);
        float[] biasPartial = ArrayPool<float>.Shared.Rent(chunks * dy.Columns);
        try
        {
            var body = new BackwardBody(x, w, dy, dx, accumulateDx, dw, db, hidden, partial, biasPartial);
            ParallelPartition.Run(body.Items, body);
            RowOps.AddChunkSums(biasPartial, chunks, db.Row(0));
        }
        finally
        {
            ArrayPool<float>.Shared.Return(biasPartial);
        }
    }

    private static bool Concurrent(MatrixView x, MatrixView dy, MatrixView dx) =>
        !dx.IsEmpty && AcedControl.MaxDegreeOfParallelism > 1 && 2.0 * x.Rows * x.Columns * dy.Columns >= ConcurrentBackwardFlops;

    /// <summary>
    /// dW += x^T dy, summed over fixed k-slices of <see cref="WeightGradientSlice"/> rows in row order, each slice a
    /// product that uses every thread (the concurrent backward's single-threaded halves run the same slices as one
    /// <see cref="GemmSlices.AddTransposedProducts"/> call each: same bits).
    /// </summary>
    public static void AddWeightGradient(MatrixView x, MatrixView dy, MatrixView dw) => AddWeightGradientBySlices(x, dy, dw);

    /// <summary>dW += x^T dy as one product per k-slice (the form <see cref="GemmSlices.AddTransposedProducts"/> reproduces bit for bit).</summary>
    internal static void AddWeightGradientBySlices(MatrixView x, MatrixView dy, MatrixView dw)
    {
        int k = x.Rows;
        if (k <= WeightGradientSlice)
        {
            Gemm.Multiply(Transpose.Transposed, Transpose.None, 1f, x, dy, 1f, dw);
            return;
        }

        if (dy.Rows != k)
        {
            Guard.ThrowArgument(nameof(dy), $"has {dy.Rows} rows but x has {k}; they must agree");
        }

        for (int k0 = 0; k0 < k; k0 += WeightGradientSlice)
        {
            int rows = Math.Min(WeightGradientSlice, k - k0);
            Gemm.Multiply(Transpose.Transposed, Transpose.None, 1f, x.RowRange(k0, rows), dy.RowRange(k0, rows), 1f, dw);
        }
    }

    /// <summary>
    /// The first row of the k block of the weight gradient over <paramref name="k"/> rows that contains row
    /// <paramref name="row"/>: <see cref="AddWeightGradient(MatrixView, MatrixView, MatrixView)"/> cuts k into
    /// <see cref="WeightGradientSlice"/>-row slices and the managed GEMM each slice into the k blocks of
    /// <see cref="GemmPlan"/> for its length (two blocks of 256 rows per full slice); every element of dW is one fused
    /// multiply-add chain from zero per block, rounded into dW as <c>fma(acc, 1, 1 * dw)</c>.
    /// </summary>
    internal static int WeightGradientBlockStart(int row, int k)
    {
        int slice = row / WeightGradientSlice * WeightGradientSlice;
        int kc = new GemmPlan(1, 1, Math.Min(WeightGradientSlice, k - slice), epilogue: false).Kc;
        return slice + ((row - slice) / kc * kc);
    }

    /// <summary>
    /// dW += x^T dy, one product per group of <paramref name="blocks"/> (at most <see cref="GemmPlan.KcMax"/> rows each,
    /// so each is one k block: every element one fused multiply-add chain from zero over the group's rows, rounded
    /// into dW). With the groups of <see cref="PooledRows.WeightBlocks"/> this adds the same chains as the product over
    /// all token rows, whose other rows' terms are exact zeros (see <see cref="TransformerEncoder.PooledRowsOnly"/>).
    /// </summary>
    public static void AddWeightGradientByBlocks(MatrixView x, MatrixView dy, MatrixView dw, RowGroups blocks)
    {
        for (int g = 0; g < blocks.Count; g++)
        {
            int start = blocks.Start(g);
            int rows = blocks.End(g) - start;
            if (rows > GemmPlan.KcMax)
            {
                Guard.ThrowArgument(nameof(blocks), $"group {g} has {rows} rows; a group is one k block of at most {GemmPlan.KcMax}");
            }

            Gemm.Multiply(Transpose.Transposed, Transpose.None, 1f, x.RowRange(start, rows), dy.RowRange(start, rows), 1f, dw);
        }
    }

    /// <summary>
    /// The backward of the layer on the pooled rows of a token-row matrix (<see cref="TransformerEncoder.PooledRowsOnly"/>):
    /// dx = dy W^T (overwritten; each row the product over all rows would give), dW += x^T dy in the groups of
    /// <see cref="PooledRows.WeightBlocks"/>, db += 1^T dy (db a 1 x out view, empty to skip) in those of
    /// <see cref="PooledRows.SumGroups"/>.
    /// </summary>
    /// <remarks>
    /// The block products are small (k at most a block's pooled rows, 8 at the reference shapes), each below the GEMM's
    /// parallel threshold; with more than one thread (<see cref="PooledConcurrent"/>) the work runs as fixed items,
    /// each single-threaded: the two halves of dW (as <see cref="BackwardBody"/> splits it), dx, and db. Splitting dW by
    /// rows or columns changes no element's chain: same bits.
    /// </remarks>
    public static void BackwardPooled(MatrixView x, MatrixView w, MatrixView dy, MatrixView dx, MatrixView dw, MatrixView db, PooledRows pooled)
    {
        CheckBackwardShapes(x, w, dy, dx, dw, db);
        var body = new PooledBackwardBody(x, w, dy, dx, dw, db, pooled);
        if (PooledConcurrent && AcedControl.MaxDegreeOfParallelism > 1)
        {
            ParallelPartition.Run(4, body);
            return;
        }

        body.Execute(PooledBackwardBody.WholeWeightGradient);
        body.Execute(2);
        body.Execute(3);
    }

    /// <summary>
    /// Whether <see cref="BackwardPooled"/> runs its products as concurrent single-threaded items with more than one
    /// thread (default on; an internal A/B switch, same bits).
    /// </summary>
    internal static bool PooledConcurrent { get; set; } = true;

    /// <summary>
    /// The items of <see cref="BackwardPooled"/>: 0 and 1 the halves of dW (<see cref="WholeWeightGradient"/> all of
    /// it), 2 dx, 3 db. Each writes only its own part.
    /// </summary>
    private readonly struct PooledBackwardBody(MatrixView x, MatrixView w, MatrixView dy, MatrixView dx, MatrixView dw, MatrixView db, PooledRows pooled) : IPartitionBody
    {
        /// <summary>The item number of the whole weight gradient (the serial form).</summary>
        public const int WholeWeightGradient = -1;

        public void Execute(int partition)
        {
            switch (partition)
            {
                case WholeWeightGradient:
                    AddWeightGradientByBlocks(x, dy, dw, pooled.WeightBlocks);
                    break;
                case 0 or 1 when dw.Rows < dw.Columns:
                {
                    (int start, int count) = BackwardBody.Half(dw.Columns, GemmTileColumns, partition);
                    AddWeightGradientByBlocks(x, dy.ColumnRange(start, count), dw.ColumnRange(start, count), pooled.WeightBlocks);
                    break;
                }

                case 0 or 1:
                {
                    (int start, int count) = BackwardBody.Half(dw.Rows, GemmTileRows, partition);
                    AddWeightGradientByBlocks(x.ColumnRange(start, count), dy, dw.RowRange(start, count), pooled.WeightBlocks);
                    break;
                }

                case 2:
                    InputGradient(w, dy, dx, false);
                    break;
                default:
                    if (!db.IsEmpty)
                    {
                        RowOps.AddColumnSumsByGroups(dy, db.Row(0), pooled.SumGroups);
                    }

                    break;
            }
        }
    }

    /// <summary>
    /// <see cref="BackwardPooled"/> of a
    /// layer whose input is <c>gelu = GELU(hidden)</c>, then dHidden = dHidden * GELU'(hidden) and
    /// <paramref name="hiddenBiasGradient"/> += 1^T dHidden in the groups of <see cref="PooledRows.SumGroups"/>.
    /// </summary>
    public static void BackwardThroughGeluPooled(MatrixView gelu, MatrixView hidden, MatrixView w, MatrixView dy, MatrixView dHidden, MatrixView dw, MatrixView db, Span<float> hiddenBiasGradient, PooledRows pooled)
    {
        BackwardPooled(gelu, w, dy, dHidden, dw, db, pooled);
        RowOps.GeluBackwardByGroups(hidden, dHidden, dHidden, hiddenBiasGradient, pooled.SumGroups);
    }

    private static void InputGradient(MatrixView w, MatrixView dy, MatrixView dx, bool accumulate) =>
        Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, dy, w, accumulate ? 1f : 0f, dx);

    private static void CheckBackwardShapes(MatrixView x, MatrixView w, MatrixView dy, MatrixView dx, MatrixView dw, MatrixView db)
    {
        int k = x.Rows;
        if (dy.Rows != k)
        {
            Guard.ThrowArgument(nameof(dy), $"has {dy.Rows} rows but x has {k}; they must agree");
        }

        if (dw.Rows != x.Columns || dw.Columns != dy.Columns)
        {
            Guard.ThrowArgument(nameof(dw), $"has shape {dw.Rows}x{dw.Columns} but x^T dy is {x.Columns}x{dy.Columns}");
        }

        if (w.Rows != dw.Rows || w.Columns != dw.Columns)
        {
            Guard.ThrowArgument(nameof(w), $"has shape {w.Rows}x{w.Columns} but dW is {dw.Rows}x{dw.Columns}");
        }

        if (dx.Rows != k || dx.Columns != x.Columns)
        {
            Guard.ThrowArgument(nameof(dx), $"has shape {dx.Rows}x{dx.Columns} but dy W^T is {k}x{x.Columns}");
        }

        if (!db.IsEmpty && (db.Rows != 1 || db.Columns != dy.Columns))
        {
            Guard.ThrowArgument(nameof(db), $"has shape {db.Rows}x{db.Columns} but the bias gradient is 1x{dy.Columns}");
        }
    }

    /// <summary>
    /// The items of a concurrent <see cref="Backward"/>: 0 and 1 the two halves of dW, then one per block of
    /// <see cref="InputGradientBlockRows"/> rows of dx (with, through GELU, that block's GELU backward and its partial
    /// column sums; with <see cref="BiasGradientInInputItems"/>, its rows' partial column sums of dy for db), last (without
    /// it) the bias column sums. Each writes only its own part of dW, dx, the partial sums or db.
    /// </summary>
    private readonly struct BackwardBody : IPartitionBody
    {
        private readonly MatrixView _x;
        private readonly MatrixView _w;
        private readonly MatrixView _dy;
        private readonly MatrixView _dx;
        private readonly bool _accumulateDx;
        private readonly MatrixView _dw;
        private readonly MatrixView _db;
        private readonly MatrixView _hidden;
        private readonly float[]? _partial;
        private readonly float[]? _biasPartial;
        private readonly int _dxBlocks;
        private readonly int _blockRows;

        /// <summary>First row of the small tail items (a multiple of <see cref="RowOps.SumChunkRows"/>).</summary>
        private readonly int _tailStart;

        /// <summary>Number of full-size dx items (over rows [0, <see cref="_tailStart"/>)).</summary>
        private readonly int _bigBlocks;

        /// <summary>Names W to the dx blocks' products: each thread packs W^T once for all the blocks it runs.</summary>
        private readonly long _wKey;

        public BackwardBody(MatrixView x, MatrixView w, MatrixView dy, MatrixView dx, bool accumulateDx, MatrixView dw, MatrixView db, MatrixView hidden, float[]? partial, float[]? biasPartial)
        {
            _x = x;
            _w = w;
            _dy = dy;
            _dx = dx;
            _accumulateDx = accumulateDx;
            _dw = dw;
            _db = db;
            _hidden = hidden;
            _partial = partial;
            _biasPartial = biasPartial;
            _blockRows = InputGradientRows;
            int chunk = RowOps.SumChunkRows;
            int tailRows = InputGradientTailRows;
            _tailStart = tailRows <= 0 ? dy.Rows : dy.Rows > tailRows ? (dy.Rows - tailRows) / chunk * chunk : 0;

            _bigBlocks = (_tailStart + _blockRows - 1) / _blockRows;
            _dxBlocks = _bigBlocks + ((dy.Rows - _tailStart + chunk - 1) / chunk);
            _wKey = GemmSlices.NewOperandKey();
        }

        public int Items => 2 + _dxBlocks + (_biasPartial is null ? 1 : 0);

        public void Execute(int partition)
        {
            if (partition < 2)
            {
                if (_dw.Rows < _dw.Columns)
                {
                    (int start, int count) = Half(_dw.Columns, GemmTileColumns, partition);
                    GemmSlices.AddTransposedProducts(_x, _dy.ColumnRange(start, count), _dw.ColumnRange(start, count), WeightGradientSlice);
                }
                else
                {
                    (int start, int count) = Half(_dw.Rows, GemmTileRows, partition);
                    GemmSlices.AddTransposedProducts(_x.ColumnRange(start, count), _dy, _dw.RowRange(start, count), WeightGradientSlice);
                }

                return;
            }

            int block = partition - 2;
            if (block < _dxBlocks)
            {
                (int start, int count) = block < _bigBlocks
                    ? (block * _blockRows, Math.Min(_blockRows, _tailStart - (block * _blockRows)))
                    : (_tailStart + ((block - _bigBlocks) * RowOps.SumChunkRows), Math.Min(RowOps.SumChunkRows, _dy.Rows - _tailStart - ((block - _bigBlocks) * RowOps.SumChunkRows)));
                GemmSlices.MultiplyTransposedKeyed(_dy.RowRange(start, count), _w, _dx.RowRange(start, count), _accumulateDx, _wKey);
                if (_partial is not null)
                {
                    RowOps.GeluBackwardSumChunks(_hidden, _dx, _dx, start, start + count, _partial);
                }

                if (_biasPartial is not null)
                {
                    RowOps.ColumnSumChunks(_dy, start, start + count, _biasPartial);
                }

                return;
            }

            if (!_db.IsEmpty)
            {
                RowOps.AddColumnSums(_dy, _db.Row(0));
            }
        }

        /// <summary>Half <paramref name="half"/> (0 or 1) of [0, <paramref name="length"/>), split at a multiple of <paramref name="granule"/>.</summary>
        public static (int Start, int Count) Half(int length, int granule, int half)
        {
            int split = Math.Min(length, (length + (2 * granule) - 1) / (2 * granule) * granule);
            return half == 0 ? (0, split) : (split, length - split);
        }
    }

    /// <summary>Register-tile rows of the managed GEMM (splits at multiples of it keep every tile full).</summary>
    private const int GemmTileRows = 8;

    /// <summary>Register-tile columns of the managed GEMM.</summary>
    private const int GemmTileColumns = 32;

    /// <summary>A 1 x n view over a bias (or its gradient) array.</summary>
    public static MatrixView RowView(float[] values) => new(values, 0, 1, values.Length, values.Length);

    private static void CheckOutput(MatrixView x, MatrixView w, MatrixView y)
    {
        if (y.Rows != x.Rows || y.Columns != w.Columns)
        {
            Guard.ThrowArgument(nameof(y), $"has shape {y.Rows}x{y.Columns} but x W is {x.Rows}x{w.Columns}");
        }
    }

    /// <summary>
    /// Tile epilogue: y = tile + b (+ residual), then optionally gelu = GELU(y), and optionally (a
    /// <see cref="LayerNormTarget"/>) the layer norm of the finished rows once their last column tile is written. Writes
    /// only the tile's rows and columns of y (and gelu; the norm's rows of its band), so concurrent row bands never
    /// touch the same memory.
    /// </summary>
    private readonly struct BiasEpilogue : IGemmStripEpilogue
    {
        private readonly MatrixView _y;
        private readonly float[] _bias;
        private readonly MatrixView _residual;
        private readonly MatrixView _gelu;
        private readonly LayerNormTarget _norm;

        public BiasEpilogue(MatrixView y, float[] bias, MatrixView residual, MatrixView gelu, LayerNormTarget norm)
        {
            _y = y;
            _bias = bias;
            _residual = residual;
            _gelu = gelu;
            _norm = norm;
        }

        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
            ReadOnlySpan<float> bias = _bias.AsSpan(columnStart, columns);
            for (int r = 0; r < rows; r++)
            {
                ReadOnlySpan<float> residual = _residual.IsEmpty ? default : _residual.Row(rowStart + r).Slice(columnStart, columns);
                Span<float> gelu = _gelu.IsEmpty ? default : _gelu.Row(rowStart + r).Slice(columnStart, columns);
                RowMath.BiasRow(tile.Slice(r * stride, columns), bias, residual, _y.Row(rowStart + r).Slice(columnStart, columns), gelu);
            }

            // A row band's tiles arrive from one thread in increasing column order: after its last one the rows are final.
            if (_norm.IsSet && columnStart + columns == _y.Columns)
            {
                _norm.Apply(_y, rowStart, rows);
            }
        }

        /// <summary>y's, the residual's and gelu's rows of the tile, and the norm output's whole rows when the tile ends them.</summary>
        public int Targets(int rowStart, int rows, int columnStart, int columns, Span<StripTarget> targets)
        {
            int count = 0;
            Add(_y, rowStart, columnStart, columns, targets, ref count);
            Add(_residual, rowStart, columnStart, columns, targets, ref count);
            Add(_gelu, rowStart, columnStart, columns, targets, ref count);
            if (_norm.IsSet && columnStart + columns == _y.Columns)
            {
                Add(_norm.Output, rowStart, 0, _norm.Output.Columns, targets, ref count);
            }

            return count;
        }

        private static void Add(MatrixView v, int rowStart, int columnStart, int columns, Span<StripTarget> targets, ref int count)
        {
            if (!v.IsEmpty && count < targets.Length)
            {
                targets[count++] = new StripTarget(v.Array, v.Offset + (rowStart * v.Stride) + columnStart, v.Stride, columns);
            }
        }
    }
}

/// <summary>
/// A layer norm applied to the rows of a dense layer's output inside its epilogue: y rows to <see cref="Output"/> rows
/// with <see cref="RowMath.LayerNorm"/>, the row statistics to <see cref="Mean"/> and <see cref="Rstd"/> (the same
/// outputs as <see cref="RowOps.LayerNormForward"/>). The default value means "no norm".
/// </summary>
internal readonly record struct LayerNormTarget(float[] Gamma, float[] Beta, MatrixView Output, float[] Mean, float[] Rstd)
{
    /// <summary>Whether a norm is requested.</summary>
    public bool IsSet => Gamma is not null;

    /// <summary>Checks the target's shapes against the layer output <paramref name="y"/> (nothing when not set).</summary>
    public void Check(MatrixView y)
    {
        if (!IsSet)
        {
            return;
        }

        Output.EnsureShape(y.Rows, y.Columns, nameof(Output));
        if (Gamma.Length != y.Columns || Beta is null || Beta.Length != y.Columns || Mean is null || Mean.Length < y.Rows || Rstd is null || Rstd.Length < y.Rows)
        {
            Guard.ThrowArgument(nameof(Gamma), $"gamma and beta need {y.Columns} entries, mean and rstd at least {y.Rows}");
        }
    }

    /// <summary>
    /// Whether <see cref="Apply"/> normalises the rows two at a time (<see cref="RowMath.LayerNormPair"/>, default) instead
    /// of one by one (a same-run A/B baseline turns it off; same bits).
    /// </summary>
    internal static bool PairedRows { get; set; } = true;

    /// <summary>Normalises rows [rowStart, rowStart + rows) of <paramref name="y"/>.</summary>
    public void Apply(MatrixView y, int rowStart, int rows)
    {
        int r = rowStart;
        if (PairedRows)
        {
            for (; r + 1 < rowStart + rows; r += 2)
            {
                (Mean[r], Rstd[r], Mean[r + 1], Rstd[r + 1]) = RowMath.LayerNormPair(y.Row(r), y.Row(r + 1), Gamma, Beta, Output.Row(r), Output.Row(r + 1));
            }
        }

        for (; r < rowStart + rows; r++)
        {
            (float mean, float rstd) = RowMath.LayerNorm(y.Row(r), Gamma, Beta, Output.Row(r));
            Mean[r] = mean;
            Rstd[r] = rstd;
        }
    }
}
