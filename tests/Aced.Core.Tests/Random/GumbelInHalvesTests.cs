using System;
using System.Linq;

namespace Aced.Core.Tests.Random;

/// <summary>
/// <see cref="Sampling.GumbelTopKInHalves"/> draws the two halves of the items on two threads: it must give the indices
/// of <see cref="Sampling.GumbelTopK"/> in the same order and leave the generator in the same state, at any thread
/// count, generator position, k and length (split at a chunk boundary, a short last chunk), with excluded items and
/// ties.
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public sealed class GumbelInHalvesTests
{
    public static TheoryData<int, int, int> Shapes() => new()
    {
        { 512, 1, 0 },
        { 513, 7, 1 },
        { 700, 64, 3 },
        { 1000, 500, 2 },
        { 2049, 2049, 5 },
        { 5120, 64, 4 },
        { 5119, 1000, 0 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void GumbelTopKInHalves_AnyThreads_SameIndicesOrderAndRngStateAsSerial(int n, int k, int skipWords)
    {
        var random = new System.Random(n + k);
        float[] logits = new float[n];
        for (int i = 0; i < n; i++)
        {
            logits[i] = (float)(random.NextDouble() * 6 - 3);
        }

        // A few excluded items (k stays drawable).
        for (int i = 3; i < n && n - k > 8; i += n / 5)
        {
            logits[i] = float.NegativeInfinity;
        }

        AssertSameAsSerial(logits, Math.Min(k, logits.Count(float.IsFinite)), skipWords);
    }

    [Fact]
    public void GumbelTopKInHalves_TiedKeys_BreakTiesByLowerIndexAsSerial()
    {
        // Items at -1e30 below a max of 0 all get the key -1e30 exactly (the Gumbel variate is lost in the rounding), so
        // the draw past the 100 finite-key items is decided by the lower index, across both halves.
        int n = 1300;
        float[] logits = new float[n];
        for (int i = 0; i < n; i++)
        {
            logits[i] = i % 13 == 0 ? 0f : -1e30f;
        }

        int[] indices = AssertSameAsSerial(logits, 400, 2);
        Assert.Equal(Enumerable.Range(0, n).Where(i => i % 13 != 0).Take(300), indices.Skip(100));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(7)]
    public void AheadByDoubles_AnyPosition_ContinuesAsDrawing(int skipWords)
    {
        foreach (int count in new[] { 0, 1, 2, 255, 256, 1000 })
        {
            var rng = new CounterRng(42, 3);
            for (int w = 0; w < skipWords; w++)
            {
                rng.NextUInt32();
            }

            CounterRng ahead = rng.AheadByDoubles(count);
            for (int i = 0; i < count; i++)
            {
                rng.NextDouble();
            }

            Assert.Equal(rng.State, ahead.State);
            Assert.Equal(rng.NextUInt64(), ahead.NextUInt64());
            Assert.Equal(rng.NextUInt32(), ahead.NextUInt32());
        }
    }

    private static int[] AssertSameAsSerial(float[] logits, int k, int skipWords)
    {
        var serialRng = Positioned(skipWords);
        int[] expected = new int[k];
        Sampling.GumbelTopK(logits, k, ref serialRng, expected, new float[k]);
        uint expectedNext = serialRng.NextUInt32();

        int oldDegree = AcedControl.MaxDegreeOfParallelism;
        bool oldSwitch = Sampling.ParallelGumbel;
        try
        {
            foreach (bool parallel in new[] { true, false })
            {
                foreach (int degree in new[] { 1, 2, 3 })
                {
                    Sampling.ParallelGumbel = parallel;
                    AcedControl.MaxDegreeOfParallelism = degree;
                    var rng = Positioned(skipWords);
                    int[] actual = new int[k + 3];
                    Sampling.GumbelTopKInHalves(logits, k, ref rng, actual, new float[k + 1], new int[k], new float[k + 2]);
                    Assert.Equal(expected, actual.Take(k));
                    Assert.Equal(expectedNext, rng.NextUInt32());
                }
            }
        }
        finally
        {
            AcedControl.MaxDegreeOfParallelism = oldDegree;
            Sampling.ParallelGumbel = oldSwitch;
        }

        return expected;
    }

    private static CounterRng Positioned(int skipWords)
    {
        var rng = new CounterRng(7, 11);
        for (int w = 0; w < skipWords; w++)
        {
            rng.NextUInt32();
        }

        return rng;
    }
}
