using System;

namespace Aced.Pipeline.Evaluation;

/// <summary>
/// The tie convention shared by every ranking metric: a tie is broken uniformly at random, and metrics report
/// the <em>expected</em> value under that random tie-break, so they are deterministic, a collapsed model (every
/// score equal) scores chance (R@k = k/N, expected rank (N+1)/2) and not 0 or 1, and distinct scores give the
/// usual integer ranks. With <c>g</c> competitors scoring strictly above the true item and <c>e</c> scoring
/// exactly the same, the true item's rank is uniform on <c>1+g .. 1+g+e</c>, so its expected rank is
/// <c>1 + g + e/2</c> and <c>P(rank &lt;= k) = clamp((k - g) / (e + 1), 0, 1)</c>.
/// </summary>
internal static class TieAwareRank
{
    /// <summary>Expected rank (1 = best) of a true item with <paramref name="greater"/> strictly better and <paramref name="equal"/> tied competitors.</summary>
    public static double ExpectedRank(int greater, int equal) => 1.0 + greater + (0.5 * equal);

    /// <summary>Probability that the true item is within the top <paramref name="k"/> under a uniform random tie-break.</summary>
    public static double HitProbability(int greater, int equal, int k) => Math.Clamp((double)(k - greater) / (equal + 1), 0.0, 1.0);

    /// <summary>Counts the entries of <paramref name="scores"/> other than <paramref name="trueIndex"/> above and equal to the true score.</summary>
    /// <remarks>NaN scores count as worse than anything (a NaN true score is beaten by every non-NaN competitor).</remarks>
    public static (int Greater, int Equal) Count(ReadOnlySpan<float> scores, int trueIndex)
    {
        float truth = scores[trueIndex];
        int greater = 0;
        int equal = 0;
        if (float.IsNaN(truth))
        {
            for (int j = 0; j < scores.Length; j++)
            {
                if (j == trueIndex)
                {
                    continue;
                }

                if (float.IsNaN(scores[j]))
                {
                    equal++;
                }
                else
                {
                    greater++;
                }
            }

            return (greater, equal);
        }

        for (int j = 0; j < scores.Length; j++)
        {
            float s = scores[j];
            if (s > truth)
            {
                greater++;
            }
            else if (s == truth && j != trueIndex)
            {
                equal++;
            }
        }

        return (greater, equal);
    }
}
