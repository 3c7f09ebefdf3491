using System;
using FsCheck;
using FsCheck.Fluent;

namespace Aced.Core.Tests;

public class RowGatherTests
{
    private static Matrix Numbered(int rows, int columns)
    {
        var m = new Matrix(rows, columns);
        for (int i = 0; i < m.Data.Length; i++)
        {
            m.Data[i] = i + 0.5f;
        }

        return m;
    }

    [Fact]
    public void Gather_MatrixView_CopiesChosenRowsInOrderWithRepeats()
    {
        Matrix source = Numbered(7, 5);
        int[] indices = [6, 0, 3, 3, 4, 5, 1];
        var destination = new Matrix(indices.Length, 5);
        RowGather.Gather(source, indices, destination);
        for (int i = 0; i < indices.Length; i++)
        {
            Assert.Equal(source.Row(indices[i]).ToArray(), destination.Row(i).ToArray());
        }
    }

    [Fact]
    public void Gather_StridedSourceAndDestination_CopiesOnlyTheViewColumns()
    {
        Matrix parent = Numbered(9, 8);
        MatrixView source = parent.View.ColumnRange(2, 3);
        var big = new Matrix(4, 7);
        big.Data.AsSpan().Fill(-1f);
        MatrixView destination = big.View.ColumnRange(1, 3);
        RowGather.Gather(source, [8, 2, 3, 7], destination);
        int[] expected = [8, 2, 3, 7];
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(source.Row(expected[i]).ToArray(), destination.Row(i).ToArray());
            Assert.Equal(-1f, big[i, 0]);
            Assert.Equal(-1f, big[i, 4]);
        }
    }

    [Fact]
    public void Gather_FlatTokens_CopiesWholeRowsOfIds()
    {
        int[] tokens = [10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41, 42];
        int[] destination = new int[9];
        RowGather.Gather<int>(tokens, 3, [3, 1, 2], destination);
        Assert.Equal([40, 41, 42, 20, 21, 22, 30, 31, 32], destination);
    }

    [Fact]
    public void Gather_IndexOutOfRange_ThrowsNamingPositionAndLeavesDestinationUnchanged()
    {
        Matrix source = Numbered(4, 3);
        var destination = new Matrix(3, 3);
        destination.Data.AsSpan().Fill(7f);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => RowGather.Gather(source, [0, 1, 4], destination));
        Assert.Equal("indices", e.ParamName);
        Assert.Contains("position 2", e.Message, StringComparison.Ordinal);
        Assert.All(destination.Data, v => Assert.Equal(7f, v));
        Assert.Throws<ArgumentOutOfRangeException>(() => RowGather.Gather(source, [-1, 0, 1], destination));
        float[] flat = new float[6];
        Assert.Throws<ArgumentOutOfRangeException>(() => RowGather.Gather<float>(source.Data, 3, [0, int.MaxValue], flat));
    }

    [Fact]
    public void Gather_WrongDestinationShapeOrLength_ThrowsNamingDestination()
    {
        Matrix source = Numbered(4, 3);
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => RowGather.Gather(source, [0, 1], new Matrix(3, 3))).ParamName);
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => RowGather.Gather(source, [0, 1], new Matrix(2, 4))).ParamName);
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => RowGather.Gather<float>(source.Data, 3, [0, 1], new float[7])).ParamName);
        Assert.Equal("source", Assert.Throws<ArgumentException>(() => RowGather.Gather<float>(source.Data.AsSpan(0, 11), 3, [0], new float[3])).ParamName);
        Assert.Equal("rowWidth", Assert.Throws<ArgumentOutOfRangeException>(() => RowGather.Gather<float>(source.Data, 0, [0], new float[0])).ParamName);
    }

    [Fact]
    public void Gather_DestinationOverlapsSource_Throws()
    {
        Matrix m = Numbered(6, 2);
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => RowGather.Gather(m.View.RowRange(0, 3), [0, 1], m.View.RowRange(2, 2))).ParamName);
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => RowGather.Gather<float>(m.Data.AsSpan(0, 6), 2, [0], m.Data.AsSpan(4, 2))).ParamName);
    }

    [Fact]
    public void Gather_EmptyIndices_WritesNothing()
    {
        Matrix source = Numbered(3, 2);
        RowGather.Gather(source, ReadOnlySpan<int>.Empty, new Matrix(0, 2));
        RowGather.Gather<float>(source.Data, 2, ReadOnlySpan<int>.Empty, Span<float>.Empty);
        Assert.Equal(0, RowGather.Gather(source, ReadOnlySpan<int>.Empty).Rows);
    }

    [Fact]
    public void Gather_SteadyState_AllocatesNothing()
    {
        Matrix source = Numbered(64, 16);
        var destination = new Matrix(32, 16);
        int[] indices = new int[32];
        for (int i = 0; i < indices.Length; i++)
        {
            indices[i] = (i * 7) % 64;
        }

        Assert.Equal(0, TestStatistics.AllocatedBytes(() => RowGather.Gather(source, indices, destination)));
    }

    [Fact]
    public void Gather_RandomShapesIndicesAndStrides_EqualsRowByRowReference_Property()
    {
        // Rows r, width w, k indices drawn with repeats and runs (so merged block copies are exercised), an extra
        // column padding p making the source strided when p > 0; the flat overload sees the contiguous parent.
        Gen<(int Rows, int Width, int Pad, int[] Picks)> cases =
            from rows in Gen.Choose(1, 40)
            from width in Gen.Choose(1, 9)
            from pad in Gen.Choose(0, 2)
            from picks in Gen.Choose(0, 1000).ArrayOf()
            select (rows, width, pad, picks);
        Property property = Prop.ForAll(cases.ToArbitrary(), c =>
        {
            int[] indices = new int[c.Picks.Length];
            for (int i = 0; i < indices.Length; i++)
            {
                // Every third pick continues a run from the previous index when it can.
                indices[i] = i > 0 && c.Picks[i] % 3 == 0 && indices[i - 1] + 1 < c.Rows ? indices[i - 1] + 1 : c.Picks[i] % c.Rows;
            }

            Matrix parent = Numbered(c.Rows, c.Width + c.Pad);
            MatrixView source = parent.View.ColumnRange(0, c.Width);
            var viaView = new Matrix(indices.Length, c.Width);
            RowGather.Gather(source, indices, viaView);
            float[] viaFlat = new float[indices.Length * (c.Width + c.Pad)];
            RowGather.Gather<float>(parent.Data, c.Width + c.Pad, indices, viaFlat);
            for (int i = 0; i < indices.Length; i++)
            {
                for (int j = 0; j < c.Width + c.Pad; j++)
                {
                    float expected = parent[indices[i], j];
                    if (viaFlat[(i * (c.Width + c.Pad)) + j] != expected || (j < c.Width && viaView[i, j] != expected))
                    {
                        return false;
                    }
                }
            }

            return true;
        });
        Check.One(TestStatistics.FixedSeed(300, 20261130), property);
    }
}
