using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using System.Threading;

namespace Aced.Core;

/// <summary>
/// The blocked SGEMM loops (GotoBLAS/BLIS structure): for a C tile, for each k block, for each 8-row
/// micro-panel of A (packed once), for each 32-column micro-panel of B (packed once per thread and call, or once
/// per call into a buffer all threads share, see <see cref="SharedPackedB"/>), run the 8 x 32 micro-kernel. Every C
/// element is therefore accumulated over k in the same order (k blocks in increasing order, p increasing inside a
/// block) whichever thread owns its tile.
/// </summary>
internal static unsafe class GemmDriver
{
    private static long s_serial;

    /// <summary>A fresh id for a call, used to invalidate per-thread packed-B caches.</summary>
    internal static long NextSerial() => Interlocked.Increment(ref s_serial);

    /// <summary>Chooses the number of threads for a call of 2mnk flops split into <paramref name="tiles"/> tiles.</summary>
    internal static int Degree(int m, int n, int k, int tiles)
    {
        double flops = 2.0 * m * n * k;
        if (tiles < 2 || flops < GemmControl.ParallelThreshold)
        {
            return 1;
        }

        return Math.Min(AcedControl.MaxDegreeOfParallelism, tiles);
    }

    /// <summary>Packs k block <paramref name="kb"/> of op(B)[:, jb * nc .. +nc] into <paramref name="dst"/>.</summary>
    /// <remarks>
    /// Layout: the micro-panel of columns jr .. jr+32 begins at <c>dst + jr * kcb</c> and holds <c>kcb x 32</c>
    /// floats. A whole column block stores k block kb at <c>p0 * ncPad</c> (p0 = kb * kc).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackBBlock(GemmJob job, int jb, int kb, float* dst)
    {
        GemmPlan plan = job.Plan;
        int j0 = jb * plan.Nc;
        int ncb = Math.Min(plan.Nc, plan.N - j0);
        int ncPad = GemmPlan.RoundUp(ncb, GemmPlan.NR);
        int p0 = kb * plan.Kc;
        int kcb = Math.Min(plan.Kc, plan.K - p0);
        int jr = 0;
        bool halves = job.HalfPanels;
        if (job.TransB == Transpose.None && PackBByRows)
        {
            // Whole rows of the block at a time (one sequential read per k row instead of a 4 KiB-strided read per
            // micro-panel), for the full 32-column micro-panels; the last, partial one below.
            int full = ncb / GemmPlan.NR * GemmPlan.NR;
            if (halves)
            {
                GemmPacking.PackBRowsHalves(job.B, job.Ldb, p0, kcb, j0, full, dst);
            }
            else
            {
                GemmPacking.PackBRows(job.B, job.Ldb, p0, kcb, j0, full, dst);
            }

            jr = full;
        }

        for (; jr < ncPad; jr += GemmPlan.NR)
        {
            if (halves)
            {
                GemmPacking.PackBHalves(job.TransB, job.B, job.Ldb, p0, kcb, j0 + jr, Math.Min(GemmPlan.NR, ncb - jr), dst + ((nint)jr * kcb));
            }
            else
            {
                GemmPacking.PackB(job.TransB, job.B, job.Ldb, p0, kcb, j0 + jr, Math.Min(GemmPlan.NR, ncb - jr), dst + ((nint)jr * kcb));
            }
        }
    }

    /// <summary>Whether a not-transposed B is packed whole rows at a time (<see cref="GemmPacking.PackBRows"/>; a same-run A/B baseline turns it off).</summary>
    internal static bool PackBByRows { get; set; } = true;

    /// <summary>Most row parts a tail tile is split into (see <see cref="TailParts"/>).</summary>
    internal const int MaxTailParts = 4;

    /// <summary>Fewest rows of a tail part (shorter parts would run the AVX2 strips mostly as 2-row blocks).</summary>
    internal const int MinTailPartRows = 32;

    /// <summary>Whether the tail tiles are split (<see cref="TailTiles"/>; a same-run A/B baseline turns it off).</summary>
    internal static bool TailSplit { get; set; } = true;

    /// <summary>Row parts each split tail tile runs as: mc / 32 rows, at most <see cref="MaxTailParts"/> (1: no split).</summary>
    internal static int TailParts(GemmPlan plan) => Math.Clamp(plan.Mc / MinTailPartRows, 1, MaxTailParts);

    /// <summary>
    /// Number of whole tiles at the end of a plain call that run as <see cref="TailParts"/> row parts each, so that
    /// threads finish together: with <paramref name="degree"/> threads the last 2 (degree - 1) tiles (at most half of
    /// them), none on one thread or when the row blocks are too short to split. Which thread computes which rows never
    /// changes a bit.
    /// </summary>
    internal static int TailTiles(GemmPlan plan, int degree) =>
        !TailSplit || degree <= 1 || TailParts(plan) < 2 ? 0 : Math.Min((plan.RowTiles * plan.ColTiles) / 2, 2 * (degree - 1));

    /// <summary>Number of work items of a plain call with <paramref name="tailTiles"/> split tail tiles.</summary>
    internal static int PlainItemCount(GemmPlan plan, int tailTiles) =>
        (plan.RowTiles * plan.ColTiles) + (tailTiles * (TailParts(plan) - 1));

    /// <summary>
    /// Whether a plain call on several threads shares one packed B (<see cref="SharedPackedB"/>; a same-run A/B baseline
    /// turns it off).
    /// </summary>
    internal static bool ShareB { get; set; } = true;

    /// <summary>
    /// Whether a plain call of <paramref name="plan"/> on <paramref name="degree"/> threads packs B once into a buffer
    /// every thread reads (<see cref="SharedPackedB"/>) and runs whole row blocks as work items: with more than one
    /// thread, when all of B fits the packed-B budget as one column group (so no packed block is ever overwritten during
    /// the call) and there are at least two row blocks per thread.
    /// </summary>
    internal static bool SharesB(GemmPlan plan, int degree) =>
        ShareB && degree > 1 && plan.RowTiles >= 2 * degree && GemmWorkspace.BSlots(plan) >= plan.ColTiles;

    /// <summary>
    /// Number of leading work items of a shared-B plain call that are whole row blocks (every column block, so a thread
    /// packs its rows of A once): all but the last 2 (degree - 1) row blocks, whose tiles stay separate items (and the
    /// last <see cref="TailTiles"/> of them row parts) so that threads finish together.
    /// </summary>
    internal static int RowBlockItems(GemmPlan plan, int degree) =>
        SharesB(plan, degree) ? plan.RowTiles - Math.Min(plan.RowTiles / 2, 2 * (degree - 1)) : 0;

    /// <summary>
    /// Sets up <paramref name="job"/>'s partition for <paramref name="degree"/> threads (split tail tiles, whole row-block
    /// items and the shared packed B when <see cref="SharesB"/>) and returns its number of work items. The partition
    /// decides only which thread computes which elements, never how: results are the same bits for any degree.
    /// </summary>
    internal static int PreparePlain(PlainGemmJob job, int degree)
    {
        GemmPlan plan = job.Plan;
        // Only when every tile runs the strips, i.e. also gets a packed A row block (GemmWorkspace.PackedA).
        job.HalfPanels = job.Isa == GemmIsa.Vector256 && GemmKernels.StripsEnabled && GemmKernels.HalfPanels
            && (long)(plan.Mc + 6) * plan.K <= GemmWorkspace.MultiSlotBudget;
        job.SixRowA = job.HalfPanels && GemmKernels.SixRowPanels;
        job.TailTiles = TailTiles(plan, degree);
        job.RowBlockItems = RowBlockItems(plan, degree);
        job.SharedB = job.RowBlockItems > 0 ? job.PrepareSharedB() : null;
        job.Group = PlainGroup(plan, degree, job.SharedB is not null, job.Isa);
        job.CallA = CallAOrder(plan, degree, job.Isa);
        if (job.CallA)
        {
            job.Group = 1;
        }
        return PlainItemCount(plan, job.TailTiles) - (job.RowBlockItems * (plan.ColTiles - 1));
    }

    /// <summary>
    /// The packed k block <paramref name="kb"/> of op(B) column block <paramref name="jb"/> in the call's shared buffer
    /// (column block jb at <c>jb * PackedBlockFloats</c>, k block kb at <c>+ kb * Kc * ncPad</c>). The first thread to
    /// ask for a block claims it (unpacked -> packing) and packs it; a thread that finds it being packed waits for that
    /// packer, which is running the (non-blocking) packing loop, after packing later unclaimed k blocks of the same column
    /// block itself (threads start a call in lock step on the first column block, so this splits its packing between
    /// them instead of idling); a thread that finds it ready reads it. Nobody ever waits for a block nobody is packing
    /// (a packer that throws releases its block for the waiters to claim), so the call cannot deadlock whichever threads
    /// join it, and a call no helper joins packs everything itself.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float* SharedPackedB(PlainGemmJob job, int jb, int kb)
    {
        GemmPlan plan = job.Plan;
        int ncPad = GemmPlan.RoundUp(Math.Min(plan.Nc, plan.N - (jb * plan.Nc)), GemmPlan.NR);
        float* dst = job.SharedB + (jb * plan.PackedBlockFloats) + ((nint)kb * plan.Kc * ncPad);
        ref int state = ref job.BState[(jb * plan.KBlocks) + kb];
        if (Volatile.Read(ref state) == PlainGemmJob.BlockReady)
        {
            return dst;
        }

        TryPackShared(job, jb, kb, ncPad);
        if (Volatile.Read(ref state) == PlainGemmJob.BlockReady)
        {
            return dst;
        }

        // Another thread is packing this block: pack later k blocks of the column block meanwhile (the threads of a
        // call start in lock step on the same column block), then wait for the packer.
        for (int next = kb + 1; next < plan.KBlocks && Volatile.Read(ref state) != PlainGemmJob.BlockReady; next++)
        {
            TryPackShared(job, jb, next, ncPad);
        }

        SpinWait spin = default;
        while (Volatile.Read(ref state) != PlainGemmJob.BlockReady)
        {
            // A packer that failed released the block: pack it here.
            TryPackShared(job, jb, kb, ncPad);
            spin.SpinOnce(sleep1Threshold: -1);
        }

        return dst;
    }

    /// <summary>Packs shared k block (jb, kb) if no thread has claimed it yet.</summary>
    private static void TryPackShared(PlainGemmJob job, int jb, int kb, int ncPad)
    {
        GemmPlan plan = job.Plan;
        ref int state = ref job.BState[(jb * plan.KBlocks) + kb];
        if (Volatile.Read(ref state) != PlainGemmJob.BlockUnpacked
            || Interlocked.CompareExchange(ref state, PlainGemmJob.BlockPacking, PlainGemmJob.BlockUnpacked) != PlainGemmJob.BlockUnpacked)
        {
            return;
        }

        try
        {
            PackBBlock(job, jb, kb, job.SharedB + (jb * plan.PackedBlockFloats) + ((nint)kb * plan.Kc * ncPad));
        }
        catch
        {
            Volatile.Write(ref state, PlainGemmJob.BlockUnpacked);
            throw;
        }

        Volatile.Write(ref state, PlainGemmJob.BlockReady);
    }

    /// <summary>
    /// Whether AVX-512 plain calls on several threads run their tiles in column groups of at most <see cref="PlainGroupFloats"/>
    /// of packed B per thread (a same-run A/B baseline turns it off: groups of <see cref="GemmWorkspace.BSlots"/>). Which
    /// thread computes which tile in which order never changes a bit.
    /// </summary>
    internal static bool SmallGroups { get; set; } = true;

    /// <summary>Fewest threads of a call with <see cref="SmallGroups"/> (2: one thread keeps the larger groups).</summary>
    internal static int SmallGroupsMinDegree { get; set; } = 2;

    /// <summary>Largest packed B (floats) of one thread's plain column group with <see cref="SmallGroups"/> (1 Mi floats, 4 MiB).</summary>
    internal static long PlainGroupFloats { get; set; } = 1L << 20;

    /// <summary>
    /// Whether one-thread AVX-512 plain calls whose packed B exceeds one column group (so A would be packed once per group)
    /// run column-block-major instead (groups of one: the packed B in use is a single column block, 4 MiB on a 1 MiB L2,
    /// which stays in L3), with every row block of A packed once per call and kept (<see cref="GemmWorkspace.PackedACall"/>,
    /// read back sequentially for each column block). 4096^3: A/B 1.042 and 1.052 (A was packed 4 times and the kernel
    /// read a 16 MiB B group from memory). Which tile runs in which order never changes a bit.
    /// </summary>
    internal static bool CallAPacking { get; set; } = true;

    /// <summary>Largest packed A (floats) kept for a call with <see cref="CallAPacking"/> (16 Mi floats, 64 MiB: 4096 x 4096).</summary>
    internal static long CallAFloats { get; set; } = 16L << 20;

    /// <summary>
    /// Whether a <see cref="CallAPacking"/> call's tiles that read the call-long packed A back (every column block after
    /// the first) run each micro-panel's first 8 x 32 kernel with a software prefetch of the A stream
    /// <see cref="CallAStreamBytes"/> ahead (<see cref="GemmKernels.Kernel512AStream"/>; the other seven kernels of the
    /// micro-panel find it in L1). That A streams from memory (64 MiB at 4096^3), 4 KiB page by 4 KiB page, and the
    /// hardware prefetchers did not keep up: 4096^3 on 1 thread A/B 1.054, 1.059, 1.071 (docs/PERFORMANCE.md, "gemm17"). The
    /// last panel's prefetches reach past the buffer, which a prefetch never faults on. Never changes a bit.
    /// </summary>
    internal static bool CallAStream { get; set; } = true;

    /// <summary>Prefetch distance of <see cref="CallAStream"/> in bytes (2 KiB: 64 k steps of the 8-row micro-panel).</summary>
    internal static int CallAStreamBytes { get; set; } = 2048;

    /// <summary>
    /// Whether a plain call runs with <see cref="CallAPacking"/>: one thread, AVX-512, several column groups of several
    /// blocks each (1024^3 and 2048^3 have one group and pack A once already: unchanged; measured 0.945 at 1024^3 without
    /// this condition), and all of A within <see cref="CallAFloats"/>.
    /// </summary>
    internal static bool CallAOrder(GemmPlan plan, int degree, GemmIsa isa)
    {
        int slots = GemmWorkspace.BSlots(plan);
        return CallAPacking && degree == 1 && isa == GemmIsa.Vector512 && slots > 1 && slots < plan.ColTiles
            && (long)plan.RowTiles * plan.Mc * plan.K <= CallAFloats;
    }

    /// <summary>
    /// Number of column blocks of a plain call's column group (tiles run row-block-major inside a group, reusing the
    /// packed A row block): <see cref="GemmWorkspace.BSlots"/>; on several threads with <see cref="SmallGroups"/> at most
    /// as many as fit <see cref="PlainGroupFloats"/> (the threads' packed B groups then share L3 instead of spilling to
    /// memory); at least 1 (1: column-block-major order, A packed micro-panel by micro-panel). Only the AVX-512 kernel: the
    /// AVX2 strips pack whole row blocks, which small groups would repack per tile (0.982 at 4096^3 on 2 threads). A
    /// shared-B call keeps one group of all column blocks (its whole row-block items rely on it).
    /// </summary>
    internal static int PlainGroup(GemmPlan plan, int degree, bool sharedB, GemmIsa isa)
    {
        int slots = Math.Max(1, GemmWorkspace.BSlots(plan));
        return SmallGroups && degree >= SmallGroupsMinDegree && !sharedB && isa == GemmIsa.Vector512 ? (int)Math.Clamp(PlainGroupFloats / Math.Max(1, plan.PackedBlockFloats), 1, slots) : slots;
    }

    /// <summary>
    /// Computes work item <paramref name="item"/> of a plain call: a whole row block (the first
    /// <see cref="PlainGemmJob.RowBlockItems"/> items of a shared-B call), a whole C tile, or (for the last
    /// <see cref="PlainGemmJob.TailTiles"/> tiles) one of its <see cref="TailParts"/> row parts.
    /// </summary>
    /// <remarks>
    /// Tiles run in groups of G = <see cref="PlainGemmJob.Group"/> column blocks (<see cref="PlainGroup"/>: the column
    /// blocks of packed B a thread caches, fewer with <see cref="SmallGroups"/>), row-block major inside a group: a thread's
    /// consecutive tiles then reuse both its packed A row block and its cached packed B. G = 1 is plain column-block-major
    /// order (with <see cref="CallAPacking"/> over A packed once per call). A shared-B call has one group (all column
    /// blocks), so row block ib is tiles ib * ColTiles .. +ColTiles.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PlainItem(PlainGemmJob job, int item, GemmWorkspace ws)
    {
        GemmPlan plan = job.Plan;
        int rowItems = job.RowBlockItems;
        if (item < rowItems)
        {
            int rowStart = item * plan.Mc;
            int rows = Math.Min(plan.Mc, plan.M - rowStart);
            for (int c = 0; c < plan.ColTiles; c++)
            {
                PlainTile(job, rowStart, rows, item, c, ws);
            }

            return;
        }

        int tiles = plan.RowTiles * plan.ColTiles;
        int whole = tiles - job.TailTiles;
        int parts = TailParts(plan);
        int tile = item - rowItems + (rowItems * plan.ColTiles);
        int part = -1;
        if (tile >= whole)
        {
            int q = tile - whole;
            tile = whole + (q / parts);
            part = q % parts;
        }

        int group = job.Group;
        int g = tile / (plan.RowTiles * group);
        int width = Math.Min(group, plan.ColTiles - (g * group));
        int u = tile - (g * plan.RowTiles * group);
        int ib = u / width;
        int jb = (g * group) + (u % width);
        int i0 = ib * plan.Mc;
        int mcb = Math.Min(plan.Mc, plan.M - i0);
        if (part < 0)
        {
            PlainTile(job, i0, mcb, ib, jb, ws);
            return;
        }

        // A part's packed rows are cached under their own key (past the whole row blocks), never as the whole block.
        int h = GemmPlan.RoundUp(GemmPlan.CeilDiv(mcb, parts), plan.Mc % GemmPlan.StripQuantum == 0 ? GemmPlan.StripQuantum : GemmPlan.MR);
        int r0 = part * h;
        if (r0 < mcb)
        {
            PlainTile(job, i0 + r0, Math.Min(h, mcb - r0), plan.RowTiles + (ib * parts) + part, jb, ws);
        }
    }

    /// <summary>
    /// Computes rows <paramref name="i0"/> .. +<paramref name="mcb"/> of C column block <paramref name="jb"/> of a plain
    /// call: C = alpha * op(A) op(B) + beta * C. <paramref name="aKey"/> names these rows for the packed-A cache.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PlainTile(PlainGemmJob job, int i0, int mcb, int aKey, int jb, GemmWorkspace ws)
    {
        GemmPlan plan = job.Plan;
        bool rowMajorOrder = job.Group > 1;
        int mcPad = GemmPlan.RoundUp(mcb, GemmPlan.MR);
        int j0 = jb * plan.Nc;
        int ncb = Math.Min(plan.Nc, plan.N - j0);
        float* edge = ws.Edge;
        bool aPacked = false;
        GemmIsa isa = job.Isa;

        // The AVX2 path always packs the whole row block first (GemmKernels.Block256 runs 6-row strips across it).
        bool strips = job.HalfPanels || (isa == GemmIsa.Vector256 && GemmKernels.StripsEnabled);
        bool wholeA = rowMajorOrder || strips;
        bool sixRowA = job.SixRowA;
        if (sixRowA)
        {
            mcPad = GemmPlan.RoundUp(mcb, 6);
        }

        bool callA = job.CallA && aKey < plan.RowTiles && !strips;
        float* aBlock = callA ? ws.PackedACall(job, aKey, out aPacked) : wholeA ? ws.PackedA(job, aKey, mcPad, out aPacked) : null;
        float alpha = job.Alpha;
        nint ldc = job.Ldc;
        float* cTile = job.C + ((nint)i0 * ldc) + j0;

        for (int kb = 0; kb < plan.KBlocks; kb++)
        {
            int p0 = kb * plan.Kc;
            int kcb = Math.Min(plan.Kc, plan.K - p0);
            float beta = kb == 0 ? job.Beta : 1f;
            float* bBlock = job.SharedB is not null ? SharedPackedB(job, jb, kb) : ws.PackedB(job, jb, kb);
            if (sixRowA)
            {
                // job.SixRowA implies the budget check that makes aBlock non-null.
                float* a6 = aBlock + ((nint)p0 * mcPad);
                for (int ir = 0; !aPacked && ir < mcb; ir += 6)
                {
                    GemmPacking.PackA6(job.TransA, job.A, job.Lda, i0 + ir, Math.Min(6, mcb - ir), p0, kcb, a6 + ((nint)ir * kcb));
                }

                // Both packed-B layouts (shared and per-thread slots) hold the next k block of the column block right
                // after this one.
                float* bFollow = kb + 1 < plan.KBlocks ? bBlock + ((nint)kcb * GemmPlan.RoundUp(ncb, GemmPlan.NR)) : null;
                // The next k block's A slice, when it is already packed (a cached row block) and so read from L3.
                float* aFollow = aPacked && kb + 1 < plan.KBlocks ? a6 + ((nint)kcb * mcPad) : null;
                int aFollowFloats = aFollow is null ? 0 : Math.Min(plan.Kc, plan.K - p0 - kcb) * mcPad;
                GemmKernels.Block256Six(a6, mcb, bBlock, kcb, ncb, cTile, ldc, alpha, beta, edge, bFollow, aFollow, aFollowFloats);
                continue;
            }

            if (strips && aBlock is not null)
            {
                float* aK = aBlock + ((nint)p0 * mcPad);
                for (int ir = 0; !aPacked && ir < mcb; ir += GemmPlan.MR)
                {
                    GemmPacking.PackA(job.TransA, job.A, job.Lda, i0 + ir, Math.Min(GemmPlan.MR, mcb - ir), p0, kcb, aK + ((nint)ir * kcb));
                }

                GemmKernels.Block256(aK, mcb, bBlock, kcb, ncb, cTile, ldc, alpha, beta, edge, job.HalfPanels);
                continue;
            }

            // The call-long packed A read back streams from memory: the first kernel of each micro-panel prefetches it.
            nint aStream = callA && aPacked && CallAStream && isa == GemmIsa.Vector512 && Sse.IsSupported ? CallAStreamBytes : 0;
            for (int ir = 0; ir < mcb; ir += GemmPlan.MR)
            {
                int rows = Math.Min(GemmPlan.MR, mcb - ir);
                float* aPanel = aBlock is null ? ws.APanel : aBlock + ((nint)p0 * mcPad) + ((nint)ir * kcb);
                if (!aPacked)
                {
                    GemmPacking.PackA(job.TransA, job.A, job.Lda, i0 + ir, rows, p0, kcb, aPanel);
                }

                float* cRow = cTile + ((nint)ir * ldc);
                for (int jr = 0; jr < ncb; jr += GemmPlan.NR)
                {
                    int cols = Math.Min(GemmPlan.NR, ncb - jr);
                    float* bPanel = bBlock + ((nint)jr * kcb);
                    if (rows == GemmPlan.MR && cols == GemmPlan.NR)
                    {
                        if (jr == 0 && aStream != 0)
                        {
                            GemmKernels.Kernel512AStream(aPanel, bPanel, kcb, cRow, ldc, alpha, beta, aStream);
                        }
                        else
                        {
                            GemmKernels.Run(isa, aPanel, bPanel, kcb, cRow + jr, ldc, alpha, beta);
                        }
                    }
                    else
                    {
                        GemmKernels.Run(isa, aPanel, bPanel, kcb, edge, GemmPlan.NR, 1f, 0f);
                        GemmKernels.MergeEdge(edge, rows, cols, cRow + jr, ldc, alpha, beta);
                    }
                }
            }
        }

        if (callA)
        {
            ws.MarkPackedACall(job, aKey);
        }
        else if (aBlock is not null)
        {
            ws.MarkPackedA(job, aKey);
        }
    }

    /// <summary>
    /// Computes row band <paramref name="band"/> of an epilogue call: for each column block in increasing
    /// order, the full-k product tile in scratch, then hands it to the epilogue.
    /// </summary>
    /// <remarks>
    /// <paramref name="sharedB"/>, when not null, holds op(B) already packed for the whole call (column block jb at
    /// <c>jb * PackedBlockFloats</c>, k block kb at <c>+ kb * Kc * ncPad</c>, the layout of a packed-B slot), shared by
    /// every thread; otherwise each thread packs B into its workspace. <paramref name="follow"/>, when not null, is the
    /// first row of the A rows this thread computes next (the same band of the next product of a group): the band's
    /// last micro-panel prefetches them.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void EpilogueBand<TEpilogue>(GemmJob job, ref TEpilogue epilogue, int band, GemmWorkspace ws, float* sharedB = null, float* follow = null, nint followLda = 0, int* followIndex = null)
        where TEpilogue : IGemmEpilogue
    {
        if (job.HalfPanels)
        {
            EpilogueBandStrips(job, ref epilogue, band, ws, sharedB);
            return;
        }

        GemmPlan plan = job.Plan;
        int i0 = band * plan.Mc;
        int mcb = Math.Min(plan.Mc, plan.M - i0);
        int mcPad = GemmPlan.RoundUp(mcb, GemmPlan.MR);
        GemmIsa isa = job.Isa;
        float alpha = job.Alpha;
        bool aPacked = false;
        bool direct = GemmDirectA.Applies(job.TransA, isa);
        if (job.RowIndex is not null && !direct)
        {
            // Gemm.MultiplyWithEpilogues gathers the rows itself where neither the strips nor the direct kernel apply.
            throw new InvalidOperationException("Rows by index are read only by the AVX2 epilogue strips and the AVX-512 direct kernel (see Gemm.ReadsRowsByIndex).");
        }

        int* padded = stackalloc int[GemmPlan.MR];

        float* aBlock = plan.ColTiles > 1 && !direct ? ws.PackedA(job, band, mcPad, out aPacked) : null;
        for (int jb = 0; jb < plan.ColTiles; jb++)
        {
            int j0 = jb * plan.Nc;
            int ncb = Math.Min(plan.Nc, plan.N - j0);
            int ncPad = GemmPlan.RoundUp(ncb, GemmPlan.NR);
            float* tile = ws.Scratch((long)mcPad * ncPad);
            for (int kb = 0; kb < plan.KBlocks; kb++)
            {
                int p0 = kb * plan.Kc;
                int kcb = Math.Min(plan.Kc, plan.K - p0);
                float beta = kb == 0 ? 0f : 1f;
                float* bBlock = sharedB is null ? ws.PackedB(job, jb, kb) : sharedB + (jb * plan.PackedBlockFloats) + ((nint)kb * plan.Kc * ncPad);
                bool lastBlock = kb == plan.KBlocks - 1 && jb == plan.ColTiles - 1;
                for (int ir = 0; ir < mcb; ir += GemmPlan.MR)
                {
                    float* cRow = tile + ((nint)ir * ncPad);
                    if (direct && job.RowIndex is not null)
                    {
                        // Rows by index, read where they lie: the band's last panel may have fewer than 8 rows, and its
                        // missing rows repeat the last one (computed into the padded scratch tile, never delivered;
                        // each row's elements are their own FMA chains). Prefetched: the next panel's rows, after the
                        // band's last panel the next product's band when it too is given by index.
                        int panelRows = Math.Min(GemmPlan.MR, mcb - ir);
                        int* index = job.RowIndex + i0 + ir;
                        if (panelRows < GemmPlan.MR)
                        {
                            for (int r = 0; r < GemmPlan.MR; r++)
                            {
                                padded[r] = index[Math.Min(r, panelRows - 1)];
                            }

                            index = padded;
                        }

                        var next = new IndexedRows(job.A + p0, job.Lda, job.RowIndex + i0 + ir + GemmPlan.MR);
                        int nextRows = GemmDirectA.PrefetchEnabled ? Math.Clamp(mcb - ir - GemmPlan.MR, 0, GemmPlan.MR) : 0;
                        if (nextRows == 0 && lastBlock && follow is not null && followIndex is not null && GemmDirectA.PrefetchEnabled)
                        {
                            next = new IndexedRows(follow, followLda, followIndex);
                            nextRows = Math.Min(GemmPlan.MR, mcb);
                        }

                        DirectPanel(new IndexedRows(job.A + p0, job.Lda, index), bBlock, kcb, cRow, ncPad, alpha, beta, next, nextRows);
                        continue;
                    }

                    if (direct && ir + GemmPlan.MR <= mcb)
                    {
                        // Read the A micro-panel in place instead of packing it (see GemmDirectA), prefetching the next
                        // panel's rows (those still in this band; after the band's last panel, the next product's band
                        // when its rows are in place).
                        float* aRows = job.A + ((nint)(i0 + ir) * job.Lda) + p0;
                        var next = new StridedRows(aRows + (GemmPlan.MR * job.Lda), job.Lda);
                        int nextRows = GemmDirectA.PrefetchEnabled ? Math.Clamp(mcb - ir - GemmPlan.MR, 0, GemmPlan.MR) : 0;
                        if (nextRows == 0 && lastBlock && follow is not null && followIndex is null && GemmDirectA.PrefetchEnabled)
                        {
                            next = new StridedRows(follow, followLda);
                            nextRows = Math.Min(GemmPlan.MR, mcb);
                        }

                        DirectPanel(new StridedRows(aRows, job.Lda), bBlock, kcb, cRow, ncPad, alpha, beta, next, nextRows);
                        continue;
                    }

                    float* aPanel = aBlock is null ? ws.APanel : aBlock + ((nint)p0 * mcPad) + ((nint)ir * kcb);
                    if (!aPacked)
                    {
                        GemmPacking.PackA(job.TransA, job.A, job.Lda, i0 + ir, Math.Min(GemmPlan.MR, mcb - ir), p0, kcb, aPanel);
                    }

                    for (int jr = 0; jr < ncPad; jr += GemmPlan.NR)
                    {
                        GemmKernels.Run(isa, aPanel, bBlock + ((nint)jr * kcb), kcb, cRow + jr, ncPad, alpha, beta);
                    }
                }
            }

            if (aBlock is not null && !aPacked)
            {
                ws.MarkPackedA(job, band);
                aPacked = true;
            }

            epilogue.Apply(i0, j0, mcb, ncb, new Span<float>(tile, ((mcb - 1) * ncPad) + ncb), ncPad);
        }
    }

    /// <summary>
    /// One 8-row micro-panel of an epilogue tile on the AVX-512 direct kernel (<see cref="GemmDirectA"/>): rows
    /// <paramref name="a"/> against every 32-column panel of the k block, the panel's kernel calls sharing out the
    /// prefetch of <paramref name="nextRows"/> rows of <paramref name="next"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void DirectPanel<TRows, TNext>(TRows a, float* bBlock, int kcb, float* cRow, int ncPad, float alpha, float beta, TNext next, int nextRows)
        where TRows : struct, IStripRows
        where TNext : struct, IStripRows
    {
        int perCall = GemmPlan.CeilDiv(GemmPlan.MR, ncPad / GemmPlan.NR);
        int first = 0;
        for (int jr = 0; jr < ncPad; jr += GemmPlan.NR)
        {
            int rows = Math.Clamp(nextRows - first, 0, perCall);
            GemmDirectA.Kernel512(a, bBlock + ((nint)jr * kcb), kcb, cRow + jr, ncPad, alpha, beta, next, first, rows);
            first += perCall;
        }
    }

    /// <summary>
    /// Whether an epilogue call of <paramref name="plan"/> on <paramref name="isa"/> runs its row bands as AVX2 strips
    /// (<see cref="EpilogueBandStrips"/>, B packed as 16-column half-panels): on <see cref="GemmIsa.Vector256"/> with the
    /// strips on, when a band's 6-row strip panels (all of k) fit the packed-A budget or are not kept (one column
    /// block). Only how each tile is computed changes, never its bits.
    /// </summary>
    internal static bool EpilogueStrips(GemmPlan plan, GemmIsa isa) =>
        isa == GemmIsa.Vector256 && GemmKernels.StripsEnabled && GemmKernels.EpilogueStrips
            && (plan.ColTiles == 1 || (long)GemmPlan.RoundUp(plan.Mc, 6) * plan.K <= GemmWorkspace.MultiSlotBudget);

    /// <summary>
    /// <see cref="EpilogueBand{TEpilogue}"/> with the plain AVX2 path's layouts and 6 x 16 kernel: the band is packed once as
    /// 6-row strip panels (<see cref="GemmPacking.PackA6"/>, all of k, each strip while the first column block computes
    /// it, then reused by every later column block) and each k block of a column tile runs every strip against all its
    /// 16-column B half-panels (<see cref="GemmKernels.Strip256"/>: A strip in L1, B streamed from L2) into the same
    /// per-thread scratch tile, which is then handed to the epilogue. Tiles, their order and every element's FMA chain are
    /// those of the 8 x 32 panels, so the epilogue sees the same bits.
    /// An <see cref="IGemmStripEpilogue"/> (with <see cref="GemmKernels.EpilogueStripDelivery"/>) gets each strip as its
    /// own tile as soon as the strip's last k block is done, while it is in L1 (with one k block all strips share one
    /// small tile), and with <see cref="GemmKernels.EpilogueStripPrefetch"/> each strip's kernel calls prefetch the next
    /// strip's A rows (when still to be packed) and the rows its epilogue names (<see cref="IGemmStripEpilogue.Targets"/>).
    /// Only the tiles' row counts change: per row the same column tiles in the same order, every element the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void EpilogueBandStrips<TEpilogue>(GemmJob job, ref TEpilogue epilogue, int band, GemmWorkspace ws, float* sharedB)
        where TEpilogue : IGemmEpilogue
    {
        GemmPlan plan = job.Plan;
        int i0 = band * plan.Mc;
        int mcb = Math.Min(plan.Mc, plan.M - i0);
        int mcPad = GemmPlan.RoundUp(mcb, 6);
        float alpha = job.Alpha;

        // With several column blocks the band's strips are packed once, for all of k, into the row-block buffer
        // (EpilogueStrips checked the budget); with one, each strip is packed into the small L1-resident panel buffer
        // just before its only use.
        bool aPacked = false;
        bool reuse = plan.ColTiles > 1;
        float* aBlock = reuse ? ws.PackedA(job, band, mcPad, out aPacked) : null;
        float* edge = ws.Edge;

        // A strip epilogue gets each strip as soon as its last k block is done (from L1: with one k block the strips
        // share one small tile), and the next strip's A rows are prefetched while this one computes.
        bool perStrip = GemmKernels.EpilogueStripDelivery && typeof(IGemmStripEpilogue).IsAssignableFrom(typeof(TEpilogue));
        bool prefetch = perStrip && GemmKernels.EpilogueStripPrefetch && Sse.IsSupported;
        int lastKb = plan.KBlocks - 1;
        GemmKernels.NextStripLines next = default;
        for (int jb = 0; jb < plan.ColTiles; jb++)
        {
            int j0 = jb * plan.Nc;
            int ncb = Math.Min(plan.Nc, plan.N - j0);
            int ncPad = GemmPlan.RoundUp(ncb, GemmPlan.NR);
            bool smallTile = perStrip && lastKb == 0;
            float* tile = ws.Scratch((long)(smallTile ? GemmPlan.MR : GemmPlan.RoundUp(mcb, GemmPlan.MR)) * ncPad);
            for (int kb = 0; kb <= lastKb; kb++)
            {
                int p0 = kb * plan.Kc;
                int kcb = Math.Min(plan.Kc, plan.K - p0);
                float* bBlock = sharedB is null ? ws.PackedB(job, jb, kb) : sharedB + (jb * plan.PackedBlockFloats) + ((nint)kb * plan.Kc * ncPad);
                float* a6 = reuse ? aBlock + ((nint)p0 * mcPad) : null;

                // Strip by strip, each packed just before its first use (so it is still in L1).
                for (int ir = 0; ir < mcb; ir += 6)
                {
                    int rows = Math.Min(6, mcb - ir);
                    if (!perStrip && !reuse && sharedB is not null && GemmDirectA256.Applies(job.TransA, rows, ncb))
                    {
                        // A group call (the selection's products) with one column block: the strip is read in place (see
                        // GemmDirectA256), prefetching the next one. (Strip epilogues take the packed path below.) Rows
                        // given by index are read where they lie.
                        int directNext = GemmDirectA256.PrefetchEnabled ? Math.Clamp(mcb - ir - 6, 0, 6) : 0;
                        float beta = kb == 0 ? 0f : 1f;
                        if (job.RowIndex is not null)
                        {
                            var rowsAt = new IndexedRows(job.A + p0, job.Lda, job.RowIndex + i0 + ir);
                            GemmDirectA256.Strip(rowsAt, bBlock, kcb, ncb, tile + ((nint)ir * ncPad), ncPad, alpha, beta, rowsAt.Skip(6), directNext);
                            continue;
                        }

                        float* aRows = job.A + ((nint)(i0 + ir) * job.Lda) + p0;
                        GemmDirectA256.Strip(aRows, job.Lda, bBlock, kcb, ncb, tile + ((nint)ir * ncPad), ncPad, alpha, beta, aRows + (6 * job.Lda), directNext);
                        continue;
                    }

                    float* strip = reuse ? a6 + ((nint)ir * kcb) : ws.APanel;
                    if (!aPacked && job.RowIndex is not null)
                    {
                        GemmPacking.PackA6Indexed(job.A, job.Lda, job.RowIndex, i0 + ir, rows, p0, kcb, strip);
                    }
                    else if (!aPacked)
                    {
                        GemmPacking.PackA6(job.TransA, job.A, job.Lda, i0 + ir, rows, p0, kcb, strip);
                    }

                    // The next strip's A rows (when they are still to be packed) and epilogue rows, fetched while this one computes.
                    int nextRows = Math.Min(6, mcb - ir - 6);
                    if (prefetch && nextRows > 0)
                    {
                        next = new(nextRows);
                        if (!aPacked && job.TransA == Transpose.None && job.RowIndex is null)
                        {
                            next.SetA((byte*)(job.A + ((nint)(i0 + ir + 6) * job.Lda) + p0), job.Lda * sizeof(float), nextRows, kcb * sizeof(float));
                        }

                        if (kb == lastKb)
                        {
                            AddTargets(ref epilogue, ref next, i0 + ir + 6, nextRows, j0, ncb);
                        }
                    }

                    float* c = smallTile ? tile : tile + ((nint)ir * ncPad);
                    GemmKernels.Strip256(strip, rows, bBlock, kcb, ncb, c, ncPad, alpha, kb == 0 ? 0f : 1f, edge, prefetch && nextRows > 0 ? &next : null);
                    if (perStrip && kb == lastKb)
                    {
                        epilogue.Apply(i0 + ir, j0, rows, ncb, new Span<float>(c, ((rows - 1) * ncPad) + ncb), ncPad);
                    }
                }
            }

            if (reuse && !aPacked)
            {
                ws.MarkPackedA(job, band);
                aPacked = true;
            }

            if (!perStrip)
            {
                epilogue.Apply(i0, j0, mcb, ncb, new Span<float>(tile, ((mcb - 1) * ncPad) + ncb), ncPad);
            }
        }
    }

    /// <summary>Adds the strip epilogue's targets for the tile at (<paramref name="rowStart"/>, <paramref name="columnStart"/>) to <paramref name="next"/> (nothing for other epilogues).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddTargets<TEpilogue>(ref TEpilogue epilogue, ref GemmKernels.NextStripLines next, int rowStart, int rows, int columnStart, int columns)
        where TEpilogue : IGemmEpilogue
    {
        if (epilogue is not IGemmStripEpilogue)
        {
            return;
        }

        StripTargetBuffer buffer = default;
        Span<StripTarget> targets = buffer;
        int count = ((IGemmStripEpilogue)epilogue).Targets(rowStart, rows, columnStart, columns, targets);
        for (int t = 0; t < count; t++)
        {
            StripTarget target = targets[t];
            if ((uint)target.Index < (uint)target.Array.Length)
            {
                // An unpinned address: only prefetched, never dereferenced (a moved array costs a wasted prefetch).
                byte* first = (byte*)Unsafe.AsPointer(ref target.Array[target.Index]);
                next.AddTarget(first, (nint)target.Stride * sizeof(float), Math.Min(target.Floats, target.Array.Length - target.Index) * sizeof(float));
            }
        }
    }

    /// <summary>
    /// Runs a group of fused products with the same m (see <see cref="Gemm.MultiplyWithEpilogues{TEpilogue}"/>) as one
    /// parallel job of row bands: every product's op(B) is packed once, on the calling thread, into a buffer all threads
    /// read; each band computes and delivers the products in list order, each in increasing column order, so every row
    /// sees exactly the tile sequence of separate calls made in that order.
    /// </summary>
    internal static void EpilogueGroup<TEpilogue>(ReadOnlySpan<EpilogueProduct<TEpilogue>> products, int m)
        where TEpilogue : IGemmEpilogue
    {
        int count = products.Length;
        EpilogueGroupJob<TEpilogue> group = EpilogueGroupJob<TEpilogue>.ForCurrentDepth();
        GemmWorkspace ws = GemmWorkspace.Rent();
        try
        {
            fixed (float* a0 = Operand(products, 0, true), a1 = Operand(products, 1, true), a2 = Operand(products, 2, true), a3 = Operand(products, 3, true))
            fixed (float* b0 = Operand(products, 0, false), b1 = Operand(products, 1, false), b2 = Operand(products, 2, false), b3 = Operand(products, 3, false))
            fixed (int* r0 = RowsOf(products, 0), r1 = RowsOf(products, 1), r2 = RowsOf(products, 2), r3 = RowsOf(products, 3))
            {
                long total = 0;
                for (int q = 0; q < count; q++)
                {
                    ref readonly EpilogueProduct<TEpilogue> product = ref products[q];
                    EpilogueGemmJob<TEpilogue> job = group.Products[q];
                    int n = product.TransB == Transpose.None ? product.B.Columns : product.B.Rows;
                    int k = product.Alpha == 0f ? 0 : (product.TransA == Transpose.None ? product.A.Columns : product.A.Rows);
                    job.TransA = product.TransA;
                    job.TransB = product.TransB;
                    job.A = q switch { 0 => a0, 1 => a1, 2 => a2, _ => a3 };
                    job.B = q switch { 0 => b0, 1 => b1, 2 => b2, _ => b3 };
                    job.RowIndex = q switch { 0 => r0, 1 => r1, 2 => r2, _ => r3 };
                    job.Lda = product.A.Stride;
                    job.Ldb = product.B.Stride;
                    job.Alpha = product.Alpha;
                    job.Plan = new GemmPlan(m, n, k, epilogue: true);
                    job.Serial = NextSerial();
                    job.Isa = GemmKernels.ActiveIsa;
                    job.HalfPanels = EpilogueStrips(job.Plan, job.Isa);
                    job.Epilogue = product.Epilogue;
                    group.Offsets[q] = total;
                    total += job.Plan.ColTiles * job.Plan.PackedBlockFloats;
                }

                float* shared = ws.SharedB(Math.Max(1, total));
                long flops = 0;
                for (int q = 0; q < count; q++)
                {
                    EpilogueGemmJob<TEpilogue> job = group.Products[q];
                    GemmPlan plan = job.Plan;
                    float* packed = shared + group.Offsets[q];
                    for (int jb = 0; jb < plan.ColTiles; jb++)
                    {
                        int ncPad = GemmPlan.RoundUp(Math.Min(plan.Nc, plan.N - (jb * plan.Nc)), GemmPlan.NR);
                        for (int kb = 0; kb < plan.KBlocks && plan.K > 0; kb++)
                        {
                            PackBBlock(job, jb, kb, packed + (jb * plan.PackedBlockFloats) + ((nint)kb * plan.Kc * ncPad));
                        }
                    }

                    flops += (long)plan.N * plan.K;
                }

                group.Shared = shared;
                group.Count = count;
                int bands = group.Products[0].Plan.RowTiles;
                try
                {
                    WorkerPool.Run(group, bands, Degree(m, (int)Math.Min(int.MaxValue, flops), 1, bands));
                }
                finally
                {
                    group.Shared = null;
                    for (int q = 0; q < count; q++)
                    {
                        group.Products[q].Epilogue = default!;
                        group.Products[q].A = null;
                        group.Products[q].B = null;
                        group.Products[q].RowIndex = null;
                    }
                }
            }
        }
        finally
        {
            GemmWorkspace.Return();
        }
    }

    private static ReadOnlySpan<float> Operand<TEpilogue>(ReadOnlySpan<EpilogueProduct<TEpilogue>> products, int q, bool a)
        where TEpilogue : IGemmEpilogue =>
        q >= products.Length ? ReadOnlySpan<float>.Empty : a ? products[q].A.Span : products[q].B.Span;

    /// <summary>Product <paramref name="q"/>'s row index (empty for rows in place or past the group).</summary>
    private static ReadOnlySpan<int> RowsOf<TEpilogue>(ReadOnlySpan<EpilogueProduct<TEpilogue>> products, int q)
        where TEpilogue : IGemmEpilogue =>
        q >= products.Length ? ReadOnlySpan<int>.Empty : products[q].Rows.Span;

    /// <summary>C = beta * C over an m x n block (beta = 0 clears, ignoring NaN).</summary>
    internal static void ScaleC(int m, int n, float beta, Span<float> c, int ldc)
    {
        if (beta == 1f)
        {
            return;
        }

        for (int i = 0; i < m; i++)
        {
            Span<float> row = c.Slice(i * ldc, n);
            if (beta == 0f)
            {
                row.Clear();
            }
            else
            {
                System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
            }
        }
    }
}

/// <summary>Tiles of a plain <c>C = alpha * op(A) op(B) + beta * C</c> call.</summary>
internal sealed unsafe class PlainGemmJob : GemmJob
{
    [ThreadStatic]
    private static PlainGemmJob?[]? t_jobs;

    internal float* C;
    internal nint Ldc;
    internal float Beta;

    /// <summary>State of a shared packed-B k block: not packed yet.</summary>
    internal const int BlockUnpacked = 0;

    /// <summary>State of a shared packed-B k block: a thread is packing it.</summary>
    internal const int BlockPacking = 1;

    /// <summary>State of a shared packed-B k block: packed, readable by every thread.</summary>
    internal const int BlockReady = 2;

    /// <summary>Tiles at the end of the call split into row parts (<see cref="GemmDriver.TailTiles"/>).</summary>
    internal int TailTiles;

    /// <summary>Whether this call (with <see cref="GemmJob.HalfPanels"/>) packs A as 6-row strip panels (<see cref="GemmKernels.Block256Six"/>).</summary>
    internal bool SixRowA;

    /// <summary>Leading work items that are whole row blocks (<see cref="GemmDriver.RowBlockItems"/>; 0 when B is not shared).</summary>
    internal int RowBlockItems;

    /// <summary>Column blocks per column group of this call (<see cref="GemmDriver.PlainGroup"/>; set per call).</summary>
    internal int Group = 1;

    /// <summary>Whether this call keeps every packed A row block (<see cref="GemmDriver.CallAPacking"/>; set per call).</summary>
    internal bool CallA;

    /// <summary>The call's shared packed B (<see cref="GemmDriver.SharedPackedB"/>), or null when each thread packs its own.</summary>
    internal float* SharedB;

    /// <summary>Per (column block, k block) state of <see cref="SharedB"/>: unpacked, packing or ready.</summary>
    internal int[] BState = new int[16];

    private GemmWorkspace.PinnedBuffer _sharedB;

    /// <summary>Sizes the shared packed-B buffer for all of B of the current plan and marks every block unpacked.</summary>
    internal float* PrepareSharedB()
    {
        GemmPlan plan = Plan;
        int blocks = plan.ColTiles * plan.KBlocks;
        if (BState.Length < blocks)
        {
            BState = new int[Math.Max(blocks, BState.Length * 2)];
        }

        BState.AsSpan(0, blocks).Clear();
        _sharedB.Ensure(plan.ColTiles * plan.PackedBlockFloats);
        return _sharedB.Pointer;
    }

    /// <summary>The job object owned by the current thread at the current nesting depth.</summary>
    internal static PlainGemmJob ForCurrentDepth()
    {
        PlainGemmJob?[] jobs = t_jobs ??= new PlainGemmJob?[4];
        int depth = GemmWorkspace.Depth;
        if (depth >= jobs.Length)
        {
            Array.Resize(ref jobs, Math.Max(depth + 1, jobs.Length * 2));
            t_jobs = jobs;
        }

        return jobs[depth] ??= new PlainGemmJob();
    }

    protected override void RunTiles(GemmWorkspace ws)
    {
        int t;
        while ((t = ClaimTile()) < TileCount)
        {
            GemmDriver.PlainItem(this, t, ws);
        }
    }
}

/// <summary>Row bands of an epilogue call; each band is one work item (so one thread delivers it in order).</summary>
internal sealed unsafe class EpilogueGemmJob<TEpilogue> : GemmJob
    where TEpilogue : IGemmEpilogue
{
    [ThreadStatic]
    private static EpilogueGemmJob<TEpilogue>?[]? t_jobs;

    internal TEpilogue Epilogue = default!;

    /// <summary>The job object owned by the current thread at the current nesting depth.</summary>
    internal static EpilogueGemmJob<TEpilogue> ForCurrentDepth()
    {
        EpilogueGemmJob<TEpilogue>?[] jobs = t_jobs ??= new EpilogueGemmJob<TEpilogue>?[4];
        int depth = GemmWorkspace.Depth;
        if (depth >= jobs.Length)
        {
            Array.Resize(ref jobs, Math.Max(depth + 1, jobs.Length * 2));
            t_jobs = jobs;
        }

        return jobs[depth] ??= new EpilogueGemmJob<TEpilogue>();
    }

    protected override void RunTiles(GemmWorkspace ws)
    {
        // Each participating thread works on its own copy of the epilogue value (see IGemmEpilogue).
        TEpilogue epilogue = Epilogue;
        int t;
        while ((t = ClaimTile()) < TileCount)
        {
            GemmDriver.EpilogueBand(this, ref epilogue, t, ws);
        }
    }
}

/// <summary>
/// Row bands of a group of up to <see cref="MaxProducts"/> fused products with the same rows: band t computes band t of
/// every product in list order, reading the op(B) operands the caller packed once into <see cref="Shared"/>.
/// </summary>
internal sealed unsafe class EpilogueGroupJob<TEpilogue> : GemmJob
    where TEpilogue : IGemmEpilogue
{
    /// <summary>Largest group (the joint sampler's 2 directions x 2 models).</summary>
    internal const int MaxProducts = 4;

    [ThreadStatic]
    private static EpilogueGroupJob<TEpilogue>?[]? t_jobs;

    /// <summary>One descriptor per product (operands, plan, epilogue); never run as jobs of their own.</summary>
    internal readonly EpilogueGemmJob<TEpilogue>[] Products = [new(), new(), new(), new()];

    /// <summary>Offset of each product's packed op(B) in <see cref="Shared"/>.</summary>
    internal readonly long[] Offsets = new long[MaxProducts];

    internal float* Shared;
    internal int Count;

    /// <summary>The job object owned by the current thread at the current nesting depth.</summary>
    internal static EpilogueGroupJob<TEpilogue> ForCurrentDepth()
    {
        EpilogueGroupJob<TEpilogue>?[] jobs = t_jobs ??= new EpilogueGroupJob<TEpilogue>?[4];
        int depth = GemmWorkspace.Depth;
        if (depth >= jobs.Length)
        {
            Array.Resize(ref jobs, Math.Max(depth + 1, jobs.Length * 2));
            t_jobs = jobs;
        }

        return jobs[depth] ??= new EpilogueGroupJob<TEpilogue>();
    }

    protected override void RunTiles(GemmWorkspace ws)
    {
        // Each participating thread works on its own copies of the epilogue values (see IGemmEpilogue).
        int count = Count;
        EpilogueGemmJob<TEpilogue>[] products = Products;
        TEpilogue e0 = products[0].Epilogue;
        TEpilogue e1 = count > 1 ? products[1].Epilogue : default!;
        TEpilogue e2 = count > 2 ? products[2].Epilogue : default!;
        TEpilogue e3 = count > 3 ? products[3].Epilogue : default!;
        int t;
        while ((t = ClaimTile()) < TileCount)
        {
            for (int q = 0; q < count; q++)
            {
                EpilogueGemmJob<TEpilogue> job = products[q];
                float* shared = Shared + Offsets[q];
                float* follow = null;
                nint followLda = 0;
                int* followIndex = null;
                if (q + 1 < count)
                {
                    // The next product's rows of this band: in place, or by index from its first row.
                    EpilogueGemmJob<TEpilogue> nextJob = products[q + 1];
                    followLda = nextJob.Lda;
                    followIndex = nextJob.RowIndex is null ? null : nextJob.RowIndex + ((nint)t * nextJob.Plan.Mc);
                    follow = nextJob.TransA != Transpose.None ? null : followIndex is null ? nextJob.A + ((nint)t * nextJob.Plan.Mc * followLda) : nextJob.A;
                }

                switch (q)
                {
                    case 0:
                        GemmDriver.EpilogueBand(job, ref e0, t, ws, shared, follow, followLda, followIndex);
                        break;
                    case 1:
                        GemmDriver.EpilogueBand(job, ref e1, t, ws, shared, follow, followLda, followIndex);
                        break;
                    case 2:
                        GemmDriver.EpilogueBand(job, ref e2, t, ws, shared, follow, followLda, followIndex);
                        break;
                    default:
                        GemmDriver.EpilogueBand(job, ref e3, t, ws, shared, follow, followLda, followIndex);
                        break;
                }
            }
        }
    }
}
