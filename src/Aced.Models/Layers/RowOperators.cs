using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Aced.Core;

namespace Aced.Models.Layers;

// The bodies of RowMath's row passes over Core's operator + driver pattern (StableMath.RowPass / SumInLanes): one
// operator per pass, each one formula in scalar and 128/256/512-bit form (the vector forms are the same text with the
// vector type changed; FusedMultiplyAdd in every form), so element-wise outputs are bit-identical across widths.
// The driver runs the widest accelerated width first (Vector512 on AVX-512), then one 256- and one 128-bit step, then
// scalars. Parameters are stored broadcast once as Vector512 (each width takes its lower part, the scalar form its
// first element): RyuJIT does not hoist a Vector256.Create(field) out of the driver's loop.

/// <summary>GELU (tanh form) of p: <c>p / (1 + exp(-2 sqrt(2/pi) p (1 + 0.044715 p^2)))</c>; see <see cref="RowMath.Gelu"/>.</summary>
internal readonly struct GeluOperator : StableMath.IRowOperator
{
    public int Inputs => 0;

    public int Sums => 0;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        sum0 = sum1 = sum2 = column = 0f;
        float e = VectorMath.Exp(-2f * RowMath.GeluC * p * MathF.FusedMultiplyAdd(RowMath.GeluA * p, p, 1f));
        return p / (1f + e);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector128<float>.Zero;
        Vector128<float> e = VectorMath.Exp(Vector128.Create(-2f * RowMath.GeluC) * p * Vector128.FusedMultiplyAdd(Vector128.Create(RowMath.GeluA) * p, p, Vector128<float>.One));
        return p / (Vector128<float>.One + e);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector256<float>.Zero;
        Vector256<float> e = VectorMath.Exp(Vector256.Create(-2f * RowMath.GeluC) * p * Vector256.FusedMultiplyAdd(Vector256.Create(RowMath.GeluA) * p, p, Vector256<float>.One));
        return p / (Vector256<float>.One + e);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector512<float>.Zero;
        Vector512<float> e = VectorMath.Exp(Vector512.Create(-2f * RowMath.GeluC) * p * Vector512.FusedMultiplyAdd(Vector512.Create(RowMath.GeluA) * p, p, Vector512<float>.One));
        return p / (Vector512<float>.One + e);
    }
}

/// <summary>
/// GELU backward: p = the pre-activation, x = dg; output <c>dg * GELU'(p)</c> with
/// <c>GELU'(p) = s + 0.5 p (4 s (1 - s)) sqrt(2/pi) (1 + 3 * 0.044715 p^2)</c>, <c>s = 1 / (1 + exp(-2u))</c>; see
/// <see cref="RowMath.GeluBackward"/>.
/// </summary>
internal readonly struct GeluBackwardOperator : StableMath.IRowOperator
{
    public int Inputs => 1;

    public int Sums => 0;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        sum0 = sum1 = sum2 = column = 0f;
        float x2 = p * p;
        float sg = 1f / (1f + VectorMath.Exp(-2f * RowMath.GeluC * p * MathF.FusedMultiplyAdd(RowMath.GeluA, x2, 1f)));
        float local = sg + (0.5f * p * (4f * sg * (1f - sg)) * RowMath.GeluC * MathF.FusedMultiplyAdd(3f * RowMath.GeluA, x2, 1f));
        return x * local;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector128<float>.Zero;
        Vector128<float> one = Vector128<float>.One;
        Vector128<float> x2 = p * p;
        Vector128<float> sg = one / (one + VectorMath.Exp(Vector128.Create(-2f * RowMath.GeluC) * p * Vector128.FusedMultiplyAdd(Vector128.Create(RowMath.GeluA), x2, one)));
        Vector128<float> local = sg + (Vector128.Create(0.5f) * p * (4f * sg * (one - sg)) * Vector128.Create(RowMath.GeluC) * Vector128.FusedMultiplyAdd(Vector128.Create(3f * RowMath.GeluA), x2, one));
        return x * local;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector256<float>.Zero;
        Vector256<float> one = Vector256<float>.One;
        Vector256<float> x2 = p * p;
        Vector256<float> sg = one / (one + VectorMath.Exp(Vector256.Create(-2f * RowMath.GeluC) * p * Vector256.FusedMultiplyAdd(Vector256.Create(RowMath.GeluA), x2, one)));
        Vector256<float> local = sg + (Vector256.Create(0.5f) * p * (4f * sg * (one - sg)) * Vector256.Create(RowMath.GeluC) * Vector256.FusedMultiplyAdd(Vector256.Create(3f * RowMath.GeluA), x2, one));
        return x * local;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector512<float>.Zero;
        Vector512<float> one = Vector512<float>.One;
        Vector512<float> x2 = p * p;
        Vector512<float> sg = one / (one + VectorMath.Exp(Vector512.Create(-2f * RowMath.GeluC) * p * Vector512.FusedMultiplyAdd(Vector512.Create(RowMath.GeluA), x2, one)));
        Vector512<float> local = sg + (Vector512.Create(0.5f) * p * (4f * sg * (one - sg)) * Vector512.Create(RowMath.GeluC) * Vector512.FusedMultiplyAdd(Vector512.Create(3f * RowMath.GeluA), x2, one));
        return x * local;
    }
}
