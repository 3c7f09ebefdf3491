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
    /// <exception cref="ArgumentException">The view does not fit inside the array or the stride is smaller than the column count.</exception>
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

    /// <summary>True for the default (array-less) view.</summary>
    public bool IsEmpty => Rows == 0 || Columns == 0;

    /// <summary>Element (i, j).</summary>
    public ref float this[int row, int column] => ref Array[Offset + (row * Stride) + column];

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
    public MatrixView RowRange(int start, int count)
    {
        if (start < 0 || count < 0 || start > Rows - count)
        {
            Guard.ThrowOutOfRange(nameof(start), $"[{start}, {start + count})", $"must lie within the {Rows} rows of the view");
        }

        return count == 0 ? new MatrixView(Array ?? System.Array.Empty<float>(), Offset, 0, Columns, Stride) : new MatrixView(Array, Offset + (start * Stride), count, Columns, Stride);
    }

    /// <summary>A copy-free view of columns [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) (stride unchanged).</summary>
    public MatrixView ColumnRange(int start, int count)
    {
        if (start < 0 || count < 0 || start > Columns - count)
        {
            Guard.ThrowOutOfRange(nameof(start), $"[{start}, {start + count})", $"must lie within the {Columns} columns of the view");
        }

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
    public void EnsureShape(int rows, int columns, string name)
    {
        if (Rows != rows || Columns != columns)
        {
            Guard.ThrowArgument(name, $"has shape {Rows}x{Columns} but {rows}x{columns} was expected");
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"MatrixView {Rows}x{Columns} (stride {Stride})";
}
