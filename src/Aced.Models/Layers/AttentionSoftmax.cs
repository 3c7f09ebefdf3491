using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Aced.Core;

namespace Aced.Models.Layers;

/// <summary>
/// The attention's row softmax and its backward over a head's T x T block, four rows at a time: each row gets exactly
/// the operations of <see cref="RowMath.SoftmaxPrefix"/> / <see cref="RowMath.SoftmaxBackward"/> (the same bits), but
/// the four rows' dependency chains (the running max, the Vector256 lane sums, the horizontal sums in double and the
/// division) run side by side instead of one row after the other, which left the cores waiting on latency (a row of
/// 64 is ~200 cycles of chained work and little else).
/// </summary>
internal static class AttentionSoftmax
{
    /// <summary>Rows per interleaved group.</summary>
    private const int Group = 4;

    /// <summary>
    /// Whether <see cref="Forward"/> and <see cref="Backward"/> interleave rows; on by default, off in A/B probes and in
    /// the tests that compare against the one-row passes.
    /// </summary>
    internal static bool Interleaved { get; set; } = true;

    /// <summary>
    /// Softmax of each row of the <paramref name="rows"/> x <paramref name="t"/> block in place (row stride t); with
    /// <paramref name="causal"/> row r keeps its first r + 1 entries (the rest become 0), as
    /// <c>RowMath.SoftmaxPrefix(row r, causal ? r + 1 : t)</c> for every r.
    /// </summary>
    public static void Forward(Span<float> block, int rows, int t, bool causal)
    {
        int r = 0;
        if (causal && VectorCausal && Vector256.IsHardwareAccelerated && t % Vector256<float>.Count == 0 && block.Length >= rows * t)
        {
            ref float b0 = ref MemoryMarshal.GetReference(block);
            int end = Math.Min(rows, t);
            if (CausalGroups)
            {
                for (; r + Group <= end && CausalRows4(ref Unsafe.Add(ref b0, r * t), t, r + 1); r += Group)
                {
                }
            }

            for (; r < end; r++)
            {
                if (!CausalRow(ref Unsafe.Add(ref b0, r * t), t, r + 1))
                {
                    RowMath.SoftmaxPrefix(block.Slice(r * t, t), r + 1);
                }
            }
        }
        else if (Interleaved && !causal && t % Vector256<float>.Count == 0)
        {
            ref float b0 = ref MemoryMarshal.GetReference(block);
            for (; r + Group <= rows; r += Group)
            {
                if (!FullRows4(ref Unsafe.Add(ref b0, r * t), t))
                {
                    OneRowAtATime(block, r, r + Group, t, causal);
                }
            }
        }

        OneRowAtATime(block, r, rows, t, causal);
    }

    /// <summary>
    /// Whether <see cref="Forward"/> runs causal blocks (t a multiple of 8) through <see cref="CausalRow"/>, whose prefix
    /// tail is one masked vector instead of <see cref="RowMath.SoftmaxPrefix"/>'s scalar loops (the same bits): on by
    /// default, off in A/B probes and in the tests that compare the two.
    /// </summary>
    internal static bool VectorCausal { get; set; } = true;

    /// <summary>
    /// Whether <see cref="Forward"/>'s causal vector rows (<see cref="VectorCausal"/>) run four at a time, phase by phase
    /// (<see cref="CausalRows4"/>; the same operations per row, so the same bits); a group that would fall back, and every
    /// row after it, runs one row at a time. On by default, off in A/B probes and in the tests that compare the two.
    /// </summary>
    internal static bool CausalGroups { get; set; } = true;

    /// <summary>
    /// <see cref="RowMath.SoftmaxPrefix"/>(row, valid) for a row of t floats (t a multiple of 8, 0 &lt; valid &lt;= t) with the
    /// valid entries' last partial vector (the tail) handled as one vector: its maximum through a masked vector, its
    /// exponentials by the vector <see cref="VectorMath.ExpNonPositive(Vector256{float})"/> (equal to the scalar one lane
    /// by lane for arguments in [-Inf, 0]), added to the double sum one lane at a time in order, and its normalisation
    /// with the lanes from valid on set to +0. Returns false, having written nothing, when a valid entry is NaN or the
    /// maximum is not finite (the caller then runs the one-row pass, whose NaN and infinity propagation this does not
    /// reproduce).
    /// </summary>
    /// <remarks>
    /// Same bits: the full vectors get <see cref="RowMath.SoftmaxPrefix"/>'s operations unchanged; the maximum of finite
    /// or infinite non-NaN values under the IEEE maximum (+0 above -0) does not depend on the order they are taken in;
    /// with a finite maximum every exponential's argument x - max lies in [-Inf, 0], where the vector and scalar
    /// exponentials agree; the sum takes the tail's exponentials in the same order; the normalisation is one rounding
    /// per element either way; and the cleared entries are +0 either way.
    /// </remarks>
    private static bool CausalRow(ref float row, int t, int valid)
    {
        if (!PrefixMax(ref row, valid, out float max))
        {
            return false;
        }

        double sum = PrefixExp(ref row, valid, max);
        Normalize(ref row, t, valid, (float)(1.0 / sum));
        return true;
    }

    /// <summary>
    /// Four consecutive causal rows (valid, valid + 1, valid + 2, valid + 3 entries): <see cref="CausalRow"/>'s three
    /// phases, each phase for the four rows before the next phase, so that the rows' dependency chains (the maximum, the
    /// exponentials, the double sum and its division) overlap instead of running one row after the other. Returns false,
    /// having written nothing, when any of the four would (the caller then runs the rows one at a time).
    /// </summary>
    private static bool CausalRows4(ref float r0, int t, int valid)
    {
        ref float r1 = ref Unsafe.Add(ref r0, t);
        ref float r2 = ref Unsafe.Add(ref r0, 2 * t);
        ref float r3 = ref Unsafe.Add(ref r0, 3 * t);
        bool ok0 = PrefixMax(ref r0, valid, out float m0);
        bool ok1 = PrefixMax(ref r1, valid + 1, out float m1);
        bool ok2 = PrefixMax(ref r2, valid + 2, out float m2);
        bool ok3 = PrefixMax(ref r3, valid + 3, out float m3);
        if (!(ok0 & ok1 & ok2 & ok3))
        {
            return false;
        }

        double s0 = PrefixExp(ref r0, valid, m0);
        double s1 = PrefixExp(ref r1, valid + 1, m1);
        double s2 = PrefixExp(ref r2, valid + 2, m2);
        double s3 = PrefixExp(ref r3, valid + 3, m3);
        Normalize(ref r0, t, valid, (float)(1.0 / s0));
        Normalize(ref r1, t, valid + 1, (float)(1.0 / s1));
        Normalize(ref r2, t, valid + 2, (float)(1.0 / s2));
        Normalize(ref r3, t, valid + 3, (float)(1.0 / s3));
        return true;
    }

    /// <summary>
    /// <see cref="CausalRow"/>'s first phase: the maximum of the row's first <paramref name="valid"/> entries (the tail
    /// through a masked vector); false when one of them is NaN or the maximum is not finite. Reads only.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool PrefixMax(ref float row, int valid, out float max)
    {
        int w = Vector256<float>.Count;
        int full = valid & ~(w - 1);
        int tail = valid - full;
        Vector256<float> ordered = Vector256<float>.AllBitsSet;
        max = float.NegativeInfinity;
        if (full > 0)
        {
            Vector256<float> mv = Vector256.Create(float.NegativeInfinity);
            for (nuint i = 0; i < (nuint)full; i += (nuint)w)
            {
                Vector256<float> x = Vector256.LoadUnsafe(ref row, i);
                mv = Vector256.Max(mv, x);
                ordered &= Vector256.Equals(x, x);
            }

            max = VectorMath.HorizontalMax(mv);
        }

        if (tail > 0)
        {
            Vector256<float> keep = Vector256.LessThan(Vector256<int>.Indices, Vector256.Create(tail)).AsSingle();
            Vector256<float> x = Vector256.LoadUnsafe(ref row, (nuint)full);
            ordered &= Vector256.Equals(x, x) | ~keep;
            max = MathF.Max(max, VectorMath.HorizontalMax(Vector256.ConditionalSelect(keep, x, Vector256.Create(float.NegativeInfinity))));
        }

        return Vector256.ExtractMostSignificantBits(ordered) == 0xFFu && float.IsFinite(max);
    }

    /// <summary>
    /// <see cref="CausalRow"/>'s second phase: the first <paramref name="valid"/> entries (and the tail vector's other
    /// lanes) replaced by exp(x - max); returns the sum of the valid ones in double (the full vectors' lane sums, then
    /// the tail's terms one at a time in order).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double PrefixExp(ref float row, int valid, float max)
    {
        int w = Vector256<float>.Count;
        int full = valid & ~(w - 1);
        int tail = valid - full;
        Vector256<float> shift = Vector256.Create(max);
        Vector256<float> sv = Vector256<float>.Zero;
        for (nuint i = 0; i < (nuint)full; i += (nuint)w)
        {
            Vector256<float> e = VectorMath.ExpNonPositive(Vector256.LoadUnsafe(ref row, i) - shift);
            e.StoreUnsafe(ref row, i);
            sv += e;
        }

        double sum = VectorMath.HorizontalSum(sv);
        if (tail > 0)
        {
            ref float tailRow = ref Unsafe.Add(ref row, full);
            VectorMath.ExpNonPositive(Vector256.LoadUnsafe(ref tailRow) - shift).StoreUnsafe(ref tailRow);
            for (int j = 0; j < tail; j++)
            {
                sum += Unsafe.Add(ref tailRow, j);
            }
        }

        return sum;
    }

    /// <summary>
    /// <see cref="CausalRow"/>'s last phase: the first <paramref name="valid"/> entries times <paramref name="inverse"/>,
    /// the rest of the row's t entries +0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Normalize(ref float row, int t, int valid, float inverse)
    {
        int w = Vector256<float>.Count;
        int full = valid & ~(w - 1);
        int tail = valid - full;
        Vector256<float> iv = Vector256.Create(inverse);
        for (nuint i = 0; i < (nuint)full; i += (nuint)w)
        {
            (Vector256.LoadUnsafe(ref row, i) * iv).StoreUnsafe(ref row, i);
        }

        int cleared = full;
        if (tail > 0)
        {
            Vector256<float> keep = Vector256.LessThan(Vector256<int>.Indices, Vector256.Create(tail)).AsSingle();
            ref float tailRow = ref Unsafe.Add(ref row, full);
            ((Vector256.LoadUnsafe(ref tailRow) * iv) & keep).StoreUnsafe(ref tailRow);
            cleared += w;
        }

        for (nuint i = (nuint)cleared; i < (nuint)t; i += (nuint)w)
        {
            Vector256<float>.Zero.StoreUnsafe(ref row, i);
        }
    }

    private static void OneRowAtATime(Span<float> block, int first, int end, int t, bool causal)
    {
        for (int r = first; r < end; r++)
        {
            RowMath.SoftmaxPrefix(block.Slice(r * t, t), causal ? r + 1 : t);
        }
    }

    /// <summary>
    /// Softmax backward of each row in place, as <c>RowMath.SoftmaxBackward(p row r, dpToDs row r)</c> for every r
    /// (blocks of <paramref name="rows"/> x <paramref name="t"/>, row stride t).
    /// </summary>
    public static void Backward(ReadOnlySpan<float> p, Span<float> dpToDs, int rows, int t)
    {
        int r = 0;
        if (Interleaved && t % Vector256<float>.Count == 0)
        {
            ref float p0 = ref MemoryMarshal.GetReference(p);
            ref float d0 = ref MemoryMarshal.GetReference(dpToDs);
            for (; r + Group <= rows; r += Group)
            {
                BackwardRows4(ref Unsafe.Add(ref p0, r * t), ref Unsafe.Add(ref d0, r * t), t);
            }
        }

        for (; r < rows; r++)
        {
            RowMath.SoftmaxBackward(p.Slice(r * t, t), dpToDs.Slice(r * t, t));
        }
    }

    /// <summary>
    /// Four full rows (t a multiple of 8): <see cref="RowMath.SoftmaxPrefix"/>'s vector path with valid = t, per row;
    /// returns false, touching nothing, when a row holds a NaN (the caller then runs the one-row pass, whose NaN
    /// propagation this does not reproduce).
    /// </summary>
    /// <remarks>
    /// The maxima use the native maximum (one instruction against the IEEE maximum's nine on AVX2) plus a NaN check:
    /// without NaN the two differ at most in the sign of a zero maximum, and x - (+0) and x - (-0) differ only for
    /// x = -0, where exp gives 1 either way.
    /// </remarks>
    private static bool FullRows4(ref float r0, int t)
    {
        ref float r1 = ref Unsafe.Add(ref r0, t);
        ref float r2 = ref Unsafe.Add(ref r0, 2 * t);
        ref float r3 = ref Unsafe.Add(ref r0, 3 * t);
        int w = Vector256<float>.Count;

        Vector256<float> m0 = Vector256.Create(float.NegativeInfinity), m1 = m0, m2 = m0, m3 = m0;
        Vector256<float> ordered = Vector256<float>.AllBitsSet;
        for (nuint i = 0; i < (nuint)t; i += (nuint)w)
        {
            Vector256<float> x0 = Vector256.LoadUnsafe(ref r0, i);
            Vector256<float> x1 = Vector256.LoadUnsafe(ref r1, i);
            Vector256<float> x2 = Vector256.LoadUnsafe(ref r2, i);
            Vector256<float> x3 = Vector256.LoadUnsafe(ref r3, i);
            m0 = Vector256.MaxNative(m0, x0);
            m1 = Vector256.MaxNative(m1, x1);
            m2 = Vector256.MaxNative(m2, x2);
            m3 = Vector256.MaxNative(m3, x3);
            ordered &= Vector256.Equals(x0, x0) & Vector256.Equals(x1, x1) & Vector256.Equals(x2, x2) & Vector256.Equals(x3, x3);
        }

        if (Vector256.ExtractMostSignificantBits(ordered) != 0xFFu)
        {
            return false;
        }

        Vector256<float> s0 = Vector256.Create(VectorMath.HorizontalMax(m0));
        Vector256<float> s1 = Vector256.Create(VectorMath.HorizontalMax(m1));
        Vector256<float> s2 = Vector256.Create(VectorMath.HorizontalMax(m2));
        Vector256<float> s3 = Vector256.Create(VectorMath.HorizontalMax(m3));

        // exp(x - max), stored, one row at a time (a row's vectors are independent; four rows' worth of exp constants
        // and temporaries would not fit the 16 registers); lane j of each row's sum takes elements j, j + 8, ... in order.
        Vector256<float> a0 = ExpRow(ref r0, t, s0);
        Vector256<float> a1 = ExpRow(ref r1, t, s1);
        Vector256<float> a2 = ExpRow(ref r2, t, s2);
        Vector256<float> a3 = ExpRow(ref r3, t, s3);
        Vector256<float> i0 = Vector256.Create((float)(1.0 / VectorMath.HorizontalSum(a0)));
        Vector256<float> i1 = Vector256.Create((float)(1.0 / VectorMath.HorizontalSum(a1)));
        Vector256<float> i2 = Vector256.Create((float)(1.0 / VectorMath.HorizontalSum(a2)));
        Vector256<float> i3 = Vector256.Create((float)(1.0 / VectorMath.HorizontalSum(a3)));
        nuint start = 0;
        if (Wide512 && Vector512.IsHardwareAccelerated)
        {
            Vector512<float> w0 = Vector512.Create(i0, i0), w1 = Vector512.Create(i1, i1), w2 = Vector512.Create(i2, i2), w3 = Vector512.Create(i3, i3);
            for (; start + (nuint)Vector512<float>.Count <= (nuint)t; start += (nuint)Vector512<float>.Count)
            {
                (Vector512.LoadUnsafe(ref r0, start) * w0).StoreUnsafe(ref r0, start);
                (Vector512.LoadUnsafe(ref r1, start) * w1).StoreUnsafe(ref r1, start);
                (Vector512.LoadUnsafe(ref r2, start) * w2).StoreUnsafe(ref r2, start);
                (Vector512.LoadUnsafe(ref r3, start) * w3).StoreUnsafe(ref r3, start);
            }
        }

        for (nuint i = start; i < (nuint)t; i += (nuint)w)
        {
            (Vector256.LoadUnsafe(ref r0, i) * i0).StoreUnsafe(ref r0, i);
            (Vector256.LoadUnsafe(ref r1, i) * i1).StoreUnsafe(ref r1, i);
            (Vector256.LoadUnsafe(ref r2, i) * i2).StoreUnsafe(ref r2, i);
            (Vector256.LoadUnsafe(ref r3, i) * i3).StoreUnsafe(ref r3, i);
        }

        return true;
    }

    /// <summary>
    /// Whether <see cref="Forward"/>'s full rows (<see cref="FullRows4"/>) take their exponentials and normalisation 16
    /// at a time on Vector512 (one instruction where Vector256 takes two; the same operations lane by lane, and each
    /// vector's halves added to the 8-lane sums in the order the Vector256 loop adds them, so the same bits): on by
    /// default where Vector512 is accelerated, off in A/B probes and tests.
    /// </summary>
    internal static bool Wide512 { get; set; } = true;

    /// <summary>Replaces the row's entries x by exp(x - shift) and returns their lane sums (lane j: entries j, j + 8, ...).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> ExpRow(ref float row, int t, Vector256<float> shift)
    {
        Vector256<float> sum = Vector256<float>.Zero;
        nuint i = 0;
        if (Wide512 && Vector512.IsHardwareAccelerated)
        {
            Vector512<float> wide = Vector512.Create(shift, shift);
            for (; i + (nuint)Vector512<float>.Count <= (nuint)t; i += (nuint)Vector512<float>.Count)
            {
                Vector512<float> e = VectorMath.ExpNonPositive(Vector512.LoadUnsafe(ref row, i) - wide);
                e.StoreUnsafe(ref row, i);
                sum += e.GetLower();
                sum += e.GetUpper();
            }
        }

        for (; i < (nuint)t; i += (nuint)Vector256<float>.Count)
        {
            Vector256<float> e = VectorMath.ExpNonPositive(Vector256.LoadUnsafe(ref row, i) - shift);
            e.StoreUnsafe(ref row, i);
            sum += e;
        }

        return sum;
    }

    /// <summary>Four rows (t a multiple of 8): <see cref="RowMath.SoftmaxBackward"/>'s vector path, per row.</summary>
    private static void BackwardRows4(ref float p0, ref float d0, int t)
    {
        ref float p1 = ref Unsafe.Add(ref p0, t);
        ref float p2 = ref Unsafe.Add(ref p0, 2 * t);
        ref float p3 = ref Unsafe.Add(ref p0, 3 * t);
        ref float d1 = ref Unsafe.Add(ref d0, t);
        ref float d2 = ref Unsafe.Add(ref d0, 2 * t);
        ref float d3 = ref Unsafe.Add(ref d0, 3 * t);
        int w = Vector256<float>.Count;
        Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
        for (nuint i = 0; i < (nuint)t; i += (nuint)w)
        {
            a0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref p0, i), Vector256.LoadUnsafe(ref d0, i), a0);
            a1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref p1, i), Vector256.LoadUnsafe(ref d1, i), a1);
            a2 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref p2, i), Vector256.LoadUnsafe(ref d2, i), a2);
            a3 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref p3, i), Vector256.LoadUnsafe(ref d3, i), a3);
        }

        Vector256<float> v0 = Vector256.Create((float)VectorMath.HorizontalSum(a0));
        Vector256<float> v1 = Vector256.Create((float)VectorMath.HorizontalSum(a1));
        Vector256<float> v2 = Vector256.Create((float)VectorMath.HorizontalSum(a2));
        Vector256<float> v3 = Vector256.Create((float)VectorMath.HorizontalSum(a3));
        for (nuint i = 0; i < (nuint)t; i += (nuint)w)
        {
            ((Vector256.LoadUnsafe(ref d0, i) - v0) * Vector256.LoadUnsafe(ref p0, i)).StoreUnsafe(ref d0, i);
            ((Vector256.LoadUnsafe(ref d1, i) - v1) * Vector256.LoadUnsafe(ref p1, i)).StoreUnsafe(ref d1, i);
            ((Vector256.LoadUnsafe(ref d2, i) - v2) * Vector256.LoadUnsafe(ref p2, i)).StoreUnsafe(ref d2, i);
            ((Vector256.LoadUnsafe(ref d3, i) - v3) * Vector256.LoadUnsafe(ref p3, i)).StoreUnsafe(ref d3, i);
        }
    }
}
