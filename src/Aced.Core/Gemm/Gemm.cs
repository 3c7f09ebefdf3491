using System;
using System.Buffers;

namespace Aced.Core;

/// <summary>
/// Validated entry points for single-precision matrix products over <see cref="MatrixView"/>s.
/// Every hot path in Aced (losses, selection, towers) goes through here.
/// </summary>
public static class Gemm
{
    /// <summary>Row-band height of the tiles handed to an <see cref="IGemmEpilogue"/> by the generic path.</summary>
    internal const int EpilogueRowBand = 64;

    /// <summary>Column width of the tiles handed to an <see cref="IGemmEpilogue"/> by the generic path.</summary>
    internal const int EpilogueColumnBlock = 256;

    /// <summary><c>C = A * B</c> (C is overwritten; see the full overload for NaN behaviour).</summary>
    /// <exception cref="ArgumentException">The shapes of A, B and C do not agree, or C overlaps A or B.</exception>
    public static void Multiply(MatrixView a, MatrixView b, MatrixView c) =>
        Multiply(Transpose.None, Transpose.None, 1f, a, b, 0f, c);

    /// <summary>
    /// <c>C = alpha * op(A) * op(B) + beta * C</c>. With <paramref name="beta"/> = 0 the previous
    /// contents of C are ignored (NaN in C does not propagate). NaN and infinity in A or B propagate by IEEE
    /// arithmetic, except that with <paramref name="alpha"/> = 0 or an empty inner dimension A and B are not read
    /// and C becomes <c>beta * C</c> (BLAS semantics). C may share an array with A or B as long as no element is
    /// shared (for example side-by-side column blocks of one matrix).
    /// </summary>
    /// <exception cref="ArgumentException">The shapes of op(A), op(B) and C do not agree, or C overlaps A or B.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="alpha"/> or <paramref name="beta"/> is not finite.</exception>
    public static void Multiply(Transpose transA, Transpose transB, float alpha, MatrixView a, MatrixView b, float beta, MatrixView c)
    {
        (int m, int k) = Validate(transA, transB, alpha, a, b, c, out int n);
        Guard.Finite(beta);
        if (m == 0 || n == 0)
        {
            return;
        }

        GemmControl.Provider.Sgemm(transA, transB, m, n, k, alpha, a.Span, a.Stride, b.Span, b.Stride, beta, c.Span, c.Stride);
    }

    /// <summary>
    /// Computes <c>P = alpha * op(A) * op(B)</c> tile by tile and hands every finished tile to
    /// <paramref name="epilogue"/> instead of storing P. See <see cref="IGemmEpilogue"/> for the
    /// tile order and threading contract. Extra memory is one tile per worker. NaN and infinity in A or B propagate
    /// into the tiles; with <paramref name="alpha"/> = 0 or an empty inner dimension the tiles are zero and A and B
    /// are not read. If the epilogue throws, no further tiles are started, the first exception is rethrown to the
    /// caller once every thread has stopped, and later calls are unaffected.
    /// </summary>
    /// <exception cref="ArgumentException">The inner dimensions of op(A) and op(B) do not agree.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="alpha"/> is not finite.</exception>
    public static void MultiplyWithEpilogue<TEpilogue>(Transpose transA, Transpose transB, float alpha, MatrixView a, MatrixView b, TEpilogue epilogue)
        where TEpilogue : IGemmEpilogue
    {
        (int m, int k, int n) = ValidateOperands(transA, transB, alpha, a, b);
        if (m == 0 || n == 0)
        {
            return;
        }

        IGemmProvider provider = GemmControl.Provider;
        if (provider is IGemmEpilogueProvider fused)
        {
            fused.SgemmWithEpilogue(transA, transB, alpha, a, b, epilogue);
            return;
        }

        EpilogueByBlocks(provider, transA, transB, m, n, k, alpha, a, b, epilogue);
    }

    /// <summary>
    /// Runs a group of fused products <c>P_q = alpha_q * op(A_q) * op(B_q)</c> that all have the same number of rows m,
    /// with the tile contract of <see cref="IGemmEpilogue"/> extended across the group: every row sees the tiles of
    /// product 0 (in increasing column order), then those of product 1, and so on, all from one thread, exactly as if
    /// the products were computed by consecutive <see cref="MultiplyWithEpilogue{TEpilogue}"/> calls; so an epilogue that
    /// folds per row gives the same bits either way. With the managed provider and at most 4 products the group runs as
    /// one parallel job (one hand-off to the worker threads instead of one per product, each op(B) packed once and
    /// shared by the threads, each row band's next product prefetched); any other provider gets the consecutive calls,
    /// through its own capabilities.
    /// </summary>
    /// <remarks>
    /// A product may give op(A) as rows of A by index (<see cref="EpilogueProduct{TEpilogue}.Rows"/>, A not transposed):
    /// its row i is row <c>Rows[i]</c> of A and its epilogue sees row i at <c>rowStart + r = i</c> (the caller maps it
    /// back). Where <see cref="ReadsRowsByIndex"/> holds, the AVX-512 direct kernel or the AVX2 strips read those rows where they lie (no copy);
    /// elsewhere the rows are gathered into pooled scratch first. Either way every tile has the bits of the product of
    /// the gathered rows.
    /// </remarks>
    /// <exception cref="ArgumentException">A product's inner dimensions do not agree, the products' row counts differ, or a product with rows by index transposes A.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An alpha is not finite, or a row index is outside A's rows.</exception>
    internal static void MultiplyWithEpilogues<TEpilogue>(ReadOnlySpan<EpilogueProduct<TEpilogue>> products)
        where TEpilogue : IGemmEpilogue
    {
        if (products.IsEmpty)
        {
            return;
        }

        int m = -1;
        bool empty = false;
        bool inPlace = true;
        bool indexed = false;
        for (int q = 0; q < products.Length; q++)
        {
            ref readonly EpilogueProduct<TEpilogue> p = ref products[q];
            (int mq, int kq, int nq) = ValidateOperands(p.TransA, p.TransB, p.Alpha, p.A, p.B);
            if (p.IsIndexed)
            {
                mq = ValidateRows(p.TransA, p.A, p.Rows.Span);
                inPlace &= ReadsRowsByIndex(mq, nq, p.Alpha == 0f ? 0 : kq);
                indexed = true;
            }

            if (m >= 0 && mq != m)
            {
                Guard.ThrowArgument(nameof(products), $"product {q} has {mq} rows but product 0 has {m}; a group needs one row count");
            }

            m = mq;
            empty |= nq == 0;
        }

        if (m == 0)
        {
            return;
        }

        if (indexed && (!inPlace || empty || products.Length > EpilogueGroupJob<TEpilogue>.MaxProducts))
        {
            MultiplyGathered(products);
            return;
        }

        if (GroupEnabled && !empty && products.Length <= EpilogueGroupJob<TEpilogue>.MaxProducts && ReferenceEquals(GemmControl.Provider, ManagedGemmProvider.Instance))
        {
            GemmDriver.EpilogueGroup(products, m);
            return;
        }

        for (int q = 0; q < products.Length; q++)
        {
            ref readonly EpilogueProduct<TEpilogue> p = ref products[q];
            MultiplyWithEpilogue(p.TransA, p.TransB, p.Alpha, p.A, p.B, p.Epilogue);
        }
    }

    /// <summary>
    /// Whether <see cref="MultiplyWithEpilogues{TEpilogue}"/> reads a product's A rows by index where they lie, for a
    /// product of <paramref name="m"/> rows by index, <paramref name="n"/> columns and inner dimension
    /// <paramref name="k"/>: the managed provider's group job on the AVX-512 direct kernel (8-row panels read where the
    /// index puts them, see <see cref="DirectRowsByIndex"/>) or on the AVX2 epilogue strips (the 6-row strips read in
    /// place or packed take their rows from the index). Elsewhere (another provider, the Vector128 or scalar paths, an
    /// AVX2 band's strips beyond the packing budget) the rows are gathered into scratch first: a caller that only wants
    /// to skip rows then does better to compute all of them (see the selection's <c>ConditionalScorer</c>).
    /// </summary>
    internal static bool ReadsRowsByIndex(int m, int n, int k) =>
        GroupEnabled && ReferenceEquals(GemmControl.Provider, ManagedGemmProvider.Instance) && n > 0
            && ((DirectRowsByIndex && GemmDirectA.Applies(Transpose.None, GemmKernels.ActiveIsa))
                || GemmDriver.EpilogueStrips(new GemmPlan(Math.Max(m, 1), n, k, epilogue: true), GemmKernels.ActiveIsa));

    /// <summary>
    /// Whether the AVX-512 direct kernel (<see cref="GemmDirectA"/>) reads a group's rows by index where they lie
    /// (default true; every tile keeps its bits, each element being one FMA chain from +0 whichever panel its row sits
    /// in). Off, <see cref="ReadsRowsByIndex"/> is false on the AVX-512 path, as before: the switch of a same-process A/B
    /// measurement.
    /// </summary>
    internal static bool DirectRowsByIndex { get; set; } = true;

    /// <summary>
    /// <see cref="MultiplyWithEpilogues{TEpilogue}"/> for a group in which a product gives its A rows by index and the
    /// strips do not read them in place: each such product's rows are copied into pooled scratch, then the group runs on
    /// the copies (the same products, so the same tiles).
    /// </summary>
    private static void MultiplyGathered<TEpilogue>(ReadOnlySpan<EpilogueProduct<TEpilogue>> products)
        where TEpilogue : IGemmEpilogue
    {
        EpilogueProduct<TEpilogue>[] gathered = ArrayPool<EpilogueProduct<TEpilogue>>.Shared.Rent(products.Length);
        float[]?[] scratch = ArrayPool<float[]?>.Shared.Rent(products.Length);
        try
        {
            for (int q = 0; q < products.Length; q++)
            {
                ref readonly EpilogueProduct<TEpilogue> p = ref products[q];
                scratch[q] = null;
                gathered[q] = p;
                if (p.IsIndexed)
                {
                    ReadOnlySpan<int> rows = p.Rows.Span;
                    float[] copy = ArrayPool<float>.Shared.Rent(Math.Max(1, rows.Length * p.A.Columns));
                    scratch[q] = copy;
                    var a = new MatrixView(copy, 0, rows.Length, p.A.Columns, p.A.Columns);
                    RowGather.Gather(p.A, rows, a);
                    gathered[q] = new(p.TransA, p.TransB, p.Alpha, a, p.B, p.Epilogue);
                }
            }

            MultiplyWithEpilogues<TEpilogue>(gathered.AsSpan(0, products.Length));
        }
        finally
        {
            for (int q = 0; q < products.Length; q++)
            {
                if (scratch[q] is float[] copy)
                {
                    ArrayPool<float>.Shared.Return(copy);
                }
            }

            gathered.AsSpan(0, products.Length).Clear();
            scratch.AsSpan(0, products.Length).Clear();
            ArrayPool<EpilogueProduct<TEpilogue>>.Shared.Return(gathered);
            ArrayPool<float[]?>.Shared.Return(scratch);
        }
    }

    /// <summary>Checks a product's rows by index (A not transposed, every index a row of A) and returns their count.</summary>
    private static int ValidateRows(Transpose transA, MatrixView a, ReadOnlySpan<int> rows)
    {
        if (transA != Transpose.None)
        {
            Guard.ThrowArgument(nameof(transA), "rows by index need A not transposed");
        }

        for (int i = 0; i < rows.Length; i++)
        {
            if ((uint)rows[i] >= (uint)a.Rows)
            {
                Guard.ThrowOutOfRange("rows", rows[i], $"at position {i} is outside [0, {a.Rows}), the rows of A");
            }
        }

        return rows.Length;
    }

    /// <summary>Set by benchmarks to run <see cref="MultiplyWithEpilogues{TEpilogue}"/> as consecutive calls (an A/B switch; same bits).</summary>
    internal static bool GroupEnabled { get; set; } = true;

    /// <summary>Floats of the scratch block the generic epilogue path computes per provider call (4 MiB).</summary>
    internal const int EpilogueBlockFloats = 1 << 20;

    /// <summary>
    /// Generic epilogue path for a provider without <see cref="IGemmEpilogueProvider"/>: computes blocks of P of up to
    /// <see cref="EpilogueBlockFloats"/> (whole 64-row bands, all n columns when they fit) with one
    /// <see cref="IGemmProvider.Sgemm"/> call each into pooled scratch, then hands the epilogue its 64 x 256 tiles
    /// (each copied to a tile buffer of its own), serially, in the documented order. A GPU or native provider so gets a few large calls per product
    /// (one for m x n &lt;= 2^20) instead of one per tile.
    /// </summary>
    internal static void EpilogueByBlocks<TEpilogue>(IGemmProvider provider, Transpose transA, Transpose transB, int m, int n, int k, float alpha, MatrixView a, MatrixView b, TEpilogue epilogue)
        where TEpilogue : IGemmEpilogue
    {
        int maxColumns = EpilogueBlockFloats / EpilogueRowBand / EpilogueColumnBlock * EpilogueColumnBlock;
        int blockColumns = Math.Min(n, maxColumns);
        int blockRows = Math.Max(EpilogueRowBand, EpilogueBlockFloats / blockColumns / EpilogueRowBand * EpilogueRowBand);
        blockRows = Math.Min(blockRows, (m + EpilogueRowBand - 1) / EpilogueRowBand * EpilogueRowBand);
        float[] block = ArrayPool<float>.Shared.Rent(blockRows * blockColumns);
        float[] tile = ArrayPool<float>.Shared.Rent(EpilogueRowBand * EpilogueColumnBlock);
        try
        {
            for (int i0 = 0; i0 < m; i0 += blockRows)
            {
                int rows = Math.Min(blockRows, m - i0);
                MatrixView aBand = transA == Transpose.None ? a.RowRange(i0, rows) : a.ColumnRange(i0, rows);
                for (int j0 = 0; j0 < n; j0 += blockColumns)
                {
                    int cols = Math.Min(blockColumns, n - j0);
                    MatrixView bBlock = transB == Transpose.None ? b.ColumnRange(j0, cols) : b.RowRange(j0, cols);
                    Span<float> blockSpan = block.AsSpan(0, rows * cols);
                    provider.Sgemm(transA, transB, rows, cols, k, alpha, aBand.Span, aBand.Stride, bBlock.Span, bBlock.Stride, 0f, blockSpan, cols);
                    for (int r0 = 0; r0 < rows; r0 += EpilogueRowBand)
                    {
                        int tileRows = Math.Min(EpilogueRowBand, rows - r0);
                        for (int c0 = 0; c0 < cols; c0 += EpilogueColumnBlock)
                        {
                            int tileColumns = Math.Min(EpilogueColumnBlock, cols - c0);

                            // A tile of its own: the epilogue may overwrite its tile, never its neighbours.
                            Span<float> tileSpan = tile.AsSpan(0, tileRows * tileColumns);
                            for (int r = 0; r < tileRows; r++)
                            {
                                blockSpan.Slice(((r0 + r) * cols) + c0, tileColumns).CopyTo(tileSpan.Slice(r * tileColumns, tileColumns));
                            }

                            epilogue.Apply(i0 + r0, j0 + c0, tileRows, tileColumns, tileSpan, tileColumns);
                        }
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(tile);
            ArrayPool<float>.Shared.Return(block);
        }
    }

    private static (int M, int K) Validate(Transpose transA, Transpose transB, float alpha, MatrixView a, MatrixView b, MatrixView c, out int n)
    {
        (int m, int k, int nn) = ValidateOperands(transA, transB, alpha, a, b);
        n = nn;
        if (c.Rows != m || c.Columns != n)
        {
            Guard.ThrowArgument(nameof(c), $"has shape {c.Rows}x{c.Columns} but op(A)*op(B) is {m}x{n}");
        }

        if (m > 0 && n > 0 && (MatrixView.Overlap(c, a) || MatrixView.Overlap(c, b)))
        {
            Guard.ThrowArgument(nameof(c), "overlaps an input operand; write the product to separate storage");
        }

        return (m, k);
    }

    private static (int M, int K, int N) ValidateOperands(Transpose transA, Transpose transB, float alpha, MatrixView a, MatrixView b)
    {
        Guard.Finite(alpha);
        int m = transA == Transpose.None ? a.Rows : a.Columns;
        int ka = transA == Transpose.None ? a.Columns : a.Rows;
        int kb = transB == Transpose.None ? b.Rows : b.Columns;
        int n = transB == Transpose.None ? b.Columns : b.Rows;
        if (ka != kb)
        {
            Guard.ThrowArgument(nameof(b), $"op(B) has {kb} rows but op(A) has {ka} columns; inner dimensions must agree (check the transpose flags)");
        }

        return (m, ka, n);
    }
}

/// <summary>One product of a <see cref="Gemm.MultiplyWithEpilogues{TEpilogue}"/> group: <c>alpha * op(A) * op(B)</c> and its epilogue.</summary>
internal readonly struct EpilogueProduct<TEpilogue>
    where TEpilogue : IGemmEpilogue
{
    public EpilogueProduct(Transpose transA, Transpose transB, float alpha, MatrixView a, MatrixView b, TEpilogue epilogue)
    {
        TransA = transA;
        TransB = transB;
        Alpha = alpha;
        A = a;
        B = b;
        Epilogue = epilogue;
    }

    /// <summary>
    /// <c>alpha * A[rows] * op(B)</c>: op(A)'s row i is row <c>rows[i]</c> of A (A not transposed; see
    /// <see cref="Gemm.MultiplyWithEpilogues{TEpilogue}"/>).
    /// </summary>
    public EpilogueProduct(ReadOnlyMemory<int> rows, Transpose transB, float alpha, MatrixView a, MatrixView b, TEpilogue epilogue)
        : this(Transpose.None, transB, alpha, a, b, epilogue)
    {
        Rows = rows;
        IsIndexed = true;
    }

    /// <summary>This product with another epilogue (the same operands and rows).</summary>
    public EpilogueProduct<TEpilogue> With(TEpilogue epilogue) =>
        IsIndexed ? new(Rows, TransB, Alpha, A, B, epilogue) : new(TransA, TransB, Alpha, A, B, epilogue);

    /// <summary>Whether op(A) is A's rows by index (<see cref="Rows"/>).</summary>
    public bool IsIndexed { get; }

    /// <summary>The rows of A that make op(A), when <see cref="IsIndexed"/>.</summary>
    public ReadOnlyMemory<int> Rows { get; }

    public Transpose TransA { get; }

    public Transpose TransB { get; }

    public float Alpha { get; }

    public MatrixView A { get; }

    public MatrixView B { get; }

    public TEpilogue Epilogue { get; }
}
