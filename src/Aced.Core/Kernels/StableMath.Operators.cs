using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Aced.Core;

public static partial class StableMath
{
    /// <summary>An element-wise float operation with scalar and 128/256/512-bit vector forms (the TensorPrimitives operator pattern).</summary>
    internal interface IUnaryOperator
    {
        float Invoke(float x);

        Vector128<float> Invoke(Vector128<float> x);

        Vector256<float> Invoke(Vector256<float> x);

        Vector512<float> Invoke(Vector512<float> x);
    }

    // log1p(u) for u in [0, 1] as 2 atanh(s), s = u / (2 + u) in [0, 1/3]:
    //     log1p(u) = t * (1 + w/3 + w^2/5 + ... + w^6/13),  t = 2s = (u + u) / (2 + u),  w = s^2 <= 1/9.
    // The first omitted term, w^7/15 <= 1.4e-8, is a quarter of a float ulp. t needs a single rounding and is
    // exactly u for tiny (even denormal) u, which makes softplus(-100) = exp(-100) exact. Scalar and vector forms
    // use the same operations in the same order (no fused multiply-add), so they agree bit for bit.
    private const float Log1pC3 = 1f / 3f;
    private const float Log1pC5 = 1f / 5f;
    private const float Log1pC7 = 1f / 7f;
    private const float Log1pC9 = 1f / 9f;
    private const float Log1pC11 = 1f / 11f;
    private const float Log1pC13 = 1f / 13f;

    /// <summary><c>log(1 + u)</c> for <c>u</c> in [0, 1] (and NaN), accurate to about 2 ulps including denormal <c>u</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Log1p(float u)
    {
        float t = (u + u) / (2f + u);
        float s = 0.5f * t;
        float w = s * s;
        float p = (w * Log1pC13) + Log1pC11;
        p = (p * w) + Log1pC9;
        p = (p * w) + Log1pC7;
        p = (p * w) + Log1pC5;
        p = (p * w) + Log1pC3;
        p = (p * w) + 1f;
        return t * p;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Log1p(Vector128<float> u)
    {
        Vector128<float> t = (u + u) / (Vector128.Create(2f) + u);
        Vector128<float> s = Vector128.Create(0.5f) * t;
        Vector128<float> w = s * s;
        Vector128<float> p = (w * Vector128.Create(Log1pC13)) + Vector128.Create(Log1pC11);
        p = (p * w) + Vector128.Create(Log1pC9);
        p = (p * w) + Vector128.Create(Log1pC7);
        p = (p * w) + Vector128.Create(Log1pC5);
        p = (p * w) + Vector128.Create(Log1pC3);
        p = (p * w) + Vector128<float>.One;
        return t * p;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Log1p(Vector256<float> u)
    {
        Vector256<float> t = (u + u) / (Vector256.Create(2f) + u);
        Vector256<float> s = Vector256.Create(0.5f) * t;
        Vector256<float> w = s * s;
        Vector256<float> p = (w * Vector256.Create(Log1pC13)) + Vector256.Create(Log1pC11);
        p = (p * w) + Vector256.Create(Log1pC9);
        p = (p * w) + Vector256.Create(Log1pC7);
        p = (p * w) + Vector256.Create(Log1pC5);
        p = (p * w) + Vector256.Create(Log1pC3);
        p = (p * w) + Vector256<float>.One;
        return t * p;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Log1p(Vector512<float> u)
    {
        Vector512<float> t = (u + u) / (Vector512.Create(2f) + u);
        Vector512<float> s = Vector512.Create(0.5f) * t;
        Vector512<float> w = s * s;
        Vector512<float> p = (w * Vector512.Create(Log1pC13)) + Vector512.Create(Log1pC11);
        p = (p * w) + Vector512.Create(Log1pC9);
        p = (p * w) + Vector512.Create(Log1pC7);
        p = (p * w) + Vector512.Create(Log1pC5);
        p = (p * w) + Vector512.Create(Log1pC3);
        p = (p * w) + Vector512<float>.One;
        return t * p;
    }

    /// <summary><c>max(x, 0) + log1p(exp(-|x|))</c>.</summary>
    internal readonly struct SoftplusOperator : IUnaryOperator
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Invoke(float x) => Softplus(x);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector128<float> Invoke(Vector128<float> x) =>
            Vector128.Max(x, Vector128<float>.Zero) + Log1p(Vector128.Exp(-Vector128.Abs(x)));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Invoke(Vector256<float> x) =>
            Vector256.Max(x, Vector256<float>.Zero) + Log1p(Vector256.Exp(-Vector256.Abs(x)));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Invoke(Vector512<float> x) =>
            Vector512.Max(x, Vector512<float>.Zero) + Log1p(Vector512.Exp(-Vector512.Abs(x)));
    }

    /// <summary><c>min(x, 0) - log1p(exp(-|x|))</c> (= <c>-softplus(-x)</c>).</summary>
    internal readonly struct LogSigmoidOperator : IUnaryOperator
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Invoke(float x) => LogSigmoid(x);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector128<float> Invoke(Vector128<float> x) =>
            Vector128.Min(x, Vector128<float>.Zero) - Log1p(Vector128.Exp(-Vector128.Abs(x)));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Invoke(Vector256<float> x) =>
            Vector256.Min(x, Vector256<float>.Zero) - Log1p(Vector256.Exp(-Vector256.Abs(x)));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Invoke(Vector512<float> x) =>
            Vector512.Min(x, Vector512<float>.Zero) - Log1p(Vector512.Exp(-Vector512.Abs(x)));
    }

    /// <summary><c>(x &gt;= 0 ? 1 : e) / (1 + e)</c> with <c>e = exp(-|x|)</c>.</summary>
    internal readonly struct SigmoidOperator : IUnaryOperator
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Invoke(float x) => Sigmoid(x);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector128<float> Invoke(Vector128<float> x)
        {
            Vector128<float> e = Vector128.Exp(-Vector128.Abs(x));
            Vector128<float> numerator = Vector128.ConditionalSelect(Vector128.GreaterThanOrEqual(x, Vector128<float>.Zero), Vector128<float>.One, e);
            return numerator / (Vector128<float>.One + e);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Invoke(Vector256<float> x)
        {
            Vector256<float> e = Vector256.Exp(-Vector256.Abs(x));
            Vector256<float> numerator = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(x, Vector256<float>.Zero), Vector256<float>.One, e);
            return numerator / (Vector256<float>.One + e);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Invoke(Vector512<float> x)
        {
            Vector512<float> e = Vector512.Exp(-Vector512.Abs(x));
            Vector512<float> numerator = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(x, Vector512<float>.Zero), Vector512<float>.One, e);
            return numerator / (Vector512<float>.One + e);
        }
    }

    /// <summary><c>exp(x - shift)</c>.</summary>
    internal readonly struct ExpShiftOperator : IUnaryOperator
    {
        private readonly float _shift;

        public ExpShiftOperator(float shift) => _shift = shift;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Invoke(float x) => MathF.Exp(x - _shift);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector128<float> Invoke(Vector128<float> x) => Vector128.Exp(x - Vector128.Create(_shift));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Invoke(Vector256<float> x) => Vector256.Exp(x - Vector256.Create(_shift));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Invoke(Vector512<float> x) => Vector512.Exp(x - Vector512.Create(_shift));
    }
}
