using System;
using System.Collections.Generic;

namespace Aced.Core.Tests.Random;

public class SamplingTests
{
    // Statistical power (all tests at fixed seeds, pass threshold p > 1e-4): with N draws, a sampler whose
    // cell probabilities are p'_i instead of p_i has chi-square noncentrality N * sum_i (p'_i - p_i)^2 / p_i.
    // With N = 120,000 and cells near 1/12, moving 0.005 of probability between two cells gives a
    // noncentrality of about 120000 * 2 * 0.005^2 / 0.083 = 72, far beyond the p = 1e-4 critical value
    // (about 35 for 11 degrees of freedom): such a bias would be detected with near certainty.
    private const int Draws = 120_000;

    public static TheoryData<float[], int> SequencePools() => new()
    {
        { new[] { 0.3f, -1.2f, 2.0f, 0.0f }, 2 },
        { new[] { 0.3f, -1.2f, 2.0f, 0.0f }, 3 },
        { new[] { 1000.5f, 1000f, 999f, 1001f }, 2 },
        { new[] { 0.5f, 0.5f, -0.5f, 1.5f, 0f }, 2 },
    };

    [Theory]
    [MemberData(nameof(SequencePools))]
    public void GumbelTopK_OrderedSequences_MatchPlackettLuceByChiSquare(float[] logits, int k)
    {
        Dictionary<long, double> exact = PlackettLuceSequences(logits, k);
        var keys = new List<long>(exact.Keys);
        var cell = new Dictionary<long, int>();
        for (int i = 0; i < keys.Count; i++)
        {
            cell[keys[i]] = i;
        }

        long[] counts = new long[keys.Count];
        var rng = new CounterRng(1234, (ulong)(logits.Length * 10) + (ulong)k);
        int[] destination = new int[k];
        float[] scratch = new float[k];
        for (int draw = 0; draw < Draws; draw++)
        {
            Sampling.GumbelTopK(logits, k, ref rng, destination, scratch);
            counts[cell[Encode(destination)]]++;
        }

        double[] p = new double[keys.Count];
        for (int i = 0; i < keys.Count; i++)
        {
            p[i] = exact[keys[i]];
        }

        double pValue = TestStatistics.ChiSquarePValue(counts, p);
        Assert.True(pValue > 1e-4, $"p = {pValue}");
    }

    [Theory]
    [InlineData(5, 2)]
    [InlineData(5, 3)]
    [InlineData(6, 2)]
    [InlineData(6, 3)]
    public void GumbelTopK_InclusionAndSubsets_MatchExactPlackettLuce(int n, int k)
    {
        float[] logits = new float[n];
        for (int i = 0; i < n; i++)
        {
            logits[i] = (0.7f * i) - (0.15f * i * i);
        }

        Dictionary<long, double> sequences = PlackettLuceSequences(logits, k);
        double[] inclusion = new double[n];
        var subsetProbability = new Dictionary<int, double>();
        foreach (KeyValuePair<long, double> pair in sequences)
        {
            int mask = 0;
            foreach (int item in Decode(pair.Key, k))
            {
                inclusion[item] += pair.Value;
                mask |= 1 << item;
            }

            subsetProbability[mask] = subsetProbability.GetValueOrDefault(mask) + pair.Value;
        }

        var masks = new List<int>(subsetProbability.Keys);
        long[] subsetCounts = new long[masks.Count];
        long[] included = new long[n];
        var rng = new CounterRng(99, (ulong)((n * 10) + k));
        int[] destination = new int[k];
        float[] scratch = new float[k];
        for (int draw = 0; draw < Draws; draw++)
        {
            Sampling.GumbelTopK(logits, k, ref rng, destination, scratch);
            int mask = 0;
            for (int j = 0; j < k; j++)
            {
                included[destination[j]]++;
                mask |= 1 << destination[j];
            }

            subsetCounts[masks.IndexOf(mask)]++;
        }

        double[] p = new double[masks.Count];
        for (int i = 0; i < masks.Count; i++)
        {
            p[i] = subsetProbability[masks[i]];
        }

        Assert.True(TestStatistics.ChiSquarePValue(subsetCounts, p) > 1e-4);

        // Each item's inclusion count is Binomial(Draws, pi_i): |z| < 4.4 for all items is a Bonferroni-corrected
        // two-sided level of about 6 * 1e-5.
        for (int i = 0; i < n; i++)
        {
            double mean = Draws * inclusion[i];
            double sd = Math.Sqrt(Draws * inclusion[i] * (1 - inclusion[i]));
            double z = (included[i] - mean) / sd;
            Assert.True(Math.Abs(z) < 4.4, $"item {i}: observed {included[i]}, expected {mean:F1} (z = {z:F2})");
        }
    }

    [Fact]
    public void GumbelTopK_ShiftedLogits_SameDraws()
    {
        // Keys are shifted by the maximum, so adding a constant to every logit changes nothing but rounding.
        float[] logits = { 0.25f, -1f, 2f, 0.5f, 1.25f, -0.75f, 0f };
        float[] shifted = Array.ConvertAll(logits, v => v + 512f);
        int same = 0;
        var a = new CounterRng(8);
        var b = new CounterRng(8);
        int[] da = new int[3];
        int[] db = new int[3];
        float[] scratch = new float[3];
        for (int trial = 0; trial < 200; trial++)
        {
            Sampling.GumbelTopK(logits, 3, ref a, da, scratch);
            Sampling.GumbelTopK(shifted, 3, ref b, db, scratch);
            if (da.AsSpan().SequenceEqual(db))
            {
                same++;
            }
        }

        Assert.True(same >= 198, $"{same} of 200 identical");
    }

    [Fact]
    public void GumbelTopK_FarApartLogits_NeverOverflowAndOrderIsCertain()
    {
        var rng = new CounterRng(3);
        int[] destination = new int[3];
        float[] scratch = new float[3];
        for (int trial = 0; trial < 1000; trial++)
        {
            Sampling.GumbelTopK(new[] { 0f, 500f, -500f }, 3, ref rng, destination, scratch);
            Assert.Equal(new[] { 1, 0, 2 }, destination);
            Sampling.GumbelTopK(new[] { float.MaxValue, -float.MaxValue, 1e30f }, 3, ref rng, destination, scratch);
            Assert.Equal(new[] { 0, 2, 1 }, destination);
            Assert.All(scratch, v => Assert.False(float.IsNaN(v)));
        }
    }

    [Fact]
    public void GumbelTopK_NegativeInfinity_NeverDrawnAndLimitsK()
    {
        float[] logits = { 0f, float.NegativeInfinity, 3f, float.NegativeInfinity, -2f };
        var rng = new CounterRng(4);
        int[] destination = new int[3];
        float[] scratch = new float[3];
        for (int trial = 0; trial < 500; trial++)
        {
            Sampling.GumbelTopK(logits, 3, ref rng, destination, scratch);
            int[] sorted = (int[])destination.Clone();
            Array.Sort(sorted);
            Assert.Equal(new[] { 0, 2, 4 }, sorted);
        }

        RngState before = rng.State;
        var ex = Assert.Throws<ArgumentException>(() =>
        {
            var local = new CounterRng(before);
            Sampling.GumbelTopK(logits, 4, ref local, new int[4], new float[4]);
        });
        Assert.Equal("k", ex.ParamName);
        Assert.Contains("3", ex.Message);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void GumbelTopK_NonFiniteLogit_ThrowsNamingIndexAndLeavesRngUntouched(float bad)
    {
        float[] logits = { 0f, 1f, bad, 2f };
        var rng = new CounterRng(5);
        rng.NextUInt32();
        RngState before = rng.State;
        ArgumentException? caught = null;
        try
        {
            Sampling.GumbelTopK(logits, 2, ref rng, new int[2], new float[2]);
        }
        catch (ArgumentException ex)
        {
            caught = ex;
        }

        Assert.NotNull(caught);
        Assert.Equal("logits", caught!.ParamName);
        Assert.Contains("index 2", caught.Message);
        Assert.Equal(before, rng.State);
    }

    [Fact]
    public void GumbelTopK_BadArguments_ThrowNamingThem()
    {
        var rng = new CounterRng(6);
        float[] logits = new float[5];
        Assert.Equal("k", Assert.Throws<ArgumentOutOfRangeException>(() => Sampling.GumbelTopK(logits, 6, ref rng, new int[6], new float[6])).ParamName);
        Assert.Equal("k", Assert.Throws<ArgumentOutOfRangeException>(() => Sampling.GumbelTopK(logits, -1, ref rng, new int[1], new float[1])).ParamName);
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => Sampling.GumbelTopK(logits, 3, ref rng, new int[2], new float[3])).ParamName);
        Assert.Equal("scratch", Assert.Throws<ArgumentException>(() => Sampling.GumbelTopK(logits, 3, ref rng, new int[3], new float[2])).ParamName);
    }

    [Fact]
    public void GumbelTopK_AdvancesRngByOneDoublePerItem()
    {
        float[] logits = { 1f, float.NegativeInfinity, 0f, 2f, -1f, 0.5f, 3f };
        foreach (int k in new[] { 0, 1, 5 })
        {
            var rng = new CounterRng(7, 2);
            rng.NextUInt32();
            var reference = new CounterRng(rng.State);
            Sampling.GumbelTopK(logits, k, ref rng, new int[5], new float[5]);
            for (int i = 0; i < logits.Length; i++)
            {
                reference.NextDouble();
            }

            Assert.Equal(reference.State, rng.State);
        }
    }

    [Fact]
    public void GumbelTopK_KEqualsN_ReturnsPermutationAndSameSeedRepeats()
    {
        float[] logits = new float[300];
        CounterRng.FillNormal(1, 1, logits);
        var a = new CounterRng(10);
        var b = new CounterRng(10);
        int[] da = new int[300];
        int[] db = new int[300];
        Sampling.GumbelTopK(logits, 300, ref a, da, new float[300]);
        Sampling.GumbelTopK(logits, 300, ref b, db, new float[300]);
        Assert.Equal(da, db);
        int[] sorted = (int[])da.Clone();
        Array.Sort(sorted);
        for (int i = 0; i < sorted.Length; i++)
        {
            Assert.Equal(i, sorted[i]);
        }
    }

    [Fact]
    public void GumbelTopK_LargePool_FirstDrawFrequenciesFollowSoftmax()
    {
        // n = 1000 exercises several stack chunks; the first draw is categorical(softmax(logits)).
        const int n = 1000;
        float[] logits = new float[n];
        for (int i = 0; i < n; i++)
        {
            logits[i] = i < 4 ? 3f + i : -2f;
        }

        double z = 0;
        foreach (float v in logits)
        {
            z += Math.Exp(v);
        }

        double[] p = new double[5];
        for (int i = 0; i < 4; i++)
        {
            p[i] = Math.Exp(logits[i]) / z;
        }

        p[4] = 1 - (p[0] + p[1] + p[2] + p[3]);
        long[] counts = new long[5];
        var rng = new CounterRng(11);
        int[] destination = new int[8];
        float[] scratch = new float[8];
        for (int draw = 0; draw < 20_000; draw++)
        {
            Sampling.GumbelTopK(logits, 8, ref rng, destination, scratch);
            counts[Math.Min(destination[0], 4)]++;
        }

        Assert.True(TestStatistics.ChiSquarePValue(counts, p) > 1e-4);
    }

    [Fact]
    public void Sampling_SteadyState_AllocatesNothing()
    {
        float[] logits = new float[2049];
        CounterRng.FillNormal(2, 2, logits);
        int[] destination = new int[64];
        float[] scratch = new float[64];
        int[] intScratch = new int[2049];
        Assert.Equal(0, TestStatistics.AllocatedBytes(() =>
        {
            var rng = new CounterRng(1);
            Sampling.GumbelTopK(logits, 64, ref rng, destination, scratch);
            Sampling.TopK(logits, 64, destination, scratch);
            Sampling.UniformWithoutReplacement(2049, 64, ref rng, destination, intScratch);
        }));
    }

    [Fact]
    public void TopK_RandomValuesWithTies_MatchStableSortReference()
    {
        var rng = new CounterRng(12);
        foreach (int n in new[] { 1, 2, 7, 64, 257 })
        {
            float[] values = new float[n];
            for (int i = 0; i < n; i++)
            {
                values[i] = rng.NextInt(5) == 0 ? float.NegativeInfinity : rng.NextInt(6);
            }

            int eligible = Array.FindAll(values, v => !float.IsNegativeInfinity(v)).Length;
            int[] order = new int[n];
            for (int i = 0; i < n; i++)
            {
                order[i] = i;
            }

            // Reference: by value descending, then index ascending.
            Array.Sort(order, (a, b) => values[a] != values[b] ? values[b].CompareTo(values[a]) : a.CompareTo(b));
            for (int k = 0; k <= eligible; k++)
            {
                int[] destination = new int[k];
                Sampling.TopK(values, k, destination, new float[k]);
                Assert.Equal(order.AsSpan(0, k).ToArray(), destination);
            }
        }
    }

    [Fact]
    public void TopK_AllTied_LowerIndicesFirst()
    {
        int[] destination = new int[3];
        Sampling.TopK(new[] { 1f, 1f, 1f, 1f, 1f }, 3, destination, new float[3]);
        Assert.Equal(new[] { 0, 1, 2 }, destination);
        Sampling.TopK(new[] { 0f, 2f, 1f, 2f, 2f }, 3, destination, new float[3]);
        Assert.Equal(new[] { 1, 3, 4 }, destination);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void TopK_NonFiniteValue_ThrowsNamingValues(float bad)
    {
        var ex = Assert.Throws<ArgumentException>(() => Sampling.TopK(new[] { 1f, bad }, 1, new int[1], new float[1]));
        Assert.Equal("values", ex.ParamName);
        Assert.Contains("index 1", ex.Message);
    }

    [Fact]
    public void TopK_TooFewEligible_ThrowsNamingK()
    {
        var ex = Assert.Throws<ArgumentException>(() => Sampling.TopK(new[] { 1f, float.NegativeInfinity }, 2, new int[2], new float[2]));
        Assert.Equal("k", ex.ParamName);
        Assert.Equal("k", Assert.Throws<ArgumentOutOfRangeException>(() => Sampling.TopK(new float[2], 3, new int[3], new float[3])).ParamName);
    }

    [Fact]
    public void UniformWithoutReplacement_DistinctInRangeWithInclusionKOverN()
    {
        const int n = 7;
        const int k = 3;
        var rng = new CounterRng(13);
        int[] destination = new int[k];
        int[] scratch = new int[n];
        long[] first = new long[n];
        long[] included = new long[n];
        var subsets = new Dictionary<int, long>();
        for (int draw = 0; draw < 70_000; draw++)
        {
            Sampling.UniformWithoutReplacement(n, k, ref rng, destination, scratch);
            int mask = 0;
            foreach (int item in destination)
            {
                Assert.InRange(item, 0, n - 1);
                Assert.Equal(0, mask & (1 << item));
                mask |= 1 << item;
                included[item]++;
            }

            first[destination[0]]++;
            subsets[mask] = subsets.GetValueOrDefault(mask) + 1;
        }

        double[] uniform = new double[n];
        Array.Fill(uniform, 1.0 / n);
        Assert.True(TestStatistics.ChiSquarePValue(first, uniform) > 1e-4, "first draw is not uniform");

        // Inclusion counts sum to k * draws; each is Binomial(draws, k / n).
        for (int i = 0; i < n; i++)
        {
            double mean = 70_000.0 * k / n;
            double sd = Math.Sqrt(70_000.0 * k / n * (1 - ((double)k / n)));
            Assert.True(Math.Abs((included[i] - mean) / sd) < 4.4, $"item {i} included {included[i]} times, expected {mean}");
        }

        // All C(7, 3) = 35 subsets equally likely.
        Assert.Equal(35, subsets.Count);
        long[] subsetCounts = new long[35];
        subsets.Values.CopyTo(subsetCounts, 0);
        double[] subsetP = new double[35];
        Array.Fill(subsetP, 1.0 / 35);
        Assert.True(TestStatistics.ChiSquarePValue(subsetCounts, subsetP) > 1e-4);
    }

    [Fact]
    public void UniformWithoutReplacement_EdgeCasesAndBadArguments()
    {
        var rng = new CounterRng(14);
        int[] all = new int[5];
        Sampling.UniformWithoutReplacement(5, 5, ref rng, all, new int[5]);
        int[] sorted = (int[])all.Clone();
        Array.Sort(sorted);
        Assert.Equal(new[] { 0, 1, 2, 3, 4 }, sorted);
        Sampling.UniformWithoutReplacement(0, 0, ref rng, Span<int>.Empty, Span<int>.Empty);

        Assert.Equal("k", Assert.Throws<ArgumentOutOfRangeException>(() => Sampling.UniformWithoutReplacement(3, 4, ref rng, new int[4], new int[4])).ParamName);
        Assert.Equal("n", Assert.Throws<ArgumentOutOfRangeException>(() => Sampling.UniformWithoutReplacement(-1, 0, ref rng, new int[1], new int[1])).ParamName);
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => Sampling.UniformWithoutReplacement(5, 3, ref rng, new int[2], new int[5])).ParamName);
        Assert.Equal("scratch", Assert.Throws<ArgumentException>(() => Sampling.UniformWithoutReplacement(5, 3, ref rng, new int[3], new int[4])).ParamName);
    }

    /// <summary>Exact Plackett–Luce probabilities of every ordered k-sequence of distinct items.</summary>
    private static Dictionary<long, double> PlackettLuceSequences(float[] logits, int k)
    {
        double max = double.NegativeInfinity;
        foreach (float v in logits)
        {
            max = Math.Max(max, v);
        }

        double[] w = Array.ConvertAll(logits, v => Math.Exp(v - max));
        double total = 0;
        foreach (double v in w)
        {
            total += v;
        }

        var result = new Dictionary<long, double>();
        int[] prefix = new int[k];
        bool[] used = new bool[logits.Length];
        Enumerate(0, 1.0, total);
        return result;

        void Enumerate(int depth, double probability, double remaining)
        {
            if (depth == k)
            {
                result[Encode(prefix)] = probability;
                return;
            }

            for (int i = 0; i < w.Length; i++)
            {
                if (used[i])
                {
                    continue;
                }

                used[i] = true;
                prefix[depth] = i;
                Enumerate(depth + 1, probability * w[i] / remaining, remaining - w[i]);
                used[i] = false;
            }
        }
    }

    private static long Encode(ReadOnlySpan<int> sequence)
    {
        long code = 0;
        foreach (int item in sequence)
        {
            code = (code * 64) + item;
        }

        return code;
    }

    private static int[] Decode(long code, int k)
    {
        int[] items = new int[k];
        for (int j = k - 1; j >= 0; j--)
        {
            items[j] = (int)(code % 64);
            code /= 64;
        }

        return items;
    }
}
