using System;
using Aced.Core;

namespace Aced.Selection;

/// <summary>
/// The selection distribution the prioritised samplers draw from: <c>a(x) = exp(tau * s(x)) / Z</c>,
/// <c>Z = sum_x exp(tau * s(x))</c>, computed max-shifted in double. This is the distribution of the first pick
/// of the independent sampler and of the first chunk's first pick of the joint sampler; later picks of a
/// Gumbel-top-k draw follow Plackett–Luce (renormalised over the remaining items).
/// </summary>
/// <remarks>
/// Implicit distillation (ACED paper Eq. 4/8): with the easy-reference score <c>s(x) = log p(x)</c>, p the
/// reference's probability of the correct label, <c>a(x) = p(x)/Z</c> at <c>tau = 1</c> only, and then
/// <c>E_a[L_student] = (1/Z) sum_x KD[p(x) y(x); q(x)]</c>; at other temperatures <c>a(x) ∝ p(x)^tau</c> (at the
/// ACED default tau = 10 the distilled target is sharpened). For soft labels the KD expression bounds the expected
/// loss from above (<c>≤</c>; the paper's Eq. 10 prints <c>≥</c>, which is the wrong direction).
/// </remarks>
public static class SelectionDistribution
{
    /// <summary>Writes <c>exp(tau * s_x) / Z</c> to <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException">A score is not finite, <paramref name="scores"/> is empty, or <paramref name="destination"/> is too short.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="temperature"/> is not finite and positive.</exception>
    public static void Probabilities(ReadOnlySpan<double> scores, double temperature, Span<double> destination)
    {
        if (!double.IsFinite(temperature) || temperature <= 0)
        {
            Guard.ThrowOutOfRange(nameof(temperature), temperature, "must be finite and positive");
        }

        if (scores.IsEmpty)
        {
            Guard.ThrowArgument(nameof(scores), "is empty");
        }

        if (destination.Length < scores.Length)
        {
            Guard.ThrowArgument(nameof(destination), $"has {destination.Length} elements but there are {scores.Length} scores");
        }

        double max = double.NegativeInfinity;
        for (int i = 0; i < scores.Length; i++)
        {
            if (!double.IsFinite(scores[i]))
            {
                Guard.ThrowArgument(nameof(scores), $"has a non-finite value ({scores[i]}) at index {i}");
            }

            max = Math.Max(max, scores[i]);
        }

        double z = 0;
        for (int i = 0; i < scores.Length; i++)
        {
            destination[i] = Math.Exp(temperature * (scores[i] - max));
            z += destination[i];
        }

        for (int i = 0; i < scores.Length; i++)
        {
            destination[i] /= z;
        }
    }
}
