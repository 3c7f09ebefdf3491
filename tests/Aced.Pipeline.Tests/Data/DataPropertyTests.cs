using System;
using System.Collections.Generic;
using Aced.Pipeline.Data;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Core;

namespace Aced.Pipeline.Tests.Data;

public class DataPropertyTests
{
    private static Config FixedSeed(int maxTest, ulong seed) =>
        Config.QuickThrowOnFailure.WithMaxTest(maxTest).WithReplay(FSharpOption<Replay>.Some(new Replay(new Rnd(seed, 0x9E3779B97F4A7C15UL), FSharpOption<int>.None)));

    [Fact]
    public void ToChw_RandomSizesAndAlpha_EqualsExactAreaAverageOfTheCentreCrop_Property()
    {
        Gen<(int Width, int Height, int Side, int Seed)> cases =
            from width in Gen.Choose(1, 23)
            from height in Gen.Choose(1, 23)
            from side in Gen.Choose(1, 12)
            from seed in Gen.Choose(0, int.MaxValue)
            select (width, height, side, seed);
        Property property = Prop.ForAll(cases.ToArbitrary(), c =>
        {
            var rng = new Random(c.Seed);
            var rgba = new byte[c.Width * c.Height * 4];
            rng.NextBytes(rgba);
            var chw = new float[3 * c.Side * c.Side];
            ImageDecoder.ToChw(rgba, c.Width, c.Height, c.Side, chw);
            double[] expected = Reference(rgba, c.Width, c.Height, c.Side);
            for (int i = 0; i < chw.Length; i++)
            {
                if (Math.Abs(chw[i] - expected[i]) > 1e-4)
                {
                    return false;
                }
            }

            return true;
        });
        Check.One(FixedSeed(200, 20261130), property);
    }

    [Fact]
    public void CaptionNoiseSwap_RandomCaptionsWithDuplicates_FlaggedGetAnotherExamplesDifferentCaption_Property()
    {
        Gen<(int[] Texts, int RatePercent, int Seed)> cases =
            from texts in Gen.Choose(0, 12).ArrayOf()
            from rate in Gen.Choose(0, 100)
            from seed in Gen.Choose(0, int.MaxValue)
            select (texts, rate, seed);
        Property property = Prop.ForAll(cases.ToArbitrary(), c =>
        {
            string[] original = new string[c.Texts.Length];
            for (int i = 0; i < original.Length; i++)
            {
                original[i] = $"caption {c.Texts[i]}";
            }

            string[] captions = (string[])original.Clone();
            bool[] corrupted = new bool[captions.Length];
            CaptionNoise.Swap(captions, corrupted, c.RatePercent / 100.0, (ulong)c.Seed, 9);
            var available = new Dictionary<string, int>();
            var received = new Dictionary<string, int>();
            for (int i = 0; i < captions.Length; i++)
            {
                if (!corrupted[i])
                {
                    if (captions[i] != original[i])
                    {
                        return false;
                    }

                    continue;
                }

                if (captions[i] == original[i])
                {
                    return false;
                }

                received[captions[i]] = received.GetValueOrDefault(captions[i]) + 1;
            }

            // Each swapped caption comes from a distinct other example: no caption text is used more often than it exists.
            for (int i = 0; i < original.Length; i++)
            {
                available[original[i]] = available.GetValueOrDefault(original[i]) + 1;
            }

            foreach (KeyValuePair<string, int> pair in received)
            {
                if (!available.TryGetValue(pair.Key, out int count) || pair.Value > count)
                {
                    return false;
                }
            }

            return c.RatePercent != 0 || received.Count == 0;
        });
        Check.One(FixedSeed(300, 20261130), property);
    }

    [Fact]
    public void ShapesLoad_AnySeed_SameSeedSameFingerprint_Property()
    {
        Property property = Prop.ForAll(Gen.Choose(0, int.MaxValue).ToArbitrary(), seed =>
        {
            var options = new DataOptions { Seed = (ulong)seed, ImageSize = 6, ReferenceTrainSize = 20, StudentTrainSize = 20, HoldoutSize = 5, EvaluationSize = 5 };
            var other = new DataOptions { Seed = (ulong)seed + 1, ImageSize = 6, ReferenceTrainSize = 20, StudentTrainSize = 20, HoldoutSize = 5, EvaluationSize = 5 };
            string a = DatasetCatalog.Load("shapes", options).Fingerprint;
            return a == DatasetCatalog.Load("shapes", options).Fingerprint && a != DatasetCatalog.Load("shapes", other).Fingerprint;
        });
        Check.One(FixedSeed(30, 20261130), property);
    }

    // Exact area average in double: composite over the background, crop the centre square, integrate the
    // piecewise-constant source over each target pixel's square.
    private static double[] Reference(byte[] rgba, int width, int height, int side)
    {
        int m = Math.Min(width, height);
        int ox = (width - m) / 2;
        int oy = (height - m) / 2;
        double scale = (double)m / side;
        var result = new double[3 * side * side];
        for (int ty = 0; ty < side; ty++)
        {
            for (int tx = 0; tx < side; tx++)
            {
                var sum = new double[3];
                for (int y = 0; y < m; y++)
                {
                    double wy = Math.Min((ty + 1) * scale, y + 1) - Math.Max(ty * scale, y);
                    if (wy <= 0)
                    {
                        continue;
                    }

                    for (int x = 0; x < m; x++)
                    {
                        double wx = Math.Min((tx + 1) * scale, x + 1) - Math.Max(tx * scale, x);
                        if (wx <= 0)
                        {
                            continue;
                        }

                        int p = (((y + oy) * width) + x + ox) * 4;
                        double alpha = rgba[p + 3] / 255.0;
                        for (int c = 0; c < 3; c++)
                        {
                            sum[c] += wx * wy * ((rgba[p + c] / 255.0 * alpha) + (ImageDecoder.Background * (1 - alpha)));
                        }
                    }
                }

                for (int c = 0; c < 3; c++)
                {
                    result[(c * side * side) + (ty * side) + tx] = Math.Clamp((2 * sum[c] / (scale * scale)) - 1, -1, 1);
                }
            }
        }

        return result;
    }
}
