using System;
using System.Numerics.Tensors;
using Aced.Core;

namespace Aced.Models.Layers;

/// <summary>
/// Dense layer <c>y = x W + b</c> with W stored in x out (row-major); every product goes through <see cref="Gemm"/>.
/// With a bias the forward runs through <see cref="Gemm.MultiplyWithEpilogue{TEpilogue}"/>: the bias (and optionally
/// a residual and a GELU) is applied to each finished tile while it is in cache, so y is written exactly once.
/// </summary>
internal static class Linear
{
    /// <summary>
    /// Rows of x and dy per weight-gradient product. dW = x^T dy with k = batch x tokens rows (16384 at the reference
    /// batch) is computed as a fixed sequence of k-slices of this length accumulated into dW: each slice's packed dy
    /// stays in cache across the row tiles of the product instead of being streamed from memory once per row tile,
    /// which measured 1.3-1.8x faster at the reference shapes (see docs/PERFORMANCE.md). The slicing depends only on
    /// k, so the summation order, and the result, is the same for every thread count.
    /// </summary>
    public const int WeightGradientSlice = 512;

    /// <summary>y (n x out) = x (n x in) W (in x out) + b; b may be null (no bias).</summary>
    public static void Forward(MatrixView x, MatrixView w, float[]? b, MatrixView y)
    {
        if (b is null)
        {
            Gemm.Multiply(Transpose.None, Transpose.None, 1f, x, w, 0f, y);
            return;
        }

        CheckOutput(x, w, y);
        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 1f, x, w, new BiasEpilogue(y, b, default, default));
    }

    /// <summary>y = residual + x W + b in one pass over y (<paramref name="residual"/> has y's shape and must not alias it).</summary>
    public static void ForwardResidual(MatrixView x, MatrixView w, float[] b, MatrixView residual, MatrixView y)
    {
        CheckOutput(x, w, y);
        residual.EnsureShape(y.Rows, y.Columns, nameof(residual));
        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 1f, x, w, new BiasEpilogue(y, b, residual, default));
    }

    /// <summary>hidden = x W + b and gelu = GELU(hidden) (see <see cref="RowMath.Gelu"/>) in one pass.</summary>
    public static void ForwardGelu(MatrixView x, MatrixView w, float[] b, MatrixView hidden, MatrixView gelu)
    {
        CheckOutput(x, w, hidden);
        gelu.EnsureShape(hidden.Rows, hidden.Columns, nameof(gelu));
        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 1f, x, w, new BiasEpilogue(hidden, b, default, gelu));
    }

    /// <summary>
    /// dW += x^T dy, db += 1^T dy (db a 1 x out view, empty to skip; summed by <see cref="RowOps.AddColumnSums"/> in a
    /// fixed order), and dx = dy W^T (dx += when <paramref name="accumulateDx"/>); pass an empty dx view to skip the
    /// input gradient.
    /// </summary>
    public static void Backward(MatrixView x, MatrixView w, MatrixView dy, MatrixView dx, bool accumulateDx, MatrixView dw, MatrixView db)
    {
        AddWeightGradient(x, dy, dw);
        if (!db.IsEmpty)
        {
            RowOps.AddColumnSums(dy, db.Row(0));
        }

        if (!dx.IsEmpty)
        {
            Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, dy, w, accumulateDx ? 1f : 0f, dx);
        }
    }

    /// <summary>dW += x^T dy, summed over fixed k-slices of <see cref="WeightGradientSlice"/> rows in row order.</summary>
    public static void AddWeightGradient(MatrixView x, MatrixView dy, MatrixView dw)
    {
        int k = x.Rows;
        if (k <= WeightGradientSlice)
        {
            Gemm.Multiply(Transpose.Transposed, Transpose.None, 1f, x, dy, 1f, dw);
            return;
        }

        if (dy.Rows != k)
        {
            Guard.ThrowArgument(nameof(dy), $"has {dy.Rows} rows but x has {k}; they must agree");
        }

        for (int k0 = 0; k0 < k; k0 += WeightGradientSlice)
        {
            int rows = Math.Min(WeightGradientSlice, k - k0);
            Gemm.Multiply(Transpose.Transposed, Transpose.None, 1f, x.RowRange(k0, rows), dy.RowRange(k0, rows), 1f, dw);
        }
    }

    /// <summary>A 1 x n view over a bias (or its gradient) array.</summary>
    public static MatrixView RowView(float[] values) => new(values, 0, 1, values.Length, values.Length);

    private static void CheckOutput(MatrixView x, MatrixView w, MatrixView y)
    {
        if (y.Rows != x.Rows || y.Columns != w.Columns)
        {
            Guard.ThrowArgument(nameof(y), $"has shape {y.Rows}x{y.Columns} but x W is {x.Rows}x{w.Columns}");
        }
    }

    /// <summary>
    /// Tile epilogue: y = tile + b (+ residual), then optionally gelu = GELU(y). Writes only the tile's rows and
    /// columns of y (and gelu), so concurrent row bands never touch the same memory.
    /// </summary>
    private readonly struct BiasEpilogue : IGemmEpilogue
    {
        private readonly MatrixView _y;
        private readonly float[] _bias;
        private readonly MatrixView _residual;
        private readonly MatrixView _gelu;

        public BiasEpilogue(MatrixView y, float[] bias, MatrixView residual, MatrixView gelu)
        {
            _y = y;
            _bias = bias;
            _residual = residual;
            _gelu = gelu;
        }

        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
            ReadOnlySpan<float> bias = _bias.AsSpan(columnStart, columns);
            for (int r = 0; r < rows; r++)
            {
                ReadOnlySpan<float> product = tile.Slice(r * stride, columns);
                Span<float> y = _y.Row(rowStart + r).Slice(columnStart, columns);
                TensorPrimitives.Add(product, bias, y);
                if (!_residual.IsEmpty)
                {
                    TensorPrimitives.Add(y, _residual.Row(rowStart + r).Slice(columnStart, columns), y);
                }

                if (!_gelu.IsEmpty)
                {
                    RowMath.Gelu(y, _gelu.Row(rowStart + r).Slice(columnStart, columns));
                }
            }
        }
    }
}
