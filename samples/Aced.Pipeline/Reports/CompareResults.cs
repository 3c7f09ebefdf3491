using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Aced.Pipeline.Evaluation;

namespace Aced.Pipeline.Reports;

/// <summary>One evaluation of a checkpoint during training: where it was and every task's value.</summary>
/// <param name="Step">Optimizer steps completed.</param>
/// <param name="SamplesSeen">Examples trained on so far.</param>
/// <param name="Flops">Cumulative training FLOPs (Appendix J accounting of the trainer).</param>
/// <param name="Values">Task name -> value.</param>
public sealed record CurvePoint(long Step, long SamplesSeen, double Flops, Dictionary<string, double> Values);

/// <summary>One cell of the grid: an arm (a method with its settings) trained with one seed, then evaluated.</summary>
public sealed class CellRecord
{
    /// <summary>The arm's label (e.g. "h-acid", "h-acid f=0.5", "iid matched-compute").</summary>
    public string Arm { get; init; } = "";

    /// <summary>The trainer method name.</summary>
    public string Method { get; init; } = "";

    /// <summary>The run's seed.</summary>
    public int Seed { get; init; }

    /// <summary>"done" or "failed".</summary>
    public string Status { get; set; } = "done";

    /// <summary>The error of a failed cell (one line).</summary>
    public string? Error { get; set; }

    /// <summary>The run directory.</summary>
    public string RunDirectory { get; init; } = "";

    /// <summary>Steps trained.</summary>
    public long Steps { get; set; }

    /// <summary>Examples trained on.</summary>
    public long SamplesSeen { get; set; }

    /// <summary>Cumulative training FLOPs.</summary>
    public double Flops { get; set; }

    /// <summary>Training wall time in seconds.</summary>
    public double Seconds { get; set; }

    /// <summary>The final model's task values (stable_average included once the suite is known).</summary>
    public Dictionary<string, double> Values { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Evaluations of the periodic checkpoints and the final model, by step.</summary>
    public List<CurvePoint> Curve { get; set; } = [];

    /// <summary>True when the cell finished and was evaluated.</summary>
    [JsonIgnore]
    public bool IsDone => Status == "done";
}

/// <summary>Everything <c>aced compare</c> produced: settings, the StableEval suite, and every cell.</summary>
public sealed class CompareResults
{
    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Data-set specification.</summary>
    public string Dataset { get; init; } = "";

    /// <summary>Settings shown in the report (name -> value).</summary>
    public Dictionary<string, string> Settings { get; init; } = new(StringComparer.Ordinal);

    /// <summary>Arm labels in grid order (the first is the baseline of the per-task deltas).</summary>
    public List<string> Arms { get; init; } = [];

    /// <summary>The StableEval suite the stable_average uses.</summary>
    public StableSuite Suite { get; set; } = new();

    /// <summary>Every cell, in grid order.</summary>
    public List<CellRecord> Cells { get; init; } = [];

    /// <summary>Adds <c>stable_average</c> to every final value set and curve point from <see cref="Suite"/>.</summary>
    public void ApplySuite()
    {
        foreach (CellRecord cell in Cells)
        {
            if (!cell.IsDone)
            {
                continue;
            }

            cell.Values[EvaluationTasks.StableAverage] = Suite.Average(cell.Values);
            foreach (CurvePoint p in cell.Curve)
            {
                p.Values[EvaluationTasks.StableAverage] = Suite.Average(p.Values);
            }
        }
    }

    /// <summary>The tasks reported per cell: the suite, then i2t_r5 and t2i_r5 (if not in it), then stable_average.</summary>
    public List<string> ReportedTasks()
    {
        var tasks = new List<string>(Suite.Tasks);
        foreach (string extra in new[] { "i2t_r5", "t2i_r5" })
        {
            if (!tasks.Contains(extra) && AnyCellHas(extra))
            {
                tasks.Add(extra);
            }
        }

        tasks.Add(EvaluationTasks.StableAverage);
        return tasks;
    }

    private bool AnyCellHas(string task)
    {
        foreach (CellRecord c in Cells)
        {
            if (c.IsDone && c.Values.ContainsKey(task))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Mean and sample std across the done seeds of <paramref name="arm"/> for <paramref name="task"/> (NaN when none).</summary>
    public (double Mean, double Std, int Count) Summary(string arm, string task)
    {
        var values = new List<double>();
        foreach (CellRecord c in Cells)
        {
            if (c.IsDone && c.Arm == arm && c.Values.TryGetValue(task, out double v))
            {
                values.Add(v);
            }
        }

        (double mean, double std) = StableEval.MeanStd(values.ToArray());
        return (mean, std, values.Count);
    }

    /// <summary>The long CSV: <c>method,seed,task,value</c>, one row per done cell and reported task (method = arm label).</summary>
    public string ToCsv()
    {
        var sb = new StringBuilder("method,seed,task,value\n");
        List<string> tasks = ReportedTasks();
        foreach (CellRecord c in Cells)
        {
            if (!c.IsDone)
            {
                continue;
            }

            foreach (string task in tasks)
            {
                if (c.Values.TryGetValue(task, out double v))
                {
                    sb.Append(Csv(c.Arm)).Append(',').Append(c.Seed.ToString(CultureInfo.InvariantCulture)).Append(',')
                        .Append(Csv(task)).Append(',').Append(v.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
                }
            }
        }

        return sb.ToString();
    }

    private static string Csv(string field) =>
        field.AsSpan().IndexOfAny(",\"\n\r") >= 0 ? "\"" + field.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : field;

    /// <summary>Serialises to indented JSON (snake_case keys).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads results written by <see cref="ToJson"/>.</summary>
    /// <exception cref="InvalidDataException">Not a results file (names the file).</exception>
    public static CompareResults Load(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<CompareResults>(File.ReadAllText(path), Json) ?? throw new InvalidDataException($"{path}: empty results file.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not an aced compare results file ({e.Message}).", e);
        }
    }
}
