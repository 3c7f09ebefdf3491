using System;
using System.Runtime.CompilerServices;
using System.Threading;

namespace Aced.Core;

/// <summary>
/// op(B) of the AVX2 dx blocks packed once per thread and layer instead of once per block: a concurrent backward runs
/// dx = dy W^T as 16 blocks of 1024 rows with the same W, and each <see cref="RunTransposedSix"/> call packed all of W^T
/// again (64K floats, transposed, for each of the step's layers: ~3-4 % of a 128-column block on Zen 3). A caller that
/// names its unchanged op(B) with a key (<see cref="NewOperandKey"/>, passed to
/// <see cref="MultiplyTransposedKeyed"/>) lets each thread keep its packed copy
/// in a buffer of its own and reuse it for the next call with that key and operand. The copy is the same floats in the
/// same layout, so the bits are unchanged.
/// </summary>
internal static unsafe partial class GemmSlices
{
    /// <summary>
    /// Whether keyed <see cref="MultiplyTransposedKeyed"/> calls reuse the
    /// thread's packed op(B) (an A/B switch for the benchmarks and probes; off, every call packs it; same bits).
    /// </summary>
    internal static bool SharedTransposedB { get; set; } = true;

    private static long s_operandKeys;

    /// <summary>The key of the op(B) the current <see cref="MultiplyTransposedKeyed"/> call names (0: none).</summary>
    [ThreadStatic]
    private static long t_operandKey;

    [ThreadStatic]
    private static PackedTransposedB? t_packedB;

    /// <summary>A new key (never 0) for an operand B that stays unchanged across the <see cref="MultiplyTransposedKeyed"/> calls that pass it.</summary>
    internal static long NewOperandKey() => Interlocked.Increment(ref s_operandKeys);

    /// <summary>
    /// <see cref="MultiplyTransposed"/> with B named by <paramref name="bKey"/>
    /// (from <see cref="NewOperandKey"/>; 0 names nothing): the caller promises that B's values do not change between
    /// calls with the same key, so a thread may reuse the packed op(B) of its previous call with that key and the same
    /// B view. Same bits as the unkeyed call.
    /// </summary>
    internal static void MultiplyTransposedKeyed(MatrixView a, MatrixView b, MatrixView c, bool accumulate, long bKey)
    {
        long saved = t_operandKey;
        t_operandKey = bKey;
        try
        {
            MultiplyTransposed(a, b, c, accumulate);
        }
        finally
        {
            t_operandKey = saved;
        }
    }

    /// <summary>
    /// op(B) of columns j0 .. +ncb for all k packed as <see cref="PackTransposedChunk"/> does: into <paramref name="scratchB"/>,
    /// or, when the call is keyed, <see cref="SharedTransposedB"/> is on and the chunk is all of B's n rows, the thread's
    /// kept copy (packed now unless it already holds this key's B).
    /// </summary>
    private static float* PackedTransposedChunk(float* b, nint ldb, GemmPlan plan, int k, int n, int j0, int ncb, int ncPad, float* scratchB)
    {
        long key = t_operandKey;
        if (key == 0 || !SharedTransposedB || j0 != 0 || ncb != n)
        {
            PackTransposedChunk(b, ldb, plan, k, j0, ncb, ncPad, scratchB);
            return scratchB;
        }

        PackedTransposedB kept = t_packedB ??= new PackedTransposedB();
        if (kept.Holds(key, b, ldb, n, k))
        {
            return kept.Data;
        }

        float* data = kept.Reserve(ncPad * k);
        PackTransposedChunk(b, ldb, plan, k, 0, ncb, ncPad, data);
        kept.Record(key, b, ldb, n, k);
        return data;
    }

    /// <summary>One thread's kept packed op(B) and what it was packed from (pinned, grown on demand).</summary>
    private sealed class PackedTransposedB
    {
        private float[] _buffer = [];
        private long _key;
        private nint _source;
        private nint _ldb;
        private int _n;
        private int _k;

        public float* Data { get; private set; }

        public bool Holds(long key, float* b, nint ldb, int n, int k) =>
            _key == key && _source == (nint)b && _ldb == ldb && _n == n && _k == k;

        /// <summary>A buffer of at least <paramref name="floats"/> floats (64-byte aligned); forgets what it held.</summary>
        public float* Reserve(int floats)
        {
            _key = 0;
            if (_buffer.Length < floats + 16)
            {
                _buffer = GC.AllocateUninitializedArray<float>(floats + 16, pinned: true);
            }

            nint address = (nint)Unsafe.AsPointer(ref _buffer[0]);
            Data = (float*)((address + 63) & ~(nint)63);
            return Data;
        }

        public void Record(long key, float* b, nint ldb, int n, int k)
        {
            _key = key;
            _source = (nint)b;
            _ldb = ldb;
            _n = n;
            _k = k;
        }
    }
}
