using System;
using System.Globalization;
using System.IO;

namespace Aced.Core;

/// <summary>
/// Per-core cache sizes of the machine, read once from Linux sysfs
/// (<c>/sys/devices/system/cpu/cpu0/cache/index*/{level,type,size}</c>). Where that is unavailable
/// (other operating systems, containers hiding sysfs, unparsable values) the fallbacks are the sizes the
/// blocking was first tuned on (AMD Zen 4: L1d 32 KiB, L2 1 MiB), so the plan stays as before.
/// </summary>
internal static class CpuCaches
{
    /// <summary>Fallback L1 data cache size in bytes.</summary>
    public const long FallbackL1Data = 32 * 1024;

    /// <summary>Fallback L2 size in bytes.</summary>
    public const long FallbackL2 = 1024 * 1024;

    private static readonly (long L1Data, long L2, bool FromMachine) s_sizes = Read("/sys/devices/system/cpu/cpu0/cache");

    /// <summary>L1 data cache of one core, bytes.</summary>
    public static long L1Data => s_sizes.L1Data;

    /// <summary>L2 cache of one core, bytes.</summary>
    public static long L2 => s_sizes.L2;

    /// <summary>Whether the sizes came from the machine (false: the fallbacks).</summary>
    public static bool FromMachine => s_sizes.FromMachine;

    /// <summary>Reads the sizes under a sysfs cache directory (a parameter so tests can use a fixture tree).</summary>
    internal static (long L1Data, long L2, bool FromMachine) Read(string directory)
    {
        long l1 = 0;
        long l2 = 0;
        try
        {
            if (Directory.Exists(directory))
            {
                foreach (string index in Directory.GetDirectories(directory, "index*"))
                {
                    string? level = ReadText(Path.Combine(index, "level"));
                    string? type = ReadText(Path.Combine(index, "type"));
                    long size = ParseSize(ReadText(Path.Combine(index, "size")));
                    if (size <= 0)
                    {
                        continue;
                    }

                    if (level == "1" && (type == "Data" || type == "Unified"))
                    {
                        l1 = size;
                    }
                    else if (level == "2" && (type == "Unified" || type == "Data"))
                    {
                        l2 = size;
                    }
                }
            }
        }
        catch (IOException)
        {
            // Fall back below.
        }
        catch (UnauthorizedAccessException)
        {
            // Fall back below.
        }

        // Sane range: ignore nonsense (a misread unit or a virtualised CPU reporting 0 or gigabytes).
        bool l1Ok = l1 >= 8 * 1024 && l1 <= 1024 * 1024;
        bool l2Ok = l2 >= 64 * 1024 && l2 <= 64L * 1024 * 1024;
        return (l1Ok ? l1 : FallbackL1Data, l2Ok ? l2 : FallbackL2, l1Ok && l2Ok);
    }

    /// <summary>Parses a sysfs size such as <c>32K</c>, <c>1024K</c>, <c>2M</c> or a plain byte count; 0 when unparsable.</summary>
    internal static long ParseSize(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return 0;
        }

        long unit = 1;
        char last = char.ToUpperInvariant(text[^1]);
        if (last == 'K')
        {
            unit = 1024;
        }
        else if (last == 'M')
        {
            unit = 1024 * 1024;
        }

        string digits = unit == 1 ? text : text[..^1];
        return long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long value) && value > 0 && value < (1L << 40) / unit
            ? value * unit
            : 0;
    }

    private static string? ReadText(string path) => File.Exists(path) ? File.ReadAllText(path).Trim() : null;
}
