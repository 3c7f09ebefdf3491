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
