using System;

namespace Aced.Core;

/// <summary>
/// The fixed blocking of one SGEMM call. Everything here is a function of (m, n, k) and of whether the
/// epilogue path is used, never of the thread count, so the floating-point summation order of every
/// element of C is the same whatever <see cref="GemmControl.MaxDegreeOfParallelism"/> is.
/// </summary>
/// <remarks>
/// Register tile MR x NR = 8 x 32: 16 zmm accumulators + 2 zmm for the B row + 1 broadcast = 19 of the
/// 32 AVX-512 registers, so the JIT never spills; each k step issues 16 FMAs against 2 vector loads and
/// 8 broadcast loads, which keeps the (on Zen 4 double-pumped) FMA pipes the bottleneck.
/// Cache blocking for this machine (AMD EPYC Zen 4: L1d 32 KiB, L2 1 MiB per core, L3 32 MiB):
/// kc &lt;= 384 keeps an A micro-panel (8 x kc, 12 KiB) plus the streamed B micro-panel close to L1;
/// the kc x nc slice of packed B (nc &lt;= 256: &lt;= 384 KiB) stays resident in L2 while all micro-panels
/// of a C tile stream past it; mc &lt;= 128 keeps the C tile (128 KiB) in L2 as well.
/// </remarks>
internal readonly struct GemmPlan
{
    /// <summary>Rows of the register tile.</summary>
    public const int MR = 8;

    /// <summary>Columns of the register tile (two Vector512).</summary>
    public const int NR = 32;

    /// <summary>Largest k block.</summary>
    public const int KcMax = 384;

    /// <summary>Largest column block.</summary>
    public const int NcMax = 256;

    /// <summary>Largest row block of a plain C tile.</summary>
    public const int McMax = 128;

    /// <summary>Smallest row block used when splitting rows to create parallel work.</summary>
    public const int McMin = 32;

    /// <summary>Row-band height of the epilogue path.</summary>
    public const int McEpilogue = 64;

    /// <summary>Tile count the plain partition tries to reach (for dynamic load balancing).</summary>
    public const int MinTiles = 12;

    public GemmPlan(int m, int n, int k, bool epilogue)
    {
        M = m;
        N = n;
        K = k;
        KBlocks = k == 0 ? 1 : CeilDiv(k, KcMax);
        Kc = k == 0 ? 0 : CeilDiv(k, KBlocks);

        int colTiles = Math.Max(1, CeilDiv(n, NcMax));
        Nc = RoundUp(CeilDiv(n, colTiles), NR);
        ColTiles = Math.Max(1, CeilDiv(n, Nc));

        int rowTiles = Math.Max(1, CeilDiv(m, epilogue ? McEpilogue : McMax));
        if (!epilogue)
        {
            int wanted = CeilDiv(MinTiles, ColTiles);
            rowTiles = Math.Max(rowTiles, Math.Min(wanted, Math.Max(1, m / McMin)));
        }

        Mc = RoundUp(CeilDiv(m, rowTiles), MR);
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

    public static int CeilDiv(int x, int y) => (int)(((long)x + y - 1) / y);

    public static int RoundUp(int x, int multiple) => CeilDiv(x, multiple) * multiple;
}
