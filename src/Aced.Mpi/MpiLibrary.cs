using System;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace Aced.Mpi;

/// <summary>
/// Binds MPI.NET to MPICH. MPI.NET 1.4 imports its native functions from <c>msmpi</c> (Microsoft MPI), whose
/// integer handle ABI MPICH shares; a <see cref="NativeLibrary.SetDllImportResolver"/> on the MPI.NET assembly maps
/// that name to MPICH's <c>libmpich.so.12</c> (or <c>libmpi.so.12</c> where MPICH ships under that name). Open MPI
/// uses pointer handles (a different ABI) and is refused with a message saying so.
/// </summary>
public static class MpiLibrary
{
    private static readonly object Gate = new();
    private static readonly string[] MpichNames = { "libmpich.so.12", "libmpi.so.12", "libmpich.so" };
    private static readonly string[] OpenMpiNames = { "libmpi.so.40", "libmpi.so" };
    private static IntPtr _handle;
    private static bool _installed;

    /// <summary>The MPI library version string reported by the loaded library (after <see cref="EnsureMpich"/>).</summary>
    public static string Version { get; private set; } = string.Empty;

    /// <summary>
    /// Loads MPICH and routes MPI.NET's native calls to it (idempotent). Call before the first MPI.NET call;
    /// <see cref="MpiSession.Start"/> does.
    /// </summary>
    /// <exception cref="MpiUnavailableException">MPICH is not installed, the process was started by Open MPI's
    /// mpiexec, or the library found is not MPICH (the message says what to install).</exception>
    public static void EnsureMpich()
    {
        lock (Gate)
        {
            if (_installed)
            {
                return;
            }

            string? openMpiVariable = OpenMpiEnvironmentVariable();
            if (openMpiVariable is not null)
            {
                throw new MpiUnavailableException($"this process was started by Open MPI's mpiexec ({openMpiVariable} is set); Aced.Mpi runs on MPICH only (MPI.NET uses the MPICH/MS-MPI integer handle ABI, Open MPI's handles are pointers). Install MPICH (apt-get install mpich) and start with MPICH's launcher, e.g. mpiexec.mpich -n 4 ...");
            }

            _handle = LoadMpich();
            Version = ReadVersion(_handle);
            if (Version.Contains("Open MPI", StringComparison.OrdinalIgnoreCase))
            {
                throw new MpiUnavailableException($"the MPI library found is Open MPI ({FirstLine(Version)}), whose ABI MPI.NET does not share; install MPICH (apt-get install mpich)");
            }

            NativeLibrary.SetDllImportResolver(typeof(MPI.Communicator).Assembly, Resolve);
            _installed = true;
        }
    }

    /// <summary>True when MPICH can be loaded in this process (no exception; for skipping tests and checks).</summary>
    public static bool IsMpichAvailable(out string reason)
    {
        foreach (string name in MpichNames)
        {
            if (NativeLibrary.TryLoad(name, out IntPtr handle))
            {
                string version = ReadVersion(handle);
                if (!version.Contains("Open MPI", StringComparison.OrdinalIgnoreCase))
                {
                    reason = FirstLine(version);
                    return true;
                }
            }
        }

        reason = "MPICH (libmpich.so.12) is not installed; apt-get install mpich";
        return false;
    }

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        return libraryName.StartsWith("msmpi", StringComparison.OrdinalIgnoreCase) ? _handle : IntPtr.Zero;
    }

    private static IntPtr LoadMpich()
    {
        foreach (string name in MpichNames)
        {
            if (NativeLibrary.TryLoad(name, out IntPtr handle))
            {
                return handle;
            }
        }

        foreach (string name in OpenMpiNames)
        {
            if (NativeLibrary.TryLoad(name, out IntPtr handle))
            {
                string version = ReadVersion(handle);
                throw new MpiUnavailableException($"only Open MPI ({name}: {FirstLine(version)}) is installed; Aced.Mpi needs MPICH, whose handle ABI MPI.NET shares: apt-get install mpich");
            }
        }

        throw new MpiUnavailableException("MPICH is not installed (libmpich.so.12 not found); install it with apt-get install mpich (Debian/Ubuntu) or dnf install mpich (then add /usr/lib64/mpich/lib to LD_LIBRARY_PATH)");
    }

    private static unsafe string ReadVersion(IntPtr handle)
    {
        if (!NativeLibrary.TryGetExport(handle, "MPI_Get_library_version", out IntPtr function))
        {
            return "unknown MPI library";
        }

        // MPI_MAX_LIBRARY_VERSION_STRING is 8192 in MPICH; leave room for any implementation.
        byte[] buffer = new byte[16384];
        int length = 0;
        fixed (byte* b = buffer)
        {
            var call = (delegate* unmanaged<byte*, int*, int>)function;
            if (call(b, &length) != 0)
            {
                return "unknown MPI library";
            }
        }

        return Encoding.ASCII.GetString(buffer, 0, Math.Clamp(length, 0, buffer.Length)).TrimEnd('\0', '\n', ' ');
    }

    private static string? OpenMpiEnvironmentVariable()
    {
        foreach (string name in new[] { "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_MCA_orte_ess_num_procs" })
        {
            if (!string.IsNullOrEmpty(System.Environment.GetEnvironmentVariable(name)))
            {
                return name;
            }
        }

        return null;
    }

    private static string FirstLine(string text)
    {
        int end = text.IndexOf('\n', StringComparison.Ordinal);
        return end < 0 ? text : text.Substring(0, end);
    }
}

/// <summary>MPI cannot be used in this process: MPICH is missing, or Open MPI was found instead (the message says what to do).</summary>
public sealed class MpiUnavailableException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    public MpiUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a generic message.</summary>
    public MpiUnavailableException()
        : base("MPI is unavailable")
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public MpiUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
