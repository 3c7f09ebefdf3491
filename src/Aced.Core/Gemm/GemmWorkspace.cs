using System;
using System.Runtime.CompilerServices;

namespace Aced.Core;

/// <summary>
/// Per-thread packing buffers, allocated on the pinned object heap once (grown only when a larger
/// problem arrives) and reused by every later call, so steady-state SGEMM allocates nothing.
/// A small per-thread stack indexed by nesting depth gives a GEMM issued from inside an epilogue its
/// own buffers.
/// </summary>
internal sealed unsafe class GemmWorkspace
{
    /// <summary>Largest packed-B cache (floats) that holds every column block at once (16 MiB).</summary>
    internal static long MultiSlotBudget { get; set; } = 4L << 20;

    [ThreadStatic]
    private static GemmWorkspace?[]? t_stack;

    [ThreadStatic]
    private static int t_depth;

    private PinnedBuffer _aPanel;
    private PinnedBuffer _edge;
    private PinnedBuffer _scratch;
    private PinnedBuffer _packedB;
    private PinnedBuffer _packedA;
    private PinnedBuffer _sharedB;
    private PinnedBuffer _callA;
    private long[] _callASerial = new long[16];
    private long[] _stampSerial = new long[16];
    private int[] _stampBlock = new int[16];
    private int[] _stampKBlocks = new int[16];
    private long _aSerial;
    private int _aBlock = -1;

    // k-block mode: which (serial, column block, k block) the buffer holds.
    private long _singleSerial;
    private int _singleBlock = -1;
    private int _singleK = -1;

    private GemmWorkspace()
    {
        _aPanel = new PinnedBuffer(GemmPlan.MR * GemmPlan.KcMax);
        _edge = new PinnedBuffer(GemmPlan.MR * GemmPlan.NR);
    }

    /// <summary>Nesting depth of the current thread (0 outside any GEMM).</summary>
    internal static int Depth => t_depth;

    /// <summary>A.micro-panel buffer (8 x KcMax).</summary>
    internal float* APanel => _aPanel.Pointer;

    /// <summary>8 x 32 tile for edge micro-tiles.</summary>
    internal float* Edge => _edge.Pointer;

    /// <summary>Takes the workspace for the current thread at the current nesting depth.</summary>
    internal static GemmWorkspace Rent()
    {
        GemmWorkspace?[] stack = t_stack ??= new GemmWorkspace?[4];
        int depth = t_depth;
        if (depth == stack.Length)
        {
            Array.Resize(ref stack, depth * 2);
            t_stack = stack;
        }

        GemmWorkspace ws = stack[depth] ??= new GemmWorkspace();
        t_depth = depth + 1;
        return ws;
    }

    /// <summary>Gives back the workspace taken by the matching <see cref="Rent"/>.</summary>
    internal static void Return() => t_depth--;

    /// <summary>Scratch of at least <paramref name="floats"/> floats (64-byte aligned).</summary>
    internal float* Scratch(long floats)
    {
        _scratch.Ensure(floats);
        return _scratch.Pointer;
    }

    /// <summary>
    /// Buffer of at least <paramref name="floats"/> floats (64-byte aligned) for operands a call packs once and shares
    /// with every thread (the packed B of a group of fused products); separate from <see cref="Scratch"/>.
    /// </summary>
    internal float* SharedB(long floats)
    {
        _sharedB.Ensure(floats);
        return _sharedB.Pointer;
    }

    /// <summary>
    /// Number of whole column blocks (each all of k) of packed B that a thread caches at once:
    /// as many as fit <see cref="MultiSlotBudget"/>, at most all of them; 0 when not even one fits.
    /// </summary>
    internal static int BSlots(GemmPlan plan)
    {
        long blockFloats = Math.Max(1, plan.PackedBlockFloats);
        return blockFloats > MultiSlotBudget ? 0 : (int)Math.Min(plan.ColTiles, MultiSlotBudget / blockFloats);
    }

    /// <summary>
    /// The packed k block <paramref name="kb"/> of op(B) column block <paramref name="jb"/> of the call
    /// <paramref name="job"/>, packing on first use (k blocks of a column block in increasing order, each when first
    /// asked for, so the kernels read it while it is still in L2). Whole column blocks (all of k) are cached in
    /// <see cref="BSlots"/> direct-mapped slots (slot = jb mod slots); when not even one column block fits the
    /// budget, only the current k block is kept.
    /// </summary>
    internal float* PackedB(GemmJob job, int jb, int kb)
    {
        GemmPlan plan = job.Plan;
        int j0 = jb * plan.Nc;
        int ncPad = GemmPlan.RoundUp(Math.Min(plan.Nc, plan.N - j0), GemmPlan.NR);
        long blockFloats = plan.PackedBlockFloats;
        int slots = BSlots(plan);
        if (slots > 0)
        {
            long total = blockFloats * slots;
            if (_packedB.Capacity < total)
            {
                _packedB.Ensure(total);
                _stampSerial.AsSpan().Clear();
            }

            if (_stampSerial.Length < slots)
            {
                _stampSerial = new long[Math.Max(slots, _stampSerial.Length * 2)];
                _stampBlock = new int[_stampSerial.Length];
                _stampKBlocks = new int[_stampSerial.Length];
            }

            _singleSerial = 0;
            int slot = jb % slots;
            float* slotBase = _packedB.Pointer + (slot * blockFloats);
            if (_stampSerial[slot] != job.Serial || _stampBlock[slot] != jb)
            {
                _stampSerial[slot] = job.Serial;
                _stampBlock[slot] = jb;
                _stampKBlocks[slot] = 0;
            }

            // k blocks are packed when first asked for (a tile asks in increasing order), so each is consumed by the
            // kernels while it is still in L2; later tiles of the column block find all of them.
            for (int b = _stampKBlocks[slot]; b <= kb; b++)
            {
                GemmDriver.PackBBlock(job, jb, b, slotBase + ((nint)b * plan.Kc * ncPad));
                _stampKBlocks[slot] = b + 1;
            }

            return slotBase + ((nint)kb * plan.Kc * ncPad);
        }

        _stampSerial.AsSpan().Clear();
        _packedB.Ensure((long)plan.Kc * plan.Nc);
        if (_singleSerial != job.Serial || _singleBlock != jb || _singleK != kb)
        {
            _singleSerial = 0;
            GemmDriver.PackBBlock(job, jb, kb, _packedB.Pointer);
            _singleSerial = job.Serial;
            _singleBlock = jb;
            _singleK = kb;
        }

        return _packedB.Pointer;
    }

    /// <summary>
    /// The packed row block <paramref name="ib"/> of a call that keeps all of them (<see cref="GemmDriver.CallAPacking"/>):
    /// block ib at <c>ib * Mc * K</c>, laid out as <see cref="PackedA"/> with mcPad = the block's rows rounded up to 8.
    /// <paramref name="valid"/> is true when this thread packed it earlier in the same call; otherwise the caller packs
    /// into it and then calls <see cref="MarkPackedACall"/>.
    /// </summary>
    internal float* PackedACall(GemmJob job, int ib, out bool valid)
    {
        GemmPlan plan = job.Plan;
        long blockFloats = (long)plan.Mc * plan.K;
        long total = blockFloats * plan.RowTiles;
        if (_callA.Capacity < total)
        {
            _callA.Ensure(total);
            _callASerial.AsSpan().Clear();
        }

        if (_callASerial.Length < plan.RowTiles)
        {
            _callASerial = new long[Math.Max(plan.RowTiles, _callASerial.Length * 2)];
        }

        valid = _callASerial[ib] == job.Serial;
        if (!valid)
        {
            _callASerial[ib] = 0;
        }

        return _callA.Pointer + (ib * blockFloats);
    }

    /// <summary>Records that row block <paramref name="ib"/> of <paramref name="job"/> is packed (<see cref="PackedACall"/>).</summary>
    internal void MarkPackedACall(GemmJob job, int ib) => _callASerial[ib] = job.Serial;

    /// <summary>
    /// Buffer for the packed row block <paramref name="ib"/> (<paramref name="mcPad"/> rows, all of k; k block kb
    /// at <c>p0 * mcPad</c>, micro-panel ir at <c>+ ir * kcb</c>) reused across the column blocks of a call.
    /// <paramref name="valid"/> is true when it already holds that block (packed by an earlier tile on this thread);
    /// otherwise the caller packs into it and then calls <see cref="MarkPackedA"/>. Returns null when the block
    /// would exceed <see cref="MultiSlotBudget"/> (the caller then packs each micro-panel into <see cref="APanel"/>).
    /// </summary>
    internal float* PackedA(GemmJob job, int ib, int mcPad, out bool valid)
    {
        long floats = (long)mcPad * job.Plan.K;
        if (floats > MultiSlotBudget)
        {
            valid = false;
            return null;
        }

        if (_packedA.Capacity < floats)
        {
            _packedA.Ensure(floats);
            _aBlock = -1;
        }

        valid = _aSerial == job.Serial && _aBlock == ib;
        if (!valid)
        {
            _aBlock = -1;
        }

        return _packedA.Pointer;
    }

    /// <summary>Records that the packed-A buffer now holds row block <paramref name="ib"/> of <paramref name="job"/>.</summary>
    internal void MarkPackedA(GemmJob job, int ib)
    {
        _aSerial = job.Serial;
        _aBlock = ib;
    }

    /// <summary>A float buffer on the pinned object heap with a 64-byte-aligned start.</summary>
    internal struct PinnedBuffer
    {
        private float[]? _array;

        public PinnedBuffer(long floats)
        {
            _array = null;
            Pointer = null;
            Capacity = 0;
            Ensure(floats);
        }

        public float* Pointer { get; private set; }

        public long Capacity { get; private set; }

        public void Ensure(long floats)
        {
            if (floats <= Capacity && _array is not null)
            {
                return;
            }

            long size = Math.Max(floats, Capacity + (Capacity / 2));
            if (size + 16 > Array.MaxLength)
            {
                throw new OutOfMemoryException($"GEMM packing buffer of {size} floats exceeds the largest array.");
            }

            _array = GC.AllocateUninitializedArray<float>((int)size + 16, pinned: true);
            float* start = (float*)Unsafe.AsPointer(ref _array[0]);
            Pointer = (float*)(((nint)start + 63) & ~(nint)63);
            Capacity = size;
        }
    }
}
