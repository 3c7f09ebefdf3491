using System;
using System.Collections.Generic;
using Aced.Core;

namespace Aced.Pipeline.Data;

/// <summary>
/// Web-like caption noise: a Bernoulli(rate) draw picks examples, and the picked examples' captions are
/// permuted among themselves so that each receives another example's caption with different text.
/// </summary>
internal static class CaptionNoise
{
    private const int RepairAttempts = 16;

    /// <summary>
    /// Swaps captions in place and sets <paramref name="corrupted"/> where a caption was replaced. A picked example
    /// whose caption could not be given a different text (e.g. only one example picked) keeps its own and stays clean.
    /// </summary>
    public static void Swap(string[] captions, bool[] corrupted, double rate, ulong seed, ulong stream)
    {
        var rng = new CounterRng(seed, stream);
        var picked = new List<int>();
        for (int i = 0; i < captions.Length; i++)
        {
            if (rng.NextDouble() < rate)
            {
                picked.Add(i);
            }
        }

        int m = picked.Count;
        if (m < 2)
        {
            return;
        }

        for (int k = m - 1; k > 0; k--)
        {
            int j = rng.NextInt(k + 1);
            (picked[k], picked[j]) = (picked[j], picked[k]);
        }

        // source[k] = the example whose caption picked[k] receives: a cyclic shift (a derangement).
        int[] source = new int[m];
        for (int k = 0; k < m; k++)
        {
            source[k] = picked[(k + 1) % m];
        }

        // Repair: where the received text equals the own text (duplicate captions), exchange sources with another picked slot.
        for (int k = 0; k < m; k++)
        {
            for (int attempt = 0; attempt < RepairAttempts && SameText(captions, picked[k], source[k]); attempt++)
            {
                int l = rng.NextInt(m);
                if (!SameText(captions, picked[k], source[l]) && !SameText(captions, picked[l], source[k]))
                {
                    (source[k], source[l]) = (source[l], source[k]);
                }
            }
        }

        string[] original = (string[])captions.Clone();
        for (int k = 0; k < m; k++)
        {
            int target = picked[k];
            if (!string.Equals(original[target], original[source[k]], StringComparison.Ordinal))
            {
                captions[target] = original[source[k]];
                corrupted[target] = true;
            }
        }
    }

    private static bool SameText(string[] captions, int a, int b) => string.Equals(captions[a], captions[b], StringComparison.Ordinal);
}
