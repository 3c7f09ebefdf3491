using System;
using System.IO;
using Aced.Core;
using CliSelect = Aced.Cli.SelectCommand;
using TorchSelect = Aced.TorchSharp.Sample.SelectCommand;

namespace Aced.TorchSharp.Tests.Sample;

public sealed class SelectCommandTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "aced-torch-select-" + Guid.NewGuid().ToString("N"));

    public SelectCommandTests()
    {
        Directory.CreateDirectory(_directory);
        Npy.Write(PathOf("si.npy"), TestData.UnitRows(300, 12, 1));
        Npy.Write(PathOf("st.npy"), TestData.UnitRows(300, 12, 2));
        Npy.Write(PathOf("ri.npy"), TestData.UnitRows(300, 20, 3));
        Npy.Write(PathOf("rt.npy"), TestData.UnitRows(300, 20, 4));
    }

    public void Dispose()
    {
        Directory.Delete(_directory, true);
    }

    [Theory]
    [InlineData("sigmoid", "sample", "joint", "sum")]
    [InlineData("softmax", "greedy", "joint", "mean")]
    [InlineData("pair", "sample", "independent", "sum")]
    [InlineData("sigmoid", "sample", "topk", "sum")]
    [InlineData("softmax", "sample", "loss-percentile", "sum")]
    public void Execute_SameInputsAndFlags_SameIndicesAsAcedSelect(string loss, string mode, string sampler, string normalization)
    {
        var cli = new CliSelect.Arguments
        {
            StudentImage = PathOf("si.npy"), StudentText = PathOf("st.npy"), ReferenceImage = PathOf("ri.npy"), ReferenceText = PathOf("rt.npy"),
            FilterRatio = 0.75, Chunks = 5, Loss = loss, Mode = mode, Sampler = sampler, Normalization = normalization, Seed = 11, Out = PathOf("cli.npy"),
        };
        var torchArgs = new TorchSelect.Arguments
        {
            StudentImage = cli.StudentImage, StudentText = cli.StudentText, ReferenceImage = cli.ReferenceImage, ReferenceText = cli.ReferenceText,
            FilterRatio = 0.75, Chunks = 5, Loss = loss, Mode = mode, Sampler = sampler, Normalization = normalization, Seed = 11, Out = PathOf("torch.npy"), Device = "cpu",
        };

        Assert.Equal(0, CliSelect.Execute(cli, new StringWriter()));
        var stdout = new StringWriter();
        Assert.Equal(0, TorchSelect.Execute(torchArgs, stdout));

        long[] expected = Npy.ReadInt64(PathOf("cli.npy"));
        Assert.Equal(75, expected.Length);
        Assert.Equal(expected, Npy.ReadInt64(PathOf("torch.npy")));
        Assert.Contains("\"batchSize\":75", stdout.ToString());
    }

    [Fact]
    public void Run_MissingReferenceForLearnability_OneLineErrorExitCode2()
    {
        var stderr = new StringWriter();
        int code = Aced.TorchSharp.Sample.Program.Run(
            () => TorchSelect.Execute(new TorchSelect.Arguments { StudentImage = PathOf("si.npy"), StudentText = PathOf("st.npy"), Out = PathOf("x.npy") }, new StringWriter()),
            stderr);
        Assert.Equal(2, code);
        Assert.StartsWith("aced-torch: error: --scoring learnability needs --reference-image", stderr.ToString());
        Assert.False(File.Exists(PathOf("x.npy")));
    }

    [Fact]
    public void Run_UnknownDevice_NamesTheOption()
    {
        var stderr = new StringWriter();
        int code = Aced.TorchSharp.Sample.Program.Run(
            () => TorchSelect.Execute(new TorchSelect.Arguments { StudentImage = PathOf("si.npy"), StudentText = PathOf("st.npy"), Scoring = "hard", Out = PathOf("x.npy"), Device = "tpu" }, new StringWriter()),
            stderr);
        Assert.Equal(2, code);
        Assert.Contains("--device", stderr.ToString());
    }

    [Fact]
    public void Run_ZeroNormTolerance_NamesTheOption()
    {
        var stderr = new StringWriter();
        int code = Aced.TorchSharp.Sample.Program.Run(
            () => TorchSelect.Execute(new TorchSelect.Arguments { StudentImage = PathOf("si.npy"), StudentText = PathOf("st.npy"), Scoring = "hard", Out = PathOf("x.npy"), NormTolerance = 0 }, new StringWriter()),
            stderr);
        Assert.Equal(2, code);
        Assert.StartsWith("aced-torch: error: --norm-tolerance", stderr.ToString());
    }

    [Fact]
    public void Run_OutIsAnInputOrASymbolicOrHardLinkToOne_RefusedAndInputUntouched()
    {
        byte[] before = File.ReadAllBytes(PathOf("si.npy"));
        File.CreateSymbolicLink(PathOf("link.npy"), PathOf("si.npy"));
        using (var ln = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("ln", new[] { PathOf("si.npy"), PathOf("hard.npy") }))!)
        {
            ln.WaitForExit();
            Assert.Equal(0, ln.ExitCode);
        }

        foreach (string output in new[] { PathOf("si.npy"), PathOf("link.npy"), PathOf("hard.npy") })
        {
            var stderr = new StringWriter();
            int code = Aced.TorchSharp.Sample.Program.Run(
                () => TorchSelect.Execute(new TorchSelect.Arguments { StudentImage = PathOf("si.npy"), StudentText = PathOf("st.npy"), Scoring = "hard", Out = output }, new StringWriter()),
                stderr);
            Assert.Equal(2, code);
            Assert.StartsWith("aced-torch: error: --out", stderr.ToString());
            Assert.Contains("--student-image", stderr.ToString());
            Assert.Equal(before, File.ReadAllBytes(PathOf("si.npy")));
        }
    }

    [Fact]
    public void Run_BatchSizeAboveSuperBatch_NamesTheOptionWithoutParameterSuffix()
    {
        var stderr = new StringWriter();
        int code = Aced.TorchSharp.Sample.Program.Run(
            () => TorchSelect.Execute(new TorchSelect.Arguments { StudentImage = PathOf("si.npy"), StudentText = PathOf("st.npy"), Scoring = "hard", BatchSize = 301, Out = PathOf("x.npy") }, new StringWriter()),
            stderr);
        Assert.Equal(2, code);
        Assert.StartsWith("aced-torch: error: --batch-size 301 exceeds the super-batch size B = 300", stderr.ToString());
        Assert.DoesNotContain("(Parameter", stderr.ToString());
        Assert.False(File.Exists(PathOf("x.npy")));
    }

    [Theory]
    [InlineData("select", "--bogus")]
    [InlineData("select", "--batch-size", "abc")]
    [InlineData("nope")]
    public void Invoke_ParseError_OneLineErrorExitCode2(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Aced.TorchSharp.Sample.Program.Invoke(args, stdout, stderr);
        Assert.Equal(2, code);
        Assert.StartsWith("aced-torch: error: ", stderr.ToString());
        Assert.Single(stderr.ToString().TrimEnd('\n').Split('\n'));
        Assert.Equal("", stdout.ToString());
    }

    private string PathOf(string name) => Path.Combine(_directory, name);
}
