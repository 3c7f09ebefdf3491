using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Text.Json;
using Aced.Pipeline.Data;
using Spectre.Console;

namespace Aced.Cli;

/// <summary>
/// <c>aced data</c>: <c>fetch emoji [--cache DIR]</c> downloads the emoji packages with npm into the user's cache;
/// <c>info --dataset shapes|emoji|folder:PATH</c> loads a data set and prints its splits, noise, tasks and
/// fingerprints as one JSON object (a table on stderr with <c>--table</c>).
/// </summary>
public static class DataCommand
{
    /// <summary>Arguments of <c>aced data info</c>.</summary>
    public sealed record InfoArguments
    {
        public required string Dataset { get; init; }
        public ulong Seed { get; init; }
        public int ImageSize { get; init; } = DataOptions.DefaultImageSize;
        public double NoiseRate { get; init; } = DataOptions.DefaultNoiseRate;
        public string? Cache { get; init; }
        public bool SkipBad { get; init; }
        public bool Table { get; init; }
    }

    public static Command Create()
    {
        var command = new Command("data", "Data sets: fetch the emoji packages, describe a data set (" + DatasetCatalog.SpecHelp + ").");
        command.Subcommands.Add(CreateFetch());
        command.Subcommands.Add(CreateInfo());
        return command;
    }

    /// <summary>Runs <c>aced data fetch emoji</c>. Returns 0.</summary>
    public static int ExecuteFetch(string name, string? cache, string npm, TextWriter stdout, TextWriter stderr)
    {
        if (name != "emoji")
        {
            throw new CliException($"aced data fetch: unknown data set '{name}'; only 'emoji' is fetched (shapes is built in, folder:PATH is read in place)");
        }

        string cacheDirectory = cache ?? DataOptions.DefaultCacheDirectory();
        EmojiFetchResult result = EmojiFetcher.Fetch(cacheDirectory, npm, line => stderr.WriteLine($"aced: data: {line}"));
        var packages = new List<object>();
        foreach (EmojiPackage p in result.Packages)
        {
            packages.Add(new { name = p.Name, version = p.Version, file = p.File, bytes = p.Bytes, integrity = p.Integrity });
        }

        stdout.WriteLine(CliJson.Serialize(new { command = "data fetch", dataset = "emoji", folder = result.Folder, downloaded = result.Downloaded, packages }));
        return 0;
    }

    /// <summary>Runs <c>aced data info</c>. Returns 0.</summary>
    public static int ExecuteInfo(InfoArguments arguments, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        DataOptions options = ToOptions(arguments, stderr);
        var report = new DataLoadReport();
        DatasetSplits splits = Load(arguments.Dataset, options, report);
        foreach (string message in report.Messages)
        {
            stderr.WriteLine($"aced: data: skipped: {message}");
        }

        var roles = new List<(string Role, ImageTextDataset Data)>
        {
            ("reference_train", splits.ReferenceTrain),
            ("student_train", splits.StudentTrain),
            ("holdout", splits.Holdout),
        };
        foreach (ImageTextDataset evaluation in splits.Evaluation)
        {
            roles.Add(("evaluation", evaluation));
        }

        var splitInfo = new List<object>();
        foreach ((string role, ImageTextDataset data) in roles)
        {
            splitInfo.Add(DescribeSplit(role, data));
        }

        var summary = new
        {
            command = "data info",
            dataset = arguments.Dataset,
            image_size = options.ImageSize,
            seed = options.Seed,
            noise_rate_requested = options.NoiseRate,
            skipped = report.Skipped,
            fingerprint = splits.Fingerprint,
            splits = splitInfo,
        };
        if (arguments.Table)
        {
            WriteTable(roles, stderr);
        }

        stdout.WriteLine(CliJson.Serialize(summary));
        return 0;
    }

    /// <summary>
    /// Loads <paramref name="dataset"/> for a command: an option out of range or an unknown specification becomes a
    /// <see cref="CliException"/> naming the command-line option; bad data stay <see cref="DataException"/>s (exit 2).
    /// </summary>
    public static DatasetSplits Load(string dataset, DataOptions options, DataLoadReport report)
    {
        try
        {
            return DatasetCatalog.Load(dataset, options, report);
        }
        catch (ArgumentOutOfRangeException ex)
        {
            string range = ex.ParamName switch
            {
                nameof(DataOptions.ImageSize) => $"--image-size must be in [{DataOptions.MinImageSize}, {DataOptions.MaxImageSize}]",
                nameof(DataOptions.NoiseRate) => "--noise-rate must be in [0, 1]",
                _ => ex.Message,
            };
            throw new CliException($"{range} (was {ex.ActualValue})", ex);
        }
        catch (ArgumentException ex) when (ex.ParamName == "spec")
        {
            throw new CliException($"--dataset: unknown data set '{dataset}'; expected {DatasetCatalog.SpecHelp}", ex);
        }
    }

    private static DataOptions ToOptions(InfoArguments arguments, TextWriter stderr)
    {
        string? lastStage = null;
        return new DataOptions
        {
            Seed = arguments.Seed,
            ImageSize = arguments.ImageSize,
            NoiseRate = arguments.NoiseRate,
            CacheDirectory = arguments.Cache,
            SkipBad = arguments.SkipBad,
            Progress = p =>
            {
                // One line per stage (loading takes seconds, not minutes: no live bar needed).
                if (p.Stage != lastStage)
                {
                    lastStage = p.Stage;
                    stderr.WriteLine($"aced: data: {p.Stage}");
                }
            },
        };
    }

    private static object DescribeSplit(string role, ImageTextDataset data)
    {
        int corrupted = CountCorrupted(data);
        var tasks = new List<object>();
        foreach (LabelTask task in data.Tasks)
        {
            tasks.Add(DescribeTask(task));
        }

        return new
        {
            role,
            name = data.Name,
            count = data.Count,
            corrupted_captions = corrupted,
            noise_rate = data.Count == 0 ? 0.0 : (double)corrupted / data.Count,
            fingerprint = data.Fingerprint,
            tasks,
        };
    }

    private static object DescribeTask(LabelTask task)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string className in task.ClassNames)
        {
            counts[className] = 0;
        }

        int unlabelled = 0;
        foreach (int label in task.Labels)
        {
            if (label < 0)
            {
                unlabelled++;
            }
            else
            {
                counts[task.ClassNames[label]]++;
            }
        }

        return new { name = task.Name, classes = task.ClassNames.Count, unlabelled, class_counts = counts, prompts = task.PromptTemplates };
    }

    private static int CountCorrupted(ImageTextDataset data)
    {
        int corrupted = 0;
        foreach (bool c in data.CaptionCorrupted)
        {
            corrupted += c ? 1 : 0;
        }

        return corrupted;
    }

    private static Command CreateFetch()
    {
        var name = new Argument<string>("name") { Description = "The data set to fetch: emoji." };
        name.AcceptOnlyFromAmong("emoji");
        var cache = new Option<string?>("--cache") { Description = "Cache directory (default: $XDG_CACHE_HOME/aced or ~/.cache/aced); the packages go to CACHE/emoji." };
        var npm = new Option<string>("--npm") { Description = "The npm executable.", DefaultValueFactory = _ => "npm" };
        var command = new Command("fetch", "Download emoji-datasource-{google,twitter,apple,facebook}@16.0.0 and emojibase-data@17.0.0 with `npm pack`, check each .tgz against the registry's sha512 integrity, record them in CACHE/emoji/manifest.json.")
        {
            name, cache, npm,
        };
        command.SetAction(parse => CommandRunner.Run(
            () => ExecuteFetch(parse.GetValue(name)!, parse.GetValue(cache), parse.GetValue(npm)!, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error),
            parse.InvocationConfiguration.Error));
        return command;
    }

    private static Command CreateInfo()
    {
        var dataset = new Option<string>("--dataset") { Description = "Data set: " + DatasetCatalog.SpecHelp + ".", Required = true };
        var seed = new Option<ulong>("--seed") { Description = "Seed of every random draw.", DefaultValueFactory = _ => 0UL };
        var imageSize = new Option<int>("--image-size") { Description = "Side S of the square images.", DefaultValueFactory = _ => DataOptions.DefaultImageSize };
        var noiseRate = new Option<double>("--noise-rate") { Description = "Fraction of student-pool captions swapped (shapes, emoji).", DefaultValueFactory = _ => DataOptions.DefaultNoiseRate };
        var cache = new Option<string?>("--cache") { Description = "Cache directory of fetched data (default: $XDG_CACHE_HOME/aced or ~/.cache/aced)." };
        var skipBad = new Option<bool>("--skip-bad") { Description = "Skip and count bad images, caption lines and archive entries instead of stopping at the first." };
        var table = new Option<bool>("--table") { Description = "Also print a table of the splits on stderr." };
        var command = new Command("info", "Load a data set and print counts per split, noise, tasks with class counts and fingerprints as JSON.")
        {
            dataset, seed, imageSize, noiseRate, cache, skipBad, table,
        };
        command.SetAction(parse => CommandRunner.Run(
            () => ExecuteInfo(
                new InfoArguments
                {
                    Dataset = parse.GetValue(dataset)!,
                    Seed = parse.GetValue(seed),
                    ImageSize = parse.GetValue(imageSize),
                    NoiseRate = parse.GetValue(noiseRate),
                    Cache = parse.GetValue(cache),
                    SkipBad = parse.GetValue(skipBad),
                    Table = parse.GetValue(table),
                },
                parse.InvocationConfiguration.Output,
                parse.InvocationConfiguration.Error),
            parse.InvocationConfiguration.Error));
        return command;
    }

    private static void WriteTable(List<(string Role, ImageTextDataset Data)> roles, TextWriter stderr)
    {
        var table = new Table().AddColumns("split", "name", "examples", "corrupted", "tasks", "fingerprint");
        foreach ((string role, ImageTextDataset data) in roles)
        {
            int corrupted = CountCorrupted(data);
            var tasks = new List<string>();
            foreach (LabelTask task in data.Tasks)
            {
                tasks.Add($"{task.Name} ({task.ClassNames.Count})");
            }

            table.AddRow(
                Markup.Escape(role),
                Markup.Escape(data.Name),
                data.Count.ToString(CultureInfo.InvariantCulture),
                corrupted.ToString(CultureInfo.InvariantCulture),
                Markup.Escape(string.Join(", ", tasks)),
                data.Fingerprint[..16]);
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stderr), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 140;
        console.Write(table);
    }
}
