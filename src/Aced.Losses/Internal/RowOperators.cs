using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Aced.Core;

namespace Aced.Losses.Internal;

// The bodies of RowKernels' fused row passes: one operator per pass, each a formula in scalar and 128/256/512-bit
// form over StableMath.RowPass (p = the row the pass maps, x/y/z/w = auxiliary inputs at the same index). The
// vector forms are the same text with the vector type changed; the scalar form uses MathF.FusedMultiplyAdd where
// the vector form uses MultiplyAddEstimate (an FMA on every x64 CPU with AVX2), so element-wise outputs are
// bit-identical across widths. Terms a kernel subtracts (cross-entropies and entropies, the teacher's column term) are
// produced positive and negated once: by the caller for a sum, by the driver (SubtractsColumn) for a column, which
// gives the same bits as subtracting each term (round-to-nearest is symmetric in sign) without a negation per vector.
// Parameters are stored broadcast once, as Vector512 (RyuJIT does not hoist a Vector256.Create(field) out of the
// driver's loop); each width takes its lower part, the scalar form its first element.

/// <summary>Sigmoid loss term of a negative: <c>l = a p + c</c>, term <c>softplus(l)</c> (sum0 and column), gradient <c>G = sigmoid(l) * gScale</c> (output); sum1 <c>G p</c>, sum2 <c>G</c>.</summary>
internal readonly struct SigmoidNegativesOperator : StableMath.IRowOperator
{
    private readonly Vector512<float> _a;
    private readonly Vector512<float> _c;
    private readonly Vector512<float> _gScale;

    public SigmoidNegativesOperator(float a, float c, float gScale)
    {
        _a = Vector512.Create(a);
        _c = Vector512.Create(c);
        _gScale = Vector512.Create(gScale);
    }

    public int Inputs => 0;

    public int Sums => 3;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float l = (_a.ToScalar() * p) + _c.ToScalar();
        float term = VectorMath.Softplus(l, out float e);
        float grad = VectorMath.SigmoidFromE(l, e) * _gScale.ToScalar();
        sum0 = term;
        sum1 = grad * p;
        sum2 = grad;
        column = term;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> l = (_a.GetLower().GetLower() * p) + _c.GetLower().GetLower();
        Vector128<float> term = VectorMath.Softplus(l, out Vector128<float> e);
        Vector128<float> grad = VectorMath.SigmoidFromE(l, e) * _gScale.GetLower().GetLower();
        sum0 = term;
        sum1 = grad * p;
        sum2 = grad;
        column = term;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> l = (_a.GetLower() * p) + _c.GetLower();
        Vector256<float> term = VectorMath.Softplus(l, out Vector256<float> e);
        Vector256<float> grad = VectorMath.SigmoidFromE(l, e) * _gScale.GetLower();
        sum0 = term;
        sum1 = grad * p;
        sum2 = grad;
        column = term;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> l = (_a * p) + _c;
        Vector512<float> term = VectorMath.Softplus(l, out Vector512<float> e);
        Vector512<float> grad = VectorMath.SigmoidFromE(l, e) * _gScale;
        sum0 = term;
        sum1 = grad * p;
        sum2 = grad;
        column = term;
        return grad;
    }
}

/// <summary>Softmax gradient of one direction without the diagonal: <c>G = exp(a p + shift) * gScale</c> (output) with <c>shift = c - lse</c>; sum0 <c>G p</c>, sum1 <c>G</c>.</summary>
internal readonly struct SoftmaxRowGradientOperator : StableMath.IRowOperator
{
    private readonly Vector512<float> _a;
    private readonly Vector512<float> _shift;
    private readonly Vector512<float> _gScale;

    public SoftmaxRowGradientOperator(float a, float shift, float gScale)
    {
        _a = Vector512.Create(a);
        _shift = Vector512.Create(shift);
        _gScale = Vector512.Create(gScale);
    }

    public int Inputs => 0;

    public int Sums => 2;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float grad = VectorMath.Exp((_a.ToScalar() * p) + _shift.ToScalar()) * _gScale.ToScalar();
        sum0 = grad * p;
        sum1 = grad;
        sum2 = 0f;
        column = 0f;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> grad = VectorMath.Exp((_a.GetLower().GetLower() * p) + _shift.GetLower().GetLower()) * _gScale.GetLower().GetLower();
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector128<float>.Zero;
        column = Vector128<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> grad = VectorMath.Exp((_a.GetLower() * p) + _shift.GetLower()) * _gScale.GetLower();
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector256<float>.Zero;
        column = Vector256<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> grad = VectorMath.Exp((_a * p) + _shift) * _gScale;
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector512<float>.Zero;
        column = Vector512<float>.Zero;
        return grad;
    }
}

/// <summary>Both-direction softmax gradient without the diagonal, x = the column shift <c>c - colLse_j</c>: <c>G = (exp(a p + rowShift) + exp(a p + x)) * gScale</c> (output); sum0 <c>G p</c>, sum1 <c>G</c>.</summary>
internal readonly struct SoftmaxBothGradientOperator : StableMath.IRowOperator
{
    private readonly Vector512<float> _a;
    private readonly Vector512<float> _rowShift;
    private readonly Vector512<float> _gScale;

    public SoftmaxBothGradientOperator(float a, float rowShift, float gScale)
    {
        _a = Vector512.Create(a);
        _rowShift = Vector512.Create(rowShift);
        _gScale = Vector512.Create(gScale);
    }

    public int Inputs => 1;

    public int Sums => 2;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float ap = _a.ToScalar() * p;
        float grad = (VectorMath.Exp(ap + _rowShift.ToScalar()) + VectorMath.Exp(ap + x)) * _gScale.ToScalar();
        sum0 = grad * p;
        sum1 = grad;
        sum2 = 0f;
        column = 0f;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> ap = _a.GetLower().GetLower() * p;
        Vector128<float> grad = (VectorMath.Exp(ap + _rowShift.GetLower().GetLower()) + VectorMath.Exp(ap + x)) * _gScale.GetLower().GetLower();
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector128<float>.Zero;
        column = Vector128<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> ap = _a.GetLower() * p;
        Vector256<float> grad = (VectorMath.Exp(ap + _rowShift.GetLower()) + VectorMath.Exp(ap + x)) * _gScale.GetLower();
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector256<float>.Zero;
        column = Vector256<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> ap = _a * p;
        Vector512<float> grad = (VectorMath.Exp(ap + _rowShift) + VectorMath.Exp(ap + x)) * _gScale;
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector512<float>.Zero;
        column = Vector512<float>.Zero;
        return grad;
    }
}

/// <summary><see cref="SoftmaxBothGradientOperator"/> with one exponential, x = the column factor <c>exp(K - colLse_j)</c>: <c>e = exp(a p + rowShift)</c>, <c>G = fma(e rowFactor, x, e) * gScale</c> (output); sum0 <c>G p</c>, sum1 <c>G</c>.</summary>
internal readonly struct SoftmaxBothGradientSeparableOperator : StableMath.IRowOperator
{
    private readonly Vector512<float> _a;
    private readonly Vector512<float> _rowShift;
    private readonly Vector512<float> _rowFactor;
    private readonly Vector512<float> _gScale;

    public SoftmaxBothGradientSeparableOperator(float a, float rowShift, float rowFactor, float gScale)
    {
        _a = Vector512.Create(a);
        _rowShift = Vector512.Create(rowShift);
        _rowFactor = Vector512.Create(rowFactor);
        _gScale = Vector512.Create(gScale);
    }

    public int Inputs => 1;

    public int Sums => 2;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float e = VectorMath.Exp((_a.ToScalar() * p) + _rowShift.ToScalar());
        float grad = MathF.FusedMultiplyAdd(e * _rowFactor.ToScalar(), x, e) * _gScale.ToScalar();
        sum0 = grad * p;
        sum1 = grad;
        sum2 = 0f;
        column = 0f;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> e = VectorMath.Exp((_a.GetLower().GetLower() * p) + _rowShift.GetLower().GetLower());
        Vector128<float> grad = Vector128.MultiplyAddEstimate(e * _rowFactor.GetLower().GetLower(), x, e) * _gScale.GetLower().GetLower();
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector128<float>.Zero;
        column = Vector128<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> e = VectorMath.Exp((_a.GetLower() * p) + _rowShift.GetLower());
        Vector256<float> grad = Vector256.MultiplyAddEstimate(e * _rowFactor.GetLower(), x, e) * _gScale.GetLower();
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector256<float>.Zero;
        column = Vector256<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> e = VectorMath.Exp((_a * p) + _rowShift);
        Vector512<float> grad = Vector512.MultiplyAddEstimate(e * _rowFactor, x, e) * _gScale;
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector512<float>.Zero;
        column = Vector512<float>.Zero;
        return grad;
    }
}

/// <summary>Softmax-KD student term, x = the target <c>M</c>: <c>lq = a p + shift</c> (log Q), sum0 <c>M lq</c> (minus the cross-entropy), <c>G = (exp(lq) - M) * gScale</c> (output); sum1 <c>G p</c>, sum2 <c>G</c>.</summary>
internal readonly struct SoftmaxStudentRowOperator : StableMath.IRowOperator
{
    private readonly Vector512<float> _a;
    private readonly Vector512<float> _shift;
    private readonly Vector512<float> _gScale;

    public SoftmaxStudentRowOperator(float a, float shift, float gScale)
    {
        _a = Vector512.Create(a);
        _shift = Vector512.Create(shift);
        _gScale = Vector512.Create(gScale);
    }

    public int Inputs => 1;

    public int Sums => 3;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float lq = (_a.ToScalar() * p) + _shift.ToScalar();
        float grad = (VectorMath.Exp(lq) - x) * _gScale.ToScalar();
        sum0 = x * lq;
        sum1 = grad * p;
        sum2 = grad;
        column = 0f;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> lq = (_a.GetLower().GetLower() * p) + _shift.GetLower().GetLower();
        Vector128<float> grad = (VectorMath.Exp(lq) - x) * _gScale.GetLower().GetLower();
        sum0 = x * lq;
        sum1 = grad * p;
        sum2 = grad;
        column = Vector128<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> lq = (_a.GetLower() * p) + _shift.GetLower();
        Vector256<float> grad = (VectorMath.Exp(lq) - x) * _gScale.GetLower();
        sum0 = x * lq;
        sum1 = grad * p;
        sum2 = grad;
        column = Vector256<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> lq = (_a * p) + _shift;
        Vector512<float> grad = (VectorMath.Exp(lq) - x) * _gScale;
        sum0 = x * lq;
        sum1 = grad * p;
        sum2 = grad;
        column = Vector512<float>.Zero;
        return grad;
    }
}

/// <summary>Sigmoid-KD student term, x = the target <c>M</c>: <c>l = a p + c</c>, term <c>softplus(l) - M l</c> (sum0 and column), <c>G = (sigmoid(l) - M) * gScale</c> (output); sum1 <c>G p</c>, sum2 <c>G</c>.</summary>
internal readonly struct SigmoidStudentRowOperator : StableMath.IRowOperator
{
    private readonly Vector512<float> _a;
    private readonly Vector512<float> _c;
    private readonly Vector512<float> _gScale;

    public SigmoidStudentRowOperator(float a, float c, float gScale)
    {
        _a = Vector512.Create(a);
        _c = Vector512.Create(c);
        _gScale = Vector512.Create(gScale);
    }

    public int Inputs => 1;

    public int Sums => 3;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float l = (_a.ToScalar() * p) + _c.ToScalar();
        float sp = VectorMath.Softplus(l, out float e);
        float term = sp - (x * l);
        float grad = (VectorMath.SigmoidFromE(l, e) - x) * _gScale.ToScalar();
        sum0 = term;
        sum1 = grad * p;
        sum2 = grad;
        column = term;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> l = (_a.GetLower().GetLower() * p) + _c.GetLower().GetLower();
        Vector128<float> sp = VectorMath.Softplus(l, out Vector128<float> e);
        Vector128<float> term = sp - (x * l);
        Vector128<float> grad = (VectorMath.SigmoidFromE(l, e) - x) * _gScale.GetLower().GetLower();
        sum0 = term;
        sum1 = grad * p;
        sum2 = grad;
        column = term;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> l = (_a.GetLower() * p) + _c.GetLower();
        Vector256<float> sp = VectorMath.Softplus(l, out Vector256<float> e);
        Vector256<float> term = sp - (x * l);
        Vector256<float> grad = (VectorMath.SigmoidFromE(l, e) - x) * _gScale.GetLower();
        sum0 = term;
        sum1 = grad * p;
        sum2 = grad;
        column = term;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> l = (_a * p) + _c;
        Vector512<float> sp = VectorMath.Softplus(l, out Vector512<float> e);
        Vector512<float> term = sp - (x * l);
        Vector512<float> grad = (VectorMath.SigmoidFromE(l, e) - x) * _gScale;
        sum0 = term;
        sum1 = grad * p;
        sum2 = grad;
        column = term;
        return grad;
    }
}

/// <summary>Full-matrix softmax-KD student term, x = the target <c>M</c>, y = the column shift: <c>G = (exp(a p + rowShift) + exp(a p + y) - M) * gScale</c> (output); sum0 <c>G p</c>, sum1 <c>G</c>.</summary>
internal readonly struct SoftmaxStudentBothOperator : StableMath.IRowOperator
{
    private readonly Vector512<float> _a;
    private readonly Vector512<float> _rowShift;
    private readonly Vector512<float> _gScale;

    public SoftmaxStudentBothOperator(float a, float rowShift, float gScale)
    {
        _a = Vector512.Create(a);
        _rowShift = Vector512.Create(rowShift);
        _gScale = Vector512.Create(gScale);
    }

    public int Inputs => 2;

    public int Sums => 2;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float ap = _a.ToScalar() * p;
        float e = VectorMath.Exp(ap + _rowShift.ToScalar());
        float q = e + VectorMath.Exp(ap + y);
        float grad = (q - x) * _gScale.ToScalar();
        sum0 = grad * p;
        sum1 = grad;
        sum2 = 0f;
        column = 0f;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> ap = _a.GetLower().GetLower() * p;
        Vector128<float> e = VectorMath.Exp(ap + _rowShift.GetLower().GetLower());
        Vector128<float> q = e + VectorMath.Exp(ap + y);
        Vector128<float> grad = (q - x) * _gScale.GetLower().GetLower();
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector128<float>.Zero;
        column = Vector128<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> ap = _a.GetLower() * p;
        Vector256<float> e = VectorMath.Exp(ap + _rowShift.GetLower());
        Vector256<float> q = e + VectorMath.Exp(ap + y);
        Vector256<float> grad = (q - x) * _gScale.GetLower();
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector256<float>.Zero;
        column = Vector256<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> ap = _a * p;
        Vector512<float> e = VectorMath.Exp(ap + _rowShift);
        Vector512<float> q = e + VectorMath.Exp(ap + y);
        Vector512<float> grad = (q - x) * _gScale;
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector512<float>.Zero;
        column = Vector512<float>.Zero;
        return grad;
    }
}

/// <summary><see cref="SoftmaxStudentBothOperator"/> with one exponential, y = the column factor: <c>e = exp(a p + rowShift)</c>, <c>G = (fma(e rowFactor, y, e) - M) * gScale</c> (output); sum0 <c>G p</c>, sum1 <c>G</c>.</summary>
internal readonly struct SoftmaxStudentBothSeparableOperator : StableMath.IRowOperator
{
    private readonly Vector512<float> _a;
    private readonly Vector512<float> _rowShift;
    private readonly Vector512<float> _rowFactor;
    private readonly Vector512<float> _gScale;

    public SoftmaxStudentBothSeparableOperator(float a, float rowShift, float rowFactor, float gScale)
    {
        _a = Vector512.Create(a);
        _rowShift = Vector512.Create(rowShift);
        _rowFactor = Vector512.Create(rowFactor);
        _gScale = Vector512.Create(gScale);
    }

    public int Inputs => 2;

    public int Sums => 2;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float e = VectorMath.Exp((_a.ToScalar() * p) + _rowShift.ToScalar());
        float q = MathF.FusedMultiplyAdd(e * _rowFactor.ToScalar(), y, e);
        float grad = (q - x) * _gScale.ToScalar();
        sum0 = grad * p;
        sum1 = grad;
        sum2 = 0f;
        column = 0f;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> e = VectorMath.Exp((_a.GetLower().GetLower() * p) + _rowShift.GetLower().GetLower());
        Vector128<float> q = Vector128.MultiplyAddEstimate(e * _rowFactor.GetLower().GetLower(), y, e);
        Vector128<float> grad = (q - x) * _gScale.GetLower().GetLower();
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector128<float>.Zero;
        column = Vector128<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> e = VectorMath.Exp((_a.GetLower() * p) + _rowShift.GetLower());
        Vector256<float> q = Vector256.MultiplyAddEstimate(e * _rowFactor.GetLower(), y, e);
        Vector256<float> grad = (q - x) * _gScale.GetLower();
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector256<float>.Zero;
        column = Vector256<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> e = VectorMath.Exp((_a * p) + _rowShift);
        Vector512<float> q = Vector512.MultiplyAddEstimate(e * _rowFactor, y, e);
        Vector512<float> grad = (q - x) * _gScale;
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector512<float>.Zero;
        column = Vector512<float>.Zero;
        return grad;
    }
}

/// <summary>Softmax-KD teacher term: <c>lp = a p + shift</c> (log P), <c>P = exp(lp)</c>, output <c>P * weight</c>; sum0 <c>P lp</c> (minus the entropy).</summary>
internal readonly struct SoftmaxTeacherRowOperator : StableMath.IRowOperator
{
    private readonly Vector512<float> _a;
    private readonly Vector512<float> _shift;
    private readonly Vector512<float> _weight;

    public SoftmaxTeacherRowOperator(float a, float shift, float weight)
    {
        _a = Vector512.Create(a);
        _shift = Vector512.Create(shift);
        _weight = Vector512.Create(weight);
    }

    public int Inputs => 0;

    public int Sums => 1;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float lp = (_a.ToScalar() * p) + _shift.ToScalar();
        float prob = VectorMath.Exp(lp);
        sum0 = prob * lp;
        sum1 = 0f;
        sum2 = 0f;
        column = 0f;
        return prob * _weight.ToScalar();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> lp = (_a.GetLower().GetLower() * p) + _shift.GetLower().GetLower();
        Vector128<float> prob = VectorMath.Exp(lp);
        sum0 = prob * lp;
        sum1 = Vector128<float>.Zero;
        sum2 = Vector128<float>.Zero;
        column = Vector128<float>.Zero;
        return prob * _weight.GetLower().GetLower();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> lp = (_a.GetLower() * p) + _shift.GetLower();
        Vector256<float> prob = VectorMath.Exp(lp);
        sum0 = prob * lp;
        sum1 = Vector256<float>.Zero;
        sum2 = Vector256<float>.Zero;
        column = Vector256<float>.Zero;
        return prob * _weight.GetLower();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> lp = (_a * p) + _shift;
        Vector512<float> prob = VectorMath.Exp(lp);
        sum0 = prob * lp;
        sum1 = Vector512<float>.Zero;
        sum2 = Vector512<float>.Zero;
        column = Vector512<float>.Zero;
        return prob * _weight;
    }
}

/// <summary>Sigmoid-KD teacher term: <c>l = a p + c</c>, <c>q = sigmoid(l)</c>, output <c>q * weight</c>; sum0 <c>softplus(l) - q l</c> (binary entropy).</summary>
internal readonly struct SigmoidTeacherRowOperator : StableMath.IRowOperator
{
    private readonly Vector512<float> _a;
    private readonly Vector512<float> _c;
    private readonly Vector512<float> _weight;

    public SigmoidTeacherRowOperator(float a, float c, float weight)
    {
        _a = Vector512.Create(a);
        _c = Vector512.Create(c);
        _weight = Vector512.Create(weight);
    }

    public int Inputs => 0;

    public int Sums => 1;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float l = (_a.ToScalar() * p) + _c.ToScalar();
        float sp = VectorMath.Softplus(l, out float e);
        float prob = VectorMath.SigmoidFromE(l, e);
        sum0 = sp - (prob * l);
        sum1 = 0f;
        sum2 = 0f;
        column = 0f;
        return prob * _weight.ToScalar();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> l = (_a.GetLower().GetLower() * p) + _c.GetLower().GetLower();
        Vector128<float> sp = VectorMath.Softplus(l, out Vector128<float> e);
        Vector128<float> prob = VectorMath.SigmoidFromE(l, e);
        sum0 = sp - (prob * l);
        sum1 = Vector128<float>.Zero;
        sum2 = Vector128<float>.Zero;
        column = Vector128<float>.Zero;
        return prob * _weight.GetLower().GetLower();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> l = (_a.GetLower() * p) + _c.GetLower();
        Vector256<float> sp = VectorMath.Softplus(l, out Vector256<float> e);
        Vector256<float> prob = VectorMath.SigmoidFromE(l, e);
        sum0 = sp - (prob * l);
        sum1 = Vector256<float>.Zero;
        sum2 = Vector256<float>.Zero;
        column = Vector256<float>.Zero;
        return prob * _weight.GetLower();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> l = (_a * p) + _c;
        Vector512<float> sp = VectorMath.Softplus(l, out Vector512<float> e);
        Vector512<float> prob = VectorMath.SigmoidFromE(l, e);
        sum0 = sp - (prob * l);
        sum1 = Vector512<float>.Zero;
        sum2 = Vector512<float>.Zero;
        column = Vector512<float>.Zero;
        return prob * _weight;
    }
}

/// <summary>Full-matrix softmax-KD teacher term, p = t, x = s, y = the teacher column shift, z = the student column shift: <c>lpr = aT t + rowShiftT</c>, <c>lpc = aT t + y</c>, <c>Pr = exp(lpr)</c>, <c>Pc = exp(lpc)</c>; output <c>weight (Pr + Pc)</c>; sum0 <c>Pr (aS s + rowShiftS)</c> (minus the row cross-entropy), sum1 <c>Pr lpr + Pc lpc</c> (minus the entropy), column <c>weight Pc (aS s + z)</c>, subtracted.</summary>
internal readonly struct SoftmaxTeacherBothOperator : StableMath.IRowOperator
{
    private readonly Vector512<float> _aT;
    private readonly Vector512<float> _rowShiftT;
    private readonly Vector512<float> _aS;
    private readonly Vector512<float> _rowShiftS;
    private readonly Vector512<float> _weight;

    public SoftmaxTeacherBothOperator(float aT, float rowShiftT, float aS, float rowShiftS, float weight)
    {
        _aT = Vector512.Create(aT);
        _rowShiftT = Vector512.Create(rowShiftT);
        _aS = Vector512.Create(aS);
        _rowShiftS = Vector512.Create(rowShiftS);
        _weight = Vector512.Create(weight);
    }

    public int Inputs => 3;

    public int Sums => 2;

    public bool SubtractsColumn => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float xt = _aT.ToScalar() * p;
        float xs = _aS.ToScalar() * x;
        float lpr = xt + _rowShiftT.ToScalar();
        float lpc = xt + y;
        float pr = VectorMath.Exp(lpr);
        float pc = VectorMath.Exp(lpc);
        sum0 = pr * (xs + _rowShiftS.ToScalar());
        sum1 = (pr * lpr) + (pc * lpc);
        sum2 = 0f;
        column = _weight.ToScalar() * pc * (xs + z);
        return _weight.ToScalar() * (pr + pc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> xt = _aT.GetLower().GetLower() * p;
        Vector128<float> xs = _aS.GetLower().GetLower() * x;
        Vector128<float> lpr = xt + _rowShiftT.GetLower().GetLower();
        Vector128<float> lpc = xt + y;
        Vector128<float> pr = VectorMath.Exp(lpr);
        Vector128<float> pc = VectorMath.Exp(lpc);
        Vector128<float> vw = _weight.GetLower().GetLower();
        sum0 = pr * (xs + _rowShiftS.GetLower().GetLower());
        sum1 = (pr * lpr) + (pc * lpc);
        sum2 = Vector128<float>.Zero;
        column = vw * pc * (xs + z);
        return vw * (pr + pc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> xt = _aT.GetLower() * p;
        Vector256<float> xs = _aS.GetLower() * x;
        Vector256<float> lpr = xt + _rowShiftT.GetLower();
        Vector256<float> lpc = xt + y;
        Vector256<float> pr = VectorMath.Exp(lpr);
        Vector256<float> pc = VectorMath.Exp(lpc);
        Vector256<float> vw = _weight.GetLower();
        sum0 = pr * (xs + _rowShiftS.GetLower());
        sum1 = (pr * lpr) + (pc * lpc);
        sum2 = Vector256<float>.Zero;
        column = vw * pc * (xs + z);
        return vw * (pr + pc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> xt = _aT * p;
        Vector512<float> xs = _aS * x;
        Vector512<float> lpr = xt + _rowShiftT;
        Vector512<float> lpc = xt + y;
        Vector512<float> pr = VectorMath.Exp(lpr);
        Vector512<float> pc = VectorMath.Exp(lpc);
        Vector512<float> vw = _weight;
        sum0 = pr * (xs + _rowShiftS);
        sum1 = (pr * lpr) + (pc * lpc);
        sum2 = Vector512<float>.Zero;
        column = vw * pc * (xs + z);
        return vw * (pr + pc);
    }
}

/// <summary><see cref="SoftmaxTeacherBothOperator"/> with one exponential, w = the teacher column factor: <c>Pc = Pr rowFactorT w</c> (lpc still enters the entropy).</summary>
internal readonly struct SoftmaxTeacherBothSeparableOperator : StableMath.IRowOperator
{
    private readonly Vector512<float> _aT;
    private readonly Vector512<float> _rowShiftT;
    private readonly Vector512<float> _aS;
    private readonly Vector512<float> _rowShiftS;
    private readonly Vector512<float> _weight;
    private readonly Vector512<float> _rowFactorT;

    public SoftmaxTeacherBothSeparableOperator(float aT, float rowShiftT, float aS, float rowShiftS, float weight, float rowFactorT)
    {
        _aT = Vector512.Create(aT);
        _rowShiftT = Vector512.Create(rowShiftT);
        _aS = Vector512.Create(aS);
        _rowShiftS = Vector512.Create(rowShiftS);
        _weight = Vector512.Create(weight);
        _rowFactorT = Vector512.Create(rowFactorT);
    }

    public int Inputs => 4;

    public int Sums => 2;

    public bool SubtractsColumn => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float xt = _aT.ToScalar() * p;
        float xs = _aS.ToScalar() * x;
        float lpr = xt + _rowShiftT.ToScalar();
        float lpc = xt + y;
        float pr = VectorMath.Exp(lpr);
        float pc = pr * _rowFactorT.ToScalar() * w;
        sum0 = pr * (xs + _rowShiftS.ToScalar());
        sum1 = (pr * lpr) + (pc * lpc);
        sum2 = 0f;
        column = _weight.ToScalar() * pc * (xs + z);
        return _weight.ToScalar() * (pr + pc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> xt = _aT.GetLower().GetLower() * p;
        Vector128<float> xs = _aS.GetLower().GetLower() * x;
        Vector128<float> lpr = xt + _rowShiftT.GetLower().GetLower();
        Vector128<float> lpc = xt + y;
        Vector128<float> pr = VectorMath.Exp(lpr);
        Vector128<float> pc = pr * _rowFactorT.GetLower().GetLower() * w;
        Vector128<float> vw = _weight.GetLower().GetLower();
        sum0 = pr * (xs + _rowShiftS.GetLower().GetLower());
        sum1 = (pr * lpr) + (pc * lpc);
        sum2 = Vector128<float>.Zero;
        column = vw * pc * (xs + z);
        return vw * (pr + pc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> xt = _aT.GetLower() * p;
        Vector256<float> xs = _aS.GetLower() * x;
        Vector256<float> lpr = xt + _rowShiftT.GetLower();
        Vector256<float> lpc = xt + y;
        Vector256<float> pr = VectorMath.Exp(lpr);
        Vector256<float> pc = pr * _rowFactorT.GetLower() * w;
        Vector256<float> vw = _weight.GetLower();
        sum0 = pr * (xs + _rowShiftS.GetLower());
        sum1 = (pr * lpr) + (pc * lpc);
        sum2 = Vector256<float>.Zero;
        column = vw * pc * (xs + z);
        return vw * (pr + pc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> xt = _aT * p;
        Vector512<float> xs = _aS * x;
        Vector512<float> lpr = xt + _rowShiftT;
        Vector512<float> lpc = xt + y;
        Vector512<float> pr = VectorMath.Exp(lpr);
        Vector512<float> pc = pr * _rowFactorT * w;
        Vector512<float> vw = _weight;
        sum0 = pr * (xs + _rowShiftS);
        sum1 = (pr * lpr) + (pc * lpc);
        sum2 = Vector512<float>.Zero;
        column = vw * pc * (xs + z);
        return vw * (pr + pc);
    }
}

/// <summary><c>exp(a (x - max))</c>: the terms of a max-shifted log-sum-exp of logits <c>a x + c</c>.</summary>
internal readonly struct ScaledExpShiftOperator : StableMath.IUnaryOperator
{
    private readonly Vector512<float> _a;
    private readonly Vector512<float> _max;

    public ScaledExpShiftOperator(float a, float max)
    {
        _a = Vector512.Create(a);
        _max = Vector512.Create(max);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float x) => VectorMath.Exp(_a.ToScalar() * (x - _max.ToScalar()));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> x) => VectorMath.Exp(_a.GetLower().GetLower() * (x - _max.GetLower().GetLower()));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> x) => VectorMath.Exp(_a.GetLower() * (x - _max.GetLower()));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> x) => VectorMath.Exp(_a * (x - _max));
}
