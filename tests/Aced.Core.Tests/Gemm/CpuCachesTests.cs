using System;
using System.IO;
using Aced.Core;

namespace Aced.Core.Tests;

public sealed class CpuCachesTests
{
    private static string Fixture(params (string Index, string Level, string Type, string Size)[] caches)
    {
        string root = Path.Combine(Path.GetTempPath(), "aced-cpucaches-" + Guid.NewGuid().ToString("N"));
        foreach ((string index, string level, string type, string size) in caches)
        {
            string dir = Path.Combine(root, index);
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "level"), level + "\n");
            File.WriteAllText(Path.Combine(dir, "type"), type + "\n");
            File.WriteAllText(Path.Combine(dir, "size"), size + "\n");
        }

        return root;
    }

    [Fact]
    public void Read_Zen3Tree_ReturnsL1DataAndL2()
    {
        string root = Fixture(("index0", "1", "Data", "32K"), ("index1", "1", "Instruction", "64K"), ("index2", "2", "Unified", "512K"), ("index3", "3", "Unified", "32768K"));
        try
        {
            (long l1, long l2, bool fromMachine) = CpuCaches.Read(root);
            Assert.Equal(32 * 1024, l1);
            Assert.Equal(512 * 1024, l2);
            Assert.True(fromMachine);
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    [Fact]
    public void Read_MissingOrNonsense_FallsBack()
    {
        (long l1, long l2, bool fromMachine) = CpuCaches.Read(Path.Combine(Path.GetTempPath(), "aced-no-such-dir-" + Guid.NewGuid().ToString("N")));
        Assert.Equal((CpuCaches.FallbackL1Data, CpuCaches.FallbackL2, false), (l1, l2, fromMachine));

        string root = Fixture(("index0", "1", "Data", "0K"), ("index2", "2", "Unified", "banana"));
        try
        {
            Assert.Equal((CpuCaches.FallbackL1Data, CpuCaches.FallbackL2, false), CpuCaches.Read(root));
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    [Theory]
    [InlineData("32K", 32L * 1024)]
    [InlineData("2M", 2L * 1024 * 1024)]
    [InlineData("4096", 4096L)]
    [InlineData("", 0L)]
    [InlineData("-5K", 0L)]
    public void ParseSize_SysfsForms_Parsed(string text, long expected) => Assert.Equal(expected, CpuCaches.ParseSize(text));

    [Theory]
    [InlineData(1024L * 1024, 256, 128)] // Zen 4: the constants the blocking was tuned with
    [InlineData(512L * 1024, 128, 128)] // Zen 3
    [InlineData(256L * 1024, 64, 128)] // Haswell-class
    [InlineData(2048L * 1024, 512, 128)] // Sapphire Rapids-class
    [InlineData(64L * 1024, 64, 32)] // tiny: clamped
    public void PlainBlocks_FromL2_MultiplesOfTheTileAndSized(long l2, int expectedNc, int expectedMc)
    {
        int nc = GemmPlan.PlainColumnBlock(l2);
        int mc = GemmPlan.PlainRowBlock(l2, nc);
        Assert.Equal(expectedNc, nc);
        Assert.Equal(expectedMc, mc);
        Assert.Equal(0, nc % GemmPlan.NR);
        Assert.Equal(0, mc % GemmPlan.MR);
    }

    [Fact]
    public void Describe_ReportsTheBlockingInUse()
    {
        string text = ((IGemmProvider)ManagedGemmProvider.Instance).Describe();
        Assert.Contains($"nc<={GemmPlan.NcPlain}", text);
        Assert.Contains($"L2={CpuCaches.L2 / 1024} KiB ({CpuCaches.Source})", text);
        Assert.Contains($"L1d={CpuCaches.L1Data / 1024} KiB", text);
    }

    [Fact]
    public void Source_IsOneOfTheThreeAndMatchesFromMachine()
    {
        Assert.Contains(CpuCaches.Source, new[] { "sysfs", "cpuid", "fallback" });
        Assert.Equal(CpuCaches.Source != "fallback", CpuCaches.FromMachine);
        if (CpuCaches.Source == "fallback")
        {
            Assert.Equal((CpuCaches.FallbackL1Data, CpuCaches.FallbackL2), (CpuCaches.L1Data, CpuCaches.L2));
        }
    }

    [Fact]
    public void ParseAmdLegacy_Zen5Registers_L1d48KiBAndL2OneMiB()
    {
        // ECX of 0x80000005 and 0x80000006 on the Zen 5 VM of the fifteenth session (sysfs hides its caches).
        Assert.Equal((48L * 1024, 1024L * 1024), CpuCaches.ParseAmdLegacy(0x300c0140, 0x04006140));

        // Zen 3 (32 KiB, 512 KiB) and zeroed leaves (unknown: 0).
        Assert.Equal((32L * 1024, 512L * 1024), CpuCaches.ParseAmdLegacy(0x20080140, 0x02006140));
        Assert.Equal((0L, 0L), CpuCaches.ParseAmdLegacy(0, 0));
    }

    [Fact]
    public void ParseDeterministic_CacheLeafEntries_SizesOfL1DataAndL2()
    {
        // Sub-leaves of leaf 4 / 0x8000001D: (EAX, EBX, ECX). L1d 48 KiB = 12 ways x 1 x 64 B x 64 sets; L1i 32 KiB
        // (type 2, ignored); L2 2 MiB = 16 x 1 x 64 x 2048; L3 (level 3, ignored).
        (int, int, int)[] entries =
        {
            (0x21, Ebx(12, 1, 64), 63),
            (0x22, Ebx(8, 1, 64), 63),
            (0x43, Ebx(16, 1, 64), 2047),
            (0x63, Ebx(12, 1, 64), 49151),
        };
        Assert.Equal((48L * 1024, 2048L * 1024), CpuCaches.ParseDeterministic(entries));
        Assert.Equal((0L, 0L), CpuCaches.ParseDeterministic(Array.Empty<(int, int, int)>()));
    }

    private static int Ebx(int ways, int partitions, int line) => ((ways - 1) << 22) | ((partitions - 1) << 12) | (line - 1);

    [Fact]
    public void EpiloguePlan_DoesNotDependOnTheMachine()
    {
        // The epilogue's column tiles decide fold order (bits), so they stay at the fixed NcMax.
        var plan = new GemmPlan(1000, 1000, 1000, epilogue: true);
        Assert.Equal(GemmPlan.RoundUp(GemmPlan.CeilDiv(1000, GemmPlan.CeilDiv(1000, GemmPlan.NcMax)), GemmPlan.NR), plan.Nc);
        Assert.Equal(384, GemmPlan.KcMax);
    }
}
