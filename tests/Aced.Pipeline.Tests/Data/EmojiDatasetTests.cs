using System;
using System.Collections.Generic;
using System.IO;
using Aced.Pipeline.Data;

namespace Aced.Pipeline.Tests.Data;

public class EmojiDatasetTests
{
    private static DataOptions Options(EmojiFixture fixture, ulong seed = 3, bool skipBad = false) =>
        new() { CacheDirectory = fixture.Cache, ImageSize = 8, Seed = seed, SkipBad = skipBad };

    [Fact]
    public void Load_Fixture_SplitsByVendorAndHeldOutEmoji_PixelsCaptionsTasksRoundTrip()
    {
        using var fixture = new EmojiFixture();
        DatasetSplits s = DatasetCatalog.Load("emoji", Options(fixture));
        int heldOut = 0;
        for (int i = 0; i < fixture.Count; i++)
        {
            heldOut += EmojiDataset.IsHeldOut(EmojiFixture.Hex(i)) ? 1 : 0;
        }

        Assert.InRange(heldOut, 1, fixture.Count - 4); // the fixture exercises both sides
        int kept = fixture.Count - heldOut;
        int appleMissingKept = EmojiDataset.IsHeldOut(EmojiFixture.Hex(1)) ? 0 : 1;
        Assert.Equal(2 * kept, s.ReferenceTrain.Count);
        Assert.Equal((3 * kept) - appleMissingKept, s.StudentTrain.Count);
        Assert.Equal(2 * heldOut, s.Holdout.Count);
        ImageTextDataset eval = Assert.Single(s.Evaluation);
        Assert.Equal(fixture.Count - 1, eval.Count);

        foreach (ImageTextDataset d in new[] { s.ReferenceTrain, s.StudentTrain, s.Holdout, eval })
        {
            Assert.Equal(8, d.ImageSize);
            Assert.Equal(new[] { "group", "subgroup" }, new[] { d.Tasks[0].Name, d.Tasks[1].Name });
            Assert.Equal(new[] { EmojiFixture.GroupName(0), EmojiFixture.GroupName(1), EmojiFixture.GroupName(2) }, d.Tasks[0].ClassNames);
            Assert.Equal(EmojiFixture.SubgroupName(4), d.Tasks[1].ClassNames[4]);
            for (int k = 0; k < d.Count; k++)
            {
                string[] parts = d.Ids[k].Split('/');
                int vendor = Array.IndexOf(EmojiManifest.Vendors, parts[0]);
                int i = Convert.ToInt32(parts[1], 16) - 0x1F600;
                Assert.InRange(i, 0, fixture.Count - 1); // never the skin-tone variant
                Assert.True(EmojiFixture.Has(parts[0], i));
                Assert.Equal(d == s.Holdout, EmojiDataset.IsHeldOut(parts[1]) && d != eval);
                if (!d.CaptionCorrupted[k])
                {
                    Assert.Equal(EmojiFixture.Caption(i), d.Captions[k]);
                }

                Assert.Equal(i % 3, d.Tasks[0].Labels[k]);
                Assert.Equal(i % 5, d.Tasks[1].Labels[k]);
                ReadOnlySpan<float> image = d.Image(k);
                Assert.Equal((2f * 10f * i / 255f) - 1f, image[0], 5);
                Assert.Equal((2f * EmojiFixture.Green(vendor) / 255f) - 1f, image[64], 5);
                Assert.Equal(-1f, image[128], 5);
            }
        }

        Assert.All(s.ReferenceTrain.Ids, id => Assert.True(id.StartsWith("google/", StringComparison.Ordinal) || id.StartsWith("twitter/", StringComparison.Ordinal)));
        Assert.All(eval.Ids, id => Assert.StartsWith("facebook/", id, StringComparison.Ordinal));
    }

    [Fact]
    public void Load_StudentPool_HalfTheCaptionsSwappedForAnotherEmojis_OneDrawPerSeed()
    {
        using var fixture = new EmojiFixture(count: 60);
        DatasetSplits a = DatasetCatalog.Load("emoji", Options(fixture, seed: 3));
        DatasetSplits b = DatasetCatalog.Load("emoji", Options(fixture, seed: 3));
        DatasetSplits c = DatasetCatalog.Load("emoji", Options(fixture, seed: 4));
        Assert.Equal(a.Fingerprint, b.Fingerprint);
        Assert.NotEqual(a.StudentTrain.Fingerprint, c.StudentTrain.Fingerprint);
        Assert.Equal(a.ReferenceTrain.Fingerprint, c.ReferenceTrain.Fingerprint);
        ImageTextDataset pool = a.StudentTrain;
        int corrupted = 0;
        for (int k = 0; k < pool.Count; k++)
        {
            int own = Convert.ToInt32(pool.Ids[k].Split('/')[1], 16) - 0x1F600;
            if (pool.CaptionCorrupted[k])
            {
                corrupted++;
                Assert.NotEqual(EmojiFixture.Caption(own), pool.Captions[k]);
                Assert.StartsWith("emoji number ", pool.Captions[k], StringComparison.Ordinal);
            }
            else
            {
                Assert.Equal(EmojiFixture.Caption(own), pool.Captions[k]);
            }
        }

        // Binomial(n ~ 150, 0.5): sd ~ 6; 5 sd.
        Assert.InRange(corrupted, (pool.Count / 2) - 31, (pool.Count / 2) + 31);
        Assert.DoesNotContain(true, a.ReferenceTrain.CaptionCorrupted);
    }

    [Fact]
    public void Load_NotFetched_SaysRunFetchFirst()
    {
        string empty = TestFiles.TempDirectory();
        try
        {
            var ex = Assert.Throws<DataException>(() => DatasetCatalog.Load("emoji", new DataOptions { CacheDirectory = empty }));
            Assert.Contains("aced data fetch emoji", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(empty, recursive: true);
        }
    }

    [Fact]
    public void Load_ArchiveChangedAfterFetch_IntegrityError()
    {
        using var fixture = new EmojiFixture(count: 6);
        string apple = fixture.ArchivePath("emoji-datasource-apple");
        byte[] bytes = File.ReadAllBytes(apple);
        bytes[bytes.Length / 2] ^= 1;
        File.WriteAllBytes(apple, bytes);
        var ex = Assert.Throws<DataException>(() => DatasetCatalog.Load("emoji", Options(fixture)));
        Assert.Equal(apple, ex.FilePath);
        Assert.Contains("integrity", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("package/../../etc/evil.png", "escapes")]
    [InlineData("/etc/evil.png", "absolute")]
    [InlineData("other/evil.png", "unexpected layout")]
    public void Load_ArchiveEntryOutsidePackage_Rejected_SkipBadCountsIt(string entry, string expected)
    {
        using var fixture = new EmojiFixture(count: 12, extraEntries: vendor => vendor == "twitter" ? [(entry, TestFiles.SolidPng(4, 1, 1, 1))] : []);
        var ex = Assert.Throws<DataException>(() => DatasetCatalog.Load("emoji", Options(fixture)));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Contains(entry, ex.FilePath, StringComparison.Ordinal);
        Assert.StartsWith(fixture.ArchivePath("emoji-datasource-twitter"), ex.FilePath, StringComparison.Ordinal);

        var report = new DataLoadReport();
        DatasetSplits s = DatasetCatalog.Load("emoji", Options(fixture, skipBad: true), report);
        Assert.Equal(1, report.Skipped);
        Assert.True(s.ReferenceTrain.Count > 0);
    }

    [Fact]
    public void Load_CorruptEmojiPng_NamesArchiveEntry_SkipBadDropsIt()
    {
        // Overwrite google's emoji 3 by a later duplicate entry with junk bytes (the last entry of a name wins).
        using var fixture = new EmojiFixture(count: 12, extraEntries: vendor => vendor == "google" ? [($"package/img/google/64/{EmojiFixture.Hex(3)}.png", TestFiles.Utf8("junk"))] : []);
        var ex = Assert.Throws<DataException>(() => DatasetCatalog.Load("emoji", Options(fixture)));
        Assert.EndsWith($"package/img/google/64/{EmojiFixture.Hex(3)}.png", ex.FilePath, StringComparison.Ordinal);
        var report = new DataLoadReport();
        DatasetSplits s = DatasetCatalog.Load("emoji", Options(fixture, skipBad: true), report);
        Assert.Equal(1, report.Skipped);
        Assert.DoesNotContain($"google/{EmojiFixture.Hex(3)}", s.ReferenceTrain.Ids);
        Assert.DoesNotContain($"google/{EmojiFixture.Hex(3)}", s.Holdout.Ids);
    }

    [Fact]
    public void Load_VendorArchiveWithoutEmojiJson_UnexpectedLayout()
    {
        using var fixture = new EmojiFixture(count: 6);
        string facebook = fixture.ArchivePath("emoji-datasource-facebook");
        TestFiles.Tgz(facebook, [("package/README.md", TestFiles.Utf8("hi"))]);
        var packages = new List<EmojiPackage>();
        foreach (EmojiPackage p in fixture.Packages)
        {
            packages.Add(p.Name == "emoji-datasource-facebook" ? p with { Integrity = EmojiManifest.Integrity(facebook), Bytes = new FileInfo(facebook).Length } : p);
        }

        EmojiManifest.Write(fixture.Folder, packages);
        var ex = Assert.Throws<DataException>(() => DatasetCatalog.Load("emoji", Options(fixture)));
        Assert.Contains("unexpected layout", ex.Message, StringComparison.Ordinal);
        Assert.Contains("package/emoji.json", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ArchiveWithSymbolicLink_Rejected_SkipBadCountsIt()
    {
        using var fixture = new EmojiFixture(count: 12);
        string twitter = fixture.ArchivePath("emoji-datasource-twitter");
        string rewritten = twitter + ".new";
        using (var input = new System.Formats.Tar.TarReader(new System.IO.Compression.GZipStream(File.OpenRead(twitter), System.IO.Compression.CompressionMode.Decompress)))
        using (FileStream file = File.Create(rewritten))
        using (var gzip = new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionLevel.Fastest))
        using (var output = new System.Formats.Tar.TarWriter(gzip, System.Formats.Tar.TarEntryFormat.Pax))
        {
            System.Formats.Tar.TarEntry? entry;
            while ((entry = input.GetNextEntry(copyData: true)) is not null)
            {
                output.WriteEntry(entry);
            }

            output.WriteEntry(new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.SymbolicLink, "package/img/twitter/64/link.png") { LinkName = "../../../../etc/passwd" });
        }

        File.Move(rewritten, twitter, overwrite: true);
        var packages = new List<EmojiPackage>();
        foreach (EmojiPackage p in fixture.Packages)
        {
            packages.Add(p.Name == "emoji-datasource-twitter" ? p with { Integrity = EmojiManifest.Integrity(twitter), Bytes = new FileInfo(twitter).Length } : p);
        }

        EmojiManifest.Write(fixture.Folder, packages);
        var ex = Assert.Throws<DataException>(() => DatasetCatalog.Load("emoji", Options(fixture)));
        Assert.Contains("links are not accepted", ex.Message, StringComparison.Ordinal);
        Assert.EndsWith("package/img/twitter/64/link.png", ex.FilePath, StringComparison.Ordinal);
        var report = new DataLoadReport();
        DatasetCatalog.Load("emoji", Options(fixture, skipBad: true), report);
        Assert.Equal(1, report.Skipped);
    }

    [Fact]
    public void Load_ArchiveNotGzip_ClearError()
    {
        using var fixture = new EmojiFixture(count: 6);
        string google = fixture.ArchivePath("emoji-datasource-google");
        File.WriteAllText(google, "not a tgz at all");
        var packages = new List<EmojiPackage>();
        foreach (EmojiPackage p in fixture.Packages)
        {
            packages.Add(p.Name == "emoji-datasource-google" ? p with { Integrity = EmojiManifest.Integrity(google), Bytes = new FileInfo(google).Length } : p);
        }

        EmojiManifest.Write(fixture.Folder, packages);
        var ex = Assert.Throws<DataException>(() => DatasetCatalog.Load("emoji", Options(fixture)));
        Assert.Equal(google, ex.FilePath);
        Assert.Contains(".tgz", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("package/a.png", null)]
    [InlineData("package/img/google/64/x.png", null)]
    [InlineData("package/../x", "escapes")]
    [InlineData("package/img/../../x", "escapes")]
    [InlineData("/package/x", "absolute")]
    [InlineData("package\\..\\x", "absolute")]
    [InlineData("C:/package/x", "absolute")]
    [InlineData("x/package/a", "unexpected layout")]
    [InlineData("", "empty")]
    public void CheckName_Paths(string name, string? problem)
    {
        string? actual = TgzReader.CheckName(name, "package/");
        if (problem is null)
        {
            Assert.Null(actual);
        }
        else
        {
            Assert.NotNull(actual);
            Assert.Contains(problem, actual, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Key_DropsVariationSelectorsAndLowercases()
    {
        Assert.Equal("0023-20e3", EmojiDataset.Key("0023-FE0F-20E3"));
        Assert.Equal("1f600", EmojiDataset.Key("1F600"));
        Assert.Equal("1f3f3-200d-1f308", EmojiDataset.Key("1F3F3-FE0F-200D-1F308"));
    }
}
