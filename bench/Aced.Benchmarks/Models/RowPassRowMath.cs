using System;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Aced.Core;

using Aced.Models.Layers;

namespace Aced.Benchmarks.Models;

// Candidate bodies of Aced.Models' RowMath row passes over Core's operator + driver pattern (measured slower than
// RowMath's own loops on the training step's short rows, see RowMathBenchmarks; kept here so the comparison can be
// repeated) (StableMath.RowPass / SumInLanes): one
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
        float e = VectorMath.Exp(-2f * GeluConstants.C * p * MathF.FusedMultiplyAdd(GeluConstants.A * p, p, 1f));
        return p / (1f + e);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector128<float>.Zero;
        Vector128<float> e = VectorMath.Exp(Vector128.Create(-2f * GeluConstants.C) * p * Vector128.FusedMultiplyAdd(Vector128.Create(GeluConstants.A) * p, p, Vector128<float>.One));
        return p / (Vector128<float>.One + e);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector256<float>.Zero;
        Vector256<float> e = VectorMath.Exp(Vector256.Create(-2f * GeluConstants.C) * p * Vector256.FusedMultiplyAdd(Vector256.Create(GeluConstants.A) * p, p, Vector256<float>.One));
        return p / (Vector256<float>.One + e);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector512<float>.Zero;
        Vector512<float> e = VectorMath.Exp(Vector512.Create(-2f * GeluConstants.C) * p * Vector512.FusedMultiplyAdd(Vector512.Create(GeluConstants.A) * p, p, Vector512<float>.One));
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
        float sg = 1f / (1f + VectorMath.Exp(-2f * GeluConstants.C * p * MathF.FusedMultiplyAdd(GeluConstants.A, x2, 1f)));
        float local = sg + (0.5f * p * (4f * sg * (1f - sg)) * GeluConstants.C * MathF.FusedMultiplyAdd(3f * GeluConstants.A, x2, 1f));
        return x * local;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector128<float>.Zero;
        Vector128<float> one = Vector128<float>.One;
        Vector128<float> x2 = p * p;
        Vector128<float> sg = one / (one + VectorMath.Exp(Vector128.Create(-2f * GeluConstants.C) * p * Vector128.FusedMultiplyAdd(Vector128.Create(GeluConstants.A), x2, one)));
        Vector128<float> local = sg + (Vector128.Create(0.5f) * p * (4f * sg * (one - sg)) * Vector128.Create(GeluConstants.C) * Vector128.FusedMultiplyAdd(Vector128.Create(3f * GeluConstants.A), x2, one));
        return x * local;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector256<float>.Zero;
        Vector256<float> one = Vector256<float>.One;
        Vector256<float> x2 = p * p;
        Vector256<float> sg = one / (one + VectorMath.Exp(Vector256.Create(-2f * GeluConstants.C) * p * Vector256.FusedMultiplyAdd(Vector256.Create(GeluConstants.A), x2, one)));
        Vector256<float> local = sg + (Vector256.Create(0.5f) * p * (4f * sg * (one - sg)) * Vector256.Create(GeluConstants.C) * Vector256.FusedMultiplyAdd(Vector256.Create(3f * GeluConstants.A), x2, one));
        return x * local;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        sum0 = sum1 = sum2 = column = Vector512<float>.Zero;
        Vector512<float> one = Vector512<float>.One;
        Vector512<float> x2 = p * p;
        Vector512<float> sg = one / (one + VectorMath.Exp(Vector512.Create(-2f * GeluConstants.C) * p * Vector512.FusedMultiplyAdd(Vector512.Create(GeluConstants.A), x2, one)));
        Vector512<float> local = sg + (Vector512.Create(0.5f) * p * (4f * sg * (one - sg)) * Vector512.Create(GeluConstants.C) * Vector512.FusedMultiplyAdd(Vector512.Create(3f * GeluConstants.A), x2, one));
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

/// <summary>Aced.Models' RowMath layer norm, GELU and softmax rows written over Core's <c>StableMath.RowPass</c> / <c>SumInLanes</c> (the candidate of <see cref="RowMathBenchmarks"/>).</summary>
internal static class RowPassRowMath
{
    /// <summary>
    /// y = (x - mean) * rstd * gamma + beta; returns (mean, rstd) with rstd = 1/sqrt(var + eps), var biased (two passes:
    /// the mean, then the squared deviations from it). The squared deviations are summed by
    /// <see cref="StableMath.SumInLanes{TOperator}"/> (<see cref="SquaredDeviationOperator"/>): float lanes of the
    /// widest accelerated width (16 with AVX-512, 8 with AVX2), summed horizontally in double, then the tail in double;
    /// the element-wise pass (<see cref="LayerNormOperator"/> over <see cref="StableMath.RowPass{TOperator}"/>) gives
    /// every element the same operations whatever its position.
    /// </summary>
    public static (float Mean, float Rstd) LayerNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, Span<float> y)
    {
        int d = x.Length;
        float mean = TensorPrimitives.Sum(x) / d;
        float ss = (float)StableMath.SumInLanes(new SquaredDeviationOperator(mean), x);
        float rstd = 1f / MathF.Sqrt((ss / d) + RowMath.LayerNormEpsilon);
        StableMath.RowPass(new LayerNormOperator(mean, rstd), x, gamma, beta, default, default, y, false, default);
        return (mean, rstd);
    }

    /// <summary>
    /// dx += rstd * (dn - mean(dn) - xhat * mean(dn * xhat)) with dn = dy * gamma, xhat = (x - mean) * rstd;
    /// dgamma += dy * xhat, dbeta += dy. Two passes over <see cref="StableMath.RowPass{TOperator}"/>: the first
    /// (<see cref="LayerNormBackwardSumsOperator"/>) updates dgamma and dbeta and forms the two row sums (float lanes of
    /// the widest width, summed in double), the second (<see cref="LayerNormBackwardDxOperator"/>) accumulates dx;
    /// every element-wise update gets the same operations whatever its position.
    /// </summary>
    public static void LayerNormBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, float mean, float rstd, ReadOnlySpan<float> dy, Span<float> dx, Span<float> dgamma, Span<float> dbeta)
    {
        int d = x.Length;
        StableMath.RowSums sums = StableMath.RowPass(new LayerNormBackwardSumsOperator(mean, rstd), x, dy, gamma, default, default, dgamma, true, dbeta);
        float meanDn = (float)sums.Sum0 / d;
        float meanDnXhat = (float)sums.Sum1 / d;
        StableMath.RowPass(new LayerNormBackwardDxOperator(mean, rstd, meanDn, meanDnXhat), x, dy, gamma, default, default, dx, true, default);
    }

    /// <summary>
    /// GELU, tanh approximation: g = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), evaluated as
    /// g = x / (1 + exp(-2u)) with <see cref="VectorMath.Exp(float)"/> in one vectorised pass (exp overflow gives the
    /// exact limits -0 and x): <see cref="GeluOperator"/> over <see cref="StableMath.RowPass{TOperator}"/>. Every element
    /// gets the same operations (every vector width and the scalar tail alike), so the bits do not depend on the
    /// element's position or on the available vector width.
    /// </summary>
    public static void Gelu(ReadOnlySpan<float> x, Span<float> g) =>
        StableMath.RowPass(default(GeluOperator), x, default, default, default, default, g, false, default);

    /// <summary>
    /// dx = dg * GELU'(x) with GELU'(x) = 0.5 (1 + th) + 0.5 x (1 - th^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2),
    /// th = tanh(u) = 2 s - 1 and s = 1 / (1 + exp(-2u)) (<see cref="VectorMath.Exp(float)"/>), so 0.5 (1 + th) = s and
    /// 1 - th^2 = 4 s (1 - s) (<see cref="GeluBackwardOperator"/>); every element gets the same operations whatever the
    /// vector width. <paramref name="dg"/> and <paramref name="dx"/> may be the same span.
    /// </summary>
    public static void GeluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dg, Span<float> dx) =>
        StableMath.RowPass(default(GeluBackwardOperator), x, dg, default, default, default, dx, false, default);

    /// <summary>
    /// In-place softmax of the first <paramref name="valid"/> entries of <paramref name="row"/>: p_i = exp(x_i - max) / sum,
    /// with <see cref="VectorMath.ExpNonPositive(float)"/> (arguments are at most 0); the rest of the row is set to 0.
    /// The exponentials and their sum are one <see cref="StableMath.RowPass{TOperator}"/> (<see cref="SoftmaxExpOperator"/>:
    /// float lanes of the widest width summed in double), the scaling another (<see cref="ScaleOperator"/>). NaN in the
    /// prefix gives NaN.
    /// </summary>
    public static void SoftmaxPrefix(Span<float> row, int valid)
    {
        Span<float> prefix = row.Slice(0, valid);
        if (valid > 0)
        {
            float max = TensorPrimitives.Max(prefix);
            StableMath.RowSums sums = StableMath.RowPass(new SoftmaxExpOperator(max), prefix, default, default, default, default, prefix, false, default);
            StableMath.RowPass(new ScaleOperator((float)(1.0 / sums.Sum0)), prefix, default, default, default, default, prefix, false, default);
        }

        row.Slice(valid).Clear();
    }

    /// <summary>
    /// Softmax backward in place: ds = p * (dp - sum(p * dp)), the dot product in float lanes of the widest width summed
    /// in double (<see cref="DotOperator"/>), then <see cref="SoftmaxBackwardOperator"/>, both over
    /// <see cref="StableMath.RowPass{TOperator}"/>.
    /// </summary>
    public static void SoftmaxBackward(ReadOnlySpan<float> p, Span<float> dpToDs)
    {
        float dot = (float)StableMath.RowPass(default(DotOperator), p, dpToDs, default, default, default, default, false, default).Sum0;
        StableMath.RowPass(new SoftmaxBackwardOperator(dot), p, dpToDs, default, default, default, dpToDs, false, default);
    }
}

/// <summary>The GELU tanh form's constants (as in Aced.Models' RowMath).</summary>
internal static class GeluConstants
{
    /// <summary>sqrt(2/pi).</summary>
    public const float C = 0.7978845608028654f;

    /// <summary>The cubic coefficient.</summary>
    public const float A = 0.044715f;
}
