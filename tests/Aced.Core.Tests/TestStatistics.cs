using System;
using FsCheck;
using MathNet.Numerics.Distributions;
using Microsoft.FSharp.Core;

namespace Aced.Core.Tests;

/// <summary>Goodness-of-fit helpers shared by the RNG and sampling tests (fixed seeds; p-value thresholds of 1e-4).</summary>
internal static class TestStatistics
{
    /// <summary>Pearson chi-square p-value of <paramref name="observed"/> counts against <paramref name="probabilities"/> (dof = cells - 1).</summary>
    public static double ChiSquarePValue(ReadOnlySpan<long> observed, ReadOnlySpan<double> probabilities)
    {
        Assert.Equal(probabilities.Length, observed.Length);
        long total = 0;
        foreach (long count in observed)
        {
            total += count;
        }

        double statistic = 0;
        double probabilitySum = 0;
        for (int i = 0; i < observed.Length; i++)
        {
            double expected = total * probabilities[i];
            Assert.True(expected >= 5, $"cell {i} expects only {expected} counts; chi-square needs at least 5");
            statistic += (observed[i] - expected) * (observed[i] - expected) / expected;
            probabilitySum += probabilities[i];
        }

        Assert.InRange(probabilitySum, 1 - 1e-9, 1 + 1e-9);
        return 1 - ChiSquared.CDF(observed.Length - 1, statistic);
    }

    /// <summary>
    /// Kolmogorov–Smirnov p-value of <paramref name="sample"/> (sorted in place) against <paramref name="cdf"/>,
    /// with Stephens' small-sample correction of the asymptotic Kolmogorov distribution.
    /// </summary>
    public static double KolmogorovSmirnovPValue(double[] sample, Func<double, double> cdf)
    {
        Array.Sort(sample);
        int n = sample.Length;
        double d = 0;
        for (int i = 0; i < n; i++)
        {
            double f = cdf(sample[i]);
            d = Math.Max(d, Math.Max(((i + 1.0) / n) - f, f - ((double)i / n)));
        }

        double sqrtN = Math.Sqrt(n);
        double lambda = (sqrtN + 0.12 + (0.11 / sqrtN)) * d;
        double p = 0;
        for (int k = 1; k <= 100; k++)
        {
            double term = 2 * (k % 2 == 1 ? 1 : -1) * Math.Exp(-2.0 * k * k * lambda * lambda);
            p += term;
            if (Math.Abs(term) < 1e-16)
            {
                break;
            }
        }

        return Math.Clamp(p, 0, 1);
    }

    /// <summary>An FsCheck configuration with a fixed seed (reproducible runs) that throws on failure.</summary>
    public static Config FixedSeed(int maxTest, ulong seed) =>
        Config.QuickThrowOnFailure
            .WithMaxTest(maxTest)
            .WithReplay(FSharpOption<Replay>.Some(new Replay(new Rnd(seed, 0x9E3779B97F4A7C15UL), FSharpOption<int>.None)));

    /// <summary>Relative closeness with an absolute floor: |a - e| &lt;= rel * |e| + abs.</summary>
    public static bool Close(double actual, double expected, double relative, double absolute = 0)
    {
        if (double.IsNaN(expected))
        {
            return double.IsNaN(actual);
        }

        if (double.IsInfinity(expected))
        {
            return actual == expected;
        }

        return Math.Abs(actual - expected) <= (relative * Math.Abs(expected)) + absolute;
    }

    /// <summary>
    /// Bytes allocated on this thread by one call of <paramref name="action"/> after one warm-up call: the smallest count
    /// over a few calls (<see cref="SteadyStateAllocation"/>), so the runtime's occasional work on the thread is not counted.
    /// </summary>
    public static long AllocatedBytes(Action action) =>
        SteadyStateAllocation.MinimumBytes(action, callsPerRound: 1, warmUp: 1, currentThread: true);
}
