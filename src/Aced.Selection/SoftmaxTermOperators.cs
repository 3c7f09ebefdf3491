using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Aced.Core;

namespace Aced.Selection;

// The softmax conditional score's member terms softplus(a) with a = l - shift_m (l a cached or freshly computed product
// logit without the bias, shift_m = the member's log-sum-exp minus the bias), as operators over Core's RowPass driver.
// Every path (cached logits, cached exponentials, the fused product's epilogue for the rows beyond the cache, every rank
// of a sharded selection) evaluates the same per-element function, so all give the same bits:
//
//   E = exp(l - t_m)          t_m = the member's positive-pair product (a per-member reference; cached per element)
//   u = E * g_m               g_m = exp(t_m - shift_m), NaN when not a normal float (then every term of m falls back)
//   term = u <= 1 ? log1p(u) : SoftplusFast(l - shift_m)
//
// log1p(u) is the 6-term series for u <= 1/16 (truncation below u^6/7 <= 8.5e-9 relative) and VectorMath.Log1pFast
// above. u <= 1 is the usual case (the member's log-sum-exp includes its own positive logit, so a > 0 needs a candidate
// beating it); u > 1, an overflowed E (l - t_m > 88.7) and a NaN take the exact SoftplusFast of the logit. E below the
// smallest normal float only occurs for a < -87.3, terms below 1e-38 (SoftplusFast returns 0 for them).

/// <summary>Shared per-width pieces of the softmax member-term operators.</summary>
internal static class SoftmaxTerm
{
    /// <summary>Largest u whose log1p the series evaluates.</summary>
    public const float SeriesLimit = 1f / 16f;

    private const float C6 = -1f / 6f;
    private const float C5 = 1f / 5f;
    private const float C4 = -1f / 4f;
    private const float C3 = 1f / 3f;
    private const float C2 = -1f / 2f;

    /// <summary>Smallest normal float: a gain below it (or NaN) sends all the member's terms to the exact fallback.</summary>
    public const float MinNormal = 1.17549435e-38f;

    /// <summary>The member gain <c>g = exp(t - shift)</c>, NaN when it is not a normal float.</summary>
    public static float Gain(float reference, float shift)
    {
        float g = VectorMath.Exp(reference - shift);
        return g >= MinNormal ? g : float.NaN;
    }

    /// <summary><c>log1p(u)</c> for u in [0, 1].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Log1p(float u)
    {
        if (u > SeriesLimit)
        {
            return VectorMath.Log1pFast(u);
        }

        float q = MathF.FusedMultiplyAdd(C6, u, C5);
        q = MathF.FusedMultiplyAdd(q, u, C4);
        q = MathF.FusedMultiplyAdd(q, u, C3);
        q = MathF.FusedMultiplyAdd(q, u, C2);
        return MathF.FusedMultiplyAdd(u * u, q, u);
    }

    /// <inheritdoc cref="Log1p(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Log1p(Vector128<float> u)
    {
        Vector128<float> r = Series(u);
        Vector128<float> limit = Vector128.Create(SeriesLimit);
        return Vector128.LessThanOrEqualAll(u, limit) ? r : Vector128.ConditionalSelect(Vector128.LessThanOrEqual(u, limit), r, VectorMath.Log1pFast(u));
    }

    /// <summary>The series part of <see cref="Log1p(Vector128{float})"/> (its value where every lane is at most <see cref="SeriesLimit"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Series(Vector128<float> u)
    {
        Vector128<float> q = Vector128.FusedMultiplyAdd(Vector128.Create(C6), u, Vector128.Create(C5));
        q = Vector128.FusedMultiplyAdd(q, u, Vector128.Create(C4));
        q = Vector128.FusedMultiplyAdd(q, u, Vector128.Create(C3));
        q = Vector128.FusedMultiplyAdd(q, u, Vector128.Create(C2));
        return Vector128.FusedMultiplyAdd(u * u, q, u);
    }

    /// <inheritdoc cref="Log1p(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Log1p(Vector256<float> u)
    {
        Vector256<float> r = Series(u);
        Vector256<float> limit = Vector256.Create(SeriesLimit);
        return Vector256.LessThanOrEqualAll(u, limit) ? r : Vector256.ConditionalSelect(Vector256.LessThanOrEqual(u, limit), r, VectorMath.Log1pFast(u));
    }

    /// <summary>The series part of <see cref="Log1p(Vector256{float})"/> (its value where every lane is at most <see cref="SeriesLimit"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Series(Vector256<float> u)
    {
        Vector256<float> q = Vector256.FusedMultiplyAdd(Vector256.Create(C6), u, Vector256.Create(C5));
        q = Vector256.FusedMultiplyAdd(q, u, Vector256.Create(C4));
        q = Vector256.FusedMultiplyAdd(q, u, Vector256.Create(C3));
        q = Vector256.FusedMultiplyAdd(q, u, Vector256.Create(C2));
        return Vector256.FusedMultiplyAdd(u * u, q, u);
    }

    /// <inheritdoc cref="Log1p(float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Log1p(Vector512<float> u)
    {
        Vector512<float> r = Series(u);
        Vector512<float> limit = Vector512.Create(SeriesLimit);
        return Vector512.LessThanOrEqualAll(u, limit) ? r : Vector512.ConditionalSelect(Vector512.LessThanOrEqual(u, limit), r, VectorMath.Log1pFast(u));
    }

    /// <summary>The series part of <see cref="Log1p(Vector512{float})"/> (its value where every lane is at most <see cref="SeriesLimit"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Series(Vector512<float> u)
    {
        Vector512<float> q = Vector512.FusedMultiplyAdd(Vector512.Create(C6), u, Vector512.Create(C5));
        q = Vector512.FusedMultiplyAdd(q, u, Vector512.Create(C4));
        q = Vector512.FusedMultiplyAdd(q, u, Vector512.Create(C3));
        q = Vector512.FusedMultiplyAdd(q, u, Vector512.Create(C2));
        return Vector512.FusedMultiplyAdd(u * u, q, u);
    }
}

/// <summary>
/// The member term from the logit: p = l, x = t_m, y = g_m, z = shift_m; sum0 = the term (see the file comment).
/// </summary>
internal readonly struct SoftmaxTermOperator : StableMath.IRowOperator
{
    public int Inputs => 3;

    public int Sums => 1;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float u = VectorMath.Exp(p - x) * y;
        sum0 = u <= 1f ? SoftmaxTerm.Log1p(u) : VectorMath.SoftplusFast(p - z);
        sum1 = 0;
        sum2 = 0;
        column = 0;
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> u = VectorMath.Exp(p - x) * y;
        Vector128<float> r = SoftmaxTerm.Log1p(u);
        sum0 = Vector128.LessThanOrEqualAll(u, Vector128<float>.One) ? r : Vector128.ConditionalSelect(Vector128.LessThanOrEqual(u, Vector128<float>.One), r, VectorMath.SoftplusFast(p - z));
        sum1 = Vector128<float>.Zero;
        sum2 = Vector128<float>.Zero;
        column = Vector128<float>.Zero;
        return Vector128<float>.Zero;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> u = VectorMath.Exp(p - x) * y;
        Vector256<float> r = SoftmaxTerm.Log1p(u);
        sum0 = Vector256.LessThanOrEqualAll(u, Vector256<float>.One) ? r : Vector256.ConditionalSelect(Vector256.LessThanOrEqual(u, Vector256<float>.One), r, VectorMath.SoftplusFast(p - z));
        sum1 = Vector256<float>.Zero;
        sum2 = Vector256<float>.Zero;
        column = Vector256<float>.Zero;
        return Vector256<float>.Zero;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> u = VectorMath.Exp(p - x) * y;
        Vector512<float> r = SoftmaxTerm.Log1p(u);
        sum0 = Vector512.LessThanOrEqualAll(u, Vector512<float>.One) ? r : Vector512.ConditionalSelect(Vector512.LessThanOrEqual(u, Vector512<float>.One), r, VectorMath.SoftplusFast(p - z));
        sum1 = Vector512<float>.Zero;
        sum2 = Vector512<float>.Zero;
        column = Vector512<float>.Zero;
        return Vector512<float>.Zero;
    }
}

/// <summary>
/// The member term from the cached <c>E = exp(l - t_m)</c>: p = E, x = g_m; sum0 = the term where <c>u = E g_m &lt;= 1</c>
/// and NaN for every other element (<c>u &gt; 1</c>, an overflowed E, NaN), so a row's sum is NaN exactly when some
/// element needs the logit: then the caller re-runs the row with <see cref="SoftmaxTermOperator"/>, which gives the same
/// term for every element with u &lt;= 1 and the exact fallback for the others. (A NaN marker instead of a count of the
/// fallback elements: one reduction, so a row piece costs one horizontal sum.)
/// </summary>
internal readonly struct CachedSoftmaxTermOperator : StableMath.IRowOperator
{
    public int Inputs => 1;

    public int Sums => 1;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        float u = p * x;
        sum0 = u <= 1f ? SoftmaxTerm.Log1p(u) : float.NaN;
        sum1 = 0;
        sum2 = 0;
        column = 0;
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        Vector128<float> u = p * x;
        Vector128<float> series = SoftmaxTerm.Series(u);
        Vector128<float> limit = Vector128.Create(SoftmaxTerm.SeriesLimit);

        // Every lane on the series (the usual case) is also u <= 1: no fallback check needed.
        sum0 = Vector128.LessThanOrEqualAll(u, limit) ? series : FallbackMarked(u, series);
        sum1 = Vector128<float>.Zero;
        sum2 = Vector128<float>.Zero;
        column = Vector128<float>.Zero;
        return Vector128<float>.Zero;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        Vector256<float> u = p * x;
        Vector256<float> series = SoftmaxTerm.Series(u);
        Vector256<float> limit = Vector256.Create(SoftmaxTerm.SeriesLimit);

        // Every lane on the series (the usual case) is also u <= 1: no fallback check needed.
        sum0 = Vector256.LessThanOrEqualAll(u, limit) ? series : FallbackMarked(u, series);
        sum1 = Vector256<float>.Zero;
        sum2 = Vector256<float>.Zero;
        column = Vector256<float>.Zero;
        return Vector256<float>.Zero;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        Vector512<float> u = p * x;
        Vector512<float> series = SoftmaxTerm.Series(u);
        Vector512<float> limit = Vector512.Create(SoftmaxTerm.SeriesLimit);

        // Every lane on the series (the usual case) is also u <= 1: no fallback check needed.
        sum0 = Vector512.LessThanOrEqualAll(u, limit) ? series : FallbackMarked(u, series);
        sum1 = Vector512<float>.Zero;
        sum2 = Vector512<float>.Zero;
        column = Vector512<float>.Zero;
        return Vector512<float>.Zero;
    }

    /// <summary>The lanes beyond the series: <see cref="VectorMath.Log1pFast(Vector128{float})"/> up to u = 1, NaN above (and for NaN).</summary>
    private static Vector128<float> FallbackMarked(Vector128<float> u, Vector128<float> series)
    {
        Vector128<float> term = Vector128.ConditionalSelect(Vector128.LessThanOrEqual(u, Vector128.Create(SoftmaxTerm.SeriesLimit)), series, VectorMath.Log1pFast(u));
        return Vector128.ConditionalSelect(Vector128.LessThanOrEqual(u, Vector128<float>.One), term, Vector128.Create(float.NaN));
    }

    /// <summary>The lanes beyond the series: <see cref="VectorMath.Log1pFast(Vector256{float})"/> up to u = 1, NaN above (and for NaN).</summary>
    private static Vector256<float> FallbackMarked(Vector256<float> u, Vector256<float> series)
    {
        Vector256<float> term = Vector256.ConditionalSelect(Vector256.LessThanOrEqual(u, Vector256.Create(SoftmaxTerm.SeriesLimit)), series, VectorMath.Log1pFast(u));
        return Vector256.ConditionalSelect(Vector256.LessThanOrEqual(u, Vector256<float>.One), term, Vector256.Create(float.NaN));
    }

    /// <summary>The lanes beyond the series: <see cref="VectorMath.Log1pFast(Vector512{float})"/> up to u = 1, NaN above (and for NaN).</summary>
    private static Vector512<float> FallbackMarked(Vector512<float> u, Vector512<float> series)
    {
        Vector512<float> term = Vector512.ConditionalSelect(Vector512.LessThanOrEqual(u, Vector512.Create(SoftmaxTerm.SeriesLimit)), series, VectorMath.Log1pFast(u));
        return Vector512.ConditionalSelect(Vector512.LessThanOrEqual(u, Vector512<float>.One), term, Vector512.Create(float.NaN));
    }
}

/// <summary><c>exp(p - x)</c> written to the destination (<see cref="VectorMath.Exp(float)"/>: +Inf above 88.7, correctly rounded denormals below -87.3).</summary>
internal readonly struct ExpDifferenceOperator : StableMath.IRowOperator
{
    public int Inputs => 1;

    public int Sums => 0;

    public bool SubtractsColumn => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
    {
        sum0 = 0;
        sum1 = 0;
        sum2 = 0;
        column = 0;
        return VectorMath.Exp(p - x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
    {
        sum0 = Vector128<float>.Zero;
        sum1 = Vector128<float>.Zero;
        sum2 = Vector128<float>.Zero;
        column = Vector128<float>.Zero;
        return VectorMath.Exp(p - x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
    {
        sum0 = Vector256<float>.Zero;
        sum1 = Vector256<float>.Zero;
        sum2 = Vector256<float>.Zero;
        column = Vector256<float>.Zero;
        return VectorMath.Exp(p - x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
    {
        sum0 = Vector512<float>.Zero;
        sum1 = Vector512<float>.Zero;
        sum2 = Vector512<float>.Zero;
        column = Vector512<float>.Zero;
        return VectorMath.Exp(p - x);
    }
}

/// <summary>
/// Where <see cref="SelectionKernels.SoftmaxTermSumsCached{TFallback}"/> gets the exact sum of a tile that holds an
/// element needing the logit (see <see cref="CachedSoftmaxTermOperator"/>).
/// </summary>
internal interface ITermFallback
{
    /// <summary>
    /// <see cref="SelectionKernels.SoftmaxTermSum"/> of the row's logits against the members [<paramref name="j0"/>,
    /// + <c>reference.Length</c>), given those members' references, gains and shifts.
    /// </summary>
    double TermSum(int j0, ReadOnlySpan<float> reference, ReadOnlySpan<float> gain, ReadOnlySpan<float> shift);
}

/// <summary>The fallback from the row's cached logits.</summary>
internal readonly ref struct CachedLogits : ITermFallback
{
    private readonly ReadOnlySpan<float> _logits;

    public CachedLogits(ReadOnlySpan<float> logits) => _logits = logits;

    public double TermSum(int j0, ReadOnlySpan<float> reference, ReadOnlySpan<float> gain, ReadOnlySpan<float> shift) =>
        SelectionKernels.SoftmaxTermSum(_logits.Slice(j0, reference.Length), reference, gain, shift);
}

/// <summary>
/// The fallback for an exp-cached row whose logits the cache does not keep (<see cref="ConditionalScorer.LogitFreeExpRows"/>):
/// the tile's logits recomputed from the candidate's embedding row and the packed members' rows
/// (<see cref="SelectionKernels.ProductRow"/>, the bits of the fill's product), then summed as from the cache.
/// </summary>
internal readonly struct RecomputedLogits : ITermFallback
{
    private readonly MatrixView _rows;
    private readonly int _row;
    private readonly float[] _members;
    private readonly float _alpha;

    /// <summary>Row <paramref name="row"/> of <paramref name="rows"/> against the packed member rows <paramref name="members"/> (the row's length each), times <paramref name="alpha"/>.</summary>
    public RecomputedLogits(MatrixView rows, int row, float[] members, float alpha)
    {
        _rows = rows;
        _row = row;
        _members = members;
        _alpha = alpha;
    }

    public double TermSum(int j0, ReadOnlySpan<float> reference, ReadOnlySpan<float> gain, ReadOnlySpan<float> shift)
    {
        int width = reference.Length;
        int d = _rows.Columns;
        Span<float> logits = width <= MaxStackTile ? stackalloc float[width] : new float[width];
        SelectionKernels.ProductRow(_rows.Row(_row), _members.AsSpan(j0 * d, width * d), _alpha, logits);
        return SelectionKernels.SoftmaxTermSum(logits, reference, gain, shift);
    }

    /// <summary>Tiles up to this width (the fused products' column tiles, <see cref="GemmPlan.NcMax"/>) recompute on the stack.</summary>
    private const int MaxStackTile = GemmPlan.NcMax;
}
