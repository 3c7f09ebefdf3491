using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Aced.Core;

public static partial class VectorMath
{
    /// <summary>
    /// <c>acc + s0 + s1 + s2 + s3</c> (added in this order) with <c>s_i</c> the
    /// <see cref="Softplus(Vector512{float}, out Vector512{float})"/> of <c>x_i</c>, bit for bit, for a core whose
    /// out-of-order scheduler holds too little of one softplus's dependency chain (~100 cycles: the exponential's and the
    /// log1p's Horner polynomials, a division) to keep its FMA pipes busy (Zen 5: a single-vector sum loop runs at about
    /// a third of its FMA bound). The four vectors' operations alternate so all four chains advance together (a row of
    /// 64 columns in one call), and three steps that cannot change a bit are shortened:
    /// <list type="bullet">
    /// <item><c>-|x|</c> is one OR of the sign bit, and the exponential's upper clamp at 89 is dropped (the argument is
    /// at most 0, and a NaN passes <c>MaxNative</c> unchanged), as in <see cref="SoftplusPair"/>.</item>
    /// <item>The scale <c>p 2^n</c> is one <c>vscalefps</c> (<see cref="Avx512F.Scale(Vector512{float}, Vector512{float})"/>,
    /// which rounds the exact <c>p 2^n</c> once, denormals included) instead of the conversion to integers and two
    /// multiplies by halves: there <c>p 2^h</c> (<c>h = n &gt;&gt; 1 &gt;= -75</c>, <c>p</c> in [0.7, 1.5]) is exact,
    /// so both round <c>p 2^n</c> once; <c>n</c> is an integer in [-150, 0] (a NaN gives NaN either way).</item>
    /// <item><c>max(x, 0)</c> is one <c>vmaxps</c> (<see cref="PositivePart(Vector512{float})"/>).</item>
    /// </list>
    /// Checked over all 2^32 bit patterns (<c>eng/torch-reference/AcedSelect bits</c>); only where
    /// <see cref="Avx512F"/> is supported.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> AddSoftplusQuad(Vector512<float> acc, Vector512<float> x0, Vector512<float> x1, Vector512<float> x2, Vector512<float> x3)
    {
        // a = -|x| clamped below, n = round(a log2 e), then a = r = a - n ln 2 (two parts).
        Vector512<float> sign = Vector512.Create(-0f);
        Vector512<float> c = Vector512.Create(ExpMin);
        Vector512<float> a0 = Vector512.MaxNative(c, x0 | sign);
        Vector512<float> a1 = Vector512.MaxNative(c, x1 | sign);
        Vector512<float> a2 = Vector512.MaxNative(c, x2 | sign);
        Vector512<float> a3 = Vector512.MaxNative(c, x3 | sign);
        c = Vector512.Create(Log2E);
        Vector512<float> n0 = Vector512.Round(a0 * c);
        Vector512<float> n1 = Vector512.Round(a1 * c);
        Vector512<float> n2 = Vector512.Round(a2 * c);
        Vector512<float> n3 = Vector512.Round(a3 * c);
        c = Vector512.Create(-Ln2Hi);
        a0 = Vector512.FusedMultiplyAdd(n0, c, a0);
        a1 = Vector512.FusedMultiplyAdd(n1, c, a1);
        a2 = Vector512.FusedMultiplyAdd(n2, c, a2);
        a3 = Vector512.FusedMultiplyAdd(n3, c, a3);
        c = Vector512.Create(-Ln2Lo);
        a0 = Vector512.FusedMultiplyAdd(n0, c, a0);
        a1 = Vector512.FusedMultiplyAdd(n1, c, a1);
        a2 = Vector512.FusedMultiplyAdd(n2, c, a2);
        a3 = Vector512.FusedMultiplyAdd(n3, c, a3);

        // p = P(r), then e = p 2^n.
        c = Vector512.Create(P6);
        Vector512<float> p0 = Vector512.FusedMultiplyAdd(Vector512.Create(P7), a0, c);
        Vector512<float> p1 = Vector512.FusedMultiplyAdd(Vector512.Create(P7), a1, c);
        Vector512<float> p2 = Vector512.FusedMultiplyAdd(Vector512.Create(P7), a2, c);
        Vector512<float> p3 = Vector512.FusedMultiplyAdd(Vector512.Create(P7), a3, c);
        c = Vector512.Create(P5);
        p0 = Vector512.FusedMultiplyAdd(p0, a0, c);
        p1 = Vector512.FusedMultiplyAdd(p1, a1, c);
        p2 = Vector512.FusedMultiplyAdd(p2, a2, c);
        p3 = Vector512.FusedMultiplyAdd(p3, a3, c);
        c = Vector512.Create(P4);
        p0 = Vector512.FusedMultiplyAdd(p0, a0, c);
        p1 = Vector512.FusedMultiplyAdd(p1, a1, c);
        p2 = Vector512.FusedMultiplyAdd(p2, a2, c);
        p3 = Vector512.FusedMultiplyAdd(p3, a3, c);
        c = Vector512.Create(P3);
        p0 = Vector512.FusedMultiplyAdd(p0, a0, c);
        p1 = Vector512.FusedMultiplyAdd(p1, a1, c);
        p2 = Vector512.FusedMultiplyAdd(p2, a2, c);
        p3 = Vector512.FusedMultiplyAdd(p3, a3, c);
        c = Vector512.Create(P2);
        p0 = Vector512.FusedMultiplyAdd(p0, a0, c);
        p1 = Vector512.FusedMultiplyAdd(p1, a1, c);
        p2 = Vector512.FusedMultiplyAdd(p2, a2, c);
        p3 = Vector512.FusedMultiplyAdd(p3, a3, c);
        c = Vector512<float>.One;
        p0 = Vector512.FusedMultiplyAdd(p0, a0, c);
        p1 = Vector512.FusedMultiplyAdd(p1, a1, c);
        p2 = Vector512.FusedMultiplyAdd(p2, a2, c);
        p3 = Vector512.FusedMultiplyAdd(p3, a3, c);
        p0 = Vector512.FusedMultiplyAdd(p0, a0, c);
        p1 = Vector512.FusedMultiplyAdd(p1, a1, c);
        p2 = Vector512.FusedMultiplyAdd(p2, a2, c);
        p3 = Vector512.FusedMultiplyAdd(p3, a3, c);
        p0 = Avx512F.Scale(p0, n0);
        p1 = Avx512F.Scale(p1, n1);
        p2 = Avx512F.Scale(p2, n2);
        p3 = Avx512F.Scale(p3, n3);

        // log1p(e) as Log1p(Vector512<float>): p = t = 2e / (2 + e), n = w = (t / 2)^2, a = t + (t w) q(w).
        c = Vector512.Create(2f);
        p0 = (p0 + p0) / (c + p0);
        p1 = (p1 + p1) / (c + p1);
        p2 = (p2 + p2) / (c + p2);
        p3 = (p3 + p3) / (c + p3);
        c = Vector512.Create(0.5f);
        n0 = c * p0;
        n1 = c * p1;
        n2 = c * p2;
        n3 = c * p3;
        n0 *= n0;
        n1 *= n1;
        n2 *= n2;
        n3 *= n3;
        c = Vector512.Create(L13);
        a0 = Vector512.FusedMultiplyAdd(Vector512.Create(L15), n0, c);
        a1 = Vector512.FusedMultiplyAdd(Vector512.Create(L15), n1, c);
        a2 = Vector512.FusedMultiplyAdd(Vector512.Create(L15), n2, c);
        a3 = Vector512.FusedMultiplyAdd(Vector512.Create(L15), n3, c);
        c = Vector512.Create(L11);
        a0 = Vector512.FusedMultiplyAdd(a0, n0, c);
        a1 = Vector512.FusedMultiplyAdd(a1, n1, c);
        a2 = Vector512.FusedMultiplyAdd(a2, n2, c);
        a3 = Vector512.FusedMultiplyAdd(a3, n3, c);
        c = Vector512.Create(L9);
        a0 = Vector512.FusedMultiplyAdd(a0, n0, c);
        a1 = Vector512.FusedMultiplyAdd(a1, n1, c);
        a2 = Vector512.FusedMultiplyAdd(a2, n2, c);
        a3 = Vector512.FusedMultiplyAdd(a3, n3, c);
        c = Vector512.Create(L7);
        a0 = Vector512.FusedMultiplyAdd(a0, n0, c);
        a1 = Vector512.FusedMultiplyAdd(a1, n1, c);
        a2 = Vector512.FusedMultiplyAdd(a2, n2, c);
        a3 = Vector512.FusedMultiplyAdd(a3, n3, c);
        c = Vector512.Create(L5);
        a0 = Vector512.FusedMultiplyAdd(a0, n0, c);
        a1 = Vector512.FusedMultiplyAdd(a1, n1, c);
        a2 = Vector512.FusedMultiplyAdd(a2, n2, c);
        a3 = Vector512.FusedMultiplyAdd(a3, n3, c);
        c = Vector512.Create(L3);
        a0 = Vector512.FusedMultiplyAdd(a0, n0, c);
        a1 = Vector512.FusedMultiplyAdd(a1, n1, c);
        a2 = Vector512.FusedMultiplyAdd(a2, n2, c);
        a3 = Vector512.FusedMultiplyAdd(a3, n3, c);
        a0 = Vector512.FusedMultiplyAdd(p0 * n0, a0, p0);
        a1 = Vector512.FusedMultiplyAdd(p1 * n1, a1, p1);
        a2 = Vector512.FusedMultiplyAdd(p2 * n2, a2, p2);
        a3 = Vector512.FusedMultiplyAdd(p3 * n3, a3, p3);

        // softplus = max(x, 0) + log1p(e), each added to the accumulator in order. (Few locals, so the JIT inlines this.)
        acc += PositivePart(x0) + a0;
        acc += PositivePart(x1) + a1;
        acc += PositivePart(x2) + a2;
        acc += PositivePart(x3) + a3;
        return acc;
    }

    /// <summary>
    /// <see cref="AddSoftplusQuad"/> of two rows at once, eight chains in flight (the same operations per vector, so the
    /// same bits): <c>accA + s0 + s1 + s2 + s3</c> and <c>accB + s4 + s5 + s6 + s7</c>, each added in this order, with
    /// <c>s_i</c> the <see cref="Softplus(Vector512{float}, out Vector512{float})"/> of <c>x_i</c> (24 of the 32 zmm
    /// registers for the chains).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void AddSoftplusOcto(
        ref Vector512<float> accA, ref Vector512<float> accB,
        Vector512<float> x0, Vector512<float> x1, Vector512<float> x2, Vector512<float> x3,
        Vector512<float> x4, Vector512<float> x5, Vector512<float> x6, Vector512<float> x7)
    {
        Vector512<float> sign = Vector512.Create(-0f);
        Vector512<float> c = Vector512.Create(ExpMin);
        Vector512<float> a0 = Vector512.MaxNative(c, x0 | sign);
        Vector512<float> a1 = Vector512.MaxNative(c, x1 | sign);
        Vector512<float> a2 = Vector512.MaxNative(c, x2 | sign);
        Vector512<float> a3 = Vector512.MaxNative(c, x3 | sign);
        Vector512<float> a4 = Vector512.MaxNative(c, x4 | sign);
        Vector512<float> a5 = Vector512.MaxNative(c, x5 | sign);
        Vector512<float> a6 = Vector512.MaxNative(c, x6 | sign);
        Vector512<float> a7 = Vector512.MaxNative(c, x7 | sign);
        c = Vector512.Create(Log2E);
        Vector512<float> n0 = Vector512.Round(a0 * c);
        Vector512<float> n1 = Vector512.Round(a1 * c);
        Vector512<float> n2 = Vector512.Round(a2 * c);
        Vector512<float> n3 = Vector512.Round(a3 * c);
        Vector512<float> n4 = Vector512.Round(a4 * c);
        Vector512<float> n5 = Vector512.Round(a5 * c);
        Vector512<float> n6 = Vector512.Round(a6 * c);
        Vector512<float> n7 = Vector512.Round(a7 * c);
        c = Vector512.Create(-Ln2Hi);
        a0 = Vector512.FusedMultiplyAdd(n0, c, a0);
        a1 = Vector512.FusedMultiplyAdd(n1, c, a1);
        a2 = Vector512.FusedMultiplyAdd(n2, c, a2);
        a3 = Vector512.FusedMultiplyAdd(n3, c, a3);
        a4 = Vector512.FusedMultiplyAdd(n4, c, a4);
        a5 = Vector512.FusedMultiplyAdd(n5, c, a5);
        a6 = Vector512.FusedMultiplyAdd(n6, c, a6);
        a7 = Vector512.FusedMultiplyAdd(n7, c, a7);
        c = Vector512.Create(-Ln2Lo);
        a0 = Vector512.FusedMultiplyAdd(n0, c, a0);
        a1 = Vector512.FusedMultiplyAdd(n1, c, a1);
        a2 = Vector512.FusedMultiplyAdd(n2, c, a2);
        a3 = Vector512.FusedMultiplyAdd(n3, c, a3);
        a4 = Vector512.FusedMultiplyAdd(n4, c, a4);
        a5 = Vector512.FusedMultiplyAdd(n5, c, a5);
        a6 = Vector512.FusedMultiplyAdd(n6, c, a6);
        a7 = Vector512.FusedMultiplyAdd(n7, c, a7);
        c = Vector512.Create(P6);
        Vector512<float> p0 = Vector512.FusedMultiplyAdd(Vector512.Create(P7), a0, c);
        Vector512<float> p1 = Vector512.FusedMultiplyAdd(Vector512.Create(P7), a1, c);
        Vector512<float> p2 = Vector512.FusedMultiplyAdd(Vector512.Create(P7), a2, c);
        Vector512<float> p3 = Vector512.FusedMultiplyAdd(Vector512.Create(P7), a3, c);
        Vector512<float> p4 = Vector512.FusedMultiplyAdd(Vector512.Create(P7), a4, c);
        Vector512<float> p5 = Vector512.FusedMultiplyAdd(Vector512.Create(P7), a5, c);
        Vector512<float> p6 = Vector512.FusedMultiplyAdd(Vector512.Create(P7), a6, c);
        Vector512<float> p7 = Vector512.FusedMultiplyAdd(Vector512.Create(P7), a7, c);
        c = Vector512.Create(P5);
        p0 = Vector512.FusedMultiplyAdd(p0, a0, c);
        p1 = Vector512.FusedMultiplyAdd(p1, a1, c);
        p2 = Vector512.FusedMultiplyAdd(p2, a2, c);
        p3 = Vector512.FusedMultiplyAdd(p3, a3, c);
        p4 = Vector512.FusedMultiplyAdd(p4, a4, c);
        p5 = Vector512.FusedMultiplyAdd(p5, a5, c);
        p6 = Vector512.FusedMultiplyAdd(p6, a6, c);
        p7 = Vector512.FusedMultiplyAdd(p7, a7, c);
        c = Vector512.Create(P4);
        p0 = Vector512.FusedMultiplyAdd(p0, a0, c);
        p1 = Vector512.FusedMultiplyAdd(p1, a1, c);
        p2 = Vector512.FusedMultiplyAdd(p2, a2, c);
        p3 = Vector512.FusedMultiplyAdd(p3, a3, c);
        p4 = Vector512.FusedMultiplyAdd(p4, a4, c);
        p5 = Vector512.FusedMultiplyAdd(p5, a5, c);
        p6 = Vector512.FusedMultiplyAdd(p6, a6, c);
        p7 = Vector512.FusedMultiplyAdd(p7, a7, c);
        c = Vector512.Create(P3);
        p0 = Vector512.FusedMultiplyAdd(p0, a0, c);
        p1 = Vector512.FusedMultiplyAdd(p1, a1, c);
        p2 = Vector512.FusedMultiplyAdd(p2, a2, c);
        p3 = Vector512.FusedMultiplyAdd(p3, a3, c);
        p4 = Vector512.FusedMultiplyAdd(p4, a4, c);
        p5 = Vector512.FusedMultiplyAdd(p5, a5, c);
        p6 = Vector512.FusedMultiplyAdd(p6, a6, c);
        p7 = Vector512.FusedMultiplyAdd(p7, a7, c);
        c = Vector512.Create(P2);
        p0 = Vector512.FusedMultiplyAdd(p0, a0, c);
        p1 = Vector512.FusedMultiplyAdd(p1, a1, c);
        p2 = Vector512.FusedMultiplyAdd(p2, a2, c);
        p3 = Vector512.FusedMultiplyAdd(p3, a3, c);
        p4 = Vector512.FusedMultiplyAdd(p4, a4, c);
        p5 = Vector512.FusedMultiplyAdd(p5, a5, c);
        p6 = Vector512.FusedMultiplyAdd(p6, a6, c);
        p7 = Vector512.FusedMultiplyAdd(p7, a7, c);
        c = Vector512<float>.One;
        p0 = Vector512.FusedMultiplyAdd(p0, a0, c);
        p1 = Vector512.FusedMultiplyAdd(p1, a1, c);
        p2 = Vector512.FusedMultiplyAdd(p2, a2, c);
        p3 = Vector512.FusedMultiplyAdd(p3, a3, c);
        p4 = Vector512.FusedMultiplyAdd(p4, a4, c);
        p5 = Vector512.FusedMultiplyAdd(p5, a5, c);
        p6 = Vector512.FusedMultiplyAdd(p6, a6, c);
        p7 = Vector512.FusedMultiplyAdd(p7, a7, c);
        p0 = Vector512.FusedMultiplyAdd(p0, a0, c);
        p1 = Vector512.FusedMultiplyAdd(p1, a1, c);
        p2 = Vector512.FusedMultiplyAdd(p2, a2, c);
        p3 = Vector512.FusedMultiplyAdd(p3, a3, c);
        p4 = Vector512.FusedMultiplyAdd(p4, a4, c);
        p5 = Vector512.FusedMultiplyAdd(p5, a5, c);
        p6 = Vector512.FusedMultiplyAdd(p6, a6, c);
        p7 = Vector512.FusedMultiplyAdd(p7, a7, c);
        p0 = Avx512F.Scale(p0, n0);
        p1 = Avx512F.Scale(p1, n1);
        p2 = Avx512F.Scale(p2, n2);
        p3 = Avx512F.Scale(p3, n3);
        p4 = Avx512F.Scale(p4, n4);
        p5 = Avx512F.Scale(p5, n5);
        p6 = Avx512F.Scale(p6, n6);
        p7 = Avx512F.Scale(p7, n7);
        c = Vector512.Create(2f);
        p0 = (p0 + p0) / (c + p0);
        p1 = (p1 + p1) / (c + p1);
        p2 = (p2 + p2) / (c + p2);
        p3 = (p3 + p3) / (c + p3);
        p4 = (p4 + p4) / (c + p4);
        p5 = (p5 + p5) / (c + p5);
        p6 = (p6 + p6) / (c + p6);
        p7 = (p7 + p7) / (c + p7);
        c = Vector512.Create(0.5f);
        n0 = c * p0;
        n1 = c * p1;
        n2 = c * p2;
        n3 = c * p3;
        n4 = c * p4;
        n5 = c * p5;
        n6 = c * p6;
        n7 = c * p7;
        n0 *= n0;
        n1 *= n1;
        n2 *= n2;
        n3 *= n3;
        n4 *= n4;
        n5 *= n5;
        n6 *= n6;
        n7 *= n7;
        c = Vector512.Create(L13);
        a0 = Vector512.FusedMultiplyAdd(Vector512.Create(L15), n0, c);
        a1 = Vector512.FusedMultiplyAdd(Vector512.Create(L15), n1, c);
        a2 = Vector512.FusedMultiplyAdd(Vector512.Create(L15), n2, c);
        a3 = Vector512.FusedMultiplyAdd(Vector512.Create(L15), n3, c);
        a4 = Vector512.FusedMultiplyAdd(Vector512.Create(L15), n4, c);
        a5 = Vector512.FusedMultiplyAdd(Vector512.Create(L15), n5, c);
        a6 = Vector512.FusedMultiplyAdd(Vector512.Create(L15), n6, c);
        a7 = Vector512.FusedMultiplyAdd(Vector512.Create(L15), n7, c);
        c = Vector512.Create(L11);
        a0 = Vector512.FusedMultiplyAdd(a0, n0, c);
        a1 = Vector512.FusedMultiplyAdd(a1, n1, c);
        a2 = Vector512.FusedMultiplyAdd(a2, n2, c);
        a3 = Vector512.FusedMultiplyAdd(a3, n3, c);
        a4 = Vector512.FusedMultiplyAdd(a4, n4, c);
        a5 = Vector512.FusedMultiplyAdd(a5, n5, c);
        a6 = Vector512.FusedMultiplyAdd(a6, n6, c);
        a7 = Vector512.FusedMultiplyAdd(a7, n7, c);
        c = Vector512.Create(L9);
        a0 = Vector512.FusedMultiplyAdd(a0, n0, c);
        a1 = Vector512.FusedMultiplyAdd(a1, n1, c);
        a2 = Vector512.FusedMultiplyAdd(a2, n2, c);
        a3 = Vector512.FusedMultiplyAdd(a3, n3, c);
        a4 = Vector512.FusedMultiplyAdd(a4, n4, c);
        a5 = Vector512.FusedMultiplyAdd(a5, n5, c);
        a6 = Vector512.FusedMultiplyAdd(a6, n6, c);
        a7 = Vector512.FusedMultiplyAdd(a7, n7, c);
        c = Vector512.Create(L7);
        a0 = Vector512.FusedMultiplyAdd(a0, n0, c);
        a1 = Vector512.FusedMultiplyAdd(a1, n1, c);
        a2 = Vector512.FusedMultiplyAdd(a2, n2, c);
        a3 = Vector512.FusedMultiplyAdd(a3, n3, c);
        a4 = Vector512.FusedMultiplyAdd(a4, n4, c);
        a5 = Vector512.FusedMultiplyAdd(a5, n5, c);
        a6 = Vector512.FusedMultiplyAdd(a6, n6, c);
        a7 = Vector512.FusedMultiplyAdd(a7, n7, c);
        c = Vector512.Create(L5);
        a0 = Vector512.FusedMultiplyAdd(a0, n0, c);
        a1 = Vector512.FusedMultiplyAdd(a1, n1, c);
        a2 = Vector512.FusedMultiplyAdd(a2, n2, c);
        a3 = Vector512.FusedMultiplyAdd(a3, n3, c);
        a4 = Vector512.FusedMultiplyAdd(a4, n4, c);
        a5 = Vector512.FusedMultiplyAdd(a5, n5, c);
        a6 = Vector512.FusedMultiplyAdd(a6, n6, c);
        a7 = Vector512.FusedMultiplyAdd(a7, n7, c);
        c = Vector512.Create(L3);
        a0 = Vector512.FusedMultiplyAdd(a0, n0, c);
        a1 = Vector512.FusedMultiplyAdd(a1, n1, c);
        a2 = Vector512.FusedMultiplyAdd(a2, n2, c);
        a3 = Vector512.FusedMultiplyAdd(a3, n3, c);
        a4 = Vector512.FusedMultiplyAdd(a4, n4, c);
        a5 = Vector512.FusedMultiplyAdd(a5, n5, c);
        a6 = Vector512.FusedMultiplyAdd(a6, n6, c);
        a7 = Vector512.FusedMultiplyAdd(a7, n7, c);
        a0 = Vector512.FusedMultiplyAdd(p0 * n0, a0, p0);
        a1 = Vector512.FusedMultiplyAdd(p1 * n1, a1, p1);
        a2 = Vector512.FusedMultiplyAdd(p2 * n2, a2, p2);
        a3 = Vector512.FusedMultiplyAdd(p3 * n3, a3, p3);
        a4 = Vector512.FusedMultiplyAdd(p4 * n4, a4, p4);
        a5 = Vector512.FusedMultiplyAdd(p5 * n5, a5, p5);
        a6 = Vector512.FusedMultiplyAdd(p6 * n6, a6, p6);
        a7 = Vector512.FusedMultiplyAdd(p7 * n7, a7, p7);

        accA += PositivePart(x0) + a0;
        accA += PositivePart(x1) + a1;
        accA += PositivePart(x2) + a2;
        accA += PositivePart(x3) + a3;
        accB += PositivePart(x4) + a4;
        accB += PositivePart(x5) + a5;
        accB += PositivePart(x6) + a6;
        accB += PositivePart(x7) + a7;
    }

    /// <summary>
    /// <c>max(x, 0)</c> as one <c>vmaxps</c> (which returns its second operand, x, when either is NaN): the bits of
    /// <see cref="Vector512.Max{T}(Vector512{T}, Vector512{T})"/> except -0 for x = -0, where the softplus adds log1p(1)
    /// and the sum is the same.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> PositivePart(Vector512<float> x) => Avx512F.Max(Vector512<float>.Zero, x);
}
