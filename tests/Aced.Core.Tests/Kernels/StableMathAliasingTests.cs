using System;

namespace Aced.Core.Tests.Kernels;

/// <summary>
/// Views of one array passed as source and destination: the row kernels used to check overlap row by row only,
/// so a destination shifted by one row (row r of the destination = row r + 1 of the source) passed the check and
/// silently overwrote source rows before they were read.
/// </summary>
public sealed class StableMathAliasingTests
{
    private static float[] Data(int length)
    {
        var rng = new System.Random(41);
        var data = new float[length];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = (float)((rng.NextDouble() * 6) - 3);
        }

        return data;
    }

    public static TheoryData<string> Kernels() => new() { "SoftmaxRows", "SoftmaxColumns", "L2NormalizeRows", "L2NormalizeRowsBackward" };

    private static void Run(string kernel, MatrixView x, MatrixView destination)
    {
        var norms = new float[x.Rows];
        norms.AsSpan().Fill(1f);
        switch (kernel)
        {
            case "SoftmaxRows":
                StableMath.SoftmaxRows(x, destination);
                break;
            case "SoftmaxColumns":
                StableMath.SoftmaxColumns(x, destination);
                break;
            case "L2NormalizeRows":
                StableMath.L2NormalizeRows(x, destination, norms);
                break;
            default:
                StableMath.L2NormalizeRowsBackward(x, norms, x.ToMatrix(), destination);
                break;
        }
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void RowKernel_DestinationShiftedByOneRow_ThrowsBeforeWriting(string kernel)
    {
        float[] data = Data(6 * 9);
        float[] before = (float[])data.Clone();
        var x = new MatrixView(data, 0, 5, 9, 9);
        var shifted = new MatrixView(data, 9, 5, 9, 9);

        var ex = Assert.Throws<ArgumentException>(() => Run(kernel, x, shifted));

        Assert.Equal(kernel == "L2NormalizeRowsBackward" ? "gradInput" : "destination", ex.ParamName);
        Assert.Equal(before, data);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void RowKernel_SideBySideColumnBlocksOfOneMatrix_MatchSeparateStorage(string kernel)
    {
        // Source = columns [0, 7), destination = columns [7, 14) of a 5 x 14 matrix: interleaved address ranges,
        // disjoint elements, so this is valid and must give the same numbers as separate storage.
        float[] data = Data(5 * 14);
        var x = new MatrixView(data, 0, 5, 7, 14);
        var destination = new MatrixView(data, 7, 5, 7, 14);
        Matrix xCopy = x.ToMatrix();
        var expected = new Matrix(5, 7);
        Run(kernel, xCopy, expected);

        Run(kernel, x, destination);

        Assert.Equal(expected.Data, destination.ToMatrix().Data);
        Assert.Equal(xCopy.Data, x.ToMatrix().Data);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void RowKernel_SameView_StillWorksInPlace(string kernel)
    {
        float[] data = Data(4 * 10);
        var x = new MatrixView(data, 2, 3, 8, 10);
        var expected = new Matrix(3, 8);
        Run(kernel, x.ToMatrix(), expected);

        Run(kernel, x, new MatrixView(data, 2, 3, 8, 10));

        Assert.Equal(expected.Data, x.ToMatrix().Data);
    }

    [Fact]
    public void L2NormalizeRows_NormBeyondFloatRange_DocumentedInfNormAndFiniteRow()
    {
        var x = new Matrix(1, 2, new[] { float.MaxValue, float.MaxValue });
        var y = new Matrix(1, 2);
        var norms = new float[1];

        StableMath.L2NormalizeRows(x, y, norms);

        Assert.Equal(float.PositiveInfinity, norms[0]);
        Assert.Equal((float)Math.Sqrt(0.5), y[0, 0]);
        Assert.Equal((float)Math.Sqrt(0.5), y[0, 1]);
    }

    [Fact]
    public void Overlap_RandomViewPairs_AgreesWithBruteForceWhenExactAndNeverMissesAnOverlap()
    {
        var rng = new System.Random(5);
        var data = new float[64];
        for (int trial = 0; trial < 20000; trial++)
        {
            MatrixView x = RandomView(rng, data);
            MatrixView y = RandomView(rng, data);
            bool brute = BruteOverlap(x, y);
            bool got = MatrixView.Overlap(x, y);
            bool exact = x.Stride == y.Stride || x.Rows <= 1 || y.Rows <= 1;
            if (exact)
            {
                Assert.True(brute == got, $"{Describe(x)} vs {Describe(y)}: brute {brute}, Overlap {got}");
            }
            else
            {
                Assert.True(!brute || got, $"{Describe(x)} vs {Describe(y)}: missed an overlap");
            }
        }
    }

    private static string Describe(MatrixView v) => $"(offset {v.Offset}, {v.Rows}x{v.Columns}, stride {v.Stride})";

    private static MatrixView RandomView(System.Random rng, float[] data)
    {
        while (true)
        {
            int rows = rng.Next(0, 6);
            int columns = rng.Next(0, 6);
            int stride = columns + rng.Next(0, 6);
            int offset = rng.Next(0, 40);
            long end = rows == 0 || columns == 0 ? offset : offset + ((long)(rows - 1) * stride) + columns;
            if (end <= data.Length)
            {
                return new MatrixView(data, offset, rows, columns, stride);
            }
        }
    }

    private static bool BruteOverlap(MatrixView x, MatrixView y)
    {
        var seen = new bool[x.Array.Length];
        for (int r = 0; r < x.Rows; r++)
        {
            for (int c = 0; c < x.Columns; c++)
            {
                seen[x.Offset + (r * x.Stride) + c] = true;
            }
        }

        for (int r = 0; r < y.Rows; r++)
        {
            for (int c = 0; c < y.Columns; c++)
            {
                if (seen[y.Offset + (r * y.Stride) + c])
                {
                    return true;
                }
            }
        }

        return false;
    }
}
