using System;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Aced.Benchmarks.Common;
using Aced.Core;
using Aced.Models.Layers;
using BenchmarkDotNet.Attributes;

namespace Aced.Benchmarks.Models;

/// <summary>
/// Aced.Models' row passes over Core's operator + driver (<c>RowMath</c> on <c>StableMath.RowPass</c> /
/// <c>SumInLanes</c>, widest width first) against the Vector256 loops they replaced (<see cref="LegacyRowMath"/>, a
/// copy of main before the change), single-threaded at the reference step's shapes: GELU and its backward over 16384
/// rows of 512, layer norm over 16384 rows of 128, attention softmax over 16384 rows of 64 (batch 256, 4 heads, T = 64).
/// Layer norm and softmax stay on the legacy loops (the driver was 1.3-2.9x slower on these short rows); the
/// benchmark keeps both so the comparison can be repeated.
/// </summary>
[MemoryDiagnoser]
public class RowMathBenchmarks
{
    private const int Rows = 16384;
    private float[] _x = [];
    private float[] _y = [];
    private float[] _dy = [];
    private float[] _dx = [];
    private float[] _gamma = [];
    private float[] _beta = [];
    private float[] _dgamma = [];
    private float[] _dbeta = [];
    private float[] _mean = [];
    private float[] _rstd = [];
    private float[] _scores = [];
    private float[] _work = [];

    /// <summary>Which pass: Gelu, GeluBackward (rows of 512), LayerNorm (width 128), LayerNormBackward, Softmax (T = 64), SoftmaxBackward.</summary>
    [Params("Gelu", "GeluBackward", "LayerNorm", "LayerNormBackward", "Softmax", "SoftmaxBackward")]
    public string Pass { get; set; } = "LayerNorm";

    private int Width => Pass.StartsWith("Softmax", StringComparison.Ordinal) ? 64 : Pass.StartsWith("Gelu", StringComparison.Ordinal) ? 512 : 128;

    [GlobalSetup]
    public void Setup()
    {
        int d = Width;
        var rng = new CounterRng(9, 0);
        _x = Fill(Rows * d, rng, 3f);
        _dy = Fill(Rows * d, rng, 1f);
        _y = new float[Rows * d];
        _dx = new float[Rows * d];
        _gamma = Fill(d, rng, 1f);
        _beta = Fill(d, rng, 1f);
        _dgamma = new float[d];
        _dbeta = new float[d];
        _mean = new float[Rows];
        _rstd = new float[Rows];
        _scores = Fill(Rows * d, rng, 4f);
        _work = new float[Rows * d];
        for (int r = 0; r < Rows; r++)
        {
            (_mean[r], _rstd[r]) = RowMath.LayerNorm(_x.AsSpan(r * d, d), _gamma, _beta, _y.AsSpan(r * d, d));
        }
    }

    [Benchmark(Baseline = true)]
    public float Legacy() => Run(true);

    [Benchmark]
    public float Current() => Run(false);

    private float Run(bool legacy)
    {
        int d = Width;
        switch (Pass)
        {
            case "Gelu":
                for (int r = 0; r < Rows; r++)
                {
                    if (legacy)
                    {
                        LegacyRowMath.Gelu(_x.AsSpan(r * d, d), _y.AsSpan(r * d, d));
                    }
                    else
                    {
                        RowMath.Gelu(_x.AsSpan(r * d, d), _y.AsSpan(r * d, d));
                    }
                }

                break;
            case "GeluBackward":
                for (int r = 0; r < Rows; r++)
                {
                    if (legacy)
                    {
                        LegacyRowMath.GeluBackward(_x.AsSpan(r * d, d), _dy.AsSpan(r * d, d), _dx.AsSpan(r * d, d));
                    }
                    else
                    {
                        RowMath.GeluBackward(_x.AsSpan(r * d, d), _dy.AsSpan(r * d, d), _dx.AsSpan(r * d, d));
                    }
                }

                break;
            case "LayerNorm":
                for (int r = 0; r < Rows; r++)
                {
                    ReadOnlySpan<float> x = _x.AsSpan(r * d, d);
                    Span<float> y = _y.AsSpan(r * d, d);
                    _mean[r] = legacy ? LegacyRowMath.LayerNorm(x, _gamma, _beta, y).Mean : RowMath.LayerNorm(x, _gamma, _beta, y).Mean;
                }

                break;
            case "LayerNormBackward":
                for (int r = 0; r < Rows; r++)
                {
                    if (legacy)
                    {
                        LegacyRowMath.LayerNormBackward(_x.AsSpan(r * d, d), _gamma, _mean[r], _rstd[r], _dy.AsSpan(r * d, d), _dx.AsSpan(r * d, d), _dgamma, _dbeta);
                    }
                    else
                    {
                        RowMath.LayerNormBackward(_x.AsSpan(r * d, d), _gamma, _mean[r], _rstd[r], _dy.AsSpan(r * d, d), _dx.AsSpan(r * d, d), _dgamma, _dbeta);
                    }
                }

                break;
            case "Softmax":
                _scores.AsSpan().CopyTo(_work);
                for (int r = 0; r < Rows; r++)
                {
                    if (legacy)
                    {
                        LegacyRowMath.SoftmaxPrefix(_work.AsSpan(r * d, d), d);
                    }
                    else
                    {
                        RowMath.SoftmaxPrefix(_work.AsSpan(r * d, d), d);
                    }
                }

                break;
            default:
                _dy.AsSpan().CopyTo(_work);
                for (int r = 0; r < Rows; r++)
                {
                    if (legacy)
                    {
                        LegacyRowMath.SoftmaxBackward(_y.AsSpan(r * d, d), _work.AsSpan(r * d, d));
                    }
                    else
                    {
                        RowMath.SoftmaxBackward(_y.AsSpan(r * d, d), _work.AsSpan(r * d, d));
                    }
                }

                break;
        }

        return _work[0] + _y[0] + _dx[0];
    }

    private static float[] Fill(int length, CounterRng rng, float scale)
    {
        float[] values = new float[length];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (rng.NextFloat() - 0.5f) * scale;
        }

        return values;
    }
}

/// <summary>Aced.Models' RowMath layer norm and softmax rows before they moved onto Core's RowPass (main, 2026-11-30).</summary>
internal static class LegacyRowMath
{
    public static void Gelu(ReadOnlySpan<float> x, Span<float> g)
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float gr = ref MemoryMarshal.GetReference(g);
        int n = x.Length;
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> c512 = Vector512.Create(-2f * RowMath.GeluC);
            Vector512<float> a512 = Vector512.Create(RowMath.GeluA);
            for (; i + 16 <= n; i += 16)
            {
                Vector512<float> xv = Vector512.LoadUnsafe(ref xr, (nuint)i);
                Vector512<float> e = VectorMath.Exp(c512 * xv * Vector512.FusedMultiplyAdd(a512 * xv, xv, Vector512<float>.One));
                (xv / (Vector512<float>.One + e)).StoreUnsafe(ref gr, (nuint)i);
            }
        }

        int w = Vector256<float>.Count;
        Vector256<float> c2 = Vector256.Create(-2f * RowMath.GeluC);
        Vector256<float> a = Vector256.Create(RowMath.GeluA);
        for (; i + w <= n; i += w)
        {
            Vector256<float> xv = Vector256.LoadUnsafe(ref xr, (nuint)i);
            Vector256<float> e = VectorMath.Exp(c2 * xv * Vector256.FusedMultiplyAdd(a * xv, xv, Vector256<float>.One));
            (xv / (Vector256<float>.One + e)).StoreUnsafe(ref gr, (nuint)i);
        }

        for (; i < n; i++)
        {
            float xv = Unsafe.Add(ref xr, i);
            float e = VectorMath.Exp(-2f * RowMath.GeluC * xv * MathF.FusedMultiplyAdd(RowMath.GeluA * xv, xv, 1f));
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
            Vector512<float> c5 = Vector512.Create(RowMath.GeluC);
            Vector512<float> m5 = Vector512.Create(-2f * RowMath.GeluC);
            Vector512<float> a5 = Vector512.Create(RowMath.GeluA);
            Vector512<float> b5 = Vector512.Create(3f * RowMath.GeluA);
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
        Vector256<float> c = Vector256.Create(RowMath.GeluC);
        Vector256<float> m = Vector256.Create(-2f * RowMath.GeluC);
        Vector256<float> a = Vector256.Create(RowMath.GeluA);
        Vector256<float> b = Vector256.Create(3f * RowMath.GeluA);
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
            float sg = 1f / (1f + VectorMath.Exp(-2f * RowMath.GeluC * xv * MathF.FusedMultiplyAdd(RowMath.GeluA, x2, 1f)));
            float local = sg + (0.5f * xv * (4f * sg * (1f - sg)) * RowMath.GeluC * MathF.FusedMultiplyAdd(3f * RowMath.GeluA, x2, 1f));
            Unsafe.Add(ref dxr, i) = Unsafe.Add(ref dgr, i) * local;
        }
    }

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

        float rstd = 1f / MathF.Sqrt((ss / d) + RowMath.LayerNormEpsilon);
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
