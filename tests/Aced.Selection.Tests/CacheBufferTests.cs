using System;
using System.Runtime.InteropServices;

namespace Aced.Selection.Tests;

/// <summary>The softmax cache's native buffer: bounds-checked views, 2 MiB alignment, growth without shrinking.</summary>
public class CacheBufferTests
{
    [Fact]
    public void Grow_AnyLength_RoundsUpToWholeAlignedHugePages()
    {
        var buffer = new CacheBuffer();
        Assert.Equal(0, buffer.Length);
        buffer.Grow(1);
        Assert.Equal(2L * 1024 * 1024 / sizeof(float), buffer.Length);
        ref float first = ref MemoryMarshal.GetReference(buffer.AsSpan(0, 1));
        unsafe
        {
            fixed (float* p = &first)
            {
                Assert.Equal(0UL, (ulong)p % (2UL * 1024 * 1024));
            }
        }
    }

    [Fact]
    public void Grow_SmallerLength_KeepsBufferAndContents()
    {
        var buffer = new CacheBuffer();
        buffer.Grow(1_000_000);
        long length = buffer.Length;
        buffer.AsSpan(999_999, 1)[0] = 42f;
        buffer.Grow(10);
        Assert.Equal(length, buffer.Length);
        Assert.Equal(42f, buffer.AsSpan(999_999, 1)[0]);
    }

    [Fact]
    public void AsSpan_WholeBuffer_WritesAndReadsBackEveryElement()
    {
        var buffer = new CacheBuffer();
        buffer.Grow(3_000_000);
        int n = (int)buffer.Length;
        Span<float> all = buffer.AsSpan(0, n);
        for (int i = 0; i < n; i++)
        {
            all[i] = i;
        }

        Assert.Equal(n - 1, buffer.AsSpan(n - 1, 1)[0]);
        Assert.Equal(12345f, buffer.AsSpan(12345, 2)[0]);
    }

    [Theory]
    [InlineData(-1, 1)]
    [InlineData(0, -1)]
    [InlineData(524_288, 1)]   // one past the end of a 2 MiB buffer
    [InlineData(524_280, 9)]
    public void AsSpan_OutsideBuffer_Throws(int start, int length)
    {
        var buffer = new CacheBuffer();
        buffer.Grow(1);
        Assert.Throws<ArgumentException>(() => buffer.AsSpan(start, length));
    }

    [Fact]
    public void AsSpan_EmptyBuffer_OnlyEmptyViewAllowed()
    {
        var buffer = new CacheBuffer();
        Assert.True(buffer.AsSpan(0, 0).IsEmpty);
        Assert.Throws<ArgumentException>(() => buffer.AsSpan(0, 1));
    }
}
