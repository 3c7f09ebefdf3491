using System;
using System.Collections.Generic;
using Aced.Core;
using Aced.Models.Layers;
using Aced.Models.Text;
using Aced.Models.Training;
using FsCheck;
using FsCheck.Fluent;

namespace Aced.Models.Tests;

/// <summary>
/// The fused attention's example packing (<see cref="Attention.PackExamples"/>), its column-block copies and its
/// profiling hook (<see cref="IAttentionProfiler"/>): the packed path against the strided fused path and the batched
/// path, bit for bit, on padded storage and for 1, 2 and 3 threads.
/// </summary>
[Collection(GemmProviderCollection.Name)]
public sealed class AttentionFusedTests
{
    internal readonly record struct Case(int Batch, int Tokens, int Heads, int HeadDim, bool Causal, int PadQkv, int PadOutput, int PadDQkv, int Seed)
    {
        public int Width => Heads * HeadDim;
    }

    internal static Gen<Case> Cases() =>
        from batch in Gen.Choose(1, 5)
        from tokens in Gen.Choose(1, 40)
        from heads in Gen.Choose(1, 4)
        from hd in Gen.OneOf(Gen.Choose(1, 20), Gen.Elements(8, 16, 32))
        from causal in Gen.Elements(false, true)
        from padQkv in Gen.Choose(0, 9)
        from padOutput in Gen.Choose(0, 9)
        from padDQkv in Gen.Choose(0, 9)
        from seed in Gen.Choose(0, int.MaxValue)
        select new Case(batch, tokens, heads, hd, causal, padQkv, padOutput, padDQkv, seed);

    /// <summary>A view of rows x columns with row stride columns + pad, values random, the padding NaN.</summary>
    internal static MatrixView Padded(int rows, int columns, int pad, ulong seed)
    {
        int stride = columns + pad;
        float[] data = new float[(rows * stride) + 3];
        Array.Fill(data, float.NaN);
        Matrix values = TestData.RandomMatrix(rows, columns, seed, 2f);
        for (int r = 0; r < rows; r++)
        {
            Array.Copy(values.Data, r * columns, data, 1 + (r * stride), columns);
        }

        return new MatrixView(data, 1, rows, columns, stride);
    }

    /// <summary>Forward then backward on padded storage: every float of the output, probability and dqkv arrays (padding included).</summary>
    internal static (float[] Output, float[] Probs, float[] DQkv) Run(Case c, MatrixView qkv, MatrixView dOutput)
    {
        int n = c.Batch * c.Tokens;
        float[] probs = new float[c.Batch * c.Heads * c.Tokens * c.Tokens];
        Array.Fill(probs, float.NaN);
        MatrixView output = Padded(n, c.Width, c.PadOutput, 1);
        Array.Fill(output.Array, float.NaN);
        Attention.Forward(qkv, c.Batch, c.Tokens, c.Heads, c.Causal, probs, output);
        MatrixView dqkv = Padded(n, 3 * c.Width, c.PadDQkv, 2);
        Attention.Backward(qkv, c.Batch, c.Tokens, c.Heads, probs, dOutput, dqkv, new float[probs.Length]);
        return (output.Array, probs, dqkv.Array);
    }

    /// <summary>Runs <paramref name="action"/> with the fused path and example packing switched as given, on <paramref name="threads"/> threads.</summary>
    /// <summary>
    /// Forward then backward on the fused, packed path with <paramref name="set"/>(<paramref name="on"/>) (restored to
    /// on afterwards), qkv token rows or head-major blocks, contiguous rows (the case's paddings not used), inputs
    /// from the case's seed with <paramref name="special"/> applied to qkv and dOutput: output, probabilities, dqkv.
    /// </summary>
    internal static (float[] Output, float[] Probs, float[] DQkv) ForwardBackward(Case c, bool headMajor, Action<bool> set, bool on, int threads, Action<float[], float[]>? special = null)
    {
        int rows = c.Batch * c.Tokens;
        MatrixView qkv = TestData.RandomMatrix(rows, 3 * c.Width, (ulong)c.Seed, 2f);
        MatrixView dOutput = TestData.RandomMatrix(rows, c.Width, (ulong)c.Seed + 1);
        special?.Invoke(qkv.Array, dOutput.Array);
        try
        {
            set(on);
            return With(true, true, threads, () =>
            {
                float[] probs = new float[c.Batch * c.Heads * c.Tokens * c.Tokens];
                Array.Fill(probs, float.NaN);
                var output = new MatrixView(new float[rows * c.Width], rows, c.Width);
                Array.Fill(output.Array, float.NaN);
                Attention.Forward(qkv, headMajor, c.Batch, c.Tokens, c.Heads, c.Causal, probs, output);
                var dqkv = new MatrixView(new float[rows * 3 * c.Width], rows, 3 * c.Width);
                Array.Fill(dqkv.Array, float.NaN);
                Attention.Backward(qkv, headMajor, c.Batch, c.Tokens, c.Heads, probs, dOutput, dqkv, new float[probs.Length]);
                return (output.Array, probs, dqkv.Array);
            });
        }
        finally
        {
            set(true);
        }
    }

    /// <summary><see cref="ForwardBackward"/> with the switch off at 2 threads, then on at 1, 2 and 3: every output bit for bit.</summary>
    internal static void AssertSwitchIsBitIdenticalForAnyThreadCount(Case c, bool headMajor, Action<bool> set, Action<float[], float[]>? special = null)
    {
        (float[] output, float[] probs, float[] dqkv) = ForwardBackward(c, headMajor, set, false, 2, special);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            (float[] so, float[] sp, float[] sd) = ForwardBackward(c, headMajor, set, true, threads, special);
            AttentionSoftmaxTests.AssertBits(output, so);
            AttentionSoftmaxTests.AssertBits(probs, sp);
            AttentionSoftmaxTests.AssertBits(dqkv, sd);
        }
    }

    internal static T With<T>(bool fused, bool packed, int threads, Func<T> action)
    {
        bool savedFused = Attention.FusedEnabled;
        bool savedPacked = Attention.PackExamples;
        int savedThreads = GemmControl.MaxDegreeOfParallelism;
        try
        {
            Attention.FusedEnabled = fused;
            Attention.PackExamples = packed;
            GemmControl.MaxDegreeOfParallelism = threads;
            return action();
        }
        finally
        {
            Attention.FusedEnabled = savedFused;
            Attention.PackExamples = savedPacked;
            GemmControl.MaxDegreeOfParallelism = savedThreads;
        }
    }

    [Fact]
    public void Packed_RandomShapesOnPaddedStorage_IsBitIdenticalToStridedAndBatchedForAnyThreadCount()
    {
        Prop.ForAll(Cases().ToArbitrary(), c =>
        {
            int n = c.Batch * c.Tokens;
            MatrixView qkv = Padded(n, 3 * c.Width, c.PadQkv, (ulong)c.Seed);
            MatrixView dOutput = Padded(n, c.Width, c.PadOutput, (ulong)c.Seed + 1);
            (float[] output, float[] probs, float[] dqkv) = With(false, true, 2, () => Run(c, qkv, dOutput));
            (float[] so, float[] sp, float[] sd) = With(true, false, 2, () => Run(c, qkv, dOutput));
            Assert.Equal(output, so);
            Assert.Equal(probs, sp);
            Assert.Equal(dqkv, sd);
            foreach (int threads in new[] { 1, 2, 3 })
            {
                (float[] po, float[] pp, float[] pd) = With(true, true, threads, () => Run(c, qkv, dOutput));
                Assert.Equal(output, po);
                Assert.Equal(probs, pp);
                Assert.Equal(dqkv, pd);
            }
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(40));
    }

    [Theory]
    [InlineData(256, 64, false)]
    [InlineData(61, 32, true)]
    public void Packed_ReferenceConfigShapes_IsBitIdenticalToStridedPath(int batch, int tokens, bool causal)
    {
        var c = new Case(batch, tokens, 4, 32, causal, 0, 0, 0, 93);
        int n = batch * tokens;
        MatrixView qkv = Padded(n, 3 * c.Width, 0, 93);
        MatrixView dOutput = Padded(n, c.Width, 0, 94);
        (float[] output, float[] probs, float[] dqkv) = With(true, false, 2, () => Run(c, qkv, dOutput));
        (float[] po, float[] pp, float[] pd) = With(true, true, 2, () => Run(c, qkv, dOutput));
        Assert.Equal(output, po);
        Assert.Equal(probs, pp);
        Assert.Equal(dqkv, pd);
    }

    /// <summary>A one-block model at the reference widths (4 heads of 32; image T = 64, text T = 32 causal).</summary>
    internal static TwoTowerConfig ReferenceWidths => new()
    {
        Image = new VisionTransformerConfig { ImageSize = 32, Channels = 3, PatchSize = 4, Width = 128, Depth = 1, Heads = 4, MlpWidth = 256, EmbeddingDimension = 64, Pooling = PoolingKind.GlobalAverage },
        Text = new TextTransformerConfig { VocabularySize = 64, ContextLength = 32, Width = 128, Depth = 1, Heads = 4, MlpWidth = 256, EmbeddingDimension = 64, Pooling = PoolingKind.FirstToken, Causal = true },
    };

    [Fact]
    public void Training_PackExamplesOnAndOff_AreBitIdentical()
    {
        TwoTowerConfig config = ReferenceWidths;
        float[][] Train(bool packed) => With(true, packed, 2, () => TestTrainer.TrainedParameters(config, 61, 6, 62, new ConstantSchedule(1e-3f), 2, 2));
        float[][] off = Train(false);
        float[][] on = Train(true);
        for (int i = 0; i < off.Length; i++)
        {
            Assert.Equal(off[i], on[i]);
        }
    }

    [Theory]
    [InlineData(3, 5, 7, 2)]
    [InlineData(4, 40, 32, 3)]
    [InlineData(2, 16, 8, 12)]
    [InlineData(1, 1, 1, 1)]
    public void PackColumnBlocks_MovesEachBlockToItsRowMajorSlot_AndUnpackInverts(int rows, int pad, int w, int blocks)
    {
        int ld = (blocks * w) + pad;
        float[] source = new float[((rows - 1) * ld) + (blocks * w)];
        for (int i = 0; i < source.Length; i++)
        {
            source[i] = i + 0.5f;
        }

        float[] packed = new float[(rows * w * blocks) + 1];
        packed[^1] = -7f;
        Attention.PackColumnBlocks(source, rows, ld, w, blocks, packed);
        for (int s = 0; s < blocks; s++)
        {
            for (int r = 0; r < rows; r++)
            {
                for (int c = 0; c < w; c++)
                {
                    Assert.Equal(source[(r * ld) + (s * w) + c], packed[(s * rows * w) + (r * w) + c]);
                }
            }
        }

        Assert.Equal(-7f, packed[^1]);
        float[] back = new float[source.Length];
        Array.Fill(back, float.NaN);
        Attention.UnpackColumnBlocks(packed, rows, w, blocks, back, ld);
        for (int i = 0; i < back.Length; i++)
        {
            bool inBlock = (i % ld) < blocks * w;
            Assert.Equal(inBlock ? source[i] : float.NaN, back[i]);
        }
    }

    [Fact]
    public void PackColumnBlocks_ShortSpanOrNarrowStride_Throws()
    {
        Assert.Throws<ArgumentException>(() => Attention.PackColumnBlocks(new float[20], 2, 10, 4, 3, new float[24]));
        Assert.Throws<ArgumentException>(() => Attention.PackColumnBlocks(new float[30], 2, 12, 4, 3, new float[23]));
        Assert.Throws<ArgumentException>(() => Attention.PackColumnBlocks(new float[23], 2, 12, 4, 3, new float[24]));
        Assert.Throws<ArgumentException>(() => Attention.UnpackColumnBlocks(new float[24], 2, 4, 3, new float[23], 12));
        Assert.Throws<ArgumentException>(() => Attention.UnpackColumnBlocks(new float[23], 2, 4, 3, new float[24], 12));
    }

    /// <summary>A profiling wrapper of a provider: delegates the plain products and records what the attention reports.</summary>
    private sealed class RecordingProfiler : IGemmProvider, IAttentionProfiler
    {
        private readonly IGemmProvider _inner;

        public RecordingProfiler(IGemmProvider inner) => _inner = inner;

        public Dictionary<(Transpose, Transpose, int, int, int), long> Products { get; } = new();

        public Dictionary<string, long> Passes { get; } = new();

        public int Depth { get; private set; }

        public int Layers { get; private set; }

        public string Name => "recording profiler";

        public bool WrapsManagedProvider => ReferenceEquals(_inner, ManagedGemmProvider.Instance);

        public void Sgemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc) =>
            _inner.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

        public void EnterLayer()
        {
            Assert.Equal(0, Depth);
            Depth++;
            Layers++;
        }

        public void ExitLayer() => Depth--;

        public void RecordProducts(Transpose transA, Transpose transB, int m, int n, int k, long count, long ticks)
        {
            Assert.True(ticks >= 0);
            lock (Products)
            {
                Products[(transA, transB, m, n, k)] = Products.GetValueOrDefault((transA, transB, m, n, k)) + count;
            }
        }

        public void RecordPass(string name, long count, long ticks)
        {
            Assert.True(ticks >= 0);
            lock (Passes)
            {
                Passes[name] = Passes.GetValueOrDefault(name) + count;
            }
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Profiler_WrappingManagedProvider_RunsFusedPathAndReportsEveryHeadsProducts(bool packed)
    {
        var c = new Case(5, 12, 3, 8, false, 1, 2, 3, 17);
        int n = c.Batch * c.Tokens;
        MatrixView qkv = Padded(n, 3 * c.Width, c.PadQkv, 17);
        MatrixView dOutput = Padded(n, c.Width, c.PadOutput, 18);
        (float[] output, float[] probs, float[] dqkv) = With(true, packed, 2, () => Run(c, qkv, dOutput));
        var profiler = new RecordingProfiler(ManagedGemmProvider.Instance);
        IGemmProvider old = GemmControl.Provider;
        (float[] Output, float[] Probs, float[] DQkv) profiled;
        try
        {
            GemmControl.Provider = profiler;
            profiled = With(true, packed, 2, () => Run(c, qkv, dOutput));
        }
        finally
        {
            GemmControl.Provider = old;
        }

        Assert.Equal(output, profiled.Output);
        Assert.Equal(probs, profiled.Probs);
        Assert.Equal(dqkv, profiled.DQkv);
        Assert.Equal(2, profiler.Layers);
        Assert.Equal(0, profiler.Depth);
        long heads = c.Batch * c.Heads;
        int t = c.Tokens, hd = c.HeadDim;
        Assert.Equal(2 * heads, profiler.Products[(Transpose.None, Transpose.Transposed, t, t, hd)]);
        Assert.Equal(2 * heads, profiler.Products[(Transpose.None, Transpose.None, t, hd, t)]);
        Assert.Equal(2 * heads, profiler.Products[(Transpose.Transposed, Transpose.None, t, hd, t)]);
        Assert.Equal(3, profiler.Products.Count);
        Assert.Equal(heads, profiler.Passes["attention softmax"]);
        Assert.Equal(heads, profiler.Passes["attention softmax backward"]);
        Assert.Equal(packed, profiler.Passes.ContainsKey("attention pack/unpack, prefetch"));
    }

    [Fact]
    public void Profiler_WrappingAnotherProvider_IsNotCalled()
    {
        var c = new Case(2, 6, 2, 4, true, 0, 0, 0, 5);
        int n = c.Batch * c.Tokens;
        MatrixView qkv = Padded(n, 3 * c.Width, 0, 5);
        MatrixView dOutput = Padded(n, c.Width, 0, 6);
        var profiler = new RecordingProfiler(new RecordingProfiler(ManagedGemmProvider.Instance));
        IGemmProvider old = GemmControl.Provider;
        try
        {
            GemmControl.Provider = profiler;
            With(true, true, 2, () => Run(c, qkv, dOutput));
        }
        finally
        {
            GemmControl.Provider = old;
        }

        Assert.Equal(0, profiler.Layers);
        Assert.Empty(profiler.Products);
    }
}
