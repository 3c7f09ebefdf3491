using System;

namespace Aced.Core;

/// <summary>
/// Gathers rows by index: <c>destination[i] = source[indices[i]]</c> for every position i, the building block of
/// a training step that trains on the rows a selection chose (pixels, token ids, cached reference embeddings).
/// Indices may repeat and come in any order. Every index is checked before anything is written, so on an error
/// the destination is unchanged. Rows are moved with block copies; runs of consecutive indices over contiguous
/// storage are merged into one copy. Allocation-free.
/// </summary>
public static class RowGather
{
    /// <summary>Copies rows <paramref name="indices"/> of <paramref name="source"/> into the rows of <paramref name="destination"/>, in order.</summary>
    /// <param name="source">The rows to gather from (any stride).</param>
    /// <param name="indices">Row indices into <paramref name="source"/>, each in <c>[0, source.Rows)</c>; repeats allowed.</param>
    /// <param name="destination">indices.Length x source.Columns (any stride); must not overlap <paramref name="source"/>.</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> has the wrong shape or overlaps <paramref name="source"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An index is outside <c>[0, source.Rows)</c> (the message gives its position).</exception>
    public static void Gather(MatrixView source, ReadOnlySpan<int> indices, MatrixView destination)
    {
        destination.EnsureShape(indices.Length, source.Columns, nameof(destination));
        if (MatrixView.Overlap(source, destination))
        {
            Guard.ThrowArgument(nameof(destination), "overlaps source; gather into separate storage");
        }

        CheckIndices(indices, source.Rows);
        int width = source.Columns;
        if (width == 0 || indices.IsEmpty)
        {
            return;
        }

        if (source.IsContiguous && destination.IsContiguous)
        {
            CopyRuns<float>(source.Array.AsSpan(source.Offset, source.Rows * width), width, indices, destination.Array.AsSpan(destination.Offset, indices.Length * width));
            return;
        }

        for (int i = 0; i < indices.Length; i++)
        {
            source.Row(indices[i]).CopyTo(destination.Row(i));
        }
    }

    /// <summary>
    /// Copies rows <paramref name="indices"/> of a flat row-major <paramref name="source"/> whose rows are
    /// <paramref name="rowWidth"/> elements wide (pixels of images, token ids of captions, ...) into
    /// <paramref name="destination"/>, which receives <c>indices.Length * rowWidth</c> elements.
    /// </summary>
    /// <typeparam name="T">Element type (float pixels, int tokens, ...).</typeparam>
    /// <param name="source">Rows of <paramref name="rowWidth"/> elements; its length must be a multiple of <paramref name="rowWidth"/>.</param>
    /// <param name="rowWidth">Elements per row, at least 1.</param>
    /// <param name="indices">Row indices, each in <c>[0, source.Length / rowWidth)</c>; repeats allowed.</param>
    /// <param name="destination">Exactly <c>indices.Length * rowWidth</c> elements; must not overlap <paramref name="source"/>.</param>
    /// <exception cref="ArgumentException">The source length is not a multiple of the row width, the destination length is wrong, or the spans overlap.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rowWidth"/> is below 1, or an index is out of range (the message gives its position).</exception>
    public static void Gather<T>(ReadOnlySpan<T> source, int rowWidth, ReadOnlySpan<int> indices, Span<T> destination)
    {
        Guard.Positive(rowWidth);
        if (source.Length % rowWidth != 0)
        {
            Guard.ThrowArgument(nameof(source), $"has {source.Length} elements, not a whole number of rows of {rowWidth}");
        }

        if ((long)indices.Length * rowWidth != destination.Length)
        {
            Guard.ThrowArgument(nameof(destination), $"has {destination.Length} elements but {indices.Length} rows of {rowWidth} need {(long)indices.Length * rowWidth}; slice it to that length");
        }

        if (source.Overlaps((ReadOnlySpan<T>)destination))
        {
            Guard.ThrowArgument(nameof(destination), "overlaps source; gather into separate storage");
        }

        CheckIndices(indices, source.Length / rowWidth);
        CopyRuns(source, rowWidth, indices, destination);
    }

    /// <summary>Allocates and returns <c>source[indices]</c> as a new indices.Length x source.Columns matrix.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An index is outside <c>[0, source.Rows)</c>.</exception>
    public static Matrix Gather(MatrixView source, ReadOnlySpan<int> indices)
    {
        var result = new Matrix(indices.Length, source.Columns);
        Gather(source, indices, result);
        return result;
    }

    private static void CheckIndices(ReadOnlySpan<int> indices, int rows)
    {
        for (int i = 0; i < indices.Length; i++)
        {
            if ((uint)indices[i] >= (uint)rows)
            {
                ThrowIndex(indices[i], i, rows);
            }
        }
    }

    private static void ThrowIndex(int index, int position, int rows) =>
        Guard.ThrowOutOfRange("indices", index, $"at position {position} is outside [0, {rows}), the rows of the source");

    /// <summary>Validated copy; a run of consecutive indices <c>k, k+1, ...</c> becomes one block copy.</summary>
    private static void CopyRuns<T>(ReadOnlySpan<T> source, int width, ReadOnlySpan<int> indices, Span<T> destination)
    {
        int i = 0;
        while (i < indices.Length)
        {
            int first = indices[i];
            int run = 1;
            while (i + run < indices.Length && indices[i + run] == first + run)
            {
                run++;
            }

            source.Slice(first * width, run * width).CopyTo(destination.Slice(i * width, run * width));
            i += run;
        }
    }
}
