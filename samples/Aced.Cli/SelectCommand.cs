using System;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Text.Json;
using Aced.Core;
using Aced.Selection;

namespace Aced.Cli;

/// <summary>
/// <c>aced select</c>: curate a sub-batch from cached student/reference embeddings (.npy, written by any stack)
/// with the <see cref="ActiveBatchSampler"/>, write the chosen indices (int64, selection order, atomic write)
/// and print one JSON summary line. <c>aced select --demo</c> runs a self-contained demonstration.
/// </summary>
public static class SelectCommand
{
    /// <summary>Arguments of one selection (parsed from the command line, or built by tests).</summary>
    public sealed record Arguments
    {
        public string? StudentImage { get; init; }
        public string? StudentText { get; init; }
        public string? ReferenceImage { get; init; }
        public string? ReferenceText { get; init; }
        public int? BatchSize { get; init; }
        public double? FilterRatio { get; init; }
        public int Chunks { get; init; } = ActiveBatchSamplerOptions.DefaultChunks;
        public string Scoring { get; init; } = "learnability";
        public string Loss { get; init; } = "sigmoid";
        public double Temperature { get; init; } = ActiveBatchSamplerOptions.DefaultTemperature;
        public string Mode { get; init; } = "sample";
        public string Sampler { get; init; } = "joint";
        public string Normalization { get; init; } = "sum";
        public ulong Seed { get; init; }
        public float? StudentScale { get; init; }
        public float? StudentBias { get; init; }
        public float? ReferenceScale { get; init; }
        public float? ReferenceBias { get; init; }
        public bool Normalize { get; init; }
        public double NormTolerance { get; init; } = ActiveBatchSamplerOptions.DefaultNormTolerance;
        public double PercentilePower { get; init; } = ActiveBatchSamplerOptions.DefaultPercentilePower;
        public string? Out { get; init; }
        public bool Demo { get; init; }
        public int DemoSize { get; init; } = SelectDemo.DefaultSize;
        public bool Distributed { get; init; }
    }

    /// <summary>The <c>--scoring</c> values.</summary>
    public static readonly string[] ScoringValues = ["learnability", "easy-ref", "hard", "easy"];

    /// <summary>The <c>--loss</c> values.</summary>
    public static readonly string[] LossValues = ["sigmoid", "softmax", "pair"];

    /// <summary>The <c>--mode</c> values.</summary>
    public static readonly string[] ModeValues = ["sample", "greedy"];

    /// <summary>The <c>--sampler</c> values.</summary>
    public static readonly string[] SamplerValues = ["joint", "independent", "topk", "uniform", "loss-percentile"];

    /// <summary>The <c>--normalization</c> values.</summary>
    public static readonly string[] NormalizationValues = ["sum", "mean"];

    public static Command Create(TextWriter? stdout = null, TextWriter? stderr = null)
    {
        var studentImage = new Option<string?>("--student-image") { HelpName = "file.npy", Description = "Student image embeddings, B x d float32 .npy; rows L2-normalised (or pass --normalize)." };
        var studentText = new Option<string?>("--student-text") { HelpName = "file.npy", Description = "Student text embeddings, B x d float32 .npy." };
        var referenceImage = new Option<string?>("--reference-image") { HelpName = "file.npy", Description = "Reference image embeddings, B x d' float32 .npy (needed by learnability and easy-ref)." };
        var referenceText = new Option<string?>("--reference-text") { HelpName = "file.npy", Description = "Reference text embeddings, B x d' float32 .npy." };
        var batchSize = CliOptions.OptionalNumber<int>("--batch-size", "Sub-batch size b (or give --filter-ratio).");
        var filterRatio = CliOptions.OptionalNumber<double>("--filter-ratio", "Filtering ratio f = 1 - b/B in (0, 1); default 0.8 when --batch-size is absent.");
        var chunks = CliOptions.Number("--chunks", "Chunks n of the joint sampler.", ActiveBatchSamplerOptions.DefaultChunks);
        var scoring = CliOptions.Choice("--scoring", "Score: learnability = student loss - reference loss (ACID/JEST); easy-ref = - reference loss; hard = student loss; easy = - student loss.", "learnability", ScoringValues);
        var loss = CliOptions.Choice("--loss", "Loss the scores are computed with (pair = ActiveCLIP pair similarity).", "sigmoid", LossValues);
        var temperature = CliOptions.Number("--temperature", "Temperature tau: draws proportional to exp(tau * score).", ActiveBatchSamplerOptions.DefaultTemperature);
        var mode = CliOptions.Choice("--mode", "Draw each chunk by sampling or take its top scores.", "sample", ModeValues);
        var sampler = CliOptions.Choice("--sampler", "Sampler: joint (JEST/ACID chunks), independent, topk (deterministic), uniform (IID) or loss-percentile (Selective-Backprop: accept with probability percentile^beta).", "joint", SamplerValues);
        var percentilePower = CliOptions.Number("--percentile-power", "Selective-Backprop's beta for --sampler loss-percentile.", ActiveBatchSamplerOptions.DefaultPercentilePower);
        var normalization = CliOptions.Choice("--normalization", "Joint score: sum (raw JEST sum) or mean (per-term mean).", "sum", NormalizationValues);
        var seed = CliOptions.Number("--seed", "Random seed.", 0UL);
        var studentScale = CliOptions.OptionalNumber<float>("--student-scale", "Student logit scale a = exp(t). Default: 10 for sigmoid and pair, 1/0.07 for softmax.");
        var studentBias = CliOptions.OptionalNumber<float>("--student-bias", "Student logit bias c. Default: -10 for sigmoid and pair; softmax has no bias (a given one is ignored with a warning).");
        var referenceScale = CliOptions.OptionalNumber<float>("--reference-scale", "Reference logit scale a = exp(t). Default: 10 for sigmoid and pair, 1/0.07 for softmax.");
        var referenceBias = CliOptions.OptionalNumber<float>("--reference-bias", "Reference logit bias c. Default: -10 for sigmoid and pair; softmax has no bias (a given one is ignored with a warning).");
        var normalize = new Option<bool>("--normalize") { Description = "L2-normalise every embedding row before selection (without it, every row's norm must be 1 within --norm-tolerance)." };
        var normTolerance = CliOptions.Number("--norm-tolerance", "How far from 1 an embedding row's L2 norm may be without --normalize (Infinity: no check).", ActiveBatchSamplerOptions.DefaultNormTolerance);
        var output = new Option<string?>("--out") { HelpName = "file.npy", Description = "Output .npy of int64 indices in selection order (must not be one of the inputs)." };
        var demo = new Option<bool>("--demo") { Description = "Generate a super-batch with 20% mismatched captions, select, and compare with IID (table on stderr, JSON on stdout)." };
        var demoSize = CliOptions.Number("--demo-size", "Super-batch size B of the demo.", SelectDemo.DefaultSize);
        var distributed = new Option<bool>("--distributed") { Description = "Run under mpiexec (MPICH): each rank reads its rows and the ranks select together; rank 0 writes --out." };
        var command = new Command("select", "Select a sub-batch from cached student/reference embeddings (ACID/JEST joint sampling) and write its indices; prints one JSON summary line.")
        {
            studentImage, studentText, referenceImage, referenceText, batchSize, filterRatio, chunks, scoring, loss, temperature, mode, sampler,
            normalization, percentilePower, seed, studentScale, studentBias, referenceScale, referenceBias, normalize, normTolerance, output, demo, demoSize, distributed,
        };
        command.SetAction(parse => CommandRunner.Run(
            () => Execute(
                new Arguments
                {
                    StudentImage = parse.GetValue(studentImage),
                    StudentText = parse.GetValue(studentText),
                    ReferenceImage = parse.GetValue(referenceImage),
                    ReferenceText = parse.GetValue(referenceText),
                    BatchSize = parse.GetValue(batchSize),
                    FilterRatio = parse.GetValue(filterRatio),
                    Chunks = parse.GetValue(chunks),
                    Scoring = parse.GetValue(scoring)!,
                    Loss = parse.GetValue(loss)!,
                    Temperature = parse.GetValue(temperature),
                    Mode = parse.GetValue(mode)!,
                    Sampler = parse.GetValue(sampler)!,
                    Normalization = parse.GetValue(normalization)!,
                    Seed = parse.GetValue(seed),
                    StudentScale = parse.GetValue(studentScale),
                    StudentBias = parse.GetValue(studentBias),
                    ReferenceScale = parse.GetValue(referenceScale),
                    ReferenceBias = parse.GetValue(referenceBias),
                    Normalize = parse.GetValue(normalize),
                    NormTolerance = parse.GetValue(normTolerance),
                    PercentilePower = parse.GetValue(percentilePower),
                    Out = parse.GetValue(output),
                    Demo = parse.GetValue(demo),
                    DemoSize = parse.GetValue(demoSize),
                    Distributed = parse.GetValue(distributed),
                },
                stdout ?? parse.InvocationConfiguration.Output,
                stderr ?? parse.InvocationConfiguration.Error),
            stderr ?? parse.InvocationConfiguration.Error));
        return command;
    }

    /// <summary>
    /// Runs a selection (or the demo), writes the indices and the JSON summary to <paramref name="stdout"/>; warnings
    /// go to <paramref name="stderr"/>. Throws <see cref="CliException"/> for user errors, before anything is written.
    /// </summary>
    public static int Execute(Arguments args, TextWriter stdout, TextWriter? stderr = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        stderr ??= TextWriter.Null;
        ActiveBatchSamplerOptions options = BuildOptions(args);
        if (args.Distributed)
        {
            return DistributedSelect.Run(args, options, stdout, stderr);
        }

        if (args.Demo)
        {
            return SelectDemo.Run(args, options, stdout, stderr);
        }

        if (args.StudentImage is null || args.StudentText is null)
        {
            throw new CliException("--student-image and --student-text are required (or run the self-contained --demo)");
        }

        if (args.Out is null)
        {
            throw new CliException("--out is required: the .npy file that receives the chosen indices");
        }

        if ((args.ReferenceImage is null) != (args.ReferenceText is null))
        {
            throw new CliException("give both --reference-image and --reference-text, or neither");
        }

        OutputGuard.EnsureNotAnInput("--out", args.Out,
        [
            new("--student-image", args.StudentImage), new("--student-text", args.StudentText),
            new("--reference-image", args.ReferenceImage!), new("--reference-text", args.ReferenceText!),
        ]);

        bool softmax = options.Loss == ContrastiveKind.Softmax;
        Matrix si = ReadEmbeddings(args.StudentImage, "--student-image", args.Normalize, args.NormTolerance);
        Matrix st = ReadEmbeddings(args.StudentText, "--student-text", args.Normalize, args.NormTolerance);
        if (si.Rows != st.Rows || si.Columns != st.Columns)
        {
            throw new CliException($"--student-text is {st.Rows}x{st.Columns} but --student-image is {si.Rows}x{si.Columns}; they must have the same shape");
        }

        int b = ResolveBatchSize(args, options, si.Rows);
        float studentScale = CheckScale(args.StudentScale ?? DefaultScale(softmax), "--student-scale");
        float studentBias = ResolveBias(args.StudentBias, softmax, "--student-bias", stderr);
        var student = new ModelEmbeddings(si, st, new LogitParameters(studentScale, studentBias));
        double studentBound = ScoreBound(studentScale, studentBias, b, si.Rows);
        if (studentBound >= float.MaxValue)
        {
            throw new CliException($"--student-scale {Format(studentScale)} and --student-bias {Format(studentBias)} are too large: the selection scores overflow float32; use a moderate scale a = exp(t) (e.g. a <= 1e4) and bias");
        }

        ModelEmbeddings reference = default;
        double referenceBound = 0;
        if (args.ReferenceImage is not null)
        {
            Matrix ri = ReadEmbeddings(args.ReferenceImage, "--reference-image", args.Normalize, args.NormTolerance);
            Matrix rt = ReadEmbeddings(args.ReferenceText!, "--reference-text", args.Normalize, args.NormTolerance);
            if (ri.Rows != rt.Rows || ri.Columns != rt.Columns)
            {
                throw new CliException($"--reference-text is {rt.Rows}x{rt.Columns} but --reference-image is {ri.Rows}x{ri.Columns}; they must have the same shape");
            }

            if (ri.Rows != si.Rows)
            {
                throw new CliException($"the reference embeddings have {ri.Rows} rows but the student's have {si.Rows}; both must embed the same super-batch in the same order");
            }

            float referenceScale = CheckScale(args.ReferenceScale ?? DefaultScale(softmax), "--reference-scale");
            float referenceBias = ResolveBias(args.ReferenceBias, softmax, "--reference-bias", stderr);
            reference = new ModelEmbeddings(ri, rt, new LogitParameters(referenceScale, referenceBias));
            referenceBound = ScoreBound(referenceScale, referenceBias, b, si.Rows);
            if (referenceBound >= float.MaxValue)
            {
                throw new CliException($"--reference-scale {Format(referenceScale)} and --reference-bias {Format(referenceBias)} are too large: the selection scores overflow float32; use a moderate scale a = exp(t) (e.g. a <= 1e4) and bias");
            }
        }
        else if (options.Sampler != SamplerKind.Uniform && options.Scoring is ScoringMethod.Learnability or ScoringMethod.EasyReference)
        {
            throw new CliException($"--scoring {args.Scoring} needs --reference-image and --reference-text (or use --scoring hard|easy)");
        }

        CheckTemperature(options, studentBound + referenceBound);
        var batch = new SuperBatch(student, reference);
        var sampler = new ActiveBatchSampler(options);
        SelectionResult result = sampler.Sample(batch, 0);
        long[] indices = new long[result.Count];
        for (int i = 0; i < indices.Length; i++)
        {
            indices[i] = result.Indices[i];
        }

        Npy.Write(args.Out, indices);
        stdout.WriteLine(Summary(args, options, result, args.Out));
        return 0;
    }

    /// <summary>
    /// b for a super-batch of <paramref name="count"/> rows (b = --batch-size, or round(B (1 - f)) and at least 1), with
    /// b &lt;= B and, for the joint sampler, --chunks &lt;= b checked here so the errors name the options.
    /// </summary>
    internal static int ResolveBatchSize(Arguments args, ActiveBatchSamplerOptions options, int count)
    {
        int b = options.BatchSize ?? Math.Max(1, (int)Math.Round(count * (1 - options.FilterRatio)));
        if (b > count)
        {
            throw new CliException($"--batch-size {b} exceeds the super-batch size B = {count} (the rows of the embeddings); give a smaller --batch-size or a larger super-batch");
        }

        if (options.Sampler == SamplerKind.Joint && options.Chunks > b)
        {
            string from = args.BatchSize is null ? $" (from --filter-ratio {Format(options.FilterRatio)})" : string.Empty;
            throw new CliException($"--chunks {options.Chunks} exceeds the sub-batch size b = {b}{from}; use at most b chunks");
        }

        return b;
    }

    /// <summary>
    /// An upper bound on |score| of one model for L2-normalised rows (|cos| &lt;= 1): at most 2 + 4b loss terms, each
    /// at most 2 (a + |c|) + ln(B + 1) + 1. Loose, but finite exactly when the scale and bias are sane.
    /// </summary>
    internal static double ScoreBound(float scale, float bias, int b, int count) =>
        (2.0 + (4.0 * b)) * ((2.0 * ((double)scale + Math.Abs((double)bias))) + Math.Log(count + 1.0) + 1.0);

    internal static void CheckTemperature(ActiveBatchSamplerOptions options, double bound)
    {
        if (options.Sampler is SamplerKind.Uniform or SamplerKind.TopK or SamplerKind.LossPercentile)
        {
            return; // tau is not used
        }

        if (options.Temperature * bound >= float.MaxValue)
        {
            throw new CliException(string.Create(CultureInfo.InvariantCulture, $"--temperature {options.Temperature:G6} is too large: tau times the largest possible score ({bound:G3}) overflows float32 logits; use at most {float.MaxValue / bound:G3} (10 is the default)"));
        }
    }

    internal static ActiveBatchSamplerOptions BuildOptions(Arguments args)
    {
        if (args.BatchSize is not null && args.FilterRatio is not null)
        {
            throw new CliException("give --batch-size or --filter-ratio, not both (b = B * (1 - f))");
        }

        if (args.BatchSize is int size && size < 1)
        {
            throw new CliException($"--batch-size must be at least 1 (was {size})");
        }

        if (args.FilterRatio is double f && !(f > 0 && f < 1))
        {
            throw new CliException($"--filter-ratio must lie strictly between 0 and 1 (f = 1 - b/B; 0.8 keeps one in five; was {Format(f)})");
        }

        if (args.Chunks < 1)
        {
            throw new CliException($"--chunks must be at least 1 (1 = independent sampling; was {args.Chunks})");
        }

        if (!double.IsFinite(args.Temperature) || args.Temperature <= 0)
        {
            throw new CliException($"--temperature must be a finite number greater than 0 (10 is the default; larger filters harder; was {Format(args.Temperature)})");
        }

        if (double.IsNaN(args.NormTolerance) || args.NormTolerance <= 0)
        {
            throw new CliException($"--norm-tolerance must be a number greater than 0 (1e-3 is the default; Infinity turns the check off; was {Format(args.NormTolerance)})");
        }

        if (!double.IsFinite(args.PercentilePower) || args.PercentilePower <= 0)
        {
            throw new CliException($"--percentile-power must be a finite number greater than 0 (Selective-Backprop's beta: 1, 2 or 3 in its paper, 3 by default; was {Format(args.PercentilePower)})");
        }

        var options = new ActiveBatchSamplerOptions
        {
            BatchSize = args.BatchSize,
            FilterRatio = args.FilterRatio ?? ActiveBatchSamplerOptions.DefaultFilterRatio,
            Chunks = args.Chunks,
            Temperature = args.Temperature,
            Scoring = args.Scoring switch
            {
                "learnability" => ScoringMethod.Learnability,
                "easy-ref" => ScoringMethod.EasyReference,
                "hard" => ScoringMethod.Hard,
                "easy" => ScoringMethod.Easy,
                _ => throw new CliException($"--scoring must be one of {string.Join(", ", ScoringValues)} (was '{args.Scoring}')"),
            },
            Loss = args.Loss switch
            {
                "sigmoid" or "pair" => ContrastiveKind.Sigmoid,
                "softmax" => ContrastiveKind.Softmax,
                _ => throw new CliException($"--loss must be one of {string.Join(", ", LossValues)} (was '{args.Loss}')"),
            },
            PairSimilarityProxy = args.Loss == "pair",
            Greedy = args.Mode switch
            {
                "sample" => false,
                "greedy" => true,
                _ => throw new CliException($"--mode must be one of {string.Join(", ", ModeValues)} (was '{args.Mode}')"),
            },
            Sampler = args.Sampler switch
            {
                "joint" => SamplerKind.Joint,
                "independent" => SamplerKind.Independent,
                "topk" => SamplerKind.TopK,
                "uniform" => SamplerKind.Uniform,
                "loss-percentile" => SamplerKind.LossPercentile,
                _ => throw new CliException($"--sampler must be one of {string.Join(", ", SamplerValues)} (was '{args.Sampler}')"),
            },
            Normalization = args.Normalization switch
            {
                "sum" => ScoreNormalization.Sum,
                "mean" => ScoreNormalization.PerTermMean,
                _ => throw new CliException($"--normalization must be one of {string.Join(", ", NormalizationValues)} (was '{args.Normalization}')"),
            },
            PercentilePower = args.PercentilePower,
            NormTolerance = args.NormTolerance,
            Seed = args.Seed,
        };
        return options;
    }

    internal static string Summary(Arguments args, ActiveBatchSamplerOptions options, SelectionResult result, string? output)
    {
        SelectionDiagnostics d = result.Diagnostics;
        var summary = new
        {
            command = "select",
            superBatchSize = d.SuperBatchSize,
            batchSize = d.BatchSize,
            rejected = d.SuperBatchSize - d.BatchSize,
            filterRatio = d.FilterRatio,
            chunks = d.Chunks,
            scoring = args.Scoring,
            loss = args.Loss,
            sampler = args.Sampler,
            mode = args.Mode,
            temperature = options.Temperature,
            seed = options.Seed,
            seconds = d.Seconds,
            chosenScoreMean = Finite(d.ChosenMean),
            chosenScoreStd = Finite(d.ChosenStandardDeviation),
            rejectedScoreMean = Finite(d.RejectedMean),
            rejectedScoreStd = Finite(d.RejectedStandardDeviation),
            scoreMin = Finite(d.ScoreMin),
            scoreMax = Finite(d.ScoreMax),
            effectiveSampleSize = d.EffectiveSampleSize,
            output,
        };
        return CliJson.Serialize(summary);
    }

    internal static double? Finite(double value) => double.IsFinite(value) ? value : null;

    /// <summary>
    /// Reads one embedding file and checks every row: finite, and (without <paramref name="normalize"/>) of L2 norm
    /// 1 within <paramref name="tolerance"/> (the sampler's own check, done here so the error names the file and the
    /// option); with it, the rows are normalised in place. Errors name the file, the option and the row.
    /// </summary>
    private static Matrix ReadEmbeddings(string path, string option, bool normalize, double tolerance)
    {
        Matrix m = Npy.ReadMatrix(path);
        if (m.Rows == 0 || m.Columns == 0)
        {
            throw new CliException($"{path}: is empty ({m.Rows}x{m.Columns}); {option} needs at least one row (example) and one column");
        }

        CheckRows(m, path, option, normalize, tolerance, 0);
        return m;
    }

    /// <summary>The row checks of <see cref="ReadEmbeddings"/> on rows read elsewhere (rows numbered from <paramref name="firstRow"/>).</summary>
    internal static void CheckRows(Matrix m, string path, string option, bool normalize, double tolerance, int firstRow)
    {
        int bad = Guard.IndexOfNonFinite(m.Data);
        if (bad >= 0)
        {
            throw new CliException($"{path}: contains a non-finite value ({Format(m.Data[bad])}) at row {firstRow + (bad / m.Columns)}, column {bad % m.Columns} ({option}); repair or drop that example");
        }

        if (normalize)
        {
            StableMath.L2NormalizeRows(m, m, new float[m.Rows]);
            return;
        }

        for (int r = 0; r < m.Rows; r++)
        {
            double sum = 0;
            foreach (float v in m.Row(r))
            {
                sum += (double)v * v;
            }

            double norm = Math.Sqrt(sum);
            if (!(Math.Abs(norm - 1) <= tolerance))
            {
                throw new CliException($"{path}: row {firstRow + r} has L2 norm {Format(norm)}, not 1 within --norm-tolerance {Format(tolerance)} ({option}); the embeddings must be L2-normalised: pass --normalize to normalise every row");
            }
        }
    }

    internal static float ResolveBias(float? bias, bool softmax, string option, TextWriter stderr)
    {
        if (softmax)
        {
            if (bias is float given && given != 0f)
            {
                CommandRunner.Warn(stderr, $"{option} {Format(given)} is ignored with --loss softmax: softmax is shift-invariant and has no bias");
            }

            return 0f;
        }

        return CheckBias(bias ?? DefaultBias(softmax), option);
    }

    internal static string Format(double value) => value.ToString("G6", CultureInfo.InvariantCulture);

    internal static float CheckScale(float scale, string option)
    {
        if (!float.IsFinite(scale) || scale <= 0f)
        {
            throw new CliException($"{option} must be a finite number greater than 0 (it is a = exp(t), not t; was {scale.ToString(CultureInfo.InvariantCulture)})");
        }

        return scale;
    }

    private static float CheckBias(float bias, string option)
    {
        if (!float.IsFinite(bias))
        {
            throw new CliException($"{option} must be a finite number (was {bias.ToString(CultureInfo.InvariantCulture)})");
        }

        return bias;
    }

    internal static float DefaultScale(bool softmax) => LogitParameters.Initial(softmax ? ContrastiveKind.Softmax : ContrastiveKind.Sigmoid).Scale;

    private static float DefaultBias(bool softmax) => LogitParameters.Initial(softmax ? ContrastiveKind.Softmax : ContrastiveKind.Sigmoid).Bias;
}
