using System;

namespace Aced.Core;

/// <summary>
/// A BLAS-shaped single-precision matrix multiply back-end, in the style of Math.NET Numerics'
/// linear-algebra providers. All matrices are row-major with explicit leading dimensions.
/// The managed provider (<see cref="ManagedGemmProvider"/>) is always available; a native, TorchSharp
/// or GPU provider can be installed with <see cref="GemmControl.Provider"/> without touching callers.
/// </summary>
public interface IGemmProvider
{
    /// <summary>A short human-readable description (printed in benchmark headers).</summary>
    string Name { get; }

    /// <summary>
    /// <c>C = alpha * op(A) * op(B) + beta * C</c>, where op(A) is m x k and op(B) is k x n.
    /// A is stored m x k (lda &gt;= k) when <paramref name="transA"/> is <see cref="Transpose.None"/>,
    /// otherwise k x m (lda &gt;= m); likewise B is k x n or n x k. C is m x n with ldc &gt;= n.
    /// When <paramref name="beta"/> is 0, C is overwritten and its previous contents (even NaN) are ignored.
    /// Implementations may assume the arguments were validated by <see cref="Gemm"/>.
    /// </summary>
    void Sgemm(
        Transpose transA,
        Transpose transB,
        int m,
        int n,
        int k,
        float alpha,
        ReadOnlySpan<float> a,
        int lda,
        ReadOnlySpan<float> b,
        int ldb,
        float beta,
        Span<float> c,
        int ldc);
}
