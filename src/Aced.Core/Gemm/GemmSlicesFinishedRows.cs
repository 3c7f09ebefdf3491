using System;

namespace Aced.Core;

/// <summary>
/// Told when rows of C are final in a <see cref="GemmSlices.MultiplyTransposedKeyed"/>
/// call, so that a caller can apply an element-wise pass (the concurrent backward's GELU backward) to them while they are
/// still in cache.
/// </summary>
internal interface IFinishedRows
{
    /// <summary>Rows <paramref name="rowStart"/> .. +<paramref name="rows"/> of C (relative to the call's C) hold their final values.</summary>
    void RowsFinished(int rowStart, int rows);
}

/// <summary>
/// The AVX2 dx loop's finished-row hook: <see cref="RunTransposedSix"/> computes C in groups of <see cref="SixRowGroup"/>
/// rows over all k blocks, so when one column chunk covers all of C's columns a group's rows are final right after its
/// last k block, while they are still in L2. A keyed call may pass an <see cref="IFinishedRows"/> that is called then,
/// group by group in row order. Forms that do not finish rows group by group (another provider, AVX-512, a column
/// chunk narrower than C) never call it: the caller handles the rows it was not told about, after the call.
/// </summary>
internal static unsafe partial class GemmSlices
{
    [ThreadStatic]
    private static IFinishedRows? t_finishedRows;
}
