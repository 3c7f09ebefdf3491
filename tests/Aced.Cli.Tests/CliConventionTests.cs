using System;
using System.CommandLine;
using System.IO;
using System.Linq;
using System.Text.Json;
using Aced.Cli;
using Aced.Core;
using Aced.Selection;

namespace Aced.Cli.Tests;

/// <summary>
/// The one error convention of every command (issue 8 item 9): a parse failure, an unknown option or command and a
/// missing required option each exit 2 with one line naming the option and the expected form — no help dump, no CLR
/// type name — and errors blame the right thing.
/// </summary>
public sealed class CliConventionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("aced-convention-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("--temperature", "abc", "a number")]
    [InlineData("--temperature", "1,5", "a number")]
    [InlineData("--chunks", "1.5", "whole number")]
    [InlineData("--batch-size", "many", "whole number")]
    [InlineData("--seed", "-1", "whole number from 0")]
    [InlineData("--student-scale", "ten", "a number")]
    [InlineData("--filter-ratio", "x", "a number")]
    [InlineData("--scoring", "bogus", "learnability, easy-ref, hard, easy")]
    [InlineData("--sampler", "gibbs", "joint, independent, topk, uniform")]
    public void Select_UnparsableValue_OneLineNamingOptionAndFormExitTwo(string option, string value, string form)
    {
        (int code, string stdout, string stderr) = Run("select", "--demo", option, value);

        AssertOneLineUsageError(code, stdout, stderr);
        Assert.Contains(option, stderr, StringComparison.Ordinal);
        Assert.Contains(form, stderr, StringComparison.Ordinal);
        Assert.Contains($"'{value}'", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("loss", "--kind", "sigmoid", "--image", "i.npy", "--text", "t.npy", "--scale", "abc")]
    [InlineData("loss", "--kind", "sigmoid", "--image", "i.npy", "--text", "t.npy", "--teacher-bias", "1.2.3")]
    [InlineData("loss", "--kind", "hinge", "--image", "i.npy", "--text", "t.npy")]
    [InlineData("info", "--size", "big")]
    [InlineData("info", "--repeats", "1e3")]
    public void OtherCommands_UnparsableValue_OneLineExitTwo(params string[] args)
    {
        (int code, string stdout, string stderr) = Run(args);

        AssertOneLineUsageError(code, stdout, stderr);
        Assert.Contains("expected", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("select --bogus 3", "unknown option '--bogus'")]
    [InlineData("frobnicate", "unknown command 'frobnicate'")]
    [InlineData("", "give a command")]
    [InlineData("loss --image a.npy --text b.npy", "--kind is required")]
    [InlineData("select --chunks", "--chunks")]
    [InlineData("info extra", "unexpected argument 'extra'")]
    public void UnknownOrMissing_OneLineWithPointerToHelpExitTwo(string commandLine, string expected)
    {
        (int code, string stdout, string stderr) = Run(commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries));

        AssertOneLineUsageError(code, stdout, stderr);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
        Assert.Contains("--help", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Invoke_PlainTypedOptionOfAnotherCommand_StillOneLineWithoutClrTypeName()
    {
        // A command written without CliOptions (a plain Option<float?>) still gets the convention.
        var rate = new Option<float?>("--rate");
        var command = new Command("train") { rate };
        command.SetAction(_ => 0);
        var root = new RootCommand { command };
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int code = CommandRunner.Invoke(root, new[] { "train", "--rate", "fast" }, stdout, stderr);

        AssertOneLineUsageError(code, stdout.ToString(), stderr.ToString());
        Assert.Contains("--rate", stderr.ToString(), StringComparison.Ordinal);
        Assert.Contains("'fast'", stderr.ToString(), StringComparison.Ordinal);
        Assert.Contains("a number", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Help_ListsEveryChoiceAndTheDefaults()
    {
        (int code, string help, _) = Run("select", "--help");
        Assert.Equal(0, code);
        Assert.Contains("<learnability|easy-ref|hard|easy>", help, StringComparison.Ordinal);
        Assert.Contains("[default: learnability]", help, StringComparison.Ordinal);
        Assert.Contains("<joint|independent|topk|uniform|loss-percentile>", help, StringComparison.Ordinal);
        Assert.Contains("<sigmoid|softmax|pair>", help, StringComparison.Ordinal);
        Assert.Contains("<sum|mean>", help, StringComparison.Ordinal);
        Assert.Contains("[default: 10]", help, StringComparison.Ordinal); // --temperature
        Assert.Contains("[default: 16]", help, StringComparison.Ordinal); // --chunks
        Assert.Contains("1/0.07 for softmax", help, StringComparison.Ordinal); // the reference scale's default
        Assert.DoesNotContain("System.", help, StringComparison.Ordinal);

        (code, help, _) = Run("loss", "--help");
        Assert.Equal(0, code);
        Assert.Contains("<sigmoid|softmax|softmax-kd|sigmoid-kd|feature-match>", help, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_PlusSign_IsNotEscaped()
    {
        Assert.Equal("{\"a\":\"x+y <z>\"}", CliJson.Serialize(new { a = "x+y <z>" }));

        (SuperBatch batch, _) = SelectDemo.Generate(100, 1);
        string dir = Directory.CreateDirectory(Path.Combine(_dir, "c++")).FullName;
        string si = Path.Combine(dir, "si.npy"), st = Path.Combine(dir, "st.npy");
        Npy.Write(si, batch.Student.Image);
        Npy.Write(st, batch.Student.Text);
        string output = Path.Combine(dir, "out+1.npy");
        (int code, string stdout, string stderr) = Run("select", "--student-image", si, "--student-text", st, "--scoring", "hard", "--batch-size", "20", "--chunks", "2", "--out", output);

        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("\\u002B", stdout, StringComparison.Ordinal);
        using JsonDocument json = JsonDocument.Parse(stdout);
        Assert.Equal(output, json.RootElement.GetProperty("output").GetString());
        Assert.Contains("out+1.npy", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Info_Json_IsRelaxedAndParses()
    {
        (int code, string stdout, string stderr) = Run("info", "--size", "8", "--repeats", "1");
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("\\u00", stdout, StringComparison.Ordinal);
        using JsonDocument json = JsonDocument.Parse(stdout);
        Assert.Equal(8, json.RootElement.GetProperty("size").GetInt32());
    }

    internal static void AssertOneLineUsageError(int code, string stdout, string stderr)
    {
        Assert.Equal(2, code);
        Assert.Equal(string.Empty, stdout);
        Assert.StartsWith("aced: error: ", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.TrimEnd().Split('\n'));
        Assert.DoesNotContain("System.", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Nullable", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Usage:", stderr, StringComparison.Ordinal);
    }

    internal static (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CommandRunner.Invoke(Program.BuildRoot(), args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
