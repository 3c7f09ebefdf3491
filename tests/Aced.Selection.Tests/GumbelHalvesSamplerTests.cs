using System;
using System.Linq;
using System.Reflection;
using Aced.Core;

namespace Aced.Selection.Tests;

/// <summary>
/// The sampler's Gumbel top-k draws run in two halves on two threads (<c>Sampling.ParallelGumbel</c>): the
/// chosen indices, in order, must be those of the serial draw at 1, 2 and 3 threads, for the joint sampler's chunks
/// and the independent one, over several selections from one sampler (the generator's state carries over).
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public class GumbelHalvesSamplerTests
{
    // Aced.Core's internal switch (its internals are visible to its own tests only).
    private static readonly PropertyInfo s_parallelGumbel = typeof(Sampling).GetProperty("ParallelGumbel", BindingFlags.Static | BindingFlags.NonPublic)
        ?? throw new InvalidOperationException("Sampling.ParallelGumbel is gone");

    [Theory]
    [InlineData(1003, 64, 16, SamplerKind.Joint)]        // B not a multiple of the 256-variate chunk; 16 chunks of 4
    [InlineData(2049, 300, 3, SamplerKind.Joint)]        // a draw of 100 over 2049 items
    [InlineData(600, 64, 1, SamplerKind.Independent)]
    [InlineData(777, 97, 1, SamplerKind.LossPercentile)]
    public void Sample_ParallelGumbelOnOrOff_SameIndicesAtEveryThreadCount(int count, int batchSize, int chunks, SamplerKind kind)
    {
        SuperBatch batch = new(TestData.Model(count, 32, 5, 100f, -20f, 0.3f), TestData.Model(count, 32, 6, 10f, -10f, 0.8f));
        int[][] expected = Sample(batch, batchSize, chunks, kind, threads: 1, on: false);
        Assert.Equal(batchSize, expected[0].Distinct().Count());
        Assert.NotEqual(expected[0], expected[1]);
        for (int threads = 1; threads <= 3; threads++)
        {
            int[][] actual = Sample(batch, batchSize, chunks, kind, threads, on: true);
            for (int step = 0; step < expected.Length; step++)
            {
                Assert.Equal(expected[step], actual[step]);
            }
        }
    }

    /// <summary>Three selections (steps 3, 4 and 3 again) from one sampler.</summary>
    private static int[][] Sample(SuperBatch batch, int batchSize, int chunks, SamplerKind kind, int threads, bool on)
    {
        int saved = GemmControl.MaxDegreeOfParallelism;
        bool parallel = (bool)s_parallelGumbel.GetValue(null)!;
        GemmControl.MaxDegreeOfParallelism = threads;
        s_parallelGumbel.SetValue(null, on);
        try
        {
            var options = new ActiveBatchSamplerOptions { BatchSize = batchSize, Chunks = chunks, Sampler = kind, Seed = 4 };
            if (kind == SamplerKind.LossPercentile)
            {
                options.PercentilePower = 2.0;
            }

            var sampler = new ActiveBatchSampler(options);
            return new[] { sampler.Sample(batch, 3).ToArray(), sampler.Sample(batch, 4).ToArray(), sampler.Sample(batch, 3).ToArray() };
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = saved;
            s_parallelGumbel.SetValue(null, parallel);
        }
    }
}
