using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Aced.Core;

namespace Aced.BlasProbe;

/// <summary>Scratch: GELU loop variants for diagnosis (not bit-exact).</summary>
internal static class GeluVariants
{
    private const float GeluC = 0.7978845608028654f;
    private const float GeluA = 0.044715f;

    public static void Full(ReadOnlySpan<float> x, Span<float> g)
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float gr = ref MemoryMarshal.GetReference(g);
        Vector256<float> c2 = Vector256.Create(-2f * GeluC);
        Vector256<float> a = Vector256.Create(GeluA);
        for (int i = 0; i + 8 <= x.Length; i += 8)
        {
            Vector256<float> xv = Vector256.LoadUnsafe(ref xr, (nuint)i);
            Vector256<float> e = VectorMath.Exp(c2 * xv * Vector256.FusedMultiplyAdd(a * xv, xv, Vector256<float>.One));
            (xv / (Vector256<float>.One + e)).StoreUnsafe(ref gr, (nuint)i);
        }
    }

    public static void NoDiv(ReadOnlySpan<float> x, Span<float> g)
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float gr = ref MemoryMarshal.GetReference(g);
        Vector256<float> c2 = Vector256.Create(-2f * GeluC);
        Vector256<float> a = Vector256.Create(GeluA);
        for (int i = 0; i + 8 <= x.Length; i += 8)
        {
            Vector256<float> xv = Vector256.LoadUnsafe(ref xr, (nuint)i);
            Vector256<float> e = VectorMath.Exp(c2 * xv * Vector256.FusedMultiplyAdd(a * xv, xv, Vector256<float>.One));
            (xv * (Vector256<float>.One + e)).StoreUnsafe(ref gr, (nuint)i);
        }
    }

    public static void ExpOnly(ReadOnlySpan<float> x, Span<float> g)
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float gr = ref MemoryMarshal.GetReference(g);
        for (int i = 0; i + 8 <= x.Length; i += 8)
        {
            VectorMath.Exp(Vector256.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref gr, (nuint)i);
        }
    }

    public static void DivOnly(ReadOnlySpan<float> x, Span<float> g)
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float gr = ref MemoryMarshal.GetReference(g);
        for (int i = 0; i + 8 <= x.Length; i += 8)
        {
            Vector256<float> xv = Vector256.LoadUnsafe(ref xr, (nuint)i);
            (xv / (Vector256<float>.One + xv * xv)).StoreUnsafe(ref gr, (nuint)i);
        }
    }

    public static void PolyOnly(ReadOnlySpan<float> x, Span<float> g)
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float gr = ref MemoryMarshal.GetReference(g);
        for (int i = 0; i + 8 <= x.Length; i += 8)
        {
            VectorMath.ExpPolynomial(Vector256.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref gr, (nuint)i);
        }
    }
}
