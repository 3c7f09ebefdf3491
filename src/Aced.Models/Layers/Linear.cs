using System;
using Aced.Core;

namespace Aced.Models.Layers;

/// <summary>Dense layer <c>y = x W + b</c> with W stored in x out (row-major); every product goes through <see cref="Gemm"/>.</summary>
internal static class Linear
{
    /// <summary>y (n x out) = x (n x in) W (in x out) + b; b may be null (no bias).</summary>
    public static void Forward(MatrixView x, MatrixView w, float[]? b, MatrixView y)
    {
        if (b is null)
        {
            Gemm.Multiply(Transpose.None, Transpose.None, 1f, x, w, 0f, y);
            return;
        }

        RowOps.BroadcastRows(b, y);
        Gemm.Multiply(Transpose.None, Transpose.None, 1f, x, w, 1f, y);
    }

    /// <summary>
    /// dW += x^T dy, db += 1^T dy (db a 1 x out view, empty to skip; <paramref name="ones"/> holds at least n ones),
    /// and dx = dy W^T (dx += when <paramref name="accumulateDx"/>); pass an empty dx view to skip the input gradient.
    /// </summary>
    public static void Backward(MatrixView x, MatrixView w, MatrixView dy, MatrixView dx, bool accumulateDx, MatrixView dw, MatrixView db, float[] ones)
    {
        Gemm.Multiply(Transpose.Transposed, Transpose.None, 1f, x, dy, 1f, dw);
        if (!db.IsEmpty)
        {
            var onesView = new MatrixView(ones, 0, dy.Rows, 1, 1);
            Gemm.Multiply(Transpose.Transposed, Transpose.None, 1f, onesView, dy, 1f, db);
        }

        if (!dx.IsEmpty)
        {
            Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, dy, w, accumulateDx ? 1f : 0f, dx);
        }
    }

    /// <summary>A 1 x n view over a bias (or its gradient) array.</summary>
    public static MatrixView RowView(float[] values) => new(values, 0, 1, values.Length, values.Length);
}
