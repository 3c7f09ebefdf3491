using System;

namespace Aced.Core;

/// <summary>
/// A dense row-major single-precision matrix that owns its storage. Element (i, j) lives at
/// <c>Data[i * Columns + j]</c>. Use <see cref="View"/> or <see cref="RowRange"/> for cheap,
/// copy-free views.
/// </summary>
public sealed class Matrix
{
    /// <summary>Allocates a zero-filled <paramref name="rows"/> x <paramref name="columns"/> matrix.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is negative or the element count overflows.</exception>
    public Matrix(int rows, int columns)
    {
        Guard.NonNegative(rows);
        Guard.NonNegative(columns);
        long count = (long)rows * columns;
        if (count > Array.MaxLength)
        {
            Guard.ThrowOutOfRange(nameof(rows), $"{rows}x{columns}", "times columns exceeds the largest array .NET can allocate");
        }

        Rows = rows;
        Columns = columns;
        Data = new float[count];
    }

    /// <summary>Wraps <paramref name="data"/> (not copied) as a <paramref name="rows"/> x <paramref name="columns"/> matrix.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is negative.</exception>
    /// <exception cref="ArgumentException"><paramref name="data"/> length is not rows * columns.</exception>
    public Matrix(int rows, int columns, float[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        Guard.NonNegative(rows);
        Guard.NonNegative(columns);
        if ((long)rows * columns != data.Length)
        {
            Guard.ThrowArgument(nameof(data), $"has {data.Length} elements but a {rows}x{columns} matrix needs {(long)rows * columns}");
        }

        Rows = rows;
        Columns = columns;
        Data = data;
    }

    /// <summary>Number of rows.</summary>
    public int Rows { get; }

    /// <summary>Number of columns.</summary>
    public int Columns { get; }

    /// <summary>The row-major backing array (length <c>Rows * Columns</c>).</summary>
    public float[] Data { get; }

    /// <summary>Element (<paramref name="row"/>, <paramref name="column"/>); both indices are checked.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An index is outside the matrix.</exception>
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

            return ref Data[(row * Columns) + column];
        }
    }

    /// <summary>All elements as a span.</summary>
    public Span<float> Span => Data;

    /// <summary>Row <paramref name="row"/> as a span (shares storage).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="row"/> is outside [0, Rows).</exception>
    public Span<float> Row(int row)
    {
        if ((uint)row >= (uint)Rows)
        {
            Guard.ThrowOutOfRange(nameof(row), row, $"must be in [0, {Rows})");
        }

        return Data.AsSpan(row * Columns, Columns);
    }

    /// <summary>A view of the whole matrix.</summary>
    public MatrixView View => new(Data, 0, Rows, Columns, Columns);

    /// <summary>A copy-free view of rows [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range does not lie within the matrix.</exception>
    public MatrixView RowRange(int start, int count) => View.RowRange(start, count);

    /// <summary>Implicit conversion to a whole-matrix view.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="matrix"/> is null (a null matrix is a bug, not an empty view).</exception>
    public static implicit operator MatrixView(Matrix matrix)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        return matrix.View;
    }

    /// <summary>A deep copy.</summary>
    public Matrix Clone() => new(Rows, Columns, (float[])Data.Clone());

    /// <inheritdoc/>
    public override string ToString() => $"Matrix {Rows}x{Columns}";
}
