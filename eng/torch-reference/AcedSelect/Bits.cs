using System;
using System.Diagnostics;
using System.Runtime.Intrinsics;
using Aced.Core;
using Aced.Selection;

namespace Aced.TorchReference;

/// <summary>
/// <c>AcedSelect bits</c>: the exhaustive proofs behind the same-bits rewrites of the thirteenth session (sel13), over
/// every one of the 2^32 float bit patterns: <see cref="VectorMath.ExpPair"/> against two
/// <see cref="VectorMath.Exp(Vector256{float})"/> calls, <see cref="VectorMath.ExpNonPositivePair"/> against
/// <see cref="VectorMath.ExpNonPositive(Vector256{float})"/>, and the fill's exact lane max
/// (<c>SelectionKernels.PairMax</c>) against <see cref="Vector256.Max{T}(Vector256{T}, Vector256{T})"/> for every
/// non-NaN pattern paired with each of 16 special values and with another pattern, and the sigmoid epilogue's
/// <see cref="VectorMath.SoftplusPair"/> against <see cref="VectorMath.Softplus(Vector256{float}, out Vector256{float})"/>
/// with each pattern's partner vector on each of the pair-wide branches. Prints the count of mismatches (0 expected)
/// per check; a few minutes on one core.
/// </summary>
internal static class ExhaustiveBits
{
    public static int Run()
    {
        var clock = Stopwatch.StartNew();
        long expMismatches = 0, nonPositiveMismatches = 0, maxMismatches = 0, maxCompared = 0, softplusMismatches = 0;
        // Partners for SoftplusPair's pair-wide branches: every lane on the fast paths (-20), the two-step exponent
        // scale (-100), the full log1p series (0), and another pattern.
        Vector256<float>[] partners = { Vector256.Create(-20f), Vector256.Create(-100f), Vector256<float>.Zero };
        float[] specials =
        {
            0f, -0f, float.Epsilon, -float.Epsilon, 1f, -1f, float.PositiveInfinity, float.NegativeInfinity,
            float.MaxValue, float.MinValue, 1e-40f, -1e-40f, 88.5f, -87.5f, -104f, 3.25f,
        };
        Span<int> lanes = stackalloc int[16];
        for (long start = 0; start <= uint.MaxValue; start += 16)
        {
            for (int j = 0; j < 16; j++)
            {
                lanes[j] = (int)(uint)(start + j);
            }

            Vector256<float> x0 = Vector256.Create<int>(lanes[..8]).AsSingle();
            Vector256<float> x1 = Vector256.Create<int>(lanes[8..]).AsSingle();
            VectorMath.ExpPair(x0, x1, out Vector256<float> e0, out Vector256<float> e1);
            if (e0.AsInt32() != VectorMath.Exp(x0).AsInt32() || e1.AsInt32() != VectorMath.Exp(x1).AsInt32())
            {
                expMismatches++;
            }

            VectorMath.ExpNonPositivePair(x0, x1, out Vector256<float> n0, out Vector256<float> n1);
            if (n0.AsInt32() != VectorMath.ExpNonPositive(x0).AsInt32() || n1.AsInt32() != VectorMath.ExpNonPositive(x1).AsInt32())
            {
                nonPositiveMismatches++;
            }

            // The sigmoid epilogue's softplus (ExpNegativeAbsPair now calls ExpReducedPair): SoftplusPair against Softplus.
            for (int q = 0; q <= partners.Length; q++)
            {
                Vector256<float> partner = q < partners.Length ? partners[q] : x1;
                VectorMath.SoftplusPair(x0, partner, out Vector256<float> s0, out Vector256<float> s1);
                if (s0.AsInt32() != VectorMath.Softplus(x0, out _).AsInt32() || s1.AsInt32() != VectorMath.Softplus(partner, out _).AsInt32())
                {
                    softplusMismatches++;
                }
            }

            // The max: the fill's PairMax(m, v0, v1) against Max(m, Max(v0, v1)) wherever no lane is NaN (a NaN row is
            // reported through the separate unordered flag, so the max's NaN lanes are never read).
            Vector256<float> other = Vector256.Create<int>(lanes[8..]).AsSingle();
            for (int s = 0; s <= specials.Length; s++)
            {
                Vector256<float> m = s < specials.Length ? Vector256.Create(specials[s]) : Vector256.Shuffle(other, Vector256.Create(7, 6, 5, 4, 3, 2, 1, 0));
                Vector256<float> a = x0, b = s < specials.Length ? Vector256.Create(specials[(s + 5) % specials.Length]) : x1;
                Vector256<float> ordered = ~(Vector256.IsNaN(m) | Vector256.IsNaN(a) | Vector256.IsNaN(b));
                Vector256<float> expected = Vector256.Max(m, Vector256.Max(a, b)) & ordered;
                Vector256<float> actual = SelectionKernels.PairMax(m, a, b) & ordered;
                maxCompared++;
                if (expected.AsInt32() != actual.AsInt32())
                {
                    maxMismatches++;
                }
            }
        }

        Console.WriteLine($"bits: all 2^32 float patterns in {clock.Elapsed.TotalSeconds:F0} s: ExpPair vs Exp {expMismatches} mismatching steps, ExpNonPositivePair vs ExpNonPositive {nonPositiveMismatches}, PairMax vs Max {maxMismatches} of {maxCompared} steps, SoftplusPair vs Softplus {softplusMismatches} of {4 * (maxCompared / 17)}");
        return expMismatches + nonPositiveMismatches + maxMismatches + softplusMismatches == 0 ? 0 : 1;
    }
}
