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
        public string? Out { get; init; }
        public bool Demo { get; init; }
        public int DemoSize { get; init; } = SelectDemo.DefaultSize;
    }

    public static Command Create(TextWriter? stdout = null, TextWriter? stderr = null)
    {
        var studentImage = new Option<string?>("--student-image") { Description = "Student image embeddings, B x d float32 .npy (rows L2-normalised; used as given)." };
        var studentText = new Option<string?>("--student-text") { Description = "Student text embeddings, B x d float32 .npy." };
        var referenceImage = new Option<string?>("--reference-image") { Description = "Reference image embeddings, B x d' float32 .npy (needed by learnability and easy-ref)." };
        var referenceText = new Option<string?>("--reference-text") { Description = "Reference text embeddings, B x d' float32 .npy." };
        var batchSize = new Option<int?>("--batch-size") { Description = "Sub-batch size b (or give --filter-ratio)." };
        var filterRatio = new Option<double?>("--filter-ratio") { Description = "Filtering ratio f = 1 - b/B in (0, 1); default 0.8 when --batch-size is absent." };
        var chunks = new Option<int>("--chunks") { Description = "Chunks n of the joint sampler.", DefaultValueFactory = _ => ActiveBatchSamplerOptions.DefaultChunks };
        var scoring = new Option<string>("--scoring") { Description = "learnability | easy-ref | hard | easy.", DefaultValueFactory = _ => "learnability" };
        var loss = new Option<string>("--loss") { Description = "sigmoid | softmax | pair (ActiveCLIP pair similarity).", DefaultValueFactory = _ => "sigmoid" };
        var temperature = new Option<double>("--temperature") { Description = "Temperature tau: draws proportional to exp(tau * score).", DefaultValueFactory = _ => ActiveBatchSamplerOptions.DefaultTemperature };
        var mode = new Option<string>("--mode") { Description = "sample | greedy.", DefaultValueFactory = _ => "sample" };
        var sampler = new Option<string>("--sampler") { Description = "joint | independent | topk | uniform.", DefaultValueFactory = _ => "joint" };
        var normalization = new Option<string>("--normalization") { Description = "sum (raw JEST sum) | mean (per-term mean).", DefaultValueFactory = _ => "sum" };
        var seed = new Option<ulong>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 0UL };
        var studentScale = new Option<float?>("--student-scale") { Description = "Student logit scale a (default 10 for sigmoid, 1/0.07 for softmax)." };
        var studentBias = new Option<float?>("--student-bias") { Description = "Student logit bias c (default -10 for sigmoid, 0 for softmax)." };
        var referenceScale = new Option<float?>("--reference-scale") { Description = "Reference logit scale a." };
        var referenceBias = new Option<float?>("--reference-bias") { Description = "Reference logit bias c." };
        var output = new Option<string?>("--out") { Description = "Output .npy of int64 indices in selection order." };
        var demo = new Option<bool>("--demo") { Description = "Generate a super-batch with 20% mismatched captions, select, and compare with IID." };
        var demoSize = new Option<int>("--demo-size") { Description = "Super-batch size B of the demo.", DefaultValueFactory = _ => SelectDemo.DefaultSize };
        var command = new Command("select", "Select a sub-batch from cached student/reference embeddings (ACID/JEST joint sampling) and write its indices.")
        {
            studentImage, studentText, referenceImage, referenceText, batchSize, filterRatio, chunks, scoring, loss, temperature, mode, sampler,
            normalization, seed, studentScale, studentBias, referenceScale, referenceBias, output, demo, demoSize,
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
                    Out = parse.GetValue(output),
                    Demo = parse.GetValue(demo),
                    DemoSize = parse.GetValue(demoSize),
                },
                stdout ?? Console.Out),
            stderr));
        return command;
    }

    /// <summary>Runs a selection (or the demo) and writes the summary to <paramref name="stdout"/>. Throws <see cref="CliException"/> for user errors.</summary>
    public static int Execute(Arguments args, TextWriter stdout)
    {
        ArgumentNullException.ThrowIfNull(args);
        ActiveBatchSamplerOptions options = BuildOptions(args);
        if (args.Demo)
        {
            return SelectDemo.Run(args, options, stdout);
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

        bool softmax = options.Loss == ContrastiveKind.Softmax;
        Matrix si = ReadEmbeddings(args.StudentImage, "--student-image");
        Matrix st = ReadEmbeddings(args.StudentText, "--student-text");
        if (si.Rows != st.Rows || si.Columns != st.Columns)
        {
            throw new CliException($"--student-text is {st.Rows}x{st.Columns} but --student-image is {si.Rows}x{si.Columns}; they must have the same shape");
        }

        var student = new ModelEmbeddings(si, st, new LogitParameters(CheckScale(args.StudentScale ?? DefaultScale(softmax), "--student-scale"), CheckBias(args.StudentBias ?? DefaultBias(softmax), "--student-bias")));
        ModelEmbeddings reference = default;
        if (args.ReferenceImage is not null)
        {
            Matrix ri = ReadEmbeddings(args.ReferenceImage, "--reference-image");
            Matrix rt = ReadEmbeddings(args.ReferenceText!, "--reference-text");
            if (ri.Rows != rt.Rows || ri.Columns != rt.Columns)
            {
                throw new CliException($"--reference-text is {rt.Rows}x{rt.Columns} but --reference-image is {ri.Rows}x{ri.Columns}; they must have the same shape");
            }

            if (ri.Rows != si.Rows)
            {
                throw new CliException($"the reference embeddings have {ri.Rows} rows but the student's have {si.Rows}; both must embed the same super-batch in the same order");
            }

            reference = new ModelEmbeddings(ri, rt, new LogitParameters(CheckScale(args.ReferenceScale ?? DefaultScale(softmax), "--reference-scale"), CheckBias(args.ReferenceBias ?? DefaultBias(softmax), "--reference-bias")));
        }
        else if (options.Sampler != SamplerKind.Uniform && options.Scoring is ScoringMethod.Learnability or ScoringMethod.EasyReference)
        {
            throw new CliException($"--scoring {args.Scoring} needs --reference-image and --reference-text (or use --scoring hard|easy)");
        }

        var batch = new SuperBatch(student, reference);
        var sampler = new ActiveBatchSampler(options);
        SelectionResult result = SampleOrExplain(sampler, batch);
        long[] indices = new long[result.Count];
        for (int i = 0; i < indices.Length; i++)
        {
            indices[i] = result.Indices[i];
        }

        Npy.Write(args.Out, indices);
        stdout.WriteLine(Summary(args, options, result, args.Out));
        return 0;
    }

    /// <summary>The sub-batch size for B examples, with errors naming command-line options.</summary>
    internal static int ResolveBatchSize(ActiveBatchSamplerOptions options, int count)
    {
        try
        {
            return options.ResolveBatchSize(count);
        }
        catch (ArgumentOutOfRangeException ex)
        {
            throw new CliException($"{OptionName(ex.ParamName)} {Describe(ex)}");
        }
    }

    /// <summary>Runs the sampler at step 0 and turns its argument errors into messages that name command-line options.</summary>
    internal static SelectionResult SampleOrExplain(ActiveBatchSampler sampler, SuperBatch batch)
    {
        try
        {
            return sampler.Sample(batch, 0);
        }
        catch (ArgumentOutOfRangeException ex)
        {
            throw new CliException($"{OptionName(ex.ParamName)} {Describe(ex)}");
        }
        catch (ArgumentException ex) when (ex.ParamName is "superBatch" && ex is not ArgumentOutOfRangeException)
        {
            string message = ex.Message.Split('\n')[0];
            int paren = message.LastIndexOf(" (Parameter", StringComparison.Ordinal);
            message = paren > 0 ? message[..paren] : message;
            throw new CliException($"--student-scale/--student-bias/--reference-scale/--reference-bias: {message["superBatch: ".Length..]}");
        }
        catch (ArgumentException ex) when (ex.ParamName is "superBatch.Student" or "superBatch.Reference")
        {
            string which = ex.ParamName == "superBatch.Student" ? "--student-image/--student-text" : "--reference-image/--reference-text";
            string message = ex.Message.Split('\n')[0];
            int paren = message.LastIndexOf(" (Parameter", StringComparison.Ordinal);
            message = paren > 0 ? message[..paren] : message;
            throw new CliException($"{which}: {message[(ex.ParamName.Length + 2)..]}");
        }
    }

    internal static ActiveBatchSamplerOptions BuildOptions(Arguments args)
    {
        if (args.BatchSize is not null && args.FilterRatio is not null)
        {
            throw new CliException("give --batch-size or --filter-ratio, not both (b = B * (1 - f))");
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
                _ => throw new CliException($"--scoring must be learnability, easy-ref, hard or easy (was '{args.Scoring}')"),
            },
            Loss = args.Loss switch
            {
                "sigmoid" or "pair" => ContrastiveKind.Sigmoid,
                "softmax" => ContrastiveKind.Softmax,
                _ => throw new CliException($"--loss must be sigmoid, softmax or pair (was '{args.Loss}')"),
            },
            PairSimilarityProxy = args.Loss == "pair",
            Greedy = args.Mode switch
            {
                "sample" => false,
                "greedy" => true,
                _ => throw new CliException($"--mode must be sample or greedy (was '{args.Mode}')"),
            },
            Sampler = args.Sampler switch
            {
                "joint" => SamplerKind.Joint,
                "independent" => SamplerKind.Independent,
                "topk" => SamplerKind.TopK,
                "uniform" => SamplerKind.Uniform,
                _ => throw new CliException($"--sampler must be joint, independent, topk or uniform (was '{args.Sampler}')"),
            },
            Normalization = args.Normalization switch
            {
                "sum" => ScoreNormalization.Sum,
                "mean" => ScoreNormalization.PerTermMean,
                _ => throw new CliException($"--normalization must be sum or mean (was '{args.Normalization}')"),
            },
            Seed = args.Seed,
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentOutOfRangeException ex)
        {
            throw new CliException($"{OptionName(ex.ParamName)} {Describe(ex)}");
        }

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
        return JsonSerializer.Serialize(summary);
    }

    internal static double? Finite(double value) => double.IsFinite(value) ? value : null;

    private static Matrix ReadEmbeddings(string path, string option)
    {
        Matrix m = Npy.ReadMatrix(path);
        if (m.Rows == 0 || m.Columns == 0)
        {
            throw new CliException($"{path}: is empty ({m.Rows}x{m.Columns}); {option} needs at least one row (example) and one column");
        }

        return m;
    }

    private static float CheckScale(float scale, string option)
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

    private static float DefaultScale(bool softmax) => LogitParameters.Initial(softmax ? ContrastiveKind.Softmax : ContrastiveKind.Sigmoid).Scale;

    private static float DefaultBias(bool softmax) => LogitParameters.Initial(softmax ? ContrastiveKind.Softmax : ContrastiveKind.Sigmoid).Bias;

    private static string OptionName(string? parameter) => parameter switch
    {
        nameof(ActiveBatchSamplerOptions.BatchSize) => "--batch-size",
        nameof(ActiveBatchSamplerOptions.FilterRatio) => "--filter-ratio",
        nameof(ActiveBatchSamplerOptions.Chunks) => "--chunks",
        nameof(ActiveBatchSamplerOptions.Temperature) => "--temperature",
        _ => "--" + (parameter ?? "option").ToLower(CultureInfo.InvariantCulture),
    };

    private static string Describe(ArgumentOutOfRangeException ex)
    {
        // "Name must ... (was v)." -> "must ... (was v)"
        string message = ex.Message.Split('\n')[0];
        int space = message.IndexOf(' ', StringComparison.Ordinal);
        string text = space > 0 ? message[(space + 1)..] : message;
        int paren = text.LastIndexOf(" (Parameter", StringComparison.Ordinal);
        text = (paren > 0 ? text[..paren] : text).TrimEnd('.');
        return text.Replace("BatchSize", "--batch-size", StringComparison.Ordinal).Replace("FilterRatio", "--filter-ratio", StringComparison.Ordinal);
    }
}
