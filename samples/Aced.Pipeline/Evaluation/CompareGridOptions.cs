using System;
using System.Collections.Generic;
using Aced.Pipeline.Data;
using Aced.Pipeline.Training;

namespace Aced.Pipeline.Evaluation;

/// <summary>
/// Options of <c>aced compare</c> (and of the seed runs of <c>aced stableeval</c>). The defaults are the quick
/// job: shapes with caption noise, the five methods of the paper's main comparison, 3 seeds, a few minutes on
/// 2 cores.
/// </summary>
public sealed record CompareGridOptions
{
    /// <summary>The methods of the default grid.</summary>
    public static readonly IReadOnlyList<string> DefaultMethods = ["iid", "softmax-kd", "i-acid", "h-acid", "aced-acidistill"];

    /// <summary>Data-set specification: shapes, emoji or folder:PATH.</summary>
    public string Dataset { get; init; } = "shapes";

    /// <summary>Arm specs (see <see cref="CompareArm"/>).</summary>
    public IReadOnlyList<string> Methods { get; init; } = DefaultMethods;

    /// <summary>Seeds per arm (1 .. Seeds).</summary>
    public int Seeds { get; init; } = 3;

    /// <summary>Student steps per cell.</summary>
    public int Steps { get; init; } = 150;

    /// <summary>Student sub-batch size b.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Student size preset (null = the trainer's default, Mu).</summary>
    public string? StudentSize { get; init; }

    /// <summary>Reference run directory; null = OUT/reference (trained first when absent).</summary>
    public string? ReferenceDir { get; init; }

    /// <summary>Reference size preset (null = the trainer's default, Ti).</summary>
    public string? ReferenceSize { get; init; }

    /// <summary>Steps of a reference trained by compare.</summary>
    public int ReferenceSteps { get; init; } = 300;

    /// <summary>Reference sub-batch size.</summary>
    public int ReferenceBatchSize { get; init; } = 64;

    /// <summary>Learning rate of students and reference (null = the trainer's default).</summary>
    public double? LearningRate { get; init; }

    /// <summary>Evaluate a checkpoint every this many steps for the learning curves (0 = only the final model).</summary>
    public int EvalEvery { get; init; } = 25;

    /// <summary>
    /// When true, every seed trains on the same data order (the data seed stays 1) and the seed only changes the
    /// initialisation (<see cref="TrainOptions.InitSeed"/>): StableEval's protocol (paper Appendix A). When false
    /// (default), a seed changes both, so seed stds include data-order variance.
    /// </summary>
    public bool FixedDataOrder { get; init; }

    /// <summary>One-factor filter-ratio sweep over the selecting methods (Figure 10, left).</summary>
    public IReadOnlyList<double> FilterRatios { get; init; } = [];

    /// <summary>One-factor temperature sweep over the selecting methods (Figure 10, right).</summary>
    public IReadOnlyList<double> Temperatures { get; init; } = [];

    /// <summary>Reference-size sweep over the reference-using methods (Figure 4).</summary>
    public IReadOnlyList<string> ReferenceSizes { get; init; } = [];

    /// <summary>A StableEval suite file (from <c>aced stableeval</c>); null = measured on the grid's iid seeds.</summary>
    public string? SuitePath { get; init; }

    /// <summary>Output directory.</summary>
    public string OutDir { get; init; } = "";

    /// <summary>Data options (noise rate, image size, split sizes, cache).</summary>
    public DataOptions Data { get; init; } = new();

    /// <summary>
    /// The template of every training run: its model and tokenizer settings (context length, vocabulary,
    /// embedding width, patch size, chunks, proxy size, loss) are kept; data set, role, method, size, steps,
    /// batch, seed, references, checkpoints and output are set per run by the grid.
    /// </summary>
    public TrainOptions Base { get; init; } = new();

    /// <summary>Checks the options; throws naming the option.</summary>
    /// <exception cref="TrainingConfigurationException">A bad value (names the option).</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(OutDir))
        {
            throw new TrainingConfigurationException("--out", "is required: the directory for results, runs and the report");
        }

        if (Dataset != "shapes" && Dataset != "emoji" && !(Dataset.StartsWith("folder:", StringComparison.Ordinal) && Dataset.Length > "folder:".Length))
        {
            throw new TrainingConfigurationException("--dataset", $"unknown data set '{Dataset}'; expected {DatasetCatalog.SpecHelp}");
        }

        if (Seeds < 1)
        {
            throw new TrainingConfigurationException("--seeds", $"must be at least 1 (was {Seeds})");
        }

        if (Steps < 1 || ReferenceSteps < 1)
        {
            throw new TrainingConfigurationException(Steps < 1 ? "--steps" : "--reference-steps", $"must be at least 1 (was {Math.Min(Steps, ReferenceSteps)})");
        }

        if (EvalEvery < 0)
        {
            throw new TrainingConfigurationException("--eval-every", $"must be 0 (final only) or positive (was {EvalEvery})");
        }

        if (Methods.Count == 0)
        {
            throw new TrainingConfigurationException("--methods", "lists no method");
        }

        foreach (double f in FilterRatios)
        {
            if (!(f >= 0 && f < 1))
            {
                throw new TrainingConfigurationException("--filter-ratios", $"{f} is outside [0, 1)");
            }
        }

        foreach (double t in Temperatures)
        {
            if (!(t > 0) || double.IsInfinity(t))
            {
                throw new TrainingConfigurationException("--temperatures", $"{t} is not a positive finite temperature");
            }
        }

        Data.Validate();
    }
}
