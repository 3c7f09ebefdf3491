using System;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Aced.Core;

namespace Aced.Models.Layers;

/// <summary>Per-row math of the non-GEMM layers (layer norm, GELU, softmax); each call touches one row only.</summary>
internal static class RowMath
{
    /// <summary>Layer-norm epsilon (big_vision / flax default).</summary>
    public const float LayerNormEpsilon = 1e-6f;

    private const float GeluC = 0.7978845608028654f; // sqrt(2/pi)
    private const float GeluA = 0.044715f;

    /// <summary>
    /// y = (x - mean) * rstd * gamma + beta; returns (mean, rstd) with rstd = 1/sqrt(var + eps), var biased (two passes:
    /// the mean, then the squared deviations from it). The squared deviations are summed in eight Vector256 lanes (lane
    /// j takes elements j, j + 8, ...) reduced by <see cref="VectorMath.HorizontalSum(Vector256{float})"/>, then the
    /// scalar tail, so the bits do not depend on the AVX-512 / AVX2 choice; the element-wise pass gives every element
    /// the same operations.
    /// </summary>
    public static (float Mean, float Rstd) LayerNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, Span<float> y)
    {
        int d = x.Length;
        float mean = TensorPrimitives.Sum(x) / d;
        ref float xr = ref MemoryMarshal.GetReference(x);
        int w = Vector256<float>.Count;
        int i = 0;
        Vector256<float> mv = Vector256.Create(mean);
        Vector256<float> acc = Vector256<float>.Zero;
        for (; i + w <= d; i += w)
        {
            Vector256<float> c = Vector256.LoadUnsafe(ref xr, (nuint)i) - mv;
            acc += c * c;
        }

        float ss = (float)VectorMath.HorizontalSum(acc);
        for (; i < d; i++)
        {
            float c = Unsafe.Add(ref xr, i) - mean;
            ss += c * c;
        }

        float rstd = 1f / MathF.Sqrt((ss / d) + LayerNormEpsilon);
        ref float gr = ref MemoryMarshal.GetReference(gamma);
        ref float br = ref MemoryMarshal.GetReference(beta);
        ref float yr = ref MemoryMarshal.GetReference(y);
        Vector256<float> rv = Vector256.Create(rstd);
        i = 0;
        for (; i + w <= d; i += w)
        {
            Vector256<float> xhat = (Vector256.LoadUnsafe(ref xr, (nuint)i) - mv) * rv;
            ((xhat * Vector256.LoadUnsafe(ref gr, (nuint)i)) + Vector256.LoadUnsafe(ref br, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
        }

        for (; i < d; i++)
        {
            Unsafe.Add(ref yr, i) = ((Unsafe.Add(ref xr, i) - mean) * rstd * Unsafe.Add(ref gr, i)) + Unsafe.Add(ref br, i);
        }

        return (mean, rstd);
    }

    /// <summary>
    /// <see cref="LayerNorm"/> of two rows at once: <paramref name="y0"/> and <paramref name="y1"/> get exactly the values,
    /// and the returned statistics exactly the bits, of two <see cref="LayerNorm"/> calls (every row keeps its own
    /// operations in the same order); the rows' passes are interleaved, so the two dependency chains (sum, squared
    /// deviations, reduction, square root, normalisation) overlap instead of running one after the other.
    /// </summary>
    public static (float Mean0, float Rstd0, float Mean1, float Rstd1) LayerNormPair(ReadOnlySpan<float> x0, ReadOnlySpan<float> x1, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, Span<float> y0, Span<float> y1)
    {
        int d = x0.Length;
        if (x1.Length != d || gamma.Length < d || beta.Length < d || y0.Length < d || y1.Length < d)
        {
            Guard.ThrowArgument(nameof(x1), "the rows, gamma, beta and the outputs must have the rows' length");
        }

        float mean0 = TensorPrimitives.Sum(x0) / d;
        float mean1 = TensorPrimitives.Sum(x1) / d;
        ref float x0r = ref MemoryMarshal.GetReference(x0);
        ref float x1r = ref MemoryMarshal.GetReference(x1);
        int w = Vector256<float>.Count;
        int i = 0;
        Vector256<float> mv0 = Vector256.Create(mean0);
        Vector256<float> mv1 = Vector256.Create(mean1);
        Vector256<float> acc0 = Vector256<float>.Zero;
        Vector256<float> acc1 = Vector256<float>.Zero;
        for (; i + w <= d; i += w)
        {
            Vector256<float> c0 = Vector256.LoadUnsafe(ref x0r, (nuint)i) - mv0;
            Vector256<float> c1 = Vector256.LoadUnsafe(ref x1r, (nuint)i) - mv1;
            acc0 += c0 * c0;
            acc1 += c1 * c1;
        }

        float ss0 = (float)VectorMath.HorizontalSum(acc0);
        float ss1 = (float)VectorMath.HorizontalSum(acc1);
        int tail = i;
        for (; i < d; i++)
        {
            float c0 = Unsafe.Add(ref x0r, i) - mean0;
            float c1 = Unsafe.Add(ref x1r, i) - mean1;
            ss0 += c0 * c0;
            ss1 += c1 * c1;
        }

        float rstd0 = 1f / MathF.Sqrt((ss0 / d) + LayerNormEpsilon);
        float rstd1 = 1f / MathF.Sqrt((ss1 / d) + LayerNormEpsilon);
        ref float gr = ref MemoryMarshal.GetReference(gamma);
        ref float br = ref MemoryMarshal.GetReference(beta);
        ref float y0r = ref MemoryMarshal.GetReference(y0);
        ref float y1r = ref MemoryMarshal.GetReference(y1);
        Vector256<float> rv0 = Vector256.Create(rstd0);
        Vector256<float> rv1 = Vector256.Create(rstd1);
        for (i = 0; i < tail; i += w)
        {
            Vector256<float> g = Vector256.LoadUnsafe(ref gr, (nuint)i);
            Vector256<float> b = Vector256.LoadUnsafe(ref br, (nuint)i);
            Vector256<float> xhat0 = (Vector256.LoadUnsafe(ref x0r, (nuint)i) - mv0) * rv0;
            Vector256<float> xhat1 = (Vector256.LoadUnsafe(ref x1r, (nuint)i) - mv1) * rv1;
            ((xhat0 * g) + b).StoreUnsafe(ref y0r, (nuint)i);
            ((xhat1 * g) + b).StoreUnsafe(ref y1r, (nuint)i);
        }

        for (; i < d; i++)
        {
            Unsafe.Add(ref y0r, i) = ((Unsafe.Add(ref x0r, i) - mean0) * rstd0 * Unsafe.Add(ref gr, i)) + Unsafe.Add(ref br, i);
            Unsafe.Add(ref y1r, i) = ((Unsafe.Add(ref x1r, i) - mean1) * rstd1 * Unsafe.Add(ref gr, i)) + Unsafe.Add(ref br, i);
        }

        return (mean0, rstd0, mean1, rstd1);
    }

    /// <summary>
    /// dx += rstd * (dn - mean(dn) - xhat * mean(dn * xhat)) with dn = dy * gamma, xhat = (x - mean) * rstd;
    /// dgamma += dy * xhat, dbeta += dy. The two row sums run in eight Vector256 lanes reduced in a fixed order, then the
    /// scalar tail (as in <see cref="LayerNorm"/>); every element-wise update gets the same operations.
    /// </summary>
    public static void LayerNormBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, float mean, float rstd, ReadOnlySpan<float> dy, Span<float> dx, Span<float> dgamma, Span<float> dbeta)
    {
        int d = x.Length;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float gr = ref MemoryMarshal.GetReference(gamma);
        ref float dyr = ref MemoryMarshal.GetReference(dy);
        ref float dxr = ref MemoryMarshal.GetReference(dx);
        ref float dgr = ref MemoryMarshal.GetReference(dgamma);
        ref float dbr = ref MemoryMarshal.GetReference(dbeta);
        int w = Vector256<float>.Count;
        Vector256<float> mv = Vector256.Create(mean);
        Vector256<float> rv = Vector256.Create(rstd);
        Vector256<float> accDn = Vector256<float>.Zero;
        Vector256<float> accDnXhat = Vector256<float>.Zero;
        int i = 0;
        for (; i + w <= d; i += w)
        {
            Vector256<float> xhat = (Vector256.LoadUnsafe(ref xr, (nuint)i) - mv) * rv;
            Vector256<float> dyv = Vector256.LoadUnsafe(ref dyr, (nuint)i);
            Vector256<float> dn = dyv * Vector256.LoadUnsafe(ref gr, (nuint)i);
            accDn += dn;
            accDnXhat += dn * xhat;
            (Vector256.LoadUnsafe(ref dgr, (nuint)i) + (dyv * xhat)).StoreUnsafe(ref dgr, (nuint)i);
            (Vector256.LoadUnsafe(ref dbr, (nuint)i) + dyv).StoreUnsafe(ref dbr, (nuint)i);
        }

        float sumDn = (float)VectorMath.HorizontalSum(accDn);
        float sumDnXhat = (float)VectorMath.HorizontalSum(accDnXhat);
        int tail = i;
        for (; i < d; i++)
        {
            float xhat = (Unsafe.Add(ref xr, i) - mean) * rstd;
            float dyi = Unsafe.Add(ref dyr, i);
            float dn = dyi * Unsafe.Add(ref gr, i);
            sumDn += dn;
            sumDnXhat += dn * xhat;
            Unsafe.Add(ref dgr, i) += dyi * xhat;
            Unsafe.Add(ref dbr, i) += dyi;
        }

        float meanDn = sumDn / d;
        float meanDnXhat = sumDnXhat / d;
        Vector256<float> meanDnV = Vector256.Create(meanDn);
        Vector256<float> meanDnXhatV = Vector256.Create(meanDnXhat);
        for (i = 0; i < tail; i += w)
        {
            Vector256<float> xhat = (Vector256.LoadUnsafe(ref xr, (nuint)i) - mv) * rv;
            Vector256<float> dn = Vector256.LoadUnsafe(ref dyr, (nuint)i) * Vector256.LoadUnsafe(ref gr, (nuint)i);
            (Vector256.LoadUnsafe(ref dxr, (nuint)i) + (rv * (dn - meanDnV - (xhat * meanDnXhatV)))).StoreUnsafe(ref dxr, (nuint)i);
        }

        for (; i < d; i++)
        {
            float xhat = (Unsafe.Add(ref xr, i) - mean) * rstd;
            float dn = Unsafe.Add(ref dyr, i) * Unsafe.Add(ref gr, i);
            Unsafe.Add(ref dxr, i) += rstd * (dn - meanDn - (xhat * meanDnXhat));
        }
    }

    /// <summary>
    /// A dense layer's epilogue row in one pass: y = product + bias (+ residual when not empty), then, when
    /// <paramref name="gelu"/> is not empty, gelu = GELU(y) exactly as <see cref="Gelu"/> computes it. The same IEEE
    /// operations per element as <c>TensorPrimitives.Add</c> (twice with a residual: (p + b) + r) followed by
    /// <see cref="Gelu"/>, so the bits are those of the separate passes; this form reads the tile row once and makes
    /// no per-row library calls.
    /// </summary>
    public static void BiasRow(ReadOnlySpan<float> product, ReadOnlySpan<float> bias, ReadOnlySpan<float> residual, Span<float> y, Span<float> gelu)
    {
        int n = product.Length;
        if (bias.Length != n || y.Length != n || (!residual.IsEmpty && residual.Length != n) || (!gelu.IsEmpty && gelu.Length != n))
        {
            Guard.ThrowArgument(nameof(product), "product, bias, residual, y and gelu must have one length");
        }

        ref float pr = ref MemoryMarshal.GetReference(product);
        ref float br = ref MemoryMarshal.GetReference(bias);
        ref float rr = ref MemoryMarshal.GetReference(residual);
        ref float yr = ref MemoryMarshal.GetReference(y);
        ref float gr = ref MemoryMarshal.GetReference(gelu);
        bool hasResidual = !residual.IsEmpty;
        bool hasGelu = !gelu.IsEmpty;
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> c512 = Vector512.Create(-2f * GeluC);
            Vector512<float> a512 = Vector512.Create(GeluA);
            for (; i + 16 <= n; i += 16)
            {
                Vector512<float> v = Vector512.LoadUnsafe(ref pr, (nuint)i) + Vector512.LoadUnsafe(ref br, (nuint)i);
                if (hasResidual)
                {
                    v += Vector512.LoadUnsafe(ref rr, (nuint)i);
                }

                v.StoreUnsafe(ref yr, (nuint)i);
                if (hasGelu)
                {
                    Vector512<float> e = VectorMath.Exp(c512 * v * Vector512.FusedMultiplyAdd(a512 * v, v, Vector512<float>.One));
                    (v / (Vector512<float>.One + e)).StoreUnsafe(ref gr, (nuint)i);
                }
            }
        }

        int w = Vector256<float>.Count;
        Vector256<float> c2 = Vector256.Create(-2f * GeluC);
        Vector256<float> a = Vector256.Create(GeluA);
        for (; i + w <= n; i += w)
        {
            Vector256<float> v = Vector256.LoadUnsafe(ref pr, (nuint)i) + Vector256.LoadUnsafe(ref br, (nuint)i);
            if (hasResidual)
            {
                v += Vector256.LoadUnsafe(ref rr, (nuint)i);
            }

            v.StoreUnsafe(ref yr, (nuint)i);
            if (hasGelu)
            {
                Vector256<float> e = VectorMath.Exp(c2 * v * Vector256.FusedMultiplyAdd(a * v, v, Vector256<float>.One));
                (v / (Vector256<float>.One + e)).StoreUnsafe(ref gr, (nuint)i);
            }
        }

        for (; i < n; i++)
        {
            float v = Unsafe.Add(ref pr, i) + Unsafe.Add(ref br, i);
            if (hasResidual)
            {
                v += Unsafe.Add(ref rr, i);
            }

            Unsafe.Add(ref yr, i) = v;
            if (hasGelu)
            {
                float e = VectorMath.Exp(-2f * GeluC * v * MathF.FusedMultiplyAdd(GeluA * v, v, 1f));
                Unsafe.Add(ref gr, i) = v / (1f + e);
            }
        }
    }

    /// <summary>
    /// GELU, tanh approximation: g = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), evaluated as
    /// g = x / (1 + exp(-2u)) with <see cref="VectorMath.Exp(float)"/> in one vectorised pass (exp overflow gives the
    /// exact limits -0 and x). Every element gets the same operations (vector body and scalar tail alike), so the bits
    /// do not depend on the element's position or on the available vector width.
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
                Vector512<float> e = VectorMath.Exp(c512 * xv * Vector512.FusedMultiplyAdd(a512 * xv, xv, Vector512<float>.One));
                (xv / (Vector512<float>.One + e)).StoreUnsafe(ref gr, (nuint)i);
            }
        }

        int w = Vector256<float>.Count;
        Vector256<float> c2 = Vector256.Create(-2f * GeluC);
        Vector256<float> a = Vector256.Create(GeluA);
        for (; i + w <= n; i += w)
        {
            Vector256<float> xv = Vector256.LoadUnsafe(ref xr, (nuint)i);
            Vector256<float> e = VectorMath.Exp(c2 * xv * Vector256.FusedMultiplyAdd(a * xv, xv, Vector256<float>.One));
            (xv / (Vector256<float>.One + e)).StoreUnsafe(ref gr, (nuint)i);
        }

        for (; i < n; i++)
        {
            float xv = Unsafe.Add(ref xr, i);
            float e = VectorMath.Exp(-2f * GeluC * xv * MathF.FusedMultiplyAdd(GeluA * xv, xv, 1f));
            Unsafe.Add(ref gr, i) = xv / (1f + e);
        }
    }

    /// <summary>
    /// dx = dg * GELU'(x) with GELU'(x) = 0.5 (1 + th) + 0.5 x (1 - th^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2),
    /// th = tanh(u) = 2 s - 1 and s = 1 / (1 + exp(-2u)) (<see cref="VectorMath.Exp(float)"/>), so 0.5 (1 + th) = s and
    /// 1 - th^2 = 4 s (1 - s); every element gets the same operations whatever the vector width.
    /// <paramref name="dg"/> and <paramref name="dx"/> may alias.
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
                Vector512<float> sg = one5 / (one5 + VectorMath.Exp(m5 * xv * Vector512.FusedMultiplyAdd(a5, x2, one5)));
                Vector512<float> local = sg + (half5 * xv * (4f * sg * (one5 - sg)) * c5 * Vector512.FusedMultiplyAdd(b5, x2, one5));
                (Vector512.LoadUnsafe(ref dgr, (nuint)i) * local).StoreUnsafe(ref dxr, (nuint)i);
            }
        }

        int w = Vector256<float>.Count;
        Vector256<float> one = Vector256<float>.One;
        Vector256<float> half = Vector256.Create(0.5f);
        Vector256<float> c = Vector256.Create(GeluC);
        Vector256<float> m = Vector256.Create(-2f * GeluC);
        Vector256<float> a = Vector256.Create(GeluA);
        Vector256<float> b = Vector256.Create(3f * GeluA);
        for (; i + w <= n; i += w)
        {
            Vector256<float> xv = Vector256.LoadUnsafe(ref xr, (nuint)i);
            Vector256<float> x2 = xv * xv;
            Vector256<float> sg = one / (one + VectorMath.Exp(m * xv * Vector256.FusedMultiplyAdd(a, x2, one)));
            Vector256<float> local = sg + (half * xv * (4f * sg * (one - sg)) * c * Vector256.FusedMultiplyAdd(b, x2, one));
            (Vector256.LoadUnsafe(ref dgr, (nuint)i) * local).StoreUnsafe(ref dxr, (nuint)i);
        }

        for (; i < n; i++)
        {
            float xv = Unsafe.Add(ref xr, i);
            float x2 = xv * xv;
            float sg = 1f / (1f + VectorMath.Exp(-2f * GeluC * xv * MathF.FusedMultiplyAdd(GeluA, x2, 1f)));
            float local = sg + (0.5f * xv * (4f * sg * (1f - sg)) * GeluC * MathF.FusedMultiplyAdd(3f * GeluA, x2, 1f));
            Unsafe.Add(ref dxr, i) = Unsafe.Add(ref dgr, i) * local;
        }
    }

    /// <summary>
    /// <see cref="GeluBackward"/> of one row followed by <paramref name="sums"/> += dx (element-wise; what
    /// <c>TensorPrimitives.Add(sums, dx, sums)</c> after the row computes, bit for bit), in one pass with the sums added
    /// while dx is still in registers, the AVX2 body software-pipelined (<see cref="GeluBackwardPipelined"/>).
    /// <paramref name="dg"/> and <paramref name="dx"/> may alias. With AVX-512 it is the two separate passes.
    /// </summary>
    public static void GeluBackwardRowSums(ReadOnlySpan<float> x, ReadOnlySpan<float> dg, Span<float> dx, Span<float> sums)
    {
        int n = x.Length;
        if (dg.Length != n || dx.Length != n || sums.Length != n)
        {
            Guard.ThrowArgument(nameof(x), "x, dg, dx and sums must have one length");
        }

        if (Vector512.IsHardwareAccelerated)
        {
            GeluBackward(x, dg, dx);
            TensorPrimitives.Add(sums, dx, sums);
            return;
        }

        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float dxr = ref MemoryMarshal.GetReference(dx);
        ref float sr = ref MemoryMarshal.GetReference(sums);
        int i = GeluBackwardPipelined(ref xr, ref MemoryMarshal.GetReference(dg), ref dxr, ref sr, n);
        if (i < n)
        {
            GeluBackward(x.Slice(i), dg.Slice(i), dx.Slice(i));
            for (; i < n; i++)
            {
                Unsafe.Add(ref sr, i) += Unsafe.Add(ref dxr, i);
            }
        }
    }

    /// <summary>
    /// The Vector256 body of <see cref="GeluBackwardRowSums"/> (from element 0) as a three-stage software
    /// pipeline: one iteration runs the exponential's argument and reduction of vector j + 2, its polynomial for vector
    /// j + 1, and the scale, sigmoid, derivative and store of vector j. Each element gets exactly the plain loop's
    /// operations (the stages are <see cref="VectorMath.Exp(Vector256{float})"/> cut apart), so the bits are the same;
    /// what changes is that one vector's ~130-cycle dependency chain (exponential, division, derivative) no longer fills
    /// the out-of-order window with operations waiting on it: each iteration's operations find their inputs computed an
    /// iteration earlier. sums[i] += dx[i] as each dx vector is stored. Returns the first element not done (rows of
    /// fewer than two vectors are left to the plain loop).
    /// </summary>
    private static int GeluBackwardPipelined(ref float xr, ref float dgr, ref float dxr, ref float sr, int n)
    {
        int i = 0;
        const int w = 8;
        if (n - i < 2 * w)
        {
            return i;
        }

        Vector256<float> one = Vector256<float>.One;
        Vector256<float> m = Vector256.Create(-2f * GeluC);
        Vector256<float> a = Vector256.Create(GeluA);

        // Stage 1 of vector i.
        Vector256<float> x1 = Vector256.LoadUnsafe(ref xr, (nuint)i);
        Vector256<float> sq1 = x1 * x1;
        Vector256<float> t1 = VectorMath.ExpClamp(m * x1 * Vector256.FusedMultiplyAdd(a, sq1, one));
        Vector256<float> n1 = VectorMath.ExpRound(t1);
        Vector256<float> r1 = VectorMath.ExpReduction(t1, n1);

        // Stage 2 of vector i, stage 1 of vector i + w.
        Vector256<float> x2 = x1;
        Vector256<float> sq2 = sq1;
        Vector256<float> n2 = n1;
        Vector256<float> p2 = VectorMath.ExpPolynomial(r1);
        int j = i + w;
        x1 = Vector256.LoadUnsafe(ref xr, (nuint)j);
        sq1 = x1 * x1;
        t1 = VectorMath.ExpClamp(m * x1 * Vector256.FusedMultiplyAdd(a, sq1, one));
        n1 = VectorMath.ExpRound(t1);
        r1 = VectorMath.ExpReduction(t1, n1);

        // Steady state: stage 3 of vector j - w, stage 2 of vector j, stage 1 of vector j + w.
        for (j += w; j + w <= n; j += w)
        {
            GeluBackwardStore(x2, sq2, VectorMath.ExpScale(p2, n2), ref dgr, ref dxr, ref sr, j - (2 * w));
            x2 = x1;
            sq2 = sq1;
            n2 = n1;
            p2 = VectorMath.ExpPolynomial(r1);
            x1 = Vector256.LoadUnsafe(ref xr, (nuint)j);
            sq1 = x1 * x1;
            t1 = VectorMath.ExpClamp(m * x1 * Vector256.FusedMultiplyAdd(a, sq1, one));
            n1 = VectorMath.ExpRound(t1);
            r1 = VectorMath.ExpReduction(t1, n1);
        }

        // Drain: the last two vectors.
        GeluBackwardStore(x2, sq2, VectorMath.ExpScale(p2, n2), ref dgr, ref dxr, ref sr, j - (2 * w));
        GeluBackwardStore(x1, sq1, VectorMath.ExpScale(VectorMath.ExpPolynomial(r1), n1), ref dgr, ref dxr, ref sr, j - w);
        return j;
    }

    /// <summary>The last stage of <see cref="GeluBackwardPipelined"/>: from e = exp(-2u), dx = dg * GELU'(x) and sums += dx.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GeluBackwardStore(Vector256<float> xv, Vector256<float> x2, Vector256<float> e, ref float dgr, ref float dxr, ref float sr, int i)
    {
        Vector256<float> one = Vector256<float>.One;
        Vector256<float> sg = one / (one + e);
        Vector256<float> local = sg + (Vector256.Create(0.5f) * xv * (4f * sg * (one - sg)) * Vector256.Create(GeluC) * Vector256.FusedMultiplyAdd(Vector256.Create(3f * GeluA), x2, one));
        Vector256<float> dxv = Vector256.LoadUnsafe(ref dgr, (nuint)i) * local;
        dxv.StoreUnsafe(ref dxr, (nuint)i);
        (Vector256.LoadUnsafe(ref sr, (nuint)i) + dxv).StoreUnsafe(ref sr, (nuint)i);
    }

    /// <summary>
    /// In-place softmax of the first <paramref name="valid"/> entries of <paramref name="row"/>: p_i = exp(x_i - max) / sum,
    /// with <see cref="VectorMath.ExpNonPositive(float)"/> (arguments are at most 0) and the sum accumulated in double;
    /// the rest of the row is set to 0. NaN in the prefix gives NaN.
    /// </summary>
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

            max = VectorMath.HorizontalMax(mv);
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
            Vector256<float> e = VectorMath.ExpNonPositive(Vector256.LoadUnsafe(ref r, (nuint)i) - shift);
            e.StoreUnsafe(ref r, (nuint)i);
            sv += e;
        }

        double sum = VectorMath.HorizontalSum(sv);
        for (; i < valid; i++)
        {
            float e = VectorMath.ExpNonPositive(Unsafe.Add(ref r, i) - max);
            Unsafe.Add(ref r, i) = e;
            sum += e;
        }

        float inv = (float)(1.0 / sum);
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

    /// <summary>Softmax backward in place: ds = p * (dp - sum(p * dp)), the dot product accumulated in double.</summary>
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

        double dotSum = VectorMath.HorizontalSum(acc);
        for (; i < n; i++)
        {
            dotSum += Unsafe.Add(ref pr, i) * Unsafe.Add(ref dr, i);
        }

        float dot = (float)dotSum;
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
