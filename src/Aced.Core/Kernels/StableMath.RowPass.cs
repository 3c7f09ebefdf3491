using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Aced.Core;

public static partial class StableMath
{
    /// <summary>
    /// The body of a fused row pass (<see cref="RowPass{TOperator}"/>), in the TensorPrimitives operator style: maps
    /// the element <c>p</c> of the primary row and up to four auxiliary elements <c>x, y, z, w</c> at the same
    /// index to an output element, up to three reduction terms and one column term. The scalar and the
    /// 128/256/512-bit overloads compute the same formula lane by lane (element-wise results are bit-identical
    /// across widths when the formula only uses operations that are exact per lane, such as
    /// <see cref="VectorMath"/>'s functions and <c>MultiplyAddEstimate</c> on FMA hardware).
    /// </summary>
    /// <remarks>
    /// <see cref="Inputs"/> and <see cref="Sums"/> are constants of the implementing struct, so the JIT removes the
    /// loads of auxiliary inputs the operator does not read (their spans may then be empty) and the accumulation of
    /// reduction terms it does not produce (it must still assign them; their values are ignored).
    /// </remarks>
    internal interface IRowOperator
    {
        /// <summary>How many auxiliary inputs (0 to 4) the operator reads: <c>x</c>, <c>y</c>, <c>z</c>, <c>w</c> in that order; the others are passed as zero.</summary>
        int Inputs { get; }

        /// <summary>How many reduction terms (0 to 3) the operator produces: <c>sum0</c>, <c>sum1</c>, <c>sum2</c> in that order.</summary>
        int Sums { get; }

        /// <summary>Whether the column term is subtracted from the column (instead of added).</summary>
        bool SubtractsColumn { get; }

        /// <summary>Scalar form (the tail of a row).</summary>
        float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column);

        /// <summary>128-bit form.</summary>
        Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column);

        /// <summary>256-bit form.</summary>
        Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column);

        /// <summary>512-bit form.</summary>
        Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column);
    }

    /// <summary>The reductions of a <see cref="RowPass{TOperator}"/>, in double.</summary>
    internal readonly struct RowSums
    {
        /// <summary>Creates the triple.</summary>
        public RowSums(double sum0, double sum1, double sum2)
        {
            Sum0 = sum0;
            Sum1 = sum1;
            Sum2 = sum2;
        }

        /// <summary><c>sum_j sum0_j</c>.</summary>
        public double Sum0 { get; }

        /// <summary><c>sum_j sum1_j</c>.</summary>
        public double Sum1 { get; }

        /// <summary><c>sum_j sum2_j</c>.</summary>
        public double Sum2 { get; }
    }

    /// <summary>
    /// One fused pass over a row of <c>n = p.Length</c> elements: for each j, <c>out_j = op(p_j, x_j, y_j, z_j, w_j)</c>
    /// is written to <paramref name="destination"/>[j] (added to it when <paramref name="accumulate"/>; nothing is
    /// written when <paramref name="destination"/> is empty, a pure reduction), the operator's column term is added
    /// to (or subtracted from) <paramref name="columns"/>[j] when that span is not empty, and its reduction terms are
    /// summed.
    /// </summary>
    /// <remarks>
    /// <para>
    /// The callers validate lengths: every span the operator reads, a non-empty <paramref name="destination"/> and a
    /// non-empty <paramref name="columns"/> hold at least n elements. <paramref name="destination"/> may be the very
    /// same span as <paramref name="p"/> or an auxiliary input (every element is read before it is written); no span
    /// may partly overlap another.
    /// </para>
    /// <para>
    /// Widths: the widest accelerated vector for the bulk of the row, then one step of each narrower width, then
    /// scalars. Reductions accumulate in float lanes per width, are summed horizontally in double
    /// (<see cref="VectorMath.HorizontalSum(Vector512{float})"/>) and the scalar tail adds in double; the order is
    /// fixed by n and the machine's vector width alone, never by threads.
    /// </para>
    /// </remarks>
    internal static RowSums RowPass<TOperator>(TOperator op, ReadOnlySpan<float> p, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> z, ReadOnlySpan<float> w, Span<float> destination, bool accumulate, Span<float> columns)
        where TOperator : struct, IRowOperator
    {
        ref float rp = ref MemoryMarshal.GetReference(p);
        ref float rx = ref MemoryMarshal.GetReference(x);
        ref float ry = ref MemoryMarshal.GetReference(y);
        ref float rz = ref MemoryMarshal.GetReference(z);
        ref float rw = ref MemoryMarshal.GetReference(w);
        ref float rd = ref MemoryMarshal.GetReference(destination);
        ref float rc = ref MemoryMarshal.GetReference(columns);
        bool withDestination = !destination.IsEmpty;
        bool withColumns = !columns.IsEmpty;
        nuint n = (nuint)p.Length;
        nuint i = 0;
        double t0 = 0, t1 = 0, t2 = 0;
        if (Vector512.IsHardwareAccelerated && i + 16 <= n)
        {
            Vector512<float> a0 = Vector512<float>.Zero, a1 = Vector512<float>.Zero, a2 = Vector512<float>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                Vector512<float> vx = op.Inputs > 0 ? Vector512.LoadUnsafe(ref rx, i) : Vector512<float>.Zero;
                Vector512<float> vy = op.Inputs > 1 ? Vector512.LoadUnsafe(ref ry, i) : Vector512<float>.Zero;
                Vector512<float> vz = op.Inputs > 2 ? Vector512.LoadUnsafe(ref rz, i) : Vector512<float>.Zero;
                Vector512<float> vw = op.Inputs > 3 ? Vector512.LoadUnsafe(ref rw, i) : Vector512<float>.Zero;
                Vector512<float> result = op.Invoke(Vector512.LoadUnsafe(ref rp, i), vx, vy, vz, vw, out Vector512<float> s0, out Vector512<float> s1, out Vector512<float> s2, out Vector512<float> column);
                a0 += s0;
                a1 += s1;
                a2 += s2;
                if (withDestination)
                {
                    if (accumulate)
                    {
                        result += Vector512.LoadUnsafe(ref rd, i);
                    }

                    result.StoreUnsafe(ref rd, i);
                }

                if (withColumns)
                {
                    Vector512<float> c = Vector512.LoadUnsafe(ref rc, i);
                    (op.SubtractsColumn ? c - column : c + column).StoreUnsafe(ref rc, i);
                }
            }

            t0 += op.Sums > 0 ? VectorMath.HorizontalSum(a0) : 0;
            t1 += op.Sums > 1 ? VectorMath.HorizontalSum(a1) : 0;
            t2 += op.Sums > 2 ? VectorMath.HorizontalSum(a2) : 0;
        }

        if (Vector256.IsHardwareAccelerated && i + 8 <= n)
        {
            Vector256<float> a0 = Vector256<float>.Zero, a1 = Vector256<float>.Zero, a2 = Vector256<float>.Zero;
            for (; i + 8 <= n; i += 8)
            {
                Vector256<float> vx = op.Inputs > 0 ? Vector256.LoadUnsafe(ref rx, i) : Vector256<float>.Zero;
                Vector256<float> vy = op.Inputs > 1 ? Vector256.LoadUnsafe(ref ry, i) : Vector256<float>.Zero;
                Vector256<float> vz = op.Inputs > 2 ? Vector256.LoadUnsafe(ref rz, i) : Vector256<float>.Zero;
                Vector256<float> vw = op.Inputs > 3 ? Vector256.LoadUnsafe(ref rw, i) : Vector256<float>.Zero;
                Vector256<float> result = op.Invoke(Vector256.LoadUnsafe(ref rp, i), vx, vy, vz, vw, out Vector256<float> s0, out Vector256<float> s1, out Vector256<float> s2, out Vector256<float> column);
                a0 += s0;
                a1 += s1;
                a2 += s2;
                if (withDestination)
                {
                    if (accumulate)
                    {
                        result += Vector256.LoadUnsafe(ref rd, i);
                    }

                    result.StoreUnsafe(ref rd, i);
                }

                if (withColumns)
                {
                    Vector256<float> c = Vector256.LoadUnsafe(ref rc, i);
                    (op.SubtractsColumn ? c - column : c + column).StoreUnsafe(ref rc, i);
                }
            }

            t0 += op.Sums > 0 ? VectorMath.HorizontalSum(a0) : 0;
            t1 += op.Sums > 1 ? VectorMath.HorizontalSum(a1) : 0;
            t2 += op.Sums > 2 ? VectorMath.HorizontalSum(a2) : 0;
        }

        if (Vector128.IsHardwareAccelerated && i + 4 <= n)
        {
            Vector128<float> a0 = Vector128<float>.Zero, a1 = Vector128<float>.Zero, a2 = Vector128<float>.Zero;
            for (; i + 4 <= n; i += 4)
            {
                Vector128<float> vx = op.Inputs > 0 ? Vector128.LoadUnsafe(ref rx, i) : Vector128<float>.Zero;
                Vector128<float> vy = op.Inputs > 1 ? Vector128.LoadUnsafe(ref ry, i) : Vector128<float>.Zero;
                Vector128<float> vz = op.Inputs > 2 ? Vector128.LoadUnsafe(ref rz, i) : Vector128<float>.Zero;
                Vector128<float> vw = op.Inputs > 3 ? Vector128.LoadUnsafe(ref rw, i) : Vector128<float>.Zero;
                Vector128<float> result = op.Invoke(Vector128.LoadUnsafe(ref rp, i), vx, vy, vz, vw, out Vector128<float> s0, out Vector128<float> s1, out Vector128<float> s2, out Vector128<float> column);
                a0 += s0;
                a1 += s1;
                a2 += s2;
                if (withDestination)
                {
                    if (accumulate)
                    {
                        result += Vector128.LoadUnsafe(ref rd, i);
                    }

                    result.StoreUnsafe(ref rd, i);
                }

                if (withColumns)
                {
                    Vector128<float> c = Vector128.LoadUnsafe(ref rc, i);
                    (op.SubtractsColumn ? c - column : c + column).StoreUnsafe(ref rc, i);
                }
            }

            t0 += op.Sums > 0 ? VectorMath.HorizontalSum(a0) : 0;
            t1 += op.Sums > 1 ? VectorMath.HorizontalSum(a1) : 0;
            t2 += op.Sums > 2 ? VectorMath.HorizontalSum(a2) : 0;
        }

        for (; i < n; i++)
        {
            float sx = op.Inputs > 0 ? Unsafe.Add(ref rx, i) : 0f;
            float sy = op.Inputs > 1 ? Unsafe.Add(ref ry, i) : 0f;
            float sz = op.Inputs > 2 ? Unsafe.Add(ref rz, i) : 0f;
            float sw = op.Inputs > 3 ? Unsafe.Add(ref rw, i) : 0f;
            float result = op.Invoke(Unsafe.Add(ref rp, i), sx, sy, sz, sw, out float s0, out float s1, out float s2, out float column);
            t0 += op.Sums > 0 ? s0 : 0f;
            t1 += op.Sums > 1 ? s1 : 0f;
            t2 += op.Sums > 2 ? s2 : 0f;
            if (withDestination)
            {
                ref float d = ref Unsafe.Add(ref rd, i);
                d = accumulate ? d + result : result;
            }
            if (withColumns)
            {
                ref float c = ref Unsafe.Add(ref rc, i);
                c = op.SubtractsColumn ? c - column : c + column;
            }
        }

        return new RowSums(t0, t1, t2);
    }

    /// <summary>
    /// Two pure-reduction <see cref="RowPass{TOperator}"/>s of the same operator over two rows of the same length, tile by
    /// tile, in one loop (two streams, e.g. both directions of a cached row): for every tile t of <paramref name="tile"/>
    /// elements (the last one shorter), <paramref name="sums1"/>[t] is bit for bit
    /// <c>RowPass(op, p1[tile t], x1[tile t], default, default, default, default, false, default)</c> and
    /// <paramref name="sums2"/>[t] the same of <paramref name="p2"/>, <paramref name="x2"/> (each tile's lanes, widths,
    /// horizontal sums and scalar tail are RowPass's). The operator reads at most one auxiliary input (<c>x</c>;
    /// <see cref="IRowOperator.Inputs"/> &lt;= 1) and its element output and column term are ignored. With
    /// <paramref name="ahead"/> &gt; 0 the 512- and 256-bit loops also prefetch into L2
    /// (<see cref="VectorMath.PrefetchLine"/>), one line per vector step, the elements of both primary rows that many
    /// floats further on (e.g. the next row of a strided cache, so its loads do not start with a memory round trip; the
    /// addresses need not lie in the spans, a prefetch never faults); with 0 they touch only the lines they read anyway.
    /// </summary>
    /// <remarks>The caller validates lengths: <paramref name="p2"/> and the auxiliary rows the operator reads hold at
    /// least <c>p1.Length</c> elements. <paramref name="sums1"/> and <paramref name="sums2"/> need one element per tile,
    /// <c>ceil(p1.Length / tile)</c> (none for an empty row).</remarks>
    internal static void RowPassPair<TOperator>(TOperator op, ReadOnlySpan<float> p1, ReadOnlySpan<float> x1, ReadOnlySpan<float> p2, ReadOnlySpan<float> x2, int tile, nuint ahead, Span<RowSums> sums1, Span<RowSums> sums2)
        where TOperator : struct, IRowOperator
    {
        int tiles = tile <= 0 ? -1 : (int)(((long)p1.Length + tile - 1) / tile);
        if (op.Inputs > 1 || tiles < 0 || sums1.Length < tiles || sums2.Length < tiles)
        {
            Guard.ThrowArgument(nameof(tile), "is not positive, the sums hold fewer elements than the tiles, or the operator reads more than one auxiliary input");
        }

        ref float rp1 = ref MemoryMarshal.GetReference(p1);
        ref float rx1 = ref MemoryMarshal.GetReference(x1);
        ref float rp2 = ref MemoryMarshal.GetReference(p2);
        ref float rx2 = ref MemoryMarshal.GetReference(x2);
        nuint length = (nuint)p1.Length;
        for (int t = 0; t < tiles; t++)
        {
            nuint i = (nuint)t * (nuint)tile;
            nuint n = Math.Min(length, i + (nuint)tile);
            double t10 = 0, t11 = 0, t12 = 0, t20 = 0, t21 = 0, t22 = 0;
            if (Vector512.IsHardwareAccelerated && i + 16 <= n)
            {
                Vector512<float> a10 = Vector512<float>.Zero, a11 = Vector512<float>.Zero, a12 = Vector512<float>.Zero;
                Vector512<float> a20 = Vector512<float>.Zero, a21 = Vector512<float>.Zero, a22 = Vector512<float>.Zero;
                for (; i + 16 <= n; i += 16)
                {
                    VectorMath.PrefetchLine(ref Unsafe.Add(ref rp1, i + ahead));
                    VectorMath.PrefetchLine(ref Unsafe.Add(ref rp2, i + ahead));
                    Vector512<float> vx1 = op.Inputs > 0 ? Vector512.LoadUnsafe(ref rx1, i) : Vector512<float>.Zero;
                    Vector512<float> vx2 = op.Inputs > 0 ? Vector512.LoadUnsafe(ref rx2, i) : Vector512<float>.Zero;
                    op.Invoke(Vector512.LoadUnsafe(ref rp1, i), vx1, Vector512<float>.Zero, Vector512<float>.Zero, Vector512<float>.Zero, out Vector512<float> s10, out Vector512<float> s11, out Vector512<float> s12, out _);
                    op.Invoke(Vector512.LoadUnsafe(ref rp2, i), vx2, Vector512<float>.Zero, Vector512<float>.Zero, Vector512<float>.Zero, out Vector512<float> s20, out Vector512<float> s21, out Vector512<float> s22, out _);
                    Accumulate(op, ref a10, ref a11, ref a12, s10, s11, s12);
                    Accumulate(op, ref a20, ref a21, ref a22, s20, s21, s22);
                }

                AddLanes(op, a10, a11, a12, ref t10, ref t11, ref t12);
                AddLanes(op, a20, a21, a22, ref t20, ref t21, ref t22);
            }

            if (Vector256.IsHardwareAccelerated && i + 8 <= n)
            {
                Vector256<float> a10 = Vector256<float>.Zero, a11 = Vector256<float>.Zero, a12 = Vector256<float>.Zero;
                Vector256<float> a20 = Vector256<float>.Zero, a21 = Vector256<float>.Zero, a22 = Vector256<float>.Zero;
                for (; i + 8 <= n; i += 8)
                {
                    VectorMath.PrefetchLine(ref Unsafe.Add(ref rp1, i + ahead));
                    VectorMath.PrefetchLine(ref Unsafe.Add(ref rp2, i + ahead));
                    Vector256<float> vx1 = op.Inputs > 0 ? Vector256.LoadUnsafe(ref rx1, i) : Vector256<float>.Zero;
                    Vector256<float> vx2 = op.Inputs > 0 ? Vector256.LoadUnsafe(ref rx2, i) : Vector256<float>.Zero;
                    op.Invoke(Vector256.LoadUnsafe(ref rp1, i), vx1, Vector256<float>.Zero, Vector256<float>.Zero, Vector256<float>.Zero, out Vector256<float> s10, out Vector256<float> s11, out Vector256<float> s12, out _);
                    op.Invoke(Vector256.LoadUnsafe(ref rp2, i), vx2, Vector256<float>.Zero, Vector256<float>.Zero, Vector256<float>.Zero, out Vector256<float> s20, out Vector256<float> s21, out Vector256<float> s22, out _);
                    Accumulate(op, ref a10, ref a11, ref a12, s10, s11, s12);
                    Accumulate(op, ref a20, ref a21, ref a22, s20, s21, s22);
                }

                AddLanes(op, a10, a11, a12, ref t10, ref t11, ref t12);
                AddLanes(op, a20, a21, a22, ref t20, ref t21, ref t22);
            }

            if (Vector128.IsHardwareAccelerated && i + 4 <= n)
            {
                Vector128<float> a10 = Vector128<float>.Zero, a11 = Vector128<float>.Zero, a12 = Vector128<float>.Zero;
                Vector128<float> a20 = Vector128<float>.Zero, a21 = Vector128<float>.Zero, a22 = Vector128<float>.Zero;
                for (; i + 4 <= n; i += 4)
                {
                    Vector128<float> vx1 = op.Inputs > 0 ? Vector128.LoadUnsafe(ref rx1, i) : Vector128<float>.Zero;
                    Vector128<float> vx2 = op.Inputs > 0 ? Vector128.LoadUnsafe(ref rx2, i) : Vector128<float>.Zero;
                    op.Invoke(Vector128.LoadUnsafe(ref rp1, i), vx1, Vector128<float>.Zero, Vector128<float>.Zero, Vector128<float>.Zero, out Vector128<float> s10, out Vector128<float> s11, out Vector128<float> s12, out _);
                    op.Invoke(Vector128.LoadUnsafe(ref rp2, i), vx2, Vector128<float>.Zero, Vector128<float>.Zero, Vector128<float>.Zero, out Vector128<float> s20, out Vector128<float> s21, out Vector128<float> s22, out _);
                    Accumulate(op, ref a10, ref a11, ref a12, s10, s11, s12);
                    Accumulate(op, ref a20, ref a21, ref a22, s20, s21, s22);
                }

                AddLanes(op, a10, a11, a12, ref t10, ref t11, ref t12);
                AddLanes(op, a20, a21, a22, ref t20, ref t21, ref t22);
            }

            for (; i < n; i++)
            {
                float sx1 = op.Inputs > 0 ? Unsafe.Add(ref rx1, i) : 0f;
                float sx2 = op.Inputs > 0 ? Unsafe.Add(ref rx2, i) : 0f;
                op.Invoke(Unsafe.Add(ref rp1, i), sx1, 0f, 0f, 0f, out float s10, out float s11, out float s12, out _);
                op.Invoke(Unsafe.Add(ref rp2, i), sx2, 0f, 0f, 0f, out float s20, out float s21, out float s22, out _);
                t10 += op.Sums > 0 ? s10 : 0f;
                t11 += op.Sums > 1 ? s11 : 0f;
                t12 += op.Sums > 2 ? s12 : 0f;
                t20 += op.Sums > 0 ? s20 : 0f;
                t21 += op.Sums > 1 ? s21 : 0f;
                t22 += op.Sums > 2 ? s22 : 0f;
            }

            sums1[t] = new RowSums(t10, t11, t12);
            sums2[t] = new RowSums(t20, t21, t22);
        }
    }

    /// <summary>Adds the reduction terms the operator produces to their lanes (the others stay zero, no add).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate<TOperator>(TOperator op, ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2, Vector512<float> s0, Vector512<float> s1, Vector512<float> s2)
        where TOperator : struct, IRowOperator
    {
        if (op.Sums > 0)
        {
            a0 += s0;
        }

        if (op.Sums > 1)
        {
            a1 += s1;
        }

        if (op.Sums > 2)
        {
            a2 += s2;
        }
    }

    /// <summary>Adds the reduction terms the operator produces to their lanes (the others stay zero, no add).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate<TOperator>(TOperator op, ref Vector256<float> a0, ref Vector256<float> a1, ref Vector256<float> a2, Vector256<float> s0, Vector256<float> s1, Vector256<float> s2)
        where TOperator : struct, IRowOperator
    {
        if (op.Sums > 0)
        {
            a0 += s0;
        }

        if (op.Sums > 1)
        {
            a1 += s1;
        }

        if (op.Sums > 2)
        {
            a2 += s2;
        }
    }

    /// <summary>Adds the reduction terms the operator produces to their lanes (the others stay zero, no add).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate<TOperator>(TOperator op, ref Vector128<float> a0, ref Vector128<float> a1, ref Vector128<float> a2, Vector128<float> s0, Vector128<float> s1, Vector128<float> s2)
        where TOperator : struct, IRowOperator
    {
        if (op.Sums > 0)
        {
            a0 += s0;
        }

        if (op.Sums > 1)
        {
            a1 += s1;
        }

        if (op.Sums > 2)
        {
            a2 += s2;
        }
    }

    /// <summary>Adds the horizontal sums of the lanes of the reductions the operator produces (RowPass's step after each width).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddLanes<TOperator>(TOperator op, Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, ref double t0, ref double t1, ref double t2)
        where TOperator : struct, IRowOperator
    {
        t0 += op.Sums > 0 ? VectorMath.HorizontalSum(a0) : 0;
        t1 += op.Sums > 1 ? VectorMath.HorizontalSum(a1) : 0;
        t2 += op.Sums > 2 ? VectorMath.HorizontalSum(a2) : 0;
    }

    /// <summary>Adds the horizontal sums of the lanes of the reductions the operator produces (RowPass's step after each width).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddLanes<TOperator>(TOperator op, Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, ref double t0, ref double t1, ref double t2)
        where TOperator : struct, IRowOperator
    {
        t0 += op.Sums > 0 ? VectorMath.HorizontalSum(a0) : 0;
        t1 += op.Sums > 1 ? VectorMath.HorizontalSum(a1) : 0;
        t2 += op.Sums > 2 ? VectorMath.HorizontalSum(a2) : 0;
    }

    /// <summary>Adds the horizontal sums of the lanes of the reductions the operator produces (RowPass's step after each width).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddLanes<TOperator>(TOperator op, Vector128<float> a0, Vector128<float> a1, Vector128<float> a2, ref double t0, ref double t1, ref double t2)
        where TOperator : struct, IRowOperator
    {
        t0 += op.Sums > 0 ? VectorMath.HorizontalSum(a0) : 0;
        t1 += op.Sums > 1 ? VectorMath.HorizontalSum(a1) : 0;
        t2 += op.Sums > 2 ? VectorMath.HorizontalSum(a2) : 0;
    }


    /// <summary>
    /// A <see cref="IUnaryOperator"/> whose scalar tail is evaluated in double precision
    /// (<see cref="SumInLanesDoubleTail{TOperator}"/>).
    /// </summary>
    internal interface IDoubleTailOperator : IUnaryOperator
    {
        /// <summary>
        /// Whether <see cref="Invoke(Vector256{float}, Vector256{float}, out Vector256{float}, out Vector256{float})"/>
        /// is to be used (read once per call).
        /// </summary>
        bool Pairs { get; }

        /// <summary>The operator of one tail element, in double precision.</summary>
        double InvokeTail(float x);

        /// <summary>
        /// <c>op(x0)</c> and <c>op(x1)</c>, the same bits as two calls of <see cref="IUnaryOperator.Invoke(Vector256{float})"/>,
        /// with the two vectors' work interleaved (for a core whose out-of-order window holds less than one call's
        /// dependency chain); used only where Vector256 is the widest width and <see cref="Pairs"/> is true.
        /// </summary>
        void Invoke(Vector256<float> x0, Vector256<float> x1, out Vector256<float> s0, out Vector256<float> s1);

        /// <summary>
        /// Whether <see cref="Invoke(Vector512{float}, Vector512{float}, Vector512{float}, Vector512{float}, Vector512{float})"/>
        /// is to be used (read once per call).
        /// </summary>
        bool Quads { get; }

        /// <summary>
        /// <c>acc + op(x0) + op(x1) + op(x2) + op(x3)</c>, added in this order, the same bits as four calls of
        /// <see cref="IUnaryOperator.Invoke(Vector512{float})"/> added one by one, with the four vectors' work interleaved
        /// (for a core whose scheduler holds less than one call's dependency chain); used only where Vector512 is
        /// accelerated and <see cref="Quads"/> is true.
        /// </summary>
        Vector512<float> Invoke(Vector512<float> acc, Vector512<float> x0, Vector512<float> x1, Vector512<float> x2, Vector512<float> x3);
    }

    /// <summary>
    /// <c>sum_i op(x[i])</c> with float lanes in the widest accelerated width (512 bits, else 256), then at most one
    /// 256-bit step after the 512-bit loop, each width summed horizontally in double
    /// (<see cref="VectorMath.HorizontalSum(Vector512{float})"/>), and the remaining at most 7 elements (15 without
    /// Vector256) through <see cref="IDoubleTailOperator.InvokeTail"/> added in double: no 128-bit step, unlike
    /// <see cref="SumInLanes{TOperator}"/>. The order is fixed by n and the machine's vector width alone. Where Vector256
    /// is the widest width, an operator with <see cref="IDoubleTailOperator.Pairs"/> computes two vectors per step, and
    /// where Vector512 is accelerated, one with <see cref="IDoubleTailOperator.Quads"/> four (the same bits, added to the
    /// one accumulator in order).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static double SumInLanesDoubleTail<TOperator>(TOperator op, ReadOnlySpan<float> x)
        where TOperator : struct, IDoubleTailOperator
    {
        ref float src = ref MemoryMarshal.GetReference(x);
        nuint n = (nuint)x.Length;
        nuint i = 0;
        double total = 0;
        if (Vector512.IsHardwareAccelerated && i + 16 <= n)
        {
            Vector512<float> acc = Vector512<float>.Zero;
            if (op.Quads)
            {
                for (; i + 64 <= n; i += 64)
                {
                    acc = op.Invoke(acc, Vector512.LoadUnsafe(ref src, i), Vector512.LoadUnsafe(ref src, i + 16), Vector512.LoadUnsafe(ref src, i + 32), Vector512.LoadUnsafe(ref src, i + 48));
                }
            }

            for (; i + 16 <= n; i += 16)
            {
                acc += op.Invoke(Vector512.LoadUnsafe(ref src, i));
            }

            total += VectorMath.HorizontalSum(acc);
        }

        if (Vector256.IsHardwareAccelerated && i + 8 <= n)
        {
            Vector256<float> acc = Vector256<float>.Zero;
            if (!Vector512.IsHardwareAccelerated && op.Pairs)
            {
                for (; i + 16 <= n; i += 16)
                {
                    op.Invoke(Vector256.LoadUnsafe(ref src, i), Vector256.LoadUnsafe(ref src, i + 8), out Vector256<float> s0, out Vector256<float> s1);
                    acc += s0;
                    acc += s1;
                }
            }

            for (; i + 8 <= n; i += 8)
            {
                acc += op.Invoke(Vector256.LoadUnsafe(ref src, i));
            }

            total += VectorMath.HorizontalSum(acc);
        }

        for (; i < n; i++)
        {
            total += op.InvokeTail(Unsafe.Add(ref src, i));
        }

        return total;
    }

    /// <summary>
    /// <c>sum_i op(x[i])</c> with float lanes per vector width (summed horizontally in double) and the scalar tail
    /// in double: faster than <see cref="Sum{TOperator}"/>'s double lanes and accurate enough for rows of
    /// positive terms such as the exponentials of a max-shifted log-sum-exp (each lane holds a partial sum of at
    /// most n / 16 terms with Vector512, n / 8 with Vector256). Same width order as <see cref="RowPass{TOperator}"/>.
    /// </summary>
    internal static double SumInLanes<TOperator>(TOperator op, ReadOnlySpan<float> x)
        where TOperator : struct, IUnaryOperator
    {
        ref float src = ref MemoryMarshal.GetReference(x);
        nuint n = (nuint)x.Length;
        nuint i = 0;
        double total = 0;
        if (Vector512.IsHardwareAccelerated && i + 16 <= n)
        {
            Vector512<float> acc = Vector512<float>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                acc += op.Invoke(Vector512.LoadUnsafe(ref src, i));
            }

            total += VectorMath.HorizontalSum(acc);
        }

        if (Vector256.IsHardwareAccelerated && i + 8 <= n)
        {
            Vector256<float> acc = Vector256<float>.Zero;
            for (; i + 8 <= n; i += 8)
            {
                acc += op.Invoke(Vector256.LoadUnsafe(ref src, i));
            }

            total += VectorMath.HorizontalSum(acc);
        }

        if (Vector128.IsHardwareAccelerated && i + 4 <= n)
        {
            Vector128<float> acc = Vector128<float>.Zero;
            for (; i + 4 <= n; i += 4)
            {
                acc += op.Invoke(Vector128.LoadUnsafe(ref src, i));
            }

            total += VectorMath.HorizontalSum(acc);
        }

        for (; i < n; i++)
        {
            total += op.Invoke(Unsafe.Add(ref src, i));
        }

        return total;
    }
}
