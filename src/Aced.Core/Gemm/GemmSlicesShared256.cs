using System;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading;

namespace Aced.Core;

/// <summary>
/// The two column halves of one weight gradient, <c>dW[:, half] += x^T dy[:, half]</c>, run as two concurrent
/// <see cref="GemmSlices.AddTransposedProducts(MatrixView, MatrixView, MatrixView, int, TransposedProductsPair, int)"/>
/// calls (the concurrent backward's items 0 and 1): both need the same packed x^T, so on AVX2 (<see cref="GemmSlices.RunPiped"/>)
/// each half packs one half of every k block's x^T strips into a buffer both read, and waits for the other's half before
/// computing the block. The packed values, kernels, k blocks and store rule are those of the unshared form, so the bits are
/// too.
/// </summary>
/// <remarks>
/// <para>
/// The halves pair up only if both calls are running at once: the first to arrive waits up to
/// <see cref="JoinTimeout"/> for the other, and if it does not come (one thread runs both items one after the other)
/// both run unshared. Paired, a half waits only for the other half's packing of a block the other is working on, so
/// neither can wait forever: with three buffers, a half packing block t + 1 while computing block t never overwrites a
/// block the other still reads (the other has packed its half of block t, so it has finished block t - 2).
/// </para>
/// <para>Reusable: <see cref="Rent"/> one per backward call and <see cref="Return"/> it afterwards (no allocation in steady state).</para>
/// </remarks>
internal sealed unsafe class TransposedProductsPair
{
    /// <summary>Packed x^T buffers: block t uses slot t mod 3.</summary>
    internal const int Slots = 3;

    private static TransposedProductsPair? s_spare;

    /// <summary>
    /// How long the first half waits for the second in <see cref="Join"/> (200 µs by default, against the 2-10 ms of a
    /// step's dW half; tests set it long so that their two threads always pair).
    /// </summary>
    internal static TimeSpan JoinTimeout { get; set; } = TimeSpan.FromMicroseconds(200);

    private const int Empty = 0;
    private const int Waiting = 1;
    private const int Paired = 2;
    private const int Solo = 3;

    private int _state;
    private int _prepared;
    private int[] _done = new int[64];
    private float[] _buffer = [];

    /// <summary>A reset pair (the spare one if free, else a new one).</summary>
    public static TransposedProductsPair Rent()
    {
        TransposedProductsPair pair = Interlocked.Exchange(ref s_spare, null) ?? new TransposedProductsPair();
        pair._state = Empty;
        pair._prepared = 0;
        return pair;
    }

    /// <summary>Gives the pair back for the next <see cref="Rent"/> (after both halves have returned).</summary>
    public static void Return(TransposedProductsPair pair) => Volatile.Write(ref s_spare, pair);

    /// <summary>
    /// Called by each half before it starts: true when both halves run at once (then both share the packing), false when
    /// the other half did not arrive within <see cref="JoinTimeout"/> (then both run unshared).
    /// </summary>
    public bool Join()
    {
        int seen = Interlocked.CompareExchange(ref _state, Waiting, Empty);
        if (seen == Waiting)
        {
            return Interlocked.CompareExchange(ref _state, Paired, Waiting) == Waiting;
        }

        if (seen != Empty)
        {
            return false;
        }

        long end = Stopwatch.GetTimestamp() + (long)(JoinTimeout.TotalSeconds * Stopwatch.Frequency);
        var spin = default(SpinWait);
        while (Volatile.Read(ref _state) == Waiting && Stopwatch.GetTimestamp() < end)
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }

        return Interlocked.CompareExchange(ref _state, Solo, Waiting) != Waiting;
    }

    /// <summary>
    /// Sizes the shared state for <paramref name="blocks"/> k blocks and <see cref="Slots"/> buffers of
    /// <paramref name="slotFloats"/> floats each, 64-byte aligned; called by half 0 of a pair that joined, before either
    /// half packs (see <see cref="Prepare"/>).
    /// </summary>
    private void Size(int blocks, nint slotFloats)
    {
        if (_done.Length < blocks + 1)
        {
            _done = new int[blocks + 1];
        }

        Array.Clear(_done, 0, blocks + 1);
        long floats = (Slots * slotFloats) + 16;
        if (_buffer.Length < floats)
        {
            _buffer = GC.AllocateUninitializedArray<float>((int)floats, pinned: true);
        }
    }

    /// <summary>
    /// Sizes the state (one of the halves does it; the other waits until it is done) and returns the first slot's address.
    /// Both halves pass the same <paramref name="blocks"/> and <paramref name="slotFloats"/> (same x, same k).
    /// </summary>
    public float* Prepare(int half, int blocks, nint slotFloats)
    {
        if (half == 0)
        {
            try
            {
                Size(blocks, slotFloats);
            }
            catch
            {
                // The other half must not wait for buffers that will never come.
                Volatile.Write(ref _prepared, -1);
                throw;
            }

            Volatile.Write(ref _prepared, 1);
        }
        else
        {
            var spin = default(SpinWait);
            while (Volatile.Read(ref _prepared) == 0)
            {
                spin.SpinOnce(sleep1Threshold: -1);
            }

            if (_prepared < 0)
            {
                throw new InvalidOperationException("The other half of the weight gradient failed to allocate the shared x^T buffers.");
            }
        }

        nint address = (nint)Unsafe.AsPointer(ref _buffer[0]);
        return (float*)((address + 63) & ~(nint)63);
    }

    /// <summary>Whether the last use paired up (for tests and probes).</summary>
    internal bool WasPaired => Volatile.Read(ref _state) == Paired;

    /// <summary>Marks this half's share of block <paramref name="block"/> packed (its stores are visible before the count).</summary>
    public void Packed(int block) => Interlocked.Increment(ref _done[block]);

    /// <summary>Waits until both halves' shares of block <paramref name="block"/> are packed.</summary>
    public void WaitPacked(int block)
    {
        if (Volatile.Read(ref _done[block]) >= 2)
        {
            return;
        }

        var spin = default(SpinWait);
        while (Volatile.Read(ref _done[block]) < 2)
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }
    }
}

/// <summary>The shared x^T packing of two concurrent column halves (<see cref="TransposedProductsPair"/>).</summary>
internal static partial class GemmSlices
{
    /// <summary>
    /// Whether paired column halves (<see cref="AddTransposedProducts(MatrixView, MatrixView, MatrixView, int, TransposedProductsPair, int)"/>)
    /// share the packing of x^T (off: each packs all of it, as unpaired calls do; an A/B switch, same bits).
    /// </summary>
    internal static bool SharedPacking { get; set; } = true;
}
