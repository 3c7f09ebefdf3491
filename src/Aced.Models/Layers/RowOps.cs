using System;
using System.Buffers;
using System.Numerics.Tensors;
using Aced.Core;

namespace Aced.Models.Layers;

/// <summary>
/// Row-parallel element-wise layers: bias broadcast, residual copy, layer norm, GELU. Rows are split into fixed chunks
/// of <see cref="ChunkRows"/>; reductions over rows (layer-norm parameter gradients) are written per chunk and summed
/// in chunk order, so results do not depend on the thread count.
/// </summary>
internal static class RowOps
{
    /// <summary>Rows per parallel chunk.</summary>
    public const int ChunkRows = 32;

    /// <summary>Rows per parallel chunk of the column-sum passes (one partial row of sums per chunk).</summary>
    public const int SumChunkRows = 256;

    [ThreadStatic]
    private static RowJob? t_job;

    /// <summary>
    /// Whether the GELU backward with column sums runs each row through <see cref="RowMath.GeluBackwardRowSums"/> (one
    /// software-pipelined pass that also adds dx to the chunk's sums; default) instead of <see cref="RowMath.GeluBackward"/>
    /// and a second pass for the sums; a same-run A/B baseline turns it off. Same bits either way.
    /// </summary>
    internal static bool FusedGeluSums { get; set; } = true;

    /// <summary>Every row of <paramref name="y"/> = <paramref name="b"/>.</summary>
    public static void BroadcastRows(float[] b, MatrixView y)
    {
        RowJob job = Job();
        job.Op = RowOp.Broadcast;
        job.Vector1 = b;
        job.Y = y;
        Run(job, y.Rows);
    }

    /// <summary>y = x + b (row-broadcast bias); <paramref name="b"/> is a whole array.</summary>
    public static void AddBias(MatrixView x, float[] b, MatrixView y)
    {
        RowJob job = Job();
        job.Op = RowOp.AddBias;
        job.X = x;
        job.Vector1 = b;
        job.Y = y;
        Run(job, y.Rows);
    }

    /// <summary>Layer norm of every row of x into y; writes mean and rstd per row.</summary>
    public static void LayerNormForward(MatrixView x, float[] gamma, float[] beta, MatrixView y, float[] mean, float[] rstd)
    {
        RowJob job = Job();
        job.Op = RowOp.LayerNorm;
        job.X = x;
        job.Vector1 = gamma;
        job.Vector2 = beta;
        job.Y = y;
        job.Stats1 = mean;
        job.Stats2 = rstd;
        Run(job, x.Rows);
    }

    /// <summary>Layer-norm backward: dx += ..., dgamma += ..., dbeta += ... (see <see cref="RowMath.LayerNormBackward"/>).</summary>
    public static void LayerNormBackward(MatrixView x, float[] gamma, float[] mean, float[] rstd, MatrixView dy, MatrixView dx, float[] dgamma, float[] dbeta) =>
        LayerNormBackwardByGroups(x, gamma, mean, rstd, dy, dx, dgamma, dbeta, default);

    /// <summary>
    /// <see cref="LayerNormBackward(MatrixView, float[], float[], float[], MatrixView, MatrixView, float[], float[])"/>
    /// with the dgamma and dbeta terms summed per group of <paramref name="groups"/> (each group's partial cleared, its
    /// rows added in row order, the groups added in order) instead of per <see cref="ChunkRows"/> rows; default groups
    /// are those chunks.
    /// </summary>
    public static void LayerNormBackwardByGroups(MatrixView x, float[] gamma, float[] mean, float[] rstd, MatrixView dy, MatrixView dx, float[] dgamma, float[] dbeta, RowGroups groups)
    {
        int d = x.Columns;
        int chunks = groups.IsSet ? groups.Count : CountChunks(x.Rows, ChunkRows);
        float[] partial = ArrayPool<float>.Shared.Rent(chunks * 2 * d);
        try
        {
            RowJob job = Job();
            job.Op = RowOp.LayerNormBackward;
            job.X = x;
            job.Vector1 = gamma;
            job.Stats1 = mean;
            job.Stats2 = rstd;
            job.Dy = dy;
            job.Y = dx;
            job.Partial = partial;
            Run(job, x.Rows, ChunkRows, groups);
            for (int c = 0; c < chunks; c++)
            {
                TensorPrimitives.Add(dgamma, partial.AsSpan(c * 2 * d, d), dgamma);
                TensorPrimitives.Add(dbeta, partial.AsSpan((c * 2 * d) + d, d), dbeta);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partial);
        }
    }

    /// <summary>y = GELU(x) row-wise.</summary>
    public static void GeluForward(MatrixView x, MatrixView y)
    {
        RowJob job = Job();
        job.Op = RowOp.Gelu;
        job.X = x;
        job.Y = y;
        Run(job, x.Rows);
    }

    /// <summary>dx = dy * GELU'(x) row-wise (dy and dx may be the same view).</summary>
    public static void GeluBackward(MatrixView x, MatrixView dy, MatrixView dx)
    {
        RowJob job = Job();
        job.Op = RowOp.GeluBackward;
        job.X = x;
        job.Dy = dy;
        job.Y = dx;
        Run(job, x.Rows);
    }

    /// <summary>
    /// dx = dy * GELU'(x) row-wise and <paramref name="columnSums"/> += 1^T dx (the bias gradient of the layer that
    /// produced x) in the same pass; sums are formed per fixed chunk of <see cref="SumChunkRows"/> rows and added in
    /// chunk order, so they do not depend on the thread count.
    /// </summary>
    public static void GeluBackward(MatrixView x, MatrixView dy, MatrixView dx, Span<float> columnSums)
    {
        SumPass(RowOp.GeluBackwardSums, x, dy, dx, columnSums, default);
    }

    /// <summary>
    /// <see cref="GeluBackward(MatrixView, MatrixView, MatrixView, Span{float})"/> with the column sums formed per group
    /// of <paramref name="groups"/> instead of per <see cref="SumChunkRows"/> rows.
    /// </summary>
    public static void GeluBackwardByGroups(MatrixView x, MatrixView dy, MatrixView dx, Span<float> columnSums, RowGroups groups)
    {
        SumPass(RowOp.GeluBackwardSums, x, dy, dx, columnSums, groups);
    }

    /// <summary>
    /// <paramref name="columnSums"/>[j] += sum_r x[r, j] (a bias gradient), summed per fixed chunk of
    /// <see cref="SumChunkRows"/> rows in row order and then over chunks in chunk order: the result does not depend on
    /// the thread count.
    /// </summary>
    public static void AddColumnSums(MatrixView x, Span<float> columnSums)
    {
        SumPass(RowOp.ColumnSums, x, default, default, columnSums, default);
    }

    /// <summary>
    /// <see cref="AddColumnSums(MatrixView, Span{float})"/> with the partial sums formed per group of
    /// <paramref name="groups"/> (its first row copied, the others added in row order) instead of per
    /// <see cref="SumChunkRows"/> rows, then added in group order.
    /// </summary>
    public static void AddColumnSumsByGroups(MatrixView x, Span<float> columnSums, RowGroups groups)
    {
        SumPass(RowOp.ColumnSums, x, default, default, columnSums, groups);
    }

    private static void SumPass(RowOp op, MatrixView x, MatrixView dy, MatrixView dx, Span<float> columnSums, RowGroups groups)
    {
        int d = x.Columns;
        if (columnSums.Length != d)
        {
            Guard.ThrowArgument(nameof(columnSums), $"has length {columnSums.Length} but the rows have {d} columns");
        }

        int chunks = groups.IsSet ? groups.Count : CountChunks(x.Rows, SumChunkRows);
        float[] partial = ArrayPool<float>.Shared.Rent(Math.Max(1, chunks * d));
        try
        {
            RowJob job = Job();
            job.Op = op;
            job.X = x;
            job.Dy = dy;
            job.Y = dx;
            job.Partial = partial;
            Run(job, x.Rows, SumChunkRows, groups);
            AddChunkSums(partial, chunks, columnSums);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partial);
        }
    }

    /// <summary>Number of <see cref="SumChunkRows"/>-row chunks (partial rows of column sums) for <paramref name="rows"/> rows.</summary>
    public static int CountSumChunks(int rows) => CountChunks(rows, SumChunkRows);

    /// <summary>
    /// dx = dy * GELU'(x) for rows [<paramref name="start"/>, <paramref name="end"/>) (start a multiple of
    /// <see cref="SumChunkRows"/>; end a chunk boundary or the last row), each chunk's column sums of dx written to its
    /// row of <paramref name="partial"/> (chunk c at <c>c * columns</c>): the chunk work of
    /// <see cref="GeluBackward(MatrixView, MatrixView, MatrixView, Span{float})"/>.
    /// </summary>
    public static void GeluBackwardSumChunks(MatrixView x, MatrixView dy, MatrixView dx, int start, int end, float[] partial)
    {
        int d = x.Columns;
        for (int c0 = start; c0 < end; c0 += SumChunkRows)
        {
            int c1 = Math.Min(end, c0 + SumChunkRows);
            GeluBackwardSumRows(x, dy, dx, c0, c1, partial.AsSpan(c0 / SumChunkRows * d, d));
        }
    }

    /// <summary>dx = dy * GELU'(x) for rows [start, end) and <paramref name="sums"/> = their column sums (cleared, then each row added in row order).</summary>
    private static void GeluBackwardSumRows(MatrixView x, MatrixView dy, MatrixView dx, int start, int end, Span<float> sums)
    {
        sums.Clear();
        for (int r = start; r < end; r++)
        {
            if (FusedGeluSums)
            {
                RowMath.GeluBackwardRowSums(x.Row(r), dy.Row(r), dx.Row(r), sums);
            }
            else
            {
                Span<float> row = dx.Row(r);
                RowMath.GeluBackward(x.Row(r), dy.Row(r), row);
                TensorPrimitives.Add(sums, row, sums);
            }
        }
    }

    /// <summary>
    /// The column sums of rows [<paramref name="start"/>, <paramref name="end"/>) of <paramref name="x"/> (start a multiple
    /// of <see cref="SumChunkRows"/>; end a chunk boundary or the last row), each chunk's sums written to its row of
    /// <paramref name="partial"/> (chunk c at <c>c * columns</c>): its first row copied, the others added in row order.
    /// The chunk work of <see cref="AddColumnSums"/>, which then adds the chunks with <see cref="AddChunkSums"/>.
    /// </summary>
    public static void ColumnSumChunks(MatrixView x, int start, int end, float[] partial)
    {
        int d = x.Columns;
        for (int c0 = start; c0 < end; c0 += SumChunkRows)
        {
            int c1 = Math.Min(end, c0 + SumChunkRows);
            ColumnSumRows(x, c0, c1, partial.AsSpan(c0 / SumChunkRows * d, d));
        }
    }

    /// <summary><paramref name="sums"/> = the column sums of rows [start, end) of x: the first row copied, the others added in row order.</summary>
    private static void ColumnSumRows(MatrixView x, int start, int end, Span<float> sums)
    {
        x.Row(start).CopyTo(sums);
        for (int r = start + 1; r < end; r++)
        {
            TensorPrimitives.Add(sums, x.Row(r), sums);
        }
    }

    /// <summary><paramref name="columnSums"/> += the first <paramref name="chunks"/> partial rows of <paramref name="partial"/>, in chunk order.</summary>
    public static void AddChunkSums(float[] partial, int chunks, Span<float> columnSums)
    {
        int d = columnSums.Length;
        for (int c = 0; c < chunks; c++)
        {
            TensorPrimitives.Add(columnSums, partial.AsSpan(c * d, d), columnSums);
        }
    }

    private static RowJob Job() => t_job ??= new RowJob();

    /// <summary>Number of chunks of <paramref name="chunkRows"/> rows needed to cover <paramref name="rows"/> rows.</summary>
    private static int CountChunks(int rows, int chunkRows) => (rows + chunkRows - 1) / chunkRows;

    private static void Run(RowJob job, int rows, int chunkRows = ChunkRows, RowGroups groups = default)
    {
        job.Rows = rows;
        job.ChunkRows = chunkRows;
        job.Groups = groups;
        try
        {
            ParallelPartition.Run(groups.IsSet ? groups.Count : CountChunks(rows, chunkRows), job);
        }
        finally
        {
            job.Clear();
        }
    }

    private enum RowOp
    {
        Broadcast,
        AddBias,
        LayerNorm,
        LayerNormBackward,
        Gelu,
        GeluBackward,
        GeluBackwardSums,
        ColumnSums,
    }

    private sealed class RowJob : IPartitionBody
    {
        public RowOp Op;
        public int Rows;
        public int ChunkRows;
        public MatrixView X;
        public MatrixView Y;
        public MatrixView Dy;
        public float[]? Vector1;
        public float[]? Vector2;
        public float[]? Stats1;
        public float[]? Stats2;
        public float[]? Partial;

        /// <summary>When set, item i covers this group's rows instead of chunk i's.</summary>
        public RowGroups Groups;

        public void Clear()
        {
            X = default;
            Y = default;
            Dy = default;
            Groups = default;
            Vector1 = Vector2 = Stats1 = Stats2 = Partial = null;
        }

        public void Execute(int chunk)
        {
            (int start, int end) = Groups.IsSet ? (Groups.Start(chunk), Groups.End(chunk)) : (chunk * ChunkRows, Math.Min(Rows, (chunk * ChunkRows) + ChunkRows));
            int d = X.Columns;
            switch (Op)
            {
                case RowOp.Broadcast:
                    for (int r = start; r < end; r++)
                    {
                        Vector1.AsSpan().CopyTo(Y.Row(r));
                    }

                    break;
                case RowOp.AddBias:
                    for (int r = start; r < end; r++)
                    {
                        TensorPrimitives.Add(X.Row(r), Vector1!, Y.Row(r));
                    }

                    break;
                case RowOp.LayerNorm:
                    for (int r = start; r < end; r++)
                    {
                        (float mean, float rstd) = RowMath.LayerNorm(X.Row(r), Vector1!, Vector2!, Y.Row(r));
                        Stats1![r] = mean;
                        Stats2![r] = rstd;
                    }

                    break;
                case RowOp.LayerNormBackward:
                {
                    Span<float> dgamma = Partial.AsSpan(chunk * 2 * d, d);
                    Span<float> dbeta = Partial.AsSpan((chunk * 2 * d) + d, d);
                    dgamma.Clear();
                    dbeta.Clear();
                    for (int r = start; r < end; r++)
                    {
                        RowMath.LayerNormBackward(X.Row(r), Vector1!, Stats1![r], Stats2![r], Dy.Row(r), Y.Row(r), dgamma, dbeta);
                    }

                    break;
                }

                case RowOp.Gelu:
                    for (int r = start; r < end; r++)
                    {
                        RowMath.Gelu(X.Row(r), Y.Row(r));
                    }

                    break;
                case RowOp.GeluBackward:
                    for (int r = start; r < end; r++)
                    {
                        RowMath.GeluBackward(X.Row(r), Dy.Row(r), Y.Row(r));
                    }

                    break;
                case RowOp.GeluBackwardSums:
                    GeluBackwardSumRows(X, Dy, Y, start, end, Partial.AsSpan(chunk * d, d));
                    break;

                case RowOp.ColumnSums:
                    ColumnSumRows(X, start, end, Partial.AsSpan(chunk * d, d));
                    break;
            }
        }
    }
}
