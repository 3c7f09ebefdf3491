using System;
using System.IO;
using Aced.Pipeline.Data;

namespace Aced.Pipeline.Tests.Data;

/// <summary>The fetch flow against a fake npm (a shell script serving the generated fixture): no network.</summary>
public sealed class EmojiFetcherTests : IDisposable
{
    private readonly EmojiFixture _registry = new(count: 8);
    private readonly string _work = TestFiles.TempDirectory();

    public void Dispose()
    {
        _registry.Dispose();
        Directory.Delete(_work, recursive: true);
    }

    [Fact]
    public void Fetch_NpmMissing_SaysInstallNpm()
    {
        var ex = Assert.Throws<DataException>(() => EmojiFetcher.Fetch(_work, npm: Path.Combine(_work, "no-such-npm")));
        Assert.Contains("npm was not found", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Fetch_FakeNpm_DownloadsVerifiesAndLoads_SecondFetchDownloadsNothing()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // the fake npm is a POSIX shell script
        }

        string npm = FakeNpm(corruptIntegrity: false, failView: false);
        string cache = Path.Combine(_work, "cache");
        EmojiFetchResult first = EmojiFetcher.Fetch(cache, npm);
        Assert.Equal(5, first.Downloaded);
        Assert.Equal(5, first.Packages.Count);
        foreach (EmojiPackage p in first.Packages)
        {
            Assert.Equal(EmojiManifest.Integrity(Path.Combine(first.Folder, p.File)), p.Integrity);
        }

        Assert.False(Directory.Exists(Path.Combine(first.Folder, $".fetch-{Environment.ProcessId}")));
        EmojiFetchResult second = EmojiFetcher.Fetch(cache, npm);
        Assert.Equal(0, second.Downloaded);
        DatasetSplits s = DatasetCatalog.Load("emoji", new DataOptions { CacheDirectory = cache, ImageSize = 4 });
        Assert.Equal(7, s.Evaluation[0].Count);
    }

    [Fact]
    public void Fetch_RegistryUnreachable_NamesTheCommandAndTheFix()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        string npm = FakeNpm(corruptIntegrity: false, failView: true);
        var ex = Assert.Throws<DataException>(() => EmojiFetcher.Fetch(Path.Combine(_work, "cache"), npm));
        Assert.Contains("npm view emoji-datasource-google@16.0.0 dist.integrity", ex.Message, StringComparison.Ordinal);
        Assert.Contains("ENOTFOUND", ex.Message, StringComparison.Ordinal);
        Assert.Contains("registry", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Fetch_DownloadDoesNotMatchRegistryIntegrity_Refused_NothingRecorded()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        string npm = FakeNpm(corruptIntegrity: true, failView: false);
        string cache = Path.Combine(_work, "cache");
        var ex = Assert.Throws<DataException>(() => EmojiFetcher.Fetch(cache, npm));
        Assert.Contains("integrity mismatch", ex.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(EmojiManifest.Folder(cache), "emoji-datasource-google-16.0.0.tgz")));
        Assert.Throws<DataException>(() => DatasetCatalog.Load("emoji", new DataOptions { CacheDirectory = cache }));
    }

    // A POSIX shell npm: `view SPEC dist.integrity` prints the fixture's integrity; `pack SPEC --pack-destination DIR --json` copies the .tgz.
    private string FakeNpm(bool corruptIntegrity, bool failView)
    {
        foreach (EmojiPackage p in _registry.Packages)
        {
            File.WriteAllText(Path.Combine(_registry.Folder, p.File + ".integrity"), p.Integrity + "\n");
        }

        string path = Path.Combine(_work, "npm");
        string integrityOverride = corruptIntegrity ? "echo sha512-AAAA; exit 0" : string.Empty;
        string viewFailure = failView ? "echo 'npm error code ENOTFOUND' >&2; echo 'npm error network request failed' >&2; exit 1" : string.Empty;
        string script = $$"""
            #!/bin/sh
            FIX='{{_registry.Folder}}'
            spec="$2"; name="${spec%@*}"; ver="${spec##*@}"; file="$name-$ver.tgz"
            case "$1" in
              view)
                {{viewFailure}}
                {{integrityOverride}}
                cat "$FIX/$file.integrity" || exit 1 ;;
              pack)
                cp "$FIX/$file" "$4/$file" || exit 1
                echo "[{\"filename\": \"$file\", \"integrity\": \"unused\"}]" ;;
              *) exit 2 ;;
            esac
            """;
        File.WriteAllText(path, script.Replace("\r\n", "\n", StringComparison.Ordinal));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        return path;
    }
}
