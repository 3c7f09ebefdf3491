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
    private const float ExpLow = -87.33654f;   // exp(ExpLow) is the smallest normal float; below it results flush to 0
    private const float ExpHigh = 88f;        // keeps 2^n a normal float (n <= 127)
    private const float Log2E = 1.44269504088896341f;
    private const float Ln2Hi = 0.693359375f;
    private const float Ln2Lo = -2.12194440e-4f;
    private const float P0 = 1.9875691500e-4f;
    private const float P1 = 1.3981999507e-3f;
    private const float P2 = 8.3334519073e-3f;
    private const float P3 = 4.1665795894e-2f;
    private const float P4 = 1.6666665459e-1f;
    private const float P5 = 5.0000001201e-1f;

    /// <summary>
    /// <c>exp(x)</c> in single precision (Cephes <c>expf</c>: <c>x = n ln2 + r</c>, degree-7 polynomial for
    /// <c>exp(r)</c>, <c>2^n</c> through the exponent bits); about 1 ulp, exactly 1 at 0, 0 below -87.3,
    /// saturating at <c>exp(88)</c>. Several times faster than the double-based <c>Vector256.Exp</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        Vector256<float> underflow = Vector256.LessThan(x, Vector256.Create(ExpLow));
        x = Vector256.Min(Vector256.Max(x, Vector256.Create(ExpLow)), Vector256.Create(ExpHigh));
        Vector256<float> n = Vector256.Round(x * Vector256.Create(Log2E));
        Vector256<float> r = Vector256.MultiplyAddEstimate(n, Vector256.Create(-Ln2Hi), x);
        r = Vector256.MultiplyAddEstimate(n, Vector256.Create(-Ln2Lo), r);
        Vector256<float> p = Vector256.MultiplyAddEstimate(Vector256.Create(P0), r, Vector256.Create(P1));
        p = Vector256.MultiplyAddEstimate(p, r, Vector256.Create(P2));
        p = Vector256.MultiplyAddEstimate(p, r, Vector256.Create(P3));
        p = Vector256.MultiplyAddEstimate(p, r, Vector256.Create(P4));
        p = Vector256.MultiplyAddEstimate(p, r, Vector256.Create(P5));
        p = Vector256.MultiplyAddEstimate(p, r * r, r + Vector256<float>.One);
        Vector256<int> bits = Vector256.ShiftLeft(Vector256.ConvertToInt32(n) + Vector256.Create(127), 23);
        Vector256<float> result = p * bits.AsSingle();
        return Vector256.AndNot(result, underflow);
    }

    /// <summary>Scalar twin of <see cref="Exp(Vector256{float})"/> (same steps, same result).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Exp(float x)
    {
        if (x < ExpLow)
        {
            return 0f;
        }

        x = MathF.Min(x, ExpHigh);
        float n = MathF.Round(x * Log2E);
        float r = MathF.FusedMultiplyAdd(n, -Ln2Hi, x);
        r = MathF.FusedMultiplyAdd(n, -Ln2Lo, r);
        float p = MathF.FusedMultiplyAdd(P0, r, P1);
        p = MathF.FusedMultiplyAdd(p, r, P2);
        p = MathF.FusedMultiplyAdd(p, r, P3);
        p = MathF.FusedMultiplyAdd(p, r, P4);
        p = MathF.FusedMultiplyAdd(p, r, P5);
        p = MathF.FusedMultiplyAdd(p, r * r, r + 1f);
        return p * BitConverter.Int32BitsToSingle(((int)n + 127) << 23);
    }

    /// <summary>
    /// <c>log(1 + e)</c> for <c>e</c> in [0, 1] with full relative accuracy (no cancellation for tiny e):
    /// <c>2 atanh(s)</c>, <c>s = e / (2 + e)</c> in [0, 1/3], by its odd series to <c>s^15</c> (truncation below 3e-9 relative).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Log1pUnit(Vector256<float> e)
    {
        Vector256<float> s = e / (Vector256.Create(2f) + e);
        Vector256<float> s2 = s * s;
        Vector256<float> p = Vector256.MultiplyAddEstimate(Vector256.Create(1f / 15f), s2, Vector256.Create(1f / 13f));
        p = Vector256.MultiplyAddEstimate(p, s2, Vector256.Create(1f / 11f));
        p = Vector256.MultiplyAddEstimate(p, s2, Vector256.Create(1f / 9f));
        p = Vector256.MultiplyAddEstimate(p, s2, Vector256.Create(1f / 7f));
        p = Vector256.MultiplyAddEstimate(p, s2, Vector256.Create(1f / 5f));
        p = Vector256.MultiplyAddEstimate(p, s2, Vector256.Create(1f / 3f));
        p = Vector256.MultiplyAddEstimate(p, s2, Vector256<float>.One);
        return (s + s) * p;
    }

    /// <summary>Scalar twin of <see cref="Log1pUnit(Vector256{float})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Log1pUnit(float e)
    {
        float s = e / (2f + e);
        float s2 = s * s;
        float p = MathF.FusedMultiplyAdd(1f / 15f, s2, 1f / 13f);
        p = MathF.FusedMultiplyAdd(p, s2, 1f / 11f);
        p = MathF.FusedMultiplyAdd(p, s2, 1f / 9f);
        p = MathF.FusedMultiplyAdd(p, s2, 1f / 7f);
        p = MathF.FusedMultiplyAdd(p, s2, 1f / 5f);
        p = MathF.FusedMultiplyAdd(p, s2, 1f / 3f);
        p = MathF.FusedMultiplyAdd(p, s2, 1f);
        return (s + s) * p;
    }

    /// <summary>
    /// <c>softplus(l) = log(1 + exp(l)) = max(l, 0) + log1p(exp(-|l|))</c>; also returns
    /// <c>e = exp(-|l|)</c> for the sigmoid.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Softplus(Vector256<float> l, out Vector256<float> e)
    {
        e = Exp(-Vector256.Abs(l));
        return Vector256.Max(l, Vector256<float>.Zero) + Log1pUnit(e);
    }

    /// <summary>Scalar twin of <see cref="Softplus(Vector256{float}, out Vector256{float})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Softplus(float l, out float e)
    {
        e = Exp(-MathF.Abs(l));
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
