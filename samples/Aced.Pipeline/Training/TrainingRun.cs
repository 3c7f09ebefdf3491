using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Aced.Models;
using Aced.Models.Checkpoints;
using Aced.Models.Text;
using Aced.Pipeline.Data;

namespace Aced.Pipeline.Training;

/// <summary>
/// A finished (or interrupted) training run loaded from its directory: the options it was trained with, the model
/// from <c>final.ckpt</c> (or the newest checkpoint), and its tokenizer.
/// </summary>
public sealed class TrainingRun
{
    internal static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower), new DataOptionsJsonConverter() },
        IgnoreReadOnlyProperties = true,
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The same settings on one line (the CLI's stdout).</summary>
    internal static readonly JsonSerializerOptions s_jsonLine = new(s_json) { WriteIndented = false };

    private TrainingRun(string runDir, TrainOptions options, JsonObject config, TwoTowerModel model, Tokenizer tokenizer, string checkpointPath, long step)
    {
        RunDirectory = runDir;
        Options = options;
        Config = config;
        Model = model;
        Tokenizer = tokenizer;
        CheckpointPath = checkpointPath;
        Step = step;
    }

    /// <summary>The run directory (full path).</summary>
    public string RunDirectory { get; }

    /// <summary>The options the run was trained with (from config.json).</summary>
    public TrainOptions Options { get; }

    /// <summary>The whole config.json (options, model shape, data fingerprint, tokenizer hash, per-step FLOPs).</summary>
    public JsonObject Config { get; }

    /// <summary>The trained model.</summary>
    public TwoTowerModel Model { get; }

    /// <summary>The tokenizer saved with the model.</summary>
    public Tokenizer Tokenizer { get; }

    /// <summary>The checkpoint the model was loaded from.</summary>
    public string CheckpointPath { get; }

    /// <summary>Optimizer steps completed by that checkpoint.</summary>
    public long Step { get; }

    /// <summary>True when loaded from final.ckpt (the run completed).</summary>
    public bool IsFinal => string.Equals(Path.GetFileName(CheckpointPath), RunFiles.FinalCheckpoint, StringComparison.Ordinal);

    /// <summary>Loads the run in <paramref name="runDir"/>: its config.json and final.ckpt (or the newest checkpoint).</summary>
    /// <exception cref="TrainingConfigurationException">The directory, its config.json or every checkpoint is missing (option "--reference" / "--run").</exception>
    /// <exception cref="InvalidDataException">config.json or the checkpoint is corrupt.</exception>
    public static TrainingRun Load(string runDir, string option = "--run")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(runDir);
        string dir = Path.GetFullPath(runDir);
        if (!Directory.Exists(dir))
        {
            throw new TrainingConfigurationException(option, $"run directory '{runDir}' does not exist; train it first with aced train --out {runDir}");
        }

        (TrainOptions options, JsonObject config) = ReadConfig(dir, option);
        string? checkpoint = FindCheckpoint(dir);
        if (checkpoint is null)
        {
            throw new TrainingConfigurationException(option, $"run directory '{runDir}' has no {RunFiles.FinalCheckpoint} and no checkpoints/step-*.ckpt; finish the run (aced train ... --out {runDir} --resume)");
        }

        (TwoTowerModel model, Tokenizer tokenizer, long step) = LoadModel(checkpoint);
        return new TrainingRun(dir, options, config, model, tokenizer, checkpoint, step);
    }

    /// <summary>Reads RUN_DIR/config.json.</summary>
    internal static (TrainOptions Options, JsonObject Config) ReadConfig(string dir, string option)
    {
        string path = Path.Combine(dir, RunFiles.Config);
        if (!File.Exists(path))
        {
            throw new TrainingConfigurationException(option, $"'{dir}' has no {RunFiles.Config}; is it a run directory written by aced train?");
        }

        try
        {
            JsonObject config = JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new InvalidDataException($"{path}: is empty");
            TrainOptions options = config["options"]?.Deserialize<TrainOptions>(s_json) ?? throw new InvalidDataException($"{path}: has no \"options\" object");
            return (options, config);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{path}: is not a valid run config ({ex.Message})", ex);
        }
    }

    /// <summary>final.ckpt if present, else the newest checkpoints/step-NNNNNN.ckpt, else null.</summary>
    internal static string? FindCheckpoint(string dir)
    {
        string final = Path.Combine(dir, RunFiles.FinalCheckpoint);
        if (File.Exists(final))
        {
            return final;
        }

        return LastPeriodicCheckpoint(dir).Path;
    }

    /// <summary>The newest checkpoints/step-NNNNNN.ckpt and its step (companion files are skipped).</summary>
    internal static (string? Path, long Step) LastPeriodicCheckpoint(string dir)
    {
        string folder = Path.Combine(dir, RunFiles.CheckpointDirectory);
        if (!Directory.Exists(folder))
        {
            return (null, 0);
        }

        string? best = null;
        long bestStep = -1;
        foreach (string file in Directory.EnumerateFiles(folder, "step-*.ckpt"))
        {
            string name = Path.GetFileNameWithoutExtension(file);
            if (long.TryParse(name.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out long step) && step > bestStep)
            {
                bestStep = step;
                best = file;
            }
        }

        return (best, Math.Max(bestStep, 0));
    }

    /// <summary>Builds the model a checkpoint describes and loads its parameters.</summary>
    internal static (TwoTowerModel Model, Tokenizer Tokenizer, long Step) LoadModel(string checkpoint)
    {
        CheckpointInfo info = Checkpoint.ReadInfo(checkpoint);
        if (info.Config is null || info.Tokenizer is null)
        {
            throw new InvalidDataException($"{checkpoint}: holds no model config or no tokenizer; it was not written by aced train");
        }

        var model = new TwoTowerModel(info.Config, seed: 0);
        Checkpoint.Load(checkpoint, model);
        return (model, info.Tokenizer, info.Step);
    }

    internal static List<string> DifferingOptions(TrainOptions a, TrainOptions b)
    {
        JsonObject x = JsonSerializer.SerializeToNode(a with { Resume = false }, s_json)!.AsObject();
        JsonObject y = JsonSerializer.SerializeToNode(b with { Resume = false }, s_json)!.AsObject();
        var differ = new List<string>();
        foreach (KeyValuePair<string, JsonNode?> entry in x)
        {
            if (!JsonNode.DeepEquals(entry.Value, y[entry.Key]))
            {
                differ.Add($"{entry.Key} ({entry.Value?.ToJsonString() ?? "null"} vs {y[entry.Key]?.ToJsonString() ?? "null"})");
            }
        }

        return differ;
    }
}
