using System;

namespace Aced.Core;

/// <summary>
/// Where the operands of a two-level batch of products lie in their arrays: product (o, i) of the batch reads (or
/// writes) its matrix starting <c>o * Outer + i * Inner</c> floats after the start of the operand's span. The
/// attention uses o = example and i = head (for example Q of head i of example o at <c>o * T * ld + i * hd</c>); a flat
/// strided batch is <c>innerCount = 1</c>.
/// </summary>
/// <param name="Outer">Floats between consecutive outer indices (at least 0).</param>
/// <param name="Inner">Floats between consecutive inner indices (at least 0).</param>
public readonly record struct GemmBatchStrides(int Outer, int Inner)
{
    /// <summary>Offset of product (<paramref name="outer"/>, <paramref name="inner"/>).</summary>
    public long Offset(int outer, int inner) => ((long)outer * Outer) + ((long)inner * Inner);
}

/// <summary>
/// Capability of a provider: many small independent products of one shape in one call
/// (<c>C_oi = alpha * op(A_oi) * op(B_oi) + beta * C_oi</c> for every outer index o and inner index i), as cuBLAS'
/// <c>cublasSgemmStridedBatched</c> or MKL's <c>cblas_sgemm_batch_strided</c>. The attention's per-(example, head)
/// products (<c>Q K^T</c>, <c>P V</c> and their gradients, e.g. 64 x 64 x 32 each, thousands per step) are issued
/// this way, so a GPU or native provider can run them as a handful of batched launches. A provider without the
/// capability gets <see cref="GemmBatch.Multiply"/>'s fallback: one <see cref="IGemmProvider.Sgemm"/> call per product,
/// serially, in (o, i) order (correct, slow for a remote device).
/// </summary>
public interface IGemmBatchedProvider : IGemmProvider
{
    /// <summary>
    /// For every o in [0, <paramref name="outerCount"/>) and i in [0, <paramref name="innerCount"/>):
    /// <c>C_oi = alpha * op(A_oi) * op(B_oi) + beta * C_oi</c> with the shapes, transposes and leading dimensions of
    /// <see cref="IGemmProvider.Sgemm"/>, and A_oi starting at <c>strideA.Offset(o, i)</c> in <paramref name="a"/>
    /// (likewise B and C). The products are independent: no two C_oi share an element, and no C_oi overlaps an A or
    /// B. With <paramref name="beta"/> = 0, C is overwritten (NaN in C ignored); with <paramref name="alpha"/> = 0 or
    /// k = 0 A and B are not read. Called by <see cref="GemmBatch.Multiply"/> with validated arguments; the result of
    /// each product must not depend on the thread count.
    /// </summary>
    void SgemmBatched(
        Transpose transA,
        Transpose transB,
        int m,
        int n,
        int k,
        float alpha,
        ReadOnlySpan<float> a,
        int lda,
        GemmBatchStrides strideA,
        ReadOnlySpan<float> b,
        int ldb,
        GemmBatchStrides strideB,
        float beta,
        Span<float> c,
        int ldc,
        GemmBatchStrides strideC,
        int outerCount,
        int innerCount);
}

/// <summary>
/// Validated entry point for batches of small independent products (see <see cref="IGemmBatchedProvider"/>): runs on
/// <see cref="GemmControl.Provider"/> through its batched capability when it has one, otherwise one
/// <see cref="IGemmProvider.Sgemm"/> call per product.
/// </summary>
public static class GemmBatch
{
    /// <summary>
    /// <c>C_oi = alpha * op(A_oi) * op(B_oi) + beta * C_oi</c> for every o &lt; <paramref name="outerCount"/>, i &lt;
    /// <paramref name="innerCount"/>; operand X of product (o, i) starts at <c>strideX.Offset(o, i)</c> in its span.
    /// op(A) is m x k, op(B) is k x n, C is m x n, all row-major with the given leading dimensions (as
    /// <see cref="IGemmProvider.Sgemm"/>). The C blocks of different products must not share elements (not checked).
    /// NaN and infinity propagate by IEEE arithmetic; beta = 0 ignores the previous C.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A dimension, count or stride is negative, a leading dimension is
    /// too small, or alpha/beta is not finite.</exception>
    /// <exception cref="ArgumentException">A span is too short for the last product of the batch.</exception>
    public static void Multiply(
        Transpose transA,
        Transpose transB,
        int m,
        int n,
        int k,
        float alpha,
        ReadOnlySpan<float> a,
        int lda,
        GemmBatchStrides strideA,
        ReadOnlySpan<float> b,
        int ldb,
        GemmBatchStrides strideB,
        float beta,
        Span<float> c,
        int ldc,
        GemmBatchStrides strideC,
        int outerCount,
        int innerCount)
    {
        Validate(transA, transB, m, n, k, alpha, a.Length, lda, strideA, b.Length, ldb, strideB, beta, c.Length, ldc, strideC, outerCount, innerCount);
        if (m == 0 || n == 0 || outerCount == 0 || innerCount == 0)
        {
            return;
        }

        IGemmProvider provider = GemmControl.Provider;
        if (provider is IGemmBatchedProvider batched)
        {
            batched.SgemmBatched(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, outerCount, innerCount);
            return;
        }

        Fallback(provider, transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, outerCount, innerCount);
    }

    /// <summary>The path for a provider without <see cref="IGemmBatchedProvider"/>: one Sgemm per product, in (o, i) order.</summary>
    internal static void Fallback(
        IGemmProvider provider,
        Transpose transA,
        Transpose transB,
        int m,
        int n,
        int k,
        float alpha,
        ReadOnlySpan<float> a,
        int lda,
        GemmBatchStrides strideA,
        ReadOnlySpan<float> b,
        int ldb,
        GemmBatchStrides strideB,
        float beta,
        Span<float> c,
        int ldc,
        GemmBatchStrides strideC,
        int outerCount,
        int innerCount)
    {
        long lengthA = Extent(transA == Transpose.None ? m : k, transA == Transpose.None ? k : m, lda);
        long lengthB = Extent(transB == Transpose.None ? k : n, transB == Transpose.None ? n : k, ldb);
        long lengthC = Extent(m, n, ldc);
        for (int o = 0; o < outerCount; o++)
        {
            for (int i = 0; i < innerCount; i++)
            {
                provider.Sgemm(
                    transA,
                    transB,
                    m,
                    n,
                    k,
                    alpha,
                    a.Slice((int)strideA.Offset(o, i), (int)lengthA),
                    lda,
                    b.Slice((int)strideB.Offset(o, i), (int)lengthB),
                    ldb,
                    beta,
                    c.Slice((int)strideC.Offset(o, i), (int)lengthC),
                    ldc);
            }
        }
    }

    /// <summary>Checks every argument of a batched product (shared by <see cref="Multiply"/> and the managed provider).</summary>
    internal static void Validate(
        Transpose transA,
        Transpose transB,
        int m,
        int n,
        int k,
        float alpha,
        int lengthA,
        int lda,
        GemmBatchStrides strideA,
        int lengthB,
        int ldb,
        GemmBatchStrides strideB,
        float beta,
        int lengthC,
        int ldc,
        GemmBatchStrides strideC,
        int outerCount,
        int innerCount)
    {
        Guard.NonNegative(m);
        Guard.NonNegative(n);
        Guard.NonNegative(k);
        Guard.NonNegative(outerCount);
        Guard.NonNegative(innerCount);
        Guard.Finite(alpha);
        Guard.Finite(beta);
        CheckOperand(transA == Transpose.None ? m : k, transA == Transpose.None ? k : m, lengthA, lda, strideA, outerCount, innerCount, "a", nameof(lda), nameof(strideA));
        CheckOperand(transB == Transpose.None ? k : n, transB == Transpose.None ? n : k, lengthB, ldb, strideB, outerCount, innerCount, "b", nameof(ldb), nameof(strideB));
        CheckOperand(m, n, lengthC, ldc, strideC, outerCount, innerCount, "c", nameof(ldc), nameof(strideC));
    }

    private static long Extent(int rows, int columns, int ld) => rows == 0 || columns == 0 ? 0 : ((long)(rows - 1) * ld) + columns;

    private static void CheckOperand(int rows, int columns, int length, int ld, GemmBatchStrides stride, int outerCount, int innerCount, string name, string ldName, string strideName)
    {
        if (ld < columns)
        {
            Guard.ThrowOutOfRange(ldName, ld, $"must be at least {columns} (the stored column count)");
        }

        if (stride.Outer < 0 || stride.Inner < 0)
        {
            Guard.ThrowOutOfRange(strideName, stride, "must have non-negative Outer and Inner strides");
        }

        if (outerCount == 0 || innerCount == 0)
        {
            return;
        }

        long extent = Extent(rows, columns, ld);
        long needed = extent == 0 ? 0 : stride.Offset(outerCount - 1, innerCount - 1) + extent;
        if (length < needed)
        {
            Guard.ThrowArgument(name, $"has {length} elements but {outerCount} x {innerCount} products of a {rows}x{columns} operand with leading dimension {ld} and strides {stride} need {needed}");
        }
    }
}
