using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Aced.Core;

/// <summary>
/// Argument validation used at every public entry point of Aced. Each check names the offending
/// argument and says what would fix it; the throwing paths live in <c>[DoesNotReturn]</c> helpers so
/// the checks themselves stay small enough to inline.
/// </summary>
internal static class Guard
{
    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> unless <paramref name="value"/> &gt;= 0.</summary>
    public static void NonNegative(int value, [CallerArgumentExpression(nameof(value))] string? name = null)
    {
        if (value < 0)
        {
            ThrowOutOfRange(name, value, "must be zero or greater");
        }
    }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> unless <paramref name="value"/> &gt;= 0.</summary>
    public static void NonNegative(long value, [CallerArgumentExpression(nameof(value))] string? name = null)
    {
        if (value < 0)
        {
            ThrowOutOfRange(name, value, "must be zero or greater");
        }
    }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> unless <paramref name="value"/> &gt; 0.</summary>
    public static void Positive(int value, [CallerArgumentExpression(nameof(value))] string? name = null)
    {
        if (value <= 0)
        {
            ThrowOutOfRange(name, value, "must be greater than zero");
        }
    }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> unless <paramref name="value"/> is finite.</summary>
    public static void Finite(float value, [CallerArgumentExpression(nameof(value))] string? name = null)
    {
        if (!float.IsFinite(value))
        {
            ThrowOutOfRange(name, value, "must be a finite number (not NaN or infinity)");
        }
    }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> unless <paramref name="value"/> is finite.</summary>
    public static void Finite(double value, [CallerArgumentExpression(nameof(value))] string? name = null)
    {
        if (!double.IsFinite(value))
        {
            ThrowOutOfRange(name, value, "must be a finite number (not NaN or infinity)");
        }
    }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> naming the first non-finite element of <paramref name="values"/>.
    /// </summary>
    public static void AllFinite(ReadOnlySpan<float> values, [CallerArgumentExpression(nameof(values))] string? name = null)
    {
        int bad = IndexOfNonFinite(values);
        if (bad >= 0)
        {
            ThrowArgument(name, $"contains a non-finite value ({values[bad]}) at flat index {bad}; remove or repair NaN/Inf inputs before calling");
        }
    }

    /// <summary>Returns the index of the first NaN or infinity in <paramref name="values"/>, or -1.</summary>
    public static int IndexOfNonFinite(ReadOnlySpan<float> values)
    {
        // x - x is 0 for finite x and NaN for NaN/Inf; a vectorised sum tells us whether to look further.
        for (int start = 0; start < values.Length; start += 4096)
        {
            ReadOnlySpan<float> block = values.Slice(start, Math.Min(4096, values.Length - start));
            float probe = System.Numerics.Tensors.TensorPrimitives.Sum(block);
            if (!float.IsFinite(probe) || !float.IsFinite(System.Numerics.Tensors.TensorPrimitives.SumOfMagnitudes(block)))
            {
                for (int i = 0; i < block.Length; i++)
                {
                    if (!float.IsFinite(block[i]))
                    {
                        return start + i;
                    }
                }
            }
        }

        return -1;
    }

    /// <summary>Throws <see cref="ArgumentException"/> with <paramref name="message"/> unless <paramref name="condition"/>.</summary>
    public static void That([DoesNotReturnIf(false)] bool condition, string message, string paramName)
    {
        if (!condition)
        {
            ThrowArgument(paramName, message);
        }
    }

    /// <summary>Throws an <see cref="ArgumentException"/> for <paramref name="name"/>.</summary>
    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void ThrowArgument(string? name, string message) =>
        throw new ArgumentException($"{name}: {message}", name);

    /// <summary>Throws an <see cref="ArgumentOutOfRangeException"/> for <paramref name="name"/>.</summary>
    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void ThrowOutOfRange(string? name, object? value, string message) =>
        throw new ArgumentOutOfRangeException(name, value, $"{name} {message} (was {value}).");
}
