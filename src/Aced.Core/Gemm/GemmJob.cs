namespace Aced.Core;

/// <summary>
/// One managed SGEMM call split into a fixed list of tiles (or row bands), run on the shared <see cref="WorkerPool"/>.
/// Every participating thread rents its own packing workspace for the call.
/// </summary>
internal abstract unsafe class GemmJob : PoolJob
{
    internal Transpose TransA;
    internal Transpose TransB;
    internal float* A;
    internal float* B;
    internal nint Lda;
    internal nint Ldb;
    internal float Alpha;
    internal GemmPlan Plan;
    internal long Serial;
    internal GemmIsa Isa;

    /// <summary>
    /// Whether this call packs B in 16-column micro-panels (<see cref="GemmPacking.PackBHalves"/>) for the AVX2 strips
    /// (<see cref="GemmKernels.Block256"/> / <see cref="GemmKernels.Block256Six"/>); only the strips read such a packed B.
    /// Set per call: by <see cref="GemmDriver.PreparePlain"/> for the plain path, by <see cref="GemmDriver.EpilogueStrips"/>
    /// for the epilogue path.
    /// </summary>
    internal bool HalfPanels;

    /// <summary>
    /// When not null, op(A) is A's rows by index: row i of the product is row <c>RowIndex[i]</c> of A (A not transposed;
    /// only the AVX-512 direct kernel and the AVX2 epilogue strips read it, see <see cref="Gemm.ReadsRowsByIndex"/>). Null: rows in place.
    /// </summary>
    internal int* RowIndex;

    /// <summary>Number of tiles of the current call.</summary>
    internal int TileCount => ItemCount;

    /// <summary>Next unclaimed tile index, or a value &gt;= <see cref="TileCount"/> when all are claimed.</summary>
    protected int ClaimTile() => ClaimItem();

    /// <summary>Claims and runs tiles with this thread's workspace until none are left.</summary>
    protected abstract void RunTiles(GemmWorkspace ws);

    /// <inheritdoc/>
    protected sealed override void RunItems()
    {
        GemmWorkspace ws = GemmWorkspace.Rent();
        try
        {
            RunTiles(ws);
        }
        finally
        {
            GemmWorkspace.Return();
        }
    }
}
