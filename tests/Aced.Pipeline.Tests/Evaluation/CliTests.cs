using System;
using System.CommandLine;
using System.IO;
using System.Text.Json;
using Aced.Cli;
using Aced.Pipeline.Tests.Training;
using Aced.Pipeline.Training;

namespace Aced.Pipeline.Tests.Evaluation;

public sealed class CliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "aced-eval-cli-" + Guid.NewGuid().ToString("N"));

    public CliTests() => Directory.CreateDirectory(_dir);

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

    private static (int Code, string Stdout, string Stderr) Invoke(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var root = new RootCommand { EvalCommand.Create(stdout, stderr), StableEvalCommand.Create(stdout, stderr), CompareCommand.Create(stdout, stderr) };
        int code = root.Parse(args).Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Theory]
    [InlineData("--seeds", "0", "--seeds")]
    [InlineData("--methods", "iid,bogus", "--methods")]
    [InlineData("--filter-ratios", "0.5,x", "--filter-ratios")]
    [InlineData("--filter-ratios", "1.5", "--filter-ratios")]
    [InlineData("--eval-every", "-1", "--eval-every")]
    [InlineData("--dataset", "foo", "--dataset")]
    [InlineData("--methods", "h-acid:tau=abc", "--methods")]
    public void Compare_BadOption_OneLineErrorNamingOptionExit2(string option, string value, string named)
    {
        string outDir = Path.Combine(_dir, "out");
        (int code, string stdout, string stderr) = Invoke("compare", option, value, "--out", outDir);
        AssertUsageError(code, stdout, stderr, named);
    }

    [Fact]
    public void Compare_ReferenceIsAFile_Exit2NamingReferenceBeforeAnyTraining()
    {
        string file = Path.Combine(_dir, "not-a-run.txt");
        File.WriteAllText(file, "x");
        string outDir = Path.Combine(_dir, "out");
        (int code, string stdout, string stderr) = Invoke("compare", "--methods", "h-acid", "--seeds", "1", "--steps", "1", "--reference", file, "--out", outDir);
        AssertUsageError(code, stdout, stderr, "--reference");
        Assert.False(Directory.Exists(Path.Combine(outDir, "runs")), "no cell may start with a bad --reference");
    }

    [Fact]
    public void Compare_ReferenceIsNotARunDirectory_Exit2NamingReference()
    {
        string notRun = Path.Combine(_dir, "docs");
        Directory.CreateDirectory(notRun);
        File.WriteAllText(Path.Combine(notRun, "keep.txt"), "user data");
        string outDir = Path.Combine(_dir, "out");
        (int code, string stdout, string stderr) = Invoke("compare", "--methods", "iid,h-acid", "--seeds", "1", "--steps", "1", "--reference", notRun, "--out", outDir);
        AssertUsageError(code, stdout, stderr, "--reference");
        Assert.True(File.Exists(Path.Combine(notRun, "keep.txt")));
    }

    [Fact]
    public void Compare_OutIsAFile_Exit2NamingOut()
    {
        string file = Path.Combine(_dir, "a-file");
        File.WriteAllText(file, "x");
        (int code, string stdout, string stderr) = Invoke("compare", "--out", file);
        AssertUsageError(code, stdout, stderr, "--out");
    }

    [Fact]
    public void Compare_GridWithAFailedCell_Exit1ResultsWrittenFailureNamed()
    {
        // A rho-loss arm cannot train its held-out reference from a 64-example pool; the iid arm finishes.
        string outDir = Path.Combine(_dir, "grid");
        (int code, string stdout, string stderr) = Invoke(
            "compare", "--methods", "iid,rho-loss", "--seeds", "1", "--steps", "2", "--batch-size", "8", "--reference-steps", "2",
            "--reference-size", "Mu", "--eval-every", "0", "--pool-size", "64", "--out", outDir);
        Assert.Equal(1, code);
        Assert.Contains("failed: rho-loss seed 1:", stdout, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(outDir, "results.csv")));
        Assert.True(File.Exists(Path.Combine(outDir, "report.html")));
        string last = stderr.TrimEnd('\n').Split('\n')[^1];
        Assert.Equal("aced: 1 of 2 cells failed (the 'failed:' lines above say why); rerun the same command to retry them", last);
    }

    private static void AssertUsageError(int code, string stdout, string stderr, string named)
    {
        Assert.Equal(2, code);
        Assert.StartsWith("aced: error: ", stderr, StringComparison.Ordinal);
        Assert.Contains(named, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("(Parameter", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        Assert.Equal("", stdout);
    }

    [Fact]
    public void StableEval_OneSeed_Exit2()
    {
        (int code, _, string stderr) = Invoke("stableeval", "--seeds", "1", "--out", Path.Combine(_dir, "suite.json"));
        Assert.Equal(2, code);
        Assert.Contains("--seeds", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Eval_MissingRun_Exit2NamingRun()
    {
        (int code, _, string stderr) = Invoke("eval", "--run", Path.Combine(_dir, "nope"));
        Assert.Equal(2, code);
        Assert.Contains("--run", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Eval_TrainedRun_WritesEvalJsonWithSelectedTasks()
    {
        string run = Path.Combine(_dir, "run");
        Trainer.Run(TrainingFixture.Options(run), Aced.Pipeline.Data.DatasetCatalog.Load("shapes", TrainingFixture.TinyData));
        (int code, string stdout, string stderr) = Invoke("eval", "--run", run, "--tasks", "i2t_r5,t2i_r5,eval/colour/*");
        Assert.True(code == 0, stderr);
        using JsonDocument printed = JsonDocument.Parse(stdout);
        using JsonDocument written = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "eval.json")));
        JsonElement tasks = written.RootElement.GetProperty("tasks");
        int count = 0;
        foreach (JsonProperty _ in tasks.EnumerateObject())
        {
            count++;
        }

        Assert.Equal(5, count);
        double r5 = tasks.GetProperty("i2t_r5").GetDouble();
        Assert.InRange(r5, 0, 1);
        Assert.Equal(r5, printed.RootElement.GetProperty("tasks").GetProperty("i2t_r5").GetDouble());
        Assert.True(tasks.TryGetProperty("eval/colour/mpcr", out _));
        Assert.Equal(4, written.RootElement.GetProperty("step").GetInt64());

        (code, _, stderr) = Invoke("eval", "--run", run, "--tasks", "nothing*");
        Assert.Equal(2, code);
        Assert.Contains("--tasks", stderr, StringComparison.Ordinal);
    }
}
