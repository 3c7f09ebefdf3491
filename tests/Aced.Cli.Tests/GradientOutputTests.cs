using System;
using System.IO;
using System.Text.Json;
using Aced.Cli;
using Aced.Core;

namespace Aced.Cli.Tests;

/// <summary>
/// <c>aced loss --grad-dir</c>: never replaces an input (item 7), writes the set all or nothing without deleting a
/// previous set and cleans temporaries of killed processes (item 8); <c>loss</c> errors blame the right thing (item 9).
/// </summary>
public sealed class GradientOutputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("aced-grad-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Loss_GradDirContainsAnInputByName_RefusedAndInputUnchanged()
    {
        // --image is <dir>/image.npy and --grad-dir is <dir>: the image gradient would replace the input.
        string image = Save("image.npy", Unit(4, 3, 1));
        string text = Save("t.npy", Unit(4, 3, 2));
        byte[] before = File.ReadAllBytes(image);

        (int code, string stdout, string stderr) = CliConventionTests.Run("loss", "--kind", "sigmoid", "--image", image, "--text", text, "--grad-dir", _dir);

        CliConventionTests.AssertOneLineUsageError(code, stdout, stderr);
        Assert.Contains("--grad-dir", stderr, StringComparison.Ordinal);
        Assert.Contains("--image", stderr, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(image));
    }

    [Fact]
    public void Loss_GradFileIsASymlinkOrHardLinkToAnInput_Refused()
    {
        string image = Save("i.npy", Unit(4, 3, 1));
        string text = Save("t.npy", Unit(4, 3, 2));
        string grads = Directory.CreateDirectory(Path.Combine(_dir, "g")).FullName;
        File.CreateSymbolicLink(Path.Combine(grads, "text.npy"), text);
        byte[] before = File.ReadAllBytes(text);

        (int code, string stdout, string stderr) = CliConventionTests.Run("loss", "--kind", "sigmoid", "--image", image, "--text", text, "--grad-dir", grads);

        CliConventionTests.AssertOneLineUsageError(code, stdout, stderr);
        Assert.Contains("--text", stderr, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(text));

        if (OperatingSystem.IsLinux())
        {
            File.Delete(Path.Combine(grads, "text.npy"));
            SelectSafetyTests.HardLink(image, Path.Combine(grads, "image.npy"));
            before = File.ReadAllBytes(image);
            (code, stdout, stderr) = CliConventionTests.Run("loss", "--kind", "sigmoid", "--image", image, "--text", text, "--grad-dir", grads);
            CliConventionTests.AssertOneLineUsageError(code, stdout, stderr);
            Assert.Equal(before, File.ReadAllBytes(image));
        }
    }

    [Fact]
    public void Write_SecondFileFails_PreviousSetIntactAndNoTemporariesLeft()
    {
        string grads = Directory.CreateDirectory(Path.Combine(_dir, "old")).FullName;
        File.WriteAllText(Path.Combine(grads, "image.npy"), "old image");
        File.WriteAllText(Path.Combine(grads, "text.npy"), "old text");

        var entries = new FileSetWriter.Entry[]
        {
            new("image.npy", path => File.WriteAllText(path, "new image")),
            new("text.npy", path =>
            {
                File.WriteAllText(path, "partial");
                throw new IOException("No space left on device");
            }),
        };
        CliException error = Assert.Throws<CliException>(() => FileSetWriter.Write("--grad-dir", grads, entries));

        Assert.Contains("--grad-dir", error.Message, StringComparison.Ordinal);
        Assert.Contains("text.npy", error.Message, StringComparison.Ordinal);
        Assert.Equal("old image", File.ReadAllText(Path.Combine(grads, "image.npy")));
        Assert.Equal("old text", File.ReadAllText(Path.Combine(grads, "text.npy")));
        Assert.Equal(2, Directory.GetFileSystemEntries(grads).Length);
    }

    [Fact]
    public void Write_FirstWriteIntoNewDirectoryFails_DirectoryRemoved()
    {
        string grads = Path.Combine(_dir, "fresh");
        var entries = new FileSetWriter.Entry[] { new("image.npy", _ => throw new IOException("disk full")) };

        Assert.Throws<CliException>(() => FileSetWriter.Write("--grad-dir", grads, entries));

        Assert.False(Directory.Exists(grads));
    }

    [Fact]
    public void Loss_TargetIsADirectory_RefusedBeforeAnyFileChanges()
    {
        // text.npy cannot be replaced (a directory is in the way): the previous image.npy must survive, unchanged.
        string grads = Directory.CreateDirectory(Path.Combine(_dir, "blocked")).FullName;
        Directory.CreateDirectory(Path.Combine(grads, "text.npy", "blocker"));
        string previous = Path.Combine(grads, "image.npy");
        Npy.Write(previous, Unit(4, 3, 9));
        byte[] before = File.ReadAllBytes(previous);

        (int code, string stdout, string stderr) = CliConventionTests.Run("loss", "--kind", "sigmoid", "--image", Save("i.npy", Unit(4, 3, 1)), "--text", Save("t.npy", Unit(4, 3, 2)), "--grad-dir", grads);

        CliConventionTests.AssertOneLineUsageError(code, stdout, stderr);
        Assert.Contains("--grad-dir", stderr, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(previous));
        Assert.Empty(Directory.GetFiles(grads, "*" + FileSetWriter.TemporaryMarker + "*"));
    }

    [Fact]
    public void Loss_ReplacesAPreviousSetCompletely()
    {
        string grads = Directory.CreateDirectory(Path.Combine(_dir, "again")).FullName;
        File.WriteAllText(Path.Combine(grads, "image.npy"), "stale");
        File.WriteAllText(Path.Combine(grads, "text.npy"), "stale");
        File.WriteAllText(Path.Combine(grads, "notes.txt"), "mine");

        (int code, _, string stderr) = CliConventionTests.Run("loss", "--kind", "sigmoid", "--image", Save("i.npy", Unit(4, 3, 1)), "--text", Save("t.npy", Unit(4, 3, 2)), "--grad-dir", grads);

        Assert.True(code == 0, stderr);
        Assert.Equal(4, Npy.ReadMatrix(Path.Combine(grads, "image.npy")).Rows);
        Assert.Equal(4, Npy.ReadMatrix(Path.Combine(grads, "text.npy")).Rows);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(grads, "notes.txt")));
        Assert.Equal(3, Directory.GetFileSystemEntries(grads).Length);
    }

    [Fact]
    public void Loss_TemporariesOfAKilledProcess_CleanedOnNextWrite()
    {
        string grads = Directory.CreateDirectory(Path.Combine(_dir, "killed")).FullName;
        const int deadPid = 999_999_999; // above any Linux pid_max: never a running process
        string[] abandoned =
        {
            Path.Combine(grads, $"{FileSetWriter.TemporaryMarker}{deadPid}.0123abcd.image.npy"),
            Path.Combine(grads, $".{FileSetWriter.TemporaryMarker}{deadPid}.0123abcd.text.npy.{deadPid}.77.tmp"),
        };
        foreach (string path in abandoned)
        {
            File.WriteAllText(path, "half written");
        }

        string live = Path.Combine(grads, $"{FileSetWriter.TemporaryMarker}{Environment.ProcessId}.feed.image.npy");
        string unrelated = Path.Combine(grads, "aced-partial-notes.txt");
        File.WriteAllText(live, "a running writer's");
        File.WriteAllText(unrelated, "user data");

        (int code, _, string stderr) = CliConventionTests.Run("loss", "--kind", "sigmoid", "--image", Save("i.npy", Unit(4, 3, 1)), "--text", Save("t.npy", Unit(4, 3, 2)), "--grad-dir", grads);

        Assert.True(code == 0, stderr);
        Assert.All(abandoned, path => Assert.False(File.Exists(path), path));
        Assert.True(File.Exists(live), "a temporary of a running process must be left alone");
        Assert.Equal("user data", File.ReadAllText(unrelated));
    }

    [Fact]
    public void Loss_HugeScale_BlamesScaleNotAFile()
    {
        (int code, string stdout, string stderr) = CliConventionTests.Run("loss", "--kind", "sigmoid", "--image", Save("i.npy", Unit(4, 3, 1)), "--text", Save("t.npy", Unit(4, 3, 2)), "--scale", "1e31");

        CliConventionTests.AssertOneLineUsageError(code, stdout, stderr);
        Assert.StartsWith("aced: error: --scale", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Loss_HugeEmbeddingValue_ErrorNamesFileAndRow()
    {
        // The audit's case: one 1e30 value among unit rows; the library's own message named neither file nor row.
        Matrix image = Unit(5, 3, 1);
        image[3, 1] = 1e30f;
        string path = Save("big.npy", image);
        Matrix text = Unit(5, 3, 2);

        (int code, string stdout, string stderr) = CliConventionTests.Run("loss", "--kind", "sigmoid", "--image", path, "--text", Save("t.npy", text));

        CliConventionTests.AssertOneLineUsageError(code, stdout, stderr);
        Assert.Contains(path, stderr, StringComparison.Ordinal);
        Assert.Contains("row 3", stderr, StringComparison.Ordinal);
        Assert.Contains("--image", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("--scale", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("softmax", "--bias")]
    [InlineData("softmax-kd", "--teacher-bias")]
    [InlineData("feature-match", "--bias")]
    public void Loss_BiasForAKindWithoutBias_IgnoredWithOneWarning(string kind, string option)
    {
        string ti = Save("ti.npy", Unit(4, 3, 3)), tt = Save("tt.npy", Unit(4, 3, 4));
        string[] args = { "loss", "--kind", kind, "--image", Save("i.npy", Unit(4, 3, 1)), "--text", Save("t.npy", Unit(4, 3, 2)), option, "1e30" };
        if (kind != "softmax")
        {
            args = [.. args, "--teacher-image", ti, "--teacher-text", tt];
        }

        (int code, string stdout, string stderr) = CliConventionTests.Run(args);

        Assert.True(code == 0, stderr);
        Assert.StartsWith("aced: warning: ", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.TrimEnd().Split('\n'));
        Assert.Contains(option, stderr, StringComparison.Ordinal);
        using JsonDocument json = JsonDocument.Parse(stdout);
        Assert.True(double.IsFinite(json.RootElement.GetProperty("loss").GetDouble()));
    }

    [Fact]
    public void Loss_SigmoidHugeBias_StillRejectedNamingBias()
    {
        (int code, string stdout, string stderr) = CliConventionTests.Run("loss", "--kind", "sigmoid", "--image", Save("i.npy", Unit(4, 3, 1)), "--text", Save("t.npy", Unit(4, 3, 2)), "--bias", "3e38");

        CliConventionTests.AssertOneLineUsageError(code, stdout, stderr);
        Assert.Contains("--bias", stderr, StringComparison.Ordinal);
    }

    private string Save(string name, Matrix m)
    {
        string path = Path.Combine(_dir, name);
        Npy.Write(path, m);
        return path;
    }

    private static Matrix Unit(int rows, int columns, ulong stream)
    {
        var rng = new CounterRng(5, stream);
        var m = new Matrix(rows, columns);
        for (int i = 0; i < m.Data.Length; i++)
        {
            m.Data[i] = rng.NextNormal();
        }

        StableMath.L2NormalizeRows(m, m, new float[rows]);
        return m;
    }
}
