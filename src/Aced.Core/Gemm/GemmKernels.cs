using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Aced.Core;

/// <summary>Which micro-kernel implementation runs (tests force the fallbacks).</summary>
internal enum GemmIsa
{
    /// <summary>Pick the widest accelerated one.</summary>
    Auto = 0,

    /// <summary>AVX-512: 16 zmm accumulators.</summary>
    Vector512 = 1,

    /// <summary>
    /// AVX2/FMA: a 6 x 16 register tile (12 ymm accumulators + 2 B loads + 1 broadcast = 15 of the 16 ymm registers).
    /// The plain path runs it in 6-row strips across a whole packed row block with the 16-column half of a B micro-panel
    /// held in L1 (<see cref="GemmKernels.Block256"/>; the plain path packs B as 16-column half-panels for it, see
    /// <see cref="GemmKernels.HalfPanels"/>); the epilogue path runs it over the same layouts strip by strip, each A strip
    /// in L1 against every B half-panel (<see cref="GemmKernels.Strip256"/>, <see cref="GemmKernels.EpilogueStrips"/>);
    /// single 8 x 32 panels (the A/B baselines) run as two 6 x 16 blocks and one 2 x 32 block (8 accumulators + 4 B
    /// loads + 1 broadcast).
    /// </summary>
    Vector256 = 2,

    /// <summary>Portable scalar loop.</summary>
    Scalar = 3,

    /// <summary>
    /// The previous AVX2 kernel (the 8 x 32 tile as four 4 x 16 quarters, 8 ymm accumulators each), kept only as
    /// the benchmarks' same-run yardstick for <see cref="Vector256"/>; bit-identical to it.
    /// </summary>
    Vector256Quarters = 4,
}

/// <summary>
/// The 8 x 32 micro-kernels. Each computes, for every element of the register tile,
/// <c>acc = fma(a[p], b[p], acc)</c> for p = 0..kc-1 in increasing order starting from 0, and then stores
/// <c>c = beta == 0 ? alpha * acc : fma(acc, alpha, beta * c)</c>. All three implementations perform exactly
/// these IEEE operations per element, so they produce bit-identical results.
/// </summary>
/// <remarks>
/// Packed layouts: the A micro-panel holds <c>a[p * 8 + r]</c> = op(A)[i + r, p0 + p]; the B micro-panel
/// holds <c>b[p * 32 + j]</c> = op(B)[p0 + p, j0 + j]. Both are zero-padded past the matrix edge.
/// </remarks>
internal static unsafe class GemmKernels
{
    /// <summary>Set by tests to force a fallback kernel; <see cref="GemmIsa.Auto"/> in production.</summary>
    internal static GemmIsa ForcedIsa { get; set; }

    /// <summary>Whether the plain path's AVX2 kernel runs in 6-row strips over the row block (<see cref="Block256"/>; benchmarks turn it off for a same-run baseline).</summary>
    internal static bool StripsEnabled { get; set; } = true;

    /// <summary>Whether <see cref="Block256"/> prefetches the next B half-panel and each strip's C rows (a same-run A/B baseline turns it off).</summary>
    internal static bool StripPrefetch { get; set; } = true;

    /// <summary>
    /// Whether the plain path packs B in 16-column micro-panels for the AVX2 strips (<see cref="Block256"/>'s
    /// <c>halfPanels</c>; a same-run A/B baseline turns it off). Read once per call.
    /// </summary>
    internal static bool HalfPanels { get; set; } = true;

    /// <summary>
    /// Whether the plain path packs A as 6-row strip panels for the AVX2 strips when it packs B as half-panels
    /// (<see cref="Block256Six"/>; a same-run A/B baseline turns it off). Read once per call.
    /// </summary>
    internal static bool SixRowPanels { get; set; } = true;

    /// <summary>
    /// Whether the epilogue path's AVX2 bands run the plain path's layouts (6-row A strip panels x 16-column B
    /// half-panels) through <see cref="Strip256"/> instead of 8 x 32 panels through <see cref="Run"/> (a same-run A/B
    /// baseline turns it off; same bits). Read once per call.
    /// </summary>
    internal static bool EpilogueStrips { get; set; } = true;

    /// <summary>
    /// Whether the AVX2 strips hand an <see cref="IGemmStripEpilogue"/> each finished 6-row strip (from L1) instead of
    /// the whole band tile (a same-run A/B baseline turns it off; same bits). Read once per band.
    /// </summary>
    internal static bool EpilogueStripDelivery { get; set; } = true;

    /// <summary>
    /// Whether the strip-by-strip epilogue path prefetches the next strip's A rows and its epilogue's rows
    /// (<see cref="IGemmStripEpilogue.Targets"/>) while the current strip computes (<see cref="NextStripLines"/>; a
    /// same-run A/B baseline turns it off; same bits). Read once per band.
    /// </summary>
    internal static bool EpilogueStripPrefetch { get; set; } = true;

    /// <summary>How far ahead, in bytes of the contiguous packed B block, <see cref="Strip256"/> prefetches B (1-4 KiB measured alike).</summary>
    internal static int EpilogueBAheadBytes { get; set; } = 2048;

    /// <summary>Whether <see cref="Block256Six"/>'s last half-panel prefetches the next call's first B half-panel (a same-run A/B baseline turns it off).</summary>
    internal static bool FollowPrefetch { get; set; } = true;

    /// <summary>Whether <see cref="Block256Six"/> pulls the next call's A slice into L2 (a same-run A/B baseline turns it off).</summary>
    internal static bool NextAPrefetch { get; set; } = true;

    /// <summary>Whether <see cref="Block256"/>'s full strips run the unrolled kernel that prefetches the A rows ahead (a same-run A/B baseline turns it off).</summary>
    internal static bool StreamPrefetch { get; set; } = true;

    /// <summary>How far ahead, in bytes of a packed A micro-panel (32 bytes per k step), the strips prefetch A.</summary>
    private const int StreamPrefetchBytes = 1024;

    /// <summary>
    /// How far ahead, in bytes of the 6-row A strip panels (24 bytes per k step; consecutive strips are contiguous),
    /// <see cref="Kernel256SixPanel{TPrefetch}"/> prefetches A.
    /// </summary>
    internal static int SixPanelPrefetchBytes { get; set; } = 1024;

    internal static GemmIsa ActiveIsa => ForcedIsa != GemmIsa.Auto ? ForcedIsa
        : Vector512.IsHardwareAccelerated ? GemmIsa.Vector512
        : Vector256.IsHardwareAccelerated ? GemmIsa.Vector256
        : GemmIsa.Scalar;

    /// <summary>The register tile <paramref name="isa"/> computes, as shown by <see cref="ManagedGemmProvider.Name"/>.</summary>
    internal static string TileDescription(GemmIsa isa) => isa switch
    {
        GemmIsa.Vector512 => "8x32 register tile",
        GemmIsa.Vector256 => "6x16 register tile; 6-row A strips x 16-column B half-panels",
        GemmIsa.Vector256Quarters => "4x16 register tile",
        _ => "scalar 8x32 tile",
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Run(GemmIsa isa, float* a, float* b, int kc, float* c, nint ldc, float alpha, float beta)
    {
        if (isa == GemmIsa.Vector512)
        {
            Kernel512(a, b, kc, c, ldc, alpha, beta);
        }
        else if (isa == GemmIsa.Vector256)
        {
            Kernel256Six(a, a + 1, a + 2, a + 3, a + 4, a + 5, b, GemmPlan.NR, kc, c, ldc, alpha, beta);
            Kernel256Six(a, a + 1, a + 2, a + 3, a + 4, a + 5, b + 16, GemmPlan.NR, kc, c + 16, ldc, alpha, beta);
            Kernel256Two(a + 6, a + 7, b, b + 16, GemmPlan.NR, kc, c + (6 * ldc), ldc, alpha, beta);
        }
        else if (isa == GemmIsa.Vector256Quarters)
        {
            Kernel256Quarter(a, b, kc, c, ldc, alpha, beta);
            Kernel256Quarter(a, b + 16, kc, c + 16, ldc, alpha, beta);
            Kernel256Quarter(a + 4, b, kc, c + (4 * ldc), ldc, alpha, beta);
            Kernel256Quarter(a + 4, b + 16, kc, c + (4 * ldc) + 16, ldc, alpha, beta);
        }
        else
        {
            KernelScalar(a, b, kc, c, ldc, alpha, beta);
        }
    }

    /// <summary>
    /// Merges a finished 8 x 32 accumulator tile <paramref name="t"/> (computed with alpha = 1, beta = 0)
    /// into the valid <paramref name="rows"/> x <paramref name="cols"/> corner of C with the same store rule
    /// as the kernels, so edge tiles round exactly like interior ones.
    /// </summary>
    internal static void MergeEdge(float* t, int rows, int cols, float* c, nint ldc, float alpha, float beta)
    {
        for (int r = 0; r < rows; r++)
        {
            float* tr = t + (r * GemmPlan.NR);
            float* cr = c + (r * ldc);
            if (beta == 0f)
            {
                for (int j = 0; j < cols; j++)
                {
                    cr[j] = alpha * tr[j];
                }
            }
            else
            {
                for (int j = 0; j < cols; j++)
                {
                    cr[j] = MathF.FusedMultiplyAdd(tr[j], alpha, beta * cr[j]);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Kernel512(float* a, float* b, int kc, float* c, nint ldc, float alpha, float beta) =>
        Kernel512(a, b, kc, c, ldc, alpha, beta, default(NoStream));

    /// <summary>
    /// The AVX-512 8 x 32 kernel (<see cref="Run"/> with <see cref="GemmIsa.Vector512"/>) that also prefetches its A
    /// micro-panel <paramref name="aAhead"/> bytes ahead, one line per k step (<c>prefetcht0</c>), for an A read from
    /// memory (<see cref="GemmDriver.CallAStream"/>); the packed A micro-panels of a block lie back to back, so the
    /// stream runs on into the next panel. Same FMA order and store rule per element, so the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Kernel512AStream(float* a, float* b, int kc, float* c, nint ldc, float alpha, float beta, nint aAhead) =>
        Kernel512(a, b, kc, c, ldc, alpha, beta, new AStream(aAhead));

    /// <summary>The software prefetches the AVX-512 8 x 32 kernel issues every k step.</summary>
    private interface IKernel512Stream
    {
        /// <summary>Prefetches for the k step whose A row starts at <paramref name="a"/>.</summary>
        void Step(float* a);
    }

    /// <summary>No prefetches: the plain kernel.</summary>
    private readonly struct NoStream : IKernel512Stream
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Step(float* a)
        {
        }
    }

    /// <summary>The A stream a fixed number of bytes ahead (<see cref="Kernel512AStream"/>).</summary>
    private readonly struct AStream : IKernel512Stream
    {
        private readonly nint _ahead;

        public AStream(nint ahead) => _ahead = ahead;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Step(float* a) => Sse.Prefetch0((byte*)a + _ahead);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel512<TStream>(float* a, float* b, int kc, float* c, nint ldc, float alpha, float beta, TStream stream)
        where TStream : struct, IKernel512Stream
    {
        Vector512<float> c00 = Vector512<float>.Zero, c01 = Vector512<float>.Zero;
        Vector512<float> c10 = Vector512<float>.Zero, c11 = Vector512<float>.Zero;
        Vector512<float> c20 = Vector512<float>.Zero, c21 = Vector512<float>.Zero;
        Vector512<float> c30 = Vector512<float>.Zero, c31 = Vector512<float>.Zero;
        Vector512<float> c40 = Vector512<float>.Zero, c41 = Vector512<float>.Zero;
        Vector512<float> c50 = Vector512<float>.Zero, c51 = Vector512<float>.Zero;
        Vector512<float> c60 = Vector512<float>.Zero, c61 = Vector512<float>.Zero;
        Vector512<float> c70 = Vector512<float>.Zero, c71 = Vector512<float>.Zero;

        for (int p = 0; p < kc; p++)
        {
            if (Sse.IsSupported)
            {
                stream.Step(a);
            }

            Vector512<float> b0 = Vector512.Load(b);
            Vector512<float> b1 = Vector512.Load(b + 16);
            Vector512<float> ar = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(ar, b1, c01);
            ar = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(ar, b1, c11);
            ar = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(ar, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(ar, b1, c21);
            ar = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(ar, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(ar, b1, c31);
            ar = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(ar, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(ar, b1, c41);
            ar = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(ar, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(ar, b1, c51);
            ar = Vector512.Create(a[6]);
            c60 = Vector512.FusedMultiplyAdd(ar, b0, c60);
            c61 = Vector512.FusedMultiplyAdd(ar, b1, c61);
            ar = Vector512.Create(a[7]);
            c70 = Vector512.FusedMultiplyAdd(ar, b0, c70);
            c71 = Vector512.FusedMultiplyAdd(ar, b1, c71);
            a += GemmPlan.MR;
            b += GemmPlan.NR;
        }

        Store512(c, c00, c01, alpha, beta);
        Store512(c + ldc, c10, c11, alpha, beta);
        Store512(c + (2 * ldc), c20, c21, alpha, beta);
        Store512(c + (3 * ldc), c30, c31, alpha, beta);
        Store512(c + (4 * ldc), c40, c41, alpha, beta);
        Store512(c + (5 * ldc), c50, c51, alpha, beta);
        Store512(c + (6 * ldc), c60, c61, alpha, beta);
        Store512(c + (7 * ldc), c70, c71, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(float* c, Vector512<float> x0, Vector512<float> x1, float alpha, float beta)
    {
        Vector512<float> va = Vector512.Create(alpha);
        if (beta == 0f)
        {
            Vector512.Store(x0 * va, c);
            Vector512.Store(x1 * va, c + 16);
        }
        else
        {
            Vector512<float> vb = Vector512.Create(beta);
            Vector512.Store(Vector512.FusedMultiplyAdd(x0, va, vb * Vector512.Load(c)), c);
            Vector512.Store(Vector512.FusedMultiplyAdd(x1, va, vb * Vector512.Load(c + 16)), c + 16);
        }
    }

    /// <summary>
    /// The AVX2 path over a whole packed k block of a C tile: C[0..mcb, 0..ncb] = alpha * A B + beta * C (per element the
    /// <see cref="GemmKernels"/> rule), where <paramref name="aBlock"/> holds the 8-row A micro-panels of the row block one
    /// after the other (panel q at <c>aBlock + q * 8 * kc</c>, zero rows up to a multiple of 8) and
    /// <paramref name="bBlock"/> the B micro-panels: 32 columns wide (panel at <c>bBlock + jr * kc</c>, row p at
    /// <c>+ 32 p</c>), or, when <paramref name="halfPanels"/>, 16 columns wide (<see cref="GemmPacking.PackBHalves"/>:
    /// panel at <c>bBlock + jh * kc</c>, row p at <c>+ 16 p</c>; the same floats, only their order differs).
    /// </summary>
    /// <remarks>
    /// Loop order (BLIS-like, chosen for 16 ymm registers and a 32 KiB L1): for each 16-column half of a B micro-panel
    /// (kc x 16 floats, 24 KiB at kc = 384), every 6-row strip of the row block runs the 6 x 16 kernel, whose 6 row
    /// pointers may straddle two A micro-panels; the packed A block streams from L2. The half-panel stays in L1 only in
    /// the 16-wide layout: inside a 32-wide panel its rows are 128 bytes apart, so they fall into half of the L1 sets
    /// (kc lines in 32 sets of 8 ways) and every k step is an L1 miss. Each strip also prefetches its share of the next
    /// half-panel (spread over the k loop by <see cref="Kernel256SixStream"/>, which also prefetches the strip's A rows
    /// ahead; a burst of prefetches before the kernel stalled on the miss buffers when B came from L3) and its own 6 C rows. Rows left after the 6-row strips run as 2 x 32 blocks. Each element is still
    /// <c>fma(a[p], b[p], acc)</c> for p increasing from 0 and the same store rule, so the result is bit-identical to
    /// <see cref="Run"/> with any ISA and either layout.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Block256(float* aBlock, int mcb, float* bBlock, int kc, int ncb, float* c, nint ldc, float alpha, float beta, float* edge, bool halfPanels = false)
    {
        int strips = mcb / 6;
        int sixRows = strips * 6;
        int lastRow = GemmPlan.RoundUp(mcb, GemmPlan.MR) - 1;
        nint panel = (nint)GemmPlan.MR * kc;
        nint bStride = halfPanels ? 16 : GemmPlan.NR;
        int linesPerStrip = strips == 0 ? 0 : (kc + strips - 1) / strips;
        for (int jh = 0; jh < ncb; jh += 16)
        {
            int cols = Math.Min(16, ncb - jh);
            float* b = HalfPanel(bBlock, jh, kc, halfPanels);
            int jn = jh + 16;
            float* bNext = jn < ncb && Sse.IsSupported && StripPrefetch ? HalfPanel(bBlock, jn, kc, halfPanels) : null;
            bool stream = StreamPrefetch && Sse.IsSupported && cols == 16;
            for (int i = 0; i < sixRows; i += 6)
            {
                if (bNext is not null && !stream)
                {
                    // Pull the next half-panel's lines (one 64-byte line per k step) towards L1 while this one computes.
                    int s0 = (i / 6) * linesPerStrip;
                    int s1 = Math.Min(kc, s0 + linesPerStrip);
                    for (int p = s0; p < s1; p++)
                    {
                        Sse.Prefetch0(bNext + (p * bStride));
                    }
                }

                float* a0 = Row(aBlock, panel, i);
                float* a1 = Row(aBlock, panel, i + 1);
                float* a2 = Row(aBlock, panel, i + 2);
                float* a3 = Row(aBlock, panel, i + 3);
                float* a4 = Row(aBlock, panel, i + 4);
                float* a5 = Row(aBlock, panel, i + 5);
                float* ci = c + ((nint)i * ldc) + jh;
                if (Sse.IsSupported && StripPrefetch)
                {
                    // The strip's C rows are read (beta != 0, later k blocks) and written when the kernel ends.
                    Sse.Prefetch0(ci);
                    Sse.Prefetch0(ci + ldc);
                    Sse.Prefetch0(ci + (2 * ldc));
                    Sse.Prefetch0(ci + (3 * ldc));
                    Sse.Prefetch0(ci + (4 * ldc));
                    Sse.Prefetch0(ci + (5 * ldc));
                }

                if (stream)
                {
                    // The kernel prefetches this strip's share of the next half-panel one line every two k steps.
                    float* pf = b;
                    float* pfEnd = b;
                    if (bNext is not null)
                    {
                        int s0 = (i / 6) * linesPerStrip;
                        int s1 = Math.Min(kc, s0 + linesPerStrip);
                        pf = bNext + (s0 * bStride);
                        pfEnd = bNext + (Math.Max(s0, s1 - 1) * bStride);
                    }

                    Kernel256SixStream(a0, a1, a2, a3, a4, a5, b, bStride, kc, ci, ldc, alpha, beta, pf, pfEnd);
                }
                else if (cols == 16)
                {
                    Kernel256Six(a0, a1, a2, a3, a4, a5, b, bStride, kc, ci, ldc, alpha, beta);
                }
                else
                {
                    Kernel256Six(a0, a1, a2, a3, a4, a5, b, bStride, kc, edge, GemmPlan.NR, 1f, 0f);
                    MergeEdge(edge, 6, cols, ci, ldc, alpha, beta);
                }
            }

            if (sixRows == mcb || (jh & 31) != 0)
            {
                continue;
            }

            // The rows after the 6-row strips, for the whole 32-column micro-panel: 2 x 32 blocks, or one 6 x 16 pair
            // with padding rows when 5 rows are left (pointers past the packed block are clamped to its last row).
            int rest = mcb - sixRows;
            int cols32 = Math.Min(GemmPlan.NR, ncb - jh);
            float* bHigh = HalfPanel(bBlock, jh + 16, kc, halfPanels);
            if (rest == 5)
            {
                for (int h = 0; h < cols32; h += 16)
                {
                    Kernel256Six(
                        Row(aBlock, panel, sixRows),
                        Row(aBlock, panel, sixRows + 1),
                        Row(aBlock, panel, sixRows + 2),
                        Row(aBlock, panel, sixRows + 3),
                        Row(aBlock, panel, sixRows + 4),
                        Row(aBlock, panel, Math.Min(sixRows + 5, lastRow)),
                        h == 0 ? b : bHigh,
                        bStride,
                        kc,
                        edge,
                        GemmPlan.NR,
                        1f,
                        0f);
                    MergeEdge(edge, 5, Math.Min(16, cols32 - h), c + ((nint)sixRows * ldc) + jh + h, ldc, alpha, beta);
                }

                continue;
            }

            for (int i = sixRows; i < mcb; i += 2)
            {
                int rows = Math.Min(2, mcb - i);
                float* a0 = Row(aBlock, panel, i);
                float* a1 = Row(aBlock, panel, Math.Min(i + 1, lastRow));
                float* ci = c + ((nint)i * ldc) + jh;
                if (rows == 2 && cols32 == GemmPlan.NR)
                {
                    Kernel256Two(a0, a1, b, bHigh, bStride, kc, ci, ldc, alpha, beta);
                }
                else
                {
                    Kernel256Two(a0, a1, b, bHigh, bStride, kc, edge, GemmPlan.NR, 1f, 0f);
                    MergeEdge(edge, rows, cols32, ci, ldc, alpha, beta);
                }
            }
        }
    }

    /// <summary>
    /// <see cref="Block256"/> for the plain path's own layouts: <paramref name="aBlock"/> holds the row block as 6-row
    /// strip panels (<see cref="GemmPacking.PackA6"/>: strip s at <c>aBlock + 6 s kc</c>, zero rows past
    /// <paramref name="mcb"/>) and <paramref name="bBlock"/> 16-column half-panels (<see cref="GemmPacking.PackBHalves"/>).
    /// A strip then reads one contiguous A stream of 24 bytes per k step instead of up to two 8-row panels' 32-byte rows,
    /// and a partial last strip runs as a zero-padded 6-row strip. The last half-panel's strips prefetch the first
    /// half-panel of <paramref name="bFollow"/> (the B block the next call will read, when known: prefetches never
    /// fault, so it need not be packed yet). Same FMA chain and store rule per element as
    /// <see cref="Run"/>, so the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Block256Six(float* aBlock, int mcb, float* bBlock, int kc, int ncb, float* c, nint ldc, float alpha, float beta, float* edge, float* bFollow = null, float* aFollow = null, int aFollowFloats = 0)
    {
        const int Half = GemmPlan.NR / 2;
        int strips = (mcb + 5) / 6;
        nint strip = (nint)6 * kc;
        int linesPerStrip = strips == 0 ? 0 : (kc + strips - 1) / strips;
        bool prefetch = Sse.IsSupported && StripPrefetch;

        // The next call's A slice (aFollowFloats floats, when known) is pulled into L2 a few lines per kernel call.
        int aLines = prefetch && aFollow is not null && NextAPrefetch ? (aFollowFloats + 15) / 16 : 0;
        int kernels = strips * ((ncb + Half - 1) / Half);
        int aLinesPerKernel = kernels == 0 ? 0 : (aLines + kernels - 1) / kernels;
        int aLine = 0;
        for (int jh = 0; jh < ncb; jh += Half)
        {
            int cols = Math.Min(Half, ncb - jh);
            float* b = bBlock + ((nint)jh * kc);
            float* bNext = !prefetch ? null : jh + Half < ncb ? b + ((nint)Half * kc) : FollowPrefetch ? bFollow : null;
            for (int s = 0; s < strips; s++)
            {
                int rows = Math.Min(6, mcb - (s * 6));
                float* ci = c + ((nint)s * 6 * ldc) + jh;
                if (prefetch)
                {
                    // The strip's C rows are read (beta != 0, later k blocks) and written when the kernel ends.
                    for (int r = 0; r < rows; r++)
                    {
                        Sse.Prefetch0(ci + (r * ldc));
                    }
                }

                // The kernel prefetches this strip's share of the next half-panel, one line every two k steps.
                float* pf = b;
                float* pfEnd = b;
                int s0 = s * linesPerStrip;
                if (bNext is not null && s0 < kc)
                {
                    pf = bNext + (s0 * Half);
                    pfEnd = bNext + ((Math.Min(kc, s0 + linesPerStrip) - 1) * Half);
                }

                for (int q = 0; q < aLinesPerKernel && aLine < aLines; q++, aLine++)
                {
                    Sse.Prefetch1(aFollow + (aLine * 16));
                }

                float* a = aBlock + (s * strip);
                if (rows == 6 && cols == Half)
                {
                    Kernel256SixPanel(a, b, kc, ci, ldc, alpha, beta, new ShareNextHalfPanel(SixPanelPrefetchBytes, pf, pfEnd));
                }
                else
                {
                    Kernel256SixPanel(a, b, kc, edge, GemmPlan.NR, 1f, 0f, new ShareNextHalfPanel(SixPanelPrefetchBytes, pf, pfEnd));
                    MergeEdge(edge, rows, cols, ci, ldc, alpha, beta);
                }
            }
        }
    }

    /// <summary>
    /// 6 rows x 16 columns with Vector256 over a 6-row strip panel (row r of k step p at <c>a[6 p + r]</c>) and a 16-column
    /// half-panel (<c>b[16 p + j]</c>): the register tile of <see cref="Kernel256Six"/>, k loop unrolled by two, with the
    /// software prefetches of <typeparamref name="TPrefetch"/> every two k steps (<see cref="ShareNextHalfPanel"/> for
    /// <see cref="Block256Six"/>, <see cref="StreamB"/> for <see cref="Strip256"/>; a struct, so each gets its
    /// own compiled loop). Same FMA order per element.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel256SixPanel<TPrefetch>(float* a, float* b, int kc, float* c, nint ldc, float alpha, float beta, TPrefetch prefetch)
        where TPrefetch : struct, IStripPrefetch
    {
        const int Half = GemmPlan.NR / 2;
        Vector256<float> c00 = Vector256<float>.Zero, c01 = Vector256<float>.Zero;
        Vector256<float> c10 = Vector256<float>.Zero, c11 = Vector256<float>.Zero;
        Vector256<float> c20 = Vector256<float>.Zero, c21 = Vector256<float>.Zero;
        Vector256<float> c30 = Vector256<float>.Zero, c31 = Vector256<float>.Zero;
        Vector256<float> c40 = Vector256<float>.Zero, c41 = Vector256<float>.Zero;
        Vector256<float> c50 = Vector256<float>.Zero, c51 = Vector256<float>.Zero;
        float* aPairsEnd = a + ((kc & ~1) * 6);
        for (; a < aPairsEnd; a += 12)
        {
            if (Sse.IsSupported)
            {
                prefetch.Step(a, b);
            }

            Vector256<float> b0 = Vector256.Load(b);
            Vector256<float> b1 = Vector256.Load(b + 8);
            Vector256<float> ar = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ar, b1, c01);
            ar = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ar, b1, c11);
            ar = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(ar, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(ar, b1, c21);
            ar = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(ar, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(ar, b1, c31);
            ar = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(ar, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(ar, b1, c41);
            ar = Vector256.Create(a[5]);
            c50 = Vector256.FusedMultiplyAdd(ar, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(ar, b1, c51);
            b0 = Vector256.Load(b + Half);
            b1 = Vector256.Load(b + Half + 8);
            ar = Vector256.Create(a[6]);
            c00 = Vector256.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ar, b1, c01);
            ar = Vector256.Create(a[7]);
            c10 = Vector256.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ar, b1, c11);
            ar = Vector256.Create(a[8]);
            c20 = Vector256.FusedMultiplyAdd(ar, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(ar, b1, c21);
            ar = Vector256.Create(a[9]);
            c30 = Vector256.FusedMultiplyAdd(ar, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(ar, b1, c31);
            ar = Vector256.Create(a[10]);
            c40 = Vector256.FusedMultiplyAdd(ar, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(ar, b1, c41);
            ar = Vector256.Create(a[11]);
            c50 = Vector256.FusedMultiplyAdd(ar, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(ar, b1, c51);
            b += 2 * Half;
        }

        if ((kc & 1) != 0)
        {
            Vector256<float> b0 = Vector256.Load(b);
            Vector256<float> b1 = Vector256.Load(b + 8);
            Vector256<float> ar = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ar, b1, c01);
            ar = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ar, b1, c11);
            ar = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(ar, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(ar, b1, c21);
            ar = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(ar, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(ar, b1, c31);
            ar = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(ar, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(ar, b1, c41);
            ar = Vector256.Create(a[5]);
            c50 = Vector256.FusedMultiplyAdd(ar, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(ar, b1, c51);
        }

        Store256(c, c00, c01, alpha, beta);
        Store256(c + ldc, c10, c11, alpha, beta);
        Store256(c + (2 * ldc), c20, c21, alpha, beta);
        Store256(c + (3 * ldc), c30, c31, alpha, beta);
        Store256(c + (4 * ldc), c40, c41, alpha, beta);
        Store256(c + (5 * ldc), c50, c51, alpha, beta);
    }

    /// <summary>
    /// The first 4 rows of a 6-row strip panel x 16 columns (8 ymm accumulators): the last, partial strip of a row block
    /// (64-row epilogue bands end with 4 rows) without computing the zero rows. Prefetches as
    /// <see cref="StreamB"/> (one line per k step). Same FMA order per element.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel256FourPanel(float* a, float* b, int kc, float* c, nint ldc, float alpha, float beta, nint bAhead)
    {
        const int Half = GemmPlan.NR / 2;
        Vector256<float> c00 = Vector256<float>.Zero, c01 = Vector256<float>.Zero;
        Vector256<float> c10 = Vector256<float>.Zero, c11 = Vector256<float>.Zero;
        Vector256<float> c20 = Vector256<float>.Zero, c21 = Vector256<float>.Zero;
        Vector256<float> c30 = Vector256<float>.Zero, c31 = Vector256<float>.Zero;
        float* aEnd = a + (kc * 6);
        for (; a < aEnd; a += 6)
        {
            if (Sse.IsSupported)
            {
                Sse.Prefetch0((byte*)b + bAhead);
            }

            Vector256<float> b0 = Vector256.Load(b);
            Vector256<float> b1 = Vector256.Load(b + 8);
            Vector256<float> ar = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ar, b1, c01);
            ar = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ar, b1, c11);
            ar = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(ar, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(ar, b1, c21);
            ar = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(ar, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(ar, b1, c31);
            b += Half;
        }

        Store256(c, c00, c01, alpha, beta);
        Store256(c + ldc, c10, c11, alpha, beta);
        Store256(c + (2 * ldc), c20, c21, alpha, beta);
        Store256(c + (3 * ldc), c30, c31, alpha, beta);
    }

    /// <summary>
    /// <see cref="Kernel256FourPanel"/> with the software prefetches of <typeparamref name="TPrefetch"/> every two k
    /// steps, as <see cref="Kernel256SixPanel{TPrefetch}"/> issues them: the first 4 rows of a 6-row strip panel x 16
    /// columns, for the last strip of a dW row range of at most 4 rows (GemmSlices' pipelined dW loop, whose calls
    /// carry the packing's prefetches). Same FMA order per element, and the same store rule, as both.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel256FourPanel<TPrefetch>(float* a, float* b, int kc, float* c, nint ldc, float alpha, float beta, TPrefetch prefetch)
        where TPrefetch : struct, IStripPrefetch
    {
        const int Half = GemmPlan.NR / 2;
        Vector256<float> c00 = Vector256<float>.Zero, c01 = Vector256<float>.Zero;
        Vector256<float> c10 = Vector256<float>.Zero, c11 = Vector256<float>.Zero;
        Vector256<float> c20 = Vector256<float>.Zero, c21 = Vector256<float>.Zero;
        Vector256<float> c30 = Vector256<float>.Zero, c31 = Vector256<float>.Zero;
        float* aPairsEnd = a + ((kc & ~1) * 6);
        for (; a < aPairsEnd; a += 12)
        {
            if (Sse.IsSupported)
            {
                prefetch.Step(a, b);
            }

            Vector256<float> b0 = Vector256.Load(b);
            Vector256<float> b1 = Vector256.Load(b + 8);
            Vector256<float> ar = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ar, b1, c01);
            ar = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ar, b1, c11);
            ar = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(ar, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(ar, b1, c21);
            ar = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(ar, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(ar, b1, c31);
            b0 = Vector256.Load(b + Half);
            b1 = Vector256.Load(b + Half + 8);
            ar = Vector256.Create(a[6]);
            c00 = Vector256.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ar, b1, c01);
            ar = Vector256.Create(a[7]);
            c10 = Vector256.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ar, b1, c11);
            ar = Vector256.Create(a[8]);
            c20 = Vector256.FusedMultiplyAdd(ar, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(ar, b1, c21);
            ar = Vector256.Create(a[9]);
            c30 = Vector256.FusedMultiplyAdd(ar, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(ar, b1, c31);
            b += 2 * Half;
        }

        if ((kc & 1) != 0)
        {
            Vector256<float> b0 = Vector256.Load(b);
            Vector256<float> b1 = Vector256.Load(b + 8);
            Vector256<float> ar = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ar, b1, c01);
            ar = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ar, b1, c11);
            ar = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(ar, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(ar, b1, c21);
            ar = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(ar, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(ar, b1, c31);
        }

        Store256(c, c00, c01, alpha, beta);
        Store256(c + ldc, c10, c11, alpha, beta);
        Store256(c + (2 * ldc), c20, c21, alpha, beta);
        Store256(c + (3 * ldc), c30, c31, alpha, beta);
    }

    /// <summary>
    /// One 6-row strip against a whole packed B block, the epilogue path's loop order (the other one than
    /// <see cref="Block256Six"/>'s): C[0..rows, 0..ncb] = alpha * A B + beta * C, where <paramref name="a"/> is a 6-row strip
    /// panel (<see cref="GemmPacking.PackA6"/>, zero rows past <paramref name="rows"/>; kc x 6 floats, which stay in L1) and
    /// <paramref name="bBlock"/> the 16-column half-panels of <see cref="GemmPacking.PackBHalves"/>, one contiguous stream
    /// read from L2 with a software prefetch <see cref="EpilogueBAheadBytes"/> ahead. A strip of at most 4 rows runs the
    /// 4-row kernel. Same FMA chain and store rule per element as <see cref="Run"/>, so the same bits.
    /// </summary>
    /// <remarks>
    /// Measured on Zen 3 against <see cref="Block256Six"/> over a 64-row band (11 strips): the band's A strips (33 KiB at
    /// kc = 128) do not stay in L1 next to the B half-panel, and that order was 2-8 % slower than this one.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Strip256(float* a, int rows, float* bBlock, int kc, int ncb, float* c, nint ldc, float alpha, float beta, float* edge, NextStripLines* next = null)
    {
        const int Half = GemmPlan.NR / 2;
        nint ahead = EpilogueBAheadBytes;
        int halves = GemmPlan.CeilDiv(ncb, Half);
        for (int jh = 0; jh < ncb; jh += Half)
        {
            if (next is not null)
            {
                next->Issue(jh / Half, halves);
            }

            int cols = Math.Min(Half, ncb - jh);
            float* b = bBlock + ((nint)jh * kc);
            if (rows == 6 && cols == Half)
            {
                Kernel256SixPanel(a, b, kc, c + jh, ldc, alpha, beta, new StreamB(ahead));
            }
            else if (rows == 4 && cols == Half)
            {
                Kernel256FourPanel(a, b, kc, c + jh, ldc, alpha, beta, ahead);
            }
            else
            {
                if (rows <= 4)
                {
                    Kernel256FourPanel(a, b, kc, edge, GemmPlan.NR, 1f, 0f, ahead);
                }
                else
                {
                    Kernel256SixPanel(a, b, kc, edge, GemmPlan.NR, 1f, 0f, new StreamB(ahead));
                }

                MergeEdge(edge, rows, cols, c + jh, ldc, alpha, beta);
            }
        }
    }

    /// <summary>
    /// The memory the next strip of a strip epilogue band will read or write: its A rows (packed by
    /// <see cref="GemmPacking.PackA6"/> just before it computes) and the epilogue's rows (<see cref="IGemmStripEpilogue.Targets"/>).
    /// <see cref="Strip256"/> prefetches a share of them before each half-panel, so the lines arrive while this strip's
    /// FMAs run instead of stalling the packing, the epilogue's stores or a burst of prefetches.
    /// </summary>
    internal struct NextStripLines
    {
        /// <summary>Most epilogue targets (rows of output or input matrices).</summary>
        public const int MaxTargets = 4;

        private fixed long _bases[MaxTargets];
        private fixed long _strides[MaxTargets];
        private fixed int _bytes[MaxTargets];
        private int _targets;
        private int _rows;
        private byte* _a;
        private nint _lda;
        private int _aRows;
        private int _aLines;

        /// <summary>No target; <paramref name="rows"/> rows of each target get prefetched.</summary>
        public NextStripLines(int rows)
        {
            _rows = rows;
        }

        /// <summary>Adds the A rows of the next strip: <paramref name="rows"/> rows of <paramref name="bytes"/> bytes from <paramref name="first"/>, <paramref name="lda"/> bytes apart.</summary>
        public void SetA(byte* first, nint lda, int rows, int bytes)
        {
            _a = first;
            _lda = lda;
            _aRows = rows;
            _aLines = rows > 0 ? (bytes / 64) + 1 : 0;
        }

        /// <summary>Adds a target: the next strip's rows from <paramref name="first"/> (its first element), <paramref name="stride"/> bytes apart, <paramref name="bytes"/> bytes each.</summary>
        public void AddTarget(byte* first, nint stride, int bytes)
        {
            if (_targets < MaxTargets && bytes > 0)
            {
                _bases[_targets] = (long)first;
                _strides[_targets] = stride;
                _bytes[_targets] = bytes;
                _targets++;
            }
        }

        /// <summary>Prefetches share <paramref name="half"/> of <paramref name="halves"/>: each target's 64 bytes at the half-panel's columns, and 1 / halves of the A lines.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Issue(int half, int halves)
        {
            if (!Sse.IsSupported)
            {
                return;
            }

            nint column = (nint)half * 64;
            for (int t = 0; t < _targets; t++)
            {
                if (column >= _bytes[t])
                {
                    continue;
                }

                byte* p = (byte*)_bases[t] + column;
                nint stride = (nint)_strides[t];
                bool last = column + 64 >= _bytes[t];
                for (int r = 0; r < _rows; r++, p += stride)
                {
                    Sse.Prefetch1(p);
                    if (last)
                    {
                        Sse.Prefetch1((byte*)_bases[t] + (r * stride) + _bytes[t] - 1);
                    }
                }
            }

            int total = _aRows * _aLines;
            int share = (total + halves - 1) / halves;
            int end = Math.Min(total, (half + 1) * share);
            for (int i = half * share; i < end; i++)
            {
                int r = i / _aLines;
                Sse.Prefetch0(_a + (r * _lda) + ((i - (r * _aLines)) * 64));
            }
        }
    }

    /// <summary>The software prefetches <see cref="Kernel256SixPanel{TPrefetch}"/> issues every two k steps.</summary>
    internal interface IStripPrefetch
    {
        /// <summary>Prefetches for the pair of k steps whose A and B rows start at <paramref name="a"/> and <paramref name="b"/>.</summary>
        void Step(float* a, float* b);
    }

    /// <summary>
    /// <see cref="Block256Six"/>'s (A streams from L2, the B half-panel stays in L1): the A stream
    /// <see cref="SixPanelPrefetchBytes"/> ahead and one line of this strip's share of the next half-panel,
    /// <c>next</c> .. <c>end</c>.
    /// </summary>
    private struct ShareNextHalfPanel : IStripPrefetch
    {
        private readonly nint _ahead;
        private readonly float* _end;
        private float* _next;

        public ShareNextHalfPanel(nint ahead, float* next, float* end)
        {
            _ahead = ahead;
            _next = next;
            _end = end;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Step(float* a, float* b)
        {
            Sse.Prefetch0((byte*)a + _ahead);
            Sse.Prefetch0(_next);
            _next = _next < _end ? _next + (GemmPlan.NR / 2) : _next;
        }
    }

    /// <summary>
    /// <see cref="Strip256"/>'s (the A strip stays in L1, the B half-panels stream from L2): the two B lines of
    /// the pair of k steps <c>ahead</c> bytes further on in the contiguous packed B block.
    /// </summary>
    private readonly struct StreamB : IStripPrefetch
    {
        private readonly nint _ahead;

        public StreamB(nint ahead) => _ahead = ahead;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Step(float* a, float* b)
        {
            Sse.Prefetch0((byte*)b + _ahead);
            Sse.Prefetch0((byte*)b + _ahead + 64);
        }
    }

    /// <summary>First float of the 16 columns from <paramref name="jh"/> (a multiple of 16) of a packed B block in either layout.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float* HalfPanel(float* bBlock, int jh, int kc, bool halfPanels) =>
        halfPanels ? bBlock + ((nint)jh * kc) : bBlock + (((nint)(jh >> 5) * GemmPlan.NR) * kc) + (jh & 31);

    /// <summary>Row <paramref name="i"/> of a block of packed A micro-panels (its value for k step p is at <c>+ 8 p</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float* Row(float* aBlock, nint panel, int i) => aBlock + ((i >> 3) * panel) + (i & 7);

    /// <summary>
    /// 6 rows x 16 columns with Vector256: 12 ymm accumulators (enough independent FMA chains to cover two FMA pipes of
    /// latency 4-5) + 2 B loads + 1 broadcast, 12 FMAs per 2 vector loads + 6 broadcasts. Row r of op(A) for k step p is
    /// at <c>ar + 8 p</c> (packed A micro-panels; the 6 rows may lie in two panels); B is a packed 32-column micro-panel.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel256Six(float* a0, float* a1, float* a2, float* a3, float* a4, float* a5, float* b, nint bStride, int kc, float* c, nint ldc, float alpha, float beta)
    {
        Vector256<float> c00 = Vector256<float>.Zero, c01 = Vector256<float>.Zero;
        Vector256<float> c10 = Vector256<float>.Zero, c11 = Vector256<float>.Zero;
        Vector256<float> c20 = Vector256<float>.Zero, c21 = Vector256<float>.Zero;
        Vector256<float> c30 = Vector256<float>.Zero, c31 = Vector256<float>.Zero;
        Vector256<float> c40 = Vector256<float>.Zero, c41 = Vector256<float>.Zero;
        Vector256<float> c50 = Vector256<float>.Zero, c51 = Vector256<float>.Zero;
        nint end = (nint)kc * GemmPlan.MR * sizeof(float);
        for (nint o = 0; o < end; o += GemmPlan.MR * sizeof(float))
        {
            Vector256<float> b0 = Vector256.Load(b);
            Vector256<float> b1 = Vector256.Load(b + 8);
            Vector256<float> ar = Vector256.Create(*(float*)((byte*)a0 + o));
            c00 = Vector256.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ar, b1, c01);
            ar = Vector256.Create(*(float*)((byte*)a1 + o));
            c10 = Vector256.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ar, b1, c11);
            ar = Vector256.Create(*(float*)((byte*)a2 + o));
            c20 = Vector256.FusedMultiplyAdd(ar, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(ar, b1, c21);
            ar = Vector256.Create(*(float*)((byte*)a3 + o));
            c30 = Vector256.FusedMultiplyAdd(ar, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(ar, b1, c31);
            ar = Vector256.Create(*(float*)((byte*)a4 + o));
            c40 = Vector256.FusedMultiplyAdd(ar, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(ar, b1, c41);
            ar = Vector256.Create(*(float*)((byte*)a5 + o));
            c50 = Vector256.FusedMultiplyAdd(ar, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(ar, b1, c51);
            b += bStride;
        }

        Store256(c, c00, c01, alpha, beta);
        Store256(c + ldc, c10, c11, alpha, beta);
        Store256(c + (2 * ldc), c20, c21, alpha, beta);
        Store256(c + (3 * ldc), c30, c31, alpha, beta);
        Store256(c + (4 * ldc), c40, c41, alpha, beta);
        Store256(c + (5 * ldc), c50, c51, alpha, beta);
    }

    /// <summary>
    /// <see cref="Kernel256Six"/> with the k loop unrolled by two and a software prefetch, every two k steps, of the
    /// A lines <see cref="StreamPrefetchBytes"/> ahead in the first and last row's micro-panel (the strip's rows stream
    /// from L2 or L3 while the B half-panel stays in L1). Same FMA order per element, so the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel256SixStream(float* a0, float* a1, float* a2, float* a3, float* a4, float* a5, float* b, nint bStride, int kc, float* c, nint ldc, float alpha, float beta, float* bNext, float* bNextEnd)
    {
        Vector256<float> c00 = Vector256<float>.Zero, c01 = Vector256<float>.Zero;
        Vector256<float> c10 = Vector256<float>.Zero, c11 = Vector256<float>.Zero;
        Vector256<float> c20 = Vector256<float>.Zero, c21 = Vector256<float>.Zero;
        Vector256<float> c30 = Vector256<float>.Zero, c31 = Vector256<float>.Zero;
        Vector256<float> c40 = Vector256<float>.Zero, c41 = Vector256<float>.Zero;
        Vector256<float> c50 = Vector256<float>.Zero, c51 = Vector256<float>.Zero;
        const nint Step = GemmPlan.MR * sizeof(float);
        nint end = (nint)kc * Step;
        nint pairs = (end / (2 * Step)) * (2 * Step);
        nint o = 0;
        for (; o < pairs; o += 2 * Step)
        {
            Sse.Prefetch0((byte*)a0 + o + StreamPrefetchBytes);
            Sse.Prefetch0((byte*)a5 + o + StreamPrefetchBytes);
            Sse.Prefetch0(bNext);
            bNext = bNext < bNextEnd ? bNext + bStride : bNext;
            Vector256<float> b0 = Vector256.Load(b);
            Vector256<float> b1 = Vector256.Load(b + 8);
            Vector256<float> ar = Vector256.Create(*(float*)((byte*)a0 + o));
            c00 = Vector256.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ar, b1, c01);
            ar = Vector256.Create(*(float*)((byte*)a1 + o));
            c10 = Vector256.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ar, b1, c11);
            ar = Vector256.Create(*(float*)((byte*)a2 + o));
            c20 = Vector256.FusedMultiplyAdd(ar, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(ar, b1, c21);
            ar = Vector256.Create(*(float*)((byte*)a3 + o));
            c30 = Vector256.FusedMultiplyAdd(ar, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(ar, b1, c31);
            ar = Vector256.Create(*(float*)((byte*)a4 + o));
            c40 = Vector256.FusedMultiplyAdd(ar, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(ar, b1, c41);
            ar = Vector256.Create(*(float*)((byte*)a5 + o));
            c50 = Vector256.FusedMultiplyAdd(ar, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(ar, b1, c51);
            b0 = Vector256.Load(b + bStride);
            b1 = Vector256.Load(b + bStride + 8);
            ar = Vector256.Create(*(float*)((byte*)a0 + o + Step));
            c00 = Vector256.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ar, b1, c01);
            ar = Vector256.Create(*(float*)((byte*)a1 + o + Step));
            c10 = Vector256.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ar, b1, c11);
            ar = Vector256.Create(*(float*)((byte*)a2 + o + Step));
            c20 = Vector256.FusedMultiplyAdd(ar, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(ar, b1, c21);
            ar = Vector256.Create(*(float*)((byte*)a3 + o + Step));
            c30 = Vector256.FusedMultiplyAdd(ar, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(ar, b1, c31);
            ar = Vector256.Create(*(float*)((byte*)a4 + o + Step));
            c40 = Vector256.FusedMultiplyAdd(ar, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(ar, b1, c41);
            ar = Vector256.Create(*(float*)((byte*)a5 + o + Step));
            c50 = Vector256.FusedMultiplyAdd(ar, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(ar, b1, c51);
            b += 2 * bStride;
        }

        if (o < end)
        {
            Vector256<float> b0 = Vector256.Load(b);
            Vector256<float> b1 = Vector256.Load(b + 8);
            Vector256<float> ar = Vector256.Create(*(float*)((byte*)a0 + o));
            c00 = Vector256.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ar, b1, c01);
            ar = Vector256.Create(*(float*)((byte*)a1 + o));
            c10 = Vector256.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ar, b1, c11);
            ar = Vector256.Create(*(float*)((byte*)a2 + o));
            c20 = Vector256.FusedMultiplyAdd(ar, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(ar, b1, c21);
            ar = Vector256.Create(*(float*)((byte*)a3 + o));
            c30 = Vector256.FusedMultiplyAdd(ar, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(ar, b1, c31);
            ar = Vector256.Create(*(float*)((byte*)a4 + o));
            c40 = Vector256.FusedMultiplyAdd(ar, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(ar, b1, c41);
            ar = Vector256.Create(*(float*)((byte*)a5 + o));
            c50 = Vector256.FusedMultiplyAdd(ar, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(ar, b1, c51);
        }

        Store256(c, c00, c01, alpha, beta);
        Store256(c + ldc, c10, c11, alpha, beta);
        Store256(c + (2 * ldc), c20, c21, alpha, beta);
        Store256(c + (3 * ldc), c30, c31, alpha, beta);
        Store256(c + (4 * ldc), c40, c41, alpha, beta);
        Store256(c + (5 * ldc), c50, c51, alpha, beta);
    }

    /// <summary>2 rows x all 32 columns of a B micro-panel with Vector256 (8 ymm accumulators); rows as in <see cref="Kernel256Six"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel256Two(float* a0, float* a1, float* b, float* bHigh, nint bStride, int kc, float* c, nint ldc, float alpha, float beta)
    {
        Vector256<float> c00 = Vector256<float>.Zero, c01 = Vector256<float>.Zero;
        Vector256<float> c02 = Vector256<float>.Zero, c03 = Vector256<float>.Zero;
        Vector256<float> c10 = Vector256<float>.Zero, c11 = Vector256<float>.Zero;
        Vector256<float> c12 = Vector256<float>.Zero, c13 = Vector256<float>.Zero;
        nint end = (nint)kc * GemmPlan.MR * sizeof(float);
        for (nint o = 0; o < end; o += GemmPlan.MR * sizeof(float))
        {
            Vector256<float> b0 = Vector256.Load(b);
            Vector256<float> b1 = Vector256.Load(b + 8);
            Vector256<float> b2 = Vector256.Load(bHigh);
            Vector256<float> b3 = Vector256.Load(bHigh + 8);
            Vector256<float> ar = Vector256.Create(*(float*)((byte*)a0 + o));
            c00 = Vector256.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ar, b1, c01);
            c02 = Vector256.FusedMultiplyAdd(ar, b2, c02);
            c03 = Vector256.FusedMultiplyAdd(ar, b3, c03);
            ar = Vector256.Create(*(float*)((byte*)a1 + o));
            c10 = Vector256.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ar, b1, c11);
            c12 = Vector256.FusedMultiplyAdd(ar, b2, c12);
            c13 = Vector256.FusedMultiplyAdd(ar, b3, c13);
            b += bStride;
            bHigh += bStride;
        }

        Store256(c, c00, c01, alpha, beta);
        Store256(c + 16, c02, c03, alpha, beta);
        Store256(c + ldc, c10, c11, alpha, beta);
        Store256(c + ldc + 16, c12, c13, alpha, beta);
    }

    /// <summary>One 4 x 16 quarter of the register tile with Vector256 (8 ymm accumulators).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel256Quarter(float* a, float* b, int kc, float* c, nint ldc, float alpha, float beta)
    {
        Vector256<float> c00 = Vector256<float>.Zero, c01 = Vector256<float>.Zero;
        Vector256<float> c10 = Vector256<float>.Zero, c11 = Vector256<float>.Zero;
        Vector256<float> c20 = Vector256<float>.Zero, c21 = Vector256<float>.Zero;
        Vector256<float> c30 = Vector256<float>.Zero, c31 = Vector256<float>.Zero;
        for (int p = 0; p < kc; p++)
        {
            Vector256<float> b0 = Vector256.Load(b);
            Vector256<float> b1 = Vector256.Load(b + 8);
            Vector256<float> ar = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(ar, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(ar, b1, c01);
            ar = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(ar, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(ar, b1, c11);
            ar = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(ar, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(ar, b1, c21);
            ar = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(ar, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(ar, b1, c31);
            a += GemmPlan.MR;
            b += GemmPlan.NR;
        }

        Store256(c, c00, c01, alpha, beta);
        Store256(c + ldc, c10, c11, alpha, beta);
        Store256(c + (2 * ldc), c20, c21, alpha, beta);
        Store256(c + (3 * ldc), c30, c31, alpha, beta);
    }

    /// <summary>The AVX2 store rule of a 16-wide tile row: <c>alpha acc</c> when beta is 0, else <c>fma(acc, alpha, beta * c)</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Store256(float* c, Vector256<float> x0, Vector256<float> x1, float alpha, float beta)
    {
        Vector256<float> va = Vector256.Create(alpha);
        if (beta == 0f)
        {
            Vector256.Store(x0 * va, c);
            Vector256.Store(x1 * va, c + 8);
        }
        else
        {
            Vector256<float> vb = Vector256.Create(beta);
            Vector256.Store(Vector256.FusedMultiplyAdd(x0, va, vb * Vector256.Load(c)), c);
            Vector256.Store(Vector256.FusedMultiplyAdd(x1, va, vb * Vector256.Load(c + 8)), c + 8);
        }
    }

    private static void KernelScalar(float* a, float* b, int kc, float* c, nint ldc, float alpha, float beta)
    {
        float* acc = stackalloc float[GemmPlan.MR * GemmPlan.NR];
        new Span<float>(acc, GemmPlan.MR * GemmPlan.NR).Clear();
        for (int p = 0; p < kc; p++)
        {
            float* ap = a + (p * GemmPlan.MR);
            float* bp = b + (p * GemmPlan.NR);
            for (int r = 0; r < GemmPlan.MR; r++)
            {
                float ar = ap[r];
                float* accRow = acc + (r * GemmPlan.NR);
                for (int j = 0; j < GemmPlan.NR; j++)
                {
                    accRow[j] = MathF.FusedMultiplyAdd(ar, bp[j], accRow[j]);
                }
            }
        }

        MergeEdge(acc, GemmPlan.MR, GemmPlan.NR, c, ldc, alpha, beta);
    }
}
