using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;

namespace Aced.Cli;

/// <summary>
/// Refuses an output path that resolves to one of the command's inputs — the same path, a symbolic link to it, or
/// (on Linux) a hard link, detected by comparing device and inode numbers — so a command can never replace the data
/// it reads. Call <see cref="FindConflict"/> before anything is written and throw the tool's own usage error with
/// its message (this file is shared by <c>aced</c> and <c>aced-torch</c>; <c>aced</c>'s <c>EnsureNotAnInput</c> does it).
/// </summary>
public static partial class OutputGuard
{
    /// <summary>An input of a command: the option that named it and the path.</summary>
    public readonly record struct Input(string Option, string? Path);

    /// <summary>
    /// The one-line error naming both options when <paramref name="output"/> is, or resolves to, the same file as one
    /// of <paramref name="inputs"/>; <see langword="null"/> when it is none of them. An output that does not exist yet
    /// is never an input.
    /// </summary>
    public static string? FindConflict(string outputOption, string output, IEnumerable<Input> inputs)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(inputs);
        FileKey? outKey = KeyOf(output);
        if (outKey is null)
        {
            return null;
        }

        foreach (Input input in inputs)
        {
            if (input.Path is null)
            {
                continue;
            }

            FileKey? inKey = KeyOf(input.Path);
            if (inKey is not null && inKey.Value.Equals(outKey.Value))
            {
                string how = string.Equals(Path.GetFullPath(output), Path.GetFullPath(input.Path), StringComparison.Ordinal)
                    ? "is"
                    : "is a link to the same file as";
                return $"{outputOption} {output} {how} {input.Option} {input.Path}; it would replace an input. Write the output to another path";
            }
        }

        return null;
    }

    /// <summary>
    /// The identity of an existing file: (device, inode) on Linux, else the full path with every symbolic link
    /// resolved. <see langword="null"/> when the path does not exist.
    /// </summary>
    internal static FileKey? KeyOf(string path)
    {
        if (!File.Exists(path) && !Directory.Exists(path))
        {
            return null;
        }

        if (OperatingSystem.IsLinux() && (RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64))
        {
            // struct stat on 64-bit Linux (x86-64 and the generic layout of arm64): st_dev at offset 0 and st_ino at
            // offset 8, both 64-bit. The buffer is larger than either struct.
            byte[] buffer = new byte[256];
            if (TryStat(path, buffer))
            {
                return new FileKey(BitConverter.ToUInt64(buffer, 0), BitConverter.ToUInt64(buffer, 8), null);
            }
        }

        return new FileKey(0, 0, ResolvedPath(path));
    }

    private static string ResolvedPath(string path)
    {
        string full = Path.GetFullPath(path);
        FileSystemInfo? target = File.ResolveLinkTarget(full, returnFinalTarget: true);
        return target is null ? full : Path.GetFullPath(target.FullName);
    }

    private static bool TryStat(string path, byte[] buffer)
    {
        try
        {
            return NativeMethods.stat(path, buffer) == 0;
        }
        catch (EntryPointNotFoundException)
        {
            // glibc before 2.33 exports only __xstat (version 1 on x86-64, 0 on arm64).
            try
            {
                int version = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 1 : 0;
                return NativeMethods.__xstat(version, path, buffer) == 0;
            }
            catch (EntryPointNotFoundException)
            {
                return false;
            }
            catch (DllNotFoundException)
            {
                return false;
            }
        }
        catch (DllNotFoundException)
        {
            return false;
        }
    }

    /// <summary>A file's identity (device and inode, or the resolved path where those are unavailable).</summary>
    internal readonly record struct FileKey(ulong Device, ulong Inode, string? ResolvedPath);

    private static class NativeMethods
    {
#pragma warning disable SA1300, IDE1006, SYSLIB1054 // libc names; DllImport with a byte[] needs no unsafe code
        [DllImport("libc", SetLastError = true)]
        internal static extern int stat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, [Out] byte[] buffer);

        [DllImport("libc", SetLastError = true)]
        internal static extern int __xstat(int version, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, [Out] byte[] buffer);
#pragma warning restore SA1300, IDE1006, SYSLIB1054
    }
}
