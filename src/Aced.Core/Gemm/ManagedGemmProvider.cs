using System;
using System.Numerics.Tensors;

namespace Aced.Core;

/// <summary>
/// The always-available managed SGEMM provider.
/// </summary>
public sealed class ManagedGemmProvider : IGemmProvider
{
    private ManagedGemmProvider()
    {
    }

    /// <summary>The process-wide instance.</summary>
    public static ManagedGemmProvider Instance { get; } = new();

    /// <inheritdoc/>
    public string Name => "Aced managed SGEMM";

    /// <inheritdoc/>
    public void Sgemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        for (int i = 0; i < m; i++)
        {
            Span<float> cRow = c.Slice(i * ldc, n);
            if (beta == 0f)
            {
                cRow.Clear();
            }
            else if (beta != 1f)
            {
                TensorPrimitives.Multiply(cRow, beta, cRow);
            }

            if (k == 0 || alpha == 0f)
            {
                continue;
            }

            if (transB == Transpose.None)
            {
                for (int p = 0; p < k; p++)
                {
                    float aip = alpha * (transA == Transpose.None ? a[(i * lda) + p] : a[(p * lda) + i]);
                    TensorPrimitives.MultiplyAdd(b.Slice(p * ldb, n), aip, cRow, cRow);
                }
            }
            else if (transA == Transpose.None)
            {
                ReadOnlySpan<float> aRow = a.Slice(i * lda, k);
                for (int j = 0; j < n; j++)
                {
                    cRow[j] += alpha * TensorPrimitives.Dot(aRow, b.Slice(j * ldb, k));
                }
            }
            else
            {
                for (int j = 0; j < n; j++)
                {
                    float sum = 0f;
                    for (int p = 0; p < k; p++)
                    {
                        sum += a[(p * lda) + i] * b[(j * ldb) + p];
                    }

                    cRow[j] += alpha * sum;
                }
            }
        }
    }

    internal void SgemmWithEpilogue<TEpilogue>(Transpose transA, Transpose transB, int m, int n, int k, float alpha, MatrixView a, MatrixView b, TEpilogue epilogue)
        where TEpilogue : IGemmEpilogue =>
        Gemm.EpilogueByTiles(this, transA, transB, m, n, k, alpha, a, b, epilogue);
}
