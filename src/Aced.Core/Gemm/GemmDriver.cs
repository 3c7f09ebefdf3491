using System;
using System.Runtime.CompilerServices;
using System.Threading;

namespace Aced.Core;

/// <summary>
/// The blocked SGEMM loops (GotoBLAS/BLIS structure): for a C tile, for each k block, for each 8-row
/// micro-panel of A (packed once), for each 32-column micro-panel of B (packed once per thread and call,
/// all of k), run the 8 x 32 micro-kernel. Every C element is therefore accumulated over k in the same
/// order (k blocks in increasing order, p increasing inside a block) whichever thread owns its tile.
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

        return Math.Min(GemmControl.MaxDegreeOfParallelism, tiles);
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
        for (int jr = 0; jr < ncPad; jr += GemmPlan.NR)
        {
            GemmPacking.PackB(job.TransB, job.B, job.Ldb, p0, kcb, j0 + jr, Math.Min(GemmPlan.NR, ncb - jr), dst + ((nint)jr * kcb));
        }
    }

    /// <summary>Computes the C tile <paramref name="tile"/> of a plain call: C = alpha * op(A) op(B) + beta * C.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PlainTile(PlainGemmJob job, int tile, GemmWorkspace ws)
    {
        GemmPlan plan = job.Plan;

        // Tiles run in groups of G column blocks (G = the column blocks of packed B a thread caches), row-block
        // major inside a group: a thread's consecutive tiles then reuse both its packed A row block and its
        // cached packed B. G = 1 is plain column-block-major order.
        int group = Math.Max(1, GemmWorkspace.BSlots(plan));
        int g = tile / (plan.RowTiles * group);
        int width = Math.Min(group, plan.ColTiles - (g * group));
        int u = tile - (g * plan.RowTiles * group);
        int ib = u / width;
        int jb = (g * group) + (u % width);
        bool rowMajorOrder = group > 1;
        int i0 = ib * plan.Mc;
        int mcb = Math.Min(plan.Mc, plan.M - i0);
        int mcPad = GemmPlan.RoundUp(mcb, GemmPlan.MR);
        int j0 = jb * plan.Nc;
        int ncb = Math.Min(plan.Nc, plan.N - j0);
        float* edge = ws.Edge;
        bool aPacked = false;
        GemmIsa isa = job.Isa;

        // The AVX2 path always packs the whole row block first (GemmKernels.Block256 runs 6-row strips across it).
        bool strips = isa == GemmIsa.Vector256 && GemmKernels.StripsEnabled;
        bool wholeA = rowMajorOrder || strips;
        float* aBlock = wholeA ? ws.PackedA(job, ib, mcPad, out aPacked) : null;
        float alpha = job.Alpha;
        nint ldc = job.Ldc;

        for (int kb = 0; kb < plan.KBlocks; kb++)
        {
            int p0 = kb * plan.Kc;
            int kcb = Math.Min(plan.Kc, plan.K - p0);
            float beta = kb == 0 ? job.Beta : 1f;
            float* bBlock = ws.PackedB(job, jb, kb);
            if (strips && aBlock is not null)
            {
                float* aK = aBlock + ((nint)p0 * mcPad);
                for (int ir = 0; !aPacked && ir < mcb; ir += GemmPlan.MR)
                {
                    GemmPacking.PackA(job.TransA, job.A, job.Lda, i0 + ir, Math.Min(GemmPlan.MR, mcb - ir), p0, kcb, aK + ((nint)ir * kcb));
                }

                GemmKernels.Block256(aK, mcb, bBlock, kcb, ncb, job.C + ((nint)i0 * ldc) + j0, ldc, alpha, beta, edge);
                continue;
            }

            for (int ir = 0; ir < mcb; ir += GemmPlan.MR)
            {
                int rows = Math.Min(GemmPlan.MR, mcb - ir);
                float* aPanel = aBlock is null ? ws.APanel : aBlock + ((nint)p0 * mcPad) + ((nint)ir * kcb);
                if (!aPacked)
                {
                    GemmPacking.PackA(job.TransA, job.A, job.Lda, i0 + ir, rows, p0, kcb, aPanel);
                }

                float* cRow = job.C + ((nint)(i0 + ir) * ldc) + j0;
                for (int jr = 0; jr < ncb; jr += GemmPlan.NR)
                {
                    int cols = Math.Min(GemmPlan.NR, ncb - jr);
                    float* bPanel = bBlock + ((nint)jr * kcb);
                    if (rows == GemmPlan.MR && cols == GemmPlan.NR)
                    {
                        GemmKernels.Run(isa, aPanel, bPanel, kcb, cRow + jr, ldc, alpha, beta);
                    }
                    else
                    {
                        GemmKernels.Run(isa, aPanel, bPanel, kcb, edge, GemmPlan.NR, 1f, 0f);
                        GemmKernels.MergeEdge(edge, rows, cols, cRow + jr, ldc, alpha, beta);
                    }
                }
            }
        }

        if (aBlock is not null)
        {
            ws.MarkPackedA(job, ib);
        }
    }

    /// <summary>
    /// Computes row band <paramref name="band"/> of an epilogue call: for each column block in increasing
    /// order, the full-k product tile in scratch, then hands it to the epilogue.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void EpilogueBand<TEpilogue>(GemmJob job, ref TEpilogue epilogue, int band, GemmWorkspace ws)
        where TEpilogue : IGemmEpilogue
    {
        GemmPlan plan = job.Plan;
        int i0 = band * plan.Mc;
        int mcb = Math.Min(plan.Mc, plan.M - i0);
        int mcPad = GemmPlan.RoundUp(mcb, GemmPlan.MR);
        GemmIsa isa = job.Isa;
        float alpha = job.Alpha;
        bool aPacked = false;
        bool direct = GemmDirectA.Applies(job.TransA, isa);
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
                float* bBlock = ws.PackedB(job, jb, kb);
                for (int ir = 0; ir < mcb; ir += GemmPlan.MR)
                {
                    float* cRow = tile + ((nint)ir * ncPad);
                    if (direct && ir + GemmPlan.MR <= mcb)
                    {
                        // Read the A micro-panel in place instead of packing it (see GemmDirectA).
                        float* aRows = job.A + ((nint)(i0 + ir) * job.Lda) + p0;
                        for (int jr = 0; jr < ncPad; jr += GemmPlan.NR)
                        {
                            GemmDirectA.Kernel512(aRows, job.Lda, bBlock + ((nint)jr * kcb), kcb, cRow + jr, ncPad, alpha, beta);
                        }

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
            GemmDriver.PlainTile(this, t, ws);
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
