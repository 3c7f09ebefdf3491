using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Aced.Pipeline.Reports;

namespace Aced.Pipeline.Evaluation;

/// <summary>One candidate task's variability across seeds.</summary>
/// <param name="Name">Task name.</param>
/// <param name="Mean">Mean value across all runs.</param>
/// <param name="Std">Seed standard deviation (sample std, n - 1; averaged over configuration groups).</param>
/// <param name="AverageStd">Std of the average of the prefix that ends with this task in ascending-std order: sqrt(sum var) / N.</param>
/// <param name="Included">Whether the task is in the suite.</param>
/// <param name="Reason">Why it is excluded, when it is.</param>
public sealed record StableTask(string Name, double Mean, double Std, double AverageStd, bool Included, string? Reason);

/// <summary>The StableEval suite: the tasks kept, and the analysis behind the choice.</summary>
public sealed class StableSuite
{
    /// <summary>Data-set specification the suite was measured on.</summary>
    public string Dataset { get; init; } = "";

    /// <summary>Where the suite came from (which runs measured the stds), for the report.</summary>
    public string Source { get; set; } = "";

    /// <summary>Runs per configuration group (seeds).</summary>
    public int Seeds { get; init; }

    /// <summary>The threshold: the std of the most reliable single task.</summary>
    public double ThresholdStd { get; init; }

    /// <summary>The std of the suite's average (sqrt(sum var) / N over the suite).</summary>
    public double SuiteStd { get; init; }

    /// <summary>Task names in the suite, ascending std.</summary>
    public List<string> Tasks { get; init; } = [];

    /// <summary>Every candidate, ascending std, excluded ones last.</summary>
    public List<StableTask> Candidates { get; init; } = [];

    private static readonly JsonSerializerOptions s_json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The average of the suite's tasks in <paramref name="values"/> (the <c>stable_average</c> task).</summary>
    /// <exception cref="ArgumentException">A suite task is missing from <paramref name="values"/>.</exception>
    public double Average(IReadOnlyDictionary<string, double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        double sum = 0;
        foreach (string task in Tasks)
        {
            if (!values.TryGetValue(task, out double v))
            {
                throw new ArgumentException($"The results lack suite task '{task}'; evaluate all tasks (or rebuild the suite with 'aced stableeval').", nameof(values));
            }

            sum += v;
        }

        return sum / Tasks.Count;
    }

    /// <summary>Serialises to indented JSON (snake_case keys).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, s_json);

    /// <summary>Writes the JSON atomically (temp file + rename).</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToJson());

    /// <summary>Reads a suite written by <see cref="Save"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a suite (names the file).</exception>
    public static StableSuite Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        StableSuite? suite;
        try
        {
            suite = JsonSerializer.Deserialize<StableSuite>(File.ReadAllText(path, Encoding.UTF8), s_json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a StableEval suite ({e.Message}); write one with 'aced stableeval --out FILE'.", e);
        }

        if (suite is null || suite.Tasks.Count == 0)
        {
            throw new InvalidDataException($"{path}: the StableEval suite has no tasks; write one with 'aced stableeval --out FILE'.");
        }

        return suite;
    }
}

/// <summary>
/// StableEval (ACED paper Section 4.1 and Appendix A): runs of one configuration that differ only in the
/// initialisation seed (same data order) measure each task's seed standard deviation; tasks are ordered by it,
/// ascending; the suite is the longest prefix over which the std of the average,
/// <c>sqrt(sum_i var_i) / N</c>, never exceeds the std of the most reliable single task (the prefix stops at the
/// first task where it does: the paper's "critical point"). With several configuration groups, a task's std is
/// the mean of its per-group stds (as the paper averages over IID-SigLIP/IID-CLIP/data sets).
/// </summary>
/// <remarks>
/// Only score tasks (<see cref="EvaluationTasks.IsScore"/>) are candidates. A task with std exactly 0 across
/// seeds (a saturated or degenerate metric, e.g. top-5 accuracy with at most 5 classes) carries no information and
/// would make the threshold 0; it is excluded and reported as constant.
/// </remarks>
public static class StableEval
{
    /// <summary>Selects the suite.</summary>
    /// <param name="groups">One or more configuration groups; each maps task name -> one value per seed (at least 2 seeds).</param>
    /// <param name="dataset">Data-set specification recorded in the suite.</param>
    /// <exception cref="ArgumentException">No group, a task with fewer than 2 values, tasks that differ between groups, or no task that varies.</exception>
    public static StableSuite Select(IReadOnlyList<IReadOnlyDictionary<string, double[]>> groups, string dataset = "")
    {
        ArgumentNullException.ThrowIfNull(groups);
        if (groups.Count == 0)
        {
            throw new ArgumentException("StableEval needs at least one group of seed runs.", nameof(groups));
        }

        var candidates = new List<(string Name, double Mean, double Std)>();
        var constant = new List<StableTask>();
        int seeds = int.MaxValue;
        foreach ((string name, double[] _) in groups[0])
        {
            if (!EvaluationTasks.IsScore(name))
            {
                continue;
            }

            double stdSum = 0;
            double meanSum = 0;
            foreach (IReadOnlyDictionary<string, double[]> group in groups)
            {
                if (!group.TryGetValue(name, out double[]? values))
                {
                    throw new ArgumentException($"Task '{name}' is missing from a group; every group must evaluate the same tasks.", nameof(groups));
                }

                if (values.Length < 2)
                {
                    throw new ArgumentException($"Task '{name}' has {values.Length} value(s); StableEval needs at least 2 seeds.", nameof(groups));
                }

                seeds = Math.Min(seeds, values.Length);
                (double mean, double std) = MeanStd(values);
                meanSum += mean;
                stdSum += std;
            }

            double taskStd = stdSum / groups.Count;
            double taskMean = meanSum / groups.Count;
            if (taskStd == 0)
            {
                constant.Add(new StableTask(name, taskMean, 0, double.NaN, false, "constant across seeds"));
            }
            else
            {
                candidates.Add((name, taskMean, taskStd));
            }
        }

        if (candidates.Count == 0)
        {
            throw new ArgumentException("No score task varies across seeds; StableEval cannot rank tasks (train longer or use more seeds).", nameof(groups));
        }

        // Ascending std; ties broken by name so the suite is deterministic.
        candidates.Sort(static (a, b) => a.Std != b.Std ? a.Std.CompareTo(b.Std) : string.CompareOrdinal(a.Name, b.Name));
        var stds = new double[candidates.Count];
        for (int i = 0; i < stds.Length; i++)
        {
            stds[i] = candidates[i].Std;
        }

        int keep = PrefixLength(stds);
        var suite = new StableSuite
        {
            Dataset = dataset,
            Seeds = seeds,
            ThresholdStd = stds[0],
            SuiteStd = AverageStd(stds, keep),
        };
        for (int i = 0; i < candidates.Count; i++)
        {
            bool included = i < keep;
            (string name, double mean, double std) = candidates[i];
            suite.Candidates.Add(new StableTask(name, mean, std, AverageStd(stds, i + 1), included, included ? null : "beyond the critical point"));
            if (included)
            {
                suite.Tasks.Add(name);
            }
        }

        suite.Candidates.AddRange(constant);
        return suite;
    }

    /// <summary>
    /// The selection rule on stds sorted ascending: the largest N such that for every n &lt;= N,
    /// sqrt(sum_{i&lt;n} std_i^2) / n &lt;= std_0. Always at least 1.
    /// </summary>
    /// <exception cref="ArgumentException">Empty, not ascending, negative or non-finite.</exception>
    public static int PrefixLength(ReadOnlySpan<double> ascendingStds)
    {
        if (ascendingStds.IsEmpty)
        {
            throw new ArgumentException("At least one task std is needed.", nameof(ascendingStds));
        }

        for (int i = 0; i < ascendingStds.Length; i++)
        {
            double s = ascendingStds[i];
            if (!(s >= 0) || double.IsInfinity(s) || (i > 0 && s < ascendingStds[i - 1]))
            {
                throw new ArgumentException($"Stds must be finite, non-negative and ascending; entry {i} is {s}.", nameof(ascendingStds));
            }
        }

        double threshold = ascendingStds[0];
        double sumVar = 0;
        for (int n = 1; n <= ascendingStds.Length; n++)
        {
            sumVar += ascendingStds[n - 1] * ascendingStds[n - 1];
            double averageStd = Math.Sqrt(sumVar) / n;
            if (averageStd > threshold * (1 + 1e-12))
            {
                return n - 1;
            }
        }

        return ascendingStds.Length;
    }

    /// <summary>sqrt(sum of the first <paramref name="n"/> variances) / n.</summary>
    public static double AverageStd(ReadOnlySpan<double> stds, int n)
    {
        double sumVar = 0;
        for (int i = 0; i < n; i++)
        {
            sumVar += stds[i] * stds[i];
        }

        return Math.Sqrt(sumVar) / n;
    }

    /// <summary>Mean and sample standard deviation (n - 1 in the denominator; exactly 0 for one value or equal values).</summary>
    public static (double Mean, double Std) MeanStd(ReadOnlySpan<double> values)
    {
        if (values.IsEmpty)
        {
            return (double.NaN, double.NaN);
        }

        // Equal values (a saturated or collapsed metric, e.g. mean per-class recall exactly 1/C on every seed) have std
        // exactly 0: the floating-point mean of equal values need not equal them (3 x 0.2 sums to 0.6000000000000001),
        // and the naive std would be ~1e-17, which StableEval would take for the most reliable task.
        bool allEqual = true;
        for (int i = 1; i < values.Length; i++)
        {
            allEqual &= values[i] == values[0];
        }

        if (allEqual)
        {
            return (values[0], 0);
        }

        double mean = 0;
        foreach (double v in values)
        {
            mean += v;
        }

        mean /= values.Length;

        double ss = 0;
        foreach (double v in values)
        {
            ss += (v - mean) * (v - mean);
        }

        return (mean, Math.Sqrt(ss / (values.Length - 1)));
    }
}
