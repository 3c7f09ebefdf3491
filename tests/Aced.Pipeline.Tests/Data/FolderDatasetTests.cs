using System;
using System.Collections.Generic;
using System.IO;
using Aced.Pipeline.Data;

namespace Aced.Pipeline.Tests.Data;

public sealed class FolderDatasetTests : IDisposable
{
    private readonly string _root = TestFiles.TempDirectory();

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static DataOptions Options(bool skipBad = false) => new() { ImageSize = 4, SkipBad = skipBad };

    // Writes n solid PNGs (red level 10 * i) listed in captions.jsonl; odd ones carry a label.
    private List<string> WriteGood(int n)
    {
        var lines = new List<string>();
        for (int i = 0; i < n; i++)
        {
            string name = $"img{i:D2}.png";
            File.WriteAllBytes(Path.Combine(_root, name), TestFiles.SolidPng(6, (byte)(10 * i), 0, 0));
            lines.Add(i % 2 == 1
                ? $"{{\"image\": \"{name}\", \"caption\": \"picture {i}\", \"label\": \"{(i % 4 == 1 ? "cat" : "dog")}\"}}"
                : $"{{\"image\": \"{name}\", \"caption\": \"picture {i}\"}}");
        }

        return lines;
    }

    private void WriteCaptions(IEnumerable<string> lines) => File.WriteAllLines(Path.Combine(_root, FolderDataset.CaptionsFile), lines);

    private DatasetSplits Load(DataOptions options, DataLoadReport? report = null) => DatasetCatalog.Load("folder:" + _root, options, report);

    [Fact]
    public void Load_GoodFolder_SplitsDeterministicallyAndKeepsPixelsCaptionsLabels()
    {
        WriteCaptions(WriteGood(25));
        DatasetSplits s = Load(Options());
        Assert.Equal(2, s.Evaluation[0].Count);
        Assert.Equal(2, s.Holdout.Count);
        Assert.Equal(21, s.ReferenceTrain.Count);
        Assert.Equal(s.ReferenceTrain.Ids, s.StudentTrain.Ids);
        Assert.Equal(s.ReferenceTrain.Captions, s.StudentTrain.Captions);
        Assert.DoesNotContain(true, s.StudentTrain.CaptionCorrupted);
        var all = new HashSet<string>();
        foreach (ImageTextDataset d in new[] { s.ReferenceTrain, s.Holdout, s.Evaluation[0] })
        {
            LabelTask task = Assert.Single(d.Tasks);
            Assert.Equal("label", task.Name);
            Assert.Equal(new[] { "cat", "dog" }, task.ClassNames);
            for (int k = 0; k < d.Count; k++)
            {
                Assert.True(all.Add(d.Ids[k]), $"{d.Ids[k]} is in two splits");
                int i = int.Parse(d.Ids[k].AsSpan(3, 2), System.Globalization.CultureInfo.InvariantCulture);
                Assert.Equal($"picture {i}", d.Captions[k]);
                Assert.Equal(i % 2 == 0 ? -1 : i % 4 == 1 ? 0 : 1, task.Labels[k]);
                Assert.Equal((2f * 10f * i / 255f) - 1f, d.Image(k)[0], 5);
                Assert.Equal(-1f, d.Image(k)[16], 5);
            }
        }

        Assert.Equal(25, all.Count);
        Assert.Equal(s.Fingerprint, Load(Options()).Fingerprint);

        // Line order does not change the split.
        List<string> lines = WriteGood(25);
        lines.Reverse();
        WriteCaptions(lines);
        DatasetSplits reversed = Load(Options());
        Assert.Equal(new HashSet<string>(s.Evaluation[0].Ids), new HashSet<string>(reversed.Evaluation[0].Ids));
    }

    [Fact]
    public void Load_SubfolderAndBmp_Accepted_NoLabels_NoTasks()
    {
        Directory.CreateDirectory(Path.Combine(_root, "sub"));
        File.WriteAllBytes(Path.Combine(_root, "sub", "a.bmp"), TestFiles.Bmp(5, 3, (_, _) => (0, 0, 255)));
        File.WriteAllBytes(Path.Combine(_root, "b.png"), TestFiles.SolidPng(3, 1, 1, 1));
        File.WriteAllBytes(Path.Combine(_root, "c.png"), TestFiles.SolidPng(3, 1, 1, 1));
        WriteCaptions(["{\"image\": \"sub/a.bmp\", \"caption\": \"blue\"}", "", "{\"image\": \"b.png\", \"caption\": \"b\"}", "{\"image\": \"./c.png\", \"caption\": \"c\"}"]);
        DatasetSplits s = Load(Options());
        var ids = new List<string>(s.ReferenceTrain.Ids);
        ids.AddRange(s.Holdout.Ids);
        ids.AddRange(s.Evaluation[0].Ids);
        ids.Sort(StringComparer.Ordinal);
        Assert.Equal(new[] { "b.png", "c.png", "sub/a.bmp" }, ids);
        Assert.Empty(s.ReferenceTrain.Tasks);
    }

    public static TheoryData<string, string, int> BadLines() => new()
    {
        { "this is not json", "not a JSON object", 2 },
        { "[1, 2]", "expected a JSON object", 2 },
        { "{\"caption\": \"no image\"}", "\"image\"", 2 },
        { "{\"image\": \"img00.png\"}", "\"caption\"", 2 },
        { "{\"image\": \"img00.png\", \"caption\": 5}", "\"caption\"", 2 },
        { "{\"image\": \"x.png\", \"caption\": \"c\", \"label\": 3}", "\"label\"", 2 },
        { "{\"image\": \"../outside.png\", \"caption\": \"c\"}", "escapes the data folder", 2 },
        { "{\"image\": \"sub/../../outside.png\", \"caption\": \"c\"}", "escapes the data folder", 2 },
        { "{\"image\": \"/etc/passwd\", \"caption\": \"c\"}", "absolute", 2 },
        { "{\"image\": \"img00.png\", \"caption\": \"again\"}", "listed again", 2 },
    };

    [Theory]
    [MemberData(nameof(BadLines))]
    public void Load_BadCaptionLine_NamesFileAndLine_SkipBadCountsIt(string bad, string expected, int line)
    {
        List<string> lines = WriteGood(6);
        lines.Insert(line - 1, bad);
        WriteCaptions(lines);
        var ex = Assert.Throws<DataException>(() => Load(Options()));
        Assert.Equal(Path.Combine(_root, FolderDataset.CaptionsFile), ex.FilePath);
        Assert.Equal(line, ex.Line);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Contains($"captions.jsonl:{line}:", ex.Message, StringComparison.Ordinal);

        var report = new DataLoadReport();
        DatasetSplits s = Load(Options(skipBad: true), report);
        Assert.Equal(1, report.Skipped);
        Assert.Equal(6, s.ReferenceTrain.Count + s.Holdout.Count + s.Evaluation[0].Count);
    }

    public static TheoryData<string, string> BadImages() => new()
    {
        { "missing", "missing image" },
        { "corrupt", "corrupt" },
        { "truncated", "PNG" },
        { "gif", "PNG, JPEG or BMP" },
        { "empty", "PNG, JPEG or BMP" },
        { "huge", "MaxImageSide" },
    };

    [Theory]
    [MemberData(nameof(BadImages))]
    public void Load_BadImage_NamesTheImage_SkipBadCountsIt(string kind, string expected)
    {
        List<string> lines = WriteGood(5);
        string path = Path.Combine(_root, "bad.png");
        byte[] good = TestFiles.Png(8, 8, (x, y) => ((byte)(x * 30), (byte)(y * 30), 0, 255));
        byte[]? bytes = kind switch
        {
            "missing" => null,
            "corrupt" => CorruptBody(good),
            "truncated" => good.AsSpan(0, good.Length - 20).ToArray(),
            "gif" => TestFiles.Utf8("GIF89a...."),
            "empty" => [],
            _ => TestFiles.PngHeaderOnly(9000, 9000),
        };
        if (bytes is not null)
        {
            File.WriteAllBytes(path, bytes);
        }

        lines.Add("{\"image\": \"bad.png\", \"caption\": \"bad\"}");
        WriteCaptions(lines);
        var ex = Assert.Throws<DataException>(() => Load(Options()));
        Assert.Equal(path, ex.FilePath);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);

        var report = new DataLoadReport();
        DatasetSplits s = Load(Options(skipBad: true), report);
        Assert.Equal(1, report.Skipped);
        Assert.Equal(5, s.ReferenceTrain.Count + s.Holdout.Count + s.Evaluation[0].Count);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Load_SymbolicLinkToOutside_RefusedNamingIt_SkipBadCountsIt(bool linkDirectory)
    {
        List<string> lines = WriteGood(5);
        string outside = TestFiles.TempDirectory();
        try
        {
            File.WriteAllBytes(Path.Combine(outside, "secret.png"), TestFiles.SolidPng(6, 1, 2, 3));
            string link;
            if (linkDirectory)
            {
                link = Path.Combine(_root, "up");
                Directory.CreateSymbolicLink(link, outside);
                lines.Add("{\"image\": \"up/secret.png\", \"caption\": \"leak\"}");
            }
            else
            {
                link = Path.Combine(_root, "secret.png");
                File.CreateSymbolicLink(link, Path.Combine(outside, "secret.png"));
                lines.Add("{\"image\": \"secret.png\", \"caption\": \"leak\"}");
            }

            WriteCaptions(lines);
            var ex = Assert.Throws<DataException>(() => Load(Options()));
            Assert.Equal(link, ex.FilePath);
            Assert.Contains("symbolic link", ex.Message, StringComparison.Ordinal);

            var report = new DataLoadReport();
            DatasetSplits s = Load(Options(skipBad: true), report);
            Assert.Equal(1, report.Skipped);
            Assert.Equal(5, s.ReferenceTrain.Count + s.Holdout.Count + s.Evaluation[0].Count);
        }
        finally
        {
            Directory.Delete(outside, recursive: true);
        }
    }

    [Fact]
    public void Load_CaptionsNotUtf8_NamesTheFile_NotSilentlyMangled()
    {
        List<string> lines = WriteGood(5);
        WriteCaptions(lines);
        using (var stream = new FileStream(Path.Combine(_root, FolderDataset.CaptionsFile), FileMode.Append))
        {
            stream.Write([.. TestFiles.Utf8("{\"image\": \"img00.png\", \"caption\": \"caf"), 0xE9, .. TestFiles.Utf8("\"}\n")]);
        }

        var ex = Assert.Throws<DataException>(() => Load(Options(skipBad: true)));
        Assert.Equal(Path.Combine(_root, FolderDataset.CaptionsFile), ex.FilePath);
        Assert.Contains("UTF-8", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ImageAboveMaxBytes_RejectedBeforeReading()
    {
        List<string> lines = WriteGood(4);
        WriteCaptions(lines);
        var ex = Assert.Throws<DataException>(() => DatasetCatalog.Load("folder:" + _root, new DataOptions { ImageSize = 4, MaxImageBytes = 16 }));
        Assert.Contains(nameof(DataOptions.MaxImageBytes), ex.Message, StringComparison.Ordinal);
        Assert.EndsWith(".png", ex.FilePath, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_SeveralBad_SkipBadCountsEach()
    {
        List<string> lines = WriteGood(4);
        lines.Add("not json");
        lines.Add("{\"image\": \"nowhere.png\", \"caption\": \"x\"}");
        lines.Add("{\"image\": \"../up.png\", \"caption\": \"x\"}");
        File.WriteAllBytes(Path.Combine(_root, "junk.png"), TestFiles.Utf8("junk"));
        lines.Add("{\"image\": \"junk.png\", \"caption\": \"x\"}");
        WriteCaptions(lines);
        var report = new DataLoadReport();
        DatasetSplits s = Load(Options(skipBad: true), report);
        Assert.Equal(4, report.Skipped);
        Assert.Equal(4, report.Messages.Count);
        Assert.Equal(4, s.ReferenceTrain.Count + s.Holdout.Count + s.Evaluation[0].Count);
    }

    [Fact]
    public void Load_EmptyDataSet_ClearError()
    {
        WriteCaptions(["", "  "]);
        var ex = Assert.Throws<DataException>(() => Load(Options()));
        Assert.Contains("empty data set", ex.Message, StringComparison.Ordinal);

        WriteCaptions(["not json"]);
        ex = Assert.Throws<DataException>(() => Load(Options(skipBad: true)));
        Assert.Contains("empty data set", ex.Message, StringComparison.Ordinal);
        Assert.Contains("1 skipped", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_TwoExamples_TooFewForThreeSplits()
    {
        WriteCaptions(WriteGood(2));
        var ex = Assert.Throws<DataException>(() => Load(Options()));
        Assert.Contains("at least 3", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingCaptionsOrFolder_NamesThePath()
    {
        var ex = Assert.Throws<DataException>(() => Load(Options()));
        Assert.Equal(Path.Combine(_root, FolderDataset.CaptionsFile), ex.FilePath);
        string nowhere = Path.Combine(_root, "nowhere");
        ex = Assert.Throws<DataException>(() => DatasetCatalog.Load("folder:" + nowhere, Options()));
        Assert.Equal(nowhere, ex.FilePath);
    }

    private static byte[] CorruptBody(byte[] png)
    {
        byte[] copy = (byte[])png.Clone();
        for (int i = 41; i < copy.Length - 12; i++)
        {
            copy[i] ^= 0xA5;
        }

        return copy;
    }
}
