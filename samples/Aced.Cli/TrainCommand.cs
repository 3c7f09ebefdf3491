using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Text.Json;
using System.Threading;
using Aced.Core;
using Aced.Losses;
using Aced.Pipeline.Data;
using Aced.Pipeline.Training;
using Spectre.Console;

namespace Aced.Cli;

/// <summary>
/// <c>aced train</c>: trains a reference (<c>--role reference [--holdout]</c>) or a student with one method of the
/// paper's Tables 1 and 6 (<c>--method M [--reference DIR]</c>) into a run directory; <c>--resume</c> continues it
/// bit-identically; Ctrl-C saves a checkpoint and exits. Progress on stderr, the result as JSON on stdout.
/// </summary>
public static class TrainCommand
{
    /// <summary>Exit code after Ctrl-C (128 + SIGINT): a checkpoint was saved, continue with --resume.</summary>
    public const int Interrupted = 130;

    public static Command Create(TextWriter? stdout = null, TextWriter? stderr = null)
    {
        var dataset = new Option<string?>("--dataset") { Description = "Data set: " + DatasetCatalog.SpecHelp + "." };
        var role = new Option<string>("--role") { Description = "student | reference (a reference trains IID on the clean reference split, or on the held-out split with --holdout).", DefaultValueFactory = _ => "student" };
        var method = new Option<string?>("--method") { Description = "Student method: " + string.Join(" | ", TrainingMethods.Names) + "." };
        var reference = new Option<string[]>("--reference") { Description = "Reference run directory (repeat for a teacher ensemble: the first scores the selection, all teach the KD loss).", AllowMultipleArgumentsPerToken = false };
        var size = new Option<string?>("--size") { Description = $"Model size Mu | Ti | S | B (default {TrainOptions.DefaultStudentSize} for a student, {TrainOptions.DefaultReferenceSize} for a reference)." };
        var holdout = new Option<bool>("--holdout") { Description = "Reference only: train on the held-out split (the RHO-loss reference)." };
        var steps = new Option<int?>("--steps") { Description = "Optimizer steps." };
        var output = new Option<string?>("--out") { Description = "Run directory (config.json, metrics.jsonl, checkpoints/, final.ckpt, final.json)." };
        var seed = new Option<ulong>("--seed") { Description = "Seed of initialisation, data order and sampling.", DefaultValueFactory = _ => 1UL };
        var initSeed = new Option<ulong?>("--init-seed") { Description = "Seed of the model initialisation only (default: --seed); vary it with --seed fixed for the same data order and a different initialisation." };
        var initBias = new Option<double?>("--init-bias") { Description = "Initial sigmoid logit bias c (default: the batch prior -ln(b - 1), -4.14 at b = 64; SigLIP's -10 suits 32k batches)." };
        var referenceMode = new Option<string>("--reference-mode") { Description = "cached (the reference's embeddings of the pool computed once, default) | live (computed per step for the super-batch; cost counted per step).", DefaultValueFactory = _ => "cached" };
        var resume = new Option<bool>("--resume") { Description = "Continue the run in --out from its last checkpoint (same options)." };
        var batchSize = new Option<int>("--batch-size") { Description = "Sub-batch size b.", DefaultValueFactory = _ => new TrainOptions().BatchSize };
        var filterRatio = new Option<double?>("--filter-ratio") { Description = "Filter ratio f in [0, 1): super-batch B = b / (1 - f) (default: the method's, 0.8)." };
        var chunks = new Option<int?>("--chunks") { Description = "Chunks of the joint sampler (default: the method's, 16, capped at b)." };
        var temperature = new Option<double?>("--temperature") { Description = "Selection temperature tau (default: the method's, 10; JEST 1)." };
        var lambda = new Option<double?>("--lambda") { Description = "Distillation weight lambda (default 2 for methods that distil)." };
        var learningRate = new Option<double>("--lr") { Description = "Peak learning rate (rsqrt schedule, 10% warm-up and cool-down).", DefaultValueFactory = _ => new TrainOptions().LearningRate };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Checkpoint every N steps (0 = only at the end).", DefaultValueFactory = _ => new TrainOptions().CheckpointEvery };
        var ensemble = new Option<string>("--ensemble") { Description = "Several --reference teachers: mean-of-losses (Eq. 18) | mean-of-logits.", DefaultValueFactory = _ => "mean-of-losses" };
        var loss = new Option<string>("--loss") { Description = "Contrastive loss: sigmoid | softmax.", DefaultValueFactory = _ => "sigmoid" };
        var contextLength = new Option<int>("--context-length") { Description = "Tokens per caption.", DefaultValueFactory = _ => new TrainOptions().ContextLength };
        var vocabulary = new Option<int>("--vocab-size") { Description = "BPE vocabulary size (trained on the training captions).", DefaultValueFactory = _ => new TrainOptions().VocabularySize };
        var proxySize = new Option<string>("--proxy-size") { Description = "Bad-Students: size of the online proxy and online reference.", DefaultValueFactory = _ => new TrainOptions().ProxySize };
        var imageSize = new Option<int>("--image-size") { Description = "Side S of the square images.", DefaultValueFactory = _ => DataOptions.DefaultImageSize };
        var dataSeed = new Option<ulong>("--data-seed") { Description = "Seed of the data set (shapes rendering, caption noise).", DefaultValueFactory = _ => 0UL };
        var noiseRate = new Option<double>("--noise-rate") { Description = "Fraction of student-pool captions swapped.", DefaultValueFactory = _ => DataOptions.DefaultNoiseRate };
        var cache = new Option<string?>("--cache") { Description = "Cache directory of fetched data (emoji)." };
        var skipBad = new Option<bool>("--skip-bad") { Description = "Skip and count bad images and caption lines." };
        var command = new Command("train", "Train a reference (--role reference) or a student (--method M) on an image-text data set.")
        {
            dataset, role, method, reference, size, holdout, steps, output, seed, resume, batchSize, filterRatio, chunks, temperature, lambda,
            learningRate, checkpointEvery, ensemble, initSeed, initBias, referenceMode, loss, contextLength, vocabulary, proxySize, imageSize, dataSeed, noiseRate, cache, skipBad,
        };
        command.SetAction(parse => CommandRunner.Run(
            () =>
        {
            TrainOptions options = BuildOptions(
                parse.GetValue(dataset), parse.GetValue(role)!, parse.GetValue(method), parse.GetValue(reference) ?? [], parse.GetValue(size),
                parse.GetValue(holdout), parse.GetValue(steps), parse.GetValue(output), parse.GetValue(seed), parse.GetValue(resume)) with
            {
                BatchSize = parse.GetValue(batchSize),
                FilterRatio = parse.GetValue(filterRatio),
                Chunks = parse.GetValue(chunks),
                Temperature = parse.GetValue(temperature),
                Lambda = parse.GetValue(lambda),
                LearningRate = parse.GetValue(learningRate),
                InitSeed = parse.GetValue(initSeed),
                ReferenceMode = ParseReferenceMode(parse.GetValue(referenceMode)!),
                InitialBias = parse.GetValue(initBias),
                CheckpointEvery = parse.GetValue(checkpointEvery),
                Loss = ParseLoss(parse.GetValue(loss)!),
                Ensemble = ParseEnsemble(parse.GetValue(ensemble)!),
                ContextLength = parse.GetValue(contextLength),
                VocabularySize = parse.GetValue(vocabulary),
                ProxySize = parse.GetValue(proxySize)!,
                Data = new DataOptions
                {
                    ImageSize = parse.GetValue(imageSize),
                    Seed = parse.GetValue(dataSeed),
                    NoiseRate = parse.GetValue(noiseRate),
                    CacheDirectory = parse.GetValue(cache),
                    SkipBad = parse.GetValue(skipBad),
                    // On a terminal only: redirected stderr (scripts, tests) keeps the one-line error contract.
                    Progress = stderr is null && !Console.IsErrorRedirected ? DataProgressLines(Console.Error, DataProgressQuietPeriod) : null,
                },
            };
            return Execute(options, stdout ?? Console.Out, stderr ?? Console.Error);
        },
            stderr));
        return command;
    }

    private static ReferenceMode ParseReferenceMode(string value) => value.ToLowerInvariant() switch
    {
        "cached" => ReferenceMode.Cached,
        "live" => ReferenceMode.Live,
        _ => throw new CliException($"--reference-mode must be cached or live (was '{value}')"),
    };

    /// <summary>Data loading quicker than this prints nothing (shapes); longer loading (emoji: ~10 s) prints its stages (on a terminal).</summary>
    public static readonly TimeSpan DataProgressQuietPeriod = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Progress of data loading as plain stderr lines ("aced: data: STAGE 40% (4.2 s)"): nothing during the first
    /// <paramref name="quietPeriod"/> (a quick load stays silent, so an error stays the only line), then one line per
    /// stage and per further quarter of a stage.
    /// </summary>
    public static Action<DataProgress> DataProgressLines(TextWriter writer, TimeSpan quietPeriod)
    {
        ArgumentNullException.ThrowIfNull(writer);
        long started = Stopwatch.GetTimestamp();
        string? lastStage = null;
        int lastQuarter = -1;
        return p =>
        {
            TimeSpan elapsed = Stopwatch.GetElapsedTime(started);
            if (elapsed < quietPeriod)
            {
                return;
            }

            int quarter = p.Total > 0 ? (int)(4 * Math.Clamp(p.Done, 0, p.Total) / p.Total) : 0;
            if (p.Stage == lastStage && quarter == lastQuarter)
            {
                return;
            }

            lastStage = p.Stage;
            lastQuarter = quarter;
            string share = p.Total > 0 ? $" {100 * Math.Clamp(p.Done, 0, p.Total) / p.Total}%" : string.Empty;
            writer.WriteLine($"aced: data: {p.Stage}{share} ({elapsed.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)} s)");
        };
    }

    /// <summary>The options of the command contract; errors name the option.</summary>
    internal static TrainOptions BuildOptions(string? dataset, string role, string? method, string[] references, string? size, bool holdout, int? steps, string? output, ulong seed, bool resume)
    {
        if (string.IsNullOrWhiteSpace(dataset))
        {
            throw new CliException("--dataset is required: " + DatasetCatalog.SpecHelp);
        }

        if (steps is null)
        {
            throw new CliException("--steps is required: the number of optimizer steps");
        }

        if (string.IsNullOrWhiteSpace(output))
        {
            throw new CliException("--out is required: the run directory to write");
        }

        TrainingRole parsedRole = role.ToLowerInvariant() switch
        {
            "student" => TrainingRole.Student,
            "reference" => TrainingRole.Reference,
            _ => throw new CliException($"--role must be student or reference (was '{role}')"),
        };
        if (parsedRole == TrainingRole.Reference && method is not null)
        {
            throw new CliException("--method applies to students; a --role reference run trains IID (drop --method)");
        }

        if (parsedRole == TrainingRole.Student && method is null)
        {
            throw new CliException($"--method is required for a student: one of {string.Join(", ", TrainingMethods.Names)} (or --role reference)");
        }

        return new TrainOptions
        {
            Dataset = dataset,
            Role = parsedRole,
            Method = method ?? "iid",
            ReferenceDirs = references,
            Size = size,
            Holdout = holdout,
            Steps = steps.Value,
            OutDir = output,
            Seed = seed,
            Resume = resume,
        };
    }

    /// <summary>Validates, trains with progress on <paramref name="stderr"/>, prints the result JSON on <paramref name="stdout"/>; Ctrl-C saves and exits.</summary>
    internal static int Execute(TrainOptions options, TextWriter stdout, TextWriter stderr)
    {
        options.Validate();
        using var cancellation = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cancellation.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            var report = new DataLoadReport();
            DatasetSplits data = DataCommand.Load(options.Dataset, options.Data, report);
            if (report.Skipped > 0)
            {
                stderr.WriteLine($"aced: warning: skipped {report.Skipped} bad data item(s) (--skip-bad); first: {report.Messages[0]}");
            }

            TrainResult result;
            if (!Console.IsErrorRedirected && ReferenceEquals(stderr, Console.Error))
            {
                result = RunWithProgressBar(options, data, cancellation.Token);
            }
            else
            {
                result = Trainer.Run(options, data, new PlainProgress(stderr), cancellation.Token);
            }

            stdout.WriteLine(JsonSerializer.Serialize(result, TrainingRun.s_jsonLine));
            return result.Completed ? 0 : Interrupted;
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            stderr.WriteLine("aced: interrupted before the first step; nothing to resume");
            return Interrupted;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static TrainResult RunWithProgressBar(TrainOptions options, DatasetSplits data, CancellationToken cancellationToken)
    {
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        TrainResult? result = null;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new ElapsedTimeColumn())
            .Start(context =>
            {
                var observer = new BarProgress(console, context);
                result = Trainer.Run(options, data, observer, cancellationToken);
            });
        return result!;
    }

    private static ContrastiveKind ParseLoss(string value) => value.ToLowerInvariant() switch
    {
        "sigmoid" => ContrastiveKind.Sigmoid,
        "softmax" => ContrastiveKind.Softmax,
        _ => throw new CliException($"--loss must be sigmoid or softmax (was '{value}')"),
    };

    private static TeacherEnsemble ParseEnsemble(string value) => value.ToLowerInvariant() switch
    {
        "mean-of-losses" => TeacherEnsemble.MeanOfLosses,
        "mean-of-logits" => TeacherEnsemble.MeanOfLogits,
        _ => throw new CliException($"--ensemble must be mean-of-losses or mean-of-logits (was '{value}')"),
    };

    private static string Line(StepMetrics m) => string.Create(
        CultureInfo.InvariantCulture,
        $"step {m.Step}/{m.TotalSteps}  loss {m.Loss:F4}  {m.ExamplesPerSecond:F0} ex/s  corrupted {m.CorruptedFraction:P0}");

    /// <summary>Plain lines (redirected stderr): the start, about 20 step lines, and every note.</summary>
    private sealed class PlainProgress(TextWriter writer) : ITrainingObserver
    {
        private long _every = 1;

        public void OnStart(TrainingStart start)
        {
            _every = Math.Max(1, start.TotalSteps / 20);
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"training {start.Description}: steps {start.StartStep}..{start.TotalSteps}, {start.FlopsPerStep.Total / 1e9:F2} GFLOP/step -> {start.RunDirectory}"));
        }

        public void OnStep(StepMetrics metrics)
        {
            if (metrics.Step % _every == 0 || metrics.Step == metrics.TotalSteps)
            {
                writer.WriteLine(Line(metrics) + string.Create(CultureInfo.InvariantCulture, $"  {metrics.Seconds:F1} s"));
            }
        }

        public void OnMessage(string message) => writer.WriteLine(message);
    }

    /// <summary>A Spectre.Console progress bar: step, loss, examples/s, remaining time.</summary>
    private sealed class BarProgress(IAnsiConsole console, ProgressContext context) : ITrainingObserver
    {
        private ProgressTask? _task;

        public void OnStart(TrainingStart start)
        {
            console.MarkupLine(Markup.Escape($"training {start.Description} -> {start.RunDirectory}"));
            _task = context.AddTask("starting", maxValue: start.TotalSteps);
            _task.Value = start.StartStep;
        }

        public void OnStep(StepMetrics metrics)
        {
            if (_task is not null)
            {
                _task.Value = metrics.Step;
                _task.Description = Markup.Escape(Line(metrics));
            }
        }

        public void OnMessage(string message) => console.MarkupLine(Markup.Escape(message));
    }
}
