using System;
using System.Collections.Generic;
using System.CommandLine;
using System.IO;
using Aced.Pipeline.Data;
using Aced.Pipeline.Evaluation;
using Aced.Pipeline.Training;

namespace Aced.Cli;

/// <summary>
/// <c>aced eval --run DIR</c>: evaluates a training run's final (or newest) checkpoint on the evaluation splits
/// of the data it was trained on: zero-shot top-1/top-5/mean per-class recall per label task, retrieval both ways.
/// Writes RUN_DIR/eval.json and prints it.
/// </summary>
public static class EvalCommand
{
    public static Command Create(TextWriter? stdout = null, TextWriter? stderr = null)
    {
        var run = new Option<string>("--run") { Description = "Run directory written by aced train.", Required = true };
        var tasks = new Option<string?>("--tasks") { Description = "Comma-separated task names or prefixes ending in '*' (default: all), e.g. i2t_r5,t2i_r5,eval/*." };
        var cache = new Option<string?>("--cache") { Description = "Data cache directory (emoji archives), if not the run's." };
        var command = new Command("eval", "Evaluate a run (zero-shot classification and retrieval); write RUN_DIR/eval.json.") { run, tasks, cache };
        command.SetAction(parse => CommandRunner.Run(
            () => Execute(parse.GetValue(run)!, parse.GetValue(tasks), parse.GetValue(cache), stdout ?? Console.Out),
            stderr));
        return command;
    }

    private static int Execute(string runDir, string? taskList, string? cache, TextWriter stdout)
    {
        string[] patterns = taskList is null ? [] : CompareCommand.SplitList(taskList, "--tasks").ToArray();
        string dir = Path.GetFullPath(runDir);
        TrainingRun run = TrainingRun.Load(dir, "--run");
        DataOptions data = run.Options.Data;
        if (cache is not null)
        {
            data = new DataOptions
            {
                ImageSize = data.ImageSize,
                Seed = data.Seed,
                NoiseRate = data.NoiseRate,
                AttributeNoiseRate = data.AttributeNoiseRate,
                ReferenceTrainSize = data.ReferenceTrainSize,
                StudentTrainSize = data.StudentTrainSize,
                HoldoutSize = data.HoldoutSize,
                EvaluationSize = data.EvaluationSize,
                CacheDirectory = cache,
                SkipBad = data.SkipBad,
                MaxImageBytes = data.MaxImageBytes,
                MaxImageSide = data.MaxImageSide,
            };
        }

        DatasetSplits splits = DatasetCatalog.Load(run.Options.Dataset, data);
        IReadOnlyDictionary<string, double> values = new Evaluator(run.Model, run.Tokenizer).Evaluate(splits.Evaluation, patterns);
        if (values.Count == 0)
        {
            throw new CliException($"--tasks '{taskList}' matches no task; run without --tasks to list them all");
        }

        stdout.WriteLine(RunEvaluation.WriteEvalJson(dir, run.CheckpointPath, run.Step, values));
        return 0;
    }
}
