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

/// <summary>Squared deviation from the row mean, <c>(p - mean)^2</c> (the layer-norm variance sum).</summary>
internal readonly struct SquaredDeviationOperator : StableMath.IUnaryOperator
{
    private readonly Vector512<float> _mean;

    public SquaredDeviationOperator(float mean) => _mean = Vector512.Create(mean);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float x)
    {
        float c = x - _mean.ToScalar();
        return c * c;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> x)
    {
        Vector128<float> c = x - _mean.GetLower().GetLower();
        return c * c;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> x)
    {
        Vector256<float> c = x - _mean.GetLower();
        return c * c;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> x)
    {
        Vector512<float> c = x - _mean;
        return c * c;
    }
}

/// <summary>Layer-norm output: p = x, x = gamma, y = beta; <c>((p - mean) rstd) gamma + beta</c>.</summary>
internal readonly struct LayerNormOperator : StableMath.IRowOperator
{
    private readonly Vector512<float> _mean;
    private readonly Vector512<float> _rstd;

    public LayerNormOperator(float mean, float rstd)
    {
        _mean = Vector512.Create(mean);
        _rstd = Vector512.Create(rstd);
    }

    public int Inputs => 2;

    public int Sums => 0;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        sum0 = sum1 = sum2 = column = 0f;
        return ((p - _mean.ToScalar()) * _rstd.ToScalar() * x) + y;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector128<float>.Zero;
        return ((p - _mean.GetLower().GetLower()) * _rstd.GetLower().GetLower() * x) + y;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector256<float>.Zero;
        return ((p - _mean.GetLower()) * _rstd.GetLower() * x) + y;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector512<float>.Zero;
        return ((p - _mean) * _rstd * x) + y;
    }
}

/// <summary>
/// Layer-norm backward, first pass: p = x, x = dy, y = gamma, xhat = (p - mean) rstd, dn = dy gamma; output
/// <c>dy xhat</c> (accumulated into dgamma), column <c>dy</c> (added to dbeta), sum0 <c>dn</c>, sum1 <c>dn xhat</c>.
/// </summary>
internal readonly struct LayerNormBackwardSumsOperator : StableMath.IRowOperator
{
    private readonly Vector512<float> _mean;
    private readonly Vector512<float> _rstd;

    public LayerNormBackwardSumsOperator(float mean, float rstd)
    {
        _mean = Vector512.Create(mean);
        _rstd = Vector512.Create(rstd);
    }

    public int Inputs => 2;

    public int Sums => 2;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float xhat = (p - _mean.ToScalar()) * _rstd.ToScalar();
        float dn = x * y;
        sum0 = dn;
        sum1 = dn * xhat;
        sum2 = 0f;
        column = x;
        return x * xhat;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> xhat = (p - _mean.GetLower().GetLower()) * _rstd.GetLower().GetLower();
        Vector128<float> dn = x * y;
        sum0 = dn;
        sum1 = dn * xhat;
        sum2 = Vector128<float>.Zero;
        column = x;
        return x * xhat;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> xhat = (p - _mean.GetLower()) * _rstd.GetLower();
        Vector256<float> dn = x * y;
        sum0 = dn;
        sum1 = dn * xhat;
        sum2 = Vector256<float>.Zero;
        column = x;
        return x * xhat;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> xhat = (p - _mean) * _rstd;
        Vector512<float> dn = x * y;
        sum0 = dn;
        sum1 = dn * xhat;
        sum2 = Vector512<float>.Zero;
        column = x;
        return x * xhat;
    }
}

/// <summary>
/// Layer-norm backward, second pass: p = x, x = dy, y = gamma; output (accumulated into dx)
/// <c>rstd (dn - mean(dn) - xhat mean(dn xhat))</c>.
/// </summary>
internal readonly struct LayerNormBackwardDxOperator : StableMath.IRowOperator
{
    private readonly Vector512<float> _mean;
    private readonly Vector512<float> _rstd;
    private readonly Vector512<float> _meanDn;
    private readonly Vector512<float> _meanDnXhat;

    public LayerNormBackwardDxOperator(float mean, float rstd, float meanDn, float meanDnXhat)
    {
        _mean = Vector512.Create(mean);
        _rstd = Vector512.Create(rstd);
        _meanDn = Vector512.Create(meanDn);
        _meanDnXhat = Vector512.Create(meanDnXhat);
    }

    public int Inputs => 2;

    public int Sums => 0;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        sum0 = sum1 = sum2 = column = 0f;
        float rstd = _rstd.ToScalar();
        float xhat = (p - _mean.ToScalar()) * rstd;
        float dn = x * y;
        return rstd * (dn - _meanDn.ToScalar() - (xhat * _meanDnXhat.ToScalar()));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector128<float>.Zero;
        Vector128<float> rstd = _rstd.GetLower().GetLower();
        Vector128<float> xhat = (p - _mean.GetLower().GetLower()) * rstd;
        Vector128<float> dn = x * y;
        return rstd * (dn - _meanDn.GetLower().GetLower() - (xhat * _meanDnXhat.GetLower().GetLower()));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector256<float>.Zero;
        Vector256<float> rstd = _rstd.GetLower();
        Vector256<float> xhat = (p - _mean.GetLower()) * rstd;
        Vector256<float> dn = x * y;
        return rstd * (dn - _meanDn.GetLower() - (xhat * _meanDnXhat.GetLower()));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector512<float>.Zero;
        Vector512<float> xhat = (p - _mean) * _rstd;
        Vector512<float> dn = x * y;
        return _rstd * (dn - _meanDn - (xhat * _meanDnXhat));
    }
}

/// <summary>Softmax numerator: <c>e = exp(p - max)</c> (<see cref="VectorMath.ExpNonPositive(float)"/>; p &lt;= max) as output and sum0.</summary>
internal readonly struct SoftmaxExpOperator : StableMath.IRowOperator
{
    private readonly Vector512<float> _max;

    public SoftmaxExpOperator(float max) => _max = Vector512.Create(max);

    public int Inputs => 0;

    public int Sums => 1;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float e = VectorMath.ExpNonPositive(p - _max.ToScalar());
        sum0 = e;
        sum1 = sum2 = column = 0f;
        return e;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> e = VectorMath.ExpNonPositive(p - _max.GetLower().GetLower());
        sum0 = e;
        sum1 = sum2 = column = Vector128<float>.Zero;
        return e;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> e = VectorMath.ExpNonPositive(p - _max.GetLower());
        sum0 = e;
        sum1 = sum2 = column = Vector256<float>.Zero;
        return e;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> e = VectorMath.ExpNonPositive(p - _max);
        sum0 = e;
        sum1 = sum2 = column = Vector512<float>.Zero;
        return e;
    }
}

/// <summary>Scaling by a row constant: <c>p * scale</c>.</summary>
internal readonly struct ScaleOperator : StableMath.IRowOperator
{
    private readonly Vector512<float> _scale;

    public ScaleOperator(float scale) => _scale = Vector512.Create(scale);

    public int Inputs => 0;

    public int Sums => 0;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        sum0 = sum1 = sum2 = column = 0f;
        return p * _scale.ToScalar();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector128<float>.Zero;
        return p * _scale.GetLower().GetLower();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector256<float>.Zero;
        return p * _scale.GetLower();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector512<float>.Zero;
        return p * _scale;
    }
}

/// <summary>Softmax backward reduction: p = probabilities, x = dp; sum0 <c>p dp</c> (no output).</summary>
internal readonly struct DotOperator : StableMath.IRowOperator
{
    public int Inputs => 1;

    public int Sums => 1;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        sum0 = p * x;
        sum1 = sum2 = column = 0f;
        return 0f;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        sum0 = p * x;
        sum1 = sum2 = column = Vector128<float>.Zero;
        return Vector128<float>.Zero;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        sum0 = p * x;
        sum1 = sum2 = column = Vector256<float>.Zero;
        return Vector256<float>.Zero;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        sum0 = p * x;
        sum1 = sum2 = column = Vector512<float>.Zero;
        return Vector512<float>.Zero;
    }
}

/// <summary>Softmax backward output: p = probabilities, x = dp; <c>(dp - dot) p</c>.</summary>
internal readonly struct SoftmaxBackwardOperator : StableMath.IRowOperator
{
    private readonly Vector512<float> _dot;

    public SoftmaxBackwardOperator(float dot) => _dot = Vector512.Create(dot);

    public int Inputs => 1;

    public int Sums => 0;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        sum0 = sum1 = sum2 = column = 0f;
        return (x - _dot.ToScalar()) * p;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector128<float>.Zero;
        return (x - _dot.GetLower().GetLower()) * p;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector256<float>.Zero;
        return (x - _dot.GetLower()) * p;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector512<float>.Zero;
        return (x - _dot) * p;
    }
}
