using System;
using System.IO;
using System.Text.Json;
using Aced.Cli;
using Aced.Pipeline.Data;

namespace Aced.Pipeline.Tests.Data;

public class DataCommandTests
{
    private static (int Code, string Stdout, string Stderr) Invoke(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CommandRunner.Invoke(Program.BuildRoot(), args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void Info_Shapes_PrintsOneJsonObjectWithSplitsTasksAndFingerprints()
    {
        (int code, string stdout, string stderr) = Invoke("data", "info", "--dataset", "shapes", "--image-size", "8", "--seed", "4", "--table");
        Assert.Equal(0, code);
        using JsonDocument doc = JsonDocument.Parse(stdout);
        JsonElement root = doc.RootElement;
        Assert.Equal("shapes", root.GetProperty("dataset").GetString());
        JsonElement splits = root.GetProperty("splits");
        Assert.Equal(4, splits.GetArrayLength());
        Assert.Equal("reference_train", splits[0].GetProperty("role").GetString());
        Assert.Equal(4096, splits[0].GetProperty("count").GetInt32());
        Assert.Equal(0, splits[0].GetProperty("corrupted_captions").GetInt32());
        double noise = splits[1].GetProperty("noise_rate").GetDouble();
        Assert.InRange(noise, 0.5, 0.6); // swaps at 0.5 + attribute errors at 0.1 of the rest
        JsonElement tasks = splits[3].GetProperty("tasks");
        Assert.Equal("shape", tasks[0].GetProperty("name").GetString());
        int total = 0;
        foreach (JsonProperty c in tasks[0].GetProperty("class_counts").EnumerateObject())
        {
            total += c.Value.GetInt32();
        }

        Assert.Equal(1024, total);
        DatasetSplits direct = DatasetCatalog.Load("shapes", new DataOptions { ImageSize = 8, Seed = 4 });
        Assert.Equal(direct.Fingerprint, root.GetProperty("fingerprint").GetString());
        Assert.Contains("shapes/student", stderr, StringComparison.Ordinal); // the table goes to stderr
    }

    [Fact]
    public void Info_BadFolder_OneLineErrorNamingFileAndLine_ExitTwo_SkipBadSucceeds()
    {
        string root = TestFiles.TempDirectory();
        try
        {
            for (int i = 0; i < 4; i++)
            {
                File.WriteAllBytes(Path.Combine(root, $"{i}.png"), TestFiles.SolidPng(4, 9, 9, 9));
            }

            File.WriteAllLines(Path.Combine(root, "captions.jsonl"), ["{\"image\": \"0.png\", \"caption\": \"a\"}", "{oops", "{\"image\": \"1.png\", \"caption\": \"b\"}", "{\"image\": \"2.png\", \"caption\": \"c\"}", "{\"image\": \"3.png\", \"caption\": \"d\"}"]);
            (int code, string stdout, string stderr) = Invoke("data", "info", "--dataset", "folder:" + root);
            Assert.Equal(2, code);
            Assert.Equal(string.Empty, stdout);
            Assert.StartsWith("aced: error: ", stderr, StringComparison.Ordinal);
            Assert.Contains("captions.jsonl:2:", stderr, StringComparison.Ordinal);
            Assert.Single(stderr.TrimEnd().Split('\n'));

            (code, stdout, _) = Invoke("data", "info", "--dataset", "folder:" + root, "--skip-bad");
            Assert.Equal(0, code);
            using JsonDocument doc = JsonDocument.Parse(stdout);
            Assert.Equal(1, doc.RootElement.GetProperty("skipped").GetInt32());
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Theory]
    [InlineData("imagenet", "--dataset")]
    [InlineData("emoji", "aced data fetch emoji")]
    public void Info_UnknownOrUnfetched_ExitTwoWithTheFix(string dataset, string expected)
    {
        string cache = TestFiles.TempDirectory();
        try
        {
            (int code, _, string stderr) = Invoke("data", "info", "--dataset", dataset, "--cache", cache);
            Assert.Equal(2, code);
            Assert.Contains(expected, stderr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(cache, recursive: true);
        }
    }

    [Fact]
    public void Info_NoiseRateOutOfRange_NamesTheOption()
    {
        (int code, _, string stderr) = Invoke("data", "info", "--dataset", "shapes", "--noise-rate", "1.5");
        Assert.Equal(2, code);
        Assert.Contains("--noise-rate must be in [0, 1]", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Fetch_NpmMissing_ExitTwo()
    {
        string cache = TestFiles.TempDirectory();
        try
        {
            (int code, _, string stderr) = Invoke("data", "fetch", "emoji", "--cache", cache, "--npm", Path.Combine(cache, "missing-npm"));
            Assert.Equal(2, code);
            Assert.Contains("npm was not found", stderr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(cache, recursive: true);
        }
    }
}
