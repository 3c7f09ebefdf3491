using System;
using System.Collections.Generic;
using Aced.Core;
using Aced.Models.Layers;
using Aced.Models.Training;
using Xunit;

namespace Aced.Models.Tests;

/// <summary>
/// The encoder's last block on the pooled rows only (<see cref="TransformerEncoder.PooledRowsOnly"/>, prune14): the
/// real training step (forward, loss, backward, AdamW) gives the same bits as the computation over every token row,
/// compared bit for bit (the sign of zero included) on the embeddings, the loss, every parameter gradient and every
/// updated parameter over several steps, at 1, 2 and 3 threads, for first-token and last-token pooling in either tower,
/// causal and bidirectional text, depths 1 and 2, and batches whose token rows do and do not fill the sums' chunks
/// (32 and 256 rows) and the weight gradients' 512-row slices.
/// </summary>
[Collection(GemmProviderCollection.Name)]
public sealed class PooledRowsOnlyTests
{
    /// <summary>(text pooling, image pooling, causal, depth, context length, batch).</summary>
    public static IEnumerable<object[]> Cases()
    {
        yield return [PoolingKind.FirstToken, PoolingKind.GlobalAverage, false, 1, 32, 20];
        yield return [PoolingKind.FirstToken, PoolingKind.FirstToken, true, 2, 32, 9];
        yield return [PoolingKind.LastToken, PoolingKind.LastToken, false, 2, 12, 23];
        yield return [PoolingKind.LastToken, PoolingKind.MultiheadAttention, true, 1, 32, 20];
        yield return [PoolingKind.FirstToken, PoolingKind.LastToken, false, 1, 7, 40];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Training_PooledRowsOnlyOnAndOff_AreBitIdenticalForAnyThreadCount(PoolingKind text, PoolingKind image, bool causal, int depth, int context, int batch)
    {
        TwoTowerConfig config = Config(text, image, causal, depth, context);
        List<uint[]> off = Record(config, batch, false, 2);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            List<uint[]> on = Record(config, batch, true, threads);
            Assert.Equal(off.Count, on.Count);
            for (int i = 0; i < off.Count; i++)
            {
                Assert.True(off[i].AsSpan().SequenceEqual(on[i]), $"record {i} differs at {threads} threads");
            }
        }
    }

    /// <summary>
    /// The same on another GEMM kernel family (forced through Aced.Core's internal <c>GemmKernels.ForcedIsa</c>): the
    /// portable scalar kernel and the older AVX2 quarter tiles obey the same per-element contract (chains from zero per
    /// k block, the same store rule) as the AVX-512 kernels this machine cannot run, so the pruned sums match there too.
    /// </summary>
    [Theory]
    [InlineData("Scalar")]
    [InlineData("Vector256Quarters")]
    public void Training_PooledRowsOnly_IsBitIdenticalWithAnotherKernelFamily(string isa)
    {
        System.Reflection.PropertyInfo forced = typeof(Gemm).Assembly.GetType("Aced.Core.GemmKernels")!
            .GetProperty("ForcedIsa", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
        object saved = forced.GetValue(null)!;
        try
        {
            forced.SetValue(null, Enum.Parse(forced.PropertyType, isa));
            TwoTowerConfig config = Config(PoolingKind.FirstToken, PoolingKind.LastToken, false, 2, 32);
            List<uint[]> off = Record(config, 20, false, 2);
            List<uint[]> on = Record(config, 20, true, 3);
            for (int i = 0; i < off.Count; i++)
            {
                Assert.True(off[i].AsSpan().SequenceEqual(on[i]), $"record {i} differs");
            }
        }
        finally
        {
            forced.SetValue(null, saved);
        }
    }

    [Fact]
    public void PooledRows_GroupsFollowTheFullSumsChunksAndBlocks()
    {
        var pooled = new PooledRows();
        int[] rows = new int[40];
        for (int e = 0; e < rows.Length; e++)
        {
            rows[e] = 32 * e;
        }

        // 1280 token rows: slices [0, 512), [512, 1024) of two 256-row blocks each and [1024, 1280) as one block.
        pooled.Set(rows, 1280);
        Assert.Equal(40, pooled.NormGroups.Count);
        Assert.Equal(5, pooled.SumGroups.Count);
        Assert.Equal(8, pooled.SumGroups.Start(1));
        Assert.Equal(5, pooled.WeightBlocks.Count);
        Assert.Equal(new[] { 0, 8, 16, 24, 32, 40 }, pooled.WeightBlocks.Bounds.AsSpan(0, 6).ToArray());

        // 1100 rows: the last slice has 76 rows, one block; 600 rows: [512, 600) one block.
        Assert.Equal(1024, Linear.WeightGradientBlockStart(1099, 1100));
        Assert.Equal(768, Linear.WeightGradientBlockStart(1023, 1100));
        Assert.Equal(512, Linear.WeightGradientBlockStart(599, 600));
        Assert.Equal(256, Linear.WeightGradientBlockStart(300, 600));
        Assert.Equal(0, Linear.WeightGradientBlockStart(299, 300));
        Assert.Throws<ArgumentException>(() => pooled.Set([3, 3], 10));
    }

    internal static TwoTowerConfig Config(PoolingKind text, PoolingKind image, bool causal, int depth, int context) => new()
    {
        Image = new VisionTransformerConfig { ImageSize = 16, Channels = 3, PatchSize = 4, Width = 64, Depth = depth, Heads = 2, MlpWidth = 256, EmbeddingDimension = 32, Pooling = image },
        Text = new TextTransformerConfig { VocabularySize = 64, ContextLength = context, Width = 128, Depth = depth, Heads = 4, MlpWidth = 512, EmbeddingDimension = 32, Pooling = text, Causal = causal },
    };

    /// <summary>
    /// Three training steps with the switch set as given at the given thread count; per step the bits of both
    /// embeddings, the loss, every parameter's gradient (before the update) and every parameter after the update.
    /// </summary>
    internal static List<uint[]> Record(TwoTowerConfig config, int batch, bool pooledOnly, int threads)
    {
        int savedThreads = GemmControl.MaxDegreeOfParallelism;
        bool saved = TransformerEncoder.PooledRowsOnly;
        try
        {
            GemmControl.MaxDegreeOfParallelism = threads;
            TransformerEncoder.PooledRowsOnly = pooledOnly;
            var model = new TwoTowerModel(config, 71);
            (Matrix images, int[] tokens) = TestTrainer.Pairs(model, batch, 72);
            var optimizer = new AdamW(model.Parameters);
            var schedule = new ConstantSchedule(1e-3f);
            var records = new List<uint[]>();
            for (int step = 0; step < 3; step++)
            {
                model.ZeroGradients();
                (MatrixView zi, MatrixView zt) = model.Forward(images, tokens);
                records.Add(Bits(zi.Span));
                records.Add(Bits(zt.Span));
                var dzi = new Matrix(zi.Rows, zi.Columns);
                var dzt = new Matrix(zt.Rows, zt.Columns);
                double loss = TestSigmoidLoss.Compute(zi, zt, model.LogScale.Value[0], model.Bias.Value[0], dzi, dzt, out double dt, out double dc);
                records.Add([(uint)BitConverter.DoubleToInt64Bits(loss), (uint)(BitConverter.DoubleToInt64Bits(loss) >> 32)]);
                model.Backward(dzi, dzt, (float)dt, (float)dc);
                foreach (Parameter p in model.Parameters)
                {
                    records.Add(Bits(p.Gradient));
                }

                optimizer.Update(schedule);
                model.ClampLogScale();
                foreach (Parameter p in model.Parameters)
                {
                    records.Add(Bits(p.Value));
                }
            }

            return records;
        }
        finally
        {
            TransformerEncoder.PooledRowsOnly = saved;
            GemmControl.MaxDegreeOfParallelism = savedThreads;
        }
    }

    private static uint[] Bits(ReadOnlySpan<float> values)
    {
        uint[] bits = new uint[values.Length];
        for (int i = 0; i < bits.Length; i++)
        {
            bits[i] = BitConverter.SingleToUInt32Bits(values[i]);
        }

        return bits;
    }
}
