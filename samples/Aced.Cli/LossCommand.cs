using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Text.Json;
using Aced.Core;
using Aced.Losses;

namespace Aced.Cli;

/// <summary>
/// <c>aced loss</c>: evaluates one objective of Aced.Losses on <c>.npy</c> embeddings and prints the loss, optional
/// per-example values and the scalar gradients as one JSON object; writes the embedding gradients to <c>.npy</c>
/// when asked. This is the interop surface users check their PyTorch numbers against.
/// </summary>
public static class LossCommand
{
    /// <summary>The accepted <c>--kind</c> values.</summary>
    public static readonly string[] Kinds = ["sigmoid", "softmax", "softmax-kd", "sigmoid-kd", "feature-match"];

    /// <summary>The files <c>--grad-dir</c> receives: dL/d image, dL/d text, and dL/dP for feature matching with a projection.</summary>
    public static readonly string[] GradientFiles = ["image.npy", "text.npy", "projection.npy"];

    public static Command Create()
    {
        var kind = CliOptions.RequiredChoice("--kind", "Objective: sigmoid (SigLIP), softmax (CLIP), their distillation from --teacher-image/--teacher-text (softmax-kd, sigmoid-kd), or feature-match.", Kinds);
        var image = new Option<string>("--image") { HelpName = "file.npy", Description = "Student image embeddings, float32 .npy, b x d (rows = examples).", Required = true };
        var text = new Option<string>("--text") { HelpName = "file.npy", Description = "Student text embeddings, float32 .npy, b x d.", Required = true };
        var scale = CliOptions.OptionalNumber<float>("--scale", "Student scale a (not log a). Default: 10 for sigmoid kinds, 1/0.07 for softmax kinds.");
        var bias = CliOptions.OptionalNumber<float>("--bias", "Student bias c of the sigmoid kinds. Default: -10. The other kinds have no bias (a given one is ignored with a warning).");
        var teacherImage = new Option<string?>("--teacher-image") { HelpName = "file.npy", Description = "Teacher image embeddings (.npy, b x d_t) for the distillation kinds." };
        var teacherText = new Option<string?>("--teacher-text") { HelpName = "file.npy", Description = "Teacher text embeddings (.npy, b x d_t) for the distillation kinds." };
        var teacherScale = CliOptions.OptionalNumber<float>("--teacher-scale", "Teacher scale a_t. Default: as --scale's default.");
        var teacherBias = CliOptions.OptionalNumber<float>("--teacher-bias", "Teacher bias c_t of sigmoid-kd. Default: -10 (ignored with a warning by the other kinds).");
        var projection = new Option<string?>("--projection") { HelpName = "file.npy", Description = "Feature-matching head P (.npy, d x d_t); required when d != d_t." };
        var normalize = new Option<bool>("--normalize") { Description = "L2-normalise every input's rows first; gradients are then w.r.t. the raw rows." };
        var perExample = new Option<bool>("--per-example") { Description = "Also print per-example values." };
        var gradDir = new Option<string?>("--grad-dir") { HelpName = "directory", Description = "Write image.npy, text.npy (and projection.npy) gradients into this directory, all or none (existing files are replaced only when every new one is written)." };
        var command = new Command("loss", "Evaluate a contrastive or distillation loss and its gradients on .npy embeddings. Prints one JSON object: "
            + "kind, loss (batch mean), [teacher_entropy, kl for the KD kinds], batch, scale, bias, "
            + "[per_example (image-anchored for the sigmoid kinds) and per_example_text with --per-example], "
            + "grad {scale: dL/da, log_scale: dL/dt = a dL/da, bias: dL/dc (exactly 0 for the bias-invariant softmax kinds)}.")
        {
            kind, image, text, scale, bias, teacherImage, teacherText, teacherScale, teacherBias, projection, normalize, perExample, gradDir,
        };
        command.SetAction(parse => CommandRunner.Run(
            () => Execute(
                new LossRequest
                {
                    Kind = parse.GetValue(kind)!,
                    Image = parse.GetValue(image)!,
                    Text = parse.GetValue(text)!,
                    Scale = parse.GetValue(scale),
                    Bias = parse.GetValue(bias),
                    TeacherImage = parse.GetValue(teacherImage),
                    TeacherText = parse.GetValue(teacherText),
                    TeacherScale = parse.GetValue(teacherScale),
                    TeacherBias = parse.GetValue(teacherBias),
                    Projection = parse.GetValue(projection),
                    Normalize = parse.GetValue(normalize),
                    PerExample = parse.GetValue(perExample),
                    GradDir = parse.GetValue(gradDir),
                },
                parse.InvocationConfiguration.Output,
                parse.InvocationConfiguration.Error),
            parse.InvocationConfiguration.Error));
        return command;
    }

    /// <summary>Runs the command: reads and validates every input, computes, then prints and writes. Returns 0.</summary>
    /// <exception cref="CliException">A file is missing or malformed, shapes disagree, a value is not finite, or an option is invalid.</exception>
    public static int Execute(LossRequest request, TextWriter stdout, TextWriter? stderr = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(stdout);
        stderr ??= TextWriter.Null;
        string kind = request.Kind;
        if (Array.IndexOf(Kinds, kind) < 0)
        {
            throw new CliException($"--kind must be one of {string.Join(", ", Kinds)} (was '{kind}')");
        }

        bool sigmoidKind = kind is "sigmoid" or "sigmoid-kd";
        bool distillation = kind is "softmax-kd" or "sigmoid-kd" or "feature-match";
        LogitParameters initial = LogitParameters.Initial(sigmoidKind ? ContrastiveKind.Sigmoid : ContrastiveKind.Softmax);
        float defaultScale = initial.Scale;
        float defaultBias = initial.Bias;
        LogitParameters student = Parameters(request.Scale ?? defaultScale, Bias(request.Bias, sigmoidKind, kind, "--bias", stderr) ?? defaultBias, "--scale", "--bias");
        if (request.GradDir is not null)
        {
            var inputs = new[]
            {
                new OutputGuard.Input("--image", request.Image), new OutputGuard.Input("--text", request.Text),
                new OutputGuard.Input("--teacher-image", request.TeacherImage!), new OutputGuard.Input("--teacher-text", request.TeacherText!),
                new OutputGuard.Input("--projection", request.Projection!),
            };
            foreach (string name in GradientFiles)
            {
                OutputGuard.EnsureNotAnInput("--grad-dir", Path.Combine(request.GradDir, name), inputs);
            }
        }

        Matrix image = Read(request.Image, "--image");
        Matrix text = Read(request.Text, "--text");
        SameShape(image, request.Image, text, request.Text);

        Matrix? teacherImage = null, teacherText = null, projection = null;
        LogitParameters teacherLogits = default;
        if (distillation)
        {
            if (request.TeacherImage is null || request.TeacherText is null)
            {
                throw new CliException($"--kind {kind} needs --teacher-image and --teacher-text");
            }

            teacherImage = Read(request.TeacherImage, "--teacher-image");
            teacherText = Read(request.TeacherText, "--teacher-text");
            SameShape(teacherImage, request.TeacherImage, teacherText, request.TeacherText);
            if (teacherImage.Rows != image.Rows)
            {
                throw new CliException($"{request.TeacherImage}: has {teacherImage.Rows} rows but {request.Image} has {image.Rows}; teacher and student must embed the same examples in the same order");
            }

            teacherLogits = Parameters(request.TeacherScale ?? defaultScale, Bias(request.TeacherBias, sigmoidKind, kind, "--teacher-bias", stderr) ?? defaultBias, "--teacher-scale", "--teacher-bias");
        }
        else if (request.TeacherImage is not null || request.TeacherText is not null)
        {
            throw new CliException($"--teacher-image/--teacher-text are only used by the distillation kinds, not --kind {kind}");
        }

        if (request.Projection is not null)
        {
            if (kind != "feature-match")
            {
                throw new CliException($"--projection is only used by --kind feature-match, not --kind {kind}");
            }

            projection = Read(request.Projection, "--projection");
            if (projection.Rows != image.Columns || projection.Columns != teacherImage!.Columns)
            {
                throw new CliException($"{request.Projection}: has shape {projection.Rows}x{projection.Columns} but the head must be {image.Columns}x{teacherImage!.Columns} (student dimension x teacher dimension)");
            }
        }
        else if (kind == "feature-match" && image.Columns != teacherImage!.Columns)
        {
            throw new CliException($"{request.TeacherImage}: has dimension {teacherImage.Columns} but {request.Image} has {image.Columns}; pass --projection P.npy ({image.Columns}x{teacherImage.Columns})");
        }

        var magnitudes = new List<(string Option, string Path, Matrix Value)> { ("--image", request.Image, image), ("--text", request.Text, text) };
        if (teacherImage is not null)
        {
            magnitudes.Add(("--teacher-image", request.TeacherImage!, teacherImage));
            magnitudes.Add(("--teacher-text", request.TeacherText!, teacherText!));
        }

        // Normalise (the student keeps its normalizers for the backward pass).
        var imageNormalizer = new EmbeddingNormalizer();
        var textNormalizer = new EmbeddingNormalizer();
        MatrixView studentImage = image, studentText = text;
        MatrixView tImage = teacherImage is null ? default : teacherImage.View;
        MatrixView tText = teacherText is null ? default : teacherText.View;
        if (request.Normalize)
        {
            studentImage = imageNormalizer.Normalize(image);
            studentText = textNormalizer.Normalize(text);
            if (teacherImage is not null)
            {
                tImage = new EmbeddingNormalizer().Normalize(teacherImage);
                tText = new EmbeddingNormalizer().Normalize(teacherText!);
            }
        }

        // The logits must stay within what Aced.Losses accepts; name the file and row, or the scale, that breaks it.
        CheckLogitRange(studentImage, request.Image, "--image", studentText, request.Text, "--text", student, "--scale", "--bias");
        if (teacherImage is not null)
        {
            CheckLogitRange(tImage, request.TeacherImage!, "--teacher-image", tText, request.TeacherText!, "--teacher-text", teacherLogits, "--teacher-scale", "--teacher-bias");
        }

        int b = image.Rows, d = image.Columns;
        bool wantGrads = request.GradDir is not null;
        var gradImage = new Matrix(b, d);
        var gradText = new Matrix(b, d);
        Matrix? gradProjection = projection is null ? null : new Matrix(projection.Rows, projection.Columns);
        var gradients = new EmbeddingGradients(gradImage, gradText);
        var per = new float[b];
        var perText = new float[b];
        double loss;
        double dScale = 0, dBias = 0;
        double? entropy = null;
        string perName = "per_example";
        string? perTextName = null;
        var teacher = new TeacherEmbeddings(tImage, tText, teacherLogits);
        switch (kind)
        {
            case "sigmoid":
            {
                LossResult r = new SigmoidContrastiveLoss().Compute(studentImage, studentText, student, gradients, per, perText);
                (loss, dScale, dBias) = (r.Loss, r.ScaleGradient, r.BiasGradient);
                perTextName = "per_example_text";
                break;
            }

            case "softmax":
            {
                LossResult r = new SoftmaxContrastiveLoss().Compute(studentImage, studentText, student, gradients, per);
                (loss, dScale, dBias) = (r.Loss, r.ScaleGradient, r.BiasGradient);
                break;
            }

            case "softmax-kd":
            {
                DistillationResult r = new SoftmaxDistillationLoss().Compute(studentImage, studentText, student, teacher, gradients, per);
                (loss, dScale, dBias, entropy) = (r.Loss, r.ScaleGradient, r.BiasGradient, r.TeacherEntropy);
                break;
            }

            case "sigmoid-kd":
            {
                DistillationResult r = new SigmoidDistillationLoss().Compute(studentImage, studentText, student, teacher, gradients, per, perText);
                (loss, dScale, dBias, entropy) = (r.Loss, r.ScaleGradient, r.BiasGradient, r.TeacherEntropy);
                perTextName = "per_example_text";
                break;
            }

            default:
                loss = new FeatureMatchingLoss().Compute(studentImage, studentText, tImage, tText, projection is null ? default : projection.View, gradients, gradProjection is null ? default : gradProjection.View, per);
                break;
        }

        if (request.Normalize)
        {
            imageNormalizer.Backward(gradImage, gradImage);
            textNormalizer.Backward(gradText, gradText);
        }

        EnsureFinite(loss, dScale, dBias, gradImage, gradText, gradProjection, magnitudes);

        // Everything is computed and valid: now write, then print.
        if (wantGrads)
        {
            var entries = new List<FileSetWriter.Entry>
            {
                new(GradientFiles[0], path => Npy.Write(path, gradImage)),
                new(GradientFiles[1], path => Npy.Write(path, gradText)),
            };
            if (gradProjection is not null)
            {
                entries.Add(new(GradientFiles[2], path => Npy.Write(path, gradProjection)));
            }

            FileSetWriter.Write("--grad-dir", request.GradDir!, entries);
        }

        using (var buffer = new MemoryStream())
        {
            using (var json = new Utf8JsonWriter(buffer, CliJson.WriterOptions))
            {
                json.WriteStartObject();
                json.WriteString("kind", kind);
                json.WriteNumber("loss", loss);
                if (entropy is double h)
                {
                    json.WriteNumber("teacher_entropy", h);
                    json.WriteNumber("kl", loss - h);
                }

                json.WriteNumber("batch", b);
                json.WriteNumber("scale", student.Scale);
                json.WriteNumber("bias", kind is "sigmoid" or "sigmoid-kd" ? student.Bias : 0f);
                if (request.PerExample)
                {
                    WriteArray(json, perName, per);
                    if (perTextName is not null)
                    {
                        WriteArray(json, perTextName, perText);
                    }
                }

                json.WriteStartObject("grad");
                json.WriteNumber("scale", dScale);
                json.WriteNumber("log_scale", student.Scale * dScale);
                json.WriteNumber("bias", dBias);
                json.WriteEndObject();
                json.WriteEndObject();
            }

            stdout.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
        }

        return 0;
    }

    private static void WriteArray(Utf8JsonWriter json, string name, float[] values)
    {
        json.WriteStartArray(name);
        foreach (float v in values)
        {
            json.WriteNumberValue(v);
        }

        json.WriteEndArray();
    }

    private static LogitParameters Parameters(float scale, float bias, string scaleName, string biasName)
    {
        if (!(scale > 0f) || !float.IsFinite(scale))
        {
            throw new CliException($"{scaleName} must be a finite number greater than 0 (it is a = exp(t), not t; was {scale.ToString(CultureInfo.InvariantCulture)})");
        }

        if (!float.IsFinite(bias))
        {
            throw new CliException($"{biasName} must be a finite number (was {bias.ToString(CultureInfo.InvariantCulture)})");
        }

        return new LogitParameters(scale, bias);
    }

    private static Matrix Read(string path, string option)
    {
        if (!File.Exists(path))
        {
            throw new CliException($"{path}: file not found ({option})");
        }

        Matrix m;
        try
        {
            m = Npy.ReadMatrix(path);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or ArgumentException or UnauthorizedAccessException)
        {
            string message = ex.Message.StartsWith(path, StringComparison.Ordinal) ? ex.Message : $"{path}: {ex.Message}";
            throw new CliException($"{message} ({option})", ex);
        }

        if (m.Rows == 0 || m.Columns == 0)
        {
            throw new CliException($"{path}: is empty ({m.Rows}x{m.Columns}); {option} needs at least one row and one column");
        }

        int bad = Guard.IndexOfNonFinite(m.Data);
        if (bad >= 0)
        {
            throw new CliException($"{path}: contains a non-finite value ({m.Data[bad].ToString(CultureInfo.InvariantCulture)}) at row {bad / m.Columns}, column {bad % m.Columns} ({option})");
        }

        return m;
    }

    private static void SameShape(Matrix a, string aPath, Matrix b, string bPath)
    {
        if (a.Rows != b.Rows || a.Columns != b.Columns)
        {
            throw new CliException($"{bPath}: has shape {b.Rows}x{b.Columns} but {aPath} is {a.Rows}x{a.Columns}; image and text embeddings must be paired row by row with the same dimension");
        }
    }

    /// <summary>
    /// A bias given to a kind that has none (softmax, softmax-kd, feature-match are shift-invariant or bias-free) is
    /// ignored with a warning instead of being validated; returns the bias to use (null = the default).
    /// </summary>
    private static float? Bias(float? bias, bool sigmoidKind, string kind, string option, TextWriter stderr)
    {
        if (sigmoidKind || bias is null)
        {
            return bias;
        }

        if (bias.Value != 0f)
        {
            CommandRunner.Warn(stderr, $"{option} {bias.Value.ToString(CultureInfo.InvariantCulture)} is ignored with --kind {kind}: it has no bias");
        }

        return 0f;
    }

    /// <summary>The row of largest L2 norm of <paramref name="m"/> (computed in double, so it never overflows).</summary>
    private static (int Row, double Norm) LargestRow(MatrixView m)
    {
        int best = 0;
        double bestNorm = -1;
        for (int r = 0; r < m.Rows; r++)
        {
            double sum = 0;
            foreach (float v in m.Row(r))
            {
                sum += (double)v * v;
            }

            if (sum > bestNorm)
            {
                (best, bestNorm) = (r, sum);
            }
        }

        return (best, Math.Sqrt(bestNorm));
    }

    /// <summary>
    /// Refuses, before computing, logits beyond what Aced.Losses accepts: a max(|x_i| |y_j|, |x_i|, |y_j|) + |c| must
    /// not exceed <see cref="LogitLimit"/>. Blames the file and row of the largest embedding when it is not of embedding
    /// size (norm &gt; <see cref="LargeNorm"/>), else the scale and bias options.
    /// </summary>
    private static void CheckLogitRange(MatrixView image, string imagePath, string imageOption, MatrixView text, string textPath, string textOption, LogitParameters logits, string scaleOption, string biasOption)
    {
        (int imageRow, double imageNorm) = LargestRow(image);
        (int textRow, double textNorm) = LargestRow(text);
        double reach = Math.Max(imageNorm * textNorm, Math.Max(imageNorm, textNorm));
        double bound = ((double)logits.Scale * reach) + Math.Abs((double)logits.Bias);
        if (bound <= LogitLimit)
        {
            return;
        }

        if (Math.Max(imageNorm, textNorm) > LargeNorm)
        {
            (string path, string option, int row, double norm) = imageNorm >= textNorm ? (imagePath, imageOption, imageRow, imageNorm) : (textPath, textOption, textRow, textNorm);
            throw new CliException($"{path}: row {row} has L2 norm {Format(norm)} ({option}), so the logits a (x . y) + c reach {Format(bound)}, beyond the supported {Format(LogitLimit)}; normalise the rows (--normalize) or fix the file");
        }

        throw new CliException($"{scaleOption} {Format(logits.Scale)} / {biasOption} {Format(logits.Bias)} give logits up to {Format(bound)}, beyond the supported {Format(LogitLimit)}; use a scale a = exp(t) and a bias of moderate size (e.g. a <= 1e4)");
    }

    /// <summary>The largest logit magnitude the Aced.Losses objectives accept (their input check uses the same bound).</summary>
    private const double LogitLimit = 1e30;

    /// <summary>Embedding rows with a larger L2 norm than this are not embeddings of usual size (they are blamed first).</summary>
    private const double LargeNorm = 1e3;

    private static string Format(double value) => value.ToString("G6", CultureInfo.InvariantCulture);

    private static void EnsureFinite(double loss, double dScale, double dBias, Matrix gradImage, Matrix gradText, Matrix? gradProjection, List<(string Option, string Path, Matrix Value)> inputs)
    {
        if (double.IsFinite(loss) && double.IsFinite(dScale) && double.IsFinite(dBias)
            && Guard.IndexOfNonFinite(gradImage.Data) < 0 && Guard.IndexOfNonFinite(gradText.Data) < 0
            && (gradProjection is null || Guard.IndexOfNonFinite(gradProjection.Data) < 0))
        {
            return;
        }

        // Name the input with the largest row: the likely cause.
        (string option, string path, int row, double norm) = (string.Empty, string.Empty, 0, -1.0);
        foreach ((string o, string p, Matrix m) in inputs)
        {
            (int r, double n) = LargestRow(m);
            if (n > norm)
            {
                (option, path, row, norm) = (o, p, r, n);
            }
        }

        if (norm > LargeNorm)
        {
            throw new CliException($"{path}: row {row} has L2 norm {Format(norm)} ({option}) and the result overflowed float32; normalise the rows (--normalize) or fix the file");
        }

        throw new CliException("the result overflowed float32 with embeddings of moderate size; lower --scale (or --teacher-scale)");
    }
}

/// <summary>The options of one <c>aced loss</c> invocation.</summary>
public sealed class LossRequest
{
    public required string Kind { get; init; }

    public required string Image { get; init; }

    public required string Text { get; init; }

    public float? Scale { get; init; }

    public float? Bias { get; init; }

    public string? TeacherImage { get; init; }

    public string? TeacherText { get; init; }

    public float? TeacherScale { get; init; }

    public float? TeacherBias { get; init; }

    public string? Projection { get; init; }

    public bool Normalize { get; init; }

    public bool PerExample { get; init; }

    public string? GradDir { get; init; }
}
