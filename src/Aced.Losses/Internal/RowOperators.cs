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

/// <summary>Sigmoid loss term of a negative: <c>l = a p + c</c>, term <c>softplus(l)</c> (sum0 and column), gradient <c>G = sigmoid(l) * gScale</c> (output); sum1 <c>G p</c>, sum2 <c>G</c>.</summary>
internal readonly struct SigmoidNegativesOperator : StableMath.IRowOperator
{
    private readonly float _a;
    private readonly float _c;
    private readonly float _gScale;

    public SigmoidNegativesOperator(float a, float c, float gScale)
    {
        _a = a;
        _c = c;
        _gScale = gScale;
    }

    public int Inputs => 0;

    public int Sums => 3;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float l = (_a * p) + _c;
        float term = VectorMath.Softplus(l, out float e);
        float grad = VectorMath.SigmoidFromE(l, e) * _gScale;
        sum0 = term;
        sum1 = grad * p;
        sum2 = grad;
        column = term;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> l = (Vector128.Create(_a) * p) + Vector128.Create(_c);
        Vector128<float> term = VectorMath.Softplus(l, out Vector128<float> e);
        Vector128<float> grad = VectorMath.SigmoidFromE(l, e) * Vector128.Create(_gScale);
        sum0 = term;
        sum1 = grad * p;
        sum2 = grad;
        column = term;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> l = (Vector256.Create(_a) * p) + Vector256.Create(_c);
        Vector256<float> term = VectorMath.Softplus(l, out Vector256<float> e);
        Vector256<float> grad = VectorMath.SigmoidFromE(l, e) * Vector256.Create(_gScale);
        sum0 = term;
        sum1 = grad * p;
        sum2 = grad;
        column = term;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> l = (Vector512.Create(_a) * p) + Vector512.Create(_c);
        Vector512<float> term = VectorMath.Softplus(l, out Vector512<float> e);
        Vector512<float> grad = VectorMath.SigmoidFromE(l, e) * Vector512.Create(_gScale);
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
    private readonly float _a;
    private readonly float _shift;
    private readonly float _gScale;

    public SoftmaxRowGradientOperator(float a, float shift, float gScale)
    {
        _a = a;
        _shift = shift;
        _gScale = gScale;
    }

    public int Inputs => 0;

    public int Sums => 2;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float grad = VectorMath.Exp((_a * p) + _shift) * _gScale;
        sum0 = grad * p;
        sum1 = grad;
        sum2 = 0f;
        column = 0f;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> grad = VectorMath.Exp((Vector128.Create(_a) * p) + Vector128.Create(_shift)) * Vector128.Create(_gScale);
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector128<float>.Zero;
        column = Vector128<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> grad = VectorMath.Exp((Vector256.Create(_a) * p) + Vector256.Create(_shift)) * Vector256.Create(_gScale);
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector256<float>.Zero;
        column = Vector256<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> grad = VectorMath.Exp((Vector512.Create(_a) * p) + Vector512.Create(_shift)) * Vector512.Create(_gScale);
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
    private readonly float _a;
    private readonly float _rowShift;
    private readonly float _gScale;

    public SoftmaxBothGradientOperator(float a, float rowShift, float gScale)
    {
        _a = a;
        _rowShift = rowShift;
        _gScale = gScale;
    }

    public int Inputs => 1;

    public int Sums => 2;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float ap = _a * p;
        float grad = (VectorMath.Exp(ap + _rowShift) + VectorMath.Exp(ap + x)) * _gScale;
        sum0 = grad * p;
        sum1 = grad;
        sum2 = 0f;
        column = 0f;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> ap = Vector128.Create(_a) * p;
        Vector128<float> grad = (VectorMath.Exp(ap + Vector128.Create(_rowShift)) + VectorMath.Exp(ap + x)) * Vector128.Create(_gScale);
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector128<float>.Zero;
        column = Vector128<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> ap = Vector256.Create(_a) * p;
        Vector256<float> grad = (VectorMath.Exp(ap + Vector256.Create(_rowShift)) + VectorMath.Exp(ap + x)) * Vector256.Create(_gScale);
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector256<float>.Zero;
        column = Vector256<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> ap = Vector512.Create(_a) * p;
        Vector512<float> grad = (VectorMath.Exp(ap + Vector512.Create(_rowShift)) + VectorMath.Exp(ap + x)) * Vector512.Create(_gScale);
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
    private readonly float _a;
    private readonly float _rowShift;
    private readonly float _rowFactor;
    private readonly float _gScale;

    public SoftmaxBothGradientSeparableOperator(float a, float rowShift, float rowFactor, float gScale)
    {
        _a = a;
        _rowShift = rowShift;
        _rowFactor = rowFactor;
        _gScale = gScale;
    }

    public int Inputs => 1;

    public int Sums => 2;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float e = VectorMath.Exp((_a * p) + _rowShift);
        float grad = MathF.FusedMultiplyAdd(e * _rowFactor, x, e) * _gScale;
        sum0 = grad * p;
        sum1 = grad;
        sum2 = 0f;
        column = 0f;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> e = VectorMath.Exp((Vector128.Create(_a) * p) + Vector128.Create(_rowShift));
        Vector128<float> grad = Vector128.MultiplyAddEstimate(e * Vector128.Create(_rowFactor), x, e) * Vector128.Create(_gScale);
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector128<float>.Zero;
        column = Vector128<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> e = VectorMath.Exp((Vector256.Create(_a) * p) + Vector256.Create(_rowShift));
        Vector256<float> grad = Vector256.MultiplyAddEstimate(e * Vector256.Create(_rowFactor), x, e) * Vector256.Create(_gScale);
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector256<float>.Zero;
        column = Vector256<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> e = VectorMath.Exp((Vector512.Create(_a) * p) + Vector512.Create(_rowShift));
        Vector512<float> grad = Vector512.MultiplyAddEstimate(e * Vector512.Create(_rowFactor), x, e) * Vector512.Create(_gScale);
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
    private readonly float _a;
    private readonly float _shift;
    private readonly float _gScale;

    public SoftmaxStudentRowOperator(float a, float shift, float gScale)
    {
        _a = a;
        _shift = shift;
        _gScale = gScale;
    }

    public int Inputs => 1;

    public int Sums => 3;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float lq = (_a * p) + _shift;
        float grad = (VectorMath.Exp(lq) - x) * _gScale;
        sum0 = x * lq;
        sum1 = grad * p;
        sum2 = grad;
        column = 0f;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> lq = (Vector128.Create(_a) * p) + Vector128.Create(_shift);
        Vector128<float> grad = (VectorMath.Exp(lq) - x) * Vector128.Create(_gScale);
        sum0 = x * lq;
        sum1 = grad * p;
        sum2 = grad;
        column = Vector128<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> lq = (Vector256.Create(_a) * p) + Vector256.Create(_shift);
        Vector256<float> grad = (VectorMath.Exp(lq) - x) * Vector256.Create(_gScale);
        sum0 = x * lq;
        sum1 = grad * p;
        sum2 = grad;
        column = Vector256<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> lq = (Vector512.Create(_a) * p) + Vector512.Create(_shift);
        Vector512<float> grad = (VectorMath.Exp(lq) - x) * Vector512.Create(_gScale);
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
    private readonly float _a;
    private readonly float _c;
    private readonly float _gScale;

    public SigmoidStudentRowOperator(float a, float c, float gScale)
    {
        _a = a;
        _c = c;
        _gScale = gScale;
    }

    public int Inputs => 1;

    public int Sums => 3;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float l = (_a * p) + _c;
        float sp = VectorMath.Softplus(l, out float e);
        float term = sp - (x * l);
        float grad = (VectorMath.SigmoidFromE(l, e) - x) * _gScale;
        sum0 = term;
        sum1 = grad * p;
        sum2 = grad;
        column = term;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> l = (Vector128.Create(_a) * p) + Vector128.Create(_c);
        Vector128<float> sp = VectorMath.Softplus(l, out Vector128<float> e);
        Vector128<float> term = sp - (x * l);
        Vector128<float> grad = (VectorMath.SigmoidFromE(l, e) - x) * Vector128.Create(_gScale);
        sum0 = term;
        sum1 = grad * p;
        sum2 = grad;
        column = term;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> l = (Vector256.Create(_a) * p) + Vector256.Create(_c);
        Vector256<float> sp = VectorMath.Softplus(l, out Vector256<float> e);
        Vector256<float> term = sp - (x * l);
        Vector256<float> grad = (VectorMath.SigmoidFromE(l, e) - x) * Vector256.Create(_gScale);
        sum0 = term;
        sum1 = grad * p;
        sum2 = grad;
        column = term;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> l = (Vector512.Create(_a) * p) + Vector512.Create(_c);
        Vector512<float> sp = VectorMath.Softplus(l, out Vector512<float> e);
        Vector512<float> term = sp - (x * l);
        Vector512<float> grad = (VectorMath.SigmoidFromE(l, e) - x) * Vector512.Create(_gScale);
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
    private readonly float _a;
    private readonly float _rowShift;
    private readonly float _gScale;

    public SoftmaxStudentBothOperator(float a, float rowShift, float gScale)
    {
        _a = a;
        _rowShift = rowShift;
        _gScale = gScale;
    }

    public int Inputs => 2;

    public int Sums => 2;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float ap = _a * p;
        float e = VectorMath.Exp(ap + _rowShift);
        float q = e + VectorMath.Exp(ap + y);
        float grad = (q - x) * _gScale;
        sum0 = grad * p;
        sum1 = grad;
        sum2 = 0f;
        column = 0f;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> ap = Vector128.Create(_a) * p;
        Vector128<float> e = VectorMath.Exp(ap + Vector128.Create(_rowShift));
        Vector128<float> q = e + VectorMath.Exp(ap + y);
        Vector128<float> grad = (q - x) * Vector128.Create(_gScale);
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector128<float>.Zero;
        column = Vector128<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> ap = Vector256.Create(_a) * p;
        Vector256<float> e = VectorMath.Exp(ap + Vector256.Create(_rowShift));
        Vector256<float> q = e + VectorMath.Exp(ap + y);
        Vector256<float> grad = (q - x) * Vector256.Create(_gScale);
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector256<float>.Zero;
        column = Vector256<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> ap = Vector512.Create(_a) * p;
        Vector512<float> e = VectorMath.Exp(ap + Vector512.Create(_rowShift));
        Vector512<float> q = e + VectorMath.Exp(ap + y);
        Vector512<float> grad = (q - x) * Vector512.Create(_gScale);
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
    private readonly float _a;
    private readonly float _rowShift;
    private readonly float _rowFactor;
    private readonly float _gScale;

    public SoftmaxStudentBothSeparableOperator(float a, float rowShift, float rowFactor, float gScale)
    {
        _a = a;
        _rowShift = rowShift;
        _rowFactor = rowFactor;
        _gScale = gScale;
    }

    public int Inputs => 2;

    public int Sums => 2;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float e = VectorMath.Exp((_a * p) + _rowShift);
        float q = MathF.FusedMultiplyAdd(e * _rowFactor, y, e);
        float grad = (q - x) * _gScale;
        sum0 = grad * p;
        sum1 = grad;
        sum2 = 0f;
        column = 0f;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> e = VectorMath.Exp((Vector128.Create(_a) * p) + Vector128.Create(_rowShift));
        Vector128<float> q = Vector128.MultiplyAddEstimate(e * Vector128.Create(_rowFactor), y, e);
        Vector128<float> grad = (q - x) * Vector128.Create(_gScale);
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector128<float>.Zero;
        column = Vector128<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> e = VectorMath.Exp((Vector256.Create(_a) * p) + Vector256.Create(_rowShift));
        Vector256<float> q = Vector256.MultiplyAddEstimate(e * Vector256.Create(_rowFactor), y, e);
        Vector256<float> grad = (q - x) * Vector256.Create(_gScale);
        sum0 = grad * p;
        sum1 = grad;
        sum2 = Vector256<float>.Zero;
        column = Vector256<float>.Zero;
        return grad;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> e = VectorMath.Exp((Vector512.Create(_a) * p) + Vector512.Create(_rowShift));
        Vector512<float> q = Vector512.MultiplyAddEstimate(e * Vector512.Create(_rowFactor), y, e);
        Vector512<float> grad = (q - x) * Vector512.Create(_gScale);
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
    private readonly float _a;
    private readonly float _shift;
    private readonly float _weight;

    public SoftmaxTeacherRowOperator(float a, float shift, float weight)
    {
        _a = a;
        _shift = shift;
        _weight = weight;
    }

    public int Inputs => 0;

    public int Sums => 1;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float lp = (_a * p) + _shift;
        float prob = VectorMath.Exp(lp);
        sum0 = prob * lp;
        sum1 = 0f;
        sum2 = 0f;
        column = 0f;
        return prob * _weight;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> lp = (Vector128.Create(_a) * p) + Vector128.Create(_shift);
        Vector128<float> prob = VectorMath.Exp(lp);
        sum0 = prob * lp;
        sum1 = Vector128<float>.Zero;
        sum2 = Vector128<float>.Zero;
        column = Vector128<float>.Zero;
        return prob * Vector128.Create(_weight);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> lp = (Vector256.Create(_a) * p) + Vector256.Create(_shift);
        Vector256<float> prob = VectorMath.Exp(lp);
        sum0 = prob * lp;
        sum1 = Vector256<float>.Zero;
        sum2 = Vector256<float>.Zero;
        column = Vector256<float>.Zero;
        return prob * Vector256.Create(_weight);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> lp = (Vector512.Create(_a) * p) + Vector512.Create(_shift);
        Vector512<float> prob = VectorMath.Exp(lp);
        sum0 = prob * lp;
        sum1 = Vector512<float>.Zero;
        sum2 = Vector512<float>.Zero;
        column = Vector512<float>.Zero;
        return prob * Vector512.Create(_weight);
    }
}

/// <summary>Sigmoid-KD teacher term: <c>l = a p + c</c>, <c>q = sigmoid(l)</c>, output <c>q * weight</c>; sum0 <c>softplus(l) - q l</c> (binary entropy).</summary>
internal readonly struct SigmoidTeacherRowOperator : StableMath.IRowOperator
{
    private readonly float _a;
    private readonly float _c;
    private readonly float _weight;

    public SigmoidTeacherRowOperator(float a, float c, float weight)
    {
        _a = a;
        _c = c;
        _weight = weight;
    }

    public int Inputs => 0;

    public int Sums => 1;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float l = (_a * p) + _c;
        float sp = VectorMath.Softplus(l, out float e);
        float prob = VectorMath.SigmoidFromE(l, e);
        sum0 = sp - (prob * l);
        sum1 = 0f;
        sum2 = 0f;
        column = 0f;
        return prob * _weight;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> l = (Vector128.Create(_a) * p) + Vector128.Create(_c);
        Vector128<float> sp = VectorMath.Softplus(l, out Vector128<float> e);
        Vector128<float> prob = VectorMath.SigmoidFromE(l, e);
        sum0 = sp - (prob * l);
        sum1 = Vector128<float>.Zero;
        sum2 = Vector128<float>.Zero;
        column = Vector128<float>.Zero;
        return prob * Vector128.Create(_weight);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> l = (Vector256.Create(_a) * p) + Vector256.Create(_c);
        Vector256<float> sp = VectorMath.Softplus(l, out Vector256<float> e);
        Vector256<float> prob = VectorMath.SigmoidFromE(l, e);
        sum0 = sp - (prob * l);
        sum1 = Vector256<float>.Zero;
        sum2 = Vector256<float>.Zero;
        column = Vector256<float>.Zero;
        return prob * Vector256.Create(_weight);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> l = (Vector512.Create(_a) * p) + Vector512.Create(_c);
        Vector512<float> sp = VectorMath.Softplus(l, out Vector512<float> e);
        Vector512<float> prob = VectorMath.SigmoidFromE(l, e);
        sum0 = sp - (prob * l);
        sum1 = Vector512<float>.Zero;
        sum2 = Vector512<float>.Zero;
        column = Vector512<float>.Zero;
        return prob * Vector512.Create(_weight);
    }
}

/// <summary>Full-matrix softmax-KD teacher term, p = t, x = s, y = the teacher column shift, z = the student column shift: <c>lpr = aT t + rowShiftT</c>, <c>lpc = aT t + y</c>, <c>Pr = exp(lpr)</c>, <c>Pc = exp(lpc)</c>; output <c>weight (Pr + Pc)</c>; sum0 <c>Pr (aS s + rowShiftS)</c> (minus the row cross-entropy), sum1 <c>Pr lpr + Pc lpc</c> (minus the entropy), column <c>weight Pc (aS s + z)</c>, subtracted.</summary>
internal readonly struct SoftmaxTeacherBothOperator : StableMath.IRowOperator
{
    private readonly float _aT;
    private readonly float _rowShiftT;
    private readonly float _aS;
    private readonly float _rowShiftS;
    private readonly float _weight;

    public SoftmaxTeacherBothOperator(float aT, float rowShiftT, float aS, float rowShiftS, float weight)
    {
        _aT = aT;
        _rowShiftT = rowShiftT;
        _aS = aS;
        _rowShiftS = rowShiftS;
        _weight = weight;
    }

    public int Inputs => 3;

    public int Sums => 2;

    public bool SubtractsColumn => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float xt = _aT * p;
        float xs = _aS * x;
        float lpr = xt + _rowShiftT;
        float lpc = xt + y;
        float pr = VectorMath.Exp(lpr);
        float pc = VectorMath.Exp(lpc);
        sum0 = pr * (xs + _rowShiftS);
        sum1 = (pr * lpr) + (pc * lpc);
        sum2 = 0f;
        column = _weight * pc * (xs + z);
        return _weight * (pr + pc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> xt = Vector128.Create(_aT) * p;
        Vector128<float> xs = Vector128.Create(_aS) * x;
        Vector128<float> lpr = xt + Vector128.Create(_rowShiftT);
        Vector128<float> lpc = xt + y;
        Vector128<float> pr = VectorMath.Exp(lpr);
        Vector128<float> pc = VectorMath.Exp(lpc);
        Vector128<float> vw = Vector128.Create(_weight);
        sum0 = pr * (xs + Vector128.Create(_rowShiftS));
        sum1 = (pr * lpr) + (pc * lpc);
        sum2 = Vector128<float>.Zero;
        column = vw * pc * (xs + z);
        return vw * (pr + pc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> xt = Vector256.Create(_aT) * p;
        Vector256<float> xs = Vector256.Create(_aS) * x;
        Vector256<float> lpr = xt + Vector256.Create(_rowShiftT);
        Vector256<float> lpc = xt + y;
        Vector256<float> pr = VectorMath.Exp(lpr);
        Vector256<float> pc = VectorMath.Exp(lpc);
        Vector256<float> vw = Vector256.Create(_weight);
        sum0 = pr * (xs + Vector256.Create(_rowShiftS));
        sum1 = (pr * lpr) + (pc * lpc);
        sum2 = Vector256<float>.Zero;
        column = vw * pc * (xs + z);
        return vw * (pr + pc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> xt = Vector512.Create(_aT) * p;
        Vector512<float> xs = Vector512.Create(_aS) * x;
        Vector512<float> lpr = xt + Vector512.Create(_rowShiftT);
        Vector512<float> lpc = xt + y;
        Vector512<float> pr = VectorMath.Exp(lpr);
        Vector512<float> pc = VectorMath.Exp(lpc);
        Vector512<float> vw = Vector512.Create(_weight);
        sum0 = pr * (xs + Vector512.Create(_rowShiftS));
        sum1 = (pr * lpr) + (pc * lpc);
        sum2 = Vector512<float>.Zero;
        column = vw * pc * (xs + z);
        return vw * (pr + pc);
    }
}

/// <summary><see cref="SoftmaxTeacherBothOperator"/> with one exponential, w = the teacher column factor: <c>Pc = Pr rowFactorT w</c> (lpc still enters the entropy).</summary>
internal readonly struct SoftmaxTeacherBothSeparableOperator : StableMath.IRowOperator
{
    private readonly float _aT;
    private readonly float _rowShiftT;
    private readonly float _aS;
    private readonly float _rowShiftS;
    private readonly float _weight;
    private readonly float _rowFactorT;

    public SoftmaxTeacherBothSeparableOperator(float aT, float rowShiftT, float aS, float rowShiftS, float weight, float rowFactorT)
    {
        _aT = aT;
        _rowShiftT = rowShiftT;
        _aS = aS;
        _rowShiftS = rowShiftS;
        _weight = weight;
        _rowFactorT = rowFactorT;
    }

    public int Inputs => 4;

    public int Sums => 2;

    public bool SubtractsColumn => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float xt = _aT * p;
        float xs = _aS * x;
        float lpr = xt + _rowShiftT;
        float lpc = xt + y;
        float pr = VectorMath.Exp(lpr);
        float pc = pr * _rowFactorT * w;
        sum0 = pr * (xs + _rowShiftS);
        sum1 = (pr * lpr) + (pc * lpc);
        sum2 = 0f;
        column = _weight * pc * (xs + z);
        return _weight * (pr + pc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> xt = Vector128.Create(_aT) * p;
        Vector128<float> xs = Vector128.Create(_aS) * x;
        Vector128<float> lpr = xt + Vector128.Create(_rowShiftT);
        Vector128<float> lpc = xt + y;
        Vector128<float> pr = VectorMath.Exp(lpr);
        Vector128<float> pc = pr * Vector128.Create(_rowFactorT) * w;
        Vector128<float> vw = Vector128.Create(_weight);
        sum0 = pr * (xs + Vector128.Create(_rowShiftS));
        sum1 = (pr * lpr) + (pc * lpc);
        sum2 = Vector128<float>.Zero;
        column = vw * pc * (xs + z);
        return vw * (pr + pc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> xt = Vector256.Create(_aT) * p;
        Vector256<float> xs = Vector256.Create(_aS) * x;
        Vector256<float> lpr = xt + Vector256.Create(_rowShiftT);
        Vector256<float> lpc = xt + y;
        Vector256<float> pr = VectorMath.Exp(lpr);
        Vector256<float> pc = pr * Vector256.Create(_rowFactorT) * w;
        Vector256<float> vw = Vector256.Create(_weight);
        sum0 = pr * (xs + Vector256.Create(_rowShiftS));
        sum1 = (pr * lpr) + (pc * lpc);
        sum2 = Vector256<float>.Zero;
        column = vw * pc * (xs + z);
        return vw * (pr + pc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> xt = Vector512.Create(_aT) * p;
        Vector512<float> xs = Vector512.Create(_aS) * x;
        Vector512<float> lpr = xt + Vector512.Create(_rowShiftT);
        Vector512<float> lpc = xt + y;
        Vector512<float> pr = VectorMath.Exp(lpr);
        Vector512<float> pc = pr * Vector512.Create(_rowFactorT) * w;
        Vector512<float> vw = Vector512.Create(_weight);
        sum0 = pr * (xs + Vector512.Create(_rowShiftS));
        sum1 = (pr * lpr) + (pc * lpc);
        sum2 = Vector512<float>.Zero;
        column = vw * pc * (xs + z);
        return vw * (pr + pc);
    }
}

/// <summary><c>exp(a (x - max))</c>: the terms of a max-shifted log-sum-exp of logits <c>a x + c</c>.</summary>
internal readonly struct ScaledExpShiftOperator : StableMath.IUnaryOperator
{
    private readonly float _a;
    private readonly float _max;

    public ScaledExpShiftOperator(float a, float max)
    {
        _a = a;
        _max = max;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float x) => VectorMath.Exp(_a * (x - _max));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> x) => VectorMath.Exp(Vector128.Create(_a) * (x - Vector128.Create(_max)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> x) => VectorMath.Exp(Vector256.Create(_a) * (x - Vector256.Create(_max)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> x) => VectorMath.Exp(Vector512.Create(_a) * (x - Vector512.Create(_max)));
}
