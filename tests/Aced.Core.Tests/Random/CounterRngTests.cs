using System;
using MathNet.Numerics.Distributions;

namespace Aced.Core.Tests.Random;

public class CounterRngTests
{
    // Random123 tests/kat_vectors, the three "philox4x32 10" lines: counter[4] key[2] -> output[4].
    [Theory]
    [InlineData(0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [InlineData(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [InlineData(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void Philox4x32x10_Random123KnownAnswers_Match(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1, uint e0, uint e1, uint e2, uint e3)
    {
        (uint x0, uint x1, uint x2, uint x3) = CounterRng.Philox4x32x10(c0, c1, c2, c3, k0, k1);
        Assert.Equal((e0, e1, e2, e3), (x0, x1, x2, x3));
    }

    [Fact]
    public void NextUInt32_StreamAndSeed_MapToPhiloxCounterAndKey()
    {
        const ulong seed = 0x299f31d0a4093822UL;
        const ulong stream = 0x0370734413198a2eUL;
        var rng = new CounterRng(seed, stream);
        for (ulong block = 0; block < 3; block++)
        {
            (uint x0, uint x1, uint x2, uint x3) = CounterRng.Philox4x32x10((uint)block, 0, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0);
            Assert.Equal(x0, rng.NextUInt32());
            Assert.Equal(x1, rng.NextUInt32());
            Assert.Equal(x2, rng.NextUInt32());
            Assert.Equal(x3, rng.NextUInt32());
        }
    }

    [Theory]
    [InlineData(0UL)]
    [InlineData(5UL)]
    [InlineData(0xFFFFFFFDUL)]
    [InlineData(ulong.MaxValue - 6)]
    public void PhiloxBlocks_EveryCount_MatchesScalarBlockFunction(ulong firstBlock)
    {
        ulong seed = 0x0123456789ABCDEFUL;
        ulong stream = 0xFEDCBA9876543210UL;
        for (int blocks = 0; blocks <= 29; blocks++)
        {
            uint[] words = new uint[4 * blocks];
            CounterRng.PhiloxBlocks(seed, stream, firstBlock, words);
            for (int b = 0; b < blocks; b++)
            {
                ulong counter = unchecked(firstBlock + (ulong)b);
                (uint x0, uint x1, uint x2, uint x3) = CounterRng.Philox4x32x10((uint)counter, (uint)(counter >> 32), (uint)stream, (uint)(stream >> 32), (uint)seed, (uint)(seed >> 32));
                Assert.Equal((x0, x1, x2, x3), (words[4 * b], words[(4 * b) + 1], words[(4 * b) + 2], words[(4 * b) + 3]));
            }
        }
    }

    [Fact]
    public void NextDoubles_AnyPhaseAndLength_EqualsRepeatedNextDouble()
    {
        foreach (int consumed in new[] { 0, 1, 2, 3, 4, 5, 6 })
        {
            foreach (int length in new[] { 0, 1, 2, 3, 16, 17, 129, 300 })
            {
                var bulk = new CounterRng(31, 3);
                for (int i = 0; i < consumed; i++)
                {
                    bulk.NextUInt32();
                }

                var single = new CounterRng(bulk.State);
                double[] values = new double[length];
                bulk.NextDoubles(values);
                for (int i = 0; i < length; i++)
                {
                    Assert.Equal(single.NextDouble(), values[i]);
                }

                Assert.Equal(single.State, bulk.State);
                Assert.Equal(single.NextUInt32(), bulk.NextUInt32());
            }
        }
    }

    [Fact]
    public void NextUInt32_SameSeedAndStream_SameSequence()
    {
        var a = new CounterRng(42, 7);
        var b = new CounterRng(42, 7);
        for (int i = 0; i < 1000; i++)
        {
            Assert.Equal(a.NextUInt32(), b.NextUInt32());
        }
    }

    [Theory]
    [InlineData(1UL, 0UL, 2UL, 0UL)]
    [InlineData(1UL, 0UL, 1UL, 1UL)]
    [InlineData(0UL, 0UL, 1UL << 32, 0UL)]
    [InlineData(0UL, 0UL, 0UL, 1UL << 32)]
    public void NextUInt32_DifferentSeedOrStream_SequencesDiffer(ulong seedA, ulong streamA, ulong seedB, ulong streamB)
    {
        var a = new CounterRng(seedA, streamA);
        var b = new CounterRng(seedB, streamB);
        int equal = 0;
        for (int i = 0; i < 256; i++)
        {
            if (a.NextUInt32() == b.NextUInt32())
            {
                equal++;
            }
        }

        // Independent words coincide with probability 2^-32 each.
        Assert.True(equal <= 1, $"{equal} of 256 words coincide");
    }

    [Fact]
    public void State_SavedAtEveryOffsetWithinABlock_RestoresBitIdentically()
    {
        for (int consumed = 0; consumed <= 13; consumed++)
        {
            var rng = new CounterRng(123, 9);
            for (int i = 0; i < consumed; i++)
            {
                rng.NextUInt32();
            }

            RngState saved = rng.State;
            var restored = new CounterRng(saved);
            Assert.Equal(saved, restored.State);
            for (int i = 0; i < 21; i++)
            {
                Assert.Equal(rng.NextUInt32(), restored.NextUInt32());
            }

            Assert.Equal(rng.State, restored.State);
        }
    }

    [Fact]
    public void State_MixedDrawKinds_RestoreContinuesIdentically()
    {
        var rng = new CounterRng(5, 1);
        rng.NextFloat();
        rng.NextDouble();
        rng.NextNormal();
        var restored = new CounterRng(rng.State);
        Assert.Equal(rng.NextGumbel(), restored.NextGumbel());
        Assert.Equal(rng.NextInt(17), restored.NextInt(17));
        Assert.Equal(rng.NextNormal(), restored.NextNormal());
        Assert.Equal(rng.NextFloat(), restored.NextFloat());
    }

    [Theory]
    [InlineData(5)]
    [InlineData(-1)]
    public void Constructor_StateWithBadIndex_ThrowsNamingState(int index)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new CounterRng(new RngState(1, 2, 3, index)));
        Assert.Equal("state", ex.ParamName);
    }

    [Fact]
    public void Constructor_PartlyConsumedBlockZero_ThrowsNamingState()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new CounterRng(new RngState(1, 2, 0, 2)));
        Assert.Equal("state", ex.ParamName);
    }

    [Fact]
    public void Fork_AnyParentPosition_EqualsFreshStreamAndLeavesParentUntouched()
    {
        var parent = new CounterRng(77, 0);
        for (int i = 0; i < 5; i++)
        {
            parent.NextUInt32();
        }

        RngState before = parent.State;
        CounterRng fork = parent.Fork(3);
        var fresh = new CounterRng(77, 3);
        Assert.Equal(before, parent.State);
        Assert.Equal(77UL, fork.Seed);
        Assert.Equal(3UL, fork.Stream);

        var parentCopy = new CounterRng(before);
        int equal = 0;
        for (int i = 0; i < 256; i++)
        {
            uint f = fork.NextUInt32();
            Assert.Equal(fresh.NextUInt32(), f);
            if (f == parentCopy.NextUInt32())
            {
                equal++;
            }
        }

        Assert.True(equal <= 1);
    }

    [Fact]
    public void WordToFloat_ExtremeWords_StrictlyInsideUnitInterval()
    {
        Assert.Equal(1f / 16777216f, CounterRng.WordToFloat(0));
        float top = CounterRng.WordToFloat(uint.MaxValue);
        Assert.True(top < 1f, $"{top} must be below 1");
        Assert.Equal(1f - (1f / 16777216f), top);
        Assert.True(CounterRng.WordsToDouble(0) > 0);
        Assert.True(CounterRng.WordsToDouble(ulong.MaxValue) < 1.0);
        Assert.Equal(1.0 - (1.0 / 9007199254740992.0), CounterRng.WordsToDouble(ulong.MaxValue));
    }

    [Fact]
    public void NextFloatAndNextDouble_ManyDraws_StrictlyInsideUnitIntervalAndFiniteTransforms()
    {
        var rng = new CounterRng(2024);
        for (int i = 0; i < 100_000; i++)
        {
            float f = rng.NextFloat();
            double d = rng.NextDouble();
            Assert.True(f > 0f && f < 1f);
            Assert.True(d > 0.0 && d < 1.0);
        }

        for (int i = 0; i < 10_000; i++)
        {
            Assert.True(float.IsFinite(rng.NextGumbel()));
            Assert.True(float.IsFinite(rng.NextNormal()));
        }
    }

    [Fact]
    public void NextFloat_KolmogorovSmirnov_Uniform()
    {
        var rng = new CounterRng(11, 0);
        double[] sample = new double[20_000];
        for (int i = 0; i < sample.Length; i++)
        {
            sample[i] = rng.NextFloat();
        }

        Assert.True(TestStatistics.KolmogorovSmirnovPValue(sample, x => Math.Clamp(x, 0, 1)) > 1e-4);
    }

    [Fact]
    public void NextDouble_KolmogorovSmirnov_Uniform()
    {
        var rng = new CounterRng(12, 0);
        double[] sample = new double[20_000];
        for (int i = 0; i < sample.Length; i++)
        {
            sample[i] = rng.NextDouble();
        }

        Assert.True(TestStatistics.KolmogorovSmirnovPValue(sample, x => Math.Clamp(x, 0, 1)) > 1e-4);
    }

    [Fact]
    public void NextNormal_KolmogorovSmirnov_StandardNormal()
    {
        var rng = new CounterRng(13, 0);
        double[] sample = new double[20_000];
        for (int i = 0; i < sample.Length; i++)
        {
            sample[i] = rng.NextNormal();
        }

        Assert.True(TestStatistics.KolmogorovSmirnovPValue(sample, x => Normal.CDF(0, 1, x)) > 1e-4);
    }

    [Fact]
    public void NextGumbel_KolmogorovSmirnov_StandardGumbel()
    {
        var rng = new CounterRng(14, 0);
        double[] sample = new double[20_000];
        for (int i = 0; i < sample.Length; i++)
        {
            sample[i] = rng.NextGumbel();
        }

        // Standard Gumbel CDF: exp(-exp(-x)).
        Assert.True(TestStatistics.KolmogorovSmirnovPValue(sample, x => Math.Exp(-Math.Exp(-x))) > 1e-4);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(10)]
    public void NextInt_SmallRange_ChiSquareUniform(int range)
    {
        // 60,000 draws: a bias of 1% of a cell's probability between two of 10 cells gives a chi-square
        // noncentrality of about 60000 * 2 * 0.001^2 / 0.1 = 1.2 (undetectable), but the modulo bias of a
        // broken reduction (e.g. a 3/2 ratio) is found with certainty.
        var rng = new CounterRng(15, (ulong)range);
        long[] counts = new long[range];
        double[] p = new double[range];
        for (int i = 0; i < 60_000; i++)
        {
            counts[rng.NextInt(range)]++;
        }

        Array.Fill(p, 1.0 / range);
        Assert.True(TestStatistics.ChiSquarePValue(counts, p) > 1e-4);
    }

    [Fact]
    public void NextInt_LargeRange_StaysInRangeAndHitsBothHalves()
    {
        var rng = new CounterRng(16);
        int high = 0;
        const int range = (int.MaxValue / 3) * 2;
        for (int i = 0; i < 10_000; i++)
        {
            int v = rng.NextInt(range);
            Assert.InRange(v, 0, range - 1);
            if (v >= range / 2)
            {
                high++;
            }
        }

        Assert.InRange(high, 4_600, 5_400);
        Assert.Equal(0, rng.NextInt(1));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public void NextInt_NonPositiveRange_ThrowsNamingArgument(int range)
    {
        var rng = new CounterRng(1);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => rng.NextInt(range));
        Assert.Equal("maxExclusive", ex.ParamName);
    }

    [Fact]
    public void FillUniform_AnyOffset_EqualsSequentialNextFloat()
    {
        var rng = new CounterRng(21, 4);
        float[] sequential = new float[103];
        for (int i = 0; i < sequential.Length; i++)
        {
            sequential[i] = rng.NextFloat();
        }

        float[] filled = new float[103];
        CounterRng.FillUniform(21, 4, filled);
        Assert.Equal(sequential, filled);
        for (int start = 0; start < 9; start++)
        {
            float[] part = new float[50];
            CounterRng.FillUniform(21, 4, part, start);
            Assert.Equal(sequential.AsSpan(start, 50).ToArray(), part);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Fill_AnyThreadCountOrSplit_GivesIdenticalNumbers(bool normal)
    {
        const int n = 100_003;
        float[] reference = new float[n];
        Fill(normal, reference, 0, 1);
        foreach (int threads in new[] { 2, 3, 8 })
        {
            float[] parallel = new float[n];
            Fill(normal, parallel, 0, threads);
            Assert.Equal(reference, parallel);
        }

        // Ragged pieces at odd offsets, filled out of order.
        float[] pieces = new float[n];
        int[] cuts = { 0, 1, 4099, 33_333, 65_537, 99_998, n };
        for (int c = cuts.Length - 2; c >= 0; c--)
        {
            Fill(normal, pieces.AsSpan(cuts[c], cuts[c + 1] - cuts[c]), cuts[c], 2);
        }

        Assert.Equal(reference, pieces);
    }

    [Fact]
    public void FillNormal_KolmogorovSmirnov_StandardNormal()
    {
        float[] values = new float[20_001];
        CounterRng.FillNormal(31, 2, values);
        double[] sample = Array.ConvertAll(values, v => (double)v);
        Assert.True(TestStatistics.KolmogorovSmirnovPValue(sample, x => Normal.CDF(0, 1, x)) > 1e-4);

        // Cosine and sine halves of each Box–Muller pair must each be normal (and uncorrelated).
        double[] even = new double[10_000];
        double[] odd = new double[10_000];
        double cross = 0;
        for (int i = 0; i < even.Length; i++)
        {
            even[i] = values[2 * i];
            odd[i] = values[(2 * i) + 1];
            cross += even[i] * odd[i];
        }

        Assert.InRange(cross / even.Length, -0.04, 0.04);
        Assert.True(TestStatistics.KolmogorovSmirnovPValue(even, x => Normal.CDF(0, 1, x)) > 1e-4);
        Assert.True(TestStatistics.KolmogorovSmirnovPValue(odd, x => Normal.CDF(0, 1, x)) > 1e-4);
    }

    [Fact]
    public void FillUniform_KolmogorovSmirnov_Uniform()
    {
        float[] values = new float[20_000];
        CounterRng.FillUniform(32, 2, values, 1_000_000_007);
        double[] sample = Array.ConvertAll(values, v => (double)v);
        Assert.True(TestStatistics.KolmogorovSmirnovPValue(sample, x => Math.Clamp(x, 0, 1)) > 1e-4);
    }

    [Fact]
    public void Fill_BadArguments_ThrowNamingThem()
    {
        float[] values = new float[4];
        Assert.Equal("startIndex", Assert.Throws<ArgumentOutOfRangeException>(() => CounterRng.FillUniform(1, 1, values, -1)).ParamName);
        Assert.Equal("maxDegreeOfParallelism", Assert.Throws<ArgumentOutOfRangeException>(() => CounterRng.FillNormal(1, 1, values, 0, 0)).ParamName);
    }

    private static void Fill(bool normal, Span<float> destination, long start, int threads)
    {
        if (normal)
        {
            CounterRng.FillNormal(99, 5, destination, start, threads);
        }
        else
        {
            CounterRng.FillUniform(99, 5, destination, start, threads);
        }
    }
}
