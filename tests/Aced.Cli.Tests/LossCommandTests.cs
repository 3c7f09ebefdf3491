using System;
using System.CommandLine;
using System.IO;
using System.Text.Json;
using Aced.Core;
using Aced.Losses;

namespace Aced.Cli.Tests;

/// <summary>
/// End-to-end tests of <c>aced loss</c> through <see cref="Program.BuildRoot"/> with private writers
/// (no global Console redirection, so these run in parallel with other classes safely).
/// </summary>
public sealed class LossCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "aced-loss-tests-" + Guid.NewGuid().ToString("N"));

    public LossCommandTests()
    {
        Directory.CreateDirectory(_dir);
    }

    public void Dispose()
    {
        Directory.Delete(_dir, recursive: true);
    }

    private static Matrix RandomMatrix(int rows, int columns, ulong stream, bool normalize = true)
    {
        var rng = new CounterRng(7, stream);
        var m = new Matrix(rows, columns);
        for (int i = 0; i < m.Data.Length; i++)
        {
            m.Data[i] = rng.NextNormal();
        }

        if (normalize)
        {
            StableMath.L2NormalizeRows(m, m, new float[rows]);
        }

        return m;
    }

    private string Save(string name, Matrix m)
    {
        string path = Path.Combine(_dir, name);
        Npy.Write(path, m);
        return path;
    }

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CommandRunner.Invoke(Program.BuildRoot(), args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    private static void Close(double expected, double actual, double rel = 1e-6)
    {
        Assert.True(Math.Abs(expected - actual) <= rel * Math.Max(1, Math.Abs(expected)), $"expected {expected:R}, got {actual:R}");
    }

    [Fact]
    public void Loss_SigmoidDefaults_MatchesLibraryAndWritesGradients()
    {
        const int b = 9, d = 5;
        Matrix img = RandomMatrix(b, d, 1), txt = RandomMatrix(b, d, 2);
        string gradDir = Path.Combine(_dir, "grads");
        (int code, string output, string err) = Run("loss", "--kind", "sigmoid", "--image", Save("i.npy", img), "--text", Save("t.npy", txt), "--per-example", "--grad-dir", gradDir);
        Assert.True(code == 0, err);

        var gi = new Matrix(b, d);
        var gt = new Matrix(b, d);
        var rows = new float[b];
        LossResult r = new SigmoidContrastiveLoss().Compute(img, txt, new LogitParameters(10f, -10f), new EmbeddingGradients(gi, gt), rows);
        using JsonDocument json = JsonDocument.Parse(output);
        JsonElement root = json.RootElement;
        Assert.Equal("sigmoid", root.GetProperty("kind").GetString());
        Close(r.Loss, root.GetProperty("loss").GetDouble());
        Close(r.ScaleGradient, root.GetProperty("grad").GetProperty("scale").GetDouble());
        Close(r.LogScaleGradient, root.GetProperty("grad").GetProperty("log_scale").GetDouble());
        Close(r.BiasGradient, root.GetProperty("grad").GetProperty("bias").GetDouble());
        Assert.Equal(b, root.GetProperty("per_example").GetArrayLength());
        Close(rows[3], root.GetProperty("per_example")[3].GetDouble());
        Assert.Equal(gi.Data, Npy.ReadMatrix(Path.Combine(gradDir, "image.npy")).Data);
        Assert.Equal(gt.Data, Npy.ReadMatrix(Path.Combine(gradDir, "text.npy")).Data);
    }

    [Fact]
    public void Loss_SoftmaxNormalize_GradientsAreWithRespectToRawRows()
    {
        const int b = 7, d = 4;
        Matrix img = RandomMatrix(b, d, 3, normalize: false), txt = RandomMatrix(b, d, 4, normalize: false);
        string gradDir = Path.Combine(_dir, "g");
        (int code, string output, string err) = Run("loss", "--kind", "softmax", "--image", Save("i.npy", img), "--text", Save("t.npy", txt), "--normalize", "--scale", "20", "--grad-dir", gradDir);
        Assert.True(code == 0, err);

        Matrix ni = img.View.ToMatrix(), nt = txt.View.ToMatrix();
        StableMath.L2NormalizeRows(ni, ni, new float[b]);
        StableMath.L2NormalizeRows(nt, nt, new float[b]);
        LossResult r = new SoftmaxContrastiveLoss().Compute(ni, nt, new LogitParameters(20f, 0f));
        using JsonDocument json = JsonDocument.Parse(output);
        Close(r.Loss, json.RootElement.GetProperty("loss").GetDouble());

        // The gradient through L2 normalisation is orthogonal to each raw row, and not zero.
        Matrix g = Npy.ReadMatrix(Path.Combine(gradDir, "image.npy"));
        double norm = 0;
        for (int i = 0; i < b; i++)
        {
            double dot = 0, gg = 0;
            for (int k = 0; k < d; k++)
            {
                dot += g[i, k] * img[i, k];
                gg += g[i, k] * g[i, k];
            }

            norm += gg;
            Assert.True(Math.Abs(dot) < 1e-5, $"row {i}: grad . x = {dot}");
        }

        Assert.True(norm > 1e-8);
    }

    [Fact]
    public void Loss_SoftmaxKd_ReportsCrossEntropyAndTeacherEntropy()
    {
        const int b = 6, d = 4, dt = 3;
        Matrix img = RandomMatrix(b, d, 5), txt = RandomMatrix(b, d, 6), ti = RandomMatrix(b, dt, 7), tt = RandomMatrix(b, dt, 8);
        (int code, string output, string err) = Run("loss", "--kind", "softmax-kd", "--image", Save("i.npy", img), "--text", Save("t.npy", txt),
            "--teacher-image", Save("ti.npy", ti), "--teacher-text", Save("tt.npy", tt), "--teacher-scale", "50", "--per-example");
        Assert.True(code == 0, err);
        DistillationResult r = new SoftmaxDistillationLoss().Compute(img, txt, new LogitParameters(1f / 0.07f, 0f), new TeacherEmbeddings(ti, tt, new LogitParameters(50f, 0f)));
        using JsonDocument json = JsonDocument.Parse(output);
        Close(r.Loss, json.RootElement.GetProperty("loss").GetDouble());
        Close(r.TeacherEntropy, json.RootElement.GetProperty("teacher_entropy").GetDouble());
        Close(r.KlDivergence, json.RootElement.GetProperty("kl").GetDouble(), 1e-5);
        Assert.Equal(b, json.RootElement.GetProperty("per_example").GetArrayLength());
    }

    [Fact]
    public void Loss_FeatureMatchWithProjection_WritesProjectionGradient()
    {
        const int b = 5, d = 3, dt = 4;
        Matrix img = RandomMatrix(b, d, 9), txt = RandomMatrix(b, d, 10), ti = RandomMatrix(b, dt, 11), tt = RandomMatrix(b, dt, 12), p = RandomMatrix(d, dt, 13, normalize: false);
        string gradDir = Path.Combine(_dir, "fm");
        (int code, string output, string err) = Run("loss", "--kind", "feature-match", "--image", Save("i.npy", img), "--text", Save("t.npy", txt),
            "--teacher-image", Save("ti.npy", ti), "--teacher-text", Save("tt.npy", tt), "--projection", Save("p.npy", p), "--grad-dir", gradDir);
        Assert.True(code == 0, err);
        var gp = new Matrix(d, dt);
        double expected = new FeatureMatchingLoss().Compute(img, txt, ti, tt, p, default, gp);
        using JsonDocument json = JsonDocument.Parse(output);
        Close(expected, json.RootElement.GetProperty("loss").GetDouble());
        Assert.Equal(gp.Data, Npy.ReadMatrix(Path.Combine(gradDir, "projection.npy")).Data);
    }

    [Fact]
    public void Loss_MissingFile_ExitsTwoNamingTheFile()
    {
        string missing = Path.Combine(_dir, "nope.npy");
        (int code, string output, string err) = Run("loss", "--kind", "sigmoid", "--image", missing, "--text", Save("t.npy", RandomMatrix(2, 2, 1)));
        Assert.Equal(2, code);
        Assert.Equal(string.Empty, output);
        Assert.Contains(missing, err);
        Assert.Contains("not found", err);
        Assert.Single(err.TrimEnd().Split('\n'));
    }

    [Fact]
    public void Loss_MismatchedShapes_ExitsTwoAndWritesNothing()
    {
        string gradDir = Path.Combine(_dir, "never");
        string text = Save("t.npy", RandomMatrix(4, 3, 2));
        (int code, _, string err) = Run("loss", "--kind", "softmax", "--image", Save("i.npy", RandomMatrix(5, 3, 1)), "--text", text, "--grad-dir", gradDir);
        Assert.Equal(2, code);
        Assert.Contains(text, err);
        Assert.Contains("4x3", err);
        Assert.False(Directory.Exists(gradDir));
    }

    [Fact]
    public void Loss_GradientWriteFailsMidway_LeavesNoPartialFiles()
    {
        // text.npy cannot be written (a directory of that name is in the way): image.npy, written first, must not remain.
        string gradDir = Path.Combine(_dir, "partial");
        Directory.CreateDirectory(Path.Combine(gradDir, "text.npy", "blocker"));
        (int code, string output, string err) = Run("loss", "--kind", "sigmoid", "--image", Save("i.npy", RandomMatrix(4, 3, 1)), "--text", Save("t.npy", RandomMatrix(4, 3, 2)), "--grad-dir", gradDir);
        Assert.Equal(2, code);
        Assert.Equal(string.Empty, output);
        Assert.Single(err.TrimEnd().Split('\n'));
        Assert.False(File.Exists(Path.Combine(gradDir, "image.npy")), "a failed --grad-dir write left image.npy behind");
        Assert.Contains("--grad-dir", err);
    }

    [Theory]
    [InlineData("softmax")]
    [InlineData("softmax-kd")]
    public void Loss_SoftmaxKinds_BiasGradientIsExactlyZero(string kind)
    {
        // Softmax is shift-invariant: dL/dc is exactly 0 (it used to print a float residue such as -2.9e-7).
        const int b = 40, d = 8;
        (int code, string output, string err) = Run("loss", "--kind", kind, "--image", Save("i.npy", RandomMatrix(b, d, 21)), "--text", Save("t.npy", RandomMatrix(b, d, 22)),
            "--teacher-image", Save("ti.npy", RandomMatrix(b, 6, 23)), "--teacher-text", Save("tt.npy", RandomMatrix(b, 6, 24)), "--bias", "1.5");
        if (kind == "softmax")
        {
            (code, output, err) = Run("loss", "--kind", kind, "--image", Path.Combine(_dir, "i.npy"), "--text", Path.Combine(_dir, "t.npy"), "--bias", "1.5");
        }

        Assert.True(code == 0, err);
        using JsonDocument json = JsonDocument.Parse(output);
        Assert.Equal(0.0, json.RootElement.GetProperty("grad").GetProperty("bias").GetDouble());
    }

    [Fact]
    public void Loss_NonFiniteValue_ExitsTwoNamingFileAndPosition()
    {
        Matrix img = RandomMatrix(3, 2, 1);
        img[1, 1] = float.NaN;
        string path = Save("bad.npy", img);
        (int code, _, string err) = Run("loss", "--kind", "sigmoid", "--image", path, "--text", Save("t.npy", RandomMatrix(3, 2, 2)));
        Assert.Equal(2, code);
        Assert.Contains(path, err);
        Assert.Contains("row 1, column 1", err);
    }

    [Fact]
    public void Loss_MalformedNpy_ExitsTwoNamingTheFile()
    {
        string path = Path.Combine(_dir, "garbage.npy");
        File.WriteAllText(path, "not a numpy file");
        (int code, _, string err) = Run("loss", "--kind", "sigmoid", "--image", path, "--text", path);
        Assert.Equal(2, code);
        Assert.Contains(path, err);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-3")]
    [InlineData("NaN")]
    public void Loss_BadScale_ExitsTwo(string scale)
    {
        (int code, _, string err) = Run("loss", "--kind", "sigmoid", "--image", Save("i.npy", RandomMatrix(3, 2, 1)), "--text", Save("t.npy", RandomMatrix(3, 2, 2)), "--scale", scale);
        Assert.Equal(2, code);
        Assert.Contains("--scale", err);
    }

    [Fact]
    public void Loss_DistillationWithoutTeacher_ExitsTwo()
    {
        (int code, _, string err) = Run("loss", "--kind", "sigmoid-kd", "--image", Save("i.npy", RandomMatrix(3, 2, 1)), "--text", Save("t.npy", RandomMatrix(3, 2, 2)));
        Assert.Equal(2, code);
        Assert.Contains("--teacher-image", err);
    }

    [Fact]
    public void Loss_TeacherRowsDiffer_ExitsTwoNamingTeacherFile()
    {
        string ti = Save("ti.npy", RandomMatrix(4, 2, 3));
        (int code, _, string err) = Run("loss", "--kind", "sigmoid-kd", "--image", Save("i.npy", RandomMatrix(3, 2, 1)), "--text", Save("t.npy", RandomMatrix(3, 2, 2)),
            "--teacher-image", ti, "--teacher-text", Save("tt.npy", RandomMatrix(4, 2, 4)));
        Assert.Equal(2, code);
        Assert.Contains(ti, err);
    }

    [Fact]
    public void BuildRoot_RegistersLoss()
    {
        Assert.Contains(Program.BuildRoot().Subcommands, c => c.Name == "loss");
    }
}
