using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Aced.Core;

namespace Aced.Selection;

/// <summary>
/// A float buffer for the softmax logit cache in native memory, aligned to 2 MiB and, on Linux, advised for transparent
/// huge pages (<c>madvise(MADV_HUGEPAGE)</c>; honoured when <c>/sys/kernel/mm/transparent_hugepage/enabled</c> is
/// <c>always</c> or <c>madvise</c>). The cache is hundreds of MiB read and written row piece by row piece, each row on
/// another 4 KiB page: with 4 KiB pages the fill's 64-row tiles touch 64 pages per array and miss the TLB; 2 MiB pages
/// cover 500 rows each. The contents are not initialised (the cache writes every element before reading it); grows
/// like the other buffers (never shrinks) and frees its memory when collected. Not thread-safe to grow; the element
/// accessors are, for disjoint ranges.
/// </summary>
internal sealed unsafe partial class CacheBuffer
{
    private const nuint Alignment = 2 * 1024 * 1024;
    private const int MadviseHugePage = 14;
    private float* _pointer;
    private long _length;

    /// <summary>Capacity in floats.</summary>
    public long Length => _length;

    /// <summary>Makes room for at least <paramref name="length"/> floats (the old contents are not kept).</summary>
    public void Grow(long length)
    {
        if (length <= _length)
        {
            return;
        }

        Free();
        nuint bytes = ((((nuint)length * sizeof(float)) + Alignment - 1) / Alignment) * Alignment;
        _pointer = (float*)NativeMemory.AlignedAlloc(bytes, Alignment);
        _length = (long)(bytes / sizeof(float));
        GC.AddMemoryPressure((long)bytes);
        if (OperatingSystem.IsLinux())
        {
            // Before the first touch, so the pages fault in huge; the result is ignored (the advice is only a hint).
            try
            {
                _ = Madvise(_pointer, bytes, MadviseHugePage);
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                // A C library without madvise (or one the runtime cannot name as "libc"): 4 KiB pages, same results.
            }
        }
    }

    /// <summary>The floats [<paramref name="start"/>, <paramref name="start"/> + <paramref name="length"/>).</summary>
    /// <remarks>Inlined: the fill calls it twice per row piece and the cached pass four times per row (sel13's profile
    /// had the call at 0.36 % of a softmax probe's samples).</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Span<float> AsSpan(int start, int length)
    {
        if (start < 0 || length < 0 || (long)start + length > _length)
        {
            Guard.ThrowArgument(nameof(start), "and length lie outside the buffer");
        }

        return new Span<float>(_pointer + start, length);
    }

    /// <summary>Frees the memory.</summary>
    ~CacheBuffer() => Free();

    private void Free()
    {
        if (_pointer is not null)
        {
            NativeMemory.AlignedFree(_pointer);
            GC.RemoveMemoryPressure(_length * sizeof(float));
            _pointer = null;
            _length = 0;
        }
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(void* address, nuint length, int advice);
}
