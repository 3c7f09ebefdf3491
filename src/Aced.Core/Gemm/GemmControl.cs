using System;

namespace Aced.Core;

/// <summary>
/// Process-wide GEMM settings: the active provider and the degree of parallelism. Modelled on
/// Math.NET Numerics' <c>Control</c> class.
/// </summary>
public static class GemmControl
{
    private static IGemmProvider s_provider = ManagedGemmProvider.Instance;
    private static int s_maxDegreeOfParallelism = Environment.ProcessorCount;

    /// <summary>The provider used by <see cref="Gemm"/>. Defaults to <see cref="ManagedGemmProvider.Instance"/>.</summary>
    /// <exception cref="ArgumentNullException">Set to null.</exception>
    public static IGemmProvider Provider
    {
        get => s_provider;
        set => s_provider = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>
    /// Upper bound on the worker threads a single GEMM may use (default: the processor count).
    /// Results are bit-identical for every value: the work partition does not depend on it.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set below 1.</exception>
    public static int MaxDegreeOfParallelism
    {
        get => s_maxDegreeOfParallelism;
        set
        {
            Guard.Positive(value);
            s_maxDegreeOfParallelism = value;
        }
    }

    /// <summary>One line describing the provider, SIMD width and parallelism, for logs and benchmark headers.</summary>
    public static string Describe() =>
        $"{s_provider.Name}; MaxDegreeOfParallelism={s_maxDegreeOfParallelism}; " +
        $"Vector512={System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}; " +
        $"Vector256={System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated}; " +
        $"Fma={System.Runtime.Intrinsics.X86.Fma.IsSupported}; Processors={Environment.ProcessorCount}";
}
