using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Aced.Core;

/// <summary>
/// Products whose A operand or C result is lower triangular (the causal attention's T x T blocks): the AVX2 six-row
/// strips of <see cref="Avx2Tiles"/> with each strip's k range or column panels cut to the triangle, with the bits of
/// <see cref="MultiplyNN"/> / <see cref="MultiplyTN"/>.
/// </summary>
/// <remarks>
/// Why skipping a zero term keeps the bits: every element is one FMA chain <c>acc = fma(a_p, b_p, acc)</c> from +0
/// over p in order. A term with a_p = ±0 and a finite b_p adds an exact ±0, which leaves acc unchanged unless acc is a
/// zero: +0 + ±0 = +0, but -0 + +0 = +0. So (leading terms) a chain that starts with such terms stays exactly +0 through
/// them and may start after them; and (trailing terms) a chain may stop before them unless its value there is -0. The
/// entries check what this needs and otherwise run the full product: every skipped b_p finite, and no stopped chain at
/// -0 (alpha &gt; 0 keeps the sign, so a -0 in C marks it). A skipped a_p that is not a zero would change the value: the
/// zeros are the caller's promise, which the attention keeps (the softmax stores +0 past each causal prefix).
/// With AVX-512, or n not a multiple of 16, or <see cref="Avx2SixRowTiles"/> off, they run the full products.
/// </remarks>
internal static partial class SmallGemm
{
    /// <summary>What a triangular product may skip.</summary>
    private enum Triangle
    {
        /// <summary>C[i, j] with j &gt; i is not needed: a row strip's column panels stop after its last row's diagonal.</summary>
        ResultLower,

        /// <summary>op(A)[i, p] = ±0 for p &gt; i (NN with A lower triangular): a row strip's chains stop after its last row.</summary>
        TrailingZeros,

        /// <summary>op(A)[i, p] = ±0 for p &lt; i (TN with A lower triangular): a row strip's chains start at its first row.</summary>
        LeadingZeros,
    }

    /// <summary>
    /// The elements of C = alpha A B (overwrite; A m x k, B k x n, row strides lda, ldb, ldc) on and below the diagonal
    /// (C[i, j] with j &lt;= i) with <see cref="MultiplyNN"/>'s bits; the elements above it are either left untouched or
    /// written with MultiplyNN's values (the causal scores S = scale Q K^T, whose softmax reads only the prefix j &lt;= i
    /// and clears the rest).
    /// </summary>
    public static void MultiplyNNLowerResult(int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc)
    {
        if (!TriangularTiles(n))
        {
            MultiplyNN(m, n, k, alpha, a, lda, b, ldb, false, c, ldc);
            return;
        }

        int first = Strips(Triangle.ResultLower, m, n, k, alpha, ref MemoryMarshal.GetReference(a), lda, 1, ref MemoryMarshal.GetReference(b), ldb, ref MemoryMarshal.GetReference(c), ldc);
        LeftoverRows(first, m, n, k, alpha, a, lda, 1, b, ldb, c, ldc);
    }

    /// <summary>
    /// C = alpha A B (overwrite; A m x k, B k x n) bit-identical to <see cref="MultiplyNN"/>, for A whose entries above
    /// the diagonal (A[i, p], p &gt; i) are ±0 (not checked; the causal P in O = P V): each row strip's chains stop after
    /// the strip's last row, unless a skipped row of B holds a non-finite value or a stopped chain ends at -0, when the
    /// full product runs. Alpha must be positive and finite for the cut (else the full product runs).
    /// </summary>
    public static void MultiplyNNLowerA(int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc)
    {
        ref float a0 = ref MemoryMarshal.GetReference(a);
        ref float b0 = ref MemoryMarshal.GetReference(b);
        ref float c0 = ref MemoryMarshal.GetReference(c);
        int cut = Math.Min(k, Math.Min(m, SixRowStrips(m) > 0 ? 6 : 4));
        if (!TriangularTiles(n) || !(alpha > 0f && float.IsFinite(alpha)) || m < 4 || !AllFinite(ref Unsafe.Add(ref b0, cut * ldb), k - cut, n, ldb))
        {
            MultiplyNN(m, n, k, alpha, a, lda, b, ldb, false, c, ldc);
            return;
        }

        int first = Strips(Triangle.TrailingZeros, m, n, k, alpha, ref a0, lda, 1, ref b0, ldb, ref c0, ldc);
        if (AnyNegativeZero(ref c0, Math.Min(first, k), n, ldc))
        {
            // A stopped chain at -0 (rows below k are the only ones cut): the trailing +0 terms could make it +0.
            MultiplyNN(m, n, k, alpha, a, lda, b, ldb, false, c, ldc);
            return;
        }

        LeftoverRows(first, m, n, k, alpha, a, lda, 1, b, ldb, c, ldc);
    }

    /// <summary>
    /// C = alpha A^T B (overwrite; A k x m, B k x n) bit-identical to <see cref="MultiplyTN"/>, for A whose entries above
    /// the diagonal (A[p, i], i &gt; p) are ±0 (not checked; the causal P in dV = P^T dO): each row strip's chains start
    /// at the strip's first row, unless a skipped row of B holds a non-finite value, when the full product runs.
    /// </summary>
    public static void MultiplyTNLowerA(int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc)
    {
        ref float a0 = ref MemoryMarshal.GetReference(a);
        ref float b0 = ref MemoryMarshal.GetReference(b);
        ref float c0 = ref MemoryMarshal.GetReference(c);
        if (!TriangularTiles(n) || m < 4 || !AllFinite(ref b0, Math.Min(k, LastStripStart(m)), n, ldb))
        {
            MultiplyTN(m, n, k, alpha, a, lda, b, ldb, false, c, ldc);
            return;
        }

        int first = Strips(Triangle.LeadingZeros, m, n, k, alpha, ref a0, 1, lda, ref b0, ldb, ref c0, ldc);
        LeftoverRows(first, m, n, k, alpha, a, 1, lda, b, ldb, c, ldc);
    }

    /// <summary>
    /// Whether every entry of the n x n block <paramref name="a"/> (row stride ld) above the diagonal (a[i, p], p &gt; i)
    /// is +0 or -0 (a NaN or any other value: false; it stops at the first row that is not): the precondition of
    /// <see cref="MultiplyNNLowerA"/> and <see cref="MultiplyTNLowerA"/>, checked where the caller cannot promise it
    /// (the attention backward's P and dS).
    /// </summary>
    public static bool UpperIsZero(ReadOnlySpan<float> a, int n, int ld)
    {
        ref float a0 = ref MemoryMarshal.GetReference(a);
        uint bits = 0;
        for (int i = 0; i + 1 < n; i++)
        {
            ref float row = ref Unsafe.Add(ref a0, i * ld);
            int p = i + 1;
            if (Vector256.IsHardwareAccelerated)
            {
                Vector256<uint> vb = Vector256<uint>.Zero;
                if (p % 8 != 0 && (p & ~7) + 8 <= n)
                {
                    // The partial vector that holds the diagonal: only its lanes past it.
                    int start = p & ~7;
                    Vector256<uint> past = Vector256.GreaterThanOrEqual(Vector256<int>.Indices, Vector256.Create(p - start)).AsUInt32();
                    vb |= Vector256.LoadUnsafe(ref row, (nuint)start).AsUInt32() & past;
                    p = start + 8;
                }

                for (; p + 8 <= n; p += 8)
                {
                    vb |= Vector256.LoadUnsafe(ref row, (nuint)p).AsUInt32();
                }

                bits |= (vb & Vector256.Create(0x7FFF_FFFFu)) == Vector256<uint>.Zero ? 0u : 1u;
            }

            for (; p < n; p++)
            {
                bits |= BitConverter.SingleToUInt32Bits(Unsafe.Add(ref row, p)) & 0x7FFF_FFFFu;
            }

            if (bits != 0)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether the triangular entries run their strips (the AVX2 six-row tiles), rather than the full products.</summary>
    private static bool TriangularTiles(int n) =>
        !Vector512.IsHardwareAccelerated && Vector256.IsHardwareAccelerated && Avx2SixRowTiles && n % 16 == 0;

    /// <summary>The first row of the last strip <see cref="Avx2Tiles"/> runs for m &gt;= 4 rows.</summary>
    private static int LastStripStart(int m)
    {
        int six = SixRowStrips(m);
        int fours = (m - (6 * six)) / 4;
        return fours > 0 ? (6 * six) + (4 * (fours - 1)) : 6 * (six - 1);
    }

    /// <summary>
    /// The strips of <see cref="Avx2Tiles"/> (overwrite) with each strip's k range or column panels cut as
    /// <paramref name="shape"/> allows; returns the first row left to <see cref="LeftoverRows"/>.
    /// </summary>
    private static int Strips(Triangle shape, int m, int n, int k, float alpha, ref float a0, int rowStep, int kStep, ref float b0, int ldb, ref float c0, int ldc)
    {
        int six = SixRowStrips(m);
        int i = 0;
        while (i + 4 <= m)
        {
            int rows = i < 6 * six ? 6 : 4;
            int p0 = shape == Triangle.LeadingZeros ? Math.Min(i, k) : 0;
            int p1 = shape == Triangle.TrailingZeros ? Math.Min(k, i + rows) : k;
            int columns = shape == Triangle.ResultLower ? Math.Min(n, (i + rows + 15) & ~15) : n;
            ref float a = ref Unsafe.Add(ref a0, (i * rowStep) + (p0 * kStep));
            ref float b = ref Unsafe.Add(ref b0, p0 * ldb);
            ref float c = ref Unsafe.Add(ref c0, i * ldc);
            for (int j = 0; j < columns; j += 16)
            {
                if (rows == 6)
                {
                    Block6x16Avx2(p1 - p0, alpha, ref a, rowStep, kStep, ref Unsafe.Add(ref b, j), ldb, false, ref Unsafe.Add(ref c, j), ldc);
                }
                else
                {
                    Block4x16Avx2Strip(p1 - p0, alpha, ref a, rowStep, kStep, ref Unsafe.Add(ref b, j), ldb, false, ref Unsafe.Add(ref c, j), ldc);
                }
            }

            i += rows;
        }

        return i;
    }

    /// <summary>Rows [first, m) of the full product (the row loop <see cref="Multiply(int, int, int, float, ReadOnlySpan{float}, int, int, ReadOnlySpan{float}, int, bool, Span{float}, int)"/> runs for them).</summary>
    private static void LeftoverRows(int first, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int rowStep, int kStep, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc)
    {
        if (first < m)
        {
            Multiply(m - first, n, k, alpha, a.Slice(first * rowStep), rowStep, kStep, b, ldb, false, c.Slice(first * ldc), ldc);
        }
    }

    /// <summary>Whether the rows x n floats at <paramref name="row"/> (row stride ld, n a multiple of 8) are all finite.</summary>
    private static bool AllFinite(ref float row, int rows, int n, int ld)
    {
        Vector256<uint> bits = Vector256<uint>.Zero;
        for (int r = 0; r < rows; r++)
        {
            ref float x = ref Unsafe.Add(ref row, r * ld);
            for (nuint j = 0; j < (nuint)n; j += 8)
            {
                Vector256<float> v = Vector256.LoadUnsafe(ref x, j);
                bits |= (v - v).AsUInt32();
            }
        }

        return bits == Vector256<uint>.Zero;
    }

    /// <summary>Whether any of the rows x n floats at <paramref name="row"/> (row stride ld, n a multiple of 8) is -0.</summary>
    private static bool AnyNegativeZero(ref float row, int rows, int n, int ld)
    {
        Vector256<uint> negativeZero = Vector256.Create(0x8000_0000u);
        Vector256<uint> any = Vector256<uint>.Zero;
        for (int r = 0; r < rows; r++)
        {
            ref float x = ref Unsafe.Add(ref row, r * ld);
            for (nuint j = 0; j < (nuint)n; j += 8)
            {
                any |= Vector256.Equals(Vector256.LoadUnsafe(ref x, j).AsUInt32(), negativeZero);
            }
        }

        return any != Vector256<uint>.Zero;
    }
}
