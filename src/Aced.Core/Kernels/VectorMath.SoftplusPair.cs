using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Aced.Core;

public static partial class VectorMath
{
    /// <summary>Largest <c>w = (t / 2)^2</c> for which <see cref="Log1p(float)"/>'s series is its first term (see <see cref="SoftplusPair"/>).</summary>
    private const float Log1pFirstTermBound = 1f / (1 << 25);

    /// <summary>Smallest <c>n</c> whose scale <c>2^n</c> is a normal float (see <see cref="SoftplusPair"/>).</summary>
    private const int MinNormalExponent = -126;

    /// <summary>
    /// <see cref="Softplus(Vector256{float}, out Vector256{float})"/> of two vectors, bit for bit, written for a core whose
    /// out-of-order window holds less than one softplus's dependency chain (Zen 3: a single-vector sum loop runs at about
    /// 2.5 times its FMA bound): the two vectors' operations alternate so both chains advance together, and two steps
    /// that cannot change a bit are shortened.
    /// <list type="bullet">
    /// <item><c>exp(-|x|)</c>: <c>-|x|</c> is one OR of the sign bit; the upper clamp at 89 is dropped (the argument is at
    /// most 0, and a NaN passes <c>MaxNative</c> unchanged); when every lane's <c>n</c> is at least -126 the scale is one
    /// multiply by <c>2^n</c> instead of two by halves: <c>p 2^h</c> is exact, so both round <c>p 2^n</c> once.</item>
    /// <item><c>log1p(e)</c>: when every lane of both vectors has <c>w = (t / 2)^2 &lt; 2^-25</c> the Horner polynomial
    /// is its first coefficient 1/3 exactly: its last step rounds <c>1/3 + q w</c> with <c>q &lt; 0.21</c>, and
    /// <c>q w &lt; 2^-27</c> is below half an ulp of 1/3 (<c>2^-26</c>). This holds for <c>e</c> below about 3.5e-4,
    /// i.e. <c>|x| &gt; 8</c>: the negatives of a confident contrastive model.</item>
    /// </list>
    /// Only for Vector256 paths (the Vector512 width has enough lanes in flight).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void SoftplusPair(Vector256<float> x0, Vector256<float> x1, out Vector256<float> s0, out Vector256<float> s1)
    {
        ExpNegativeAbsPair(x0, x1, out Vector256<float> e0, out Vector256<float> e1);
        SoftplusPairFromExp(x0, x1, e0, e1, out s0, out s1);
    }

    /// <summary>
    /// The first half of <see cref="SoftplusPair"/>: <c>e = exp(-|x|)</c> of both vectors, the bits
    /// <see cref="SoftplusPair"/> computes (a caller may run it one step ahead of <see cref="SoftplusPairFromExp"/>, so
    /// two pairs' dependency chains overlap in a short instruction window).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void ExpNegativeAbsPair(Vector256<float> x0, Vector256<float> x1, out Vector256<float> e0, out Vector256<float> e1)
    {
        Vector256<float> sign = Vector256.Create(-0f);
        Vector256<float> a0 = Vector256.MaxNative(Vector256.Create(ExpMin), x0 | sign);
        Vector256<float> a1 = Vector256.MaxNative(Vector256.Create(ExpMin), x1 | sign);
        Vector256<float> n0 = Vector256.Round(a0 * Vector256.Create(Log2E));
        Vector256<float> n1 = Vector256.Round(a1 * Vector256.Create(Log2E));
        ExpReducedPair(a0, a1, n0, n1, out Vector256<float> p0, out Vector256<float> p1);
        Vector256<int> ni0 = Vector256.ConvertToInt32Native(n0);
        Vector256<int> ni1 = Vector256.ConvertToInt32Native(n1);
        Vector256<int> bias = Vector256.Create(127);
        if (Vector256.GreaterThanOrEqualAll(Vector256.Min(ni0, ni1), Vector256.Create(MinNormalExponent)))
        {
            e0 = p0 * Vector256.ShiftLeft(ni0 + bias, 23).AsSingle();
            e1 = p1 * Vector256.ShiftLeft(ni1 + bias, 23).AsSingle();
        }
        else
        {
            Vector256<int> h0 = Vector256.ShiftRightArithmetic(ni0, 1);
            Vector256<int> h1 = Vector256.ShiftRightArithmetic(ni1, 1);
            e0 = p0 * Vector256.ShiftLeft(h0 + bias, 23).AsSingle() * Vector256.ShiftLeft(ni0 - h0 + bias, 23).AsSingle();
            e1 = p1 * Vector256.ShiftLeft(h1 + bias, 23).AsSingle() * Vector256.ShiftLeft(ni1 - h1 + bias, 23).AsSingle();
        }
    }

    /// <summary>
    /// The second half of <see cref="SoftplusPair"/>: <c>max(x, 0) + log1p(e)</c> of both vectors from
    /// <see cref="ExpNegativeAbsPair"/>'s <paramref name="e0"/> and <paramref name="e1"/>, the bits <see cref="SoftplusPair"/> returns.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void SoftplusPairFromExp(Vector256<float> x0, Vector256<float> x1, Vector256<float> e0, Vector256<float> e1, out Vector256<float> s0, out Vector256<float> s1)
    {
        Vector256<float> t0 = (e0 + e0) / (Vector256.Create(2f) + e0);
        Vector256<float> t1 = (e1 + e1) / (Vector256.Create(2f) + e1);
        Vector256<float> w0 = Vector256.Create(0.5f) * t0;
        Vector256<float> w1 = Vector256.Create(0.5f) * t1;
        w0 *= w0;
        w1 *= w1;
        Vector256<float> q0, q1;
        if ((Vector256.LessThan(w0, Vector256.Create(Log1pFirstTermBound)) & Vector256.LessThan(w1, Vector256.Create(Log1pFirstTermBound))).ExtractMostSignificantBits() == 0xFF)
        {
            q0 = Vector256.Create(L3);
            q1 = q0;
        }
        else
        {
            q0 = Vector256.FusedMultiplyAdd(Vector256.Create(L15), w0, Vector256.Create(L13));
            q1 = Vector256.FusedMultiplyAdd(Vector256.Create(L15), w1, Vector256.Create(L13));
            q0 = Vector256.FusedMultiplyAdd(q0, w0, Vector256.Create(L11));
            q1 = Vector256.FusedMultiplyAdd(q1, w1, Vector256.Create(L11));
            q0 = Vector256.FusedMultiplyAdd(q0, w0, Vector256.Create(L9));
            q1 = Vector256.FusedMultiplyAdd(q1, w1, Vector256.Create(L9));
            q0 = Vector256.FusedMultiplyAdd(q0, w0, Vector256.Create(L7));
            q1 = Vector256.FusedMultiplyAdd(q1, w1, Vector256.Create(L7));
            q0 = Vector256.FusedMultiplyAdd(q0, w0, Vector256.Create(L5));
            q1 = Vector256.FusedMultiplyAdd(q1, w1, Vector256.Create(L5));
            q0 = Vector256.FusedMultiplyAdd(q0, w0, Vector256.Create(L3));
            q1 = Vector256.FusedMultiplyAdd(q1, w1, Vector256.Create(L3));
        }

        s0 = PositivePart(x0) + Vector256.FusedMultiplyAdd(t0 * w0, q0, t0);
        s1 = PositivePart(x1) + Vector256.FusedMultiplyAdd(t1 * w1, q1, t1);
    }

    /// <summary>
    /// <c>max(x, 0)</c> as one <c>vmaxps</c> (which returns its second operand, x, when either is NaN): the bits of
    /// <see cref="Vector256.Max{T}(Vector256{T}, Vector256{T})"/> (5 instructions) except -0 for x = -0, where the
    /// softplus adds log1p(1) and the sum is the same.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> PositivePart(Vector256<float> x) =>
        Avx.IsSupported ? Avx.Max(Vector256<float>.Zero, x) : Vector256.Max(x, Vector256<float>.Zero);
}
