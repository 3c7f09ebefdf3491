using System;

namespace Aced.Core;

/// <summary>
/// Consumes finished tiles of a product <c>P = alpha * op(A) * op(B)</c> inside
/// <see cref="Gemm.MultiplyWithEpilogue{TEpilogue}"/>, so that element-wise work and row reductions
/// (for example softplus followed by a row sum) run while the tile is still in cache, and the full
/// m x n product is never written to memory.
/// </summary>
/// <remarks>
/// Contract: the tiles partition [0, m) x [0, n); each tile holds the complete product (all of k).
/// The partition depends only on m and n, never on the thread count. All tiles of one row band
/// (same <c>rowStart</c>) are delivered by a single thread in increasing <c>columnStart</c> order,
/// so per-row accumulations are deterministic. Different row bands may be processed concurrently:
/// the epilogue value is copied to each worker, so keep mutable state in referenced arrays and
/// write only to the rows of the tile you are given. The tile memory is scratch: it may be modified
/// and must not be retained.
/// </remarks>
public interface IGemmEpilogue
{
    /// <summary>
    /// Processes the tile covering rows [<paramref name="rowStart"/>, +<paramref name="rows"/>) and
    /// columns [<paramref name="columnStart"/>, +<paramref name="columns"/>) of P. Element (r, c) of the
    /// tile is <c>tile[r * stride + c]</c>.
    /// </summary>
    void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride);
}

/// <summary>
/// An <see cref="IGemmEpilogue"/> that writes its tiles out (a dense layer's y = tile + b, ...) and so asks for the
/// smallest tiles the kernel makes: the managed provider's AVX2 fused path then hands it each 6-row register strip (a
/// 64-row band's last one has 4 rows) of a column block as soon as the strip's last k block is computed, while the strip
/// is still in L1, instead of the whole 64-row band tile from L2 after the band's compute. The contract is that of
/// <see cref="IGemmEpilogue"/> (the tiles partition the product, depend only on m and n, a band's tiles come from one
/// thread and every row sees its column tiles in increasing order); only their row count is smaller, so per-row folds
/// and every element keep their bits. The output's stores then drain during the next strip's FMAs rather than in one
/// burst per band. Other ISAs and providers deliver the usual band tiles.
/// </summary>
internal interface IGemmStripEpilogue : IGemmEpilogue
{
    /// <summary>
    /// Describes the memory the tile of rows [<paramref name="rowStart"/>, +<paramref name="rows"/>) and columns
    /// [<paramref name="columnStart"/>, +<paramref name="columns"/>) will touch, so the GEMM can prefetch it while the
    /// strip before it computes: up to <see cref="GemmKernels.NextStripLines.MaxTargets"/> row-major matrices, each as
    /// the array, the index of the first element the tile touches in its first row, the row stride and the number of
    /// floats per row. Returns the count. A hint only: the arrays need not be pinned and the entries may be approximate.
    /// </summary>
    int Targets(int rowStart, int rows, int columnStart, int columns, Span<StripTarget> targets);
}

/// <summary>Rows of one matrix an <see cref="IGemmStripEpilogue"/> tile touches (see <see cref="IGemmStripEpilogue.Targets"/>).</summary>
internal readonly record struct StripTarget(float[] Array, int Index, int Stride, int Floats);

/// <summary>Room for the <see cref="StripTarget"/>s of one tile, on the stack.</summary>
[System.Runtime.CompilerServices.InlineArray(GemmKernels.NextStripLines.MaxTargets)]
internal struct StripTargetBuffer
{
    private StripTarget _element;
}
