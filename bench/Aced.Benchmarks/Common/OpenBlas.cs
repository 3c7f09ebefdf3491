using System;
using System.Runtime.InteropServices;
using Aced.Core;

namespace Aced.Benchmarks.Common;

/// <summary>
/// The system's OpenBLAS (<c>libopenblas.so.0</c>, Debian's <c>libopenblas0</c>), bound at run time for the yardstick
/// rows that issue 12 states "vs OpenBLAS". It is not a dependency of Aced: without the library the rows that use it
/// fail with a message saying what to install, and every other row runs.
/// </summary>
internal static unsafe class OpenBlas
{
    private const int RowMajor = 101;
    private const int NoTrans = 111;
    private const string LibraryName = "libopenblas.so.0";

    private static readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> s_sgemm;
    private static readonly delegate* unmanaged<int, void> s_setThreads;

    static OpenBlas()
    {
        if (NativeLibrary.TryLoad(LibraryName, out nint library) &&
            NativeLibrary.TryGetExport(library, "cblas_sgemm", out nint sgemm) &&
            NativeLibrary.TryGetExport(library, "openblas_set_num_threads", out nint setThreads))
        {
            s_sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemm;
            s_setThreads = (delegate* unmanaged<int, void>)setThreads;
        }
    }

    /// <summary>Whether the system's OpenBLAS could be loaded.</summary>
    public static bool IsAvailable => s_sgemm != null;

    /// <summary>
    /// Loads OpenBLAS and sets its thread count to Aced's (<see cref="GemmControl.MaxDegreeOfParallelism"/>), so the
    /// two SGEMMs run on the same cores; throws a message naming the package when the library is missing.
    /// </summary>
    public static void Initialise()
    {
        if (!IsAvailable)
        {
            throw new InvalidOperationException(
                $"{LibraryName} (with cblas_sgemm) was not found: install OpenBLAS (Debian: apt-get install libopenblas0) to measure the OpenBLAS yardstick; the other rows do not need it.");
        }

        s_setThreads(GemmControl.MaxDegreeOfParallelism);
    }

    /// <summary>C = A B for row-major square matrices of order <paramref name="n"/>.</summary>
    public static void MultiplySquare(Matrix a, Matrix b, Matrix c, int n)
    {
        if (a.Rows != n || a.Columns != n || b.Rows != n || b.Columns != n || c.Rows != n || c.Columns != n)
        {
            throw new ArgumentException($"OpenBlas.MultiplySquare needs three {n}x{n} matrices.");
        }

        fixed (float* pa = a.Data, pb = b.Data, pc = c.Data)
        {
            s_sgemm(RowMajor, NoTrans, NoTrans, n, n, n, 1f, pa, n, pb, n, 0f, pc, n);
        }
    }
}
