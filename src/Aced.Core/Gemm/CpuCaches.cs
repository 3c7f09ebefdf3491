using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Runtime.Intrinsics.X86;

namespace Aced.Core;

/// <summary>
/// Per-core cache sizes of the machine, read once from Linux sysfs
/// (<c>/sys/devices/system/cpu/cpu0/cache/index*/{level,type,size}</c>); where sysfs hides them (some virtual machines,
/// other operating systems) from CPUID on x86 (the deterministic cache leaf 4 or AMD's 0x8000001D, else AMD's legacy
/// leaves 0x80000005 / 0x80000006; a Zen 5 VM hiding sysfs fills only the legacy ones). Where neither gives sane sizes
/// (or values are unparsable) the fallbacks are the sizes the blocking was first tuned on (AMD Zen 4: L1d 32 KiB, L2
/// 1 MiB), so the plan stays as before.
/// </summary>
internal static class CpuCaches
{
    /// <summary>Fallback L1 data cache size in bytes.</summary>
    public const long FallbackL1Data = 32 * 1024;

    /// <summary>Fallback L2 size in bytes.</summary>
    public const long FallbackL2 = 1024 * 1024;

    private static readonly (long L1Data, long L2, string Source) s_sizes = ReadMachine();

    /// <summary>L1 data cache of one core, bytes.</summary>
    public static long L1Data => s_sizes.L1Data;

    /// <summary>L2 cache of one core, bytes.</summary>
    public static long L2 => s_sizes.L2;

    /// <summary>Whether the sizes came from the machine (false: the fallbacks).</summary>
    public static bool FromMachine => s_sizes.Source != "fallback";

    /// <summary>Where the sizes came from: <c>sysfs</c>, <c>cpuid</c> or <c>fallback</c>.</summary>
    public static string Source => s_sizes.Source;

    /// <summary>sysfs when it gives both sizes, else CPUID, else the fallbacks.</summary>
    private static (long L1Data, long L2, string Source) ReadMachine()
    {
        (long l1, long l2, bool fromSysfs) = Read("/sys/devices/system/cpu/cpu0/cache");
        if (fromSysfs)
        {
            return (l1, l2, "sysfs");
        }

        (long cl1, long cl2) = ReadCpuId();
        return Sane(cl1, cl2) ? (cl1, cl2, "cpuid") : (FallbackL1Data, FallbackL2, "fallback");
    }

    /// <summary>Whether both sizes are in a sane range (not a misread unit, nor a virtualised CPU reporting 0 or gigabytes).</summary>
    private static bool Sane(long l1, long l2) => SaneL1(l1) && SaneL2(l2);

    private static bool SaneL1(long l1) => l1 >= 8 * 1024 && l1 <= 1024 * 1024;

    private static bool SaneL2(long l2) => l2 >= 64 * 1024 && l2 <= 64L * 1024 * 1024;

    /// <summary>
    /// L1d and L2 from CPUID (0 where unknown): the deterministic cache leaf (Intel's leaf 4, AMD's 0x8000001D) when it
    /// lists them, else AMD's legacy 0x80000005 (L1d) and 0x80000006 (L2, which Intel also fills).
    /// </summary>
    private static (long L1Data, long L2) ReadCpuId()
    {
        if (!X86Base.IsSupported)
        {
            return (0, 0);
        }

        try
        {
            int maxBasic = X86Base.CpuId(0, 0).Eax;
            int maxExtended = X86Base.CpuId(unchecked((int)0x80000000), 0).Eax;
            foreach (uint leaf in new uint[] { 4, 0x8000001D })
            {
                bool present = leaf < 0x80000000 ? maxBasic >= (int)leaf : (uint)maxExtended >= leaf;
                if (!present)
                {
                    continue;
                }

                var entries = new List<(int Eax, int Ebx, int Ecx)>();
                for (int sub = 0; sub < 16; sub++)
                {
                    (int eax, int ebx, int ecx, _) = X86Base.CpuId((int)leaf, sub);
                    if ((eax & 0x1F) == 0)
                    {
                        break;
                    }

                    entries.Add((eax, ebx, ecx));
                }

                (long l1, long l2) = ParseDeterministic(entries);
                if (Sane(l1, l2))
                {
                    return (l1, l2);
                }
            }

            if ((uint)maxExtended >= 0x80000006)
            {
                return ParseAmdLegacy(X86Base.CpuId(unchecked((int)0x80000005), 0).Ecx, X86Base.CpuId(unchecked((int)0x80000006), 0).Ecx);
            }
        }
        catch (PlatformNotSupportedException)
        {
            // Fall back.
        }

        return (0, 0);
    }

    /// <summary>
    /// L1d and L2 bytes from the sub-leaves of a deterministic cache leaf (Intel leaf 4, AMD 0x8000001D; same layout):
    /// EAX[4:0] type (1 data, 3 unified), EAX[7:5] level; size = (EBX[31:22] + 1) ways x (EBX[21:12] + 1) partitions x
    /// (EBX[11:0] + 1) line bytes x (ECX + 1) sets. 0 where a level is missing.
    /// </summary>
    internal static (long L1Data, long L2) ParseDeterministic(IEnumerable<(int Eax, int Ebx, int Ecx)> subLeaves)
    {
        long l1 = 0;
        long l2 = 0;
        foreach ((int eax, int ebx, int ecx) in subLeaves)
        {
            int type = eax & 0x1F;
            int level = (eax >> 5) & 0x7;
            if (type != 1 && type != 3)
            {
                continue;
            }

            uint b = (uint)ebx;
            long size = (long)((b >> 22) + 1) * (((b >> 12) & 0x3FF) + 1) * ((b & 0xFFF) + 1) * ((long)(uint)ecx + 1);
            if (level == 1)
            {
                l1 = size;
            }
            else if (level == 2)
            {
                l2 = size;
            }
        }

        return (l1, l2);
    }

    /// <summary>
    /// L1d and L2 bytes from AMD's legacy leaves: 0x80000005 ECX[31:24] is the L1d in KiB, 0x80000006 ECX[31:16] the L2
    /// in KiB. 0 where a value is outside the sane range.
    /// </summary>
    internal static (long L1Data, long L2) ParseAmdLegacy(int ecx80000005, int ecx80000006)
    {
        long l1 = (long)((uint)ecx80000005 >> 24) * 1024;
        long l2 = (long)((uint)ecx80000006 >> 16) * 1024;
        return (SaneL1(l1) ? l1 : 0, SaneL2(l2) ? l2 : 0);
    }

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

        bool l1Ok = SaneL1(l1);
        bool l2Ok = SaneL2(l2);
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
