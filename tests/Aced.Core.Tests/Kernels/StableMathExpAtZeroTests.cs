using System;

namespace Aced.Core.Tests.Kernels;

/// <summary>
/// The vectorised exp (Vector128/256/512.Exp, TensorPrimitives.Exp) returns 1.0000001 for exp(0), and exp(0) is
/// exactly what every kernel evaluates at the row maximum (exp(x - max)) or at x = 0 (exp(-|x|)). Before the
/// clamp, LogSumExp([c, -Inf, ... 15 more]) was c + 1.2e-7 (a relative error of 1e-4 for c = 1e-3, and a
/// non-zero result for c = 0) whenever the span was long enough to take the vector path, while the scalar tail
/// gave c: the result depended on the span length.
/// </summary>
public sealed class StableMathExpAtZeroTests
{
    [Theory]
    [InlineData(0f)]
    [InlineData(1e-3f)]
    [InlineData(-2.5f)]
    [InlineData(1f)]
    public void LogSumExp_OneFiniteElementAnyLength_IsExactlyThatElement(float c)
    {
        for (int n = 1; n <= 70; n++)
        {
            var x = new float[n];
            Array.Fill(x, float.NegativeInfinity);
            x[n / 2] = c;
            Assert.Equal(c, StableMath.LogSumExp(x));

            var rows = new MatrixView(x, 1, n);
            var rowLse = new float[1];
            StableMath.LogSumExpRows(rows, rowLse);
            Assert.Equal(c, rowLse[0]);

            var columnsLse = new float[n];
            var column = new MatrixView(x, 1, n); // one row: every column holds a single element
            StableMath.LogSumExpColumns(column, columnsLse);
            Assert.Equal(c, columnsLse[n / 2]);
        }
    }

    [Fact]
    public void SoftmaxRowsAndColumns_OneHotAnyLength_GiveExactlyOneAndZeros()
    {
        for (int n = 1; n <= 70; n++)
        {
            var row = new Matrix(1, n);
            Array.Fill(row.Data, float.NegativeInfinity);
            row[0, n - 1] = 3f;
            var softRow = new Matrix(1, n);
            StableMath.SoftmaxRows(row, softRow);
            Assert.Equal(1f, softRow[0, n - 1]);

            var columns = new Matrix(2, n);
            Array.Fill(columns.Data, float.NegativeInfinity);
            for (int c = 0; c < n; c++)
            {
                columns[c % 2, c] = 0.25f * c;
            }

            var softColumns = new Matrix(2, n);
            StableMath.SoftmaxColumns(columns, softColumns);
            for (int c = 0; c < n; c++)
            {
                Assert.Equal(1f, softColumns[c % 2, c]);
                Assert.Equal(0f, softColumns[1 - (c % 2), c]);
            }
        }
    }

    [Fact]
    public void ElementwiseKernels_AtZeroAnyLength_MatchScalarBitForBit()
    {
        for (int n = 1; n <= 70; n++)
        {
            var x = new float[n];
            var y = new float[n];
            StableMath.Sigmoid(x, y);
            Assert.All(y, v => Assert.Equal(0.5f, v));
            StableMath.Softplus(x, y);
            Assert.All(y, v => Assert.Equal(StableMath.Softplus(0f), v));
            StableMath.LogSigmoid(x, y);
            Assert.All(y, v => Assert.Equal(StableMath.LogSigmoid(0f), v));
        }
    }

    [Fact]
    public void Kernels_NaNStillPropagatesThroughTheClamp()
    {
        var x = new float[40];
        x[20] = float.NaN;
        var y = new float[40];
        StableMath.Sigmoid(x, y);
        Assert.True(float.IsNaN(y[20]));
        StableMath.Softplus(x, y);
        Assert.True(float.IsNaN(y[20]));
        Assert.True(float.IsNaN(StableMath.LogSumExp(x)));
        var m = new Matrix(2, 40);
        m[1, 20] = float.NaN;
        var s = new Matrix(2, 40);
        StableMath.SoftmaxRows(m, s);
        Assert.True(float.IsNaN(s[1, 0]));
        StableMath.SoftmaxColumns(m, s);
        Assert.True(float.IsNaN(s[0, 20]));
        Assert.False(float.IsNaN(s[0, 19]));
        var lse = new float[40];
        StableMath.LogSumExpColumns(m, lse);
        Assert.True(float.IsNaN(lse[20]));
    }
}
