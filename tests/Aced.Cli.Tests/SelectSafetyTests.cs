using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Aced.Cli;
using Aced.Core;
using Aced.Selection;

namespace Aced.Cli.Tests;

/// <summary>
/// <c>aced select</c> never replaces an input (item 7), blames the right option or file (item 9), and normalises on
/// request (item 19).
/// </summary>
public sealed class SelectSafetyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("aced-select-safety-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Select_OutIsAnInputPath_RefusedAndInputUnchanged(int which)
    {
        string[] files = WriteBatch(100);
        byte[] before = File.ReadAllBytes(files[which]);

        (int code, string stdout, string stderr) = Select(files, files[which]);

        CliConventionTests.AssertOneLineUsageError(code, stdout, stderr);
        Assert.Contains("--out", stderr, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(files[which]));
    }

    [Fact]
    public void Select_OutIsTheSameInputByAnotherSpelling_Refused()
    {
        string[] files = WriteBatch(100);
        byte[] before = File.ReadAllBytes(files[1]);
        string other = Path.Combine(_dir, ".", "sub", "..", Path.GetFileName(files[1]));
        Directory.CreateDirectory(Path.Combine(_dir, "sub"));

        (int code, string stdout, string stderr) = Select(files, other);

        CliConventionTests.AssertOneLineUsageError(code, stdout, stderr);
        Assert.Equal(before, File.ReadAllBytes(files[1]));
    }

    [Fact]
    public void Select_OutIsASymlinkToAnInput_Refused()
    {
        string[] files = WriteBatch(100);
        byte[] before = File.ReadAllBytes(files[3]);
        string link = Path.Combine(_dir, "link.npy");
        File.CreateSymbolicLink(link, files[3]);

        (int code, string stdout, string stderr) = Select(files, link);

        CliConventionTests.AssertOneLineUsageError(code, stdout, stderr);
        Assert.Contains("--reference-text", stderr, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(files[3]));
        Assert.True(new FileInfo(link).LinkTarget is not null, "the link itself must not be replaced either");
    }

    [Fact]
    public void Select_OutIsAHardLinkToAnInput_Refused()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // device + inode comparison is Linux-only; elsewhere paths and symlinks are compared
        }

        string[] files = WriteBatch(100);
        byte[] before = File.ReadAllBytes(files[0]);
        string link = Path.Combine(_dir, "hard.npy");
        HardLink(files[0], link);

        (int code, string stdout, string stderr) = Select(files, link);

        CliConventionTests.AssertOneLineUsageError(code, stdout, stderr);
        Assert.Contains("--student-image", stderr, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(files[0]));
    }

    [Fact]
    public void Select_OutIsACopyOfAnInput_IsAllowed()
    {
        // Same content, different file: not an input.
        string[] files = WriteBatch(100);
        string copy = Path.Combine(_dir, "copy.npy");
        File.Copy(files[0], copy);

        (int code, _, string stderr) = Select(files, copy);

        Assert.True(code == 0, stderr);
        Assert.Equal(20, Npy.ReadInt64(copy).Length);
    }

    [Fact]
    public void Select_HugeEmbeddingValue_BlamesFileAndRowNotScale()
    {
        string[] files = WriteBatch(100);
        Matrix m = Npy.ReadMatrix(files[2]);
        m[7, 3] = 3e38f;
        Npy.Write(files[2], m);

        (int code, string stdout, string stderr) = Select(files, Path.Combine(_dir, "o.npy"));

        CliConventionTests.AssertOneLineUsageError(code, stdout, stderr);
        Assert.Contains(files[2], stderr, StringComparison.Ordinal);
        Assert.Contains("row 7", stderr, StringComparison.Ordinal);
        Assert.Contains("--reference-image", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("scale", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("bias", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1e308")]
    [InlineData("1e40")]
    public void Select_HugeTemperature_BlamesTemperatureNotScale(string tau)
    {
        string[] files = WriteBatch(100);

        (int code, string stdout, string stderr) = Select(files, Path.Combine(_dir, "o.npy"), "--temperature", tau);

        CliConventionTests.AssertOneLineUsageError(code, stdout, stderr);
        Assert.Contains("--temperature", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("scale", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("bias", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Select_ModerateLargeTemperature_StillRuns()
    {
        string[] files = WriteBatch(100);
        string output = Path.Combine(_dir, "o.npy");

        (int code, _, string stderr) = Select(files, output, "--temperature", "1e6");

        Assert.True(code == 0, stderr);
    }

    [Fact]
    public void Select_SoftmaxWithBias_WarnsAndIgnoresTheBias()
    {
        string[] files = WriteBatch(100);
        string output = Path.Combine(_dir, "o.npy");

        (int code, string stdout, string stderr) = Select(files, output, "--loss", "softmax", "--student-bias", "1e30", "--reference-bias", "-3");

        Assert.True(code == 0, stderr);
        string[] warnings = stderr.TrimEnd().Split('\n');
        Assert.Equal(2, warnings.Length);
        Assert.All(warnings, w => Assert.StartsWith("aced: warning: ", w, StringComparison.Ordinal));
        Assert.Contains("--student-bias", warnings[0], StringComparison.Ordinal);
        Assert.Contains("--reference-bias", warnings[1], StringComparison.Ordinal);

        // Same selection as with no bias at all.
        string plain = Path.Combine(_dir, "plain.npy");
        (code, _, stderr) = Select(files, plain, "--loss", "softmax");
        Assert.True(code == 0, stderr);
        Assert.Equal(string.Empty, stderr);
        Assert.Equal(Npy.ReadInt64(plain), Npy.ReadInt64(output));
        Assert.False(string.IsNullOrEmpty(stdout));
    }

    [Fact]
    public void Select_UnnormalisedRows_ErrorNamesRowAndNormalizeOption()
    {
        string[] files = WriteBatch(100);
        Matrix m = Npy.ReadMatrix(files[1]);
        foreach (ref float v in m.Row(12))
        {
            v *= 3f;
        }

        Npy.Write(files[1], m);

        (int code, string stdout, string stderr) = Select(files, Path.Combine(_dir, "o.npy"));

        CliConventionTests.AssertOneLineUsageError(code, stdout, stderr);
        Assert.Contains(files[1], stderr, StringComparison.Ordinal);
        Assert.Contains("row 12", stderr, StringComparison.Ordinal);
        Assert.Contains("--normalize", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Select_NormTolerance_IsTheSamplersAndCanBeWidened()
    {
        // Rows of norm 1.005 (a half-precision cache, say): outside the default 1e-3, inside --norm-tolerance 0.01.
        string[] files = WriteBatch(100);
        Matrix m = Npy.ReadMatrix(files[0]);
        foreach (ref float v in m.Data.AsSpan())
        {
            v *= 1.005f;
        }

        Npy.Write(files[0], m);
        string output = Path.Combine(_dir, "o.npy");

        (int code, string stdout, string stderr) = Select(files, output);
        CliConventionTests.AssertOneLineUsageError(code, stdout, stderr);
        Assert.Contains("--norm-tolerance", stderr, StringComparison.Ordinal);

        (code, _, stderr) = Select(files, output, "--norm-tolerance", "0.01");
        Assert.True(code == 0, stderr);
    }

    [Fact]
    public void Select_LossPercentileSampler_SelectsBDistinctRows()
    {
        string[] files = WriteBatch(100);
        string output = Path.Combine(_dir, "sb.npy");

        (int code, _, string stderr) = Select(files, output, "--sampler", "loss-percentile", "--scoring", "hard", "--percentile-power", "2", "--temperature", "1e308");

        Assert.True(code == 0, stderr); // the temperature is not used by this sampler, so it is not checked
        long[] indices = Npy.ReadInt64(output);
        Assert.Equal(20, indices.Distinct().Count());
    }

    [Fact]
    public void Select_Normalize_SelectsAsOnTheNormalisedEmbeddings()
    {
        // Scale every row by its own factor in (0.5, 50): the direction is kept, the norm is not 1.
        string[] files = WriteBatch(120);
        var rng = new CounterRng(9, 1);
        string[] normalized = new string[files.Length];
        for (int f = 0; f < files.Length; f++)
        {
            Matrix m = Npy.ReadMatrix(files[f]);
            for (int r = 0; r < m.Rows; r++)
            {
                float factor = 0.5f + (49.5f * rng.NextFloat());
                foreach (ref float v in m.Row(r))
                {
                    v *= factor;
                }
            }

            Npy.Write(files[f], m);
            StableMath.L2NormalizeRows(m, m, new float[m.Rows]);
            normalized[f] = Path.Combine(_dir, "normalized-" + Path.GetFileName(files[f]));
            Npy.Write(normalized[f], m);
        }

        string rawOut = Path.Combine(_dir, "raw.npy");
        (int code, _, string stderr) = Select(files, rawOut);
        Assert.Equal(2, code); // without --normalize the scaled rows are refused
        (code, _, stderr) = Select(files, rawOut, "--normalize");
        Assert.True(code == 0, stderr);

        string normalizedOut = Path.Combine(_dir, "n.npy");
        (code, _, stderr) = Select(normalized, normalizedOut);
        Assert.True(code == 0, stderr);
        Assert.Equal(Npy.ReadInt64(normalizedOut), Npy.ReadInt64(rawOut));
    }

    internal static void HardLink(string existing, string link)
    {
        using var process = Process.Start(new ProcessStartInfo("ln", new[] { existing, link }) { RedirectStandardError = true })!;
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, process.StandardError.ReadToEnd());
    }

    private (int Code, string Stdout, string Stderr) Select(string[] files, string output, params string[] extra)
    {
        string[] args = new[] { "select", "--student-image", files[0], "--student-text", files[1], "--reference-image", files[2], "--reference-text", files[3], "--batch-size", "20", "--chunks", "4", "--seed", "3", "--out", output }
            .Concat(extra).ToArray();
        return CliConventionTests.Run(args);
    }

    private string[] WriteBatch(int count)
    {
        (SuperBatch batch, _) = SelectDemo.Generate(count, 2);
        string[] files = new[] { "si.npy", "st.npy", "ri.npy", "rt.npy" }.Select(f => Path.Combine(_dir, f)).ToArray();
        Npy.Write(files[0], batch.Student.Image);
        Npy.Write(files[1], batch.Student.Text);
        Npy.Write(files[2], batch.Reference.Image);
        Npy.Write(files[3], batch.Reference.Text);
        return files;
    }
}
