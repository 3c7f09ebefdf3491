using System;
using Aced.Core;

namespace Aced.Models.Layers;

/// <summary>
/// Consecutive groups of rows of a matrix: group g is rows [<see cref="Start"/>(g), <see cref="End"/>(g)). The
/// default value means "no groups" (the callee's fixed chunks).
/// </summary>
internal readonly record struct RowGroups(int[] Bounds, int Count)
{
    /// <summary>Whether groups are given.</summary>
    public bool IsSet => Bounds is not null;

    public int Start(int group) => Bounds[group];

    public int End(int group) => Bounds[group + 1];
}

/// <summary>
/// The token rows a tower's pooling reads, one per example (<see cref="PoolingKind.FirstToken"/>,
/// <see cref="PoolingKind.LastToken"/>): pooled row i is token row <see cref="Rows"/>[i] of the B*T token-row
/// matrix (strictly increasing). For the encoder's last block on those rows only
/// (<see cref="TransformerEncoder.PooledRowsOnly"/>) it also holds the groups in which the computation over all
/// token rows sums the pooled rows' terms, so the pruned sums add the same terms in the same groups:
/// <see cref="NormGroups"/> (the layer-norm parameter gradients, <see cref="RowOps.ChunkRows"/>-row chunks),
/// <see cref="SumGroups"/> (bias gradients, <see cref="RowOps.SumChunkRows"/>-row chunks) and
/// <see cref="WeightBlocks"/> (the weight gradients' k blocks, <see cref="Linear.WeightGradientBlockStart"/>).
/// Full chunks or blocks without a pooled row have no group: their terms are all zero.
/// </summary>
internal sealed class PooledRows
{
    private int[] _rows = [];
    private int[] _norm = [];
    private int[] _sums = [];
    private int[] _blocks = [];

    /// <summary>Number of pooled rows (the batch).</summary>
    public int Count { get; private set; }

    /// <summary>The pooled rows' indices among the token rows.</summary>
    public ReadOnlySpan<int> Rows => _rows.AsSpan(0, Count);

    /// <summary>The pooled rows grouped by <see cref="RowOps.ChunkRows"/>-row chunk of the token rows.</summary>
    public RowGroups NormGroups { get; private set; }

    /// <summary>The pooled rows grouped by <see cref="RowOps.SumChunkRows"/>-row chunk of the token rows.</summary>
    public RowGroups SumGroups { get; private set; }

    /// <summary>The pooled rows grouped by k block of the weight gradient over all token rows.</summary>
    public RowGroups WeightBlocks { get; private set; }

    /// <summary>Sets the pooled rows (strictly increasing, in [0, <paramref name="tokenRows"/>)) and their groups.</summary>
    /// <exception cref="ArgumentException">The rows are not strictly increasing inside [0, tokenRows).</exception>
    public void Set(ReadOnlySpan<int> rows, int tokenRows)
    {
        for (int i = 0; i < rows.Length; i++)
        {
            if (rows[i] < 0 || rows[i] >= tokenRows || (i > 0 && rows[i] <= rows[i - 1]))
            {
                Guard.ThrowArgument(nameof(rows), $"row {i} ({rows[i]}) must lie in [0, {tokenRows}) above the previous one");
            }
        }

        if (_rows.Length < rows.Length)
        {
            _rows = new int[rows.Length];
            _norm = new int[rows.Length + 1];
            _sums = new int[rows.Length + 1];
            _blocks = new int[rows.Length + 1];
        }

        rows.CopyTo(_rows);
        Count = rows.Length;
        NormGroups = new RowGroups(_norm, Group(rows, RowOps.ChunkRows, 0, _norm));
        SumGroups = new RowGroups(_sums, Group(rows, RowOps.SumChunkRows, 0, _sums));
        WeightBlocks = new RowGroups(_blocks, Group(rows, 0, tokenRows, _blocks));
    }

    /// <summary>
    /// Writes the group bounds of <paramref name="rows"/> by chunk of <paramref name="chunkRows"/> token rows, or (with
    /// chunkRows 0) by weight-gradient k block over <paramref name="tokenRows"/> rows; returns the group count.
    /// </summary>
    private static int Group(ReadOnlySpan<int> rows, int chunkRows, int tokenRows, int[] bounds)
    {
        int groups = 0;
        int key = -1;
        for (int i = 0; i < rows.Length; i++)
        {
            int k = chunkRows > 0 ? rows[i] / chunkRows : Linear.WeightGradientBlockStart(rows[i], tokenRows);
            if (k != key)
            {
                bounds[groups++] = i;
                key = k;
            }
        }

        bounds[groups] = rows.Length;
        return groups;
    }
}
