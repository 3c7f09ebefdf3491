using System;

namespace Aced.Core;

/// <summary>
/// A copy-free row-major view of a block of a <c>float[]</c>: <see cref="Rows"/> rows of
/// <see cref="Columns"/> elements, row r starting at <c>Offset + r * Stride</c>. Row-range views of a
/// <see cref="Matrix"/> have <c>Stride == Columns</c> and are contiguous.
/// </summary>
public readonly struct MatrixView
{
    /// <summary>Creates a view; validates that every addressed element lies inside <paramref name="array"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="array"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A dimension or the offset is negative, or the stride is smaller than the column count.</exception>
    /// <exception cref="ArgumentException">The view does not fit inside the array.</exception>
    public MatrixView(float[] array, int offset, int rows, int columns, int stride)
    {
        ArgumentNullException.ThrowIfNull(array);
        Guard.NonNegative(offset);
        Guard.NonNegative(rows);
        Guard.NonNegative(columns);
        if (stride < columns)
        {
            Guard.ThrowOutOfRange(nameof(stride), stride, $"must be at least the column count {columns}");
        }

        long end = rows == 0 || columns == 0 ? offset : offset + ((long)(rows - 1) * stride) + columns;
        if (end > array.Length || offset > array.Length)
        {
            Guard.ThrowArgument(nameof(array), $"of length {array.Length} is too short for a {rows}x{columns} view at offset {offset} with stride {stride} (needs {end})");
        }

        Array = array;
        Offset = offset;
        Rows = rows;
        Columns = columns;
        Stride = stride;
    }

    /// <summary>Creates a contiguous <paramref name="rows"/> x <paramref name="columns"/> view of the start of <paramref name="array"/>.</summary>
    public MatrixView(float[] array, int rows, int columns)
        : this(array, 0, rows, columns, columns)
    {
    }

    /// <summary>The backing array (null for the default view).</summary>
    public float[] Array { get; }

    /// <summary>Index of element (0, 0) in <see cref="Array"/>.</summary>
    public int Offset { get; }

    /// <summary>Number of rows.</summary>
    public int Rows { get; }

    /// <summary>Number of columns.</summary>
    public int Columns { get; }

    /// <summary>Distance in elements between the starts of consecutive rows (the BLAS leading dimension).</summary>
    public int Stride { get; }

    /// <summary>True when rows follow each other without gaps.</summary>
    public bool IsContiguous => Stride == Columns || Rows <= 1;

    /// <summary>True when the view has no elements (zero rows or zero columns, including the default view).</summary>
    public bool IsEmpty => Rows == 0 || Columns == 0;

    /// <summary>Element (<paramref name="row"/>, <paramref name="column"/>); both indices are checked.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An index is outside the view.</exception>
    public ref float this[int row, int column]
    {
        get
        {
            if ((uint)row >= (uint)Rows)
            {
                Guard.ThrowOutOfRange(nameof(row), row, $"must be in [0, {Rows})");
            }

            if ((uint)column >= (uint)Columns)
            {
                Guard.ThrowOutOfRange(nameof(column), column, $"must be in [0, {Columns})");
            }

            return ref Array[Offset + (row * Stride) + column];
        }
    }

    /// <summary>Row <paramref name="row"/> as a span of <see cref="Columns"/> elements.</summary>
    public Span<float> Row(int row)
    {
        if ((uint)row >= (uint)Rows)
        {
            Guard.ThrowOutOfRange(nameof(row), row, $"must be in [0, {Rows})");
        }

        return Array.AsSpan(Offset + (row * Stride), Columns);
    }

    /// <summary>
    /// The addressed storage from element (0, 0) to the last element of the last row
    /// (<c>(Rows - 1) * Stride + Columns</c> elements; includes stride gaps when not contiguous).
    /// </summary>
    public Span<float> Span => IsEmpty ? Span<float>.Empty : Array.AsSpan(Offset, ((Rows - 1) * Stride) + Columns);

    /// <summary>A copy-free view of rows [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="start"/> or <paramref name="count"/> puts the range outside the view.</exception>
    public MatrixView RowRange(int start, int count)
    {
        ValidateRange(start, count, Rows, "rows");

        return count == 0 ? new MatrixView(Array ?? System.Array.Empty<float>(), Offset, 0, Columns, Stride) : new MatrixView(Array, Offset + (start * Stride), count, Columns, Stride);
    }

    /// <summary>A copy-free view of columns [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) (stride unchanged).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="start"/> or <paramref name="count"/> puts the range outside the view.</exception>
    public MatrixView ColumnRange(int start, int count)
    {
        ValidateRange(start, count, Columns, "columns");

        return new MatrixView(Array ?? System.Array.Empty<float>(), Offset + start, Rows, count, Stride);
    }

    /// <summary>Copies the view into a new owning <see cref="Matrix"/>.</summary>
    public Matrix ToMatrix()
    {
        var result = new Matrix(Rows, Columns);
        for (int r = 0; r < Rows; r++)
        {
            Row(r).CopyTo(result.Row(r));
        }

        return result;
    }

    /// <summary>Throws unless the view is <paramref name="rows"/> x <paramref name="columns"/>.</summary>
    /// <param name="rows">The expected row count.</param>
    /// <param name="columns">The expected column count.</param>
    /// <param name="name">The caller's argument name for this view, used as the exception's parameter name.</param>
    /// <exception cref="ArgumentException">The shape differs; the message names <paramref name="name"/> and both shapes.</exception>
    public void EnsureShape(int rows, int columns, string name)
    {
        if (Rows != rows || Columns != columns)
        {
            Guard.ThrowArgument(name, $"has shape {Rows}x{Columns} but {rows}x{columns} was expected");
        }
    }

    private static void ValidateRange(int start, int count, int available, string what)
    {
        if ((uint)start > (uint)available)
        {
            Guard.ThrowOutOfRange(nameof(start), start, $"must be in [0, {available}] (the view has {available} {what})");
        }

        if (count < 0 || count > available - start)
        {
            Guard.ThrowOutOfRange(nameof(count), count, $"must be in [0, {available - start}] so that [{start}, {start} + count) lies within the {available} {what} of the view");
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"MatrixView {Rows}x{Columns} (stride {Stride})";
}
