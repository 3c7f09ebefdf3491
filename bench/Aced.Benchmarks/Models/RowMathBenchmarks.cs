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
/// Issue 12 item 6 for Aced.Models: <c>RowMath</c>'s own per-width loops (baseline) against the same passes written as
/// operators over Core's <c>StableMath.RowPass</c> / <c>SumInLanes</c> (<see cref="RowPassRowMath"/>, widest width
/// first), single-threaded at the reference step's shapes: GELU and its backward over 16384 rows of 512, layer norm
/// over 16384 rows of 128, attention softmax over 16384 rows of 64 (batch 256, 4 heads, T = 64). The driver measured
/// 1.15-2.9x slower on these short rows, so RowMath keeps its loops; this benchmark keeps the comparison repeatable.
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

    /// <summary>Aced.Models' RowMath as shipped (its own Vector512/Vector256 loops).</summary>
    [Benchmark(Baseline = true)]
    public float Loops() => Run(false);

    /// <summary>The same passes over Core's RowPass / SumInLanes (<see cref="RowPassRowMath"/>).</summary>
    [Benchmark]
    public float RowPass() => Run(true);

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
                        RowPassRowMath.Gelu(_x.AsSpan(r * d, d), _y.AsSpan(r * d, d));
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
                        RowPassRowMath.GeluBackward(_x.AsSpan(r * d, d), _dy.AsSpan(r * d, d), _dx.AsSpan(r * d, d));
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
                    _mean[r] = legacy ? RowPassRowMath.LayerNorm(x, _gamma, _beta, y).Mean : RowMath.LayerNorm(x, _gamma, _beta, y).Mean;
                }

                break;
            case "LayerNormBackward":
                for (int r = 0; r < Rows; r++)
                {
                    if (legacy)
                    {
                        RowPassRowMath.LayerNormBackward(_x.AsSpan(r * d, d), _gamma, _mean[r], _rstd[r], _dy.AsSpan(r * d, d), _dx.AsSpan(r * d, d), _dgamma, _dbeta);
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
                        RowPassRowMath.SoftmaxPrefix(_work.AsSpan(r * d, d), d);
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
                        RowPassRowMath.SoftmaxBackward(_y.AsSpan(r * d, d), _work.AsSpan(r * d, d));
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
