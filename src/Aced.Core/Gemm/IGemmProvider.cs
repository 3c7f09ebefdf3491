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
    /// Whether the provider can run in this process (its native library loaded, its device present). Defaults to
    /// true. <see cref="GemmControl.Provider"/> refuses an unavailable provider and
    /// <see cref="GemmControl.TryUseProvider"/> returns false for it (Math.NET's <c>TryUseNative</c> pattern).
    /// </summary>
    bool IsAvailable => true;

    /// <summary>One line for logs: the provider, its version and the hardware it runs on. Defaults to <see cref="Name"/>.</summary>
    string Describe() => Name;

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

/// <summary>
/// Capability of a provider: fused products, <c>P = alpha * op(A) * op(B)</c> handed tile by tile to an
/// <see cref="IGemmEpilogue"/> without storing P (the selection and loss engines' hot path). A provider that lacks it
/// gets <see cref="Gemm.MultiplyWithEpilogue{TEpilogue}"/>'s generic path: a few large <see cref="IGemmProvider.Sgemm"/>
/// calls (blocks of up to 2^20 elements) into scratch, then the tiles.
/// </summary>
public interface IGemmEpilogueProvider : IGemmProvider
{
    /// <summary>
    /// Computes <c>P = alpha * op(A) * op(B)</c> (op(A) is m x k, op(B) is k x n, both non-empty in m and n) and
    /// delivers it to <paramref name="epilogue"/> under the contract of <see cref="IGemmEpilogue"/>: tiles partition
    /// P, each row band's tiles come from one thread in increasing column order, the partition depends only on m and
    /// n. Called by <see cref="Gemm.MultiplyWithEpilogue{TEpilogue}"/> with validated operands.
    /// </summary>
    /// <typeparam name="TEpilogue">The epilogue type (a struct for zero-overhead dispatch).</typeparam>
    void SgemmWithEpilogue<TEpilogue>(Transpose transA, Transpose transB, float alpha, MatrixView a, MatrixView b, TEpilogue epilogue)
        where TEpilogue : IGemmEpilogue;
}
