using System;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Threading;
using Aced.Pipeline.Data;
using Aced.Pipeline.Evaluation;
using Aced.Pipeline.Reports;

namespace Aced.Cli;

/// <summary>
/// <c>aced stableeval</c>: trains the same IID configuration with several seeds, measures each task's seed
/// standard deviation and writes the StableEval suite (paper Section 4.1 / Appendix A) that <c>aced compare --suite</c> uses.
/// </summary>
public static class StableEvalCommand
{
    public static Command Create(TextWriter? stdout = null, TextWriter? stderr = null)
    {
        var defaults = new CompareGridOptions();
        var dataset = new Option<string>("--dataset") { Description = $"Data set: {DatasetCatalog.SpecHelp}.", DefaultValueFactory = _ => "shapes" };
        var seeds = new Option<int>("--seeds") { Description = "Seeds of the IID configuration (at least 2).", DefaultValueFactory = _ => 5 };
        var steps = new Option<int>("--steps") { Description = "Steps per run.", DefaultValueFactory = _ => defaults.Steps };
        var batch = new Option<int>("--batch-size") { Description = "Sub-batch size b.", DefaultValueFactory = _ => defaults.BatchSize };
        var studentSize = new Option<string?>("--student-size") { Description = "Size preset (default Mu)." };
        var noise = new Option<double>("--noise-rate") { Description = "Rate of swapped captions in the training pool.", DefaultValueFactory = _ => DataOptions.DefaultNoiseRate };
        var imageSize = new Option<int>("--image-size") { Description = "Image side.", DefaultValueFactory = _ => DataOptions.DefaultImageSize };
        var cache = new Option<string?>("--cache") { Description = "Data cache directory (emoji archives)." };
        var work = new Option<string?>("--work") { Description = "Directory for the seed runs (default: next to --out)." };
        var outFile = new Option<string>("--out") { Description = "The suite file to write (JSON).", Required = true };
        var command = new Command("stableeval", "Measure each evaluation task's seed std and write the StableEval suite.")
        {
            dataset, seeds, steps, batch, studentSize, noise, imageSize, cache, work, outFile,
        };
        command.SetAction(parse => CommandRunner.Run(
            () =>
            {
                string outPath = parse.GetValue(outFile)!;
                int n = parse.GetValue(seeds);
                if (n < 2)
                {
                    throw new CliException($"--seeds must be at least 2 to measure a standard deviation (was {n})");
                }

                string workDir = parse.GetValue(work) ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(outPath))!, Path.GetFileNameWithoutExtension(outPath) + "-runs");
                var options = new CompareGridOptions
                {
                    Dataset = parse.GetValue(dataset)!,
                    Methods = ["iid"],
                    Seeds = n,
                    Steps = parse.GetValue(steps),
                    BatchSize = parse.GetValue(batch),
                    StudentSize = parse.GetValue(studentSize),
                    EvalEvery = 0,
                    FixedDataOrder = true,
                    OutDir = workDir,
                    Data = new DataOptions { NoiseRate = parse.GetValue(noise), ImageSize = parse.GetValue(imageSize), CacheDirectory = parse.GetValue(cache) },
                };
                return Execute(options, outPath, stdout ?? Console.Out, stderr ?? Console.Error);
            },
            stderr));
        return command;
    }

    private static int Execute(CompareGridOptions options, string outPath, TextWriter stdout, TextWriter stderr)
    {
        CompareResults results = CompareProgress.Run(options, stderr, CancellationToken.None);
        StableSuite suite = results.Suite;
        if (double.IsNaN(suite.ThresholdStd))
        {
            throw new CliException($"StableEval could not rank the tasks: {suite.Source} (see {options.OutDir})");
        }

        suite.Save(outPath);
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"suite: {suite.Tasks.Count} of {suite.Candidates.Count} tasks, threshold std {100 * suite.ThresholdStd:0.000}%, suite-average std {100 * suite.SuiteStd:0.000}%"));
        foreach (StableTask t in suite.Candidates)
        {
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {(t.Included ? "+" : "-")} {t.Name,-28} mean {100 * t.Mean,6:0.00}%  std {100 * t.Std,6:0.000}%{(t.Reason is null ? "" : "  (" + t.Reason + ")")}"));
        }

        stdout.WriteLine($"wrote {Path.GetFullPath(outPath)}");
        return 0;
    }
}
