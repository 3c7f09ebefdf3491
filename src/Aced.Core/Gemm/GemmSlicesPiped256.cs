using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Aced.Core;

/// <summary>
/// The software-pipelined AVX2 dW form of <see cref="GemmSlices"/> (the default on AVX2): the packing of the next unit
/// of work runs in small pieces between the kernel calls of the current one, and each piece's source rows (x's and dy's,
/// from memory) are prefetched one line at a time spread over the k steps of the kernel call before. Packed a whole k
/// block at a time before computing it (<see cref="RunSix"/>), the packing stalled on x and dy and cost 15-20 % of a
/// dW product on Zen 3; prefetched in a burst, the misses filled the L1 miss buffers the kernel's own A stream needs.
/// </summary>
internal static unsafe partial class GemmSlices
{
    /// <summary>
    /// Whether the AVX2 dW slices run <see cref="RunPiped"/> (off: <see cref="RunSix"/>, which packs each k block before
    /// computing it; an A/B switch for the benchmarks and probes, same bits).
    /// </summary>
    internal static bool PipelinedPacking { get; set; } = true;

    /// <summary>
    /// How many kernel calls ahead <see cref="RunPiped"/> prefetches the source rows of a packing piece (a hint only; 1: the
    /// lines of the piece packed after call i + 1 are spread over call i's k steps).
    /// </summary>
    internal static int PiecePrefetchCalls { get; set; } = 1;

    /// <summary>
    /// Columns of C per unit of <see cref="RunPiped"/> (one packed panel of B as 16-column half-panels; a multiple of 32,
    /// at most 128). Does not change any bit. 64 measured 1.00-1.08x 32 (fewer boundary lines: a dy row segment that is
    /// not 64-byte aligned spans one line more than it fills) and 128 worse at n = 192.
    /// </summary>
    internal static int UnitColumns { get; set; } = 2 * GemmPlan.NR;

    /// <summary>
    /// Whether <see cref="RunPiped"/> pads its packed A^T strips and B half-panels by one cache line each (an A/B switch;
    /// no effect on results). Unpadded, a k block's strips lie <c>6 kc</c> floats apart (6 KiB at kc = 256: the set index
    /// of strip s's lines alternates between two values) and its half-panels <c>16 kc</c> (16 KiB: one set), so the
    /// packing's stores of one k step, one into each strip or half-panel, all compete for one or two of the 64 L1 sets.
    /// </summary>
    internal static bool PaddedPanels { get; set; } = true;

    /// <summary>
    /// Whether <see cref="RunPiped"/> computes a last strip of at most 4 rows with the 4-row kernel
    /// (<see cref="GemmKernels.Kernel256FourPanel{TPrefetch}"/>) instead of the 6-row one over its zero rows (an A/B
    /// switch, bwd11; same FMA chain and store rule per element, so the same bits). The step's dW halves have m = 128
    /// (21 strips and 2 rows), 64 and 256 (4 rows left).
    /// </summary>
    internal static bool FourRowTail { get; set; } = true;

    /// <summary>Floats of padding after each packed strip and half-panel of <see cref="RunPiped"/> (one cache line, or none).</summary>
    private static int PanelPad => PaddedPanels ? 16 : 0;

    /// <summary>
    /// The dW loop on AVX2 as a pipeline over units (k block, <see cref="UnitColumns"/>-column panel of C), block-major. Unit u runs, per group
    /// of <see cref="SliceRowGroup"/> rows, half-panel and 6-row strip, one <see cref="GemmKernels.Kernel256SixPanel{TPrefetch}"/>
    /// call (C = 1 * acc + 1 * C; partial strips and half-panels through the edge tile, as <see cref="GemmKernels.Block256Six"/>)
    /// on the packed A^T of its k block and its packed B panel; after call i it packs piece i of the next unit's B panel
    /// and of a 1 / panels share of the next block's A^T (two buffers of each), whose source lines call i - 1 prefetched.
    /// The k blocks (<see cref="BlockCursor"/>), kernel, packed layouts and store rule are those of <see cref="RunSix"/>,
    /// so the bits are too; only when the packing runs moves.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunPiped(float* a, nint lda, float* b, nint ldb, float* c, nint ldc, int m, int n, int k, int sliceRows, Scratch scratch)
    {
        const int Half = GemmPlan.NR / 2;
        int group = Math.Max(6, SliceRowGroup / 6 * 6);
        int unit = Math.Clamp(UnitColumns / GemmPlan.NR * GemmPlan.NR, GemmPlan.NR, 4 * GemmPlan.NR);
        int panels = GemmPlan.CeilDiv(n, unit);
        int pad = PanelPad;
        nint aSize = (nint)GemmPlan.CeilDiv(m, 6) * ((6 * GemmPlan.KcMax) + pad);
        nint bSize = (nint)(unit / Half) * ((Half * GemmPlan.KcMax) + pad);
        float* aBuffers = scratch.A((int)(2 * aSize));
        float* bBuffers = scratch.B((int)(2 * bSize));
        float* edge = scratch.Edge;
        bool prefetch = PrefetchEnabled && Sse.IsSupported;
        int distance = prefetch ? Math.Max(1, PiecePrefetchCalls) : 0;
        bool fourRowTail = FourRowTail;

        // Kernel calls per unit: per row group, each half-panel over the group's strips.
        int callsPerHalf = 0;
        for (int i0 = 0; i0 < m; i0 += group)
        {
            callsPerHalf += GemmPlan.CeilDiv(Math.Min(group, m - i0), 6);
        }

        var blocks = new BlockCursor(k, sliceRows);
        blocks.Next(out int p0, out int kc);
        float* aCur = aBuffers;
        float* bCur = bBuffers;
        GemmPacking.PackA6Transposed(a + ((nint)p0 * lda), lda, m, kc, 0, kc, aCur, (6 * kc) + pad);
        PackBPanel(b + ((nint)p0 * ldb), ldb, unit, Math.Min(unit, n), (Half * kc) + pad, 0, kc, bCur);
        while (kc > 0)
        {
            blocks.Peek(out int nextP0, out int nextKc);
            float* aNext = aCur == aBuffers ? aBuffers + aSize : aBuffers;
            for (int jp = 0; jp < panels; jp++)
            {
                int j0 = jp * unit;
                int ncb = Math.Min(unit, n - j0);
                bool lastPanel = jp + 1 == panels;
                float* bNext = bCur == bBuffers ? bBuffers + bSize : bBuffers;

                // This unit packs the next unit's B panel (the next panel of this block, or the first of the next block)
                // and rows [aRow0, aRow1) of the next block's A^T.
                int uP0 = lastPanel ? nextP0 : p0;
                int uKc = lastPanel ? nextKc : kc;
                int uJ0 = lastPanel ? 0 : j0 + unit;
                var pieces = new PackPieces(
                    a + ((nint)nextP0 * lda), lda, m, nextKc, (6 * nextKc) + pad, nextKc * jp / panels, nextKc * (jp + 1) / panels, aNext,
                    b + ((nint)uP0 * ldb) + uJ0, ldb, unit, Math.Min(unit, n - uJ0), uKc, (Half * uKc) + pad, bNext,
                    ((ncb + Half - 1) / Half) * callsPerHalf, kc, distance);

                // Call i prefetches piece i + distance during its k steps; the first pieces go at once.
                for (int q = 0; q < distance; q++)
                {
                    pieces.Lines(q).All();
                }

                int call = 0;
                for (int i0 = 0; i0 < m; i0 += group)
                {
                    int rows = Math.Min(group, m - i0);
                    for (int jh = 0; jh < ncb; jh += Half)
                    {
                        int cols = Math.Min(Half, ncb - jh);
                        float* bHalf = bCur + ((nint)(jh / Half) * ((Half * kc) + pad));
                        for (int s = 0; s < rows; s += 6)
                        {
                            float* ci = c + ((nint)(i0 + s) * ldc) + j0 + jh;
                            int strip = Math.Min(6, rows - s);
                            for (int r = 0; r < strip && prefetch; r++)
                            {
                                Sse.Prefetch0(ci + (r * ldc));
                            }

                            var lines = pieces.Lines(call + distance);
                            float* aStrip = aCur + ((nint)((i0 + s) / 6) * ((6 * kc) + pad));
                            if (strip == 6 && cols == Half)
                            {
                                GemmKernels.Kernel256SixPanel(aStrip, bHalf, kc, ci, ldc, 1f, 1f, lines);
                            }
                            else if (fourRowTail && strip <= 4)
                            {
                                // The last strip of the rows (m = 128: 2 rows; 64, 256: 4) without its zero rows' FMAs.
                                if (strip == 4 && cols == Half)
                                {
                                    GemmKernels.Kernel256FourPanel(aStrip, bHalf, kc, ci, ldc, 1f, 1f, lines);
                                }
                                else
                                {
                                    GemmKernels.Kernel256FourPanel(aStrip, bHalf, kc, edge, GemmPlan.NR, 1f, 0f, lines);
                                    GemmKernels.MergeEdge(edge, strip, cols, ci, ldc, 1f, 1f);
                                }
                            }
                            else
                            {
                                GemmKernels.Kernel256SixPanel(aStrip, bHalf, kc, edge, GemmPlan.NR, 1f, 0f, lines);
                                GemmKernels.MergeEdge(edge, strip, cols, ci, ldc, 1f, 1f);
                            }

                            pieces.Pack(call);
                            call++;
                        }
                    }
                }

                bCur = bNext;
            }

            aCur = aNext;
            blocks.Next(out p0, out kc);
        }
    }

    /// <summary>
    /// Packs rows [<paramref name="pBegin"/>, <paramref name="pEnd"/>) of a B panel of <paramref name="cols"/> (at most
    /// <paramref name="width"/>, a multiple of 16) columns, B stored k x n (row p at <c>b + p * ldb</c>), as 16-column
    /// half-panels (<c>dst[16 p + j]</c>, half-panel h at <c>dst + h panel</c>, <paramref name="panel"/> at least 16 kc),
    /// zero columns past <paramref name="cols"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PackBPanel(float* b, nint ldb, int width, int cols, nint panel, int pBegin, int pEnd, float* dst)
    {
        const int Half = GemmPlan.NR / 2;
        for (int p = pBegin; p < pEnd; p++)
        {
            float* s = b + (p * ldb);
            float* d = dst + (p * Half);
            if (cols == width && Vector256.IsHardwareAccelerated)
            {
                for (int j = 0; j < width; j += Half, d += panel)
                {
                    Vector256.Store(Vector256.Load(s + j), d);
                    Vector256.Store(Vector256.Load(s + j + 8), d + 8);
                }

                continue;
            }

            for (int j = 0; j < width; j++)
            {
                d[((j / Half) * panel) + (j % Half)] = j < cols ? s[j] : 0f;
            }
        }
    }

    /// <summary>
    /// The packing work of one unit of <see cref="RunPiped"/> cut into one piece per kernel call: piece i packs rows
    /// [i q, (i + 1) q) of the A^T share's rows, q = ceil(rows / calls), and likewise of the B panel's rows (the last
    /// pieces may be empty); its source lines are prefetched during kernel call i - <c>distance</c>.
    /// </summary>
    private readonly struct PackPieces
    {
        private readonly float* _a;
        private readonly nint _lda;
        private readonly int _m;
        private readonly int _aKc;
        private readonly nint _aStrip;
        private readonly int _aRow0;
        private readonly int _aRows;
        private readonly float* _aDst;
        private readonly float* _b;
        private readonly nint _ldb;
        private readonly int _bWidth;
        private readonly int _bCols;
        private readonly int _bKc;
        private readonly nint _bPanel;
        private readonly float* _bDst;
        private readonly int _calls;
        private readonly int _kernelKc;
        private readonly int _aPer;
        private readonly int _bPer;
        private readonly bool _prefetch;

        public PackPieces(float* a, nint lda, int m, int aKc, nint aStrip, int aRow0, int aRow1, float* aDst, float* b, nint ldb, int bWidth, int bCols, int bKc, nint bPanel, float* bDst, int calls, int kernelKc, int distance)
        {
            _aStrip = aStrip;
            _bPanel = bPanel;
            _a = a;
            _lda = lda;
            _m = m;
            _aKc = aKc;
            _aRow0 = aRow0;
            _aRows = aRow1 - aRow0;
            _aDst = aDst;
            _b = b;
            _ldb = ldb;
            _bWidth = bWidth;
            _bCols = bCols;
            _bKc = bKc;
            _bDst = bDst;
            _calls = calls;
            _kernelKc = kernelKc;
            _aPer = calls == 0 ? 0 : (_aRows + calls - 1) / calls;
            _bPer = calls == 0 ? 0 : (bKc + calls - 1) / calls;
            _prefetch = distance > 0;
        }

        /// <summary>The source lines of piece <paramref name="piece"/> as a prefetcher the kernel spreads over its k steps (none past the last piece).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public SourceLines Lines(int piece)
        {
            if (!_prefetch || piece >= _calls || piece < 0)
            {
                return new SourceLines(0, GemmKernels.SixPanelPrefetchBytes, null, 0, 0, 0, null, 0, 0, 0);
            }

            (int a0, int a1) = Rows(_aRows, _aPer, piece);
            (int b0, int b1) = Rows(_bKc, _bPer, piece);
            return new SourceLines(
                _kernelKc / 2,
                GemmKernels.SixPanelPrefetchBytes,
                (byte*)(_a + ((_aRow0 + a0) * _lda)), _lda * sizeof(float), _m * sizeof(float), a1 - a0,
                (byte*)(_b + (b0 * _ldb)), _ldb * sizeof(float), _bCols * sizeof(float), b1 - b0);
        }

        /// <summary>Packs piece <paramref name="piece"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Pack(int piece)
        {
            (int a0, int a1) = Rows(_aRows, _aPer, piece);
            if (a1 > a0)
            {
                GemmPacking.PackA6Transposed(_a, _lda, _m, _aKc, _aRow0 + a0, _aRow0 + a1, _aDst, _aStrip);
            }

            (int b0, int b1) = Rows(_bKc, _bPer, piece);
            if (b1 > b0)
            {
                PackBPanel(_b, _ldb, _bWidth, _bCols, _bPanel, b0, b1, _bDst);
            }
        }

        /// <summary>Rows [begin, end) of <paramref name="rows"/> in piece <paramref name="piece"/>: <paramref name="per"/> = ceil(rows / calls) each (one division per unit, not per piece), so the last pieces may be empty.</summary>
        private static (int Begin, int End) Rows(int rows, int per, int piece)
        {
            int begin = Math.Min(rows, piece * per);
            return (begin, Math.Min(rows, begin + per));
        }
    }

    /// <summary>
    /// The prefetches of a <see cref="RunPiped"/> kernel call (every two k steps): the packed A strip stream
    /// <c>ahead</c> bytes on, as <see cref="GemmKernels.Block256Six"/> does, and one line of a packing piece's source
    /// rows (x's, then dy's), so those DRAM misses trickle out over the call instead of a burst that fills the miss
    /// buffers the kernel's own L2 stream needs. Row lines are <c>start + min(64 l, bytes - 1)</c>, l = 0 .. bytes / 64.
    /// </summary>
    private struct SourceLines : GemmKernels.IStripPrefetch
    {
        private readonly nint _ahead;
        private readonly int _every;
        private RowLines _x;
        private RowLines _dy;
        private int _countdown;

        public SourceLines(int pairs, nint ahead, byte* aRow, nint aStride, int aBytes, int aRows, byte* bRow, nint bStride, int bBytes, int bRows)
        {
            _ahead = ahead;
            _x = new RowLines(aRow, aStride, aBytes, aRows);
            _dy = new RowLines(bRow, bStride, bBytes, bRows);

            // One line every _every pairs of k steps, spread over the call's kc / 2 pairs (ending 8 pairs early).
            int lines = _x.Lines + _dy.Lines;
            _every = lines > 0 ? Math.Max(1, (pairs - 8) / lines) : 1;
            _countdown = 1;
        }

        /// <summary>Prefetches all the remaining lines at once (the first pieces of a unit, which no earlier call covers).</summary>
        public void All()
        {
            while (_x.Next() || _dy.Next())
            {
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Step(float* a, float* b)
        {
            Sse.Prefetch0((byte*)a + _ahead);
            if (--_countdown == 0)
            {
                _countdown = _every;
                _ = _x.Next() || _dy.Next();
            }
        }
    }

    /// <summary>The cache lines of <c>rows</c> row segments of <c>bytes</c> bytes, stride <c>stride</c>, in order: <c>start + min(64 l, bytes - 1)</c> per row.</summary>
    private struct RowLines
    {
        private readonly nint _stride;
        private readonly int _bytes;
        private byte* _row;
        private int _offset;
        private int _rows;

        public RowLines(byte* row, nint stride, int bytes, int rows)
        {
            _row = row;
            _stride = stride;
            _bytes = bytes;
            _rows = bytes > 0 ? rows : 0;
            _offset = 0;
        }

        /// <summary>Prefetches still to issue (at most one more per row than the lines a row covers).</summary>
        public readonly int Lines => _rows * ((_bytes + 126) / 64);

        /// <summary>Prefetches the next line, if any is left.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool Next()
        {
            if (_rows <= 0)
            {
                return false;
            }

            Sse.Prefetch0(_row + Math.Min(_offset, _bytes - 1));
            _offset += 64;
            if (_offset >= _bytes + 63)
            {
                _offset = 0;
                _row += _stride;
                _rows--;
            }

            return true;
        }
    }
}
