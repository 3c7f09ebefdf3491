using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Aced.Losses.Internal;

/// <summary>
/// Stable element-wise building blocks on <see cref="Vector256{T}"/> with scalar twins that use the
/// same formulas, so vector bodies and scalar tails agree to rounding.
/// </summary>
internal static class VectorMath
{
    /// <summary>
    /// <c>log(1 + e)</c> for <c>e</c> in [0, 1] without cancellation: <c>log(u) * e / (u - 1)</c> with
    /// <c>u = 1 + e</c> (Goldberg's trick), and <c>e</c> itself when <c>u</c> rounds to 1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Log1pUnit(Vector256<float> e)
    {
        Vector256<float> u = Vector256<float>.One + e;
        Vector256<float> d = u - Vector256<float>.One;
        Vector256<float> safeD = Vector256.ConditionalSelect(Vector256.Equals(d, Vector256<float>.Zero), Vector256<float>.One, d);
        Vector256<float> r = Vector256.Log(u) * e / safeD;
        return Vector256.ConditionalSelect(Vector256.Equals(d, Vector256<float>.Zero), e, r);
    }

    /// <summary>Scalar twin of <see cref="Log1pUnit(Vector256{float})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Log1pUnit(float e)
    {
        float u = 1f + e;
        float d = u - 1f;
        return d == 0f ? e : MathF.Log(u) * e / d;
    }

    /// <summary>
    /// <c>softplus(l) = log(1 + exp(l)) = max(l, 0) + log1p(exp(-|l|))</c>; also returns
    /// <c>e = exp(-|l|)</c> for the sigmoid.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Softplus(Vector256<float> l, out Vector256<float> e)
    {
        e = Vector256.Exp(-Vector256.Abs(l));
        return Vector256.Max(l, Vector256<float>.Zero) + Log1pUnit(e);
    }

    /// <summary>Scalar twin of <see cref="Softplus(Vector256{float}, out Vector256{float})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Softplus(float l, out float e)
    {
        e = MathF.Exp(-MathF.Abs(l));
        return MathF.Max(l, 0f) + Log1pUnit(e);
    }

    /// <summary><c>sigmoid(l)</c> from <c>e = exp(-|l|)</c>: <c>1/(1+e)</c> for l &gt;= 0, else <c>e/(1+e)</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> SigmoidFromE(Vector256<float> l, Vector256<float> e)
    {
        Vector256<float> numerator = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(l, Vector256<float>.Zero), Vector256<float>.One, e);
        return numerator / (Vector256<float>.One + e);
    }

    /// <summary>Scalar twin of <see cref="SigmoidFromE(Vector256{float}, Vector256{float})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SigmoidFromE(float l, float e) => (l >= 0f ? 1f : e) / (1f + e);

    /// <summary>Sum of the eight lanes, in double, in a fixed order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Sum(Vector256<float> v)
    {
        double s = 0;
        for (int k = 0; k < Vector256<float>.Count; k++)
        {
            s += v.GetElement(k);
        }

        return s;
    }

    /// <summary>Maximum of the eight lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Max(Vector256<float> v)
    {
        float m = v.GetElement(0);
        for (int k = 1; k < Vector256<float>.Count; k++)
        {
            m = MathF.Max(m, v.GetElement(k));
        }

        return m;
    }
}
