using System;
using System.Numerics.Tensors;
using Aced.Core;

namespace Aced.Losses.Internal;

/// <summary>
/// Fused, vectorised per-row passes over a row of similarities <c>s_j = &lt;u_i, v_j&gt;</c>, with logits
/// <c>l_j = a * s_j + c</c>. Each pass reads the row once (after a max pass where needed), writes the
/// logit gradient <c>G_j = dL/dl_j</c> in place when asked, and returns its reductions in double.
/// </summary>
/// <remarks>
/// Each pass is one operator struct (RowOperators.cs) run by Aced.Core's shared driver
/// <see cref="StableMath.RowPass{TOperator}"/>: the widest accelerated vector width (512, 256, 128 bits) for the
/// bulk of the row, one step of each narrower width, then scalars. Reductions accumulate in float lanes and are
/// summed in double; their order depends on the row length and the machine's vector width only, never on threads.
/// </remarks>
internal static class RowKernels
{
    /// <summary><c>log sum_j exp(a s_j + c)</c> (max-shifted; a &gt; 0).</summary>
    public static double LogSumExp(ReadOnlySpan<float> s, float a, float c)
    {
        float sMax = TensorPrimitives.Max(s);
        double sum = StableMath.SumInLanes(new ScaledExpShiftOperator(a, sMax), s);
        return ((double)a * sMax) + c + Math.Log(sum);
    }

    /// <summary>
    /// Sigmoid loss terms of the negatives in a row segment: term <c>softplus(l)</c>, gradient
    /// <c>G = sigmoid(l) * gScale</c> written over <paramref name="s"/>. Adds the terms into
    /// <paramref name="columns"/> when it is not empty. Accumulates loss, sum G*s and sum G.
    /// </summary>
    public static void SigmoidNegatives(Span<float> s, float a, float c, float gScale, Span<float> columns, ref double loss, ref double gs, ref double g)
    {
        StableMath.RowSums sums = StableMath.RowPass(new SigmoidNegativesOperator(a, c, gScale), s, default, default, default, default, s, false, columns);
        loss += sums.Sum0;
        gs += sums.Sum1;
        g += sums.Sum2;
    }

    /// <summary>
    /// The positive (diagonal) sigmoid term at <c>s[k]</c>: <c>softplus(-l)</c>, gradient
    /// <c>-sigmoid(-l) * gScale</c> written over <c>s[k]</c>.
    /// </summary>
    public static float SigmoidPositive(ref float sk, float a, float c, float gScale, ref double gs, ref double g)
    {
        float sv = sk;
        float l = (a * sv) + c;
        float term = VectorMath.Softplus(-l, out float e);
        float grad = -VectorMath.SigmoidFromE(-l, e) * gScale;
        gs += grad * sv;
        g += grad;
        sk = grad;
        return term;
    }

    /// <summary>
    /// Softmax gradient of one direction: <c>G_j = (exp(a s_j + c - lse) - [j == diag]) * gScale</c>,
    /// written over <paramref name="s"/>. Accumulates sum G*s and sum G.
    /// </summary>
    public static void SoftmaxRowGradient(Span<float> s, int diag, float a, float c, double lse, float gScale, ref double gs, ref double g)
    {
        float sDiag = diag >= 0 ? s[diag] : 0f;
        StableMath.RowSums sums = StableMath.RowPass(new SoftmaxRowGradientOperator(a, (float)(c - lse), gScale), s, default, default, default, default, s, false, default);
        SubtractDiagonal(s, diag, sDiag, gScale, sums, ref gs, ref g);
    }

    /// <summary>
    /// Both-direction softmax gradient of one row of the full matrix:
    /// <c>G_j = (exp(l_j - rowLse) + exp(l_j - colLse_j) - 2 [j == diag]) * gScale</c>, written over
    /// <paramref name="s"/>; <paramref name="colShift"/> holds <c>c - colLse_j</c>. Accumulates sum G*s and sum G.
    /// </summary>
    public static void SoftmaxBothGradient(Span<float> s, ReadOnlySpan<float> colShift, int diag, float a, float c, double rowLse, float gScale, ref double gs, ref double g)
    {
        float sDiag = diag >= 0 ? s[diag] : 0f;
        StableMath.RowSums sums = StableMath.RowPass(new SoftmaxBothGradientOperator(a, (float)(c - rowLse), gScale), s, colShift, default, default, default, s, false, default);
        SubtractDiagonal(s, diag, sDiag, 2f * gScale, sums, ref gs, ref g);
    }

    /// <summary>
    /// Softmax-KD teacher pass over one row: <c>P_j = exp(a t_j + c - lse)</c>; writes
    /// <c>M_j = P_j * weight</c> (or adds it when <paramref name="accumulate"/>), and returns the row entropy
    /// <c>sum_j P_j (lse - a t_j - c)</c>. <paramref name="m"/> may be <paramref name="t"/> itself.
    /// </summary>
    public static double SoftmaxTeacherRow(ReadOnlySpan<float> t, Span<float> m, float a, float c, double lse, float weight, bool accumulate)
    {
        return -StableMath.RowPass(new SoftmaxTeacherRowOperator(a, (float)(c - lse), weight), t, default, default, default, default, m, accumulate, default).Sum0;
    }

    /// <summary>
    /// Softmax-KD student pass over one row: <c>Q_j = exp(a s_j + c - lse)</c>, cross-entropy
    /// <c>sum_j M_j (lse - a s_j - c)</c> (returned), gradient <c>G_j = (Q_j - M_j) * gScale</c> written over
    /// <paramref name="s"/>; accumulates sum G*s and sum G.
    /// </summary>
    public static double SoftmaxStudentRow(Span<float> s, ReadOnlySpan<float> m, float a, float c, double lse, float gScale, ref double gs, ref double g)
    {
        StableMath.RowSums sums = StableMath.RowPass(new SoftmaxStudentRowOperator(a, (float)(c - lse), gScale), s, m, default, default, default, s, false, default);
        gs += sums.Sum1;
        g += sums.Sum2;
        return -sums.Sum0;
    }

    /// <summary>
    /// Sigmoid-KD teacher pass over one row: <c>p_j = sigmoid(a t_j + c)</c>; writes <c>M_j = p_j * weight</c>
    /// (or adds it), and returns the summed binary entropy <c>sum_j softplus(l_j) - p_j l_j</c>.
    /// <paramref name="m"/> may be <paramref name="t"/> itself.
    /// </summary>
    public static double SigmoidTeacherRow(ReadOnlySpan<float> t, Span<float> m, float a, float c, float weight, bool accumulate)
    {
        return StableMath.RowPass(new SigmoidTeacherRowOperator(a, c, weight), t, default, default, default, default, m, accumulate, default).Sum0;
    }

    /// <summary>
    /// Sigmoid-KD student pass over one row with targets <c>M_j</c>: term
    /// <c>-M log sigmoid(l) - (1 - M) log sigmoid(-l) = softplus(l) - M l</c>, gradient
    /// <c>G = (sigmoid(l) - M) * gScale</c> written over <paramref name="s"/>; adds the terms into
    /// <paramref name="columns"/> when not empty; returns the row sum of terms and accumulates sum G*s, sum G.
    /// </summary>
    public static double SigmoidStudentRow(Span<float> s, ReadOnlySpan<float> m, float a, float c, float gScale, Span<float> columns, ref double gs, ref double g)
    {
        StableMath.RowSums sums = StableMath.RowPass(new SigmoidStudentRowOperator(a, c, gScale), s, m, default, default, default, s, false, columns);
        gs += sums.Sum1;
        g += sums.Sum2;
        return sums.Sum0;
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
        StableMath.RowSums sums = colFactorT.IsEmpty
            ? StableMath.RowPass(new SoftmaxTeacherBothOperator(aT, rowShiftT, aS, rowShiftS, weight), t, s, colShiftT, colShiftS, default, m, accumulate, columnCe)
            : StableMath.RowPass(new SoftmaxTeacherBothSeparableOperator(aT, rowShiftT, aS, rowShiftS, weight, rowFactorT), t, s, colShiftT, colShiftS, colFactorT, m, accumulate, columnCe);
        entropy = -sums.Sum1;
        return -sums.Sum0;
    }

    /// <summary>
    /// Full-matrix softmax-KD student pass over one row:
    /// <c>G_j = (exp(a s_j + rowShift) + exp(a s_j + colShift_j) - M_j) * gScale</c> written over <paramref name="s"/>;
    /// accumulates sum G*s and sum G. With a non-empty <paramref name="colFactor"/> the column term is
    /// <c>exp(a s_j + rowShift) * rowFactor * colFactor_j</c> (one exponential per element).
    /// </summary>
    public static void SoftmaxStudentBoth(Span<float> s, ReadOnlySpan<float> m, ReadOnlySpan<float> colShift, float a, float rowShift, float gScale, ReadOnlySpan<float> colFactor, float rowFactor, ref double gs, ref double g)
    {
        StableMath.RowSums sums = colFactor.IsEmpty
            ? StableMath.RowPass(new SoftmaxStudentBothOperator(a, rowShift, gScale), s, m, colShift, default, default, s, false, default)
            : StableMath.RowPass(new SoftmaxStudentBothSeparableOperator(a, rowShift, rowFactor, gScale), s, m, colFactor, default, default, s, false, default);
        gs += sums.Sum0;
        g += sums.Sum1;
    }

    /// <summary>
    /// <see cref="SoftmaxBothGradient"/> with one exponential per element: the column term is
    /// <c>exp(l_j - rowLse) * rowFactor * colFactor_j</c> with <c>rowFactor = exp(rowLse - K)</c>,
    /// <c>colFactor_j = exp(K - colLse_j)</c> (valid when every |rowLse - colLse_j| is moderate; see the caller).
    /// </summary>
    public static void SoftmaxBothGradientSeparable(Span<float> s, ReadOnlySpan<float> colFactor, int diag, float a, float c, double rowLse, float rowFactor, float gScale, ref double gs, ref double g)
    {
        float sDiag = diag >= 0 ? s[diag] : 0f;
        StableMath.RowSums sums = StableMath.RowPass(new SoftmaxBothGradientSeparableOperator(a, (float)(c - rowLse), rowFactor, gScale), s, colFactor, default, default, default, s, false, default);
        SubtractDiagonal(s, diag, sDiag, 2f * gScale, sums, ref gs, ref g);
    }

    /// <summary>
    /// Removes the target's one-hot term from a softmax gradient row: <c>G[diag] -= unit</c> and the matching
    /// <c>unit * s[diag]</c>, <c>unit</c> from the sums (Sum0 = sum G*s, Sum1 = sum G); adds the sums to the totals.
    /// </summary>
    private static void SubtractDiagonal(Span<float> s, int diag, float sDiag, float unit, StableMath.RowSums sums, ref double gs, ref double g)
    {
        double sGs = sums.Sum0, sG = sums.Sum1;
        if (diag >= 0)
        {
            s[diag] -= unit;
            sGs -= (double)unit * sDiag;
            sG -= unit;
        }

        gs += sGs;
        g += sG;
    }
}
