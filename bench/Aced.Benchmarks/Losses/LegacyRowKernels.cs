using System;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Aced.Core;

namespace Aced.Benchmarks.Losses;

/// <summary>
/// Five of Aced.Losses' RowKernels as they were before the operator + driver rewrite (commit f4e1c22: Vector256
/// only, one scalar twin per kernel), the in-run baseline of <see cref="RowKernelBenchmarks"/>. The full legacy
/// file is the oracle of tests/Aced.Losses.Tests/RowKernelOracleTests.
/// </summary>
internal static class LegacyRowKernels
{
    private static readonly int s_width = Vector256<float>.Count;

    /// <summary><c>log sum_j exp(a s_j + c)</c> (max-shifted; a &gt; 0).</summary>
    public static double LogSumExp(ReadOnlySpan<float> s, float a, float c)
    {
        float sMax = TensorPrimitives.Max(s);
        ref float r = ref MemoryMarshal.GetReference(s);
        int n = s.Length;
        var va = Vector256.Create(a);
        var vm = Vector256.Create(sMax);
        Vector256<float> acc = Vector256<float>.Zero;
        int j = 0;
        for (; j <= n - s_width; j += s_width)
        {
            acc += VectorMath.Exp(va * (Vector256.LoadUnsafe(ref r, (nuint)j) - vm));
        }

        double sum = VectorMath.HorizontalSum(acc);
        for (; j < n; j++)
        {
            sum += VectorMath.Exp(a * (Unsafe.Add(ref r, j) - sMax));
        }

        return ((double)a * sMax) + c + Math.Log(sum);
    }

    /// <summary>
    /// Sigmoid loss terms of the negatives in a row segment: term <c>softplus(l)</c>, gradient
    /// <c>G = sigmoid(l) * gScale</c> written over <paramref name="s"/>. Adds the terms into
    /// <paramref name="columns"/> when it is not empty. Accumulates loss, sum G*s and sum G.
    /// </summary>
    public static void SigmoidNegatives(Span<float> s, float a, float c, float gScale, Span<float> columns, ref double loss, ref double gs, ref double g)
    {
        ref float r = ref MemoryMarshal.GetReference(s);
        ref float col = ref MemoryMarshal.GetReference(columns);
        bool withColumns = !columns.IsEmpty;
        int n = s.Length;
        var va = Vector256.Create(a);
        var vc = Vector256.Create(c);
        var vg = Vector256.Create(gScale);
        Vector256<float> accLoss = Vector256<float>.Zero, accGs = Vector256<float>.Zero, accG = Vector256<float>.Zero;
        int j = 0;
        for (; j <= n - s_width; j += s_width)
        {
            Vector256<float> sv = Vector256.LoadUnsafe(ref r, (nuint)j);
            Vector256<float> l = (va * sv) + vc;
            Vector256<float> term = VectorMath.Softplus(l, out Vector256<float> e);
            Vector256<float> grad = VectorMath.SigmoidFromE(l, e) * vg;
            accLoss += term;
            accGs += grad * sv;
            accG += grad;
            grad.StoreUnsafe(ref r, (nuint)j);
            if (withColumns)
            {
                (Vector256.LoadUnsafe(ref col, (nuint)j) + term).StoreUnsafe(ref col, (nuint)j);
            }
        }

        double sLoss = VectorMath.HorizontalSum(accLoss), sGs = VectorMath.HorizontalSum(accGs), sG = VectorMath.HorizontalSum(accG);
        for (; j < n; j++)
        {
            float sv = Unsafe.Add(ref r, j);
            float l = (a * sv) + c;
            float term = VectorMath.Softplus(l, out float e);
            float grad = VectorMath.SigmoidFromE(l, e) * gScale;
            sLoss += term;
            sGs += grad * sv;
            sG += grad;
            Unsafe.Add(ref r, j) = grad;
            if (withColumns)
            {
                Unsafe.Add(ref col, j) += term;
            }
        }

        loss += sLoss;
        gs += sGs;
        g += sG;
    }

    /// <summary>
    /// Softmax gradient of one direction: <c>G_j = (exp(a s_j + c - lse) - [j == diag]) * gScale</c>,
    /// written over <paramref name="s"/>. Accumulates sum G*s and sum G.
    /// </summary>
    public static void SoftmaxRowGradient(Span<float> s, int diag, float a, float c, double lse, float gScale, ref double gs, ref double g)
    {
        ref float r = ref MemoryMarshal.GetReference(s);
        int n = s.Length;
        float shift = (float)(c - lse);
        var va = Vector256.Create(a);
        var vshift = Vector256.Create(shift);
        var vg = Vector256.Create(gScale);
        Vector256<float> accGs = Vector256<float>.Zero, accG = Vector256<float>.Zero;
        float sDiag = diag >= 0 ? s[diag] : 0f;
        int j = 0;
        for (; j <= n - s_width; j += s_width)
        {
            Vector256<float> sv = Vector256.LoadUnsafe(ref r, (nuint)j);
            Vector256<float> grad = VectorMath.Exp((va * sv) + vshift) * vg;
            accGs += grad * sv;
            accG += grad;
            grad.StoreUnsafe(ref r, (nuint)j);
        }

        double sGs = VectorMath.HorizontalSum(accGs), sG = VectorMath.HorizontalSum(accG);
        for (; j < n; j++)
        {
            float sv = Unsafe.Add(ref r, j);
            float grad = VectorMath.Exp((a * sv) + shift) * gScale;
            sGs += grad * sv;
            sG += grad;
            Unsafe.Add(ref r, j) = grad;
        }

        if (diag >= 0)
        {
            s[diag] -= gScale;
            sGs -= (double)gScale * sDiag;
            sG -= gScale;
        }

        gs += sGs;
        g += sG;
    }

    /// <summary>
    /// Full-matrix softmax-KD teacher pass over one row i (both directions at once). With
    /// <c>log P_r = a_t t_j + rowShiftT</c>, <c>log P_c = a_t t_j + colShiftT_j</c>, <c>log Q_r = a_s s_j + rowShiftS</c>,
    /// <c>log Q_c = a_s s_j + colShiftS_j</c>: writes <c>M_j = weight (P_r + P_c)</c> (or adds it), adds
    /// <c>weight P_c (-log Q_c)</c> into <paramref name="columnCe"/>, and returns the row cross-entropy
    /// <c>sum_j P_r (-log Q_r)</c> and (in <paramref name="entropy"/>) <c>sum_j P_r (-log P_r) + P_c (-log P_c)</c>.
    /// <paramref name="m"/> may be <paramref name="t"/> itself. With a non-empty <paramref name="colFactorT"/>,
    /// <c>P_c = P_r * rowFactorT * colFactorT_j</c> (one exponential per element).
    /// </summary>
    public static double SoftmaxTeacherBoth(ReadOnlySpan<float> t, ReadOnlySpan<float> s, Span<float> m, ReadOnlySpan<float> colShiftT, ReadOnlySpan<float> colShiftS, float aT, float rowShiftT, float aS, float rowShiftS, float weight, bool accumulate, Span<float> columnCe, ReadOnlySpan<float> colFactorT, float rowFactorT, out double entropy)
    {
        bool separable = !colFactorT.IsEmpty;
        ref float cft = ref MemoryMarshal.GetReference(colFactorT);
        var vrft = Vector256.Create(rowFactorT);
        ref float tr = ref MemoryMarshal.GetReference(t);
        ref float sr = ref MemoryMarshal.GetReference(s);
        ref float mr = ref MemoryMarshal.GetReference(m);
        ref float ct = ref MemoryMarshal.GetReference(colShiftT);
        ref float cs = ref MemoryMarshal.GetReference(colShiftS);
        ref float cc = ref MemoryMarshal.GetReference(columnCe);
        int n = t.Length;
        var vaT = Vector256.Create(aT);
        var vaS = Vector256.Create(aS);
        var vrT = Vector256.Create(rowShiftT);
        var vrS = Vector256.Create(rowShiftS);
        var vw = Vector256.Create(weight);
        Vector256<float> accCe = Vector256<float>.Zero, accH = Vector256<float>.Zero;
        int j = 0;
        for (; j <= n - s_width; j += s_width)
        {
            Vector256<float> xt = vaT * Vector256.LoadUnsafe(ref tr, (nuint)j);
            Vector256<float> xs = vaS * Vector256.LoadUnsafe(ref sr, (nuint)j);
            Vector256<float> lpr = xt + vrT;
            Vector256<float> lpc = xt + Vector256.LoadUnsafe(ref ct, (nuint)j);
            Vector256<float> pr = VectorMath.Exp(lpr);
            Vector256<float> pc = separable ? pr * vrft * Vector256.LoadUnsafe(ref cft, (nuint)j) : VectorMath.Exp(lpc);
            Vector256<float> lqc = xs + Vector256.LoadUnsafe(ref cs, (nuint)j);
            accCe -= pr * (xs + vrS);
            accH -= (pr * lpr) + (pc * lpc);
            (Vector256.LoadUnsafe(ref cc, (nuint)j) - (vw * pc * lqc)).StoreUnsafe(ref cc, (nuint)j);
            Vector256<float> w = vw * (pr + pc);
            if (accumulate)
            {
                w += Vector256.LoadUnsafe(ref mr, (nuint)j);
            }

            w.StoreUnsafe(ref mr, (nuint)j);
        }

        double ce = VectorMath.HorizontalSum(accCe), h = VectorMath.HorizontalSum(accH);
        for (; j < n; j++)
        {
            float xt = aT * Unsafe.Add(ref tr, j);
            float xs = aS * Unsafe.Add(ref sr, j);
            float lpr = xt + rowShiftT;
            float lpc = xt + Unsafe.Add(ref ct, j);
            float pr = VectorMath.Exp(lpr);
            float pc = separable ? pr * rowFactorT * Unsafe.Add(ref cft, j) : VectorMath.Exp(lpc);
            float lqc = xs + Unsafe.Add(ref cs, j);
            ce -= pr * (xs + rowShiftS);
            h -= (pr * lpr) + (pc * lpc);
            Unsafe.Add(ref cc, j) -= weight * pc * lqc;
            float w = weight * (pr + pc);
            Unsafe.Add(ref mr, j) = accumulate ? Unsafe.Add(ref mr, j) + w : w;
        }

        entropy = h;
        return ce;
    }

    /// <summary>
    /// Full-matrix softmax-KD student pass over one row:
    /// <c>G_j = (exp(a s_j + rowShift) + exp(a s_j + colShift_j) - M_j) * gScale</c> written over <paramref name="s"/>;
    /// accumulates sum G*s and sum G. With a non-empty <paramref name="colFactor"/> the column term is
    /// <c>exp(a s_j + rowShift) * rowFactor * colFactor_j</c> (one exponential per element).
    /// </summary>
    public static void SoftmaxStudentBoth(Span<float> s, ReadOnlySpan<float> m, ReadOnlySpan<float> colShift, float a, float rowShift, float gScale, ReadOnlySpan<float> colFactor, float rowFactor, ref double gs, ref double g)
    {
        bool separable = !colFactor.IsEmpty;
        ref float cf = ref MemoryMarshal.GetReference(colFactor);
        var vrf = Vector256.Create(rowFactor);
        ref float r = ref MemoryMarshal.GetReference(s);
        ref float mr = ref MemoryMarshal.GetReference(m);
        ref float cs = ref MemoryMarshal.GetReference(colShift);
        int n = s.Length;
        var va = Vector256.Create(a);
        var vrow = Vector256.Create(rowShift);
        var vg = Vector256.Create(gScale);
        Vector256<float> accGs = Vector256<float>.Zero, accG = Vector256<float>.Zero;
        int j = 0;
        for (; j <= n - s_width; j += s_width)
        {
            Vector256<float> sv = Vector256.LoadUnsafe(ref r, (nuint)j);
            Vector256<float> x = va * sv;
            Vector256<float> e = VectorMath.Exp(x + vrow);
            Vector256<float> q = separable
                ? Vector256.MultiplyAddEstimate(e * vrf, Vector256.LoadUnsafe(ref cf, (nuint)j), e)
                : e + VectorMath.Exp(x + Vector256.LoadUnsafe(ref cs, (nuint)j));
            Vector256<float> grad = (q - Vector256.LoadUnsafe(ref mr, (nuint)j)) * vg;
            accGs += grad * sv;
            accG += grad;
            grad.StoreUnsafe(ref r, (nuint)j);
        }

        double sGs = VectorMath.HorizontalSum(accGs), sG = VectorMath.HorizontalSum(accG);
        for (; j < n; j++)
        {
            float sv = Unsafe.Add(ref r, j);
            float x = a * sv;
            float e = VectorMath.Exp(x + rowShift);
            float q = separable ? MathF.FusedMultiplyAdd(e * rowFactor, Unsafe.Add(ref cf, j), e) : e + VectorMath.Exp(x + Unsafe.Add(ref cs, j));
            float grad = (q - Unsafe.Add(ref mr, j)) * gScale;
            sGs += grad * sv;
            sG += grad;
            Unsafe.Add(ref r, j) = grad;
        }

        gs += sGs;
        g += sG;
    }
}
