using System;
using System.CommandLine;
using System.IO;
using System.Text.Json.Nodes;
using Aced.Cli;
using Aced.Pipeline.Data;
using Aced.Pipeline.Training;

namespace Aced.Pipeline.Tests.Training;

public sealed class TrainCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "aced-train-cli-" + Guid.NewGuid().ToString("N"));

    public TrainCommandTests()
    {
        Directory.CreateDirectory(_dir);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Theory]
    [InlineData("--method", "--method nope", "unknown method 'nope'")]
    [InlineData("--filter-ratio", "--method h-acid --reference R --filter-ratio 1.5", "[0, 1)")]
    [InlineData("--reference", "--method h-acid", "needs a reference")]
    [InlineData("--reference", "--method rho-loss", "--holdout")]
    [InlineData("--reference", "--method i-acid --reference MISSING", "does not exist")]
    [InlineData("--steps", "--method iid --steps 0", "at least 1")]
    [InlineData("--role", "--role teacher", "student or reference")]
    [InlineData("--loss", "--method iid --loss hinge", "sigmoid or softmax")]
    [InlineData("--method", "--role reference --method iid", "drop --method")]
    [InlineData("--image-size", "--method iid --image-size 2", "must be in")]
    [InlineData("--dataset", "--method iid --dataset nope", "unknown data set")]
    public void Train_BadConfiguration_ExitTwoWithOneLineNamingTheOption(string option, string arguments, string fragment)
    {
        string outDir = Path.Combine(_dir, "run");
        string[] extra = arguments.Replace("MISSING", Path.Combine(_dir, "missing"), StringComparison.Ordinal).Split(' ');
        string[] steps = arguments.Contains("--steps", StringComparison.Ordinal) ? [] : ["--steps", "2"];
        string[] dataset = arguments.Contains("--dataset", StringComparison.Ordinal) ? [] : ["--dataset", "shapes"];
        string[] args = ["train", "--out", outDir, .. dataset, .. steps, .. extra];

        (int code, string stdout, string stderr) = Invoke(args);

        Assert.Equal(2, code);
        Assert.Equal(string.Empty, stdout);
        string[] lines = stderr.TrimEnd('\n').Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("aced: error: ", lines[0], StringComparison.Ordinal);
        Assert.Contains(option, lines[0], StringComparison.Ordinal);
        Assert.Contains(fragment, lines[0], StringComparison.Ordinal);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void Train_ReferenceThenStudentThenOtherData_RunsReusesAndRefusesTheCache()
    {
        string reference = Path.Combine(_dir, "ref");
        string[] tiny = ["--image-size", "16", "--size", "Mu", "--batch-size", "16", "--vocab-size", "300", "--context-length", "12"];

        (int code, string stdout, string stderr) = Invoke(["train", "--dataset", "shapes", "--role", "reference", "--steps", "2", "--out", reference, .. tiny]);
        Assert.True(code == 0, stderr);
        JsonObject result = JsonNode.Parse(stdout)!.AsObject();
        Assert.True(result["completed"]!.GetValue<bool>());
        Assert.Equal(2, result["steps"]!.GetValue<long>());
        Assert.True(File.Exists(Path.Combine(reference, RunFiles.FinalCheckpoint)));

        string student = Path.Combine(_dir, "student");
        (code, stdout, stderr) = Invoke(["train", "--dataset", "shapes", "--method", "i-acid", "--reference", reference, "--steps", "1", "--out", student, .. tiny]);
        Assert.True(code == 0, stderr);
        Assert.Contains("computed once and cached", stderr, StringComparison.Ordinal);

        (code, _, stderr) = Invoke(["train", "--dataset", "shapes", "--method", "i-acid", "--reference", reference, "--steps", "1", "--out", student + "2", .. tiny]);
        Assert.True(code == 0, stderr);
        Assert.Contains("reused", stderr, StringComparison.Ordinal);

        (code, stdout, stderr) = Invoke(["train", "--dataset", "shapes", "--method", "i-acid", "--reference", reference, "--steps", "1", "--out", student + "3", "--noise-rate", "0.2", .. tiny]);
        Assert.Equal(2, code);
        Assert.Equal(string.Empty, stdout);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        Assert.Contains("other data", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(student + "3"));
    }

    [Fact]
    public void DataProgressLines_AfterTheQuietPeriod_OneLinePerStageAndQuarter()
    {
        var writer = new StringWriter();
        Action<DataProgress> progress = TrainCommand.DataProgressLines(writer, TimeSpan.Zero);
        for (int done = 0; done <= 100; done++)
        {
            progress(new DataProgress("decoding google", done, 100));
        }

        progress(new DataProgress("tokenizing", 0, 0));

        string[] lines = writer.ToString().TrimEnd('\n').Split('\n');
        Assert.Equal(6, lines.Length);
        Assert.StartsWith("aced: data: decoding google 0%", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("aced: data: decoding google 50%", lines[2], StringComparison.Ordinal);
        Assert.StartsWith("aced: data: decoding google 100%", lines[4], StringComparison.Ordinal);
        Assert.StartsWith("aced: data: tokenizing (", lines[5], StringComparison.Ordinal);
    }

    [Fact]
    public void DataProgressLines_WithinTheQuietPeriod_PrintsNothing()
    {
        var writer = new StringWriter();
        Action<DataProgress> progress = TrainCommand.DataProgressLines(writer, TimeSpan.FromHours(1));
        progress(new DataProgress("decoding", 1, 2));
        Assert.Equal(string.Empty, writer.ToString());
    }

    private static (int Code, string Stdout, string Stderr) Invoke(string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var root = new RootCommand { TrainCommand.Create(stdout, stderr) };
        int code = root.Parse(args).Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
        return (code, stdout.ToString(), stderr.ToString());
    }
}
