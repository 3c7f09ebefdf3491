using System;
using System.IO;
using Aced.Cli;

namespace Aced.Cli.Tests;

public sealed class CommandRunnerTests
{
    [Fact]
    public void Run_UserError_PrintsOneLineAndReturnsTwo()
    {
        var stderr = new StringWriter();

        int code = CommandRunner.Run(() => throw new CliException("--size must be positive\nsecond line"), stderr);

        Assert.Equal(2, code);
        string text = stderr.ToString();
        Assert.Equal("aced: error: --size must be positive second line" + Environment.NewLine, text);
    }

    [Theory]
    [InlineData(typeof(ArgumentException))]
    [InlineData(typeof(InvalidDataException))]
    [InlineData(typeof(FileNotFoundException))]
    public void Run_LibraryErrors_AreUserErrors(Type exceptionType)
    {
        var stderr = new StringWriter();

        int code = CommandRunner.Run(() => throw (Exception)Activator.CreateInstance(exceptionType, "x.npy: broken")!, stderr);

        Assert.Equal(2, code);
        Assert.Contains("x.npy: broken", stderr.ToString());
    }

    [Fact]
    public void Run_Bug_IsNotSwallowed()
    {
        Assert.Throws<NullReferenceException>(() => CommandRunner.Run(() => throw new NullReferenceException(), new StringWriter()));
    }

    [Fact]
    public void Run_Success_ReturnsBodyCode()
    {
        Assert.Equal(0, CommandRunner.Run(() => 0, new StringWriter()));
    }

    [Fact]
    public void BuildRoot_RegistersInfo()
    {
        var root = Program.BuildRoot();

        Assert.Contains(root.Subcommands, c => c.Name == "info");
    }

    [Fact]
    public void Info_InvalidSize_ExitsWithUsageError()
    {
        // Parsing and validation only: the command fails before any work or output.
        int code = CommandRunner.Invoke(Program.BuildRoot(), new[] { "info", "--size", "0" }, new StringWriter(), new StringWriter());

        Assert.Equal(2, code);
    }
}
