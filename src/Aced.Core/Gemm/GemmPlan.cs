using System;

namespace Aced.Core;

/// <summary>
/// The fixed blocking of one SGEMM call. Everything here is a function of (m, n, k), of whether the
/// epilogue path is used and (for the plain row block only, which never changes a bit) of the kernel, never of the
/// thread count, so the floating-point summation order of every element of C is the same whatever
/// <see cref="GemmControl.MaxDegreeOfParallelism"/> is.
/// </summary>
/// <remarks>
/// Register tile MR x NR = 8 x 32: 16 zmm accumulators + 2 zmm for the B row + 1 broadcast = 19 of the
/// 32 AVX-512 registers, so the JIT never spills; each k step issues 16 FMAs against 2 vector loads and
/// 8 broadcast loads, which keeps the (on Zen 4 double-pumped) FMA pipes the bottleneck. The AVX2 kernel reads
/// the same packed panels with a 6 x 16 tile in 6-row strips across the row block (see <see cref="GemmIsa.Vector256"/>).
/// <para>
/// Cache blocking. kc &lt;= 384 is fixed on every machine: the k blocks are where each element's FMA chain is
/// rounded into C, so kc decides the bits; a fixed kc keeps results identical across machines, ISAs and thread
/// counts (an A micro-panel, 8 x kc = 12 KiB, plus the streamed B micro-panel stay close to a 32 KiB L1). The
/// plain path's column block nc and row block mc do not change any bit, so they follow the L2 read from the
/// machine (<see cref="CpuCaches"/>): the kc x nc slice of packed B takes 3/8 of L2 and stays resident while
/// all micro-panels of a C tile stream past it, and the mc x nc C tile takes 1/8 of L2 (Zen 4, L2 1 MiB:
/// nc = 256, mc = 128; Zen 3, 512 KiB: nc = 128, mc = 128; 256 KiB: nc = 64, mc = 128; with the AVX2 strips mc is
/// rounded down to a multiple of <see cref="StripQuantum"/>, 120). The epilogue path's
/// nc and band height stay fixed (256, 64) because an epilogue's per-row folds see its column tiles, so they
/// too decide bits (the softmax selection's logit cache relies on this).
/// </para>
/// </remarks>
internal readonly struct GemmPlan
{
    /// <summary>Rows of the register tile.</summary>
    public const int MR = 8;

    /// <summary>Columns of the register tile (two Vector512).</summary>
    public const int NR = 32;

    /// <summary>Largest k block.</summary>
    public const int KcMax = 384;

    /// <summary>Largest column block of the epilogue path (fixed: it decides the epilogue's fold order).</summary>
    public const int NcMax = 256;

    /// <summary>Largest row block of a plain C tile on the fallback L2 (1 MiB).</summary>
    public const int McMax = 128;

    /// <summary>Largest column block of the plain path, from this machine's L2 (256 on a 1 MiB L2).</summary>
    public static readonly int NcPlain = PlainColumnBlock(CpuCaches.L2);

    /// <summary>Largest row block of the plain path, from this machine's L2 (128 on a 1 MiB L2).</summary>
    public static readonly int McPlain = PlainRowBlock(CpuCaches.L2, NcPlain);

    /// <summary>Smallest row block used when splitting rows to create parallel work.</summary>
    public const int McMin = 32;

    /// <summary>Row-band height of the epilogue path.</summary>
    public const int McEpilogue = 64;

    /// <summary>Tile count the plain partition tries to reach (for dynamic load balancing).</summary>
    public const int MinTiles = 12;

    /// <summary>Row-block quantum of the plain path with the AVX2 strips: a multiple of the 6-row strip and the 8-row panel.</summary>
    public const int StripQuantum = 24;

    /// <summary>
    /// Whether plain row blocks are multiples of <see cref="StripQuantum"/> when the AVX2 strips run (mc = 120 instead of
    /// 128 on a 1 MiB L2; a same-run A/B baseline turns it off). Row blocks never change a bit.
    /// </summary>
    internal static bool StripRowBlocks { get; set; } = true;

    public GemmPlan(int m, int n, int k, bool epilogue)
    {
        M = m;
        N = n;
        K = k;
        KBlocks = k == 0 ? 1 : CeilDiv(k, KcMax);
        Kc = k == 0 ? 0 : CeilDiv(k, KBlocks);

        int colTiles = Math.Max(1, CeilDiv(n, epilogue ? NcMax : NcPlain));
        Nc = RoundUp(CeilDiv(n, colTiles), NR);
        ColTiles = Math.Max(1, CeilDiv(n, Nc));

        // The AVX2 strips compute 6 rows at a time: plain row blocks are then multiples of 24 (6 strips of 4 panels),
        // so only the last row block of a call has rows left over for the slower 2-row kernel.
        int quantum = !epilogue && StripRowBlocks && GemmKernels.ActiveIsa == GemmIsa.Vector256 && GemmKernels.StripsEnabled ? StripQuantum : MR;
        int rowTiles = Math.Max(1, CeilDiv(m, epilogue ? McEpilogue : Math.Max(quantum, McPlain / quantum * quantum)));
        if (!epilogue)
        {
            int wanted = CeilDiv(MinTiles, ColTiles);
            rowTiles = Math.Max(rowTiles, Math.Min(wanted, Math.Max(1, m / McMin)));
        }

        Mc = RoundUp(CeilDiv(m, rowTiles), quantum);
        RowTiles = Math.Max(1, CeilDiv(m, Mc));
    }

    public int M { get; }

    public int N { get; }

    public int K { get; }

    /// <summary>k block length (all blocks but the last have exactly this length).</summary>
    public int Kc { get; }

    /// <summary>Number of k blocks (at least 1; one empty block when k = 0).</summary>
    public int KBlocks { get; }

    /// <summary>Row block height (a multiple of <see cref="MR"/>).</summary>
    public int Mc { get; }

    /// <summary>Column block width (a multiple of <see cref="NR"/>).</summary>
    public int Nc { get; }

    public int RowTiles { get; }

    public int ColTiles { get; }

    /// <summary>Floats of packed B for one column block (all of k, padded to <see cref="NR"/>).</summary>
    public long PackedBlockFloats => (long)K * Nc;

    /// <summary>nc with the kc x nc packed-B slice in 3/8 of <paramref name="l2Bytes"/>, a multiple of NR in [64, 1024].</summary>
    internal static int PlainColumnBlock(long l2Bytes)
    {
        long nc = l2Bytes * 3 / 8 / (KcMax * sizeof(float));
        nc = nc / NR * NR;
        return (int)Math.Clamp(nc, 64, 1024);
    }

    /// <summary>mc with the mc x nc C tile in 1/8 of <paramref name="l2Bytes"/>, a multiple of MR in [32, 512].</summary>
    internal static int PlainRowBlock(long l2Bytes, int nc)
    {
        long mc = l2Bytes / 8 / ((long)nc * sizeof(float));
        mc = mc / MR * MR;
        return (int)Math.Clamp(mc, McMin, 512);
    }

    public static int CeilDiv(int x, int y) => (int)(((long)x + y - 1) / y);

    public static int RoundUp(int x, int multiple) => CeilDiv(x, multiple) * multiple;
}
