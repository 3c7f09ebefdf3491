using System;
using System.Diagnostics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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
/// with each pattern's partner vector on each of the pair-wide branches; and the sixteenth session's (sel16)
/// <see cref="VectorMath.AddSoftplusQuad"/> against <see cref="VectorMath.Softplus(Vector512{float}, out Vector512{float})"/>
/// where AVX-512 runs (alone: <c>bits quad</c>, ~20 s). Prints the count of mismatches (0 expected)
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
        long quadMismatches = SoftplusQuad();
        return expMismatches + nonPositiveMismatches + maxMismatches + softplusMismatches + quadMismatches == 0 ? 0 : 1;
    }

    /// <summary>
    /// The sixteenth session's (sel16) <see cref="VectorMath.AddSoftplusQuad"/> and <see cref="VectorMath.AddSoftplusOcto"/> against
    /// <see cref="VectorMath.Softplus(Vector512{float}, out Vector512{float})"/> added as <c>SumInLanesDoubleTail</c> adds
    /// them, over every bit pattern (its lanes are independent: no branch over lanes), where AVX-512 runs: every bit of
    /// every lane that is not NaN, NaN where the other is; prints and returns the count of mismatching 64-float steps.
    /// </summary>
    internal static long SoftplusQuad()
    {
        if (!Avx512F.IsSupported)
        {
            Console.WriteLine("bits: AddSoftplusQuad skipped (no AVX-512)");
            return 0;
        }

        var clock = Stopwatch.StartNew();
        long mismatches = 0;
        Vector512<int> offsets = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        for (long start = 0; start <= uint.MaxValue; start += 64)
        {
            Vector512<float> x0 = (Vector512.Create((int)(uint)start) + offsets).AsSingle();
            Vector512<float> x1 = (Vector512.Create((int)(uint)(start + 16)) + offsets).AsSingle();
            Vector512<float> x2 = (Vector512.Create((int)(uint)(start + 32)) + offsets).AsSingle();
            Vector512<float> x3 = (Vector512.Create((int)(uint)(start + 48)) + offsets).AsSingle();
            // Each vector alone (the other three -Inf, whose softplus is exactly +0) and as SelectionKernels.SoftplusSum uses it (four
            // consecutive vectors into one accumulator), against SumInLanesDoubleTail's single-vector adds: every bit of
            // every non-NaN lane, and NaN in both where one is NaN (a NaN's sign and payload depend on the JIT's operand order of
            // each commutative add, which differs between inlining sites of the same Softplus).
            Vector512<float> none = Vector512.Create(float.NegativeInfinity);
            Vector512<float> zero = Vector512<float>.Zero;
            if (!Same(VectorMath.AddSoftplusQuad(zero, x0, x1, x2, x3), Sum(x0, x1, x2, x3))
                || !Same(VectorMath.AddSoftplusQuad(zero, x0, none, none, none), Sum(x0, none, none, none))
                || !Same(VectorMath.AddSoftplusQuad(zero, none, x1, none, none), Sum(none, x1, none, none))
                || !Same(VectorMath.AddSoftplusQuad(zero, none, none, x2, none), Sum(none, none, x2, none))
                || !Same(VectorMath.AddSoftplusQuad(zero, none, none, none, x3), Sum(none, none, none, x3))
                || !Octo(x0, x1, x2, x3, x1, x2, x3, x0) || !Octo(x0, none, none, none, none, x1, none, none)
                || !Octo(none, none, x2, none, none, none, none, x3))
            {
                mismatches++;
            }
        }

        static bool Same(Vector512<float> a, Vector512<float> b) =>
            Vector512.EqualsAll(Vector512.Equals(a.AsInt32(), b.AsInt32()) | (Vector512.IsNaN(a) & Vector512.IsNaN(b)).AsInt32(), Vector512<int>.AllBitsSet);
        static bool Octo(Vector512<float> x0, Vector512<float> x1, Vector512<float> x2, Vector512<float> x3, Vector512<float> x4, Vector512<float> x5, Vector512<float> x6, Vector512<float> x7)
        {
            Vector512<float> a = Vector512<float>.Zero, b = Vector512<float>.Zero;
            VectorMath.AddSoftplusOcto(ref a, ref b, x0, x1, x2, x3, x4, x5, x6, x7);
            return Same(a, Sum(x0, x1, x2, x3)) && Same(b, Sum(x4, x5, x6, x7));
        }

        static Vector512<float> Sum(Vector512<float> x0, Vector512<float> x1, Vector512<float> x2, Vector512<float> x3)
        {
            Vector512<float> acc = Vector512<float>.Zero;
            acc += VectorMath.Softplus(x0, out _);
            acc += VectorMath.Softplus(x1, out _);
            acc += VectorMath.Softplus(x2, out _);
            acc += VectorMath.Softplus(x3, out _);
            return acc;
        }

        Console.WriteLine($"bits: AddSoftplusQuad, AddSoftplusOcto vs Softplus (Vector512), all 2^32 patterns in {clock.Elapsed.TotalSeconds:F0} s: {mismatches} mismatching steps");
        return mismatches;
    }
}
