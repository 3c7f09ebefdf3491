using System;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Aced.Models.Layers;

/// <summary>Per-row math of the non-GEMM layers (layer norm, GELU, softmax); each call touches one row only.</summary>
internal static class RowMath
{
    /// <summary>Layer-norm epsilon (big_vision / flax default).</summary>
    public const float LayerNormEpsilon = 1e-6f;

    private const float GeluC = 0.7978845608028654f; // sqrt(2/pi)
    private const float GeluA = 0.044715f;

    /// <summary>y = (x - mean) * rstd * gamma + beta; returns (mean, rstd) with rstd = 1/sqrt(var + eps), var biased.</summary>
    public static (float Mean, float Rstd) LayerNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, Span<float> y)
    {
        int d = x.Length;
        float mean = TensorPrimitives.Sum(x) / d;
        float ss = 0f;
        for (int i = 0; i < d; i++)
        {
            float c = x[i] - mean;
            ss += c * c;
        }

        float rstd = 1f / MathF.Sqrt((ss / d) + LayerNormEpsilon);
        for (int i = 0; i < d; i++)
        {
            y[i] = ((x[i] - mean) * rstd * gamma[i]) + beta[i];
        }

        return (mean, rstd);
    }

    /// <summary>
    /// dx += rstd * (dn - mean(dn) - xhat * mean(dn * xhat)) with dn = dy * gamma, xhat = (x - mean) * rstd;
    /// dgamma += dy * xhat, dbeta += dy.
    /// </summary>
    public static void LayerNormBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, float mean, float rstd, ReadOnlySpan<float> dy, Span<float> dx, Span<float> dgamma, Span<float> dbeta)
    {
        int d = x.Length;
        float sumDn = 0f;
        float sumDnXhat = 0f;
        for (int i = 0; i < d; i++)
        {
            float xhat = (x[i] - mean) * rstd;
            float dn = dy[i] * gamma[i];
            sumDn += dn;
            sumDnXhat += dn * xhat;
            dgamma[i] += dy[i] * xhat;
            dbeta[i] += dy[i];
        }

        float meanDn = sumDn / d;
        float meanDnXhat = sumDnXhat / d;
        for (int i = 0; i < d; i++)
        {
            float xhat = (x[i] - mean) * rstd;
            float dn = dy[i] * gamma[i];
            dx[i] += rstd * (dn - meanDn - (xhat * meanDnXhat));
        }
    }

    /// <summary>
    /// GELU, tanh approximation: g = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), evaluated as
    /// g = x / (1 + exp(-2u)) in one vectorised pass (exp overflow gives the exact limits 0 and x).
    /// </summary>
    public static void Gelu(ReadOnlySpan<float> x, Span<float> g)
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float gr = ref MemoryMarshal.GetReference(g);
        int n = x.Length;
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> c512 = Vector512.Create(-2f * GeluC);
            Vector512<float> a512 = Vector512.Create(GeluA);
            for (; i + 16 <= n; i += 16)
            {
                Vector512<float> xv = Vector512.LoadUnsafe(ref xr, (nuint)i);
                Vector512<float> e = Vector512.Exp(c512 * xv * Vector512.FusedMultiplyAdd(a512 * xv, xv, Vector512<float>.One));
                (xv / (Vector512<float>.One + e)).StoreUnsafe(ref gr, (nuint)i);
            }
        }

        int w = Vector256<float>.Count;
        Vector256<float> c2 = Vector256.Create(-2f * GeluC);
        Vector256<float> a = Vector256.Create(GeluA);
        for (; i + w <= n; i += w)
        {
            Vector256<float> xv = Vector256.LoadUnsafe(ref xr, (nuint)i);
            Vector256<float> e = Vector256.Exp(c2 * xv * Vector256.FusedMultiplyAdd(a * xv, xv, Vector256<float>.One));
            (xv / (Vector256<float>.One + e)).StoreUnsafe(ref gr, (nuint)i);
        }

        for (; i < n; i++)
        {
            float xv = Unsafe.Add(ref xr, i);
            float e = MathF.Exp(-2f * GeluC * xv * (1f + (GeluA * xv * xv)));
            Unsafe.Add(ref gr, i) = xv / (1f + e);
        }
    }

    /// <summary>
    /// dx = dg * GELU'(x) with GELU'(x) = 0.5 (1 + th) + 0.5 x (1 - th^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2),
    /// th = tanh(u) = 2 s - 1 and s = 1 / (1 + exp(-2u)); <paramref name="dg"/> and <paramref name="dx"/> may alias.
    /// </summary>
    public static void GeluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dg, Span<float> dx)
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float dgr = ref MemoryMarshal.GetReference(dg);
        ref float dxr = ref MemoryMarshal.GetReference(dx);
        int n = x.Length;
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> one5 = Vector512<float>.One;
            Vector512<float> half5 = Vector512.Create(0.5f);
            Vector512<float> c5 = Vector512.Create(GeluC);
            Vector512<float> m5 = Vector512.Create(-2f * GeluC);
            Vector512<float> a5 = Vector512.Create(GeluA);
            Vector512<float> b5 = Vector512.Create(3f * GeluA);
            for (; i + 16 <= n; i += 16)
            {
                Vector512<float> xv = Vector512.LoadUnsafe(ref xr, (nuint)i);
                Vector512<float> x2 = xv * xv;
                Vector512<float> sg = one5 / (one5 + Vector512.Exp(m5 * xv * Vector512.FusedMultiplyAdd(a5, x2, one5)));
                // 0.5 (1 + th) = sg and 1 - th^2 = 4 sg (1 - sg), with th = 2 sg - 1.
                Vector512<float> local = sg + (half5 * xv * (4f * sg * (one5 - sg)) * c5 * Vector512.FusedMultiplyAdd(b5, x2, one5));
                (Vector512.LoadUnsafe(ref dgr, (nuint)i) * local).StoreUnsafe(ref dxr, (nuint)i);
            }
        }

        int w = Vector256<float>.Count;
        Vector256<float> one = Vector256<float>.One;
        Vector256<float> two = Vector256.Create(2f);
        Vector256<float> half = Vector256.Create(0.5f);
        Vector256<float> c = Vector256.Create(GeluC);
        Vector256<float> c2 = Vector256.Create(-2f * GeluC);
        Vector256<float> a = Vector256.Create(GeluA);
        Vector256<float> a3 = Vector256.Create(3f * GeluA);
        for (; i + w <= n; i += w)
        {
            Vector256<float> xv = Vector256.LoadUnsafe(ref xr, (nuint)i);
            Vector256<float> x2 = xv * xv;
            Vector256<float> sg = one / (one + Vector256.Exp(c2 * xv * Vector256.FusedMultiplyAdd(a, x2, one)));
            Vector256<float> th = (two * sg) - one;
            Vector256<float> local = (half * (one + th)) + (half * xv * (one - (th * th)) * c * Vector256.FusedMultiplyAdd(a3, x2, one));
            (Vector256.LoadUnsafe(ref dgr, (nuint)i) * local).StoreUnsafe(ref dxr, (nuint)i);
        }

        for (; i < n; i++)
        {
            float xv = Unsafe.Add(ref xr, i);
            float th = MathF.Tanh(GeluC * xv * (1f + (GeluA * xv * xv)));
            float local = (0.5f * (1f + th)) + (0.5f * xv * (1f - (th * th)) * GeluC * (1f + (3f * GeluA * xv * xv)));
            Unsafe.Add(ref dxr, i) = Unsafe.Add(ref dgr, i) * local;
        }
    }

    /// <summary>In-place softmax of the first <paramref name="valid"/> entries of <paramref name="row"/> (max-shifted); the rest are set to 0.</summary>
    public static void SoftmaxPrefix(Span<float> row, int valid)
    {
        ref float r = ref MemoryMarshal.GetReference(row);
        int w = Vector256<float>.Count;
        int i = 0;
        float max = float.NegativeInfinity;
        if (valid >= w)
        {
            Vector256<float> mv = Vector256.Create(float.NegativeInfinity);
            for (; i + w <= valid; i += w)
            {
                mv = Vector256.Max(mv, Vector256.LoadUnsafe(ref r, (nuint)i));
            }

            Vector128<float> m4 = Vector128.Max(mv.GetLower(), mv.GetUpper());
            max = MathF.Max(MathF.Max(m4[0], m4[1]), MathF.Max(m4[2], m4[3]));
        }

        for (; i < valid; i++)
        {
            max = MathF.Max(max, Unsafe.Add(ref r, i));
        }

        i = 0;
        Vector256<float> shift = Vector256.Create(max);
        Vector256<float> sv = Vector256<float>.Zero;
        for (; i + w <= valid; i += w)
        {
            Vector256<float> e = Vector256.Exp(Vector256.LoadUnsafe(ref r, (nuint)i) - shift);
            e.StoreUnsafe(ref r, (nuint)i);
            sv += e;
        }

        float sum = Vector256.Sum(sv);
        for (; i < valid; i++)
        {
            float e = MathF.Exp(Unsafe.Add(ref r, i) - max);
            Unsafe.Add(ref r, i) = e;
            sum += e;
        }

        float inv = 1f / sum;
        Vector256<float> iv = Vector256.Create(inv);
        i = 0;
        for (; i + w <= valid; i += w)
        {
            (Vector256.LoadUnsafe(ref r, (nuint)i) * iv).StoreUnsafe(ref r, (nuint)i);
        }

        for (; i < valid; i++)
        {
            Unsafe.Add(ref r, i) *= inv;
        }

        row.Slice(valid).Clear();
    }

    /// <summary>Softmax backward in place: ds = p * (dp - sum(p * dp)).</summary>
    public static void SoftmaxBackward(ReadOnlySpan<float> p, Span<float> dpToDs)
    {
        ref float pr = ref MemoryMarshal.GetReference(p);
        ref float dr = ref MemoryMarshal.GetReference(dpToDs);
        int n = p.Length;
        int w = Vector256<float>.Count;
        int i = 0;
        Vector256<float> acc = Vector256<float>.Zero;
        for (; i + w <= n; i += w)
        {
            acc = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref pr, (nuint)i), Vector256.LoadUnsafe(ref dr, (nuint)i), acc);
        }

        float dot = Vector256.Sum(acc);
        for (; i < n; i++)
        {
            dot += Unsafe.Add(ref pr, i) * Unsafe.Add(ref dr, i);
        }

        Vector256<float> dv = Vector256.Create(dot);
        i = 0;
        for (; i + w <= n; i += w)
        {
            ((Vector256.LoadUnsafe(ref dr, (nuint)i) - dv) * Vector256.LoadUnsafe(ref pr, (nuint)i)).StoreUnsafe(ref dr, (nuint)i);
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref dr, i) = (Unsafe.Add(ref dr, i) - dot) * Unsafe.Add(ref pr, i);
        }
    }
}
