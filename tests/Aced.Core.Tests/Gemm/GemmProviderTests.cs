using System;
using Aced.Core;

namespace Aced.Core.Tests;

/// <summary>
/// The generic epilogue path that any non-managed <see cref="IGemmProvider"/> gets (Gemm.EpilogueByTiles) had no
/// test: a counting wrapper around the managed provider stands in for a native back-end.
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public sealed class GemmProviderTests
{
    private sealed class CountingProvider : IGemmProvider
    {
        public int Calls { get; private set; }

        public string Name => "counting wrapper";

        public void Sgemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
        {
            Calls++;
            ManagedGemmProvider.Instance.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        }
    }

    private static void WithProvider(IGemmProvider provider, Action action)
    {
        IGemmProvider old = GemmControl.Provider;
        try
        {
            GemmControl.Provider = provider;
            action();
        }
        finally
        {
            GemmControl.Provider = old;
        }
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(65, 257, 3)]
    [InlineData(130, 513, 70)]
    [InlineData(7, 9, 0)]
    public void MultiplyWithEpilogue_CustomProvider_CoversOnceInOrderAndMatchesPlainProduct(int m, int n, int k)
    {
        foreach (Transpose ta in new[] { Transpose.None, Transpose.Transposed })
        {
            foreach (Transpose tb in new[] { Transpose.None, Transpose.Transposed })
            {
                var rng = new System.Random(m + n + k);
                MatrixView a = ta == Transpose.None ? GemmTestHelpers.RandomView(rng, m, k, 3, 1) : GemmTestHelpers.RandomView(rng, k, m, 3, 1);
                MatrixView b = tb == Transpose.None ? GemmTestHelpers.RandomView(rng, k, n, 2, 4) : GemmTestHelpers.RandomView(rng, n, k, 2, 4);
                var expected = new Matrix(m, n);
                Gemm.Multiply(ta, tb, -0.5f, a, b, 0f, expected);
                var provider = new CountingProvider();
                var recorder = new RecordingEpilogue(m, n);

                WithProvider(provider, () => Gemm.MultiplyWithEpilogue(ta, tb, -0.5f, a, b, recorder));

                recorder.AssertCompleteAndOrdered();
                Assert.Equal(((m + 63) / 64) * ((n + 255) / 256), provider.Calls);
                for (int i = 0; i < expected.Data.Length; i++)
                {
                    Assert.Equal(expected.Data[i], recorder.Product[i], 6);
                }
            }
        }
    }

    [Fact]
    public void Multiply_CustomProvider_IsUsedAndAlphaZeroGivesZeroTiles()
    {
        var provider = new CountingProvider();
        var a = new Matrix(70, 5);
        a.Data.AsSpan().Fill(float.NaN);
        var b = new Matrix(5, 300);
        var c = new Matrix(70, 300);
        var recorder = new RecordingEpilogue(70, 300);

        WithProvider(provider, () =>
        {
            Gemm.Multiply(Transpose.None, Transpose.None, 0f, a, b, 0f, c);
            Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 0f, a, b, recorder);
            Assert.Contains("counting wrapper", GemmControl.Describe());
        });

        Assert.Equal(1 + 4, provider.Calls);
        Assert.All(c.Data, x => Assert.Equal(0f, x));
        Assert.All(recorder.Product, x => Assert.Equal(0f, x));
        Assert.Throws<ArgumentNullException>(() => GemmControl.Provider = null!);
    }
}
