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

    /// <summary><c>log(1 + u)</c> for <c>u</c> in [0, 1] (and NaN): <see cref="VectorMath.Log1p(float)"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Log1p(float u) => VectorMath.Log1p(u);

    /// <summary><c>max(x, 0) + log1p(exp(-|x|))</c>.</summary>
    internal readonly struct SoftplusOperator : IUnaryOperator
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Invoke(float x) => Softplus(x);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector128<float> Invoke(Vector128<float> x) =>
            VectorMath.Softplus(x, out _);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Invoke(Vector256<float> x) =>
            VectorMath.Softplus(x, out _);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Invoke(Vector512<float> x) =>
            VectorMath.Softplus(x, out _);
    }

    /// <summary><c>min(x, 0) - log1p(exp(-|x|))</c> (= <c>-softplus(-x)</c>).</summary>
    internal readonly struct LogSigmoidOperator : IUnaryOperator
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Invoke(float x) => LogSigmoid(x);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector128<float> Invoke(Vector128<float> x) =>
            Vector128.Min(x, Vector128<float>.Zero) - VectorMath.Log1p(VectorMath.Exp(-Vector128.Abs(x)));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Invoke(Vector256<float> x) =>
            Vector256.Min(x, Vector256<float>.Zero) - VectorMath.Log1p(VectorMath.Exp(-Vector256.Abs(x)));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Invoke(Vector512<float> x) =>
            Vector512.Min(x, Vector512<float>.Zero) - VectorMath.Log1p(VectorMath.Exp(-Vector512.Abs(x)));
    }

    /// <summary><c>(x &gt;= 0 ? 1 : e) / (1 + e)</c> with <c>e = exp(-|x|)</c>.</summary>
    internal readonly struct SigmoidOperator : IUnaryOperator
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Invoke(float x) => Sigmoid(x);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector128<float> Invoke(Vector128<float> x) => VectorMath.SigmoidFromE(x, VectorMath.Exp(-Vector128.Abs(x)));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Invoke(Vector256<float> x) => VectorMath.SigmoidFromE(x, VectorMath.Exp(-Vector256.Abs(x)));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Invoke(Vector512<float> x) => VectorMath.SigmoidFromE(x, VectorMath.Exp(-Vector512.Abs(x)));
    }

    /// <summary><c>exp(x)</c> (<see cref="VectorMath.Exp(float)"/>).</summary>
    internal readonly struct ExpOperator : IUnaryOperator
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Invoke(float x) => VectorMath.Exp(x);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector128<float> Invoke(Vector128<float> x) => VectorMath.Exp(x);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Invoke(Vector256<float> x) => VectorMath.Exp(x);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Invoke(Vector512<float> x) => VectorMath.Exp(x);
    }

    /// <summary><c>exp(x - shift)</c>.</summary>
    internal readonly struct ExpShiftOperator : IUnaryOperator
    {
        private readonly float _shift;

        public ExpShiftOperator(float shift) => _shift = shift;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Invoke(float x) => VectorMath.Exp(x - _shift);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector128<float> Invoke(Vector128<float> x) => VectorMath.Exp(x - Vector128.Create(_shift));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<float> Invoke(Vector256<float> x) => VectorMath.Exp(x - Vector256.Create(_shift));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<float> Invoke(Vector512<float> x) => VectorMath.Exp(x - Vector512.Create(_shift));
    }
}
