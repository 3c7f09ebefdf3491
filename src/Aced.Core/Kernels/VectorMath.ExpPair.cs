using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Aced.Core;

/// <content>
/// <see cref="Exp(Vector256{float})"/> and <see cref="ExpNonPositive(Vector256{float})"/> of two vectors with the two
/// vectors' operations alternating (the same operations in the same order per vector, so the same bits), for loops that
/// compute two exponentials per step. Written out as a pair because the JIT otherwise keeps each constant in a register
/// from the first vector's use to the second's and spills the loop's values (seen in the softmax cache fill); with the
/// two uses adjacent it loads them as memory operands or broadcasts next to their use. Vector256 only.
/// </content>
public static partial class VectorMath
{
    /// <summary><see cref="Exp(Vector256{float})"/> of <paramref name="x0"/> and <paramref name="x1"/>, bit for bit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void ExpPair(Vector256<float> x0, Vector256<float> x1, out Vector256<float> e0, out Vector256<float> e1)
    {
        x0 = Vector256.MinNative(Vector256.Create(ExpMax), Vector256.MaxNative(Vector256.Create(ExpMin), x0));
        x1 = Vector256.MinNative(Vector256.Create(ExpMax), Vector256.MaxNative(Vector256.Create(ExpMin), x1));
        Vector256<float> n0 = Vector256.Round(x0 * Vector256.Create(Log2E));
        Vector256<float> n1 = Vector256.Round(x1 * Vector256.Create(Log2E));
        ExpReducedPair(x0, x1, n0, n1, out Vector256<float> p0, out Vector256<float> p1);
        Vector256<int> ni0 = Vector256.ConvertToInt32Native(n0);
        Vector256<int> ni1 = Vector256.ConvertToInt32Native(n1);
        Vector256<int> half0 = Vector256.ShiftRightArithmetic(ni0, 1);
        Vector256<int> half1 = Vector256.ShiftRightArithmetic(ni1, 1);
        Vector256<int> bias = Vector256.Create(127);
        e0 = p0 * Vector256.ShiftLeft(half0 + bias, 23).AsSingle() * Vector256.ShiftLeft(ni0 - half0 + bias, 23).AsSingle();
        e1 = p1 * Vector256.ShiftLeft(half1 + bias, 23).AsSingle() * Vector256.ShiftLeft(ni1 - half1 + bias, 23).AsSingle();
    }

    /// <summary><see cref="ExpNonPositive(Vector256{float})"/> of <paramref name="x0"/> and <paramref name="x1"/>, bit for bit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void ExpNonPositivePair(Vector256<float> x0, Vector256<float> x1, out Vector256<float> e0, out Vector256<float> e1)
    {
        Vector256<float> underflow0 = Vector256.LessThan(x0, Vector256.Create(ExpMinNormal));
        Vector256<float> underflow1 = Vector256.LessThan(x1, Vector256.Create(ExpMinNormal));
        x0 = Vector256.MaxNative(Vector256.Create(ExpMinNormal), x0);
        x1 = Vector256.MaxNative(Vector256.Create(ExpMinNormal), x1);
        Vector256<float> n0 = Vector256.Round(x0 * Vector256.Create(Log2E));
        Vector256<float> n1 = Vector256.Round(x1 * Vector256.Create(Log2E));
        ExpReducedPair(x0, x1, n0, n1, out Vector256<float> p0, out Vector256<float> p1);
        p0 *= Vector256.ShiftLeft(Vector256.ConvertToInt32Native(n0) + Vector256.Create(127), 23).AsSingle();
        p1 *= Vector256.ShiftLeft(Vector256.ConvertToInt32Native(n1) + Vector256.Create(127), 23).AsSingle();
        e0 = Vector256.AndNot(p0, underflow0);
        e1 = Vector256.AndNot(p1, underflow1);
    }

    /// <summary><see cref="ExpPolynomial"/>(<see cref="ExpReduction"/>) of two vectors, the operations alternating.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ExpReducedPair(Vector256<float> x0, Vector256<float> x1, Vector256<float> n0, Vector256<float> n1, out Vector256<float> p0, out Vector256<float> p1)
    {
        Vector256<float> r0 = Vector256.FusedMultiplyAdd(n0, Vector256.Create(-Ln2Hi), x0);
        Vector256<float> r1 = Vector256.FusedMultiplyAdd(n1, Vector256.Create(-Ln2Hi), x1);
        r0 = Vector256.FusedMultiplyAdd(n0, Vector256.Create(-Ln2Lo), r0);
        r1 = Vector256.FusedMultiplyAdd(n1, Vector256.Create(-Ln2Lo), r1);
        p0 = Vector256.FusedMultiplyAdd(Vector256.Create(P7), r0, Vector256.Create(P6));
        p1 = Vector256.FusedMultiplyAdd(Vector256.Create(P7), r1, Vector256.Create(P6));
        p0 = Vector256.FusedMultiplyAdd(p0, r0, Vector256.Create(P5));
        p1 = Vector256.FusedMultiplyAdd(p1, r1, Vector256.Create(P5));
        p0 = Vector256.FusedMultiplyAdd(p0, r0, Vector256.Create(P4));
        p1 = Vector256.FusedMultiplyAdd(p1, r1, Vector256.Create(P4));
        p0 = Vector256.FusedMultiplyAdd(p0, r0, Vector256.Create(P3));
        p1 = Vector256.FusedMultiplyAdd(p1, r1, Vector256.Create(P3));
        p0 = Vector256.FusedMultiplyAdd(p0, r0, Vector256.Create(P2));
        p1 = Vector256.FusedMultiplyAdd(p1, r1, Vector256.Create(P2));
        p0 = Vector256.FusedMultiplyAdd(p0, r0, Vector256<float>.One);
        p1 = Vector256.FusedMultiplyAdd(p1, r1, Vector256<float>.One);
        p0 = Vector256.FusedMultiplyAdd(p0, r0, Vector256<float>.One);
        p1 = Vector256.FusedMultiplyAdd(p1, r1, Vector256<float>.One);
    }
}
