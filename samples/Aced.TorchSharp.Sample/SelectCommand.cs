using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Text.Json;
using Aced.Core;
using Aced.Selection;
using Aced.TorchSharp.Selection;
using TorchSharp;
using static TorchSharp.torch;

namespace Aced.TorchSharp.Sample;

/// <summary>
/// <c>aced-torch select</c>: the flags of <c>aced select</c> (without <c>--demo</c>) plus <c>--device cpu|cuda</c>.
/// Reads float32 .npy embeddings, runs <see cref="TorchActiveBatchSampler"/> at step 0 on the device, writes the
/// chosen indices (int64 .npy, selection order, atomic) and prints one JSON summary line. With the same inputs and
/// flags it selects the same indices as <c>aced select</c>.
/// </summary>
public static class SelectCommand
{
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
        public string Device { get; init; } = "cpu";
        public double NormTolerance { get; init; } = ActiveBatchSamplerOptions.DefaultNormTolerance;
        public double PercentilePower { get; init; } = ActiveBatchSamplerOptions.DefaultPercentilePower;
        public bool Normalize { get; init; }
    }

    public static Command Create(TextWriter? stdout = null, TextWriter? stderr = null)
    {
        var studentImage = new Option<string?>("--student-image") { Description = "Student image embeddings, B x d float32 .npy." };
        var studentText = new Option<string?>("--student-text") { Description = "Student text embeddings, B x d float32 .npy." };
        var referenceImage = new Option<string?>("--reference-image") { Description = "Reference image embeddings, B x d' float32 .npy." };
        var referenceText = new Option<string?>("--reference-text") { Description = "Reference text embeddings, B x d' float32 .npy." };
        var batchSize = new Option<int?>("--batch-size") { Description = "Sub-batch size b (or give --filter-ratio)." };
        var filterRatio = new Option<double?>("--filter-ratio") { Description = "Filtering ratio f = 1 - b/B in (0, 1); default 0.8." };
        var chunks = new Option<int>("--chunks") { Description = "Chunks n of the joint sampler.", DefaultValueFactory = _ => ActiveBatchSamplerOptions.DefaultChunks };
        var scoring = new Option<string>("--scoring") { Description = "learnability | easy-ref | hard | easy.", DefaultValueFactory = _ => "learnability" };
        var loss = new Option<string>("--loss") { Description = "sigmoid | softmax | pair.", DefaultValueFactory = _ => "sigmoid" };
        var temperature = new Option<double>("--temperature") { Description = "Temperature tau.", DefaultValueFactory = _ => ActiveBatchSamplerOptions.DefaultTemperature };
        var mode = new Option<string>("--mode") { Description = "sample | greedy.", DefaultValueFactory = _ => "sample" };
        var sampler = new Option<string>("--sampler") { Description = "joint | independent | topk | uniform | loss-percentile.", DefaultValueFactory = _ => "joint" };
        var normalization = new Option<string>("--normalization") { Description = "sum | mean.", DefaultValueFactory = _ => "sum" };
        var seed = new Option<ulong>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 0UL };
        var studentScale = new Option<float?>("--student-scale") { Description = "Student logit scale a." };
        var studentBias = new Option<float?>("--student-bias") { Description = "Student logit bias c." };
        var referenceScale = new Option<float?>("--reference-scale") { Description = "Reference logit scale a." };
        var referenceBias = new Option<float?>("--reference-bias") { Description = "Reference logit bias c." };
        var output = new Option<string?>("--out") { Description = "Output .npy of int64 indices in selection order." };
        var device = new Option<string>("--device") { Description = "cpu | cuda (or cuda:N).", DefaultValueFactory = _ => "cpu" };
        var percentilePower = new Option<double>("--percentile-power") { Description = "Selective-Backprop's beta for --sampler loss-percentile.", DefaultValueFactory = _ => ActiveBatchSamplerOptions.DefaultPercentilePower };
        var normalize = new Option<bool>("--normalize") { Description = "L2-normalise every embedding row before selection (without it, every row's norm must be 1 within --norm-tolerance)." };
        var normTolerance = new Option<double>("--norm-tolerance") { Description = "How far from 1 an embedding row's L2 norm may be without --normalize (Infinity: no check).", DefaultValueFactory = _ => ActiveBatchSamplerOptions.DefaultNormTolerance };
        var command = new Command("select", "Select a sub-batch from cached embeddings on a torch device and write its indices.")
        {
            studentImage, studentText, referenceImage, referenceText, batchSize, filterRatio, chunks, scoring, loss, temperature, mode, sampler,
            normalization, percentilePower, seed, studentScale, studentBias, referenceScale, referenceBias, normalize, normTolerance, output, device,
        };
        command.SetAction(parse => Program.Run(
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
                    Device = parse.GetValue(device)!,
                    PercentilePower = parse.GetValue(percentilePower),
                    Normalize = parse.GetValue(normalize),
                    NormTolerance = parse.GetValue(normTolerance),
                },
                stdout ?? Console.Out),
            stderr));
        return command;
    }

    public static int Execute(Arguments args, TextWriter stdout)
    {
        ArgumentNullException.ThrowIfNull(args);
        ActiveBatchSamplerOptions options = BuildOptions(args);
        if (args.StudentImage is null || args.StudentText is null)
        {
            throw new UsageException("--student-image and --student-text are required");
        }

        if (args.Out is null)
        {
            throw new UsageException("--out is required: the .npy file that receives the chosen indices");
        }

        if ((args.ReferenceImage is null) != (args.ReferenceText is null))
        {
            throw new UsageException("give both --reference-image and --reference-text, or neither");
        }

        EnsureNotAnInput(args.Out, ("--student-image", args.StudentImage), ("--student-text", args.StudentText), ("--reference-image", args.ReferenceImage), ("--reference-text", args.ReferenceText));
        Device device = ParseDevice(args.Device);
        bool softmax = options.Loss == ContrastiveKind.Softmax;
        LogitParameters initial = LogitParameters.Initial(softmax ? ContrastiveKind.Softmax : ContrastiveKind.Sigmoid);
        using var scope = torch.NewDisposeScope();
        TorchModelEmbeddings student = Read(args.StudentImage, "--student-image", args.StudentText, "--student-text", Logits(args.StudentScale ?? initial.Scale, "--student-scale", args.StudentBias ?? initial.Bias, "--student-bias"), device, args.Normalize);
        TorchModelEmbeddings? reference = null;
        if (args.ReferenceImage is not null)
        {
            reference = Read(args.ReferenceImage, "--reference-image", args.ReferenceText!, "--reference-text", Logits(args.ReferenceScale ?? initial.Scale, "--reference-scale", args.ReferenceBias ?? initial.Bias, "--reference-bias"), device, args.Normalize);
            if (reference.Count != student.Count)
            {
                throw new UsageException($"the reference embeddings have {reference.Count} rows but the student's have {student.Count}; both must embed the same super-batch in the same order");
            }
        }
        else if (options.Sampler != SamplerKind.Uniform && options.Scoring is ScoringMethod.Learnability or ScoringMethod.EasyReference)
        {
            throw new UsageException($"--scoring {args.Scoring} needs --reference-image and --reference-text (or use --scoring hard|easy)");
        }

        int b = options.BatchSize ?? Math.Max(1, (int)Math.Round(student.Count * (1 - options.FilterRatio)));
        if (b > student.Count)
        {
            throw new UsageException($"--batch-size {b} exceeds the super-batch size B = {student.Count} (the rows of the embeddings); give a smaller --batch-size or a larger super-batch");
        }

        if (options.Sampler == SamplerKind.Joint && options.Chunks > b)
        {
            throw new UsageException($"--chunks {options.Chunks} exceeds the sub-batch size b = {b}; use at most b chunks");
        }

        var sampler = new TorchActiveBatchSampler(options);
        var watch = Stopwatch.StartNew();
        using TorchSelectionResult result = sampler.Sample(new TorchSuperBatch(student, reference), 0);
        long[] indices = result.ToArray();
        double seconds = watch.Elapsed.TotalSeconds;
        Npy.Write(args.Out, indices);
        var summary = new
        {
            command = "select",
            device = device.ToString(),
            superBatchSize = student.Count,
            batchSize = indices.Length,
            rejected = student.Count - indices.Length,
            chunks = options.Sampler == SamplerKind.Joint ? options.Chunks : 1,
            scoring = args.Scoring,
            loss = args.Loss,
            sampler = args.Sampler,
            mode = args.Mode,
            temperature = options.Temperature,
            seed = options.Seed,
            seconds,
            output = args.Out,
        };
        stdout.WriteLine(JsonSerializer.Serialize(summary));
        return 0;
    }

    internal static ActiveBatchSamplerOptions BuildOptions(Arguments args)
    {
        if (args.BatchSize is not null && args.FilterRatio is not null)
        {
            throw new UsageException("give --batch-size or --filter-ratio, not both (b = B * (1 - f))");
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
                _ => throw new UsageException($"--scoring must be learnability, easy-ref, hard or easy (was '{args.Scoring}')"),
            },
            Loss = args.Loss switch
            {
                "sigmoid" or "pair" => ContrastiveKind.Sigmoid,
                "softmax" => ContrastiveKind.Softmax,
                _ => throw new UsageException($"--loss must be sigmoid, softmax or pair (was '{args.Loss}')"),
            },
            PairSimilarityProxy = args.Loss == "pair",
            Greedy = args.Mode switch
            {
                "sample" => false,
                "greedy" => true,
                _ => throw new UsageException($"--mode must be sample or greedy (was '{args.Mode}')"),
            },
            Sampler = args.Sampler switch
            {
                "joint" => SamplerKind.Joint,
                "independent" => SamplerKind.Independent,
                "topk" => SamplerKind.TopK,
                "uniform" => SamplerKind.Uniform,
                "loss-percentile" => SamplerKind.LossPercentile,
                _ => throw new UsageException($"--sampler must be joint, independent, topk, uniform or loss-percentile (was '{args.Sampler}')"),
            },
            Normalization = args.Normalization switch
            {
                "sum" => ScoreNormalization.Sum,
                "mean" => ScoreNormalization.PerTermMean,
                _ => throw new UsageException($"--normalization must be sum or mean (was '{args.Normalization}')"),
            },
            Seed = args.Seed,
            PercentilePower = args.PercentilePower,
            NormTolerance = args.NormTolerance,
        };
        try
        {
            // The sampler validates the options when it is built (the same rules as ActiveBatchSampler).
            _ = new TorchActiveBatchSampler(options);
        }
        catch (ArgumentOutOfRangeException ex)
        {
            string option = ex.ParamName switch
            {
                nameof(ActiveBatchSamplerOptions.NormTolerance) => "--norm-tolerance",
                nameof(ActiveBatchSamplerOptions.PercentilePower) => "--percentile-power",
                nameof(ActiveBatchSamplerOptions.BatchSize) => "--batch-size",
                nameof(ActiveBatchSamplerOptions.FilterRatio) => "--filter-ratio",
                _ => "--" + ex.ParamName?.ToLowerInvariant(),
            };
            throw new UsageException($"{option}: {ex.Message.Split('\n')[0]}");
        }

        return options;
    }

    /// <summary>
    /// Refuses an output that is one of the inputs — the same path, a symbolic link or a hard link to it (the indices
    /// would replace the embeddings) — with the check <c>aced</c> uses (<see cref="Aced.Cli.OutputGuard"/>, shared source).
    /// </summary>
    internal static void EnsureNotAnInput(string output, params (string Option, string? Path)[] inputs)
    {
        var list = new List<Aced.Cli.OutputGuard.Input>(inputs.Length);
        foreach ((string option, string? path) in inputs)
        {
            list.Add(new Aced.Cli.OutputGuard.Input(option, path));
        }

        if (Aced.Cli.OutputGuard.FindConflict("--out", output, list) is string message)
        {
            throw new UsageException(message);
        }
    }

    internal static Device ParseDevice(string name)
    {
        if (name == "cpu")
        {
            return torch.CPU;
        }

        if (name == "cuda" || name.StartsWith("cuda:", StringComparison.Ordinal))
        {
            if (!torch.cuda.is_available())
            {
                throw new UsageException($"--device {name}: CUDA is not available (reference the libtorch-cuda runtime package and run on a machine with an NVIDIA GPU), or use --device cpu");
            }

            return torch.device(name);
        }

        throw new UsageException($"--device must be cpu, cuda or cuda:N (was '{name}')");
    }

    private static LogitParameters Logits(float scale, string scaleOption, float bias, string biasOption)
    {
        if (!float.IsFinite(scale) || scale <= 0f)
        {
            throw new UsageException($"{scaleOption} must be a finite number greater than 0 (it is a = exp(t), not t; was {scale.ToString(CultureInfo.InvariantCulture)})");
        }

        if (!float.IsFinite(bias))
        {
            throw new UsageException($"{biasOption} must be a finite number (was {bias.ToString(CultureInfo.InvariantCulture)})");
        }

        return new LogitParameters(scale, bias);
    }

    private static TorchModelEmbeddings Read(string imagePath, string imageOption, string textPath, string textOption, LogitParameters logits, Device device, bool normalize)
    {
        Tensor image = ReadMatrix(imagePath, imageOption, device);
        Tensor text = ReadMatrix(textPath, textOption, device);
        if (normalize)
        {
            image = torch.nn.functional.normalize(image, dim: 1);
            text = torch.nn.functional.normalize(text, dim: 1);
        }

        if (image.shape[0] != text.shape[0] || image.shape[1] != text.shape[1])
        {
            throw new UsageException($"{textOption} is {text.shape[0]}x{text.shape[1]} but {imageOption} is {image.shape[0]}x{image.shape[1]}; they must have the same shape");
        }

        return new TorchModelEmbeddings(image, text, logits);
    }

    private static Tensor ReadMatrix(string path, string option, Device device)
    {
        Matrix m = Npy.ReadMatrix(path);
        if (m.Rows == 0 || m.Columns == 0)
        {
            throw new UsageException($"{path}: is empty ({m.Rows}x{m.Columns}); {option} needs at least one row (example) and one column");
        }

        using Tensor host = torch.tensor(m.Data, new long[] { m.Rows, m.Columns });
        return host.to(device);
    }
}
