using System;
using Aced.Core;

namespace Aced.Losses.Internal;

/// <summary>
/// Workspace shared by the pairwise losses: the chunk buffers, per-row and per-column reductions,
/// (partitions run through <see cref="PartitionWork"/>). Buffers grow on first use and are reused afterwards, so steady-state
/// calls with the same batch size allocate nothing.
/// </summary>
internal sealed class PairwiseEngine
{
    /// <summary>Largest number of row partitions of one chunk.</summary>
    public const int MaxRowPartitions = 64;

    /// <summary>Elements of work below which a chunk is processed as one partition.</summary>
    public const int ElementsPerPartition = 1 << 15;

    private float[][] _buffers = new float[4][];
    private double[][] _rows = new double[10][];
    private float[] _columnPartials = Array.Empty<float>();
    private double[] _columnTotals = Array.Empty<double>();

    public PairwiseEngine(LossWorkspaceOptions? options)
    {
        Options = options ?? new LossWorkspaceOptions();
        for (int k = 0; k < _buffers.Length; k++)
        {
            _buffers[k] = Array.Empty<float>();
        }

        for (int k = 0; k < _rows.Length; k++)
        {
            _rows[k] = Array.Empty<double>();
        }
    }

    public LossWorkspaceOptions Options { get; }

    /// <summary>A rows x columns view of buffer <paramref name="index"/>, growing it when needed.</summary>
    public MatrixView Buffer(int index, int rows, int columns)
    {
        long needed = (long)rows * columns;
        if (needed > Array.MaxLength)
        {
            Guard.ThrowArgument("batch", $"needs a {rows}x{columns} work buffer, larger than the largest .NET array; set LossWorkspaceOptions.RowChunkSize or MaxWorkspaceElements lower");
        }

        if (_buffers[index].Length < needed)
        {
            _buffers[index] = new float[needed];
        }

        return new MatrixView(_buffers[index], 0, rows, columns, columns);
    }

    /// <summary>Per-row double array <paramref name="index"/> of at least <paramref name="length"/> elements.</summary>
    public double[] Rows(int index, int length)
    {
        if (_rows[index].Length < length)
        {
            _rows[index] = new double[length];
        }

        return _rows[index];
    }

    /// <summary>Per-partition column partial sums (<paramref name="partitions"/> x <paramref name="columns"/>), cleared.</summary>
    public Span<float> ColumnPartials(int partitions, int columns)
    {
        int needed = partitions * columns;
        if (_columnPartials.Length < needed)
        {
            _columnPartials = new float[needed];
        }

        Span<float> span = _columnPartials.AsSpan(0, needed);
        span.Clear();
        return span;
    }

    /// <summary>The partial column sums of partition <paramref name="partition"/> (call after <see cref="ColumnPartials"/>).</summary>
    public Span<float> ColumnPartial(int partition, int columns) => _columnPartials.AsSpan(partition * columns, columns);

    /// <summary>Column totals in double (<paramref name="columns"/> elements), cleared.</summary>
    public double[] ColumnTotals(int columns)
    {
        if (_columnTotals.Length < columns)
        {
            _columnTotals = new double[columns];
        }

        Array.Clear(_columnTotals, 0, columns);
        return _columnTotals;
    }

    /// <summary>Adds the partials of every partition into the totals, in partition order.</summary>
    public void FoldColumnPartials(int partitions, int columns)
    {
        for (int p = 0; p < partitions; p++)
        {
            ReadOnlySpan<float> partial = _columnPartials.AsSpan(p * columns, columns);
            for (int j = 0; j < columns; j++)
            {
                _columnTotals[j] += partial[j];
            }
        }
    }

    /// <summary>
    /// Backward of one row chunk's logits <c>S = image[r0 .. r0+rows] * text^T</c> given <c>dL/dS = alpha * G</c> (G is
    /// rows x b): <c>dImage[r0 ..] (+)= alpha * G * text</c> and <c>dText (+)= alpha * G^T * imageChunk</c>. The text
    /// gradient is overwritten by the first chunk unless the caller asked to accumulate.
    /// </summary>
    public static void BackpropagateChunk(MatrixView g, MatrixView imageChunk, MatrixView text, int r0, float alpha, in EmbeddingGradients gradients)
    {
        if (gradients.WantsImage)
        {
            Gemm.Multiply(Transpose.None, Transpose.None, alpha, g, text, gradients.Accumulate ? 1f : 0f, gradients.Image.RowRange(r0, g.Rows));
        }

        if (gradients.WantsText)
        {
            float beta = gradients.Accumulate || r0 > 0 ? 1f : 0f;
            Gemm.Multiply(Transpose.Transposed, Transpose.None, alpha, g, imageChunk, beta, gradients.Text);
        }
    }

    /// <summary>The fixed number of partitions of <paramref name="rows"/> rows of <paramref name="columns"/> elements.</summary>
    public static int Partitions(int rows, int columns)
    {
        long work = (long)rows * columns;
        long p = Math.Max(1, work / ElementsPerPartition);
        return (int)Math.Min(Math.Min(p, rows), MaxRowPartitions);
    }

    /// <summary>The first row of partition <paramref name="partition"/> of <paramref name="partitions"/> over <paramref name="rows"/> rows.</summary>
    public static int PartitionStart(int partition, int partitions, int rows) => (int)((long)partition * rows / partitions);
}
