using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Aced.Core;

/// <content>
/// <see cref="Exp(Vector256{float})"/> cut into its three dependent stages, for software-pipelined loops that run
/// different stages of several vectors in one iteration (<c>ExpScale(ExpPolynomial(ExpReduction(ExpClamp(x), n)), n)</c>
/// with <c>n = ExpRound(ExpClamp(x))</c> is exactly <see cref="Exp(Vector256{float})"/>: the same operations in the same
/// order, so the same bits; <c>VectorMathExpStagesTests</c> pins them to each other; <c>ExpReduced</c>, the core of
/// <see cref="Exp(Vector256{float})"/>, is <c>ExpPolynomial(ExpReduction(x, n))</c>). A loop over many vectors whose per-vector chain is as long as the exponential's (~40 cycles
/// of dependent FMAs, rounding and scaling) is otherwise bound by how many waiting operations the out-of-order scheduler
/// holds; with the stages skewed across iterations each operation's inputs are ready soon after it is issued.
/// </content>
public static partial class VectorMath
{
    /// <summary>The argument clamped to [-104, 89] (the first step of <see cref="Exp(Vector256{float})"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> ExpClamp(Vector256<float> x) =>
        Vector256.MinNative(Vector256.Create(ExpMax), Vector256.MaxNative(Vector256.Create(ExpMin), x));

    /// <summary><c>n = round(x log2 e)</c> of a clamped argument.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> ExpRound(Vector256<float> clamped) => Vector256.Round(clamped * Vector256.Create(Log2E));

    /// <summary><c>r = x - n ln 2</c> (two-part ln 2) of a clamped argument.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> ExpReduction(Vector256<float> clamped, Vector256<float> n)
    {
        Vector256<float> r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2Hi), clamped);
        return Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2Lo), r);
    }

    /// <summary>The degree-7 polynomial <c>P(r) ~ exp(r)</c> in Horner form.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> ExpPolynomial(Vector256<float> r)
    {
        Vector256<float> p = Vector256.FusedMultiplyAdd(Vector256.Create(P7), r, Vector256.Create(P6));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P5));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P4));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P3));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P2));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<float>.One);
        return Vector256.FusedMultiplyAdd(p, r, Vector256<float>.One);
    }

    /// <summary><c>p * 2^n</c>, the scale applied in two halves (see <see cref="Exp(Vector256{float})"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> ExpScale(Vector256<float> p, Vector256<float> n)
    {
        Vector256<int> ni = Vector256.ConvertToInt32Native(n);
        Vector256<int> half = Vector256.ShiftRightArithmetic(ni, 1);
        Vector256<int> bias = Vector256.Create(127);
        return p * Vector256.ShiftLeft(half + bias, 23).AsSingle() * Vector256.ShiftLeft(ni - half + bias, 23).AsSingle();
    }
}
