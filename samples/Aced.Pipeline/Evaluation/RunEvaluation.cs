using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aced.Models;
using Aced.Models.Text;
using Aced.Pipeline.Data;
using Aced.Pipeline.Reports;
using Aced.Pipeline.Training;

namespace Aced.Pipeline.Evaluation;

/// <summary>One line of a run's metrics.jsonl, as far as evaluation needs it.</summary>
public readonly record struct RunProgress(long Step, long SamplesSeen, double Flops, double Seconds);

/// <summary>Evaluating the checkpoints of a training run directory (written by <c>aced train</c>).</summary>
public static class RunEvaluation
{
    /// <summary>The file <c>aced eval</c> writes into the run directory.</summary>
    public const string EvalFile = "eval.json";

    /// <summary>The run's checkpoints in step order: every checkpoints/step-*.ckpt, then final.ckpt (if present).</summary>
    public static List<(long Step, string Path)> Checkpoints(string runDir)
    {
        var list = new List<(long, string)>();
        string folder = Path.Combine(runDir, RunFiles.CheckpointDirectory);
        if (Directory.Exists(folder))
        {
            foreach (string file in Directory.EnumerateFiles(folder, "step-*.ckpt"))
            {
                string name = Path.GetFileNameWithoutExtension(file);
                if (long.TryParse(name.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out long step))
                {
                    list.Add((step, file));
                }
            }
        }

        list.Sort(static (a, b) => a.Item1.CompareTo(b.Item1));
        string final = Path.Combine(runDir, RunFiles.FinalCheckpoint);
        if (File.Exists(final))
        {
            list.Add((long.MaxValue, final));
        }

        return list;
    }

    /// <summary>Loads the model and tokenizer stored in one checkpoint, and its step.</summary>
    public static (TwoTowerModel Model, Tokenizer Tokenizer, long Step) Load(string checkpoint) => TrainingRun.LoadModel(checkpoint);

    /// <summary>Reads metrics.jsonl: step -> progress (later lines win, so a resumed run's repeated steps are taken from the resume).</summary>
    /// <exception cref="InvalidDataException">A line is not JSON or lacks a field (names the file and line).</exception>
    public static Dictionary<long, RunProgress> ReadProgress(string runDir)
    {
        string path = Path.Combine(runDir, RunFiles.Metrics);
        var map = new Dictionary<long, RunProgress>();
        if (!File.Exists(path))
        {
            return map;
        }

        int lineNumber = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            try
            {
                using JsonDocument doc = JsonDocument.Parse(line);
                JsonElement e = doc.RootElement;
                long step = e.GetProperty("step").GetInt64();
                map[step] = new RunProgress(step, e.GetProperty("samples_seen").GetInt64(), e.GetProperty("flops").GetDouble(), e.GetProperty("seconds").GetDouble());
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw new InvalidDataException($"{path}:{lineNumber}: not a metrics line with step, samples_seen, flops and seconds ({ex.Message})", ex);
            }
        }

        return map;
    }

    /// <summary>The progress of the last step in metrics.jsonl (zeros when there is none).</summary>
    public static RunProgress LastProgress(Dictionary<long, RunProgress> progress)
    {
        RunProgress last = default;
        foreach (RunProgress p in progress.Values)
        {
            if (p.Step > last.Step)
            {
                last = p;
            }
        }

        return last;
    }

    /// <summary>Reads the data-set spec recorded in RUN_DIR/config.json.</summary>
    public static string DatasetSpec(string runDir) => TrainingRun.ReadConfig(Path.GetFullPath(runDir), "--run").Options.Dataset;

    /// <summary>Writes RUN_DIR/eval.json atomically: the run, the checkpoint, its step and every task's value.</summary>
    public static string WriteEvalJson(string runDir, string checkpoint, long step, IReadOnlyDictionary<string, double> values)
    {
        var tasks = new JsonObject();
        foreach ((string name, double v) in values)
        {
            tasks[name] = double.IsFinite(v) ? JsonValue.Create(v) : null;
        }

        var json = new JsonObject
        {
            ["run"] = Path.GetFullPath(runDir),
            ["checkpoint"] = Path.GetFileName(checkpoint),
            ["step"] = step,
            ["tasks"] = tasks,
        };
        string path = Path.Combine(runDir, EvalFile);
        string text = json.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        AtomicFile.WriteAllText(path, text);
        return text;
    }

    /// <summary>Evaluates one checkpoint on the evaluation splits.</summary>
    public static IReadOnlyDictionary<string, double> EvaluateCheckpoint(string checkpoint, IReadOnlyList<ImageTextDataset> splits, ReadOnlySpan<string> patterns = default)
    {
        (TwoTowerModel model, Tokenizer tokenizer, _) = Load(checkpoint);
        return new Evaluator(model, tokenizer).Evaluate(splits, patterns);
    }
}
