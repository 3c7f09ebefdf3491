using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Aced.Core;

/// <summary>
/// Element-wise float building blocks for hand-written SIMD loops: <c>exp</c>, <c>log1p</c> on [0, 1], softplus with
/// the shared <c>e = exp(-|x|)</c>, sigmoid from <c>e</c>, and horizontal reductions in double. Every function has a
/// scalar form and <see cref="Vector128{T}"/>, <see cref="Vector256{T}"/> and <see cref="Vector512{T}"/> forms that
/// perform the same operations in the same order with fused multiply-adds, so a vector body and its scalar tail give
/// the same bits. <see cref="StableMath"/> is built on these functions.
/// </summary>
/// <remarks>
/// Accuracy, measured against double precision in the tests (<c>VectorMathAccuracyTests</c>):
/// <see cref="Exp(float)"/> 0.91 ulp on [-103.9, 88.7] (gradual underflow is correctly rounded, so <c>Exp(-100)</c>
/// equals <c>(float)Math.Exp(-100)</c>); <see cref="Log1p(float)"/> 1.9 ulp on [0, 1] including denormal inputs;
/// <see cref="Softplus(float, out float)"/> 2.3 ulp and <see cref="SigmoidFromE(float, float)"/> 2.1 ulp for every input.
/// NaN inputs give NaN everywhere.
/// </remarks>
public static partial class VectorMath
{
    // exp: x = n ln2 + r, |r| <= ln2/2, exp(r) by its degree-7 Taylor polynomial in Horner form ending in two fused
    // multiply-adds with 1 (0.91 ulp; the Cephes expf minimax coefficients measured 1.26 ulp), 2^n from exponent bits.
    private const float ExpMin = -104f;          // exp(-104) < 2^-150 rounds to 0
    private const float ExpMax = 89f;            // exp(89) > float.MaxValue overflows to +Inf
    private const float ExpMinNormal = -87.33654f; // exp(ExpMinNormal) is the smallest normal float
    private const float Log2E = 1.44269504088896341f;
    private const float Ln2Hi = 0.693359375f;
    private const float Ln2Lo = -2.12194440e-4f;
    private const float P7 = 1f / 5040f;
    private const float P6 = 1f / 720f;
    private const float P5 = 1f / 120f;
    private const float P4 = 1f / 24f;
    private const float P3 = 1f / 6f;
    private const float P2 = 0.5f;

    // log1p(u), u in [0, 1]: 2 atanh(s) with s = u / (2 + u) in [0, 1/3], evaluated as t * (1 + w/3 + ... + w^7/15),
    // t = 2s = (u + u) / (2 + u) (exact for denormal u), w = s^2 <= 1/9; the first omitted term w^8/17 < 1.4e-9 relative.
    private const float L3 = 1f / 3f;
    private const float L5 = 1f / 5f;
    private const float L7 = 1f / 7f;
    private const float L9 = 1f / 9f;
    private const float L11 = 1f / 11f;
    private const float L13 = 1f / 13f;
    private const float L15 = 1f / 15f;

    /// <summary>
    /// <c>exp(x)</c> in single precision, within 1 ulp: <c>2^n * P(r)</c> with <c>n = round(x log2 e)</c>,
    /// <c>r = x - n ln 2</c> (two-part ln 2) and the degree-7 Taylor polynomial <c>P</c> (truncation below 6e-9 relative). The scale <c>2^n</c> is applied in two
    /// halves, so results between <c>exp(-103.9)</c> and the smallest normal float are correctly rounded denormals;
    /// below that the result is 0, above <c>ln(float.MaxValue)</c> it is +Inf. <c>Exp(0) = 1</c> exactly; NaN gives NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Exp(float x)
    {
        x = MathF.Min(MathF.Max(x, ExpMin), ExpMax);
        float n = MathF.Round(x * Log2E);
        float p = ExpReduced(x, n);
        int ni = (int)n;
        int half = ni >> 1;
        return p * BitConverter.Int32BitsToSingle((half + 127) << 23) * BitConverter.Int32BitsToSingle((ni - half + 127) << 23);
    }

    /// <inheritdoc cref="Exp(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Exp(Vector128<float> x)
    {
        x = Vector128.MinNative(Vector128.Create(ExpMax), Vector128.MaxNative(Vector128.Create(ExpMin), x));
        Vector128<float> n = Vector128.Round(x * Vector128.Create(Log2E));
        Vector128<float> p = ExpReduced(x, n);
        Vector128<int> ni = Vector128.ConvertToInt32Native(n);
        Vector128<int> half = Vector128.ShiftRightArithmetic(ni, 1);
        Vector128<int> bias = Vector128.Create(127);
        return p * Vector128.ShiftLeft(half + bias, 23).AsSingle() * Vector128.ShiftLeft(ni - half + bias, 23).AsSingle();
    }

    /// <inheritdoc cref="Exp(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        x = Vector256.MinNative(Vector256.Create(ExpMax), Vector256.MaxNative(Vector256.Create(ExpMin), x));
        Vector256<float> n = Vector256.Round(x * Vector256.Create(Log2E));
        Vector256<float> p = ExpReduced(x, n);
        Vector256<int> ni = Vector256.ConvertToInt32Native(n);
        Vector256<int> half = Vector256.ShiftRightArithmetic(ni, 1);
        Vector256<int> bias = Vector256.Create(127);
        return p * Vector256.ShiftLeft(half + bias, 23).AsSingle() * Vector256.ShiftLeft(ni - half + bias, 23).AsSingle();
    }

    /// <inheritdoc cref="Exp(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        x = Vector512.MinNative(Vector512.Create(ExpMax), Vector512.MaxNative(Vector512.Create(ExpMin), x));
        Vector512<float> n = Vector512.Round(x * Vector512.Create(Log2E));
        Vector512<float> p = ExpReduced(x, n);
        Vector512<int> ni = Vector512.ConvertToInt32Native(n);
        Vector512<int> half = Vector512.ShiftRightArithmetic(ni, 1);
        Vector512<int> bias = Vector512.Create(127);
        return p * Vector512.ShiftLeft(half + bias, 23).AsSingle() * Vector512.ShiftLeft(ni - half + bias, 23).AsSingle();
    }

    /// <summary>
    /// A cheaper <c>exp(x)</c> for arguments that are at most 0 (shifted log-sum-exp terms, <c>exp(-|x|)</c>): one scale
    /// multiply and no upper clamp. Bit-identical to <see cref="Exp(float)"/> for <c>x</c> in [-87.33654, 0]; below that
    /// (where <see cref="Exp(float)"/> returns denormals) it returns 0; -Inf gives 0 and NaN gives NaN. Positive
    /// arguments up to 88 are still exact; larger ones are not supported.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ExpNonPositive(float x)
    {
        if (x < ExpMinNormal)
        {
            return 0f;
        }

        float n = MathF.Round(x * Log2E);
        return ExpReduced(x, n) * BitConverter.Int32BitsToSingle(((int)n + 127) << 23);
    }

    /// <inheritdoc cref="ExpNonPositive(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ExpNonPositive(Vector128<float> x)
    {
        Vector128<float> underflow = Vector128.LessThan(x, Vector128.Create(ExpMinNormal));
        x = Vector128.MaxNative(Vector128.Create(ExpMinNormal), x);
        Vector128<float> n = Vector128.Round(x * Vector128.Create(Log2E));
        Vector128<float> p = ExpReduced(x, n) * Vector128.ShiftLeft(Vector128.ConvertToInt32Native(n) + Vector128.Create(127), 23).AsSingle();
        return Vector128.AndNot(p, underflow);
    }

    /// <inheritdoc cref="ExpNonPositive(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ExpNonPositive(Vector256<float> x)
    {
        Vector256<float> underflow = Vector256.LessThan(x, Vector256.Create(ExpMinNormal));
        x = Vector256.MaxNative(Vector256.Create(ExpMinNormal), x);
        Vector256<float> n = Vector256.Round(x * Vector256.Create(Log2E));
        Vector256<float> p = ExpReduced(x, n) * Vector256.ShiftLeft(Vector256.ConvertToInt32Native(n) + Vector256.Create(127), 23).AsSingle();
        return Vector256.AndNot(p, underflow);
    }

    /// <inheritdoc cref="ExpNonPositive(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ExpNonPositive(Vector512<float> x)
    {
        Vector512<float> underflow = Vector512.LessThan(x, Vector512.Create(ExpMinNormal));
        x = Vector512.MaxNative(Vector512.Create(ExpMinNormal), x);
        Vector512<float> n = Vector512.Round(x * Vector512.Create(Log2E));
        Vector512<float> p = ExpReduced(x, n) * Vector512.ShiftLeft(Vector512.ConvertToInt32Native(n) + Vector512.Create(127), 23).AsSingle();
        return Vector512.AndNot(p, underflow);
    }

    /// <summary>
    /// <c>log(1 + u)</c> for <c>u</c> in [0, 1], within 2 ulps with full relative accuracy for tiny and denormal <c>u</c>
    /// (<c>Log1p(float.Epsilon) = float.Epsilon</c>): <c>2 atanh(u / (2 + u))</c> by its odd series to the 15th power,
    /// truncation below 1.4e-9 relative. Arguments outside [0, 1] are not supported; NaN gives NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Log1p(float u)
    {
        float t = (u + u) / (2f + u);
        float s = 0.5f * t;
        float w = s * s;
        float p = MathF.FusedMultiplyAdd(L15, w, L13);
        p = MathF.FusedMultiplyAdd(p, w, L11);
        p = MathF.FusedMultiplyAdd(p, w, L9);
        p = MathF.FusedMultiplyAdd(p, w, L7);
        p = MathF.FusedMultiplyAdd(p, w, L5);
        p = MathF.FusedMultiplyAdd(p, w, L3);
        return MathF.FusedMultiplyAdd(t * w, p, t);
    }

    /// <inheritdoc cref="Log1p(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Log1p(Vector128<float> u)
    {
        Vector128<float> t = (u + u) / (Vector128.Create(2f) + u);
        Vector128<float> s = Vector128.Create(0.5f) * t;
        Vector128<float> w = s * s;
        Vector128<float> p = Vector128.FusedMultiplyAdd(Vector128.Create(L15), w, Vector128.Create(L13));
        p = Vector128.FusedMultiplyAdd(p, w, Vector128.Create(L11));
        p = Vector128.FusedMultiplyAdd(p, w, Vector128.Create(L9));
        p = Vector128.FusedMultiplyAdd(p, w, Vector128.Create(L7));
        p = Vector128.FusedMultiplyAdd(p, w, Vector128.Create(L5));
        p = Vector128.FusedMultiplyAdd(p, w, Vector128.Create(L3));
        return Vector128.FusedMultiplyAdd(t * w, p, t);
    }

    /// <inheritdoc cref="Log1p(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Log1p(Vector256<float> u)
    {
        Vector256<float> t = (u + u) / (Vector256.Create(2f) + u);
        Vector256<float> s = Vector256.Create(0.5f) * t;
        Vector256<float> w = s * s;
        Vector256<float> p = Vector256.FusedMultiplyAdd(Vector256.Create(L15), w, Vector256.Create(L13));
        p = Vector256.FusedMultiplyAdd(p, w, Vector256.Create(L11));
        p = Vector256.FusedMultiplyAdd(p, w, Vector256.Create(L9));
        p = Vector256.FusedMultiplyAdd(p, w, Vector256.Create(L7));
        p = Vector256.FusedMultiplyAdd(p, w, Vector256.Create(L5));
        p = Vector256.FusedMultiplyAdd(p, w, Vector256.Create(L3));
        return Vector256.FusedMultiplyAdd(t * w, p, t);
    }

    /// <inheritdoc cref="Log1p(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Log1p(Vector512<float> u)
    {
        Vector512<float> t = (u + u) / (Vector512.Create(2f) + u);
        Vector512<float> s = Vector512.Create(0.5f) * t;
        Vector512<float> w = s * s;
        Vector512<float> p = Vector512.FusedMultiplyAdd(Vector512.Create(L15), w, Vector512.Create(L13));
        p = Vector512.FusedMultiplyAdd(p, w, Vector512.Create(L11));
        p = Vector512.FusedMultiplyAdd(p, w, Vector512.Create(L9));
        p = Vector512.FusedMultiplyAdd(p, w, Vector512.Create(L7));
        p = Vector512.FusedMultiplyAdd(p, w, Vector512.Create(L5));
        p = Vector512.FusedMultiplyAdd(p, w, Vector512.Create(L3));
        return Vector512.FusedMultiplyAdd(t * w, p, t);
    }

    /// <summary>
    /// <c>softplus(x) = log(1 + exp(x)) = max(x, 0) + log1p(e)</c> with <c>e = exp(-|x|)</c>, which is also returned
    /// (for <see cref="SigmoidFromE(float, float)"/>). Never overflows: <c>Softplus(1e4) = 1e4</c>,
    /// <c>Softplus(-100) = exp(-100)</c>, <c>Softplus(-Inf) = 0</c>, <c>Softplus(+Inf) = +Inf</c>; NaN gives NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Softplus(float x, out float e)
    {
        e = Exp(-MathF.Abs(x));
        return MathF.Max(x, 0f) + Log1p(e);
    }

    /// <inheritdoc cref="Softplus(float, out float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Softplus(Vector128<float> x, out Vector128<float> e)
    {
        e = Exp(-Vector128.Abs(x));
        return Vector128.Max(x, Vector128<float>.Zero) + Log1p(e);
    }

    /// <inheritdoc cref="Softplus(float, out float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Softplus(Vector256<float> x, out Vector256<float> e)
    {
        e = Exp(-Vector256.Abs(x));
        return Vector256.Max(x, Vector256<float>.Zero) + Log1p(e);
    }

    /// <inheritdoc cref="Softplus(float, out float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Softplus(Vector512<float> x, out Vector512<float> e)
    {
        e = Exp(-Vector512.Abs(x));
        return Vector512.Max(x, Vector512<float>.Zero) + Log1p(e);
    }

    /// <summary>
    /// <c>sigmoid(x) = 1 / (1 + exp(-x))</c> from <c>e = exp(-|x|)</c> (as returned by <see cref="Softplus(float, out float)"/>):
    /// <c>(x &gt;= 0 ? 1 : e) / (1 + e)</c>, full relative accuracy for negative x and never overflowing. NaN gives NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SigmoidFromE(float x, float e) => (x >= 0f ? 1f : e) / (1f + e);

    /// <inheritdoc cref="SigmoidFromE(float, float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> SigmoidFromE(Vector128<float> x, Vector128<float> e) =>
        Vector128.ConditionalSelect(Vector128.GreaterThanOrEqual(x, Vector128<float>.Zero), Vector128<float>.One, e) / (Vector128<float>.One + e);

    /// <inheritdoc cref="SigmoidFromE(float, float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> SigmoidFromE(Vector256<float> x, Vector256<float> e) =>
        Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(x, Vector256<float>.Zero), Vector256<float>.One, e) / (Vector256<float>.One + e);

    /// <inheritdoc cref="SigmoidFromE(float, float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> SigmoidFromE(Vector512<float> x, Vector512<float> e) =>
        Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(x, Vector512<float>.Zero), Vector512<float>.One, e) / (Vector512<float>.One + e);

    /// <summary>
    /// Sum of the lanes in double precision, in a fixed order that depends only on the width
    /// (<c>(v0 + v2) + (v1 + v3)</c>), so a reduction built on it is reproducible run to run.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double HorizontalSum(Vector128<float> v)
    {
        (Vector128<double> lower, Vector128<double> upper) = Vector128.Widen(v);
        Vector128<double> s = lower + upper;
        return s.GetElement(0) + s.GetElement(1);
    }

    /// <summary>
    /// Sum of the eight lanes in double precision, in a fixed order (<c>((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7))</c>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double HorizontalSum(Vector256<float> v)
    {
        (Vector256<double> lower, Vector256<double> upper) = Vector256.Widen(v);
        Vector256<double> s = lower + upper;
        Vector128<double> h = s.GetLower() + s.GetUpper();
        return h.GetElement(0) + h.GetElement(1);
    }

    /// <summary>Sum of the sixteen lanes in double precision, in a fixed order (pairwise halves, as for 256 bits).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double HorizontalSum(Vector512<float> v)
    {
        (Vector512<double> lower, Vector512<double> upper) = Vector512.Widen(v);
        Vector512<double> s = lower + upper;
        Vector256<double> q = s.GetLower() + s.GetUpper();
        Vector128<double> h = q.GetLower() + q.GetUpper();
        return h.GetElement(0) + h.GetElement(1);
    }

    /// <summary>Largest lane (IEEE maximum: NaN if any lane is NaN; +0 above -0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HorizontalMax(Vector128<float> v)
    {
        Vector128<float> m = Vector128.Max(v, Vector128.Shuffle(v, Vector128.Create(2, 3, 0, 1)));
        return MathF.Max(m.GetElement(0), m.GetElement(1));
    }

    /// <inheritdoc cref="HorizontalMax(Vector128{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HorizontalMax(Vector256<float> v) => HorizontalMax(Vector128.Max(v.GetLower(), v.GetUpper()));

    /// <inheritdoc cref="HorizontalMax(Vector128{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HorizontalMax(Vector512<float> v) => HorizontalMax(Vector256.Max(v.GetLower(), v.GetUpper()));

    // exp(r) for the reduced argument r = x - n ln2: 1 + r (1 + r (1/2 + r (1/6 + ... + r/5040))).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ExpReduced(float x, float n)
    {
        float r = MathF.FusedMultiplyAdd(n, -Ln2Hi, x);
        r = MathF.FusedMultiplyAdd(n, -Ln2Lo, r);
        float p = MathF.FusedMultiplyAdd(P7, r, P6);
        p = MathF.FusedMultiplyAdd(p, r, P5);
        p = MathF.FusedMultiplyAdd(p, r, P4);
        p = MathF.FusedMultiplyAdd(p, r, P3);
        p = MathF.FusedMultiplyAdd(p, r, P2);
        p = MathF.FusedMultiplyAdd(p, r, 1f);
        return MathF.FusedMultiplyAdd(p, r, 1f);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> ExpReduced(Vector128<float> x, Vector128<float> n)
    {
        Vector128<float> r = Vector128.FusedMultiplyAdd(n, Vector128.Create(-Ln2Hi), x);
        r = Vector128.FusedMultiplyAdd(n, Vector128.Create(-Ln2Lo), r);
        Vector128<float> p = Vector128.FusedMultiplyAdd(Vector128.Create(P7), r, Vector128.Create(P6));
        p = Vector128.FusedMultiplyAdd(p, r, Vector128.Create(P5));
        p = Vector128.FusedMultiplyAdd(p, r, Vector128.Create(P4));
        p = Vector128.FusedMultiplyAdd(p, r, Vector128.Create(P3));
        p = Vector128.FusedMultiplyAdd(p, r, Vector128.Create(P2));
        p = Vector128.FusedMultiplyAdd(p, r, Vector128<float>.One);
        return Vector128.FusedMultiplyAdd(p, r, Vector128<float>.One);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> ExpReduced(Vector256<float> x, Vector256<float> n) => ExpPolynomial(ExpReduction(x, n));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ExpReduced(Vector512<float> x, Vector512<float> n)
    {
        Vector512<float> r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Hi), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Lo), r);
        Vector512<float> p = Vector512.FusedMultiplyAdd(Vector512.Create(P7), r, Vector512.Create(P6));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P5));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P4));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P3));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P2));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        return Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
    }

    // Log1pFast: the series of Log1p with its tail 1/3 + w/5 + ... replaced by a degree-3 polynomial in w = s^2 fitted on
    // [0, 1/9] (Chebyshev fit, 1.5e-7 absolute on the tail, so below 1.7e-8 relative on the result).
    private const float F0 = 0.33333320168349617f;
    private const float F1 = 0.20003780322455603f;
    private const float F2 = 0.1411830990265524f;
    private const float F3 = 0.13425749011418575f;

    /// <summary>
    /// <c>log(1 + u)</c> for <c>u</c> in [0, 1] as <see cref="Log1p(float)"/> (<c>2 atanh(u / (2 + u))</c>, full relative
    /// accuracy for tiny and denormal <c>u</c>) with a shorter polynomial: 4 coefficients instead of 7 (error measured in
    /// the tests: within 2 ulps). Arguments outside [0, 1] are not supported; NaN gives NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Log1pFast(float u)
    {
        float t = (u + u) / (2f + u);
        float s = 0.5f * t;
        float w = s * s;
        float p = MathF.FusedMultiplyAdd(F3, w, F2);
        p = MathF.FusedMultiplyAdd(p, w, F1);
        p = MathF.FusedMultiplyAdd(p, w, F0);
        return MathF.FusedMultiplyAdd(t * w, p, t);
    }

    /// <inheritdoc cref="Log1pFast(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Log1pFast(Vector128<float> u)
    {
        Vector128<float> t = (u + u) / (Vector128.Create(2f) + u);
        Vector128<float> s = Vector128.Create(0.5f) * t;
        Vector128<float> w = s * s;
        Vector128<float> p = Vector128.FusedMultiplyAdd(Vector128.Create(F3), w, Vector128.Create(F2));
        p = Vector128.FusedMultiplyAdd(p, w, Vector128.Create(F1));
        p = Vector128.FusedMultiplyAdd(p, w, Vector128.Create(F0));
        return Vector128.FusedMultiplyAdd(t * w, p, t);
    }

    /// <inheritdoc cref="Log1pFast(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Log1pFast(Vector256<float> u)
    {
        Vector256<float> t = (u + u) / (Vector256.Create(2f) + u);
        Vector256<float> s = Vector256.Create(0.5f) * t;
        Vector256<float> w = s * s;
        Vector256<float> p = Vector256.FusedMultiplyAdd(Vector256.Create(F3), w, Vector256.Create(F2));
        p = Vector256.FusedMultiplyAdd(p, w, Vector256.Create(F1));
        p = Vector256.FusedMultiplyAdd(p, w, Vector256.Create(F0));
        return Vector256.FusedMultiplyAdd(t * w, p, t);
    }

    /// <inheritdoc cref="Log1pFast(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Log1pFast(Vector512<float> u)
    {
        Vector512<float> t = (u + u) / (Vector512.Create(2f) + u);
        Vector512<float> s = Vector512.Create(0.5f) * t;
        Vector512<float> w = s * s;
        Vector512<float> p = Vector512.FusedMultiplyAdd(Vector512.Create(F3), w, Vector512.Create(F2));
        p = Vector512.FusedMultiplyAdd(p, w, Vector512.Create(F1));
        p = Vector512.FusedMultiplyAdd(p, w, Vector512.Create(F0));
        return Vector512.FusedMultiplyAdd(t * w, p, t);
    }

    /// <summary>
    /// A cheaper <c>softplus(x) = max(x, 0) + log1p(exp(-|x|))</c> for sums of many terms: <see cref="ExpNonPositive(float)"/>
    /// and <see cref="Log1pFast(float)"/>, so results below the smallest normal float (<c>x &lt; -87.33654</c>) are 0
    /// instead of denormals; elsewhere within 2.5 ulps (measured in the tests) with full relative accuracy for negative
    /// <c>x</c>. Never overflows: <c>SoftplusFast(1e4) = 1e4</c>, <c>SoftplusFast(-Inf) = 0</c>,
    /// <c>SoftplusFast(+Inf) = +Inf</c>; NaN gives NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SoftplusFast(float x) => MathF.Max(x, 0f) + Log1pFast(ExpNonPositive(-MathF.Abs(x)));

    /// <inheritdoc cref="SoftplusFast(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> SoftplusFast(Vector128<float> x) => Vector128.Max(x, Vector128<float>.Zero) + Log1pFast(ExpNonPositive(-Vector128.Abs(x)));

    /// <inheritdoc cref="SoftplusFast(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> SoftplusFast(Vector256<float> x) => Vector256.Max(x, Vector256<float>.Zero) + Log1pFast(ExpNonPositive(-Vector256.Abs(x)));

    /// <inheritdoc cref="SoftplusFast(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> SoftplusFast(Vector512<float> x) => Vector512.Max(x, Vector512<float>.Zero) + Log1pFast(ExpNonPositive(-Vector512.Abs(x)));

    /// <summary>
    /// Asks the CPU to bring the 64-byte line holding <paramref name="at"/> into the L2 cache (<c>prefetcht1</c>; no
    /// effect where x86 prefetch instructions are not available), for a pass that spreads its prefetches of a later
    /// row over the current row's loop. The address is only a hint: it may lie past the end of an array (a prefetch
    /// never faults and changes no value).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void PrefetchLine(ref float at)
    {
        if (System.Runtime.Intrinsics.X86.Sse.IsSupported)
        {
            System.Runtime.Intrinsics.X86.Sse.Prefetch1(Unsafe.AsPointer(ref at));
        }
    }

    /// <summary>
    /// Asks the CPU to bring <paramref name="data"/> into the L2 cache (<c>prefetcht1</c>, one per 64-byte line; no
    /// effect where x86 prefetch instructions are not available; measured faster than into L1 for a whole row, which
    /// ties up the L1 miss buffers): for a pass that moves from one strided row to the next, so the
    /// next row's loads do not each start with a memory round trip. Never faults, changes no value.
    /// </summary>
    internal static unsafe void Prefetch(ReadOnlySpan<float> data)
    {
        if (!System.Runtime.Intrinsics.X86.Sse.IsSupported || data.IsEmpty)
        {
            return;
        }

        fixed (float* p = data)
        {
            for (int i = 0; i < data.Length; i += 16)
            {
                System.Runtime.Intrinsics.X86.Sse.Prefetch1(p + i);
            }

            System.Runtime.Intrinsics.X86.Sse.Prefetch1(p + data.Length - 1);
        }
    }
}
