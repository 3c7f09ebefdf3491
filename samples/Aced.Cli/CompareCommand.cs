using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Threading;
using Aced.Pipeline.Data;
using Aced.Pipeline.Evaluation;
using Aced.Pipeline.Reports;
using Spectre.Console;

namespace Aced.Cli;

/// <summary>
/// <c>aced compare</c>: the main job. Trains the reference (if absent) and a grid of methods x seeds, evaluates
/// every checkpoint on the StableEval suite, writes results.csv, results.json, suite.json and report.html, and
/// prints the summary table. With no options: a quick run on the embedded shapes data with caption noise.
/// </summary>
public static class CompareCommand
{
    public static Command Create(TextWriter? stdout = null, TextWriter? stderr = null)
    {
        var defaults = new CompareGridOptions();
        var dataset = new Option<string>("--dataset") { Description = $"Data set: {DatasetCatalog.SpecHelp}.", DefaultValueFactory = _ => defaults.Dataset };
        var methods = new Option<string>("--methods") { Description = "Comma-separated arms: METHOD[:clean|:matched|:f=X|:tau=X|:lambda=X|:ref=SIZE].", DefaultValueFactory = _ => string.Join(',', CompareGridOptions.DefaultMethods) };
        var seeds = new Option<int>("--seeds") { Description = "Seeds per arm.", DefaultValueFactory = _ => defaults.Seeds };
        var steps = new Option<int>("--steps") { Description = "Student steps per cell.", DefaultValueFactory = _ => defaults.Steps };
        var batch = new Option<int>("--batch-size") { Description = "Student sub-batch size b.", DefaultValueFactory = _ => defaults.BatchSize };
        var studentSize = new Option<string?>("--student-size") { Description = "Student size preset (Mu, Ti, S, B); default Mu." };
        var reference = new Option<string?>("--reference") { Description = "Reference run directory (trained there when absent); default OUT/reference." };
        var referenceSize = new Option<string?>("--reference-size") { Description = "Size preset of a reference trained by compare; default Ti." };
        var referenceSteps = new Option<int>("--reference-steps") { Description = "Steps of a reference trained by compare.", DefaultValueFactory = _ => defaults.ReferenceSteps };
        var learningRate = new Option<double?>("--learning-rate") { Description = "Peak learning rate of every run (default: the trainer's)." };
        var evalEvery = new Option<int>("--eval-every") { Description = "Checkpoint and evaluate every N steps for the learning curves (0 = final only).", DefaultValueFactory = _ => defaults.EvalEvery };
        var filterRatios = new Option<string?>("--filter-ratios") { Description = "Filter-ratio sweep over the selecting methods, e.g. 0.2,0.5,0.8,0.9 (Figure 10)." };
        var temperatures = new Option<string?>("--temperatures") { Description = "Temperature sweep over the selecting methods, e.g. 1,10,100 (Figure 10)." };
        var referenceSizes = new Option<string?>("--reference-sizes") { Description = "Reference-size sweep over the reference-using methods, e.g. Mu,Ti,S (Figure 4)." };
        var suite = new Option<string?>("--suite") { Description = "StableEval suite file from aced stableeval (default: measured on this grid's iid seeds)." };
        var noise = new Option<double>("--noise-rate") { Description = "Rate of swapped captions in the student pool.", DefaultValueFactory = _ => DataOptions.DefaultNoiseRate };
        var imageSize = new Option<int>("--image-size") { Description = "Image side.", DefaultValueFactory = _ => DataOptions.DefaultImageSize };
        var poolSize = new Option<int?>("--pool-size") { Description = "Shapes only: examples in the student pool and in the reference's training set (default 4096)." };
        var cache = new Option<string?>("--cache") { Description = "Data cache directory (emoji archives)." };
        var outDir = new Option<string>("--out") { Description = "Output directory (runs, results, report).", DefaultValueFactory = _ => "aced-compare" };
        var command = new Command("compare", "Train and evaluate a grid of methods x seeds with a reference; write results.csv, results.json and report.html.")
        {
            dataset, methods, seeds, steps, batch, studentSize, reference, referenceSize, referenceSteps, learningRate, evalEvery,
            filterRatios, temperatures, referenceSizes, suite, noise, imageSize, poolSize, cache, outDir,
        };
        command.SetAction(parse => CommandRunner.Run(
            () =>
            {
                int? pool = parse.GetValue(poolSize);
                var data = new DataOptions
                {
                    NoiseRate = parse.GetValue(noise),
                    ImageSize = parse.GetValue(imageSize),
                    CacheDirectory = parse.GetValue(cache),
                    ReferenceTrainSize = pool ?? new DataOptions().ReferenceTrainSize,
                    StudentTrainSize = pool ?? new DataOptions().StudentTrainSize,
                };
                var options = new CompareGridOptions
                {
                    Dataset = parse.GetValue(dataset)!,
                    Methods = SplitList(parse.GetValue(methods), "--methods"),
                    Seeds = parse.GetValue(seeds),
                    Steps = parse.GetValue(steps),
                    BatchSize = parse.GetValue(batch),
                    StudentSize = parse.GetValue(studentSize),
                    ReferenceDir = parse.GetValue(reference),
                    ReferenceSize = parse.GetValue(referenceSize),
                    ReferenceSteps = parse.GetValue(referenceSteps),
                    LearningRate = parse.GetValue(learningRate),
                    EvalEvery = parse.GetValue(evalEvery),
                    FilterRatios = Numbers(parse.GetValue(filterRatios), "--filter-ratios"),
                    Temperatures = Numbers(parse.GetValue(temperatures), "--temperatures"),
                    ReferenceSizes = SplitList(parse.GetValue(referenceSizes), "--reference-sizes", allowEmpty: true),
                    SuitePath = parse.GetValue(suite),
                    OutDir = parse.GetValue(outDir)!,
                    Data = data,
                };
                return Execute(options, stdout ?? Console.Out, stderr ?? Console.Error);
            },
            stderr));
        return command;
    }

    internal static int Execute(CompareGridOptions options, TextWriter stdout, TextWriter stderr)
    {
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            CompareResults results = CompareProgress.Run(options, stderr, cts.Token);
            PrintSummary(results, stdout);
            string outDir = Path.GetFullPath(options.OutDir);
            stdout.WriteLine($"wrote {Path.Combine(outDir, "results.csv")}, results.json, suite.json and report.html");
            int failed = FailedCells(results);
            if (failed > 0)
            {
                // The results and the report hold every finished cell; a script still learns that some did not finish.
                stderr.WriteLine($"aced: {failed} of {results.Cells.Count} cells failed (the 'failed:' lines above say why); rerun the same command to retry them");
                return CellsFailed;
            }

            return 0;
        }
        catch (OperationCanceledException)
        {
            stderr.WriteLine("aced: cancelled; finished cells and checkpoints are kept: rerun the same command to resume");
            return 130;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>Exit code of a grid that finished with at least one failed cell (results and report are still written).</summary>
    internal const int CellsFailed = 1;

    private static int FailedCells(CompareResults results)
    {
        int failed = 0;
        foreach (CellRecord c in results.Cells)
        {
            failed += c.IsDone ? 0 : 1;
        }

        return failed;
    }

    /// <summary>The summary table (arm, seeds, stable_average, i2t_r5, t2i_r5 as mean +- std %, GFLOPs) on stdout.</summary>
    internal static void PrintSummary(CompareResults results, TextWriter stdout)
    {
        var table = new Table().AddColumns("arm", "seeds", "stable_average %", "i2t_r5 %", "t2i_r5 %", "GFLOPs");
        foreach (string arm in results.Arms)
        {
            table.AddRow(
                Markup.Escape(arm),
                results.Summary(arm, EvaluationTasks.StableAverage).Count.ToString(CultureInfo.InvariantCulture),
                Cell(results.Summary(arm, EvaluationTasks.StableAverage)),
                Cell(results.Summary(arm, "i2t_r5")),
                Cell(results.Summary(arm, "t2i_r5")),
                HtmlReport.Totals(results, arm).Flops is double f && !double.IsNaN(f) ? (f / 1e9).ToString("0.0", CultureInfo.InvariantCulture) : "-");
        }

        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stdout),
            Ansi = ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
        });
        if (!(ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected))
        {
            console.Profile.Width = 160; // redirected output: no wrapping of arm labels
        }

        console.Write(table);
        stdout.WriteLine($"stable_average = mean of {results.Suite.Tasks.Count} StableEval task(s): {string.Join(", ", results.Suite.Tasks)}");
        foreach (CellRecord c in results.Cells)
        {
            if (!c.IsDone)
            {
                stdout.WriteLine($"failed: {c.Arm} seed {c.Seed}: {c.Error}");
            }
        }
    }

    private static string Cell((double Mean, double Std, int Count) s) => s.Count switch
    {
        0 => "-",
        1 => (100 * s.Mean).ToString("0.00", CultureInfo.InvariantCulture),
        _ => string.Create(CultureInfo.InvariantCulture, $"{100 * s.Mean:0.00} ± {100 * s.Std:0.00}"),
    };

    internal static List<string> SplitList(string? value, string option, bool allowEmpty = false)
    {
        var list = new List<string>();
        foreach (string part in (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            list.Add(part);
        }

        if (list.Count == 0 && !allowEmpty)
        {
            throw new CliException($"{option} lists nothing; give comma-separated values");
        }

        return list;
    }

    internal static List<double> Numbers(string? value, string option)
    {
        var list = new List<double>();
        foreach (string part in SplitList(value, option, allowEmpty: true))
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
            {
                throw new CliException($"{option}: '{part}' is not a number; give comma-separated numbers such as 0.2,0.5");
            }

            list.Add(v);
        }

        return list;
    }
}
