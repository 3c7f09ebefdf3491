using System;
using Aced.Core;

namespace Aced.Core.Tests;

/// <summary>
/// The generic epilogue path that any non-managed <see cref="IGemmProvider"/> gets (Gemm.EpilogueByBlocks) had no
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

                GemmTestHelpers.WithProvider(provider, () => Gemm.MultiplyWithEpilogue(ta, tb, -0.5f, a, b, recorder));

                recorder.AssertCompleteAndOrdered();
                // One provider call per block of up to 2^20 elements, not one per 64 x 256 tile.
                Assert.Equal(1, provider.Calls);
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

        GemmTestHelpers.WithProvider(provider, () =>
        {
            Gemm.Multiply(Transpose.None, Transpose.None, 0f, a, b, 0f, c);
            Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 0f, a, b, recorder);
            Assert.Contains("counting wrapper", GemmControl.Describe());
        });

        Assert.Equal(1 + 1, provider.Calls);
        Assert.All(c.Data, x => Assert.Equal(0f, x));
        Assert.All(recorder.Product, x => Assert.Equal(0f, x));
        Assert.Throws<ArgumentNullException>(() => GemmControl.Provider = null!);
    }

    [Theory]
    [InlineData(300, 20_000, 3)] // columns beyond one block (16,384): two column blocks per row band
    [InlineData(5_000, 300, 4)]  // rows beyond one block: 3,456-row blocks
    public void MultiplyWithEpilogue_CustomProviderLargeProduct_FewCallsCompleteAndOrdered(int m, int n, int k)
    {
        var rng = new System.Random(m + n);
        MatrixView a = GemmTestHelpers.RandomView(rng, m, k, 3, 1);
        MatrixView b = GemmTestHelpers.RandomView(rng, n, k, 2, 4);
        var expected = new Matrix(m, n);
        Gemm.Multiply(Transpose.None, Transpose.Transposed, 1.5f, a, b, 0f, expected);
        var provider = new CountingProvider();
        var recorder = new RecordingEpilogue(m, n);

        GemmTestHelpers.WithProvider(provider, () => Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, 1.5f, a, b, recorder));

        recorder.AssertCompleteAndOrdered();
        int blockColumns = Math.Min(n, 16_384);
        int blockRows = Math.Min(Math.Max(64, (1 << 20) / blockColumns / 64 * 64), (m + 63) / 64 * 64);
        Assert.Equal(((m + blockRows - 1) / blockRows) * ((n + blockColumns - 1) / blockColumns), provider.Calls);
        int tiles = ((m + 63) / 64) * ((n + 255) / 256);
        Assert.True(provider.Calls * 30 <= tiles, $"{provider.Calls} calls for {tiles} tiles");
        for (int i = 0; i < expected.Data.Length; i++)
        {
            Assert.Equal(expected.Data[i], recorder.Product[i], 6);
        }
    }

    private sealed class FusedCountingProvider : IGemmEpilogueProvider
    {
        public int FusedCalls { get; private set; }

        public string Name => "fused counting wrapper";

        public void Sgemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc) =>
            throw new InvalidOperationException("the fused capability must be used for MultiplyWithEpilogue");

        public void SgemmWithEpilogue<TEpilogue>(Transpose transA, Transpose transB, float alpha, MatrixView a, MatrixView b, TEpilogue epilogue)
            where TEpilogue : IGemmEpilogue
        {
            FusedCalls++;
            ManagedGemmProvider.Instance.SgemmWithEpilogue(transA, transB, alpha, a, b, epilogue);
        }
    }

    private sealed class UnavailableProvider : IGemmProvider
    {
        public string Name => "missing native library";

        public bool IsAvailable => false;

        public void Sgemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc) =>
            throw new InvalidOperationException("unavailable");
    }

    [Fact]
    public void MultiplyWithEpilogue_ProviderWithFusedCapability_UsesItAndMatchesManaged()
    {
        var rng = new System.Random(5);
        MatrixView a = GemmTestHelpers.RandomView(rng, 130, 40, 3, 1);
        MatrixView b = GemmTestHelpers.RandomView(rng, 300, 40, 2, 4);
        var managed = new RecordingEpilogue(130, 300);
        Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, 1f, a, b, managed);
        var provider = new FusedCountingProvider();
        var recorder = new RecordingEpilogue(130, 300);

        GemmTestHelpers.WithProvider(provider, () =>
        {
            Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, 1f, a, b, recorder);
            Assert.Contains("FusedEpilogues=True", GemmControl.Describe());
        });

        Assert.Equal(1, provider.FusedCalls);
        recorder.AssertCompleteAndOrdered();
        Assert.Equal(managed.Product, recorder.Product);
        Assert.Contains("FusedEpilogues=True", GemmControl.Describe());
    }

    [Fact]
    public void Provider_Unavailable_RejectedByTheSetterAndTryUseKeepsTheCurrent()
    {
        IGemmProvider before = GemmControl.Provider;
        var ex = Assert.Throws<ArgumentException>(() => GemmControl.Provider = new UnavailableProvider());
        Assert.Contains("missing native library", ex.Message);
        Assert.False(GemmControl.TryUseProvider(new UnavailableProvider()));
        Assert.Same(before, GemmControl.Provider);

        var counting = new CountingProvider();
        try
        {
            Assert.True(GemmControl.TryUseProvider(counting));
            Assert.Same(counting, GemmControl.Provider);
            Assert.Contains("FusedEpilogues=False", GemmControl.Describe());
        }
        finally
        {
            GemmControl.UseManaged();
        }

        Assert.Same(ManagedGemmProvider.Instance, GemmControl.Provider);
        Assert.True(ManagedGemmProvider.Instance.IsAvailable);
        Assert.Contains("Aced managed SGEMM", ((IGemmProvider)ManagedGemmProvider.Instance).Describe());
    }
}
