using System;
using Aced.Core;
using Aced.Models.Layers;

namespace Aced.Models.Tests;

/// <summary>
/// Tests that change process-wide GEMM state (the provider, the thread count) run in this collection, alone: a test
/// running beside them would see the state change under it (a steady-state allocation check, for one).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GemmProviderCollection
{
    public const string Name = "GEMM provider";
}

/// <summary>
/// The batched small-product capability (<see cref="IGemmBatchedProvider"/>, <see cref="GemmBatch"/>): the managed
/// provider's kernel against a double reference, the fallback for providers without it, and the attention going
/// through it.
/// </summary>
[Collection(GemmProviderCollection.Name)]
public sealed class GemmBatchTests
{
    /// <summary>A provider with the capability: counts the calls and delegates to the managed provider.</summary>
    private sealed class CountingBatchedProvider : IGemmBatchedProvider
    {
        public int SgemmCalls { get; private set; }

        public int BatchedCalls { get; private set; }

        public long BatchedProducts { get; private set; }

        public string Name => "counting batched wrapper";

        public void Sgemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
        {
            SgemmCalls++;
            ManagedGemmProvider.Instance.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        }

        public void SgemmBatched(Transpose transA, Transpose transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, GemmBatchStrides strideA, ReadOnlySpan<float> b, int ldb, GemmBatchStrides strideB, float beta, Span<float> c, int ldc, GemmBatchStrides strideC, int outerCount, int innerCount)
        {
            BatchedCalls++;
            BatchedProducts += (long)outerCount * innerCount;
            ManagedGemmProvider.Instance.SgemmBatched(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, outerCount, innerCount);
        }
    }

    /// <summary>A provider without the capability (a plain BLAS-shaped back-end): counts Sgemm calls.</summary>
    private sealed class PlainProvider : IGemmProvider
    {
        public int SgemmCalls { get; private set; }

        public string Name => "plain wrapper";

        public void Sgemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
        {
            SgemmCalls++;
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

    /// <summary>One batch: 3 x 2 products whose operands sit in padded, strided storage (gaps between them).</summary>
    private sealed class Batch
    {
        public const int Outer = 3;
        public const int Inner = 2;

        public Batch(Transpose ta, Transpose tb, int m, int n, int k, ulong seed)
        {
            TransA = ta;
            TransB = tb;
            M = m;
            N = n;
            K = k;
            (int ar, int ac) = ta == Transpose.None ? (m, k) : (k, m);
            (int br, int bc) = tb == Transpose.None ? (k, n) : (n, k);
            Lda = ac + 3;
            Ldb = bc + 1;
            Ldc = n + 2;
            StrideA = new GemmBatchStrides((Inner * ar * Lda) + 5, (ar * Lda) + 2);
            StrideB = new GemmBatchStrides((Inner * br * Ldb) + 7, (br * Ldb) + 1);
            StrideC = new GemmBatchStrides((Inner * m * Ldc) + 4, (m * Ldc) + 3);
            A = TestData.Random((int)StrideA.Offset(Outer, 0), seed);
            B = TestData.Random((int)StrideB.Offset(Outer, 0), seed + 1);
            C = TestData.Random((int)StrideC.Offset(Outer, 0), seed + 2);
        }

        public Transpose TransA { get; }

        public Transpose TransB { get; }

        public int M { get; }

        public int N { get; }

        public int K { get; }

        public int Lda { get; }

        public int Ldb { get; }

        public int Ldc { get; }

        public GemmBatchStrides StrideA { get; }

        public GemmBatchStrides StrideB { get; }

        public GemmBatchStrides StrideC { get; }

        public float[] A { get; }

        public float[] B { get; }

        public float[] C { get; }

        public float[] Run(float alpha, float beta)
        {
            float[] c = (float[])C.Clone();
            GemmBatch.Multiply(TransA, TransB, M, N, K, alpha, A, Lda, StrideA, B, Ldb, StrideB, beta, c, Ldc, StrideC, Outer, Inner);
            return c;
        }

        /// <summary>Double reference; elements outside every C block keep their value.</summary>
        public double[] Reference(float alpha, float beta)
        {
            double[] c = Array.ConvertAll(C, x => (double)x);
            for (int o = 0; o < Outer; o++)
            {
                for (int i = 0; i < Inner; i++)
                {
                    long a0 = StrideA.Offset(o, i), b0 = StrideB.Offset(o, i), c0 = StrideC.Offset(o, i);
                    for (int r = 0; r < M; r++)
                    {
                        for (int j = 0; j < N; j++)
                        {
                            double s = 0;
                            for (int p = 0; p < K; p++)
                            {
                                double av = TransA == Transpose.None ? A[a0 + (r * Lda) + p] : A[a0 + (p * Lda) + r];
                                double bv = TransB == Transpose.None ? B[b0 + (p * Ldb) + j] : B[b0 + (j * Ldb) + p];
                                s += av * bv;
                            }

                            long at = c0 + (r * Ldc) + j;
                            c[at] = (alpha * s) + (beta == 0f ? 0 : beta * c[at]);
                        }
                    }
                }
            }

            return c;
        }
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(5, 7, 3)]
    [InlineData(9, 33, 17)]
    [InlineData(64, 64, 32)]
    [InlineData(64, 32, 64)]
    [InlineData(7, 48, 5)]
    [InlineData(3, 70, 5)]
    [InlineData(4, 0, 3)]
    [InlineData(6, 16, 0)]
    public void Multiply_EveryTransposeAndBeta_ManagedAndFallbackMatchDoubleReference(int m, int n, int k)
    {
        foreach (Transpose ta in new[] { Transpose.None, Transpose.Transposed })
        {
            foreach (Transpose tb in new[] { Transpose.None, Transpose.Transposed })
            {
                foreach (float beta in new[] { 0f, 1f, -0.5f })
                {
                    var batch = new Batch(ta, tb, m, n, k, (ulong)((m * 131) + (n * 7) + k));
                    double[] expected = batch.Reference(0.75f, beta);
                    float[] managed = batch.Run(0.75f, beta);
                    float[] fallback = [];
                    var plain = new PlainProvider();
                    WithProvider(plain, () => fallback = batch.Run(0.75f, beta));
                    Assert.Equal(m == 0 || n == 0 ? 0 : Batch.Outer * Batch.Inner, plain.SgemmCalls);
                    for (int i = 0; i < expected.Length; i++)
                    {
                        TestData.Close(expected[i], managed[i], 1e-5, 1e-5, $"managed {ta}{tb} beta {beta} [{i}]");
                        TestData.Close(expected[i], fallback[i], 1e-5, 1e-5, $"fallback {ta}{tb} beta {beta} [{i}]");
                    }
                }
            }
        }
    }

    [Fact]
    public void Multiply_AlphaZeroOrBetaZero_IgnoresNaNOperandsAndOldC()
    {
        var batch = new Batch(Transpose.None, Transpose.Transposed, 5, 16, 4, 3);
        double[] expected = batch.Reference(0f, 2f);
        Array.Fill(batch.A, float.NaN);
        float[] scaled = batch.Run(0f, 2f);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal((float)expected[i], scaled[i]);
        }

        var fresh = new Batch(Transpose.Transposed, Transpose.None, 5, 16, 4, 4);
        Array.Fill(fresh.C, float.NaN);
        float[] overwritten = fresh.Run(1f, 0f);
        for (int o = 0; o < Batch.Outer; o++)
        {
            for (int i = 0; i < Batch.Inner; i++)
            {
                for (int r = 0; r < 5; r++)
                {
                    for (int j = 0; j < 16; j++)
                    {
                        Assert.True(float.IsFinite(overwritten[fresh.StrideC.Offset(o, i) + (r * fresh.Ldc) + j]));
                    }
                }
            }
        }
    }

    [Fact]
    public void Multiply_InvalidArguments_Throw()
    {
        float[] a = new float[64];
        float[] b = new float[64];
        float[] c = new float[64];
        var none = new GemmBatchStrides(0, 0);
        Assert.Throws<ArgumentException>(() => GemmBatch.Multiply(Transpose.None, Transpose.None, 4, 4, 4, 1f, a, 4, new GemmBatchStrides(16, 16), b, 4, none, 0f, c, 4, new GemmBatchStrides(16, 0), 3, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => GemmBatch.Multiply(Transpose.None, Transpose.None, 4, 4, 4, 1f, a, 4, new GemmBatchStrides(-1, 0), b, 4, none, 0f, c, 4, none, 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => GemmBatch.Multiply(Transpose.None, Transpose.None, 4, 4, 4, 1f, a, 3, none, b, 4, none, 0f, c, 4, none, 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => GemmBatch.Multiply(Transpose.None, Transpose.None, 4, 4, 4, float.NaN, a, 4, none, b, 4, none, 0f, c, 4, none, 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => GemmBatch.Multiply(Transpose.None, Transpose.None, 4, 4, 4, 1f, a, 4, none, b, 4, none, 0f, c, 4, none, -1, 1));
    }

    [Fact]
    public void Multiply_ManagedProvider_IsBitIdenticalForAnyThreadCount()
    {
        double savedThreshold = GemmControl.ParallelThreshold;
        int savedThreads = GemmControl.MaxDegreeOfParallelism;
        try
        {
            GemmControl.ParallelThreshold = 0;
            var batch = new Batch(Transpose.None, Transpose.Transposed, 33, 48, 17, 9);
            GemmControl.MaxDegreeOfParallelism = 1;
            float[] one = batch.Run(0.5f, 1f);
            foreach (int threads in new[] { 2, 3 })
            {
                GemmControl.MaxDegreeOfParallelism = threads;
                Assert.Equal(one, batch.Run(0.5f, 1f));
            }
        }
        finally
        {
            GemmControl.ParallelThreshold = savedThreshold;
            GemmControl.MaxDegreeOfParallelism = savedThreads;
        }
    }

    private const int AttentionBatch = 3;
    private const int AttentionTokens = 7;
    private const int AttentionHeads = 2;
    private const int AttentionWidth = 16;

    /// <summary>Forward and backward of one attention layer: (output, probs, dqkv).</summary>
    private static (float[] Output, float[] Probs, float[] DQkv) RunAttention(bool causal)
    {
        const int n = AttentionBatch * AttentionTokens, d = AttentionWidth;
        Matrix qkv = TestData.RandomMatrix(n, 3 * d, 71);
        float[] probs = new float[AttentionBatch * AttentionHeads * AttentionTokens * AttentionTokens];
        var output = new Matrix(n, d);
        Attention.Forward(qkv, AttentionBatch, AttentionTokens, AttentionHeads, causal, probs, output);
        var dqkv = new Matrix(n, 3 * d);
        Attention.Backward(qkv, AttentionBatch, AttentionTokens, AttentionHeads, probs, TestData.RandomMatrix(n, d, 72), dqkv, new float[probs.Length]);
        return (output.Data, probs, dqkv.Data);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Attention_BatchedProvider_AllProductsGoThroughTheCapability_BitIdenticalToManaged(bool causal)
    {
        (float[] output, float[] probs, float[] dqkv) = RunAttention(causal);
        var counting = new CountingBatchedProvider();
        (float[] Output, float[] Probs, float[] DQkv) viaCapability = ([], [], []);
        WithProvider(counting, () => viaCapability = RunAttention(causal));

        // Forward: S = Q K^T and O = P V; backward: dP, dV, dQ, dK: six batched calls of batch x heads products.
        Assert.Equal(6, counting.BatchedCalls);
        Assert.Equal(6L * AttentionBatch * AttentionHeads, counting.BatchedProducts);
        Assert.Equal(0, counting.SgemmCalls);
        Assert.Equal(output, viaCapability.Output);
        Assert.Equal(probs, viaCapability.Probs);
        Assert.Equal(dqkv, viaCapability.DQkv);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Attention_ProviderWithoutCapability_FallbackMatchesManagedPath(bool causal)
    {
        (float[] output, float[] probs, float[] dqkv) = RunAttention(causal);
        var plain = new PlainProvider();
        (float[] Output, float[] Probs, float[] DQkv) fallback = ([], [], []);
        WithProvider(plain, () => fallback = RunAttention(causal));

        Assert.Equal(6 * AttentionBatch * AttentionHeads, plain.SgemmCalls);
        AssertClose(output, fallback.Output, "output");
        AssertClose(probs, fallback.Probs, "probs");
        AssertClose(dqkv, fallback.DQkv, "dqkv");
    }

    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            TestData.Close(expected[i], actual[i], 1e-5, 1e-6, $"{what}[{i}]");
        }
    }
}
