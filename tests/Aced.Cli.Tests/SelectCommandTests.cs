using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using Aced.Cli;
using Aced.Core;
using Aced.Selection;

namespace Aced.Cli.Tests;

public sealed class SelectCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("aced-select-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Select_CachedEmbeddings_WritesInt64IndicesAndJsonSummary()
    {
        (SuperBatch batch, bool[] mismatched) = SelectDemo.Generate(400, 3);
        string[] files = WriteBatch(batch);
        string output = Path.Combine(_dir, "idx.npy");
        (int code, string stdout, string stderr) = Invoke("select", "--student-image", files[0], "--student-text", files[1], "--reference-image", files[2], "--reference-text", files[3], "--batch-size", "80", "--chunks", "8", "--seed", "5", "--out", output);

        Assert.Equal(0, code);
        Assert.Equal(string.Empty, stderr);
        long[] indices = Npy.ReadInt64(output);
        Assert.Equal(80, indices.Length);
        Assert.Equal(80, indices.Distinct().Count());
        Assert.True(indices.Count(i => mismatched[i]) < 4, "the reference-guided selection should reject the mismatched pairs");

        // Same as the library with the same options and step 0.
        var sampler = new ActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 80, Chunks = 8, Seed = 5 });
        Assert.Equal(sampler.Sample(Reload(files), 0).ToArray().Select(i => (long)i), indices);

        using JsonDocument json = JsonDocument.Parse(stdout.Trim());
        Assert.Equal(400, json.RootElement.GetProperty("superBatchSize").GetInt32());
        Assert.Equal(80, json.RootElement.GetProperty("batchSize").GetInt32());
        Assert.Equal(0.8, json.RootElement.GetProperty("filterRatio").GetDouble(), 12);
        Assert.True(json.RootElement.GetProperty("seconds").GetDouble() >= 0);
        Assert.True(json.RootElement.GetProperty("chosenScoreMean").GetDouble() > json.RootElement.GetProperty("rejectedScoreMean").GetDouble());
    }

    [Fact]
    public void Select_FilterRatioAndHardScoringWithoutReference_Works()
    {
        (SuperBatch batch, _) = SelectDemo.Generate(100, 1);
        string[] files = WriteBatch(batch);
        string output = Path.Combine(_dir, "hard.npy");
        (int code, _, string stderr) = Invoke("select", "--student-image", files[0], "--student-text", files[1], "--filter-ratio", "0.9", "--chunks", "2", "--scoring", "hard", "--mode", "greedy", "--loss", "softmax", "--out", output);
        Assert.True(code == 0, stderr);
        Assert.Equal(10, Npy.ReadInt64(output).Length);
    }

    [Theory]
    [InlineData("--batch-size", "500")]
    [InlineData("--chunks", "0")]
    [InlineData("--temperature", "0")]
    [InlineData("--filter-ratio", "1.5")]
    [InlineData("--scoring", "bogus")]
    [InlineData("--mode", "random")]
    [InlineData("--student-scale", "-1")]
    [InlineData("--student-scale", "NaN")]
    [InlineData("--student-bias", "Infinity")]
    [InlineData("--reference-scale", "0")]
    [InlineData("--reference-bias", "NaN")]
    public void Select_BadOption_OneLineErrorExitTwoNoOutput(string option, string value)
    {
        (SuperBatch batch, _) = SelectDemo.Generate(100, 1);
        string[] files = WriteBatch(batch);
        string output = Path.Combine(_dir, "bad.npy");
        string[] args = new[] { "select", "--student-image", files[0], "--student-text", files[1], "--reference-image", files[2], "--reference-text", files[3], "--out", output, option, value };
        if (option != "--batch-size" && option != "--filter-ratio")
        {
            args = args.Concat(new[] { "--batch-size", "20" }).ToArray();
        }

        (int code, string stdout, string stderr) = Invoke(args);
        Assert.Equal(2, code);
        Assert.Equal(string.Empty, stdout);
        Assert.StartsWith("aced: error: ", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.TrimEnd().Split('\n'));
        Assert.Contains(option == "--filter-ratio" ? "--filter-ratio" : option, stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void Select_MismatchedRowsNaNOrMissingReference_AreUserErrors()
    {
        (SuperBatch batch, _) = SelectDemo.Generate(100, 1);
        string[] files = WriteBatch(batch);
        string output = Path.Combine(_dir, "x.npy");
        string shortText = Path.Combine(_dir, "short.npy");
        Npy.Write(shortText, batch.Reference.Text.RowRange(0, 90));
        string nanText = Path.Combine(_dir, "nan.npy");
        Matrix withNan = batch.Reference.Text.ToMatrix();
        withNan[4, 1] = float.NaN;
        Npy.Write(nanText, withNan);

        (int code, _, string stderr) = Invoke("select", "--student-image", files[0], "--student-text", files[1], "--reference-image", files[2], "--reference-text", shortText, "--batch-size", "20", "--out", output);
        Assert.Equal(2, code);
        Assert.Contains("--reference-text", stderr, StringComparison.Ordinal);

        (code, _, stderr) = Invoke("select", "--student-image", files[0], "--student-text", files[1], "--reference-image", files[2], "--reference-text", nanText, "--batch-size", "20", "--out", output);
        Assert.Equal(2, code);
        Assert.Contains("row 4", stderr, StringComparison.Ordinal);

        (code, _, stderr) = Invoke("select", "--student-image", files[0], "--student-text", files[1], "--batch-size", "20", "--out", output);
        Assert.Equal(2, code);
        Assert.Contains("--reference-image", stderr, StringComparison.Ordinal);

        (code, _, stderr) = Invoke("select", "--student-image", Path.Combine(_dir, "missing.npy"), "--student-text", files[1], "--batch-size", "20", "--scoring", "hard", "--out", output);
        Assert.Equal(2, code);
        Assert.Single(stderr.TrimEnd().Split('\n'));
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void Select_DemoUnderCommaDecimalCulture_PrintsInvariantNumbers()
    {
        System.Globalization.CultureInfo saved = System.Globalization.CultureInfo.CurrentCulture;
        try
        {
            // A comma-decimal culture built from the invariant one (works in globalization-invariant mode too).
            var comma = (System.Globalization.CultureInfo)System.Globalization.CultureInfo.InvariantCulture.Clone();
            comma.NumberFormat.NumberDecimalSeparator = ",";
            comma.NumberFormat.PercentDecimalSeparator = ",";
            comma.NumberFormat.PercentPositivePattern = 0;
            System.Globalization.CultureInfo.CurrentCulture = comma;
            (int code, string stdout, string stderr) = Invoke("select", "--demo", "--demo-size", "200", "--chunks", "4");
            Assert.True(code == 0, stderr);
            string sentence = stderr.Split('\n').First(l => l.StartsWith("IID keeps", StringComparison.Ordinal));
            Assert.Contains("20%", sentence.Replace(" ", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
            Assert.DoesNotContain(",", sentence.Split(';')[1], StringComparison.Ordinal);
        }
        finally
        {
            System.Globalization.CultureInfo.CurrentCulture = saved;
        }
    }

    [Fact]
    public void Select_Demo_ReferenceGuidedSelectionRejectsMismatchedPairs()
    {
        string output = Path.Combine(_dir, "demo.npy");
        (int code, string stdout, string stderr) = Invoke("select", "--demo", "--demo-size", "1000", "--chunks", "8", "--out", output);
        Assert.True(code == 0, stderr);
        // stdout is exactly one JSON document (the table is on stderr), so `aced select --demo | jq` works.
        Assert.Single(stdout.TrimEnd().Split('\n'));
        using JsonDocument json = JsonDocument.Parse(stdout);
        double iid = json.RootElement.GetProperty("keptMismatchedIid").GetDouble();
        double learn = json.RootElement.GetProperty("keptMismatchedLearnability").GetDouble();
        Assert.InRange(iid, 0.12, 0.28);
        Assert.True(learn < 0.05, $"learnability kept {learn:P1} mismatched pairs");
        Assert.Contains("Learnability", stderr, StringComparison.Ordinal);
        Assert.Contains("mismatched kept", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("mismatched kept", stdout, StringComparison.Ordinal);
        Assert.Equal(200, Npy.ReadInt64(output).Length);
    }

    [Fact]
    public void BuildRoot_RegistersSelect()
    {
        Assert.Contains(Program.BuildRoot().Subcommands, c => c.Name == "select");
    }

    [Fact]
    public void Select_OverflowingScale_OneLineErrorNamingTheScaleOptions()
    {
        (SuperBatch batch, _) = SelectDemo.Generate(100, 1);
        string[] files = WriteBatch(batch);
        string output = Path.Combine(_dir, "overflow.npy");
        (int code, string stdout, string stderr) = Invoke("select", "--student-image", files[0], "--student-text", files[1], "--reference-image", files[2], "--reference-text", files[3],
            "--batch-size", "20", "--student-scale", "3e38", "--reference-scale", "3e38", "--student-bias", "3e38", "--reference-bias", "3e38", "--out", output);
        Assert.Equal(2, code);
        Assert.Equal(string.Empty, stdout);
        Assert.Single(stderr.TrimEnd().Split('\n'));
        Assert.Contains("--student-scale", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Parameter", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void Select_EmptyEmbeddings_ErrorNamesFileAndOption()
    {
        string empty = Path.Combine(_dir, "empty.npy");
        Npy.Write(empty, new Matrix(0, 4));
        string output = Path.Combine(_dir, "empty-out.npy");
        (int code, string stdout, string stderr) = Invoke("select", "--student-image", empty, "--student-text", empty, "--scoring", "hard", "--batch-size", "2", "--chunks", "1", "--out", output);
        Assert.Equal(2, code);
        Assert.Equal(string.Empty, stdout);
        Assert.Contains(empty, stderr, StringComparison.Ordinal);
        Assert.Contains("--student-image", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(output));
    }

    private static (int Code, string Stdout, string Stderr) Invoke(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CommandRunner.Invoke(Program.BuildRoot(), args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private string[] WriteBatch(SuperBatch batch)
    {
        string[] files = { "si.npy", "st.npy", "ri.npy", "rt.npy" };
        files = files.Select(f => Path.Combine(_dir, f)).ToArray();
        Npy.Write(files[0], batch.Student.Image);
        Npy.Write(files[1], batch.Student.Text);
        Npy.Write(files[2], batch.Reference.Image);
        Npy.Write(files[3], batch.Reference.Text);
        return files;
    }

    private static SuperBatch Reload(string[] files) => new(
        new ModelEmbeddings(Npy.ReadMatrix(files[0]), Npy.ReadMatrix(files[1]), LogitParameters.SigmoidDefault),
        new ModelEmbeddings(Npy.ReadMatrix(files[2]), Npy.ReadMatrix(files[3]), LogitParameters.SigmoidDefault));
}
