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

    /// <summary>
    /// <c>log(1 + u)</c> accurate to a few ulps for every <c>u &gt;= 0</c>, including denormal <c>u</c>
    /// (Goldberg's trick: <c>log(w) * u / (w - 1)</c> with <c>w = fl(1 + u)</c>, and <c>u</c> itself when <c>w == 1</c>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Log1p(float u)
    {
        float w = 1f + u;
        float d = w - 1f;
        return d == 0f ? u : MathF.Log(w) * (u / d);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Log1p(Vector128<float> u)
    {
        Vector128<float> w = Vector128<float>.One + u;
        Vector128<float> d = w - Vector128<float>.One;
        Vector128<float> general = Vector128.Log(w) * (u / d);
        return Vector128.ConditionalSelect(Vector128.Equals(d, Vector128<float>.Zero), u, general);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Log1p(Vector256<float> u)
    {
        Vector256<float> w = Vector256<float>.One + u;
        Vector256<float> d = w - Vector256<float>.One;
        Vector256<float> general = Vector256.Log(w) * (u / d);
        return Vector256.ConditionalSelect(Vector256.Equals(d, Vector256<float>.Zero), u, general);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Log1p(Vector512<float> u)
    {
        Vector512<float> w = Vector512<float>.One + u;
        Vector512<float> d = w - Vector512<float>.One;
        Vector512<float> general = Vector512.Log(w) * (u / d);
        return Vector512.ConditionalSelect(Vector512.Equals(d, Vector512<float>.Zero), u, general);
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
