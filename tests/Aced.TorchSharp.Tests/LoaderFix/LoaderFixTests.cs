using System;
using System.Diagnostics;
using System.IO;
using System.Reflection;
using Aced.Eng;
using TorchSharp;

namespace Aced.TorchSharp.Tests.LoaderFix;

public sealed class LoaderFixTests : IDisposable
{
    private const string Version = "GLIBCXX_3.4.32";
    private const string Marker = "_ZSt21ios_base_library_initv";
    private readonly string _directory;

    public LoaderFixTests()
    {
        _directory = Path.Combine(Path.GetTempPath(), "aced-loaderfix-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
    }

    public void Dispose()
    {
        Directory.Delete(_directory, true);
    }

    [Fact]
    public void Torch_CreateTensorAfterBuild_LoadsAndComputes()
    {
        using var t = torch.ones(2, 3, dtype: torch.float32);
        using var s = t.sum();
        Assert.Equal(6f, s.item<float>());
    }

    [Fact]
    public void Patch_CacheLibrary_RemovesTheNeedAndKeepsAValidElf()
    {
        string original = CacheLibrary();
        string copy = Path.Combine(_directory, "libLibTorchSharp.so");
        File.Copy(original, copy);
        var stamp = new DateTime(2020, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(copy, stamp);
        Assert.Contains(Version, ReadElfVersions(copy));

        Assert.Equal(ElfPatchOutcome.Patched, ElfVersionNeedPatcher.Patch(copy, Version, Marker));

        string versions = ReadElfVersions(copy);
        Assert.DoesNotContain(Version, versions);
        Assert.Contains("GLIBCXX_3.4.30", versions);
        Assert.Contains("File: libstdc++.so.6  Cnt: 19", versions);
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(copy));
        Assert.Equal(File.GetUnixFileMode(original), File.GetUnixFileMode(copy));
        byte[] before = File.ReadAllBytes(original);
        byte[] after = File.ReadAllBytes(copy);
        Assert.Equal(before.Length, after.Length);
        int changed = 0;
        for (int i = 0; i < before.Length; i++)
        {
            changed += before[i] != after[i] ? 1 : 0;
        }

        // vn_cnt (1 byte), the predecessor's vna_next (1-2 bytes), the marker's versym (1 byte).
        Assert.InRange(changed, 3, 5);
        Assert.DoesNotContain("ios_base_library_initv@" + Version, ReadElf("--dyn-syms -W", copy));
    }

    [Fact]
    public void Patch_Twice_SecondIsNoChange()
    {
        string copy = Path.Combine(_directory, "lib.so");
        File.Copy(CacheLibrary(), copy);
        Assert.Equal(ElfPatchOutcome.Patched, ElfVersionNeedPatcher.Patch(copy, Version, Marker));
        byte[] once = File.ReadAllBytes(copy);

        Assert.Equal(ElfPatchOutcome.NotNeeded, ElfVersionNeedPatcher.Patch(copy, Version, Marker));

        Assert.Equal(once, File.ReadAllBytes(copy));
        Assert.Empty(Directory.GetFiles(_directory, "*.tmp"));
    }

    [Fact]
    public void Patch_AnotherSymbolUsesTheVersion_ThrowsAndLeavesTheFile()
    {
        byte[] image = File.ReadAllBytes(CacheLibrary());
        byte[] pristine = (byte[])image.Clone();
        // The marker name is the wrong one: the real marker then counts as "another symbol".
        var e = Assert.Throws<InvalidDataException>(() => ElfVersionNeedPatcher.PatchImage(image, Version, "someOtherSymbol", "x.so"));
        Assert.Contains(Marker, e.Message);
        Assert.Contains("x.so", e.Message);
        Assert.Equal(pristine, image);
    }

    [Fact]
    public void Patch_VersionUsedByRealSymbols_Throws()
    {
        byte[] image = File.ReadAllBytes(CacheLibrary());
        Assert.Throws<InvalidDataException>(() => ElfVersionNeedPatcher.PatchImage(image, "GLIBCXX_3.4.30", Marker, "x.so"));
    }

    [Fact]
    public void Patch_NotElf_ThrowsNamingTheFile()
    {
        var e = Assert.Throws<InvalidDataException>(() => ElfVersionNeedPatcher.PatchImage(new byte[128], Version, Marker, "bad.so"));
        Assert.Contains("bad.so", e.Message);
    }

    [Fact]
    public void OutputCopy_AfterBuild_IsPatchedAndCacheIsNot()
    {
        string output = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        if (!File.Exists(output))
        {
            output = Path.Combine(AppContext.BaseDirectory, "libLibTorchSharp.so");
        }

        Assert.True(File.Exists(output), "no libLibTorchSharp.so in the test output folder");
        Assert.DoesNotContain(Version, ReadElfVersions(output));
        Assert.Contains(Version, ReadElfVersions(CacheLibrary()));
        Assert.Equal(new FileInfo(CacheLibrary()).Length, new FileInfo(output).Length);
    }

    private static string CacheLibrary()
    {
        string? package = null;
        foreach (var attribute in typeof(LoaderFixTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>())
        {
            if (attribute.Key == "TorchSharpPackageDir")
            {
                package = attribute.Value;
            }
        }

        Assert.False(string.IsNullOrEmpty(package), "TorchSharpPackageDir metadata missing");
        string path = Path.Combine(package!, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(path), path);
        return path;
    }

    private static string ReadElfVersions(string path)
    {
        return ReadElf("-V -W", path);
    }

    private static string ReadElf(string arguments, string path)
    {
        var start = new ProcessStartInfo("readelf", arguments + " \"" + path + "\"")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
        Assert.True(error.Length == 0, "readelf complained: " + error);
        return output;
    }
}
