using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using Aced.Pipeline.Data;
using Aced.Pipeline.Reports;
using Aced.Pipeline.Training;

namespace Aced.Pipeline.Evaluation;

/// <summary>Receives the progress of <see cref="CompareRunner.Run"/> (the CLI draws progress bars or prints lines).</summary>
public interface ICompareObserver : ITrainingObserver
{
    /// <summary>Called once with the number of cells (arms x seeds).</summary>
    void OnGridStart(int cells);

    /// <summary>Called before a cell (or the reference, with seed 0) is trained or loaded.</summary>
    void OnCellStart(string label, int seed, int index);

    /// <summary>Called after a cell finished, was resumed from its cell.json, or failed.</summary>
    void OnCellEnd(CellRecord cell);
}

/// <summary>
/// The <c>aced compare</c> grid: trains the reference if absent (cached in the output directory), then each arm x
/// seed cell (resuming a finished or checkpointed cell), evaluates every checkpoint for the learning curves,
/// decides the StableEval suite (a given file, else measured on the grid's iid seeds), and writes results.csv,
/// results.json, suite.json and report.html. A failed cell is recorded and the rest go on.
/// </summary>
public static class CompareRunner
{
    /// <summary>File written per finished cell (its presence makes a rerun skip the cell).</summary>
    public const string CellFile = "cell.json";

    /// <summary>Runs the grid.</summary>
    /// <exception cref="TrainingConfigurationException">A bad option or arm (before any training).</exception>
    /// <exception cref="OperationCanceledException">Cancelled (finished cells and checkpoints are kept; rerun resumes).</exception>
    public static CompareResults Run(CompareGridOptions options, ICompareObserver observer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(observer);
        options.Validate();
        List<CompareArm> arms = ParseArms(options);
        ValidatePaths(options);
        StableSuite? givenSuite = options.SuitePath is null ? null : StableSuite.Load(options.SuitePath);
        string outDir = Path.GetFullPath(options.OutDir);
        Directory.CreateDirectory(outDir);
        observer.OnMessage($"loading data set {options.Dataset}");
        DatasetSplits noisy = DatasetCatalog.Load(options.Dataset, options.Data, null, cancellationToken);
        DatasetSplits? clean = null;

        var results = new CompareResults { Dataset = options.Dataset };
        FillSettings(results.Settings, options, noisy);
        foreach (CompareArm arm in arms)
        {
            results.Arms.Add(arm.Label);
        }

        observer.OnGridStart(arms.Count * options.Seeds);
        var references = new Dictionary<string, string>(StringComparer.Ordinal);
        int index = 0;
        foreach (CompareArm arm in arms)
        {
            for (int seed = 1; seed <= options.Seeds; seed++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                index++;
                observer.OnCellStart(arm.Label, seed, index);
                CellRecord cell;
                try
                {
                    DatasetSplits data = noisy;
                    if (arm.CleanPool)
                    {
                        clean ??= CleanSplits(options, cancellationToken);
                        data = clean;
                    }

                    string? reference = arm.NeedsReference ? EnsureReference(options, arm.ReferenceSize, outDir, noisy, references, results, observer, cancellationToken) : null;
                    int steps = arm.MatchedCompute ? MatchedSteps(options, arms, outDir, arm) : options.Steps;
                    cell = RunCell(options, arm, seed, steps, reference, data, outDir, observer, cancellationToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    cell = new CellRecord
                    {
                        Arm = arm.Label,
                        Method = arm.Method,
                        Seed = seed,
                        Status = "failed",
                        Error = $"{ex.GetType().Name}: {ex.Message}".Replace('\n', ' '),
                        RunDirectory = CellDirectory(outDir, arm, seed),
                    };
                }

                results.Cells.Add(cell);
                observer.OnCellEnd(cell);
            }
        }

        results.Suite = givenSuite ?? SuiteFromGrid(results, arms, options.Dataset);
        results.ApplySuite();
        WriteOutputs(results, outDir);
        return results;
    }

    /// <summary>Writes results.csv, results.json, suite.json and report.html into <paramref name="outDir"/>.</summary>
    public static void WriteOutputs(CompareResults results, string outDir)
    {
        AtomicFile.WriteAllText(Path.Combine(outDir, "results.csv"), results.ToCsv());
        AtomicFile.WriteAllText(Path.Combine(outDir, "results.json"), results.ToJson());
        results.Suite.Save(Path.Combine(outDir, "suite.json"));
        AtomicFile.WriteAllText(Path.Combine(outDir, "report.html"), HtmlReport.Render(results));
    }

    /// <summary>
    /// Checks the paths before any data is loaded or cell trained, so a wrong path is one usage error and not a grid of
    /// failed cells: --out must not be a file; --reference must be absent (trained there), or a run directory.
    /// </summary>
    private static void ValidatePaths(CompareGridOptions options)
    {
        if (File.Exists(options.OutDir))
        {
            throw new TrainingConfigurationException("--out", $"'{options.OutDir}' is a file; give a directory for results, runs and the report");
        }

        if (options.ReferenceDir is not string reference)
        {
            return;
        }

        if (File.Exists(reference))
        {
            throw new TrainingConfigurationException("--reference", $"'{reference}' is a file; give a reference run directory (aced train --role reference --out DIR), or a missing directory to train it there");
        }

        if (Directory.Exists(reference)
            && !File.Exists(Path.Combine(reference, RunFiles.FinalCheckpoint))
            && !File.Exists(Path.Combine(reference, RunFiles.Config))
            && RunEvaluation.Checkpoints(reference).Count == 0)
        {
            throw new TrainingConfigurationException("--reference", $"'{reference}' is not a run directory; give a reference trained with aced train --role reference, or omit --reference");
        }
    }

    private static List<CompareArm> ParseArms(CompareGridOptions options)
    {
        List<CompareArm> arms;
        try
        {
            arms = CompareArm.Expand(options.Methods, options.FilterRatios, options.Temperatures, options.ReferenceSizes);
        }
        catch (ArgumentException ex)
        {
            // The option is named by the exception; the parameter suffix (" (Parameter 'spec')") means nothing to a CLI user.
            string message = ex.ParamName is null ? ex.Message : ex.Message.Replace($" (Parameter '{ex.ParamName}')", "", StringComparison.Ordinal);
            throw new TrainingConfigurationException("--methods", message);
        }

        foreach (CompareArm arm in arms)
        {
            if (!TrainingMethods.TryGet(arm.Method, out _))
            {
                throw new TrainingConfigurationException("--methods", $"unknown method '{arm.Method}' in arm '{arm.Spec}'; use one of {string.Join(", ", TrainingMethods.Names)}");
            }
        }

        return arms;
    }

    private static void FillSettings(Dictionary<string, string> settings, CompareGridOptions o, DatasetSplits data)
    {
        string I(double v) => v.ToString(CultureInfo.InvariantCulture);
        settings["data set"] = o.Dataset;
        settings["student pool"] = $"{data.StudentTrain.Name}: {data.StudentTrain.Count} examples, caption noise rate {I(o.Data.NoiseRate)}";
        settings["reference data"] = $"{data.ReferenceTrain.Name}: {data.ReferenceTrain.Count} examples (clean captions)";
        var eval = new List<string>();
        foreach (ImageTextDataset split in data.Evaluation)
        {
            eval.Add($"{split.Name} ({split.Count})");
        }

        settings["evaluation"] = string.Join(", ", eval);
        settings["image size"] = $"{o.Data.ImageSize}x{o.Data.ImageSize}";
        settings["seeds"] = I(o.Seeds);
        settings["student"] = $"{o.StudentSize ?? TrainOptions.DefaultStudentSize}, {I(o.Steps)} steps, batch {I(o.BatchSize)}";
        settings["reference"] = o.ReferenceDir is null
            ? $"{o.ReferenceSize ?? TrainOptions.DefaultReferenceSize}, {I(o.ReferenceSteps)} steps, batch {I(o.ReferenceBatchSize)} (trained by compare)"
            : $"given: {o.ReferenceDir}";
        settings["checkpoint evaluated every"] = o.EvalEvery == 0 ? "final only" : $"{I(o.EvalEvery)} steps";
    }

    private static DatasetSplits CleanSplits(CompareGridOptions options, CancellationToken ct)
    {
        DatasetSplits s = DatasetCatalog.Load(options.Dataset, CleanData(options.Data), null, ct);
        // A distinct split name keeps the reference's embedding cache of the clean pool apart from the noisy one's.
        ImageTextDataset p = s.StudentTrain;
        var pool = new ImageTextDataset(p.Name + "-clean", p.ImageSize, p.Pixels, p.Captions, p.Ids, p.CaptionCorrupted, p.Tasks);
        return s with { StudentTrain = pool };
    }

    /// <summary>The same data options without caption noise.</summary>
    internal static DataOptions CleanData(DataOptions d) => new()
    {
        ImageSize = d.ImageSize,
        Seed = d.Seed,
        NoiseRate = 0,
        AttributeNoiseRate = 0,
        ReferenceTrainSize = d.ReferenceTrainSize,
        StudentTrainSize = d.StudentTrainSize,
        HoldoutSize = d.HoldoutSize,
        EvaluationSize = d.EvaluationSize,
        CacheDirectory = d.CacheDirectory,
        SkipBad = d.SkipBad,
        MaxImageBytes = d.MaxImageBytes,
        MaxImageSide = d.MaxImageSide,
        Progress = d.Progress,
    };

    private static string CellDirectory(string outDir, CompareArm arm, int seed) =>
        Path.Combine(outDir, "runs", arm.DirectoryName, $"seed-{seed.ToString(CultureInfo.InvariantCulture)}");

    private static string EnsureReference(CompareGridOptions o, string? size, string outDir, DatasetSplits data, Dictionary<string, string> cache, CompareResults results, ICompareObserver observer, CancellationToken ct)
    {
        string key = size ?? "";
        if (cache.TryGetValue(key, out string? known))
        {
            return known;
        }

        string dir = size is null ? Path.GetFullPath(o.ReferenceDir ?? Path.Combine(outDir, "reference")) : Path.Combine(outDir, $"reference-{size}");
        if (!File.Exists(Path.Combine(dir, RunFiles.FinalCheckpoint)))
        {
            if (size is null && o.ReferenceDir is not null && Directory.Exists(dir) && RunEvaluation.Checkpoints(dir).Count == 0 && !File.Exists(Path.Combine(dir, RunFiles.Config)))
            {
                throw new TrainingConfigurationException("--reference", $"'{o.ReferenceDir}' is not a run directory; give a reference trained with aced train --role reference, or omit --reference");
            }

            observer.OnCellStart($"reference {size ?? o.ReferenceSize ?? TrainOptions.DefaultReferenceSize}", 0, 0);
            bool resume = Directory.Exists(dir) && RunEvaluation.Checkpoints(dir).Count > 0;
            if (Directory.Exists(dir) && !resume)
            {
                Directory.Delete(dir, recursive: true);
            }

            var train = o.Base with
            {
                Dataset = o.Dataset,
                Data = o.Data,
                Role = TrainingRole.Reference,
                Size = size ?? o.ReferenceSize,
                Steps = o.ReferenceSteps,
                BatchSize = o.ReferenceBatchSize,
                Seed = 1,
                OutDir = dir,
                Resume = resume,
                CheckpointEvery = 0,
            };
            if (o.LearningRate is double lr)
            {
                train = train with { LearningRate = lr };
            }

            TrainResult r = Trainer.Run(train, data, observer, ct);
            if (!r.Completed)
            {
                throw new OperationCanceledException("reference training was cancelled; rerun to resume");
            }
        }

        IReadOnlyDictionary<string, double> values = RunEvaluation.EvaluateCheckpoint(Path.Combine(dir, RunFiles.FinalCheckpoint), data.Evaluation);
        string label = size is null ? "reference" : $"reference {size}";
        results.Settings[$"{label} i2t_r5 / t2i_r5"] = $"{Pct(values, "i2t_r5")} / {Pct(values, "t2i_r5")} %";
        cache[key] = dir;
        return dir;
    }

    private static string Pct(IReadOnlyDictionary<string, double> values, string task) =>
        values.TryGetValue(task, out double v) ? (100 * v).ToString("0.0", CultureInfo.InvariantCulture) : "-";

    /// <summary>
    /// Steps of a matched-compute arm: <c>Steps</c> x (largest per-step FLOPs among the grid's plain selecting
    /// arms) / (per-step FLOPs of the plain arm of the same method), read from the seed-1 runs' config.json.
    /// I-ACID with a cached reference costs an IID step, so the match is to the costliest selecting arm (H-ACID,
    /// ACED: the student's scoring pass over the super-batch).
    /// </summary>
    private static int MatchedSteps(CompareGridOptions o, List<CompareArm> arms, string outDir, CompareArm arm)
    {
        double target = 0;
        CompareArm? self = null;
        foreach (CompareArm a in arms)
        {
            if (!a.MatchedCompute && !a.CleanPool && CompareArm.SelectingMethods.Contains(a.Method))
            {
                string config = Path.Combine(CellDirectory(outDir, a, 1), RunFiles.Config);
                if (File.Exists(config))
                {
                    target = Math.Max(target, FlopsPerStep(CellDirectory(outDir, a, 1)));
                }
            }

            if (self is null && !a.MatchedCompute && a.Method == arm.Method && a.CleanPool == arm.CleanPool)
            {
                self = a;
            }
        }

        if (target == 0 || self is null)
        {
            throw new TrainingConfigurationException("--methods", $"arm '{arm.Spec}' needs a finished selecting arm (e.g. h-acid) and a plain '{arm.Method}' arm in the grid to match their compute");
        }

        double own = FlopsPerStep(CellDirectory(outDir, self, 1));
        return Math.Max(1, (int)Math.Round(o.Steps * target / own));
    }

    private static double FlopsPerStep(string runDir)
    {
        string path = Path.Combine(runDir, RunFiles.Config);
        if (!File.Exists(path))
        {
            throw new InvalidDataException($"{path} is missing: the run whose compute is matched did not finish");
        }

        JsonNode? node = JsonNode.Parse(File.ReadAllText(path))?["flops_per_step"]?["total"];
        return node?.GetValue<double>() ?? throw new InvalidDataException($"{path}: has no flops_per_step.total");
    }

    private static CellRecord RunCell(CompareGridOptions o, CompareArm arm, int seed, int steps, string? reference, DatasetSplits data, string outDir, ICompareObserver observer, CancellationToken ct)
    {
        string dir = CellDirectory(outDir, arm, seed);
        string cellPath = Path.Combine(dir, CellFile);
        if (File.Exists(cellPath))
        {
            CellRecord? done = JsonSerializer.Deserialize<CellRecord>(File.ReadAllText(cellPath), CompareResults.Json);
            if (done is not null && done.IsDone && done.Steps == steps)
            {
                observer.OnMessage($"{arm.Label} seed {seed}: finished before, reusing {cellPath}");
                return done;
            }
        }

        if (!File.Exists(Path.Combine(dir, RunFiles.FinalCheckpoint)))
        {
            bool resume = Directory.Exists(dir) && RunEvaluation.Checkpoints(dir).Count > 0;
            if (Directory.Exists(dir) && !resume)
            {
                Directory.Delete(dir, recursive: true);
            }

            var train = o.Base with
            {
                Dataset = o.Dataset,
                Data = arm.CleanPool ? CleanData(o.Data) : o.Data,
                Role = TrainingRole.Student,
                Method = arm.Method,
                Size = o.StudentSize,
                Steps = steps,
                BatchSize = o.BatchSize,
                FilterRatio = arm.FilterRatio,
                Temperature = arm.Temperature,
                Lambda = arm.Lambda,
                Seed = o.FixedDataOrder ? 1UL : (ulong)seed,
                InitSeed = (ulong)seed,
                ReferenceDirs = reference is null ? [] : [reference],
                CheckpointEvery = o.EvalEvery,
                OutDir = dir,
                Resume = resume,
            };
            if (o.LearningRate is double lr)
            {
                train = train with { LearningRate = lr };
            }

            TrainResult r = Trainer.Run(train, data, observer, ct);
            if (!r.Completed)
            {
                throw new OperationCanceledException($"{arm.Label} seed {seed} was cancelled; rerun to resume");
            }
        }

        return EvaluateCell(arm, seed, dir, data.Evaluation, ct);
    }

    private static CellRecord EvaluateCell(CompareArm arm, int seed, string dir, IReadOnlyList<ImageTextDataset> splits, CancellationToken ct)
    {
        Dictionary<long, RunProgress> progress = RunEvaluation.ReadProgress(dir);
        RunProgress last = RunEvaluation.LastProgress(progress);
        var cell = new CellRecord
        {
            Arm = arm.Label,
            Method = arm.Method,
            Seed = seed,
            RunDirectory = dir,
            Steps = last.Step,
            SamplesSeen = last.SamplesSeen,
            Flops = last.Flops,
            Seconds = last.Seconds,
        };
        string? finalCheckpoint = null;
        IReadOnlyDictionary<string, double>? finalValues = null;
        foreach ((_, string checkpoint) in RunEvaluation.Checkpoints(dir))
        {
            ct.ThrowIfCancellationRequested();
            (Aced.Models.TwoTowerModel model, Aced.Models.Text.Tokenizer tokenizer, long step) = RunEvaluation.Load(checkpoint);
            IReadOnlyDictionary<string, double> values = new Evaluator(model, tokenizer).Evaluate(splits);
            RunProgress p = progress.TryGetValue(step, out RunProgress found) ? found : new RunProgress(step, 0, double.NaN, double.NaN);
            cell.Curve.Add(new CurvePoint(step, p.SamplesSeen, p.Flops, new Dictionary<string, double>(values, StringComparer.Ordinal)));
            finalCheckpoint = checkpoint;
            finalValues = values;
        }

        if (finalValues is null || finalCheckpoint is null)
        {
            throw new InvalidDataException($"{dir}: the run has no checkpoint to evaluate");
        }

        cell.Values = new Dictionary<string, double>(finalValues, StringComparer.Ordinal);
        RunEvaluation.WriteEvalJson(dir, finalCheckpoint, cell.Steps, finalValues);
        AtomicFile.WriteAllText(Path.Combine(dir, CellFile), JsonSerializer.Serialize(cell, CompareResults.Json));
        return cell;
    }

    /// <summary>
    /// The suite measured on the grid's baseline seeds (the first plain iid arm, else the first arm): StableEval
    /// needs at least 2 finished seeds; with fewer, every score task is averaged and the report says so.
    /// </summary>
    internal static StableSuite SuiteFromGrid(CompareResults results, List<CompareArm> arms, string dataset)
    {
        string baseline = arms[0].Label;
        foreach (CompareArm a in arms)
        {
            if (a.Spec == "iid")
            {
                baseline = a.Label;
                break;
            }
        }

        var runs = new List<Dictionary<string, double>>();
        foreach (CellRecord c in results.Cells)
        {
            if (c.IsDone && c.Arm == baseline)
            {
                runs.Add(c.Values);
            }
        }

        var group = new Dictionary<string, double[]>(StringComparer.Ordinal);
        var anyDone = runs.Count > 0 ? runs : FirstDone(results);
        if (anyDone.Count == 0)
        {
            return new StableSuite { Dataset = dataset, Source = "No cell finished: no suite." };
        }

        foreach (string task in anyDone[0].Keys)
        {
            if (!EvaluationTasks.IsScore(task))
            {
                continue;
            }

            var values = new double[anyDone.Count];
            bool all = true;
            for (int i = 0; i < anyDone.Count; i++)
            {
                all &= anyDone[i].TryGetValue(task, out values[i]);
            }

            if (all)
            {
                group[task] = values;
            }
        }

        if (runs.Count >= 2)
        {
            try
            {
                StableSuite suite = StableEval.Select([group], dataset);
                suite.Source = $"Measured on the {runs.Count} seeds of '{baseline}' in this grid (seeds vary initialisation and data order).";
                return suite;
            }
            catch (ArgumentException)
            {
                // No task varies: fall through to the plain average.
            }
        }

        var fallback = new StableSuite { Dataset = dataset, Seeds = anyDone.Count, ThresholdStd = double.NaN, SuiteStd = double.NaN };
        fallback.Source = $"Fewer than 2 varying seeds of '{baseline}': StableEval could not rank tasks, so stable_average is the mean of every score task.";
        foreach (string task in group.Keys)
        {
            fallback.Tasks.Add(task);
            (double mean, double std) = StableEval.MeanStd(group[task]);
            fallback.Candidates.Add(new StableTask(task, mean, std, double.NaN, true, null));
        }

        return fallback;
    }

    private static List<Dictionary<string, double>> FirstDone(CompareResults results)
    {
        foreach (CellRecord c in results.Cells)
        {
            if (c.IsDone)
            {
                return [c.Values];
            }
        }

        return [];
    }
}
