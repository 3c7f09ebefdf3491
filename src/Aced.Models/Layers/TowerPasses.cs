using System;
using System.Numerics.Tensors;
using Aced.Core;

namespace Aced.Models.Layers;

/// <summary>
/// The towers' element-wise passes outside the encoder (patchify, the image finite check, the position-embedding add,
/// the token gather, the pooling passes, the position-gradient sum, the embedding scatter-adds, gradient clears), run
/// on the worker pool over ranges of their output.
/// </summary>
/// <remarks>
/// <para>
/// Each pass is a <see cref="IRangePass"/>: <c>Run(start, end)</c> does the serial pass's work for the outputs in
/// [start, end) of its range (examples, rows, or columns), in the serial pass's order within each output element. So an
/// element gets the same operations in the same order whatever the split: a sum over examples or tokens is partitioned
/// by the destination's columns, never by the terms. <c>Run(0, count)</c> is the serial pass itself.
/// </para>
/// <para>
/// Below <see cref="MinimumFloats"/> floats touched, or with <see cref="Parallel"/> off, the pass runs as one range on
/// the calling thread.
/// </para>
/// </remarks>
internal static class TowerPasses
{
    /// <summary>
    /// Whether the passes run on the worker pool (default) or as one serial range on the caller (the earlier form; a
    /// same-run A/B baseline turns it off). Same bits either way.
    /// </summary>
    internal static bool Parallel { get; set; } = true;

    /// <summary>Floats a pass must touch to run on the pool (tests set 0 so every size takes the parallel path).</summary>
    internal static int MinimumFloats { get; set; } = 1 << 15;

    /// <summary>Runs <paramref name="pass"/> over [0, <paramref name="count"/>) in ranges of <paramref name="chunk"/>.</summary>
    /// <param name="count">Length of the range.</param>
    /// <param name="chunk">Range length per pool item (the last may be shorter).</param>
    /// <param name="floats">Floats the whole pass touches (decides serial or parallel).</param>
    /// <param name="pass">The work.</param>
    public static void Run<TPass>(int count, int chunk, long floats, in TPass pass)
        where TPass : struct, IRangePass
    {
        int items = (count + chunk - 1) / chunk;
        if (!Parallel || items <= 1 || floats < MinimumFloats || AcedControl.MaxDegreeOfParallelism <= 1)
        {
            if (count > 0)
            {
                pass.Run(0, count);
            }

            return;
        }

        ParallelPartition.Run(items, new RangeBody<TPass>(pass, count, chunk));
    }

    /// <summary>Ranges of at least <paramref name="minimum"/> that split <paramref name="count"/> into about 8 per thread.</summary>
    public static int Chunk(int count, int minimum)
    {
        int target = Math.Max(1, AcedControl.MaxDegreeOfParallelism * 8);
        return Math.Max(minimum, (count + target - 1) / target);
    }

    /// <summary>Sets every element of <paramref name="x"/> to zero.</summary>
    public static void Clear(MatrixView x)
    {
        if (!x.IsContiguous)
        {
            x.Span.Clear();
            return;
        }

        int length = x.Rows * x.Columns;
        Run(length, Math.Max(1 << 14, Chunk(length, 1)), length, new ClearPass(x.Array, x.Offset));
    }

    /// <summary>One pool item: range <c>p</c> of the pass.</summary>
    private readonly struct RangeBody<TPass> : IPartitionBody
        where TPass : struct, IRangePass
    {
        private readonly TPass _pass;
        private readonly int _count;
        private readonly int _chunk;

        public RangeBody(in TPass pass, int count, int chunk)
        {
            _pass = pass;
            _count = count;
            _chunk = chunk;
        }

        public void Execute(int partition)
        {
            int start = partition * _chunk;
            _pass.Run(start, Math.Min(_count, start + _chunk));
        }
    }

    private readonly struct ClearPass(float[] array, int offset) : IRangePass
    {
        public void Run(int start, int end) => array.AsSpan(offset + start, end - start).Clear();
    }
}

/// <summary>A pass over a range of outputs; see <see cref="TowerPasses"/>.</summary>
internal interface IRangePass
{
    /// <summary>Does the pass's work for outputs [<paramref name="start"/>, <paramref name="end"/>).</summary>
    void Run(int start, int end);
}

/// <summary>Clears the chunks of the range (array, start, length).</summary>
internal readonly struct ChunkClearPass((float[] Array, int Start, int Length)[] chunks) : IRangePass
{
    public void Run(int start, int end)
    {
        for (int i = start; i < end; i++)
        {
            chunks[i].Array.AsSpan(chunks[i].Start, chunks[i].Length).Clear();
        }
    }
}

/// <summary>The global-average pooling of the range's examples: pooled[e] = (sum of its token rows in order) / tokens.</summary>
internal readonly struct AveragePoolPass(MatrixView x, MatrixView pooled, int tokens) : IRangePass
{
    public void Run(int start, int end)
    {
        for (int e = start; e < end; e++)
        {
            Span<float> dst = pooled.Row(e);
            dst.Clear();
            for (int t = 0; t < tokens; t++)
            {
                TensorPrimitives.Add(dst, x.Row((e * tokens) + t), dst);
            }

            TensorPrimitives.Multiply(dst, 1f / tokens, dst);
        }
    }
}

/// <summary>The global-average pooling's backward for the range's examples: every token row of e = dPooled[e] / tokens.</summary>
internal readonly struct AveragePoolBackwardPass(MatrixView dPooled, MatrixView dx, int tokens) : IRangePass
{
    public void Run(int start, int end)
    {
        for (int e = start; e < end; e++)
        {
            ReadOnlySpan<float> g = dPooled.Row(e);
            for (int t = 0; t < tokens; t++)
            {
                TensorPrimitives.Multiply(g, 1f / tokens, dx.Row((e * tokens) + t));
            }
        }
    }
}

/// <summary>x[e] += position for the examples of the range (x is examples x (tokens x width) floats).</summary>
internal readonly struct PositionAddPass(float[] x, float[] position, int length) : IRangePass
{
    public void Run(int start, int end)
    {
        for (int e = start; e < end; e++)
        {
            TensorPrimitives.Add(x.AsSpan(e * length, length), position.AsSpan(0, length), x.AsSpan(e * length, length));
        }
    }
}

/// <summary>
/// position gradient [c] += dx[e][c] over the examples in order, for the flat columns c of the range (dx is examples x
/// <c>length</c> floats).
/// </summary>
internal readonly struct PositionSumPass(float[] positionGradient, float[] dx, int batch, int length) : IRangePass
{
    public void Run(int start, int end)
    {
        Span<float> sum = positionGradient.AsSpan(start, end - start);
        for (int e = 0; e < batch; e++)
        {
            TensorPrimitives.Add(sum, dx.AsSpan((e * length) + start, end - start), sum);
        }
    }
}
