using System;

namespace Aced.Core.Tests;

public class MatrixTests
{
    [Fact]
    public void Constructor_Dimensions_ZeroFilledRowMajor()
    {
        var m = new Matrix(3, 5);
        Assert.Equal(3, m.Rows);
        Assert.Equal(5, m.Columns);
        Assert.Equal(15, m.Data.Length);
        Assert.All(m.Data, v => Assert.Equal(0f, v));
        m[2, 4] = 7f;
        m[1, 0] = 3f;
        Assert.Equal(7f, m.Data[14]);
        Assert.Equal(3f, m.Data[5]);
        Assert.Equal(3f, m.Row(1)[0]);
    }

    [Theory]
    [InlineData(-1, 3, "rows")]
    [InlineData(3, -2, "columns")]
    public void Constructor_NegativeDimension_ThrowsNamingIt(int rows, int columns, string name)
    {
        Assert.Equal(name, Assert.Throws<ArgumentOutOfRangeException>(() => new Matrix(rows, columns)).ParamName);
        Assert.Equal(name, Assert.Throws<ArgumentOutOfRangeException>(() => new Matrix(rows, columns, new float[1])).ParamName);
    }

    [Fact]
    public void Constructor_TooManyElements_ThrowsNamingRows()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new Matrix(int.MaxValue, 3));
        Assert.Equal("rows", ex.ParamName);
    }

    [Fact]
    public void Constructor_WrappedDataOfWrongLength_ThrowsNamingData()
    {
        var ex = Assert.Throws<ArgumentException>(() => new Matrix(2, 3, new float[5]));
        Assert.Equal("data", ex.ParamName);
        Assert.Contains("2x3", ex.Message);
        Assert.Contains("6", ex.Message);
        Assert.Equal("data", Assert.Throws<ArgumentNullException>(() => new Matrix(2, 3, null!)).ParamName);
    }

    [Fact]
    public void Constructor_WrappedData_SharesStorage()
    {
        float[] data = { 1, 2, 3, 4, 5, 6 };
        var m = new Matrix(2, 3, data);
        Assert.Same(data, m.Data);
        m[1, 2] = 60;
        Assert.Equal(60, data[5]);
    }

    [Fact]
    public void ZeroSizeMatrices_AreValidAndEmpty()
    {
        foreach ((int rows, int columns) in new[] { (0, 0), (0, 4), (4, 0) })
        {
            var m = new Matrix(rows, columns);
            MatrixView v = m;
            Assert.True(v.IsEmpty);
            Assert.True(v.Span.IsEmpty);
            Assert.Equal(rows, v.Rows);
            Assert.Equal(columns, v.Columns);
            Assert.Equal(0, v.RowRange(0, 0).Rows);
            Assert.Equal(0, v.ColumnRange(0, 0).Columns);
            Matrix copy = v.ToMatrix();
            Assert.Equal(rows, copy.Rows);
            Assert.Equal(columns, copy.Columns);
        }

        Assert.Equal(0, new Matrix(4, 0).Row(3).Length);
        MatrixView empty = default;
        Assert.True(empty.IsEmpty);
        Assert.True(empty.Span.IsEmpty);
        Assert.Equal(0, empty.RowRange(0, 0).Rows);
    }

    [Fact]
    public void Indexer_OutOfRange_ThrowsNamingIndex()
    {
        var m = new Matrix(2, 3);
        Assert.Equal("row", Assert.Throws<ArgumentOutOfRangeException>(() => m[2, 0]).ParamName);
        Assert.Equal("column", Assert.Throws<ArgumentOutOfRangeException>(() => m[0, 3]).ParamName);
        Assert.Equal("column", Assert.Throws<ArgumentOutOfRangeException>(() => m[1, -1]).ParamName);
        MatrixView v = m.View.ColumnRange(1, 1);
        Assert.Equal("column", Assert.Throws<ArgumentOutOfRangeException>(() => v[0, 1]).ParamName);
        Assert.Equal("row", Assert.Throws<ArgumentOutOfRangeException>(() => m.Row(-1)).ParamName);
        Assert.Equal("row", Assert.Throws<ArgumentOutOfRangeException>(() => v.Row(2)).ParamName);
    }

    [Fact]
    public void RowRange_SharesStorageWithoutCopying()
    {
        Matrix m = Sequential(5, 4);
        MatrixView rows = m.RowRange(1, 3);
        Assert.Same(m.Data, rows.Array);
        Assert.Equal(4, rows.Offset);
        Assert.Equal(3, rows.Rows);
        Assert.True(rows.IsContiguous);
        Assert.Equal(m[2, 3], rows[1, 3]);
        rows[2, 0] = -1;
        Assert.Equal(-1, m[3, 0]);
        rows.Row(0)[1] = -2;
        Assert.Equal(-2, m[1, 1]);
        Assert.Equal(12, rows.Span.Length);

        MatrixView nested = rows.RowRange(1, 2);
        Assert.Equal(8, nested.Offset);
        Assert.Equal(m[3, 2], nested[1, 2]);
    }

    [Fact]
    public void ColumnRange_SharesStorageWithStride()
    {
        Matrix m = Sequential(4, 6);
        MatrixView columns = m.View.ColumnRange(2, 3);
        Assert.Same(m.Data, columns.Array);
        Assert.Equal(6, columns.Stride);
        Assert.Equal(3, columns.Columns);
        Assert.False(columns.IsContiguous);
        Assert.Equal(m[3, 4], columns[3, 2]);
        columns[1, 0] = -5;
        Assert.Equal(-5, m[1, 2]);
        Assert.Equal(3, columns.Row(2).Length);
        Assert.Equal(m[2, 2], columns.Row(2)[0]);

        // The span covers the stride gaps: (rows - 1) * stride + columns.
        Assert.Equal((3 * 6) + 3, columns.Span.Length);

        MatrixView block = columns.RowRange(1, 2).ColumnRange(1, 2);
        Assert.Equal(m[2, 4], block[1, 1]);
        Matrix copy = block.ToMatrix();
        Assert.Equal(new[] { m[1, 3], m[1, 4], m[2, 3], m[2, 4] }, copy.Data);
        Assert.NotSame(m.Data, copy.Data);
    }

    [Theory]
    [InlineData(-1, 1, "start")]
    [InlineData(6, 0, "start")]
    [InlineData(2, 4, "count")]
    [InlineData(0, -1, "count")]
    [InlineData(5, 1, "count")]
    public void Ranges_OutOfBounds_ThrowNamingArgument(int start, int count, string name)
    {
        Matrix m = Sequential(5, 5);
        var rowError = Assert.Throws<ArgumentOutOfRangeException>(() => m.RowRange(start, count));
        Assert.Equal(name, rowError.ParamName);
        Assert.Contains("5 rows", rowError.Message);
        var columnError = Assert.Throws<ArgumentOutOfRangeException>(() => m.View.ColumnRange(start, count));
        Assert.Equal(name, columnError.ParamName);
        Assert.Contains("5 columns", columnError.Message);
    }

    [Fact]
    public void Ranges_AtTheEnd_AreValidAndEmpty()
    {
        Matrix m = Sequential(3, 4);
        Assert.Equal(0, m.RowRange(3, 0).Rows);
        Assert.Equal(0, m.View.ColumnRange(4, 0).Columns);
        Assert.Equal(m[2, 3], m.View.ColumnRange(3, 1)[2, 0]);
    }

    [Fact]
    public void ViewConstructor_DoesNotFit_ThrowsNamingArgument()
    {
        float[] data = new float[10];
        Assert.Equal("array", Assert.Throws<ArgumentException>(() => new MatrixView(data, 2, 3, 3, 3)).ParamName);
        Assert.Equal("stride", Assert.Throws<ArgumentOutOfRangeException>(() => new MatrixView(data, 0, 2, 3, 2)).ParamName);
        Assert.Equal("offset", Assert.Throws<ArgumentOutOfRangeException>(() => new MatrixView(data, -1, 1, 1, 1)).ParamName);
        Assert.Equal("array", Assert.Throws<ArgumentException>(() => new MatrixView(data, 11, 0, 0, 0)).ParamName);
        Assert.Equal("array", Assert.Throws<ArgumentNullException>(() => new MatrixView(null!, 1, 1)).ParamName);

        // Exactly fitting: last row ends at the last element.
        var fits = new MatrixView(data, 1, 3, 3, 3);
        Assert.Equal(9, fits.Span.Length);
        var strided = new MatrixView(data, 0, 2, 2, 8);
        Assert.Equal(10, strided.Span.Length);
    }

    [Fact]
    public void EnsureShape_Mismatch_MessageNamesArgumentAndShapes()
    {
        MatrixView v = new Matrix(3, 4);
        v.EnsureShape(3, 4, "weights");
        var ex = Assert.Throws<ArgumentException>(() => v.EnsureShape(4, 3, "weights"));
        Assert.Equal("weights", ex.ParamName);
        Assert.Contains("3x4", ex.Message);
        Assert.Contains("4x3", ex.Message);
    }

    [Fact]
    public void ImplicitConversion_NullMatrix_Throws()
    {
        Matrix? none = null;
        Assert.Throws<ArgumentNullException>(() =>
        {
            MatrixView view = none!;
            return view.Rows;
        });
    }

    [Fact]
    public void Clone_IsDeepCopy()
    {
        Matrix m = Sequential(2, 2);
        Matrix c = m.Clone();
        c[0, 0] = 100;
        Assert.Equal(0, m[0, 0]);
        Assert.Equal(m.Rows, c.Rows);
        Assert.Equal("Matrix 2x2", m.ToString());
    }

    private static Matrix Sequential(int rows, int columns)
    {
        var m = new Matrix(rows, columns);
        for (int i = 0; i < m.Data.Length; i++)
        {
            m.Data[i] = i;
        }

        return m;
    }
}
