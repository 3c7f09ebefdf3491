using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Aced.Core;

/// <summary>
/// <c>C += A^T B</c> accumulated over fixed k-slices (the weight gradient <c>dW += x^T dy</c> of a dense layer, with
/// k = the batch's rows), as one call that runs the slices' k blocks back to back on the calling thread.
/// </summary>
/// <remarks>
/// <para>
/// Same result, bit for bit, as the sequence of calls <c>Gemm.Multiply(Transposed, None, 1, A[slice], B[slice], 1, C)</c>
/// over the slices in row order with the managed provider: each slice is cut into the k blocks of
/// <see cref="GemmPlan"/> for its length, every block runs the managed kernels on the same packed panels
/// (<see cref="GemmKernels.Run"/>; on AVX2 the plain path's 6-row strip panels and 16-column half-panels with
/// <see cref="GemmKernels.Block256Six"/>, see GemmSlicesAvx2.cs, or with <see cref="SixRowStrips"/> off the older
/// <see cref="GemmKernels.Block256"/> strips over 8 x 32 panels; on AVX-512 with m a multiple of 8 and n of 32, the
/// same FMA chains with A^T read in place, see GemmSlicesInPlace512.cs), and every
/// block is rounded into C as <c>C = 1 * acc + 1 * C</c>. Only the loop around the kernels differs: no per-slice plan,
/// job or workspace hand-off, A and B are packed once per k block for the whole of C, and while one block computes,
/// the rows of the next block are prefetched (A and B are k x m and k x n row-major, read once, typically from
/// memory: the packing of a separate call stalls on them).
/// </para>
/// <para>
/// Serial by design: it is meant for calls that already run inside a parallel item (a concurrent backward's dW
/// half), or with one thread. With another provider than <see cref="ManagedGemmProvider"/> (or
/// <see cref="Enabled"/> off) the slice calls go through <see cref="Gemm.Multiply(Transpose, Transpose, float, MatrixView, MatrixView, float, MatrixView)"/>.
/// </para>
/// </remarks>
internal static unsafe partial class GemmSlices
{
    /// <summary>
    /// Column chunk of C per packed B block (the kc x nc packed B stays in L2 while the row panels stream); a multiple
    /// of <see cref="GemmPlan.NR"/>. Does not change any bit (each element's chain depends on the k blocks only).
    /// </summary>
    internal static int ColumnChunk { get; set; } = 128;

    [ThreadStatic]
    private static Scratch? t_scratch;

    /// <summary>Set by tests and benchmarks to use the separate slice calls instead (same bits).</summary>
    internal static bool Enabled { get; set; } = true;

    /// <summary>Set by benchmarks to switch off the prefetch of the next k block (an A/B switch; no effect on results).</summary>
    internal static bool PrefetchEnabled { get; set; } = true;

    /// <summary>
    /// Widest C (columns) that <see cref="RunManaged"/> and <see cref="RunTransposedManaged"/> compute without packing
    /// on AVX-512. dW: each k block as one <see cref="SmallGemm.MultiplyTN"/> on A and B in place (A^T read in place,
    /// B's rows loaded directly); at 256 x 128 (a 512 x 128 weight's dW half) this measured 1.14-1.17x the packed loop,
    /// at 64 x 128 1.05x, at 128 x 192 equal and at 128 x 256 0.88x (Zen 4). dx: see <see cref="RunTransposedDirect"/>. Wider C
    /// stays packed; 0 switches it off (an A/B switch; same bits). Applies only with <see cref="PackedNarrow512"/> off
    /// (on by default since Zen 5 measured the packed forms faster).
    /// </summary>
    internal static int DirectMaxColumns { get; set; } = 128;

    /// <summary>
    /// Whether the AVX-512 dW and dx products run packed at every width, <see cref="DirectMaxColumns"/> notwithstanding
    /// (default on; off: the unpacked forms <see cref="RunDirect"/> and <see cref="RunTransposedDirect"/> up to that width,
    /// the fourth session's choice on Zen 4). On Zen 5 (twice Zen 4's 512-bit FMA rate, a 48 KiB L1) the packed loops
    /// measured faster at the step's 128-column shapes (fifteenth session, one thread, same-process A/B: dW 64 x 128
    /// and 256 x 128 halves 1.13-1.16x, dx blocks n = 128 at k = 128 1.26x, at k = 512 1.05x, at k = 384 1.00x;
    /// presumably because the unpacked forms read B's rows at strides of n floats, so a k block's 32-column panel falls
    /// into a quarter of the L1 sets; not measured). An A/B switch; same bits.
    /// </summary>
    internal static bool PackedNarrow512 { get; set; } = true;

    /// <summary>Whether an AVX-512 product <paramref name="n"/> columns wide runs an unpacked form.</summary>
    private static bool Direct512(int n) =>
        !PackedNarrow512 && n <= DirectMaxColumns && GemmKernels.ActiveIsa == GemmIsa.Vector512 && System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated;

    /// <summary>
    /// <c>C += A^T B</c> over the k-slices <c>[s, s + sliceRows)</c> of the rows of A (k x m) and B (k x n), in row order;
    /// C is m x n. Runs on the calling thread (see the type's remarks).
    /// </summary>
    /// <exception cref="ArgumentException">The shapes do not agree, or C overlaps A or B.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="sliceRows"/> is not positive.</exception>
    public static void AddTransposedProducts(MatrixView a, MatrixView b, MatrixView c, int sliceRows)
    {
        if (sliceRows <= 0)
        {
            Guard.ThrowOutOfRange(nameof(sliceRows), sliceRows, "must be positive");
        }

        int k = a.Rows;
        int m = a.Columns;
        int n = b.Columns;
        if (b.Rows != k)
        {
            Guard.ThrowArgument(nameof(b), $"has {b.Rows} rows but a has {k}; they must agree");
        }

        if (c.Rows != m || c.Columns != n)
        {
            Guard.ThrowArgument(nameof(c), $"has shape {c.Rows}x{c.Columns} but a^T b is {m}x{n}");
        }

        if (m == 0 || n == 0 || k == 0)
        {
            return;
        }

        if (MatrixView.Overlap(c, a) || MatrixView.Overlap(c, b))
        {
            Guard.ThrowArgument(nameof(c), "overlaps an input operand; write the product to separate storage");
        }

        IGemmProvider provider = GemmControl.Provider;
        if (Enabled && provider is IGemmSlicesProvider hooked)
        {
            hooked.AddTransposedProducts(a, b, c, sliceRows);
            return;
        }

        if (!Enabled || !ReferenceEquals(provider, ManagedGemmProvider.Instance))
        {
            for (int k0 = 0; k0 < k; k0 += sliceRows)
            {
                int rows = Math.Min(sliceRows, k - k0);
                Gemm.Multiply(Transpose.Transposed, Transpose.None, 1f, a.RowRange(k0, rows), b.RowRange(k0, rows), 1f, c);
            }

            return;
        }

        RunManaged(a, b, c, sliceRows);
    }

    /// <summary>
    /// The managed serial path of <see cref="AddTransposedProducts"/> for operands it has validated (also what a
    /// wrapping <see cref="IGemmSlicesProvider"/> over the managed provider calls).
    /// </summary>
    internal static void RunManaged(MatrixView a, MatrixView b, MatrixView c, int sliceRows)
    {
        if (c.Rows == 0 || c.Columns == 0 || a.Rows == 0)
        {
            return;
        }

        int m = a.Columns;
        int n = b.Columns;
        int k = a.Rows;
        if (Direct512(n))
        {
            RunDirect(a, b, c, sliceRows);
            return;
        }

        Scratch scratch = t_scratch ??= new Scratch();
        fixed (float* pa = a.Span)
        fixed (float* pb = b.Span)
        fixed (float* pc = c.Span)
        {
            if (InPlaceA512 && m % GemmPlan.MR == 0 && n % GemmPlan.NR == 0 && GemmKernels.ActiveIsa == GemmIsa.Vector512 && System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
            {
                RunInPlaceA512(pa, a.Stride, pb, b.Stride, pc, c.Stride, m, n, k, sliceRows, scratch);
                return;
            }

            if (SixApplies(GemmKernels.ActiveIsa))
            {
                if (PipelinedPacking)
                {
                    RunPiped(pa, a.Stride, pb, b.Stride, pc, c.Stride, m, n, k, sliceRows, scratch);
                    return;
                }

                RunSix(pa, a.Stride, pb, b.Stride, pc, c.Stride, m, n, k, sliceRows, scratch);
                return;
            }

            Run(pa, a.Stride, pb, b.Stride, pc, c.Stride, m, n, k, sliceRows, scratch);
        }
    }

    /// <summary>
    /// The unpacked form of <see cref="Run"/>: the same k blocks (<see cref="BlockCursor"/>), each as
    /// <see cref="SmallGemm.MultiplyTN"/> with C += 1 * acc, whose every element is the same fused multiply-add chain
    /// over the block followed by the same rounding into C as the packed kernels (<c>fma(acc, 1, 1 * c)</c>): the
    /// bits are those of the packed path.
    /// </summary>
    private static void RunDirect(MatrixView a, MatrixView b, MatrixView c, int sliceRows)
    {
        int m = a.Columns;
        int n = b.Columns;
        ReadOnlySpan<float> aAll = a.Array.AsSpan(a.Offset);
        ReadOnlySpan<float> bAll = b.Array.AsSpan(b.Offset);
        Span<float> cAll = c.Array.AsSpan(c.Offset);
        var blocks = new BlockCursor(a.Rows, sliceRows);
        while (blocks.Next(out int p0, out int kcb))
        {
            SmallGemm.MultiplyTN(m, n, kcb, 1f, aAll.Slice(p0 * a.Stride), a.Stride, bAll.Slice(p0 * b.Stride), b.Stride, true, cAll, c.Stride);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Run(float* a, nint lda, float* b, nint ldb, float* c, nint ldc, int m, int n, int k, int sliceRows, Scratch scratch)
    {
        GemmIsa isa = GemmKernels.ActiveIsa;
        bool strips = isa == GemmIsa.Vector256 && GemmKernels.StripsEnabled;
        int mPad = GemmPlan.RoundUp(m, GemmPlan.MR);
        int chunk = Math.Min(GemmPlan.RoundUp(n, GemmPlan.NR), ColumnChunk);
        float* aBlock = scratch.A(mPad * GemmPlan.KcMax);
        float* bBlock = scratch.B(chunk * GemmPlan.KcMax);
        float* edge = scratch.Edge;
        bool prefetch = PrefetchEnabled && Sse.IsSupported;

        var blocks = new BlockCursor(k, sliceRows);
        while (blocks.Next(out int p0, out int kcb))
        {
            // The next block's rows are prefetched while this one computes (spread over its row panels).
            blocks.Peek(out int nextP0, out int nextKc);
            var ahead = new Prefetcher(prefetch ? nextKc : 0, a + ((nint)nextP0 * lda), lda, m, b + ((nint)nextP0 * ldb), ldb, n);

            for (int ir = 0; ir < m; ir += GemmPlan.MR)
            {
                GemmPacking.PackA(Transpose.Transposed, a, lda, ir, Math.Min(GemmPlan.MR, m - ir), p0, kcb, aBlock + ((nint)ir * kcb));
            }

            int chunks = GemmPlan.CeilDiv(n, chunk);
            int steps = chunks * (strips ? GemmPlan.CeilDiv(m, StripRows) : GemmPlan.CeilDiv(m, GemmPlan.MR));
            int step = 0;
            for (int j0 = 0; j0 < n; j0 += chunk)
            {
                int ncb = Math.Min(chunk, n - j0);
                PackB(b, ldb, p0, kcb, j0, ncb, bBlock);
                float* cChunk = c + j0;
                if (strips)
                {
                    for (int i0 = 0; i0 < m; i0 += StripRows)
                    {
                        int rows = Math.Min(StripRows, m - i0);
                        GemmKernels.Block256(aBlock + ((nint)i0 * kcb), rows, bBlock, kcb, ncb, cChunk + ((nint)i0 * ldc), ldc, 1f, 1f, edge);
                        ahead.Advance(++step, steps);
                    }

                    continue;
                }

                for (int ir = 0; ir < m; ir += GemmPlan.MR)
                {
                    int rows = Math.Min(GemmPlan.MR, m - ir);
                    float* aPanel = aBlock + ((nint)ir * kcb);
                    float* cRow = cChunk + ((nint)ir * ldc);
                    for (int jr = 0; jr < ncb; jr += GemmPlan.NR)
                    {
                        int cols = Math.Min(GemmPlan.NR, ncb - jr);
                        float* bPanel = bBlock + ((nint)jr * kcb);
                        if (rows == GemmPlan.MR && cols == GemmPlan.NR)
                        {
                            GemmKernels.Run(isa, aPanel, bPanel, kcb, cRow + jr, ldc, 1f, 1f);
                        }
                        else
                        {
                            GemmKernels.Run(isa, aPanel, bPanel, kcb, edge, GemmPlan.NR, 1f, 0f);
                            GemmKernels.MergeEdge(edge, rows, cols, cRow + jr, ldc, 1f, 1f);
                        }
                    }

                    ahead.Advance(++step, steps);
                }
            }
        }
    }

    /// <summary>Most columns of op(B) packed at once by <see cref="MultiplyTransposed"/>.</summary>
    private const int TransposedColumnChunk = 512;

    /// <summary>
    /// <c>C = A B^T</c> (<c>C += A B^T</c> when <paramref name="accumulate"/>) on the calling thread, A m x k, B n x k
    /// (an input gradient <c>dx = dy W^T</c> block of a concurrent backward). Bit-identical to
    /// <c>Gemm.Multiply(None, Transposed, 1, A, B, accumulate ? 1 : 0, C)</c> with the managed provider: the same k blocks
    /// (<see cref="GemmPlan"/>), kernels and store rule; the loop packs op(B) once per k block and each 8-row A
    /// micro-panel once, and prefetches the next micro-panel's rows of A while the current one computes (A streams
    /// from memory once). On AVX2 the six-row form of GemmSlicesAvx2.cs runs instead (<see cref="RunTransposedSix"/>;
    /// <see cref="RunTransposedDirect256"/> when <see cref="DirectMaxColumns256"/> is set). With another provider, <see cref="Enabled"/>
    /// off, or neither AVX-512 nor the AVX2 forms (<see cref="SixRowStrips"/>) it is that call.
    /// </summary>
    /// <exception cref="ArgumentException">The shapes do not agree, or C overlaps A or B.</exception>
    public static void MultiplyTransposed(MatrixView a, MatrixView b, MatrixView c, bool accumulate)
    {
        IGemmProvider provider = GemmControl.Provider;
        if (Enabled && provider is IGemmSlicesProvider hooked)
        {
            hooked.MultiplyTransposed(a, b, c, accumulate);
            return;
        }

        if (!Enabled || !ReferenceEquals(provider, ManagedGemmProvider.Instance) || (GemmKernels.ActiveIsa != GemmIsa.Vector512 && !SixApplies(GemmKernels.ActiveIsa)))
        {
            Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, a, b, accumulate ? 1f : 0f, c);
            return;
        }

        RunTransposedManaged(a, b, c, accumulate);
    }

    /// <summary>The managed serial path of <see cref="MultiplyTransposed"/> (validates; also what a wrapping <see cref="IGemmSlicesProvider"/> calls).</summary>
    internal static void RunTransposedManaged(MatrixView a, MatrixView b, MatrixView c, bool accumulate)
    {
        int m = a.Rows;
        int k = a.Columns;
        int n = b.Rows;
        if (b.Columns != k)
        {
            Guard.ThrowArgument(nameof(b), $"has {b.Columns} columns but a has {k}; they must agree");
        }

        if (c.Rows != m || c.Columns != n)
        {
            Guard.ThrowArgument(nameof(c), $"has shape {c.Rows}x{c.Columns} but a b^T is {m}x{n}");
        }

        if (m == 0 || n == 0)
        {
            return;
        }

        if (MatrixView.Overlap(c, a) || MatrixView.Overlap(c, b))
        {
            Guard.ThrowArgument(nameof(c), "overlaps an input operand; write the product to separate storage");
        }

        if (k > 0 && SixApplies(GemmKernels.ActiveIsa))
        {
            fixed (float* pa = a.Span)
            fixed (float* pb = b.Span)
            fixed (float* pc = c.Span)
            {
                if (n <= DirectMaxColumns256 && (long)GemmPlan.RoundUp(n, GemmPlan.NR) * k <= TransposedPackedFloats)
                {
                    RunTransposedDirect256(pa, a.Stride, pb, b.Stride, pc, c.Stride, m, n, k, accumulate, t_scratch ??= new Scratch());
                }
                else
                {
                    RunTransposedSix(pa, a.Stride, pb, b.Stride, pc, c.Stride, m, n, k, accumulate, t_scratch ??= new Scratch());
                }
            }

            return;
        }

        if (k == 0 || GemmKernels.ActiveIsa != GemmIsa.Vector512)
        {
            // The managed provider itself, not GemmControl.Provider: a wrapping IGemmSlicesProvider (the benchmarks'
            // timing wrapper) calls this and must not see the product a second time as an Sgemm call.
            ManagedGemmProvider.Instance.Sgemm(Transpose.None, Transpose.Transposed, m, n, k, 1f, a.Span, a.Stride, b.Span, b.Stride, accumulate ? 1f : 0f, c.Span, c.Stride);
            return;
        }

        Scratch scratch = t_scratch ??= new Scratch();
        if (Direct512(n))
        {
            RunTransposedDirect(a, b, c, accumulate, scratch);
            return;
        }

        fixed (float* pa = a.Span)
        fixed (float* pb = b.Span)
        fixed (float* pc = c.Span)
        {
            RunTransposed(pa, a.Stride, pb, b.Stride, pc, c.Stride, m, n, k, accumulate, scratch);
        }
    }

    /// <summary>
    /// The unpacked form of <see cref="RunTransposed"/> for C at most <see cref="DirectMaxColumns"/> wide: B^T copied
    /// once (k x n, <see cref="SmallGemm.TransposeInto"/>), then each k block of the same <see cref="GemmPlan"/> as one
    /// <see cref="SmallGemm.MultiplyNN"/> with A's rows read in place, the first block overwriting C unless
    /// <paramref name="accumulate"/> (beta 0: <c>1 * acc</c>), the others adding into it (<c>fma(acc, 1, 1 * c)</c>): the
    /// bits of the packed path. At the step's n = 128 blocks (k = 128, 384, 512) it measured 1.08-1.12x the packed loop
    /// in a single-thread probe; at n = 512 0.97x, so wider C stays packed.
    /// </summary>
    private static void RunTransposedDirect(MatrixView a, MatrixView b, MatrixView c, bool accumulate, Scratch scratch)
    {
        int m = a.Rows;
        int k = a.Columns;
        int n = b.Rows;
        var plan = new GemmPlan(m, n, k, false);
        var bt = new Span<float>(scratch.B(k * n), k * n);
        SmallGemm.TransposeInto(n, k, b.Array.AsSpan(b.Offset), b.Stride, bt);
        ReadOnlySpan<float> aAll = a.Array.AsSpan(a.Offset);
        Span<float> cAll = c.Array.AsSpan(c.Offset);
        for (int kb = 0; kb < plan.KBlocks; kb++)
        {
            int p0 = kb * plan.Kc;
            int kcb = Math.Min(plan.Kc, k - p0);
            SmallGemm.MultiplyNN(m, n, kcb, 1f, aAll.Slice(p0), a.Stride, bt.Slice(p0 * n), n, kb > 0 || accumulate, cAll, c.Stride);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunTransposed(float* a, nint lda, float* b, nint ldb, float* c, nint ldc, int m, int n, int k, bool accumulate, Scratch scratch)
    {
        var plan = new GemmPlan(m, n, k, false);

        // op(B) is packed once for all of k per column chunk (k block kb at p0 * ncPad, as a packed-B slot); the chunk
        // keeps it within TransposedPackedFloats.
        int chunk = Math.Min(GemmPlan.RoundUp(n, GemmPlan.NR), TransposedColumnChunk);
        chunk = Math.Max(GemmPlan.NR, Math.Min(chunk, TransposedPackedFloats / k / GemmPlan.NR * GemmPlan.NR));
        float* aPanel = scratch.A(GemmPlan.MR * GemmPlan.KcMax);
        float* bAll = scratch.B(chunk * k);
        float* edge = scratch.Edge;
        bool prefetch = PrefetchEnabled && Sse.IsSupported;
        for (int j0 = 0; j0 < n; j0 += chunk)
        {
            int ncb = Math.Min(chunk, n - j0);
            int ncPad = GemmPlan.RoundUp(ncb, GemmPlan.NR);
            int panels = ncPad / GemmPlan.NR;
            for (int kb = 0; kb < plan.KBlocks; kb++)
            {
                int p0 = kb * plan.Kc;
                int kcb = Math.Min(plan.Kc, k - p0);
                for (int jr = 0; jr < ncPad; jr += GemmPlan.NR)
                {
                    GemmPacking.PackB(Transpose.Transposed, b, ldb, p0, kcb, j0 + jr, Math.Min(GemmPlan.NR, ncb - jr), bAll + ((nint)p0 * ncPad) + ((nint)jr * kcb));
                }
            }

            // Row groups keep their C rows in cache across the k blocks; inside, each 8-row micro-panel of A is packed
            // once per k block, and the next micro-panel (in this loop order) is prefetched while it computes.
            for (int i0 = 0; i0 < m; i0 += TransposedRowGroup)
            {
                int groupEnd = Math.Min(m, i0 + TransposedRowGroup);
                for (int kb = 0; kb < plan.KBlocks; kb++)
                {
                    int p0 = kb * plan.Kc;
                    int kcb = Math.Min(plan.Kc, k - p0);
                    float beta = kb == 0 && !accumulate ? 0f : 1f;
                    float* bBlock = bAll + ((nint)p0 * ncPad);
                    for (int ir = i0; ir < groupEnd; ir += GemmPlan.MR)
                    {
                        int rows = Math.Min(GemmPlan.MR, groupEnd - ir);
                        GemmPacking.PackA(Transpose.None, a, lda, ir, rows, p0, kcb, aPanel);

                        // The next micro-panel: the next rows of this k block, else this group's rows in the next
                        // k block, else the next group's first rows in k block 0.
                        int nextIr = ir + GemmPlan.MR;
                        int nextP0 = p0;
                        int nextKc = kcb;
                        int nextRows = Math.Min(GemmPlan.MR, groupEnd - nextIr);
                        if (nextRows <= 0)
                        {
                            if (kb + 1 < plan.KBlocks)
                            {
                                nextIr = i0;
                                nextP0 = p0 + kcb;
                                nextKc = Math.Min(plan.Kc, k - nextP0);
                                nextRows = Math.Min(GemmPlan.MR, groupEnd - i0);
                            }
                            else
                            {
                                nextIr = groupEnd;
                                nextP0 = 0;
                                nextKc = Math.Min(plan.Kc, k);
                                nextRows = Math.Min(GemmPlan.MR, m - groupEnd);
                            }
                        }

                        if (!prefetch)
                        {
                            nextRows = 0;
                        }

                        byte* next = (byte*)(a + ((nint)nextIr * lda) + nextP0);
                        int issued = 0;
                        float* cRow = c + ((nint)ir * ldc) + j0;
                        for (int jr = 0, q = 0; jr < ncb; jr += GemmPlan.NR, q++)
                        {
                            int cols = Math.Min(GemmPlan.NR, ncb - jr);
                            float* bPanel = bBlock + ((nint)jr * kcb);
                            if (rows == GemmPlan.MR && cols == GemmPlan.NR)
                            {
                                GemmKernels.Run(GemmIsa.Vector512, aPanel, bPanel, kcb, cRow + jr, ldc, 1f, beta);
                            }
                            else
                            {
                                GemmKernels.Run(GemmIsa.Vector512, aPanel, bPanel, kcb, edge, GemmPlan.NR, 1f, 0f);
                                GemmKernels.MergeEdge(edge, rows, cols, cRow + jr, ldc, 1f, beta);
                            }

                            int target = (int)((long)nextRows * (q + 1) / panels);
                            for (; issued < target; issued++)
                            {
                                PrefetchLines(next + (issued * lda * sizeof(float)), nextKc * sizeof(float));
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>Rows of C per group of <see cref="MultiplyTransposed"/> (their C rows stay in cache across the k blocks).</summary>
    private const int TransposedRowGroup = 128;

    /// <summary>Most floats of packed op(B) per column chunk of <see cref="MultiplyTransposed"/> (768 KiB, the scratch's smallest size).</summary>
    private const int TransposedPackedFloats = 512 * GemmPlan.KcMax;

    private static void PrefetchLines(byte* start, int bytes)
    {
        for (int offset = 0; offset < bytes; offset += 64)
        {
            Sse.Prefetch0(start + offset);
        }

        Sse.Prefetch0(start + bytes - 1);
    }

    /// <summary>Rows per <see cref="GemmKernels.Block256"/> call on AVX2 (a multiple of its 6-row strips and of the 8-row panels).</summary>
    private const int StripRows = 48;

    /// <summary>Packs op(B) = B[p0 .. +kc, j0 .. +ncb] as 32-column micro-panels at <c>dst + jr * kc</c>, as the plain path does.</summary>
    private static void PackB(float* b, nint ldb, int p0, int kc, int j0, int ncb, float* dst)
    {
        int full = ncb / GemmPlan.NR * GemmPlan.NR;
        if (full > 0)
        {
            GemmPacking.PackBRows(b, ldb, p0, kc, j0, full, dst);
        }

        if (full < ncb)
        {
            GemmPacking.PackB(Transpose.None, b, ldb, p0, kc, j0 + full, ncb - full, dst + ((nint)full * kc));
        }
    }

    /// <summary>
    /// The k blocks of the slices in order: slice s = rows [s L, min(k, (s + 1) L)), cut as <see cref="GemmPlan"/> cuts a
    /// call with that k (ceil(len / 384) blocks of ceil(len / blocks) rows, the last one shorter).
    /// </summary>
    private struct BlockCursor
    {
        private readonly int _k;
        private readonly int _slice;
        private int _p0;

        public BlockCursor(int k, int slice)
        {
            _k = k;
            _slice = slice;
            _p0 = 0;
        }

        public bool Next(out int p0, out int kc)
        {
            Peek(out p0, out kc);
            _p0 += kc;
            return kc > 0;
        }

        public readonly void Peek(out int p0, out int kc)
        {
            p0 = _p0;
            if (_p0 >= _k)
            {
                kc = 0;
                return;
            }

            int sliceStart = _p0 / _slice * _slice;
            int length = Math.Min(_slice, _k - sliceStart);
            var plan = new GemmPlan(1, 1, length, false);
            kc = Math.Min(plan.Kc, sliceStart + length - _p0);
        }
    }

    /// <summary>
    /// Issues prefetches for the rows of the next k block (A's m and B's n columns of each) in proportion to the
    /// progress of the current block, so they arrive while the kernels run. A hint only: no effect on the results.
    /// </summary>
    private struct Prefetcher
    {
        private readonly int _rows;
        private readonly byte* _a;
        private readonly nint _lda;
        private readonly int _aBytes;
        private readonly byte* _b;
        private readonly nint _ldb;
        private readonly int _bBytes;
        private int _done;

        public Prefetcher(int rows, float* a, nint lda, int m, float* b, nint ldb, int n)
        {
            _rows = rows;
            _a = (byte*)a;
            _lda = lda * sizeof(float);
            _aBytes = m * sizeof(float);
            _b = (byte*)b;
            _ldb = ldb * sizeof(float);
            _bBytes = n * sizeof(float);
            _done = 0;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Advance(int step, int steps)
        {
            if (_rows == 0)
            {
                return;
            }

            int target = (int)((long)_rows * step / steps);
            for (; _done < target; _done++)
            {
                Lines(_a + (_done * _lda), _aBytes);
                Lines(_b + (_done * _ldb), _bBytes);
            }
        }

        private static void Lines(byte* start, int bytes)
        {
            for (int offset = 0; offset < bytes; offset += 64)
            {
                Sse.Prefetch1(start + offset);
            }

            Sse.Prefetch1(start + bytes - 1);
        }
    }

    /// <summary>Per-thread packing buffers (pinned, at least 768 KiB each, grown on demand, never shrunk: no allocation in steady state).</summary>
    private sealed class Scratch
    {
        private float[] _a = [];
        private float[] _b = [];
        private readonly float[] _edge = GC.AllocateUninitializedArray<float>(GemmPlan.MR * GemmPlan.NR, pinned: true);

        public float* Edge => (float*)Unsafe.AsPointer(ref _edge[0]);

        public float* A(int floats) => Ensure(ref _a, Math.Max(floats, MinFloats));

        public float* B(int floats) => Ensure(ref _b, Math.Max(floats, MinFloats));

        /// <summary>Smallest buffer (512 x 384 floats, 768 KiB): widths up to 512 never grow a buffer after its first use.</summary>
        private const int MinFloats = 512 * GemmPlan.KcMax;

        private static float* Ensure(ref float[] buffer, int floats)
        {
            if (buffer.Length < floats + 16)
            {
                buffer = GC.AllocateUninitializedArray<float>(floats + 16, pinned: true);
            }

            // 64-byte aligned start (the array is pinned, so the address is stable).
            nint address = (nint)Unsafe.AsPointer(ref buffer[0]);
            nint aligned = (address + 63) & ~(nint)63;
            return (float*)aligned;
        }
    }
}

/// <summary>
/// A provider that takes <see cref="GemmSlices.AddTransposedProducts"/> calls itself (the benchmarks' timing wrapper
/// around the managed provider, so that a profile sees this path); it receives validated operands.
/// </summary>
internal interface IGemmSlicesProvider
{
    /// <summary><c>C += A^T B</c> over k-slices of <paramref name="sliceRows"/> rows, as <see cref="GemmSlices.AddTransposedProducts"/>.</summary>
    void AddTransposedProducts(MatrixView a, MatrixView b, MatrixView c, int sliceRows);

    /// <summary><c>C (+)= A B^T</c> on the calling thread, as <see cref="GemmSlices.MultiplyTransposed"/>.</summary>
    void MultiplyTransposed(MatrixView a, MatrixView b, MatrixView c, bool accumulate);
}
