using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Aced.Core;

namespace Aced.Losses.Internal;

/// <summary>
/// Row and column log-sum-exps of the logits <c>a s + c</c> of a b x b similarity matrix in two row-contiguous
/// passes (no strided column walks): pass 1 finds row maxima and per-partition column maxima; pass 2 sums
/// <c>exp(a (s - rowMax))</c> per row and <c>exp(a (s - colMax_j))</c> into per-partition column sums. The
/// partials are reduced in partition order, so results do not depend on the thread count.
/// </summary>
internal sealed class LogSumExpStatistics : IPartitionedWork
{
    private static readonly int s_width = Vector256<float>.Count;

    private float[] _colMaxPartials = Array.Empty<float>();
    private float[] _colSumPartials = Array.Empty<float>();
    private float[] _colMax = Array.Empty<float>();
    private float[] _rowMax = Array.Empty<float>();
    private MatrixView _x;
    private double[] _rowLse = Array.Empty<double>();
    private float[] _colFactor = Array.Empty<float>();
    private float _a;
    private float _c;
    private int _partitions;
    private bool _sumPass;
    private bool _separable;
    private double _pivot;

    /// <summary>
    /// Largest spread of scaled maxima for which <c>exp(a s - B_j)</c> is computed as
    /// <c>exp(a s - A_i) * exp(A_i - K) * exp(K - B_j)</c> (one exponential per element instead of two);
    /// with |A_i - B_j| &lt;= 40 every factor is a normal float and the only loss is terms below e^-47 relative.
    /// </summary>
    public const double SeparableSpread = 40;

    /// <summary>Writes <c>logsumexp_j (a x_ij + c)</c> into <paramref name="rowLse"/> and <c>logsumexp_i (a x_ij + c)</c> into <paramref name="colLse"/>.</summary>
    public void Compute(MatrixView x, float a, float c, double[] rowLse, double[] colLse)
    {
        int rows = x.Rows, n = x.Columns;
        _partitions = PairwiseEngine.Partitions(rows, n);
        int partials = _partitions * n;
        if (_colMaxPartials.Length < partials)
        {
            _colMaxPartials = new float[partials];
            _colSumPartials = new float[partials];
        }

        if (_colMax.Length < n)
        {
            _colMax = new float[n];
        }

        if (_rowMax.Length < rows)
        {
            _rowMax = new float[rows];
        }

        if (_colFactor.Length < n)
        {
            _colFactor = new float[n];
        }

        _x = x;
        _a = a;
        _c = c;
        _rowLse = rowLse;
        _colMaxPartials.AsSpan(0, partials).Fill(float.NegativeInfinity);
        _colSumPartials.AsSpan(0, partials).Clear();
        _sumPass = false;
        PartitionWork.Run(this, _partitions);

        Span<float> colMax = _colMax.AsSpan(0, n);
        colMax.Fill(float.NegativeInfinity);
        for (int p = 0; p < _partitions; p++)
        {
            System.Numerics.Tensors.TensorPrimitives.Max(colMax, _colMaxPartials.AsSpan(p * n, n), colMax);
        }

        // One exponential per element when every scaled row maximum is within SeparableSpread of every column maximum.
        double minA = double.PositiveInfinity, maxA = double.NegativeInfinity, minB = double.PositiveInfinity, maxB = double.NegativeInfinity;
        for (int i = 0; i < rows; i++)
        {
            double v = (double)a * _rowMax[i];
            minA = Math.Min(minA, v);
            maxA = Math.Max(maxA, v);
        }

        for (int j = 0; j < n; j++)
        {
            double v = (double)a * colMax[j];
            minB = Math.Min(minB, v);
            maxB = Math.Max(maxB, v);
        }

        _separable = maxA - minB <= SeparableSpread && maxB - minA <= SeparableSpread;
        if (_separable)
        {
            _pivot = 0.5 * (minB + maxB);
            for (int j = 0; j < n; j++)
            {
                _colFactor[j] = (float)Math.Exp(_pivot - ((double)a * colMax[j]));
            }
        }

        _sumPass = true;
        PartitionWork.Run(this, _partitions);
        for (int j = 0; j < n; j++)
        {
            double sum = 0;
            for (int p = 0; p < _partitions; p++)
            {
                sum += _colSumPartials[(p * n) + j];
            }

            colLse[j] = ((double)a * colMax[j]) + c + Math.Log(sum);
        }

        _x = default;
    }

    /// <inheritdoc/>
    void IPartitionedWork.Execute(int partition)
    {
        int rows = _x.Rows, n = _x.Columns;
        int start = PairwiseEngine.PartitionStart(partition, _partitions, rows);
        int end = PairwiseEngine.PartitionStart(partition + 1, _partitions, rows);
        Span<float> colMaxPartial = _colMaxPartials.AsSpan(partition * n, n);
        Span<float> colSumPartial = _colSumPartials.AsSpan(partition * n, n);
        for (int i = start; i < end; i++)
        {
            ReadOnlySpan<float> row = _x.Row(i);
            if (!_sumPass)
            {
                _rowMax[i] = RowAndColumnMax(row, colMaxPartial);
            }
            else
            {
                double rowSum = _separable
                    ? ExpSumsSeparable(row, _a, _rowMax[i], (float)Math.Exp(((double)_a * _rowMax[i]) - _pivot), _colFactor, colSumPartial)
                    : ExpSums(row, _a, _rowMax[i], _colMax, colSumPartial);
                _rowLse[i] = ((double)_a * _rowMax[i]) + _c + Math.Log(rowSum);
            }
        }
    }

    private static float RowAndColumnMax(ReadOnlySpan<float> s, Span<float> colMax)
    {
        ref float r = ref MemoryMarshal.GetReference(s);
        ref float cm = ref MemoryMarshal.GetReference(colMax);
        int n = s.Length;
        Vector256<float> m = Vector256.Create(float.NegativeInfinity);
        int j = 0;
        for (; j <= n - s_width; j += s_width)
        {
            Vector256<float> v = Vector256.LoadUnsafe(ref r, (nuint)j);
            m = Vector256.Max(m, v);
            Vector256.Max(Vector256.LoadUnsafe(ref cm, (nuint)j), v).StoreUnsafe(ref cm, (nuint)j);
        }

        float rowMax = VectorMath.HorizontalMax(m);
        for (; j < n; j++)
        {
            float v = Unsafe.Add(ref r, j);
            rowMax = MathF.Max(rowMax, v);
            Unsafe.Add(ref cm, j) = MathF.Max(Unsafe.Add(ref cm, j), v);
        }

        return rowMax;
    }

    private static double ExpSums(ReadOnlySpan<float> s, float a, float rowMax, float[] colMax, Span<float> colSum)
    {
        ref float r = ref MemoryMarshal.GetReference(s);
        ref float cm = ref MemoryMarshal.GetArrayDataReference(colMax);
        ref float cs = ref MemoryMarshal.GetReference(colSum);
        int n = s.Length;
        var va = Vector256.Create(a);
        var vrm = Vector256.Create(rowMax);
        Vector256<float> acc = Vector256<float>.Zero;
        int j = 0;
        for (; j <= n - s_width; j += s_width)
        {
            Vector256<float> v = Vector256.LoadUnsafe(ref r, (nuint)j);
            acc += VectorMath.Exp(va * (v - vrm));
            Vector256<float> ec = VectorMath.Exp(va * (v - Vector256.LoadUnsafe(ref cm, (nuint)j)));
            (Vector256.LoadUnsafe(ref cs, (nuint)j) + ec).StoreUnsafe(ref cs, (nuint)j);
        }

        double sum = VectorMath.HorizontalSum(acc);
        for (; j < n; j++)
        {
            float v = Unsafe.Add(ref r, j);
            sum += VectorMath.Exp(a * (v - rowMax));
            Unsafe.Add(ref cs, j) += VectorMath.Exp(a * (v - Unsafe.Add(ref cm, j)));
        }

        return sum;
    }

    private static double ExpSumsSeparable(ReadOnlySpan<float> s, float a, float rowMax, float rowFactor, float[] colFactor, Span<float> colSum)
    {
        ref float r = ref MemoryMarshal.GetReference(s);
        ref float cf = ref MemoryMarshal.GetArrayDataReference(colFactor);
        ref float cs = ref MemoryMarshal.GetReference(colSum);
        int n = s.Length;
        var va = Vector256.Create(a);
        var vrm = Vector256.Create(rowMax);
        var vrf = Vector256.Create(rowFactor);
        Vector256<float> acc = Vector256<float>.Zero;
        int j = 0;
        for (; j <= n - s_width; j += s_width)
        {
            Vector256<float> e = VectorMath.Exp(va * (Vector256.LoadUnsafe(ref r, (nuint)j) - vrm));
            acc += e;
            Vector256.MultiplyAddEstimate(e * vrf, Vector256.LoadUnsafe(ref cf, (nuint)j), Vector256.LoadUnsafe(ref cs, (nuint)j)).StoreUnsafe(ref cs, (nuint)j);
        }

        double sum = VectorMath.HorizontalSum(acc);
        for (; j < n; j++)
        {
            float e = VectorMath.Exp(a * (Unsafe.Add(ref r, j) - rowMax));
            sum += e;
            Unsafe.Add(ref cs, j) = MathF.FusedMultiplyAdd(e * rowFactor, Unsafe.Add(ref cf, j), Unsafe.Add(ref cs, j));
        }

        return sum;
    }
}
