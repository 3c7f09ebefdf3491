using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Aced.Core;

/// <summary>
/// The software-pipelined AVX2 dW form of <see cref="GemmSlices"/>: the packing of the next unit of work runs in small
/// pieces between the kernel calls of the current one, each piece's source rows prefetched a kernel call before it is
/// copied, so the copy reads L1 and the memory latency is hidden behind the kernels (packed once per k block, the
/// packing stalled on x and dy: 15-20 % of a dW product on Zen 3).
/// </summary>
internal static unsafe partial class GemmSlices
{
    /// <summary>
    /// Whether the AVX2 dW slices run <see cref="RunPiped"/> (off: <see cref="RunSix"/>, which packs each k block before
    /// computing it; an A/B switch for the benchmarks and probes, same bits).
    /// </summary>
    internal static bool PipelinedPacking { get; set; } = true;

    /// <summary>How many kernel calls ahead <see cref="RunPiped"/> prefetches the source rows of a packing piece (a hint only).</summary>
    internal static int PiecePrefetchCalls { get; set; } = 1;

    /// <summary>Columns of C per unit of <see cref="RunPiped"/> (one packed 32-column panel of B, two half-panels).</summary>
    private const int PipedPanel = GemmPlan.NR;

    /// <summary>
    /// The dW loop on AVX2 as a pipeline over units (k block, 32-column panel), block-major: unit u computes, per group of
    /// <see cref="SliceRowGroup"/> rows, half-panel and 6-row strip, one <see cref="GemmKernels.Block256Six"/> call with
    /// C = 1 * acc + 1 * C on the packed A^T of its block and its packed B panel; between those calls it packs the next
    /// unit's B panel and a 1 / panels share of the next block's A^T (two buffers of each). The k blocks, kernels and
    /// store rule are those of <see cref="RunSix"/>, so the bits are too; only the time of the packing moves.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunPiped(float* a, nint lda, float* b, nint ldb, float* c, nint ldc, int m, int n, int k, int sliceRows, Scratch scratch)
    {
        const int Half = GemmPlan.NR / 2;
        int group = Math.Max(6, SliceRowGroup / 6 * 6);
        int panels = GemmPlan.CeilDiv(n, PipedPanel);
        nint aSize = (nint)GemmPlan.RoundUp(m, 6) * GemmPlan.KcMax;
        nint bSize = (nint)PipedPanel * GemmPlan.KcMax;
        float* aBuffers = scratch.A((int)(2 * aSize));
        float* bBuffers = scratch.B((int)(2 * bSize));
        float* edge = scratch.Edge;
        int distance = PrefetchEnabled && Sse.IsSupported ? Math.Max(1, PiecePrefetchCalls) : 0;

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
        PackA6Transposed(a + ((nint)p0 * lda), lda, m, kc, 0, kc, aCur);
        PackBPanel(b + ((nint)p0 * ldb), ldb, Math.Min(PipedPanel, n), kc, 0, kc, bCur);
        while (kc > 0)
        {
            blocks.Peek(out int nextP0, out int nextKc);
            float* aNext = aCur == aBuffers ? aBuffers + aSize : aBuffers;
            for (int jp = 0; jp < panels; jp++)
            {
                int j0 = jp * PipedPanel;
                int ncb = Math.Min(PipedPanel, n - j0);
                bool lastPanel = jp + 1 == panels;
                float* bNext = bCur == bBuffers ? bBuffers + bSize : bBuffers;

                // This unit packs the next unit's B panel (the next panel of this block, or the first of the next block)
                // and rows [aRow0, aRow1) of the next block's A^T.
                int uP0 = lastPanel ? nextP0 : p0;
                int uKc = lastPanel ? nextKc : kc;
                int uJ0 = lastPanel ? 0 : j0 + PipedPanel;
                var pieces = new PackPieces(
                    a + ((nint)nextP0 * lda), lda, m, nextKc, nextKc * jp / panels, nextKc * (jp + 1) / panels, aNext,
                    b + ((nint)uP0 * ldb) + uJ0, ldb, Math.Min(PipedPanel, n - uJ0), uKc, bNext,
                    ((ncb + Half - 1) / Half) * callsPerHalf, distance);

                int call = 0;
                for (int i0 = 0; i0 < m; i0 += group)
                {
                    int rows = Math.Min(group, m - i0);
                    for (int jh = 0; jh < ncb; jh += Half)
                    {
                        int cols = Math.Min(Half, ncb - jh);
                        for (int s = 0; s < rows; s += 6)
                        {
                            pieces.Prefetch(call + distance);
                            GemmKernels.Block256Six(aCur + ((nint)(i0 + s) * kc), Math.Min(6, rows - s), bCur + ((nint)jh * kc), kc, cols, c + ((nint)(i0 + s) * ldc) + j0 + jh, ldc, 1f, 1f, edge);
                            pieces.Pack(call++);
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
    /// Packs rows [<paramref name="pBegin"/>, <paramref name="pEnd"/>) of a B panel of <paramref name="cols"/> (at most 32)
    /// columns, B stored k x n (row p at <c>b + p * ldb</c>), as two 16-column half-panels of <paramref name="kc"/> k steps
    /// (<c>dst[16 p + j]</c>, the second at <c>dst + 16 kc</c>), zero columns past <paramref name="cols"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PackBPanel(float* b, nint ldb, int cols, int kc, int pBegin, int pEnd, float* dst)
    {
        const int Half = GemmPlan.NR / 2;
        nint second = (nint)Half * kc;
        for (int p = pBegin; p < pEnd; p++)
        {
            float* s = b + (p * ldb);
            float* d = dst + (p * Half);
            if (cols == PipedPanel && Vector256.IsHardwareAccelerated)
            {
                Vector256.Store(Vector256.Load(s), d);
                Vector256.Store(Vector256.Load(s + 8), d + 8);
                Vector256.Store(Vector256.Load(s + 16), d + second);
                Vector256.Store(Vector256.Load(s + 24), d + second + 8);
                continue;
            }

            for (int j = 0; j < PipedPanel; j++)
            {
                d[(j < Half ? 0 : second - Half) + j] = j < cols ? s[j] : 0f;
            }
        }
    }

    /// <summary>
    /// The packing work of one unit of <see cref="RunPiped"/> cut into one piece per kernel call: piece i packs rows
    /// [aRows i / calls, aRows (i + 1) / calls) of the A^T share and the same fraction of the B panel's rows; its source
    /// rows are prefetched <c>distance</c> calls earlier.
    /// </summary>
    private readonly struct PackPieces
    {
        private readonly float* _a;
        private readonly nint _lda;
        private readonly int _m;
        private readonly int _aKc;
        private readonly int _aRow0;
        private readonly int _aRows;
        private readonly float* _aDst;
        private readonly float* _b;
        private readonly nint _ldb;
        private readonly int _bCols;
        private readonly int _bKc;
        private readonly float* _bDst;
        private readonly int _calls;
        private readonly bool _prefetch;

        public PackPieces(float* a, nint lda, int m, int aKc, int aRow0, int aRow1, float* aDst, float* b, nint ldb, int bCols, int bKc, float* bDst, int calls, int distance)
        {
            _a = a;
            _lda = lda;
            _m = m;
            _aKc = aKc;
            _aRow0 = aRow0;
            _aRows = aRow1 - aRow0;
            _aDst = aDst;
            _b = b;
            _ldb = ldb;
            _bCols = bCols;
            _bKc = bKc;
            _bDst = bDst;
            _calls = calls;
            _prefetch = distance > 0;
            if (_prefetch)
            {
                for (int i = 0; i < distance; i++)
                {
                    Prefetch(i);
                }
            }
        }

        /// <summary>Prefetches the source rows of piece <paramref name="piece"/> (none past the last).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Prefetch(int piece)
        {
            if (!_prefetch || piece >= _calls)
            {
                return;
            }

            (int a0, int a1) = Rows(_aRows, piece);
            for (int p = _aRow0 + a0; p < _aRow0 + a1; p++)
            {
                PrefetchLines((byte*)(_a + (p * _lda)), _m * sizeof(float));
            }

            (int b0, int b1) = Rows(_bKc, piece);
            for (int p = b0; p < b1; p++)
            {
                PrefetchLines((byte*)(_b + (p * _ldb)), _bCols * sizeof(float));
            }
        }

        /// <summary>Packs piece <paramref name="piece"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Pack(int piece)
        {
            (int a0, int a1) = Rows(_aRows, piece);
            if (a1 > a0)
            {
                PackA6Transposed(_a, _lda, _m, _aKc, _aRow0 + a0, _aRow0 + a1, _aDst);
            }

            (int b0, int b1) = Rows(_bKc, piece);
            if (b1 > b0)
            {
                PackBPanel(_b, _ldb, _bCols, _bKc, b0, b1, _bDst);
            }
        }

        private (int Begin, int End) Rows(int rows, int piece) =>
            ((int)((long)rows * piece / _calls), (int)((long)rows * (piece + 1) / _calls));
    }
}
