using System;

namespace Aced.Core;

/// <summary>
/// Process-wide GEMM settings: the active provider and the parallel threshold. Modelled on Math.NET Numerics'
/// <c>Control</c> class; the degree of parallelism is library-wide (<see cref="AcedControl"/>).
/// </summary>
public static class GemmControl
{
    private static IGemmProvider s_provider = ManagedGemmProvider.Instance;
    private static double s_parallelThreshold = 1 << 23;

    /// <summary>
    /// The provider used by every product in Aced (library-wide). Defaults to <see cref="ManagedGemmProvider.Instance"/>.
    /// A provider that implements <see cref="IGemmEpilogueProvider"/> also runs the fused products; one that does not
    /// gets them as a few large <see cref="IGemmProvider.Sgemm"/> calls.
    /// </summary>
    /// <exception cref="ArgumentNullException">Set to null.</exception>
    /// <exception cref="ArgumentException">Set to a provider whose <see cref="IGemmProvider.IsAvailable"/> is false (use <see cref="TryUseProvider"/> to fall back quietly).</exception>
    public static IGemmProvider Provider
    {
        get => s_provider;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            if (!value.IsAvailable)
            {
                Guard.ThrowArgument(nameof(value), $"the GEMM provider '{value.Name}' is not available in this process (IsAvailable is false); install its native library or device, or keep the managed provider (GemmControl.UseManaged())");
            }

            s_provider = value;
        }
    }

    /// <summary>Installs <paramref name="provider"/> if it is available; otherwise keeps the current provider and returns false.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="provider"/> is null.</exception>
    public static bool TryUseProvider(IGemmProvider provider)
    {
        ArgumentNullException.ThrowIfNull(provider);
        if (!provider.IsAvailable)
        {
            return false;
        }

        s_provider = provider;
        return true;
    }

    /// <summary>Installs the managed provider (<see cref="ManagedGemmProvider.Instance"/>), always available.</summary>
    public static void UseManaged() => s_provider = ManagedGemmProvider.Instance;

    /// <summary>
    /// Upper bound on the threads a single GEMM may use (default: the processor count); the library-wide
    /// <see cref="AcedControl.MaxDegreeOfParallelism"/>, which also bounds <see cref="ParallelPartition"/>, under its
    /// GEMM name. Results are bit-identical for every value: the work partition does not depend on it.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set below 1.</exception>
    public static int MaxDegreeOfParallelism
    {
        get => AcedControl.MaxDegreeOfParallelism;
        set => AcedControl.MaxDegreeOfParallelism = value;
    }

    /// <summary>
    /// Smallest product size, in floating-point operations <c>2 * m * n * k</c>, that the managed provider
    /// spreads over several threads (default 2^23, about 0.1 ms of single-core work); smaller products run
    /// on the calling thread. Changing it never changes results.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a negative or non-finite value.</exception>
    public static double ParallelThreshold
    {
        get => s_parallelThreshold;
        set
        {
            if (!(value >= 0) || double.IsInfinity(value))
            {
                Guard.ThrowOutOfRange(nameof(value), value, "must be a finite, non-negative flop count");
            }

            s_parallelThreshold = value;
        }
    }

    /// <summary>One line describing the provider, SIMD width and parallelism, for logs and benchmark headers.</summary>
    public static string Describe() =>
        $"{s_provider.Describe()}; FusedEpilogues={s_provider is IGemmEpilogueProvider}; MaxDegreeOfParallelism={AcedControl.MaxDegreeOfParallelism}; ParallelThreshold={s_parallelThreshold:G4} flop; " +
        $"Vector512={System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}; " +
        $"Vector256={System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated}; " +
        $"Fma={System.Runtime.Intrinsics.X86.Fma.IsSupported}; Processors={Environment.ProcessorCount}";
}
